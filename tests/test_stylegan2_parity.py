"""StyleGAN2 against the official implementations: every check of every stylegan2 reference case, through
our converter and model; and the released configurations' full-size tensor shapes."""
from __future__ import annotations

import json
import types
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.conftest import REFERENCE, reference_cases

CASES = reference_cases("stylegan2")
NO_CASES = pytest.mark.skip(reason=f"no stylegan2 reference cases in {REFERENCE}")


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

    from hubmodels.stylegan import parity_v2

    case_dir = REFERENCE / case_name
    manifest = json.loads((case_dir / "manifest.json").read_text())
    tensors = load_file(str(case_dir / manifest.get("tensors", "tensors.safetensors")))
    return parity_v2.load_case(case_dir, manifest), manifest, tensors


@pytest.mark.parametrize("case_name,check_name", _params())
def test_check_matches_official(case_name: str, check_name: str) -> None:
    from hubmodels.stylegan import parity_v2

    state, manifest, tensors = _load(case_name)
    check = next(c for c in manifest["checks"] if c["name"] == check_name)
    inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
    outputs = parity_v2.run_check(state, check, inputs)
    assert set(outputs) == set(check["outputs"])
    for name, key in check["outputs"].items():
        ours, official = outputs[name], tensors[key]
        assert ours.shape == official.shape, f"{check['name']}.{name}: {tuple(ours.shape)} vs {tuple(official.shape)}"
        assert ours.dtype == torch.float32
        err = (ours - official).abs().max().item()
        assert torch.allclose(ours, official, atol=check["atol"], rtol=check["rtol"]), (
            f"{check['name']}.{name}: max abs err {err:.3g} (atol {check['atol']}, rtol {check['rtol']})")


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=NO_CASES)], ids=lambda p: getattr(p, "name", p))
def test_generic_runner_passes_every_check(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hubmodels.parity.run_case (what `python -m hubmodels parity` runs) with this plugin as the family's."""
    from hubmodels import parity, registry
    from hubmodels.stylegan import parity_v2

    real = registry.family_spec

    def spec(name: str):
        return types.SimpleNamespace(parity=parity_v2) if name == "stylegan2" else real(name)

    monkeypatch.setattr(parity.registry, "family_spec", spec)
    report = parity.run_case(case)
    assert report.ok, report.summary() + "\n" + "\n".join(parity.format_result(r) for r in report.results)
    assert report.total == len(json.loads((case / "manifest.json").read_text())["checks"])


# ---------------------------------------------------------------------------------------------------------
# full-size shapes of the released networks

NAMED_TO_FULL = {  # our named configuration -> (case whose full_config_shapes.json holds it, entry)
    "stylegan2_ffhq_1024": ("stylegan2_ada_small", "ffhq1024_stylegan2_config-f"),
    "stylegan2_metfaces_1024": ("stylegan2_ada_small", "ffhq1024_stylegan2_config-f"),
    "stylegan2_ffhq_512": ("stylegan2_ada_small", "res512_stylegan2"),
    "stylegan2_afhqcat_512": ("stylegan2_ada_small", "res512_stylegan2"),
    "stylegan2_afhqdog_512": ("stylegan2_ada_small", "res512_stylegan2"),
    "stylegan2_afhqwild_512": ("stylegan2_ada_small", "res512_stylegan2"),
    "stylegan2_brecahad_512": ("stylegan2_ada_small", "res512_stylegan2"),
    "stylegan2_ffhq_256": ("stylegan2_ada_small", "res256_paper256"),
    "stylegan2_cifar10_32": ("stylegan2_ada_small", "cifar10_cond32"),
    "stylegan2_ffhq_256_rosinality": ("stylegan2_rosinality_small", "size256_cm2"),
}


def _full(case: str) -> dict:
    path = REFERENCE / case / "full_config_shapes.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())


def _meta(shapes: dict) -> dict[str, torch.Tensor]:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


def _converted(case: str, entry: str) -> tuple[dict, dict, dict]:
    """(our config derived from the official config/shapes, converted meta state, names) of a full entry."""
    from hubmodels.stylegan import convert_v2

    full = _full(case)[entry]
    if "G_ema" in full:  # ada: the config from the official init_kwargs of the manifest
        manifest = json.loads((REFERENCE / case / "manifest.json").read_text())
        released = manifest["official_config"]["released_configs"][entry]
        config = convert_v2.config_from_ada(released["G_init_kwargs"], released["D_init_kwargs"])
        state, names = convert_v2.ada_to_ours(_meta(full["G_ema"]), _meta(full["D"]), config["resample_filter"])
    else:  # rosinality stores no config: it comes from the shapes, as for a real file
        g, d = _meta(full["g_ema"]), _meta(full["d"])
        config = convert_v2.config_from_rosinality(g, d)
        state, names, left = convert_v2.rosinality_to_ours(g, d, config)
        assert not left, left
    return config, state, names


@pytest.mark.parametrize("case,entry", [
    ("stylegan2_ada_small", e) for e in ("ffhq1024_stylegan2_config-f", "res512_stylegan2", "res256_paper256",
                                         "tf_stylegan2_config-f_256", "cifar10_cond32")
] + [("stylegan2_rosinality_small", e) for e in ("ffhq1024_cm2", "size256_cm2", "size256_cm1")])
def test_full_size_official_shapes_load(case: str, entry: str) -> None:
    from hubmodels.stylegan.convert_v2 import check_shapes
    from hubmodels.stylegan.model_v2 import StyleGAN2

    config, state, names = _converted(case, entry)
    with torch.device("meta"):
        model = StyleGAN2(**config)
    check_shapes(model, state, names, entry, allow_missing=() if "G_ema" in _full(case)[entry] else
                 (r"mapping_network\.w_avg",))


@pytest.mark.parametrize("name", sorted(NAMED_TO_FULL))
def test_named_configs_match_released_shapes(name: str) -> None:
    from hubmodels.stylegan.convert_v2 import check_shapes
    from hubmodels.stylegan.model_v2 import NAMED_CONFIGS_V2, StyleGAN2

    case, entry = NAMED_TO_FULL[name]
    _, state, names = _converted(case, entry)
    with torch.device("meta"):
        model = StyleGAN2(**NAMED_CONFIGS_V2[name]["config"], with_discriminator=True)
    check_shapes(model, state, names, f"{name} vs {entry}",
                 allow_missing=(r"mapping_network\.w_avg",) if "rosinality" in case else ())


def test_every_named_config_has_an_official_source() -> None:
    from hubmodels.stylegan.model_v2 import NAMED_CONFIGS_V2, OFFICIAL_WEIGHTS_V2

    assert set(NAMED_CONFIGS_V2) == set(OFFICIAL_WEIGHTS_V2) == set(NAMED_TO_FULL)
    assert all(v["description"] for v in NAMED_CONFIGS_V2.values())
