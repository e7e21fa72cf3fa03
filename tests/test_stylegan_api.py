"""StyleGAN / StyleGAN2 inference API: official seeds, noise modes, truncation, style mixing, interpolation,
projection, bad input and the inference paths, for both architectures."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from hubmodels.images import ImageInputError
from hubmodels.stylegan.inference import MAX_SEED, StyleGANInference
from hubmodels.stylegan.model_v1 import StyleGAN
from hubmodels.stylegan.model_v2 import StyleGAN2

TINY = {
    "stylegan2": (StyleGAN2, dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128,
                                  channel_max=16, num_fp16_res=0, conv_clamp=None)),
    "stylegan": (StyleGAN, dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, fmaps_base=128,
                                fmaps_max=16)),
}


def _build(arch: str, **extra) -> StyleGANInference:
    cls, kwargs = TINY[arch]
    torch.manual_seed(0)
    model = cls(**{**kwargs, **extra}).eval()
    with torch.no_grad():  # a w_avg away from zero, as a trained model's, so truncation moves something
        model.mapping_network.w_avg.copy_(torch.randn(model.w_dim) * 0.5)
        for name, p in model.named_parameters():  # visible noise: a fresh model's noise strengths start at 0
            if "noise" in name:
                p.fill_(0.3)
    return model


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


@pytest.fixture(scope="module", params=sorted(TINY))
def model(request) -> StyleGANInference:
    return _build(request.param)


def test_seeds_are_the_official_draws(model):
    z = model.seed_z([85, 0])
    assert torch.equal(z[0], torch.from_numpy(np.random.RandomState(85).randn(model.z_dim)).float())
    assert torch.equal(z[1], torch.from_numpy(np.random.RandomState(0).randn(model.z_dim)).float())


def test_images_change_with_the_seed_and_repeat_for_the_same_seed(model):
    a = model.generate_tensor([1, 2, 3], truncation_psi=0.7)
    b = model.generate_tensor([1, 2, 3], truncation_psi=0.7)
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b)
    assert (a[0] - a[1]).abs().mean() > 0.01 and (a[1] - a[2]).abs().mean() > 0.01
    single = model.generate_tensor([2], truncation_psi=0.7)
    torch.testing.assert_close(single[0], a[1], atol=1e-5, rtol=0)  # the seed decides, not the batch
    pil = model.generate([1, 2], 0.7)
    assert len(pil) == 2 and pil[0].size == (16, 16) and pil[0].mode == "RGB"


def test_noise_modes(model):
    const = model.generate_tensor([4], noise_mode="const")
    none = model.generate_tensor([4], noise_mode="none")
    r1 = model.generate_tensor([4, 5], noise_mode="random")
    r2 = model.generate_tensor([4], noise_mode="random")
    assert not torch.equal(const, none) and not torch.allclose(r1[:1], const)
    torch.testing.assert_close(r1[:1], r2, atol=1e-5, rtol=0)  # random noise follows the image's seed


def test_truncation_trades_diversity_for_the_average(model):
    seeds = list(range(8))
    spread = {psi: model.generate_tensor(seeds, truncation_psi=psi).std(0).mean().item() for psi in (1.0, 0.5, 0.0)}
    assert spread[1.0] > spread[0.5] > spread[0.0]
    assert spread[0.0] < 1e-6  # psi 0: every seed is the average w
    avg = model.generate_tensor([0, 1], truncation_psi=0.0)
    cut = model.generate_tensor([0, 1], truncation_psi=0.0, truncation_cutoff=2)
    assert (cut[0] - cut[1]).abs().mean() > 1e-3 and torch.allclose(avg[0], avg[1])


def _cell(grid: Image.Image, row: int, col: int, side: int, pad: int = 2) -> np.ndarray:
    x, y = pad + col * (side + pad), pad + row * (side + pad)
    return _arr(grid.crop((x, y, x + side, y + side)))


def test_style_mixing_grid(model):
    rows, cols = [10, 11], [20, 21, 22]
    grid = model.style_mixing(rows, cols, "coarse", truncation_psi=1.0)
    assert grid.size == (2 + 4 * 18, 2 + 3 * 18)
    col_imgs, row_imgs = model.generate(cols), model.generate(rows)
    assert np.abs(_cell(grid, 0, 1, 16) - _arr(col_imgs[0])).max() <= 1  # header row: the column seeds
    assert np.abs(_cell(grid, 2, 0, 16) - _arr(row_imgs[1])).max() <= 1  # header column: the row seeds
    mixed = _cell(grid, 1, 2, 16)
    assert np.abs(mixed - _arr(row_imgs[0])).mean() > 1 and np.abs(mixed - _arr(col_imgs[1])).mean() > 1
    every = model.style_mixing(rows, cols, list(range(model.num_ws)))
    assert np.abs(_cell(every, 1, 2, 16) - _arr(col_imgs[1])).max() <= 1  # all layers from the column
    groups = model.layer_groups()
    # 16 px has no 64 px layer: its three resolutions are the three groups
    assert groups == {"coarse": [0, 1], "middle": [2, 3], "fine": [4, 5]}


def test_layer_groups_follow_the_paper_at_1024():
    model = StyleGAN2.__new__(StyleGAN2)  # layer_groups only needs the layout, not the weights
    object.__setattr__(model, "__dict__", {"num_ws": 18, "img_resolution": 1024})
    groups = StyleGANInference.layer_groups(model)
    assert groups == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 18))}


def test_interpolation_ends_at_the_seeds_and_animates(model, tmp_path):
    frames = model.interpolate(3, 9, steps=5, truncation_psi=0.8)
    assert len(frames) == 5
    assert np.abs(_arr(frames[0]) - _arr(model.generate([3], 0.8)[0])).max() <= 1
    assert np.abs(_arr(frames[-1]) - _arr(model.generate([9], 0.8)[0])).max() <= 1
    assert np.abs(_arr(frames[2]) - _arr(frames[0])).mean() > 0.5
    gif = model.save_animation(frames, tmp_path / "walk.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 8  # there and back, ends not repeated
    with pytest.raises(ValueError, match="accepted: .gif, .mp4"):
        model.save_animation(frames, tmp_path / "walk.avi")


@pytest.mark.parametrize("arch", sorted(TINY))
def test_projection_recovers_a_generated_image(arch):
    model = _build(arch)
    with torch.no_grad():  # a trained model's noise is a detail; here it would be half the image
        for name, p in model.named_parameters():
            if "noise" in name:
                p.fill_(0.02)
    target = model.generate([7], 0.8)[0]
    # An untrained tiny StyleGAN (AdaIN) is a rougher landscape in W than StyleGAN2: it gets W+ here.
    proj = model.project(target, steps=150, seed=0, progress=False, w_plus=arch == "stylegan")
    assert proj.latent.shape == (model.num_ws, model.w_dim) and proj.distance == "pixels"
    if arch == "stylegan2":
        assert torch.equal(proj.latent[0], proj.latent[-1])  # W: one w for every layer
    assert proj.losses[-1] < proj.losses[0] * 0.5
    err = np.abs(_arr(proj.image) - _arr(target)).mean()
    random_err = np.mean([np.abs(_arr(im) - _arr(target)).mean() for im in model.generate(list(range(20, 28)), 0.8)])
    assert err < 0.5 * random_err, (err, random_err)
    # the projected latent is a latent like any seed: it mixes and morphs
    frames = model.interpolate(proj.latent, 3, steps=3)
    assert len(frames) == 3
    grid = model.style_mixing([proj], [1, 2], "fine")  # a Projection stands for its latent
    assert all(p.grad is None for p in model.parameters())  # only the latent and the noise were optimised
    assert grid.size == (2 + 3 * 18, 2 + 2 * 18)
    plus = model.project(target, steps=20, w_plus=True, progress=False)
    assert not torch.allclose(plus.latent[0], plus.latent[-1])  # one w per layer


def test_conditional_model_takes_a_class():
    model = _build("stylegan2", c_dim=3)
    a, b = model.generate_tensor([1], class_label=0), model.generate_tensor([1], class_label=2)
    assert (a - b).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="class-conditional: class_label must be an integer from 0 to 2"):
        model.generate([1])
    with pytest.raises(ValueError, match="from 0 to 2"):
        model.generate([1], class_label=3)


@pytest.mark.parametrize("call,match", [
    (lambda m: m.generate([-1]), f"seed must be an integer from 0 to {MAX_SEED}"),
    (lambda m: m.generate([2**32]), f"seed must be an integer from 0 to {MAX_SEED}"),
    (lambda m: m.generate([1.5]), "seed must be an integer"),
    (lambda m: m.generate(["7"]), "seed must be an integer"),
    (lambda m: m.generate([]), "non-empty list"),
    (lambda m: m.generate(list(range(65))), "at most 64 seeds"),
    (lambda m: m.generate([1], math.nan), "finite number"),
    (lambda m: m.generate([1], math.inf), "finite number"),
    (lambda m: m.generate([1], 5.0), "between -2 and 2"),
    (lambda m: m.generate([1], noise_mode="loud"), "unknown noise mode 'loud'; accepted: const, random, none"),
    (lambda m: m.generate([1], class_label=1), "unconditional: class_label must be None"),
    (lambda m: m.style_mixing([1], [2], "tiny"), "unknown layer group 'tiny'; accepted: coarse, middle, fine"),
    (lambda m: m.style_mixing([1], [2], [99]), "layer indices from 0 to"),
    (lambda m: m.style_mixing([], [2]), "1 to 8 row latents"),
    (lambda m: m.interpolate(1, 2, steps=1), "steps must be an integer from 2 to 240"),
    (lambda m: m.interpolate(torch.zeros(3), 2), "a latent must be a seed, a W vector"),
    (lambda m: m.interpolate(torch.full((16,), math.nan), 2), "NaN or infinite"),
    (lambda m: m.project(Image.new("RGB", (16, 16)), steps=0), "steps must be an integer from 1 to 10000"),
    (lambda m: m.project(Image.new("RGB", (16, 16)), steps=2, distance="lpips2"), "unknown distance 'lpips2'"),
])
def test_bad_arguments(model, call, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        call(model)


def test_bad_images_to_project(model, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(ImageInputError, match="not a recognised image file"):
        model.project(notes, steps=2, progress=False)
    with pytest.raises(ValueError, match="HUBMODELS_VGG16_WEIGHTS"):
        model.project(Image.new("RGB", (16, 16)), steps=2, distance="vgg16", progress=False)


def test_inference_methods_are_the_mixins():
    for cls in (StyleGAN, StyleGAN2):
        for name in ("generate", "style_mixing", "interpolate", "project", "layer_groups"):
            assert getattr(cls, name) is getattr(StyleGANInference, name)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_every_inference_path_against_fp32(arch):
    """Exact by default; every candidate path of dtype="auto", forced, stays close to fp32."""
    from hubmodels.nn.fast import psnr

    model = _build(arch)
    ref = model.generate_tensor([0, 1], truncation_psi=0.7)
    assert model.inference_path == "fp32"
    for path in model.inference_paths():
        model.optimize_for_inference(path)
        out = model.generate_tensor([0, 1], truncation_psi=0.7)
        assert out.dtype == torch.float32 and out.shape == ref.shape and torch.isfinite(out).all()
        floor = 60 if path in ("fp32-channels-last", "rewrites") else 20
        assert psnr(out, ref) > floor, path
    model.optimize_for_inference(None)
    assert torch.equal(model.generate_tensor([0, 1], truncation_psi=0.7), ref)


def test_published_model_in_two_lines(local_hub):
    import hubmodels

    model = _build("stylegan2")
    model.publish("hubmodels/tiny-stylegan2", hub_dir=local_hub)
    loaded = hubmodels.load("hubmodels/tiny-stylegan2")
    assert type(loaded) is StyleGAN2
    assert torch.equal(loaded.generate_tensor([5], truncation_psi=0.7), model.generate_tensor([5], truncation_psi=0.7))
    assert (local_hub / "hubmodels--tiny-stylegan2" / "sample.png").is_file() or any(local_hub.rglob("sample.png"))
