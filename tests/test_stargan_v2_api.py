"""StarGAN v2 inference API: what a user calls, on a small random model and on the FAN reference case."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import hubmodels
from hubmodels.data.synthfaces import render_face
from hubmodels.images import ImageInputError
from hubmodels.stargan_v2 import StarGANv2
from tests.conftest import REFERENCE


@pytest.fixture(scope="module")
def model() -> StarGANv2:
    torch.manual_seed(0)
    m = StarGANv2(img_size=32, style_dim=16, latent_dim=8, num_domains=3, max_conv_dim=32, dim_in=16,
                  hidden_dim=32, domains=["cat", "dog", "fox"])
    for module in m.modules():  # He init as the official code, so random styles really differ
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    return m.eval()


@pytest.fixture(scope="module")
def faces() -> list[Image.Image]:
    return [render_face(0, i, size=48).image for i in range(3)]


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def test_latent_guided_is_deterministic_by_seed(model, faces):
    a = model.latent_guided(faces[0], "dog", num_samples=3, seed=5)
    b = model.latent_guided(faces[0], "dog", num_samples=3, seed=5)
    assert len(a) == 3 and all(im.size == (32, 32) and im.mode == "RGB" for im in a)
    assert all((arr(x) == arr(y)).all() for x, y in zip(a, b))
    # sample k of seed s is sample 0 of seed s + k: results depend on the seed only, not the batch
    c = model.latent_guided(faces[0], "dog", num_samples=1, seed=6)
    assert np.abs(arr(a[1]) - arr(c[0])).max() <= 1  # batch vs single: float rounding only
    # different seeds give different styles (an untrained model's style effect is small but real)
    t = model.latent_guided(faces[0], "dog", num_samples=2, seed=5, output="tensor")[0]
    assert (t[0] - t[1]).abs().mean() > 1e-2


def test_latent_guided_batch_matches_single(model, faces):
    batch = model.latent_guided(faces, "fox", num_samples=2, seed=1, output="tensor")
    assert batch.shape == (3, 2, 3, 32, 32)
    single = model.latent_guided(faces[2], "fox", num_samples=2, seed=1, output="tensor")
    torch.testing.assert_close(batch[2], single[0], atol=1e-5, rtol=1e-5)
    nested = model.latent_guided(faces, "fox", num_samples=2, seed=1)
    assert len(nested) == 3 and len(nested[0]) == 2


def test_domains_change_the_output(model, faces):
    cat = model.latent_guided(faces[0], "cat", seed=0, output="tensor")
    dog = model.latent_guided(faces[0], 1, seed=0, output="tensor")
    assert (cat - dog).abs().mean() > 1e-3


def test_truncation_psi_zero_collapses_styles(model, faces):
    out = model.latent_guided(faces[0], "dog", num_samples=3, seed=0, psi=0.0, output="tensor")
    torch.testing.assert_close(out[0, 0], out[0, 2], atol=1e-5, rtol=1e-5)
    s = model.style_from_latent("dog", [0, 1], psi=0.5)
    s1 = model.style_from_latent("dog", [0, 1], psi=1.0)
    torch.testing.assert_close(s, torch.lerp(model.average_style(1), s1, 0.5), atol=1e-5, rtol=1e-5)


def test_reference_guided(model, faces):
    out = model.reference_guided(faces[0], faces[1], "dog")
    assert isinstance(out, Image.Image) and out.size == (32, 32)
    other = model.reference_guided(faces[0], faces[2], "fox")
    assert np.abs(arr(out) - arr(other)).mean() > 0.5
    grid = model.reference_guided(faces[:2], faces[1:], ["dog", "fox"])
    assert len(grid) == 2 and len(grid[0]) == 2
    assert np.abs(arr(grid[0][0]) - arr(out)).max() <= 1


def test_interpolate_ends_at_the_two_styles(model, faces):
    frames = model.interpolate(faces[0], "cat", seed_a=3, seed_b=9, steps=4, output="tensor")
    a = model.latent_guided(faces[0], "cat", seed=3, output="tensor")[0, 0]
    b = model.latent_guided(faces[0], "cat", seed=9, output="tensor")[0, 0]
    torch.testing.assert_close(frames[0], a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frames[-1], b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(target_domain="horse"), "unknown domain 'horse'"),
    (dict(target_domain=7), "out of range"),
    (dict(target_domain="cat", num_samples=0), "num_samples must be an integer from 1"),
    (dict(target_domain="cat", num_samples=1000), "num_samples must be an integer from 1"),
    (dict(target_domain="cat", psi=5.0), "psi"),
])
def test_bad_arguments(model, faces, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.latent_guided(faces[0], **kwargs)


def test_bad_images(model):
    with pytest.raises(ImageInputError):
        model.latent_guided(np.zeros((4, 4, 3), np.uint8), "cat")
    with pytest.raises(ImageInputError):
        model.latent_guided("/no/such/file.png", "cat")
    with pytest.raises(ValueError, match="no images"):
        model.latent_guided([], "cat")


def test_published_model_two_lines(model, faces, local_hub):
    model.publish("hubmodels/sg2-api-test")
    loaded = hubmodels.load("hubmodels/sg2-api-test")
    out = loaded.latent_guided(faces[0], "dog", num_samples=2, seed=0, output="tensor")
    ref = model.latent_guided(faces[0], "dog", num_samples=2, seed=0, output="tensor")
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not (REFERENCE / "stargan_v2_hpf_fan").is_dir(), reason="reference case not available")
def test_fan_model_uses_masks():
    m = StarGANv2.from_official(REFERENCE / "stargan_v2_hpf_fan" / "100000_nets_ema.ckpt").eval()
    assert m.w_hpf > 0 and hasattr(m, "fan")
    face = render_face(1, 0, size=64).image
    out = m.latent_guided(face, 0, num_samples=2, seed=0, output="tensor")
    assert out.shape == (1, 2, 3, 64, 64) and torch.isfinite(out).all()
    # the masks reach the generator: same style, masks forced off by a zero-mask call differs
    x = m.latent_guided(face, 0, seed=0, output="tensor")[0]
    xs = m.prepare(face)
    s = m.style_from_latent(0, [0])
    zeros = (torch.zeros(1, 1, 256, 256), torch.zeros(1, 1, 256, 256))
    assert (m.translate(xs, s, masks=zeros) - x).abs().max() > 1e-4


@pytest.mark.parametrize("case", ["stargan_v2_small", "stargan_v2_hpf_fan"])
def test_fast_path_still_matches_official(case):
    """channels-last + polyphase + fused norms (the default inference path) against the official outputs."""
    import json

    from safetensors.torch import load_file

    folder = REFERENCE / case
    if not folder.is_dir():
        pytest.skip("reference case not available")
    manifest = json.loads((folder / "manifest.json").read_text())
    tensors = load_file(str(folder / "tensors.safetensors"))
    m = StarGANv2.from_official(folder / manifest["official_checkpoint"]["file"])
    m.optimize_for_inference("rewrites")
    check = next(c for c in manifest["checks"] if c["name"].startswith("generator"))
    inp = check["inputs"]
    masks = (tensors[inp["masks[0]"]], tensors[inp["masks[1]"]]) if "masks[0]" in inp else None
    with torch.inference_mode():
        out = m.generator(tensors[inp["x"]].contiguous(memory_format=torch.channels_last), tensors[inp["s"]],
                          masks=masks)
    ref = tensors[next(iter(check["outputs"].values()))]
    torch.testing.assert_close(out.contiguous(), ref, atol=check["atol"], rtol=check["rtol"])


@pytest.mark.parametrize("case", [None, "stargan_v2_hpf_fan"])
@pytest.mark.parametrize("fast", [False, True])
def test_shared_content_matches_translating_each_output(model, faces, case, fast):
    """Encoding a source once for all its styles gives what the generator gives per (source, style) pair."""
    m = model
    if case is not None:
        if not (REFERENCE / case).is_dir():
            pytest.skip("reference case not available")
        m = StarGANv2.from_official(REFERENCE / case / "100000_nets_ema.ckpt").eval()
    if fast:
        m = copy.deepcopy(m).optimize_for_inference("rewrites")
    x = m.prepare(faces[:2])
    k = 3
    s = m.style_from_latent(1, list(range(k))).repeat(2, 1)
    reference = m.translate(x.repeat_interleave(k, 0), s, batch_size=1)
    for batch_size in (1, 2, 16):  # sources split over chunks, styles split over chunks, all at once
        torch.testing.assert_close(m.translate_styles(x, s, batch_size=batch_size), reference,
                                   atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="split evenly"):
        m.translate_styles(x, s[:5])


def test_average_style_follows_the_weights(model):
    m = copy.deepcopy(model)
    before = m.average_style("dog").clone()
    assert m.average_style("dog") is m.average_style("dog")  # cached
    state = {k: v * 1.5 if v.is_floating_point() else v for k, v in m.state_dict().items()}
    m.load_state_dict(state)
    after = m.average_style("dog")
    assert not torch.allclose(before, after)
    z = torch.randn(10000, m.latent_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(after, m.mean_style(1, z))


def test_inference_methods_are_the_models_own():
    """No forwarding wrappers: the user-facing methods are the mixin's, with one signature."""
    import inspect

    from hubmodels.stargan_v2.inference import StarGANv2Inference

    for name in ("latent_guided", "reference_guided", "interpolate", "style_from_latent", "style_from_reference",
                 "translate", "translate_styles", "average_style"):
        assert getattr(StarGANv2, name) is getattr(StarGANv2Inference, name), name
    assert {"style_a", "style_b", "masks"} <= set(inspect.signature(StarGANv2.interpolate).parameters)


def test_interpolate_with_given_styles(model, faces):
    a, b = model.style_from_latent("fox", [3]), model.style_from_latent("fox", [4])
    frames = model.interpolate(faces[0], "fox", style_a=a, style_b=b, steps=3, output="tensor")
    ends = model.latent_guided(faces[0], "fox", num_samples=2, seed=3, output="tensor")[0]
    torch.testing.assert_close(frames[0], ends[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frames[-1], ends[1], atol=1e-5, rtol=1e-5)
