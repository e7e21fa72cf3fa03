"""SemanticStyleGAN model class: configuration errors, seeds, hub round trip, reduced precision, the converter's
errors, and the locality of region edits on the reference case's converted model."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from hubmodels.semantic_stylegan import NAMED_CONFIGS, SemanticStyleGAN
from hubmodels.semantic_stylegan.convert import OfficialCheckpointError, from_official
from tests.conftest import REFERENCE

CASE = REFERENCE / "semantic_stylegan_small"
needs_case = pytest.mark.skipif(not (CASE / "checkpoint.pt").is_file(), reason=f"{CASE} not present")

SMALL = dict(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2,
             local_channel=8, coarse_channel=8, coarse_size=8, min_feat_size=4,
             channels={"4": 8, "8": 8, "16": 4}, transparent_dims=[2])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small(**kw) -> SemanticStyleGAN:
    torch.manual_seed(0)
    return SemanticStyleGAN(**{**SMALL, **kw})


@lru_cache(maxsize=None)
def _reference() -> SemanticStyleGAN:
    return SemanticStyleGAN.from_official(CASE / "checkpoint.pt")


# ---------------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize("kwargs,needle", [
    (dict(size=24), "size must be a power of two"),
    (dict(depth_layers=4), "depth_layers"),
    (dict(base_layers=3), "base_layers"),
    (dict(coarse_size=16), "coarse_size"),
    (dict(min_feat_size=8), "min_feat_size"),
    (dict(transparent_dims=[3]), "transparent_dims"),
    (dict(residual_refine="yes"), "residual_refine"),
    (dict(class_names=["a", "b"]), "class_names"),
    (dict(class_names=["a", "a", "b"]), "class_names"),
    (dict(palette=[[0, 0, 0], [1, 2, 3], [256, 0, 0]]), "palette"),
    (dict(channels={"16": 0}), "channels"),
    (dict(channels={"4": 8, "8": 8}, size=32, coarse_size=8, channel_multiplier=1), None),
    (dict(lr_mlp=0), "lr_mlp"),
    (dict(seg_dim=0), "seg_dim"),
])
def test_config_validation(kwargs: dict, needle: str | None) -> None:
    if needle is None:  # a valid variant: the widths not overridden come from channel_multiplier
        assert _small(**kwargs).size == 32
        return
    with pytest.raises(ValueError, match=needle):
        _small(**kwargs)


def test_named_configs_and_defaults() -> None:
    assert set(NAMED_CONFIGS) == {"semantic_stylegan_celebamaskhq_512", "semantic_stylegan_bitmoji_512",
                                  "semantic_stylegan_metfaces_512", "semantic_stylegan_toonify_512"}
    for entry in NAMED_CONFIGS.values():
        assert entry["weights"]["url"].startswith("https://github.com/seasonSH/SemanticStyleGAN/releases/download/1.0.0/")
        assert entry["config"]["class_names"][10] == "glasses" and entry["config"]["transparent_dims"] == [10, 12]
    model = _small()
    assert model.n_latent == 1 + 2 * 3 and model.n_latent_expand == 9
    assert model.class_names == ["background", "class_1", "class_2"] and len(model.palette) == 3


def test_synthfaces_classes_configure_the_demo_model() -> None:
    from hubmodels.data.synthfaces import MASK_CLASSES, MASK_PALETTE

    model = _small(seg_dim=len(MASK_CLASSES), class_names=list(MASK_CLASSES),
                   palette=[list(c) for c in MASK_PALETTE], transparent_dims=[MASK_CLASSES.index("glasses")])
    assert model.latent_layout()["regions"]["glasses"] == {"shape": 1 + 2 * 7, "texture": 1 + 2 * 7 + 1}
    sample = model.edit(0, ["eyes", "mouth"], 1, part="texture")
    assert len(sample) == 2 and sample[0].classes.max() < len(MASK_CLASSES)


def test_latent_layout_and_region_errors() -> None:
    model = _small(class_names=["background", "head", "glasses"])
    layout = model.latent_layout()
    assert layout["coarse"] == [0]
    assert layout["regions"]["head"] == {"shape": 3, "texture": 4}
    assert layout["expanded"]["glasses"]["rows"] == [6, 9]
    with pytest.raises(ValueError, match="unknown region 'hair'.*head"):
        model.edit(0, ["hair"], 1)
    with pytest.raises(ValueError, match="part must be one of"):
        model.edit(0, ["head"], 1, part="colour")
    with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
        model.generate([2**32])
    with pytest.raises(ValueError, match="seed"):
        model.generate([-1])
    with pytest.raises(ValueError, match="truncation_psi"):
        model.generate([0], truncation_psi=float("nan"))
    model.generate([2**32 - 1])


# ---------------------------------------------------------------------------------------------------------
# seeds and outputs


def test_determinism_by_seed() -> None:
    model = _small()
    a = model.generate([3, 4])
    b = model.generate([4])
    assert np.array_equal(np.asarray(a[1].image), np.asarray(b[0].image))  # independent of the batch
    assert np.array_equal(a[1].classes, b[0].classes)
    assert not np.array_equal(np.asarray(a[0].image), np.asarray(a[1].image))
    sample = a[0]
    assert sample.image.size == (16, 16) and sample.mask.size == (16, 16) and sample.overlay.size == (16, 16)
    assert sample.classes.shape == (16, 16) and sample.classes.max() < 3
    # the coloured map is the palette at each class id
    assert np.array_equal(np.asarray(sample.mask), np.asarray(model.palette, dtype=np.uint8)[sample.classes])
    # z of a seed is torch's draw after seeding (what the official scripts' torch.randn gives)
    torch.manual_seed(11)
    assert torch.equal(model.seed_z([11]), torch.randn(1, 8))


def test_noise_modes_and_components() -> None:
    model = _small()
    with torch.no_grad():  # freshly initialised noise strengths are zero
        for conv in model.generator.render_net.convs:
            conv.noise.weight.fill_(0.5)
    w = model.latents([0])
    const = model.synthesize(w)["rgb"]
    assert torch.equal(const, model.synthesize(w)["rgb"])
    r1 = model.synthesize(w, noise_mode="random", seeds=[5])["rgb"]
    assert torch.equal(r1, model.synthesize(w, noise_mode="random", seeds=[5])["rgb"])
    assert not torch.equal(r1, const)
    with pytest.raises(ValueError, match="noise mode"):
        model.synthesize(w, noise_mode="fresh")
    parts = model.components(0)
    assert [name for name, _ in parts] == model.class_names
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    coarse = model.synthesize(w.repeat(2, 1, 1), composition_mask=mask)["seg_coarse"]
    assert (coarse.argmax(1)[0] == 0).all() and (coarse.argmax(1)[1] != 1).all()  # dropped classes never win


# ---------------------------------------------------------------------------------------------------------
# hub round trip and reduced precision


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _small(with_discriminator=True, class_names=["background", "head", "glasses"])
    model.save_pretrained(tmp_path / "m")
    loaded = SemanticStyleGAN.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and loaded.class_names == ["background", "head", "glasses"]
    w = model.latents([1, 2])
    for key in ("rgb", "seg", "seg_coarse"):
        assert torch.equal(loaded.synthesize(w)[key], model.synthesize(w)[key])
    img, seg = torch.rand(2, 3, 16, 16) * 2 - 1, torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded.discriminate(img, seg), model.discriminate(img, seg))
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (tmp_path / "m" / name).is_file()


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_reduced_precision_load_runs(tmp_path: Path, dtype: str) -> None:
    model = _small()
    model.save_pretrained(tmp_path / "m")
    half = SemanticStyleGAN.from_pretrained(tmp_path / "m", dtype=dtype)
    assert half.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    out, ref = half.synthesize(half.latents([0, 1])), model.synthesize(model.latents([0, 1]))
    for key in ("rgb", "seg"):
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]).all()
        assert (out[key] - ref[key]).abs().mean() < 0.1 * ref[key].abs().mean()
    assert len(half.generate([0])) == 1


# ---------------------------------------------------------------------------------------------------------
# converter errors


@needs_case
def test_converter_errors_name_keys_and_shapes() -> None:
    from hubmodels.checkpoints import load_torch_file

    ckpt = load_torch_file(CASE / "checkpoint.pt")
    g = dict(ckpt["g_ema"])
    g.pop("render_net.convs.1.activate.bias")
    with pytest.raises(OfficialCheckpointError, match=r"missing keys \['render_net.convs.1.activate.bias'\]"):
        from_official({**ckpt, "g_ema": g})
    g = dict(ckpt["g_ema"], **{"style.1.weight": torch.zeros(7, 32)})
    with pytest.raises(OfficialCheckpointError, match=r"style.1.weight: file \[7, 32\] vs model \[32, 32\]"):
        from_official({**ckpt, "g_ema": g})
    g = dict(ckpt["g_ema"], **{"extra.weight": torch.zeros(1)})
    with pytest.raises(OfficialCheckpointError, match="unexpected keys.*extra.weight"):
        from_official({**ckpt, "g_ema": g})
    with pytest.raises(OfficialCheckpointError, match="no 'args'"):
        from_official({"g_ema": ckpt["g_ema"]})
    with pytest.raises(OfficialCheckpointError, match="args differ from 'semantic_stylegan_celebamaskhq_512'"):
        from_official(ckpt, config="semantic_stylegan_celebamaskhq_512")
    with pytest.raises(ValueError, match="unknown configuration"):
        from_official(ckpt, config="semantic_stylegan_ffhq")
    with pytest.raises(ValueError, match="weights must be"):
        from_official(ckpt, weights="ema")
    assert not from_official(ckpt, with_discriminator=False).has_discriminator


@needs_case
def test_namespace_args_load(tmp_path: Path) -> None:
    """The released files pickle args as an argparse.Namespace: read through weights_only with it allowed."""
    import argparse

    from hubmodels.checkpoints import load_torch_file

    ckpt = load_torch_file(CASE / "checkpoint.pt")
    ckpt = {**ckpt, "args": argparse.Namespace(**ckpt["args"])}
    torch.save(ckpt, tmp_path / "released.pt")
    a, b = SemanticStyleGAN.from_official(tmp_path / "released.pt"), _reference()
    assert a.config == b.config
    w = b.latents([0])
    assert torch.equal(a.synthesize(w)["rgb"], b.synthesize(w)["rgb"])


# ---------------------------------------------------------------------------------------------------------
# locality of region edits (reference case's converted model)


@needs_case
def test_texture_edit_is_local() -> None:
    """A texture edit keeps every pseudo-depth and the coarse layout bitwise, and changes the fused feature map
    inside the region far more than outside (the change is the class's fusion weight times its feature change)."""
    model = _reference()
    region = model.class_names[1]
    for seed in range(4):
        base = model.latents([seed])
        edited = model.edit_latent(seed, [region], 1000 + seed, part="texture").unsqueeze(0)
        with torch.no_grad():
            o0, o1 = model.synthesis(base), model.synthesis(edited)
        assert torch.equal(o0["seg_coarse"], o1["seg_coarse"])
        assert all(torch.equal(a, b) for a, b in zip(o0["depths"], o1["depths"]))
        change = (o0["feat"] - o1["feat"]).abs().mean(1)[0]
        m = (o0["seg_coarse"][0, 1] + 1) / 2
        inside, outside = m > 0.5, m < 0.1
        assert inside.any() and outside.any()
        assert change[inside].mean() > 5 * change[outside].mean()
        assert not torch.equal(o0["rgb"], o1["rgb"])


@needs_case
def test_shape_edit_moves_only_its_region() -> None:
    """A shape edit of class k changes the coarse class map only where class k was or now is."""
    model = _reference()
    for k in range(1, model.seg_dim):
        sample = model.edit(0, [model.class_names[k]], 77, part="shape")
        before, after = sample[0].classes, sample[1].classes
        with torch.no_grad():
            w = torch.stack([model.latents([0])[0], model.edit_latent(0, [model.class_names[k]], 77, part="shape")])
            coarse = model.synthesis(w)["seg_coarse"].argmax(1)
        c0, c1 = coarse[0], coarse[1]
        outside = (c0 != k) & (c1 != k)
        assert torch.equal(c0[outside], c1[outside])
        assert before.shape == after.shape


@needs_case
def test_interpolate_region_endpoints() -> None:
    model = _reference()
    frames = model.interpolate_region(2, ["class_1"], 9, steps=3, part="both")
    assert len(frames) == 3
    start = model.generate([2])[0]
    assert np.array_equal(np.asarray(frames[0].image), np.asarray(start.image))
    target = model.edit(2, ["class_1"], 9, part="both")[1]
    assert np.abs(np.asarray(frames[-1].image, dtype=int) - np.asarray(target.image, dtype=int)).max() <= 1
    with pytest.raises(ValueError, match="steps"):
        model.interpolate_region(2, ["class_1"], 9, steps=1)


def test_coarse_codes_have_no_texture_part():
    torch.manual_seed(0)
    model = SemanticStyleGAN(**SMALL).eval()
    with pytest.raises(ValueError, match="have no texture part"):
        model.edit_latent(3, ["coarse"], 5, part="texture")
    assert model.edit_latent(3, ["coarse"], 5, part="shape").shape == (model.n_latent, model.style_dim)
