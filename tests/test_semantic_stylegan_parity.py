"""SemanticStyleGAN against the official implementation: every check of every semantic_stylegan reference case,
through our converter and model; the editing recipe of visualize/generate_video.py rebuilt with our API; and the
released configurations' full-size tensor shapes."""
from __future__ import annotations

import argparse
import json
import types
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from tests.conftest import REFERENCE, reference_cases

CASES = reference_cases("semantic_stylegan")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The networks of the reference case are tiny: one thread avoids oversubscription on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


NO_CASES = pytest.mark.skip(reason=f"no semantic_stylegan reference cases in {REFERENCE}")


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

    from hubmodels.semantic_stylegan import parity

    case_dir = REFERENCE / case_name
    manifest = json.loads((case_dir / "manifest.json").read_text())
    tensors = load_file(str(case_dir / manifest.get("tensors", "tensors.safetensors")))
    return parity.load_case(case_dir, manifest), manifest, tensors


@pytest.mark.parametrize("case_name,check_name", _params())
def test_check_matches_official(case_name: str, check_name: str) -> None:
    from hubmodels.semantic_stylegan import parity

    state, manifest, tensors = _load(case_name)
    check = next(c for c in manifest["checks"] if c["name"] == check_name)
    inputs = {arg: tensors[key] for arg, key in check["inputs"].items()}
    outputs = parity.run_check(state, check, inputs)
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
    from hubmodels.semantic_stylegan import parity as plugin

    real = registry.family_spec

    def spec(name: str):
        return types.SimpleNamespace(parity=plugin) if name == "semantic_stylegan" else real(name)

    monkeypatch.setattr(parity.registry, "family_spec", spec)
    report = parity.run_case(case)
    assert report.ok, report.summary() + "\n" + "\n".join(parity.format_result(r) for r in report.results)
    assert report.total == len(json.loads((case / "manifest.json").read_text())["checks"])


@pytest.mark.parametrize("case", CASES or [pytest.param(None, marks=NO_CASES)], ids=lambda p: getattr(p, "name", p))
def test_edit_api_rebuilds_generate_video_styles(case: Path) -> None:
    """visualize/generate_video.py's edited codes (shape, texture, coarse of one class) through edit_latent."""
    state, manifest, tensors = _load(case.name)
    check = next((c for c in manifest["checks"] if c["name"] == "local_edit_generate_video"), None)
    if check is None:
        pytest.skip("case has no local-edit check")
    model = state.model
    with torch.no_grad():
        mean = tensors[check["inputs"]["mean_latent"]]
        s = 0.7 * model.mapping(tensors[check["inputs"]["z_edit"]]) + 0.3 * mean
        m = 0.7 * model.mapping(tensors[check["inputs"]["z_edit_mix"]]) + 0.3 * mean
        region = model.class_names[2]
        rows = [model.latents([s[0]], truncation_psi=1.0)[0],
                model.edit_latent(s[0], [region], m[0], part="shape", truncation_psi=1.0),
                model.edit_latent(s[0], [region], m[0], part="texture", truncation_psi=1.0),
                model.edit_latent(s[0], ["coarse"], m[0], truncation_psi=1.0)[:, :]]
    expected = tensors[check["inputs"]["edit_styles"]]
    # the script replaces only row 0 of the coarse codes: compare the rows it touches
    assert torch.allclose(torch.stack(rows[:3]), expected[:3], atol=1e-5, rtol=1e-5)
    assert torch.allclose(rows[3][0], expected[3][0], atol=1e-5) and torch.allclose(rows[3][2:], expected[3][2:],
                                                                                    atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# full-size shapes of the released networks

FULL_ENTRIES = {"CelebAMask-HQ-512x512": ("semantic_stylegan_celebamaskhq_512", 512),
                "celebamaskhq_256_unreleased": (None, 256)}


def _full() -> dict:
    for case in CASES:
        path = case / "full_config_shapes.json"
        if path.is_file():
            return json.loads(path.read_text())
    pytest.skip("no full_config_shapes.json among the semantic_stylegan cases")


@pytest.mark.parametrize("entry", list(FULL_ENTRIES))
def test_full_size_shapes_convert(entry: str) -> None:
    """The released (and the 256 px) state dicts, as meta tensors, convert into our classes with every key and
    shape matching; the released file's args are train.py's defaults plus the README's options."""
    from hubmodels.semantic_stylegan import NAMED_CONFIGS
    from hubmodels.semantic_stylegan.convert import from_official

    full = _full()
    if entry not in full:
        pytest.skip(f"{entry} not in full_config_shapes.json")
    config, size = FULL_ENTRIES[entry]
    shapes = full[entry]
    ckpt = {"g_ema": {k: torch.empty(v, device="meta") for k, v in shapes["g_ema"].items()},
            "d": {k: torch.empty(v, device="meta") for k, v in shapes["d"].items()},
            "args": argparse.Namespace(size=size, seg_dim=13, transparent_dims=[10, 12], residual_refine=True,
                                       latent=512, n_mlp=8, channel_multiplier=2, local_layers=10, base_layers=2,
                                       depth_layers=6, local_channel=64, coarse_channel=512, coarse_size=64,
                                       min_feat_size=16, detach_texture=False)}
    with torch.device("meta"):
        model = from_official(ckpt, config=config)
    assert model.has_discriminator
    assert "channels" not in model.config or model.config["channels"] is None  # StyleGAN2's default widths
    ours = model.state_dict()
    official = {f"generator.{k}": v for k, v in shapes["g_ema"].items() if not k.endswith(".kernel")}
    official.update({f"discriminator.{k}": v for k, v in shapes["d"].items() if not k.endswith(".kernel")})
    assert set(ours) == set(official)
    assert all(list(ours[k].shape) == official[k] for k in official)
    if config is not None:
        named = NAMED_CONFIGS[config]["config"]
        assert {k: model.config[k] for k in named} == named
