"""BicycleGAN inference API: seeds, diversity, encoding, walks in z, photos to edges, bad input, inference paths."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hubmodels.bicyclegan import BicycleGAN, edge_agreement, photo_to_edges
from hubmodels.bicyclegan.inference import BicycleGANInference
from hubmodels.data.synthfaces import render_face
from hubmodels.images import ImageInputError

TINY = dict(input_nc=1, output_nc=3, nz=8, ngf=8, nef=8, num_downs=6, encoder_depth=3, img_size=64)


def _he(model: BicycleGAN) -> BicycleGAN:
    """Random He-initialised weights: outputs that depend visibly on the input and the code."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, a=0.2)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> BicycleGAN:
    torch.manual_seed(0)
    return _he(BicycleGAN(**TINY))


@pytest.fixture(scope="module")
def faces():
    return [render_face(7, 300_000_000 + i, 64) for i in range(3)]


def test_sample_is_deterministic_by_seed_not_batch(model, faces):
    a = model.sample(faces[0].edges, num_samples=3, seed=10, output="tensor")
    b = model.sample(faces[0].edges, num_samples=3, seed=10, output="tensor")
    assert a.shape == (1, 3, 3, 64, 64) and torch.equal(a, b)
    # sample k uses seed + k, whatever the batch: one sample of seed 11 is the second of seed 10
    single = model.sample(faces[0].edges, num_samples=1, seed=11, output="tensor")
    torch.testing.assert_close(single[0, 0], a[0, 1], atol=1e-5, rtol=0)
    # and whatever else is in the batch
    batch = model.sample([faces[1].edges, faces[0].edges], num_samples=3, seed=10, output="tensor")
    torch.testing.assert_close(batch[1], a[0], atol=1e-5, rtol=0)
    images = model.sample(faces[0].edges, num_samples=2, seed=0)
    assert len(images) == 2 and images[0].size == (64, 64) and images[0].mode == "RGB"


def test_different_codes_give_different_outputs_same_code_the_same(model, faces):
    out = model.sample(faces[0].edges, num_samples=4, seed=0, output="tensor")[0]
    for i in range(4):
        for j in range(i + 1, 4):
            assert (out[i] - out[j]).abs().mean() > 1e-3
    z = model.latent_codes([3, 3, 4])
    assert torch.equal(z[0], z[1]) and not torch.equal(z[0], z[2])
    same = model.translate(faces[0].edges, z, output="tensor")[0]
    assert torch.equal(same[0], same[1]) and (same[0] - same[2]).abs().mean() > 1e-3


def test_codes_match_the_official_draws(model):
    torch.manual_seed(123)
    official = torch.randn(5, model.nz)  # test.py: torch.manual_seed(seed); get_z_random(n_samples + 1, nz)
    assert torch.equal(model.official_latents(123, 5), official)
    assert torch.equal(model.latent_codes(7)[0], torch.randn(8, generator=torch.Generator().manual_seed(7)))


def test_encode_and_style_transfer(model, faces):
    mu = model.encode(faces[1].image)
    assert mu.shape == (1, model.nz)
    x = model.prepare_reference(faces[1].image)
    mu2, logvar = model.encode_tensor(x)
    assert torch.equal(mu, mu2)
    drawn = model.encode(faces[1].image, sample=True, seed=3)
    eps = torch.randn(8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn[0], mu[0] + eps * torch.exp(0.5 * logvar[0]))
    styled = model.style_transfer(faces[0].edges, faces[1].image, output="tensor")
    torch.testing.assert_close(styled[0, 0], model.translate(faces[0].edges, mu, output="tensor")[0, 0])
    other = model.style_transfer(faces[0].edges, faces[2].image, output="tensor")
    assert (styled - other).abs().mean() > 1e-4  # another example, another style
    pil = model.style_transfer(faces[0].edges, faces[1].image)
    assert pil.size == (64, 64)
    several = model.style_transfer([faces[0].edges, faces[2].edges], [faces[1].image, faces[2].image])
    assert len(several) == 2 and len(several[0]) == 2


