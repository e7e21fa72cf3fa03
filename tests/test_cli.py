"""The command line and the family-agnostic parity framework (DESIGN.md contracts 4 and 5)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hubmodels import registry
from hubmodels.__main__ import main

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import torch
def load_case(case_dir, manifest):
    return {"scale": float(manifest["official_config"]["scale"])}
def run_check(state, check, inputs):
    if check["name"].startswith("double"):
        return {"y": inputs["x"] * state["scale"]}
    raise NotImplementedError(check["name"])
'''

# A family whose spec offers nothing but a parity plugin: enough for the parity harness, which reads
# nothing else of a spec.
SPEC = '''
from hubmodels.family import FamilySpec
from hubmodels.images import Preprocess
from . import parity
SPEC = FamilySpec(name="fakefam", title="Fake", converter_families=("fakefam",), model_classes=(),
                  space="fakefam", preprocessing=Preprocess(size=8, resize="resize"), configs=(), convert=None, parity=parity,
                  bench_cases=None, sample=None, test_config={}, training="fakefam.train")
'''


@pytest.fixture
def fake_family(tmp_path, monkeypatch):
    pkg = tmp_path / "fakefam"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "parity.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "spec.py").write_text(textwrap.dedent(SPEC))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILY_SPECS", (*registry.FAMILY_SPECS, "fakefam.spec"))
    registry._reset_for_tests()
    yield "fakefam"
    registry._reset_for_tests()


def make_case(root: Path, name: str, *, wrong: bool = False) -> Path:
    case = root / name
    case.mkdir()
    x = torch.randn(4, 3)
    y = x * 2 + (1e-3 if wrong else 1e-7)
    save_file({"in.x": x, "out.y": y}, str(case / "tensors.safetensors"))
    manifest = {
        "case": name, "family": "fakefam", "official_config": {"scale": 2},
        "checks": [
            {"name": "double", "inputs": {"x": "in.x"}, "outputs": {"y": "out.y"}, "atol": 1e-5, "rtol": 1e-5},
            {"name": "unsupported_thing", "inputs": {}, "outputs": {"z": "out.y"}, "atol": 1e-5, "rtol": 1e-5},
        ],
    }
    (case / "manifest.json").write_text(json.dumps(manifest))
    return case


def test_parity_reports_each_check_and_summary(tmp_path, fake_family, capsys):
    case = make_case(tmp_path, "fake_ok")
    assert main(["parity", str(case), "--check", "double"]) == 0
    out = capsys.readouterr().out
    assert "ok   double" in out
    assert "parity fake_ok: 1/1 checks passed, max abs err" in out


def test_parity_fails_on_mismatch_and_unknown_check(tmp_path, fake_family, capsys):
    case = make_case(tmp_path, "fake_bad", wrong=True)
    assert main(["parity", str(case)]) == 1
    out = capsys.readouterr().out
    assert "FAIL double" in out and "max abs err 0.001" in out
    assert "FAIL unsupported_thing" in out and "NotImplementedError" in out
    assert "parity fake_bad: 0/2 checks passed" in out


def test_parity_on_non_case_folder(tmp_path, capsys):
    assert main(["parity", str(tmp_path)]) == 1
    assert "manifest.json is missing" in capsys.readouterr().err


def test_parity_unknown_family(tmp_path, capsys):
    case = make_case(tmp_path, "c")
    manifest = json.loads((case / "manifest.json").read_text())
    manifest["family"] = "nope"
    (case / "manifest.json").write_text(json.dumps(manifest))
    assert main(["parity", str(case)]) == 1
    assert "unknown family 'nope'" in capsys.readouterr().err


def test_list_shows_local_hub(local_hub, capsys):
    from tests.test_hub import make_model

    make_model().publish("hubmodels/tiny-listed")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "hubmodels/tiny-listed" in out and "tinyfam" in out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["id"] == "hubmodels/tiny-listed" and rows[0]["architecture"] == "TinyNet"


def test_convert_missing_file(tmp_path, capsys):
    assert main(["convert", "stargan_v2", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_convert_writes_a_complete_folder(tmp_path, capsys):
    """convert: config, weights, a card whose YAML names no training losses, and sample.png drawn by the
    family's sample; the folder loads back to the converter's model."""
    from PIL import Image

    import hubmodels
    from tests.conftest import REFERENCE

    ckpt = REFERENCE / "stargan_v2_small" / "100000_nets_ema.ckpt"
    if not ckpt.is_file():
        pytest.skip("reference case not available")
    out = tmp_path / "converted"
    assert main(["convert", "stargan_v2", str(ckpt), "--out", str(out)]) == 0
    for name in ("config.json", "model.safetensors", "README.md", "sample.png", "metrics.json"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert "![" in card and "sample.png" in card and "python -m hubmodels convert stargan_v2" in card
    with Image.open(out / "sample.png") as img:
        assert img.size[0] > img.size[1] > 0  # the source, then one output per domain
    loaded = hubmodels.load(str(out))
    reference = registry.family_spec("stargan_v2").convert("stargan_v2", [ckpt], None)
    for (k, a), b in zip(loaded.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), k


def test_cli_runs_as_module(local_hub):
    proc = subprocess.run([sys.executable, "-m", "hubmodels", "list"], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "HUBMODELS_HUB": str(local_hub)})
    assert proc.returncode == 0 and "no models in the local hub" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "hubmodels", "parity"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "usage" in proc.stderr
