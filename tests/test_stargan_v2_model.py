"""StarGAN v2: released-size shapes, released-file quirks, bad files, configuration, hub round trip."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from hubmodels.stargan_v2 import FAN, StarGANv2, discriminator_from_official, from_official, load_official
from hubmodels.stargan_v2.convert import OfficialCheckpointError, infer_config
from hubmodels.stargan_v2.model import NAMED_CONFIGS

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
SMALL = REFERENCE / "stargan_v2_small"
HPF = REFERENCE / "stargan_v2_hpf_fan"
SHAPES = SMALL / "full_config_shapes.json"

needs_small = pytest.mark.skipif(not SMALL.is_dir(), reason=f"reference case {SMALL} missing")
needs_hpf = pytest.mark.skipif(not HPF.is_dir(), reason=f"reference case {HPF} missing")
needs_shapes = pytest.mark.skipif(not SHAPES.is_file(), reason=f"{SHAPES} missing")

RELEASED = {"celeba_hq": "stargan_v2_celebahq_256", "afhq": "stargan_v2_afhq_256"}


def _fake_official(config: str, *, drop: tuple[str, ...] = ()) -> dict:
    """A zero-valued official checkpoint with the released shapes (expanded scalars: no memory)."""
    shapes = json.loads(SHAPES.read_text())[config]
    return {
        net: {key: torch.zeros(()).expand(shape) for key, shape in sd.items() if f"{net}.{key}" not in drop}
        for net, sd in shapes.items()
    }


def _arch_args(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in ("description", "domains")}


# ---------------------------------------------------------------------------------------------
# released sizes


@needs_shapes
@pytest.mark.parametrize("config,drop", [
    ("celeba_hq", ()),
    ("celeba_hq", ("generator.hpf.filter",)),  # the released CelebA-HQ file predates the buffer
    ("afhq", ()),
])
def test_released_shapes_load_strictly(config: str, drop: tuple[str, ...]) -> None:
    fake = _fake_official(config, drop=drop)
    fake.pop("discriminator")
    inferred = infer_config(fake)
    expected = _arch_args(NAMED_CONFIGS[RELEASED[config]])
    assert inferred == {k: pytest.approx(v) for k, v in expected.items()}
    model = from_official(fake)  # loads strictly or raises
    assert model.domains == NAMED_CONFIGS[RELEASED[config]]["domains"]
    shapes = json.loads(SHAPES.read_text())[config]
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    official = {f"{net}.{k}": s for net, sd in shapes.items() if net != "discriminator" for k, s in sd.items()}
    assert ours == official
    if config == "celeba_hq":
        assert hasattr(model, "fan")
        expected_filter = torch.tensor([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]])
        if drop:  # rebuilt from w_hpf, not left at zero
            assert torch.equal(model.generator.hpf.filter, expected_filter)
    else:
        assert not hasattr(model, "fan")


@needs_shapes
@pytest.mark.parametrize("config", ["celeba_hq", "afhq"])
def test_released_discriminator_shapes(config: str) -> None:
    fake = _fake_official(config)
    disc = discriminator_from_official(fake)
    shapes = json.loads(SHAPES.read_text())[config]["discriminator"]
    assert {k: list(v.shape) for k, v in disc.state_dict().items()} == shapes
    assert disc.main[-1].out_channels == NAMED_CONFIGS[RELEASED[config]]["num_domains"]


@needs_shapes
def test_named_configurations_match_released_shapes() -> None:
    from hubmodels.registry import create_model

    for config, name in RELEASED.items():
        with torch.device("meta"):
            model = create_model(name)
        shapes = json.loads(SHAPES.read_text())[config]
        official = {f"{net}.{k}": s for net, sd in shapes.items() if net != "discriminator" for k, s in sd.items()}
        assert {k: list(v.shape) for k, v in model.state_dict().items()} == official
        assert model.domains == NAMED_CONFIGS[name]["domains"]


def test_celeba_without_fan_weights_converts_and_names_wing() -> None:
    """A released-size CelebA-HQ generator without FAN converts (with a warning naming wing.ckpt); it then
    needs the caller's masks, and says so."""
    if not SHAPES.is_file():
        pytest.skip(f"{SHAPES} missing")
    fake = _fake_official("celeba_hq")
    del fake["fan"], fake["discriminator"]
    with pytest.warns(UserWarning, match="wing.ckpt"):
        model = from_official(fake)
    assert model.w_hpf == 1 and not model.with_fan and not hasattr(model, "fan")
    with pytest.raises(ValueError, match="wing.ckpt"):
        model.get_masks(torch.zeros(1, 3, 256, 256))


