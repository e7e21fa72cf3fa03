"""StarGAN inference API: targets by name, exclusive groups, source labels, joint mode with the mask vector,
the single-attribute edit grid, the classifier and bad arguments, on small random models."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from PIL import Image

import hubmodels
from hubmodels.data.synthfaces import render_face
from hubmodels.images import ImageInputError
from hubmodels.stargan import StarGAN
from hubmodels.stargan.inference import StarGANInference

ATTRS = ["black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth"]
FUR = ["black_fur", "golden_fur", "brown_fur"]
SMALL = dict(image_size=32, c_dim=5, conv_dim=8, repeat_num=2, d_conv_dim=8, d_repeat_num=3, attributes=ATTRS,
             exclusive_groups=[FUR], datasets=["synthfaces"], crop_size=None)


def _perturb(model: StarGAN) -> StarGAN:
    with torch.no_grad():
        for m in model.generator.norms():
            m.weight.add_(0.3 * torch.randn_like(m.weight))
            m.bias.add_(0.3 * torch.randn_like(m.bias))
    return model.eval()


@pytest.fixture(scope="module")
def model() -> StarGAN:
    torch.manual_seed(0)
    return _perturb(StarGAN(**SMALL))


@pytest.fixture(scope="module")
def joint() -> StarGAN:
    torch.manual_seed(1)
    return _perturb(StarGAN(**{**SMALL, "c2_dim": 3, "attributes2": ["cat", "dog", "fox"],
                               "datasets": ["synthfaces", "synthfaces-domains"]}))


@pytest.fixture(scope="module")
def faces() -> list[Image.Image]:
    return [render_face(0, i, size=48).image for i in range(3)]


def _vector(model: StarGAN, face, target, source) -> torch.Tensor:
    """The label vector translate() gives G, recovered by matching its output against every candidate."""
    out = model.translate(face, target, source=source, output="tensor")
    x = model.prepare(face)
    for bits in range(32):
        c = torch.tensor([[float(bits >> i & 1) for i in range(5)]])
        if torch.equal(model.generate(x, model.condition(c)), out):
            return c[0]
    raise AssertionError("no 0/1 label vector gives translate()'s output")


def test_target_keeps_the_other_attributes_and_sets_one_colour(model, faces):
    source = {"black_fur": 1, "golden_fur": 0, "brown_fur": 0, "glasses": 0, "open_mouth": 1}
    assert _vector(model, faces[0], {"golden_fur": 1, "glasses": 1}, source).tolist() == [0, 1, 0, 1, 1]
    assert _vector(model, faces[0], {"open_mouth": False}, source).tolist() == [1, 0, 0, 0, 0]
    assert _vector(model, faces[0], "brown_fur", source).tolist() == [0, 0, 1, 0, 1]
    assert _vector(model, faces[0], {"black_fur": 0}, source).tolist() == [0, 0, 0, 0, 1]  # no colour at all


def test_source_labels_from_the_discriminator(model, faces):
    """Without source=, the labels not named come from the discriminator's classifier (one colour at most)."""
    x = model.prepare(faces[0])
    read = model.estimate_labels(x)[0]
    assert read[:3].sum() <= 1
    got = _vector(model, faces[0], {"glasses": 1}, None)
    assert got[:3].tolist() == read[:3].tolist() and got[3] == 1 and got[4] == read[4]
    probs = model.classify(faces[0])
    assert list(probs) == ATTRS and all(0 <= p <= 1 for p in probs.values())
    assert [(p > 0.5) for p in [probs["glasses"], probs["open_mouth"]]] == [bool(read[3]), bool(read[4])]
    # a partial source dict: the rest is read too
    part = _vector(model, faces[0], {"glasses": 1}, {"open_mouth": 0})
    assert part[4] == 0 and part[:3].tolist() == read[:3].tolist()


def test_a_full_target_needs_no_discriminator(faces):
    torch.manual_seed(2)
    bare = StarGAN(**{**SMALL, "with_discriminator": False}).eval()
    full = {"golden_fur": 1, "glasses": 1, "open_mouth": 0}  # the colour decides the whole group
    assert bare.translate(faces[0], full).size == (32, 32)
    with pytest.raises(ValueError, match="no discriminator.*source="):
        bare.translate(faces[0], {"glasses": 1})
    with pytest.raises(ValueError, match="no discriminator"):
        bare.classify(faces[0])
    source = {a: 0 for a in ATTRS}
    assert bare.edit_grid(faces[0], source=source).size == (32 * 6, 32)


def test_batches_and_determinism(model, faces):
    one = [model.translate(f, {"glasses": 1}, source={a: 0 for a in ATTRS}, output="tensor") for f in faces]
    many = model.translate(faces, {"glasses": 1}, source={a: 0 for a in ATTRS}, output="tensor")
    torch.testing.assert_close(many, torch.cat(one), rtol=0, atol=1e-5)
    pics = model.translate(faces, {"glasses": 1}, source=[{a: 0 for a in ATTRS}] * 3)
    assert isinstance(pics, list) and len(pics) == 3 and pics[0].size == (32, 32)
    again = model.translate(faces, {"glasses": 1}, source={a: 0 for a in ATTRS})
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(pics, again))


