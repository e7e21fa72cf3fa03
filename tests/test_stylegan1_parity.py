"""StyleGAN (v1) against the official implementation: every check of every stylegan reference case, and the
released configurations' full-size shapes."""
from __future__ import annotations

import json
import types
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.conftest import REFERENCE, reference_cases

CASES = reference_cases("stylegan")
NO_CASES = pytest.mark.skip(reason=f"no stylegan reference cases in {REFERENCE}")


def _params() -> list:
    params = []
    for case in CASES:
        manifest = json.loads((case / "manifest.json").read_text())
        for check in manifest["checks"]:
            params.append(pytest.param(case.name, check["name"], id=f"{case.name}-{check['name']}"))
    return params or [pytest.param(None, None, marks=NO_CASES)]


@lru_cache(maxsize=None)
def _load(case_name: str):
    from safetensors.torch import load_file

    from hubmodels.stylegan import parity_v1

    case_dir = REFERENCE / case_name
    manifest = json.loads((case_dir / "manifest.json").read_text())
    tensors = load_file(str(case_dir / manifest.get("tensors", "tensors.safetensors")))
    return parity_v1.load_case(case_dir, manifest), manifest, tensors


@pytest.mark.parametrize("case_name,check_name", _params())
def test_check_matches_official(case_name: str, check_name: str) -> None:
    from hubmodels.stylegan import parity_v1

    state, manifest, tensors = _load(case_name)
    check = next(c for c in manifest["checks"] if c["name"] == check_name)
    inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
    outputs = parity_v1.run_check(state, check, inputs)
    assert set(outputs) == set(check["outputs"])
    for name, key in check["outputs"].items():
        ours, official = outputs[name], tensors[key]
        assert ours.shape == official.shape and ours.dtype == torch.float32
        err = (ours - official).abs().max().item()
        assert torch.allclose(ours, official, atol=check["atol"], rtol=check["rtol"]), (
            f"{check_name}.{name}: max abs err {err:.3g} (atol {check['atol']}, rtol {check['rtol']})")
        print(f"{case_name} {check_name}.{name}: max abs err {err:.3g}")


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=NO_CASES)], ids=lambda p: getattr(p, "name", p))
def test_framework_runs_every_case(case: Path, monkeypatch) -> None:
    """The generic runner passes every check; until the family is registered, its spec lookup is stubbed."""
    from hubmodels import parity, registry
    from hubmodels.stylegan import parity_v1

    try:
        registry.family_spec("stylegan")
    except registry.UnknownFamilyError:
        real = registry.family_spec
        monkeypatch.setattr(registry, "family_spec", lambda name: types.SimpleNamespace(parity=parity_v1)
                            if name == "stylegan" else real(name))
    report = parity.run_case(case)
    lines = "\n".join(parity.format_result(r) for r in report.results)
    assert report.ok, report.summary() + "\n" + lines
    assert report.total == len(json.loads((case / "manifest.json").read_text())["checks"])


def test_case_without_official_config_infers_the_same_model() -> None:
    """No configuration at all: the shapes give the same weights. fused_scale is invisible in the shapes (the
    fused up-sampling conv applies the flipped kernel, a different function), so the outputs match once it
    alone is given."""
    from hubmodels.stylegan import parity_v1
    from hubmodels.stylegan.model_v1 import StyleGAN

    if not CASES:
        pytest.skip("no stylegan reference cases")
    given, manifest, tensors = _load(CASES[0].name)
    bare = {k: v for k, v in manifest.items() if k != "official_config"}
    inferred = parity_v1.load_case(CASES[0], bare)
    ours = inferred.model.state_dict()
    assert ours.keys() == given.model.state_dict().keys()
    assert all(torch.equal(v, ours[k]) for k, v in given.model.state_dict().items())
    fused = manifest["official_config"]["StyleGANGenerator"]["fused_scale"]
    model = StyleGAN.from_official(CASES[0] / manifest["official_checkpoint"]["file"],
                                   config={"fused_scale": fused})
    state = parity_v1.CaseState(model=model, case="inferred")
    for check in manifest["checks"]:
        inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
        outputs = parity_v1.run_check(state, check, inputs)
        for name, key in check["outputs"].items():
            assert torch.allclose(outputs[name], tensors[key], atol=check["atol"], rtol=check["rtol"]), check["name"]


# ---- full-size shapes ----------------------------------------------------------------------------

SHAPE_CONFIGS = {"ffhq1024": ["stylegan_ffhq_1024", "stylegan_celebahq_1024"],
                 "bedrooms256": ["stylegan_bedrooms_256", "stylegan_cats_256"]}


def _shape_files() -> list:
    out = []
    for case in CASES:
        path = case / "full_config_shapes.json"
        if path.is_file():
            for key, names in SHAPE_CONFIGS.items():
                for name in names:
                    out.append(pytest.param(path, key, name, id=f"{case.name}-{name}"))
    return out or [pytest.param(None, None, None, marks=NO_CASES)]


def _fake_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    from hubmodels.stylegan.networks_v1 import blur_kernel

    out = {}
    for key, shape in shapes.items():
        if key.endswith("lod"):
            out[key] = torch.zeros(shape)
        elif key.endswith("blur.kernel"):
            out[key] = blur_kernel(shape[0])
        else:
            out[key] = torch.empty(shape, device="meta")
    return out


@pytest.mark.parametrize("path,key,name", _shape_files())
def test_released_configs_accept_full_size_files(path: Path, key: str, name: str) -> None:
    """Every tensor of the released files maps onto the named configuration at full size (no allocation:
    meta tensors), and the shapes alone infer the same configuration."""
    from hubmodels.stylegan.convert_v1 import genforce_to_ours, infer_config
    from hubmodels.stylegan.model_v1 import NAMED_CONFIGS_V1, StyleGAN

    shapes = json.loads(path.read_text())[key]
    files = {"generator_smooth": _fake_state(shapes["generator_smooth"]),
             "discriminator": _fake_state(shapes["discriminator"])}
    with torch.device("meta"):
        model = StyleGAN.from_named(name, with_discriminator=True)
    state = genforce_to_ours(files, model)  # raises naming every missing / unexpected / misshapen key
    assert set(state) == set(model.state_dict())
    inferred = infer_config(files["generator_smooth"], files["discriminator"])
    named = NAMED_CONFIGS_V1[name]
    for field, value in inferred.items():
        if field in named:
            assert named[field] == value, (field, named[field], value)
    assert model.num_ws == {1024: 18, 256: 14}[named["img_resolution"]]