# ---------------------------------------------------------------------------------------------
# released-file quirks, on the small official files


def _same_weights(a: torch.nn.Module, b: torch.nn.Module, skip: str = "\0") -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        if not key.endswith(skip):
            assert torch.equal(value, sb[key]), key


@needs_hpf
def test_module_prefix_and_missing_hpf_filter(tmp_path: Path) -> None:
    ckpt = load_official(HPF / "100000_nets_ema.ckpt")
    reference = from_official(HPF / "100000_nets_ema.ckpt")
    released_like = {net: {f"module.{k}": v for k, v in sd.items() if k != "hpf.filter"} for net, sd in ckpt.items()}
    path = tmp_path / "100000_nets_ema.ckpt"
    torch.save(released_like, path)
    model = from_official(path)
    assert model.w_hpf == 1.0
    assert torch.equal(model.generator.hpf.filter, ckpt["generator"]["hpf.filter"])
    _same_weights(reference, model)


@needs_hpf
def test_fan_from_wing_checkpoint_with_extra_keys(tmp_path: Path) -> None:
    ckpt = load_official(HPF / "100000_nets_ema.ckpt")
    fan_sd = ckpt.pop("fan")
    nets = tmp_path / "nets_ema.ckpt"
    torch.save(ckpt, nets)
    wing_sd = {k: v for k, v in fan_sd.items() if not k.endswith("num_batches_tracked")}  # old PyTorch
    wing_sd["m1.b1_4.conv1.weight"] = torch.randn(128, 256, 3, 3)  # a second hourglass FAN does not use
    wing_sd["l1.weight"] = torch.randn(99, 256, 1, 1)
    wing = tmp_path / "wing.ckpt"
    torch.save({"state_dict": wing_sd, "epoch": 7, "args": argparse.Namespace(lr=1e-4)}, wing)

    with pytest.warns(UserWarning, match="wing"):
        without = from_official(nets)  # the generator is complete: usable with caller-supplied masks
    assert without.with_fan is False and not hasattr(without, "fan")
    model = from_official(nets, wing)
    _same_weights(from_official(HPF / "100000_nets_ema.ckpt"), model, skip="num_batches_tracked")
    assert all(int(v) == 0 for k, v in model.fan.state_dict().items() if k.endswith("num_batches_tracked"))


@needs_small
def test_w_hpf_zero_inferred_and_discriminator_from_training_file() -> None:
    model = from_official(SMALL / "100000_nets_ema.ckpt")
    assert model.w_hpf == 0 and not hasattr(model, "fan")
    assert model.domains == ["domain0", "domain1", "domain2"]
    named = from_official(SMALL / "100000_nets_ema.ckpt", domains=["a", "b", "c"])
    assert named.domains == ["a", "b", "c"]
    with pytest.raises(ValueError, match="3 domains"):
        from_official(SMALL / "100000_nets_ema.ckpt", domains=["a", "b"])
    with pytest.raises(OfficialCheckpointError, match="_nets.ckpt"):
        discriminator_from_official(SMALL / "100000_nets_ema.ckpt")
    disc = discriminator_from_official(SMALL / "100000_nets.ckpt")
    assert disc.main[-1].out_channels == 3


# ---------------------------------------------------------------------------------------------
# bad files


class _NotATensor:
    def __init__(self) -> None:
        self.value = 1


def test_pickle_needing_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"generator": _NotATensor()}, path)
    with pytest.raises(OfficialCheckpointError, match=r"needs code.*|_NotATensor") as info:
        load_official(path)
    assert "_NotATensor" in str(info.value) and "weights_only" in str(info.value)


def test_garbage_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(OfficialCheckpointError, match="not a readable PyTorch checkpoint"):
        load_official(path)
    with pytest.raises(FileNotFoundError):
        load_official(tmp_path / "absent.ckpt")
    wrong = tmp_path / "wrong.ckpt"
    torch.save({"weights": {"a": torch.zeros(1)}}, wrong)
    with pytest.raises(OfficialCheckpointError, match="generator"):
        from_official(wrong)