def test_edit_grid_is_the_official_concatenation(model, faces):
    source = torch.tensor([[0.0, 1, 0, 1, 0], [1.0, 0, 0, 0, 1]])
    x = model.prepare(faces[:2])
    concat = model.edit_grid(faces[:2], source=source, output="tensor")
    assert concat.shape == (2, 3, 32, 32 * 6)
    assert torch.equal(concat[..., :32], x)
    # column 2 (golden_fur): colour set; column 4 (glasses): flipped, as the official create_labels
    c_golden = torch.tensor([[0.0, 1, 0, 1, 0], [0.0, 1, 0, 0, 1]])
    torch.testing.assert_close(concat[..., 64:96], model.generate(x, c_golden), rtol=0, atol=0)
    c_glasses = torch.tensor([[0.0, 1, 0, 0, 0], [1.0, 0, 0, 1, 1]])
    torch.testing.assert_close(concat[..., 128:160], model.generate(x, c_glasses), rtol=0, atol=0)
    grid = model.edit_grid(faces[:2], source=source)
    assert grid.size == (32 * 6, 32 * 2)
    edits = model.single_edits(faces[1], source=source[1])
    assert [c for c, _ in edits] == ["input", "black_fur", "golden_fur", "brown_fur", "+glasses", "-open_mouth"]
    assert np.array_equal(np.asarray(edits[4][1]), np.asarray(grid.crop((128, 32, 160, 64))))
    assert model.edit_labels() == ["input", *ATTRS]


def test_joint_mode_uses_the_mask_vector(joint, faces):
    x = joint.prepare(faces[0])
    out = joint.translate(faces[0], "dog", output="tensor")
    c = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1, 0, 0, 1]])  # zeros for dataset 1, dog, mask [0, 1]
    torch.testing.assert_close(out, joint.generate(x, c), rtol=0, atol=0)
    source = {a: 0 for a in ATTRS}
    out = joint.translate(faces[0], {"golden_fur": 1}, source=source, output="tensor")
    c = torch.tensor([[0.0, 1, 0, 0, 0, 0, 0, 0, 1, 0]])  # dataset 1 labels, zeros, mask [1, 0]
    torch.testing.assert_close(out, joint.generate(x, c), rtol=0, atol=0)
    edits = joint.single_edits(faces[0], source=source)
    assert [c for c, _ in edits] == ["input", *FUR, "+glasses", "+open_mouth", "cat", "dog", "fox"]
    assert joint.edit_grid(faces[0], source=source).size == (32 * 9, 32)
    probs = joint.classify(faces[0])
    assert abs(sum(probs[d] for d in ("cat", "dog", "fox")) - 1) < 1e-4  # a class distribution
    with pytest.raises(ValueError, match="one dataset's labels at a time"):
        joint.translate(faces[0], {"glasses": 1, "dog": 1}, source=source)
    with pytest.raises(ValueError, match="one class at a time"):
        joint.translate(faces[0], {"dog": 1, "fox": 1})
    with pytest.raises(ValueError, match="one class at a time"):
        joint.translate(faces[0], {"dog": 0})
    with pytest.raises(ValueError, match="not all labels of dataset"):
        joint.translate(faces[0], "dog", dataset="synthfaces")


@pytest.mark.parametrize("target,match", [
    ({"golden_fur": 1, "black_fur": 1}, "mutually exclusive"),
    ({"wings": 1}, "unknown label"),
    ({"glasses": 2}, "must be 0/1"),
    ({"glasses": "yes"}, "must be 0/1"),
    ({}, "names no label"),
    (["glasses"], "must be a dict"),
])
def test_bad_targets(model, faces, target, match):
    with pytest.raises(ValueError, match=match):
        model.translate(faces[0], target, source={a: 0 for a in ATTRS})


def test_bad_sources_images_and_options(model, faces):
    with pytest.raises(ValueError, match="shape"):
        model.translate(faces[0], {"glasses": 1}, source=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="2 source label sets for 1"):
        model.translate(faces[0], {"glasses": 1}, source=[{}, {}])
    with pytest.raises(ValueError, match="unknown label"):
        model.translate(faces[0], {"glasses": 1}, source={"wings": 0})
    with pytest.raises(ImageInputError):
        model.translate(b"not an image", {"glasses": 1})
    with pytest.raises(ValueError, match="no images"):
        model.translate([], {"glasses": 1})
    with pytest.raises(ValueError, match="output must be"):
        model.translate(faces[0], {"glasses": 1}, output="jpeg")
    with pytest.raises(ValueError, match="crop_size"):
        model.translate(faces[0], {"glasses": 1}, crop_size=-3)
    with pytest.raises(ValueError, match="label vector"):
        model.generate(torch.zeros(1, 3, 32, 32), torch.zeros(1, 4))


