"""StarGAN against the official implementation: every check of every stargan reference case."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.conftest import REFERENCE, reference_cases

CASES = reference_cases("stargan")
NO_CASES = pytest.mark.skip(reason=f"no stargan reference cases in {REFERENCE}")


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

    from hubmodels.stargan import parity

    case_dir = REFERENCE / case_name
    manifest = json.loads((case_dir / "manifest.json").read_text())
    tensors = load_file(str(case_dir / manifest.get("tensors", "tensors.safetensors")))
    return parity.load_case(case_dir, manifest), manifest, tensors


def _run(state, check: dict, tensors: dict) -> dict[str, float]:
    from hubmodels.stargan import parity

    inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
    outputs = parity.run_check(state, check, inputs)
    assert set(outputs) == set(check["outputs"])
    errors = {}
    for name, key in check["outputs"].items():
        ours, official = outputs[name], tensors[key]
        assert ours.shape == official.shape, f"{check['name']}.{name}: {tuple(ours.shape)} vs {tuple(official.shape)}"
        assert ours.dtype == torch.float32
        errors[name] = (ours - official).abs().max().item()
        assert torch.allclose(ours, official, atol=check["atol"], rtol=check["rtol"]), (
            f"{check['name']}.{name}: max abs err {errors[name]:.3g} (atol {check['atol']}, rtol {check['rtol']})")
    return errors


@pytest.mark.parametrize("case_name,check_name", _params())
def test_check_matches_official(case_name: str, check_name: str) -> None:
    state, manifest, tensors = _load(case_name)
    check = next(c for c in manifest["checks"] if c["name"] == check_name)
    errors = _run(state, check, tensors)
    print(f"{case_name} {check_name}: " + ", ".join(f"{k} max abs err {v:.3g}" for k, v in errors.items()))


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=NO_CASES)], ids=lambda p: getattr(p, "name", p))
def test_framework_runs_every_case(case: Path) -> None:
    """The generic runner (python -m hubmodels parity) finds this plugin by family and passes every check."""
    from hubmodels.parity import format_result, run_case

    report = run_case(case)
    assert report.ok, report.summary() + "\n" + "\n".join(format_result(r) for r in report.results)
    assert report.total == len(json.loads((case / "manifest.json").read_text())["checks"])


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=NO_CASES)], ids=lambda p: getattr(p, "name", p))
def test_inference_leaves_the_running_statistics_alone(case: Path) -> None:
    """The official test mode (train mode) updates the running averages at every call; our inference gives its
    outputs without touching them, so G_eval_mode still holds after any number of translations."""
    state, manifest, tensors = _load(case.name)
    model = copy.deepcopy(state.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check = next(c for c in manifest["checks"] if c["name"].startswith("G_train"))
    for _ in range(3):
        _run(type(state)(model=model, case=state.case), check, tensors)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_case_without_official_config_infers_the_same_model() -> None:
    """A single-dataset case converts with no configuration at all (shapes only) to the same weights."""
    from hubmodels.stargan import parity

    case = REFERENCE / "stargan_small"
    if not case.is_dir():
        pytest.skip("stargan_small reference case missing")
    given, manifest, tensors = _load("stargan_small")
    bare = copy.deepcopy(manifest)
    bare.pop("official_config")
    inferred = parity.load_case(case, bare)
    cfg = inferred.model.config
    official = manifest["official_config"]
    assert (cfg["image_size"], cfg["c_dim"], cfg["c2_dim"], cfg["conv_dim"], cfg["repeat_num"], cfg["d_conv_dim"],
            cfg["d_repeat_num"]) == (official["image_size"], official["c_dim"], 0, official["g_conv_dim"],
                                     official["g_repeat_num"], official["d_conv_dim"], official["d_repeat_num"])
    assert cfg["attributes"] == official["selected_attrs"]  # the released configuration's names for c_dim 5
    ours = inferred.model.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in given.model.state_dict().items())
    for check in manifest["checks"]:
        _run(inferred, check, tensors)


def test_joint_case_needs_the_split_of_its_labels() -> None:
    """A joint file stores c_dim + c2_dim (+2 mask) but not how they split: the error says what to pass."""
    from hubmodels.stargan import StarGAN, load_official
    from hubmodels.stargan.convert import OfficialCheckpointError

    case = REFERENCE / "stargan_joint_small"
    if not case.is_dir():
        pytest.skip("stargan_joint_small reference case missing")
    g, d = load_official(case / "200000-G.ckpt"), load_official(case / "200000-D.ckpt")
    with pytest.raises(OfficialCheckpointError, match="c2_dim"):
        StarGAN.from_official(g, d)
    model = StarGAN.from_official(g, d, config={"c_dim": 3})  # c2_dim follows from the discriminator
    assert (model.c_dim, model.c2_dim, model.label_dim, model.joint) == (3, 4, 9, True)
    official = StarGAN.from_official(g, d, config={"dataset": "Both", "c_dim": 3, "c2_dim": 4, "image_size": 32,
                                                   "selected_attrs": ["Black_Hair", "Blond_Hair", "Brown_Hair"]})
    assert official.datasets == ["CelebA", "RaFD"] and official.label_types == ["multi", "single"]
    assert official.exclusive_groups == [["Black_Hair", "Blond_Hair", "Brown_Hair"]]