def test_interpolate_is_linear_in_z_and_ends_at_the_seeds(model, faces):
    walk = model.interpolate(faces[0].edges, seed_a=2, seed_b=5, steps=4, output="tensor")
    ends = model.sample(faces[0].edges, num_samples=1, seed=2, output="tensor")[0, 0], \
        model.sample(faces[0].edges, num_samples=1, seed=5, output="tensor")[0, 0]
    torch.testing.assert_close(walk[0], ends[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(walk[-1], ends[1], atol=1e-5, rtol=0)
    z = torch.lerp(model.latent_codes(2)[0], model.latent_codes(5)[0], 1 / 3)
    torch.testing.assert_close(walk[1], model.translate(faces[0].edges, z, output="tensor")[0, 0], atol=1e-5, rtol=0)
    by_reference = model.interpolate(faces[0].edges, reference_a=faces[1].image, z_b=torch.zeros(8), steps=2,
                                     output="tensor")
    torch.testing.assert_close(by_reference[0], model.style_transfer(faces[0].edges, faces[1].image,
                                                                      output="tensor")[0, 0], atol=1e-5, rtol=0)


def test_photo_to_edges_looks_like_the_training_sketches():
    """The edge helper turns SynthFaces pictures into lines that match their own sketches."""
    scores = []
    for i in range(6):
        face = render_face(11, 300_000_000 + i, 64)
        edges = photo_to_edges(face.image, 64)
        assert edges.mode == "L" and edges.size == (64, 64)
        pred = torch.from_numpy(np.asarray(edges) < 128)[None, None]
        true = torch.from_numpy(np.asarray(face.edges) < 128)[None, None]
        scores.append(float(edge_agreement(pred, true)["f1"]))
        ink = (255 - np.asarray(edges, float)).sum() / (255 - np.asarray(face.edges, float)).sum()
        assert 0.7 < ink < 1.5  # about as much line as the sketch: thin lines, like the training data
    assert min(scores) > 0.85 and np.mean(scores) > 0.93, scores
    flat = photo_to_edges(np.full((64, 64, 3), 128, np.uint8))
    assert np.asarray(flat).min() == 255  # no edges in a flat picture


def test_from_photo_and_model_sizes(model, faces):
    big = faces[0].image.resize((200, 150))
    edges = model.photo_to_edges(big)
    assert edges.size == (model.load_size, model.load_size)
    out = model.sample(big, num_samples=2, seed=0, from_photo=True, output="tensor")
    torch.testing.assert_close(out, model.sample(edges, num_samples=2, seed=0, output="tensor"))
    a, b = model.split_pair(np.concatenate([np.asarray(faces[0].edges.convert("RGB")),
                                            np.asarray(faces[0].image)], 1))
    assert a.size == (64, 64) and np.array_equal(np.asarray(b), np.asarray(faces[0].image))


def test_deterministic_model_has_one_output(faces):
    torch.manual_seed(0)
    p2p = _he(BicycleGAN(input_nc=1, nz=0, where_add="input", encoder=None, ngf=4, num_downs=6, img_size=64))
    out = p2p.sample(faces[0].edges, num_samples=1)
    assert len(out) == 1
    with pytest.raises(ValueError, match="deterministic \\(nz=0"):
        p2p.sample(faces[0].edges, num_samples=2)
    with pytest.raises(ValueError, match="no encoder"):
        p2p.encode(faces[0].image)
    with pytest.raises(ValueError, match="deterministic"):
        p2p.interpolate(faces[0].edges)


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_samples=0), "num_samples must be an integer from 1 to 64"),
    (dict(num_samples=2.5), "num_samples must be an integer"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(output="numpy"), "output must be 'pil' or 'tensor'"),
])
def test_bad_arguments(model, faces, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.sample(faces[0].edges, **kwargs)


def test_bad_inputs(model, faces):
    with pytest.raises(ImageInputError, match="missing"):
        model.sample(None)
    with pytest.raises(ImageInputError, match="smallest accepted size is 8x8"):
        model.sample(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="no input images"):
        model.sample([])
    with pytest.raises(ValueError, match=r"z must have shape \(K, 8\)"):
        model.translate(faces[0].edges, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="translate needs latent codes"):
        model.translate(faces[0].edges)
    with pytest.raises(ValueError, match="this encoder takes 64x64 images"):
        model.encoder(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match=r"z must have shape \(N, nz\)"):
        model.generator(torch.zeros(2, 1, 64, 64), torch.zeros(3, 8))


def test_inference_methods_are_the_models_own(model):
    for name in ("sample", "encode", "style_transfer", "interpolate", "photo_to_edges", "translate", "generate"):
        assert getattr(type(model), name) is getattr(BicycleGANInference, name)


def test_every_inference_path_against_fp32(faces):
    """Exact by default; every candidate path of dtype="auto", forced, stays close to fp32."""
    from hubmodels.nn.fast import psnr

    torch.manual_seed(0)
    model = _he(BicycleGAN(**TINY))
    ref = model.sample(faces[0].edges, num_samples=2, seed=0, output="tensor")
    assert model.inference_path == "fp32"
    for path in model.inference_paths():
        model.optimize_for_inference(path)
        out = model.sample(faces[0].edges, num_samples=2, seed=0, output="tensor")
        assert out.dtype == torch.float32 and out.shape == ref.shape and torch.isfinite(out).all()
        floor = 60 if path in ("fp32-channels-last", "rewrites") else 20
        assert psnr(out, ref) > floor, path
    model.optimize_for_inference(None)
    assert torch.equal(model.sample(faces[0].edges, num_samples=2, seed=0, output="tensor"), ref)


def test_generate_chunks_by_pixels_on_a_cpu_with_the_same_answer(model):
    """On a CPU the default chunk holds CPU_CHUNK_PIXELS (4 images of 256 px, 64 of 64 px); any chunk size gives
    the same images (instance norm is per image), and a bad one is refused with what is accepted."""
    from hubmodels.bicyclegan.inference import CPU_CHUNK_PIXELS

    assert CPU_CHUNK_PIXELS // (64 * 64) == 64
    torch.manual_seed(0)
    x, z = torch.rand(5, 1, 64, 64) * 2 - 1, torch.randn(5, model.nz)
    whole = model.generate(x, z)
    for size in (1, 2, 5):
        torch.testing.assert_close(model.generate(x, z, batch_size=size), whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch_size must be an integer from 1"):
        model.generate(x, z, batch_size=0)