def test_official_preprocessing(model):
    """CenterCrop(crop_size) then bilinear Resize(image_size) then [-1, 1], as data_loader.get_loader(mode='test')."""
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8))
    official = T.Compose([T.CenterCrop(178), T.Resize(32), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    torch.testing.assert_close(model.prepare(img, crop_size=178)[0], official(img), rtol=0, atol=1e-6)
    # crop_size=None: the largest centred square, the same crop for CelebA's 178x218 faces
    torch.testing.assert_close(model.prepare(img)[0], official(img), rtol=0, atol=1e-6)


def test_inference_methods_are_the_models_own():
    for name in ("translate", "edit_grid", "single_edits", "classify", "generate", "create_labels", "condition",
                 "edit_concat"):
        assert getattr(StarGAN, name) is getattr(StarGANInference, name), name
    assert {"source", "dataset", "crop_size", "output"} <= set(inspect.signature(StarGAN.translate).parameters)


def test_published_model_in_two_lines(model, faces, local_hub):
    model.publish("hubmodels/tiny-stargan")
    loaded = hubmodels.load("hubmodels/tiny-stargan")
    out = loaded.translate(faces[0], {"golden_fur": 1, "glasses": 1})
    assert isinstance(out, Image.Image) and out.size == (32, 32)
    readme = (local_hub / "tiny-stargan" / "README.md").read_text()
    assert "model.translate(" in readme and "edit_grid" in readme and "license: mit" in readme


def test_synthfaces_edit_ground_truth_and_metric():
    """with_attributes re-renders the same face with one attribute changed; a model that changes nothing scores
    0 on every edit and on everything else."""
    from hubmodels.data.synthfaces import attributes_of, render_params, sample_params
    from hubmodels.stargan.metrics import synthfaces_edits, with_attributes

    p = sample_params(5, 7)
    q = with_attributes(p, golden_fur=1, glasses=not p["glasses"])
    assert attributes_of(q)["golden_fur"] and attributes_of(q)["glasses"] != attributes_of(p)["glasses"]
    assert {k for k in p if p[k] != q[k]} <= {"fur", "fur_rgb", "muzzle_rgb", "ear_rgb", "inner_ear_rgb",
                                              "marking_rgb", "glasses"}
    mouth = with_attributes(p, open_mouth=1 - p["open_mouth"])
    a, b = (np.asarray(render_params(x, 32).image, dtype=int) for x in (p, mouth))
    changed = np.abs(a - b).sum(-1) > 0
    assert 0 < changed.mean() < 0.1  # the mouth, and nothing else
    with pytest.raises(ValueError, match="does not say which colour"):
        with_attributes(p, black_fur=0)

    class Identity(StarGAN):
        def generate(self, x, c, *, batch_size=16):
            return x.float()

    scores = synthfaces_edits(Identity(**SMALL).eval(), seed=9, n=4)
    assert all(v == 0 for v in scores.values()), scores


def test_synthfaces_edit_metric_takes_any_frame_of_glasses():
    """A model that makes exactly the re-render's change scores 1 on every edit and 0 elsewhere, and glasses put
    on a face may have another frame than the one the face drew (nothing in the face says which)."""
    from hubmodels.data.synthfaces import GLASSES_RGB, GLASSES_SHAPES, render_params, sample_params
    from hubmodels.stargan.metrics import _to_tensor, synthfaces_edits, with_attributes

    class Oracle(StarGAN):
        faces = iter(range(1000))

        def generate(self, x, c, *, batch_size=16):
            p = sample_params(9, next(self.faces))
            outs = []
            for row in c.tolist():
                want = dict(zip(self.attributes, map(int, row)))
                change = {a: 1 for a in ("black_fur", "golden_fur", "brown_fur") if want[a] and p["fur"] not in a}
                q = with_attributes(p, **change, glasses=want["glasses"], open_mouth=want["open_mouth"])
                if want["glasses"] and not p["glasses"]:  # another frame than the face's own
                    colour = GLASSES_RGB.index(tuple(p["glasses_rgb"]))
                    q.update(glasses_rgb=list(GLASSES_RGB[colour - 1]),
                             glasses_shape=GLASSES_SHAPES[1 - GLASSES_SHAPES.index(p["glasses_shape"])])
                outs.append(_to_tensor(render_params(q, self.image_size).image))
            return torch.stack(outs)

    scores = synthfaces_edits(Oracle(**SMALL).eval(), seed=9, n=12)
    assert {k for k in scores if k.startswith("edit_")} >= {"edit_glasses", "edit_open_mouth", "edit_golden_fur"}
    for k, v in scores.items():
        assert v == pytest.approx(1.0 if k.startswith("edit_") else 0.0, abs=1e-5), scores