@needs_small
def test_wrong_shape_and_missing_keys_are_named(tmp_path: Path) -> None:
    ckpt = load_official(SMALL / "100000_nets_ema.ckpt")
    ckpt["generator"]["to_rgb.2.weight"] = torch.zeros(3, 5, 1, 1)
    del ckpt["style_encoder"]["unshared.1.bias"]
    ckpt["mapping_network"]["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(OfficialCheckpointError) as info:
        from_official(path)
    message = str(info.value)
    assert "generator.to_rgb.2.weight: checkpoint [3, 5, 1, 1] vs model [3, 8, 1, 1]" in message
    assert "style_encoder.unshared.1.bias" in message and "missing" in message
    assert "mapping_network.extra.weight" in message and "unexpected" in message


@needs_small
def test_explicit_config_overrides_inference() -> None:
    cfg = infer_config(load_official(SMALL / "100000_nets_ema.ckpt"))
    with pytest.raises(OfficialCheckpointError, match="wrong shape"):
        from_official(SMALL / "100000_nets_ema.ckpt", config={**cfg, "style_dim": 32})
    with pytest.raises(ValueError, match="unknown StarGAN v2 configuration"):
        from_official(SMALL / "100000_nets_ema.ckpt", config="stargan_v2_nope")


# ---------------------------------------------------------------------------------------------
# the model class


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="power of two"):
        StarGANv2(img_size=48)
    with pytest.raises(ValueError, match="2 domain names"):
        StarGANv2(num_domains=3, domains=["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        StarGANv2(num_domains=2, domains=["a", "a"])
    with pytest.raises(ValueError, match="w_hpf"):
        StarGANv2(w_hpf=-1)
    with pytest.raises(ValueError, match="style_dim"):
        StarGANv2(style_dim=0)
    model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8,
                      hidden_dim=16)
    assert model.domains == ["domain0", "domain1", "domain2"]
    assert model.domain_index("domain2") == 2
    with pytest.raises(ValueError, match="unknown domain"):
        model.domain_index("cat")


def test_fan_stays_in_eval_mode() -> None:
    with torch.device("meta"):
        model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, max_conv_dim=16, dim_in=8, hidden_dim=16, w_hpf=1)
    model.train()
    assert model.generator.training and not model.fan.training
    assert not any(m.training for m in model.fan.modules())
    assert isinstance(model.fan, FAN)


def test_batched_domain_selection_matches_per_sample() -> None:
    torch.manual_seed(1)
    model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8,
                      hidden_dim=16).eval()
    z, x = torch.randn(5, 4), torch.rand(5, 3, 32, 32) * 2 - 1
    y = torch.tensor([2, 0, 1, 2, 0])
    with torch.no_grad():
        batched = model.mapping_network(z, y)
        single = torch.cat([model.mapping_network(z[i:i + 1], y[i:i + 1]) for i in range(5)])
        assert torch.allclose(batched, single, atol=1e-6)
        assert not torch.allclose(batched, model.mapping_network(z, (y + 1) % 3))
        e_batched = model.style_encoder(x, y)
        e_single = torch.cat([model.style_encoder(x[i:i + 1], y[i:i + 1]) for i in range(5)])
        assert torch.allclose(e_batched, e_single, atol=1e-5)


def test_masks_need_high_pass_generator() -> None:
    model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, max_conv_dim=16, dim_in=8, hidden_dim=16)
    x, s = torch.zeros(1, 3, 32, 32), torch.zeros(1, 8)
    masks = (torch.zeros(1, 1, 256, 256), torch.zeros(1, 1, 256, 256))
    with pytest.raises(ValueError, match="w_hpf > 0"):
        model.generator(x, s, masks=masks)
    assert model.get_masks(x) is None


@needs_hpf
def test_hub_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("hubmodels.hub", reason="hubmodels.hub (the lead's base class) is not importable yet")
    model = from_official(HPF / "100000_nets_ema.ckpt", domains=["female", "male"])
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["family"] == "stargan_v2" and config["architecture"] == "StarGANv2"
    assert config["w_hpf"] == 1.0 and config["domains"] == ["female", "male"] and config["img_size"] == 64
    loaded = StarGANv2.from_pretrained(tmp_path / "m")
    assert loaded.domains == ["female", "male"] and not loaded.training and not loaded.fan.training
    _same_weights(model, loaded)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        s = model.mapping_network(torch.randn(1, model.latent_dim), torch.tensor([1]))
        assert torch.equal(model(x, s), loaded(x, s))
    card = (tmp_path / "m" / "README.md").read_text()
    assert "cc-by-nc-4.0" in card and "image-to-image" in card
