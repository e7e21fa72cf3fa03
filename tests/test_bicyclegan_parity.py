"""BicycleGAN against the official implementation: every check of every bicyclegan reference case."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.conftest import REFERENCE, reference_cases

CASES = reference_cases("bicyclegan")


def _params() -> list:
    params = []
    for case in CASES:
        manifest = json.loads((case / "manifest.json").read_text())
        for check in manifest["checks"]:
            params.append(pytest.param(case.name, check["name"], id=f"{case.name}-{check['name']}"))
    return params or [pytest.param(None, None, marks=pytest.mark.skip(
        reason=f"no bicyclegan reference cases in {REFERENCE}"))]


@lru_cache(maxsize=None)
def _load(case_name: str, infer: bool = False):
    from safetensors.torch import load_file

    from hubmodels.bicyclegan import parity

    case_dir = REFERENCE / case_name
    manifest = json.loads((case_dir / "manifest.json").read_text())
    if infer:  # the converter alone must find the architecture (norm / nl / direction stay as the manifest says)
        manifest = copy.deepcopy(manifest)
        official = manifest["official_config"]
        manifest["official_config"] = {k: official[k] for k in ("norm", "nl", "image_size", "direction",
                                                                 "n_samples", "no_encode", "preprocess_check")
                                       if k in official}
    tensors = load_file(str(case_dir / manifest.get("tensors", "tensors.safetensors")))
    return parity.load_case(case_dir, manifest), manifest, tensors


def _run(state, check: dict, tensors: dict) -> dict[str, float]:
    from hubmodels.bicyclegan import parity

    inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
    outputs = parity.run_check(state, check, inputs)
    assert set(outputs) == set(check["outputs"])
    errors = {}
    for name, key in check["outputs"].items():
        ours, official = outputs[name], tensors[key]
        assert ours.shape == official.shape, f"{check['name']}.{name}: {tuple(ours.shape)} vs {tuple(official.shape)}"
        errors[name] = (ours.double() - official.double()).abs().max().item()
        assert torch.allclose(ours.double(), official.double(), atol=check["atol"], rtol=check["rtol"]), (
            f"{check['name']}.{name}: max abs err {errors[name]:.3g} (atol {check['atol']}, rtol {check['rtol']})")
    return errors


@pytest.mark.parametrize("case_name,check_name", _params())
def test_check_matches_official(case_name: str, check_name: str) -> None:
    state, manifest, tensors = _load(case_name)
    check = next(c for c in manifest["checks"] if c["name"] == check_name)
    _run(state, check, tensors)


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=pytest.mark.skip(reason="no cases"))],
                         ids=[c.name for c in CASES] or None)
def test_architecture_read_from_the_files(case: Path) -> None:
    """Without the manifest's architecture fields the converter reads the same model from the tensor shapes."""
    inferred, manifest, tensors = _load(case.name, infer=True)
    given, _, _ = _load(case.name)
    ours, official = dict(inferred.model.config), dict(given.model.config)
    if official["encoder"] is None:  # no encoder: its width means nothing
        ours.pop("nef"), official.pop("nef")
    assert ours == official
    for check in manifest["checks"]:
        if check["name"].startswith(("G_", "E_", "test_py")):
            _run(inferred, check, tensors)


def test_framework_runs_every_case_end_to_end(capsys) -> None:
    """`python -m hubmodels parity <case>` finds this plugin by the manifest's family and passes every check."""
    if not CASES:
        pytest.skip(f"no bicyclegan reference cases in {REFERENCE}")
    from hubmodels.__main__ import main

    assert main(["parity", *map(str, CASES)]) == 0
    out = capsys.readouterr().out
    for case in CASES:
        total = len(json.loads((case / "manifest.json").read_text())["checks"])
        assert f"parity {case.name}: {total}/{total} checks passed" in out


def test_dispatch_by_name_and_by_call() -> None:
    from hubmodels.bicyclegan import parity

    with pytest.raises(NotImplementedError, match="frobnicate"):
        parity.run_check(None, {"name": "frobnicate", "call": "net.frobnicate(x)", "outputs": {}}, {})
    assert parity._dispatch({"name": "D2_forward", "call": ""}) is not parity._dispatch({"name": "D_forward"})
    assert parity._dispatch({"name": "x", "call": "mu, logvar = netE(real_B)"}) is parity._run_encoder
    assert parity._dispatch({"name": "y", "call": "item = AlignedDataset(opt)[0]"}) is parity._run_preprocess
    assert parity.model_config({"nl": "lrelu (G up-path only)", "where_add": "input (forced by nz=0)", "nz": 0,
                                "image_size": [64, 64], "norm": "weird"}) == \
        {"nl": "lrelu", "where_add": "input", "nz": 0, "img_size": 64}


def test_test_loop_without_encoding_uses_the_first_code() -> None:
    if not CASES:
        pytest.skip("no cases")
    from hubmodels.bicyclegan.parity import test_loop

    state, _, tensors = _load(CASES[0].name)
    model = state.model
    x = torch.zeros(1, model.input_nc, model.img_size, model.img_size)
    z = torch.randn(3, model.nz, generator=torch.Generator().manual_seed(0))
    fakes, encoded = test_loop(model, x, None, z, encode=False)
    assert encoded is None and torch.allclose(fakes, model.generate(x.expand(3, -1, -1, -1), z))
