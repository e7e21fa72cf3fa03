"""BicycleGAN: released-size shapes, released-file quirks, bad files, configuration, hub round trip, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hubmodels.bicyclegan import BicycleGAN, discriminator_from_official, load_official
from hubmodels.bicyclegan.configs import NAMED_CONFIGS, RELEASED
from hubmodels.bicyclegan.convert import OfficialCheckpointError, infer_config
from tests.conftest import REFERENCE

SMALL = REFERENCE / "bicyclegan_small"
SHAPES = SMALL / "full_config_shapes.json"
needs_small = pytest.mark.skipif(not SMALL.is_dir(), reason=f"reference case {SMALL} missing")
needs_shapes = pytest.mark.skipif(not SHAPES.is_file(), reason=f"{SHAPES} missing")


def _released(release: str) -> dict[str, dict[str, list[int]]]:
    return json.loads(SHAPES.read_text())[release]


def _fake(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """A zero-valued state dict with the released shapes (expanded scalars: no memory)."""
    return {k: torch.zeros(()).expand(s) for k, s in shapes.items()}


def _arch(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "description"}


# ---------------------------------------------------------------------------------------------
# released sizes


@needs_shapes
@pytest.mark.parametrize("name", list(NAMED_CONFIGS))
def test_named_configurations_build_the_released_shapes(name: str) -> None:
    with torch.device("meta"):
        model = BicycleGAN(**_arch(NAMED_CONFIGS[name]))
    released = _released(RELEASED[name])
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    official = {f"generator.{k}": s for k, s in released["G"].items()}
    official.update({f"encoder.{k}": s for k, s in released["E"].items()})
    assert ours == official


@needs_shapes
@pytest.mark.parametrize("name", list(NAMED_CONFIGS))
def test_released_files_convert_strictly_with_their_names(name: str, tmp_path: Path) -> None:
    """Shapes alone give the architecture; the file name (as download_model.sh saves it) the test settings."""
    release = RELEASED[name]
    released = _released(release)
    inferred = infer_config(_fake(released["G"]), _fake(released["E"]))
    assert inferred == {k: v for k, v in _arch(NAMED_CONFIGS[name]).items() if k in inferred}
    folder = tmp_path / "pretrained_models" / release
    folder.mkdir(parents=True)
    # the released files were written by PyTorch <= 0.3: InstanceNorm layers may carry running statistics
    g = _fake(released["G"])  # expanded zeros: a few bytes on disk
    g["model.submodule.down.2.running_mean"] = torch.zeros(128)
    g["model.submodule.down.2.running_var"] = torch.ones(128)
    e = _fake(released["E"])
    e["conv.1.conv.0.running_mean"] = torch.zeros(64)
    torch.save(g, folder / "latest_net_G.pth")
    torch.save(e, folder / "latest_net_E.pth")
    model = BicycleGAN.from_official(folder / "latest_net_G.pth", folder / "latest_net_E.pth")
    expected = _arch(NAMED_CONFIGS[name])
    assert {k: model.config[k] for k in expected} == expected
    assert release in model.card.how_made or "latest_net_G.pth" in model.card.how_made


@needs_shapes
def test_release_url_names_and_either_order(tmp_path: Path) -> None:
    released = _released("facades")
    torch.save(_fake(released["G"]), tmp_path / "facades_net_G.pth")
    torch.save(_fake(released["E"]), tmp_path / "facades_net_E.pth")
    model = BicycleGAN.from_official(tmp_path / "facades_net_E.pth", tmp_path / "facades_net_G.pth")
    assert model.direction == "BtoA" and model.load_size == 286 and model.input_nc == 3
    # an explicit configuration wins over the file name
    maps = BicycleGAN.from_official(tmp_path / "facades_net_G.pth", tmp_path / "facades_net_E.pth",
                                    config="bicyclegan_maps_512")
    assert maps.img_size == 512 and maps.encoder_size == 256
    # G alone converts (with a warning): random codes work, encoding says what is missing
    with pytest.warns(UserWarning, match="without the encoder"):
        g_only = BicycleGAN.from_official(tmp_path / "facades_net_G.pth")
    assert g_only.encoder is None and g_only.nz == 8
    with pytest.raises(ValueError, match="no encoder"):
        g_only.encode(torch.zeros(3, 256, 256))


# ---------------------------------------------------------------------------------------------
# bad files


@needs_small
def test_wrong_file_kinds_are_named(tmp_path: Path) -> None:
    with pytest.raises(OfficialCheckpointError, match="discriminator file where the generator"):
        BicycleGAN.from_official(SMALL / "latest_net_D.pth", SMALL / "latest_net_E.pth")
    disc = discriminator_from_official(SMALL / "latest_net_D2.pth")
    assert disc.num_D == 2 and len(disc(torch.zeros(1, 3, 64, 64))) == 2
    with pytest.raises(OfficialCheckpointError, match="not a discriminator"):
        discriminator_from_official(SMALL / "latest_net_G.pth")


@needs_small
def test_wrong_shapes_and_missing_keys_are_named(tmp_path: Path) -> None:
    g = load_official(SMALL / "latest_net_G.pth")
    g.pop("model.submodule.submodule.down.1.bias")
    g["model.submodule.up.1.weight"] = torch.zeros(1, 2, 4, 4)
    torch.save(g, tmp_path / "latest_net_G.pth")
    with pytest.raises(OfficialCheckpointError) as info:
        BicycleGAN.from_official(tmp_path / "latest_net_G.pth", SMALL / "latest_net_E.pth",
                                 config={"input_nc": 1, "output_nc": 3, "nz": 8, "ngf": 4, "nef": 4, "num_downs": 6,
                                         "encoder_depth": 3, "img_size": 64})
    text = str(info.value)
    assert "missing: generator.model.submodule.submodule.down.1.bias" in text
    assert "generator.model.submodule.up.1.weight: checkpoint [1, 2, 4, 4] vs model [16, 4, 4, 4]" in text


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialCheckpointError, match="not a readable PyTorch checkpoint"):
        load_official(tmp_path / "garbage.pth")
    torch.save({"opt": torch.nn.Identity()}, tmp_path / "code.pth")
    with pytest.raises(OfficialCheckpointError, match="needs code"):
        load_official(tmp_path / "code.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(OfficialCheckpointError, match="bare state dict"):
        load_official(tmp_path / "list.pth")
    with pytest.raises(FileNotFoundError):
        load_official(tmp_path / "missing.pth")


@needs_small
def test_module_prefix_is_stripped(tmp_path: Path) -> None:
    g = {f"module.{k}": v for k, v in load_official(SMALL / "latest_net_G.pth").items()}
    torch.save(g, tmp_path / "latest_net_G.pth")
    model = BicycleGAN.from_official(tmp_path / "latest_net_G.pth", SMALL / "latest_net_E.pth")
    ref = BicycleGAN.from_official(SMALL / "latest_net_G.pth", SMALL / "latest_net_E.pth")
    for k, v in ref.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])


# ---------------------------------------------------------------------------------------------
# configuration and the hub


@pytest.mark.parametrize("kwargs,match", [
    (dict(nz=0), "where_add='input'"),
    (dict(nz=0, where_add="input"), "encoder=None"),
    (dict(norm="group"), "norm must be one of"),
    (dict(upsample="nearest"), "upsample must be one of"),
    (dict(where_add="middle"), "where_add must be one of"),
    (dict(img_size=200), "multiple of 2\\*\\*num_downs = 256"),
    (dict(load_size=128), "load_size \\(128\\) must be >= img_size"),
    (dict(direction="AB"), "direction must be one of"),
    (dict(num_downs=4), "num_downs must be an integer >= 5"),
    (dict(encoder="vgg"), "encoder must be one of"),
])
def test_constructor_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BicycleGAN(**kwargs)


def test_where_add_all_needs_six_levels() -> None:
    with pytest.raises(ValueError, match="num_downs must be >= 6 for where_add='all'"):
        BicycleGAN(num_downs=5, img_size=64, encoder_depth=3)


def test_hub_round_trip(tmp_path: Path) -> None:
    import hubmodels

    torch.manual_seed(0)
    model = BicycleGAN(input_nc=1, ngf=4, nef=4, num_downs=6, encoder="conv", encoder_depth=3, img_size=64,
                       norm="batch", nl="lrelu", upsample="bilinear").eval()
    model.save_pretrained(tmp_path / "m")
    again = hubmodels.load(str(tmp_path / "m"))
    assert type(again) is BicycleGAN and again.config == model.config
    x, z = torch.rand(2, 1, 64, 64) * 2 - 1, torch.randn(2, 8)
    assert torch.equal(again(x, z), model(x, z))
    assert (tmp_path / "m" / "sample.png").is_file()
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["ngf"] = 8
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(hubmodels.HubModelError, match="wrongly shaped"):
        hubmodels.load(str(tmp_path / "m"))


@needs_small
def test_cli_convert_writes_a_loadable_folder(tmp_path: Path, capsys) -> None:
    import hubmodels
    from hubmodels.__main__ import main

    out = tmp_path / "small"
    assert main(["convert", "bicyclegan", str(SMALL / "latest_net_G.pth"), str(SMALL / "latest_net_E.pth"),
                 "--out", str(out)]) == 0
    model = hubmodels.load(str(out))
    assert model.config["input_nc"] == 1 and model.img_size == 64 and model.encoder_size == 64
    assert (out / "sample.png").is_file() and "python -m hubmodels convert bicyclegan" in (out / "README.md").read_text()
    assert main(["convert", "bicyclegan", str(SMALL / "latest_net_D.pth"), "--out", str(tmp_path / "x")]) == 1
    assert "discriminator" in capsys.readouterr().err
