"""demos.coldstart: from_pretrained timed in a fresh process, and a Space's first answer after its start; and
loading a model imports neither torchvision, torch._dynamo nor sympy (seconds on a 2-vCPU machine)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HUB = ROOT / "hub"
MODELS = sorted(p for p in HUB.iterdir() if (p / "model.safetensors").is_file()) if HUB.is_dir() else []
needs_model = pytest.mark.skipif(not MODELS, reason="no published model in hub/")


def _family_models() -> list:
    """The family models (not the evaluator, a timm backbone: timm imports torchvision itself)."""
    from hubmodels.registry import families

    names = {fam for spec in families() for fam in spec.converter_families}
    return [p for p in MODELS if json.loads((p / "config.json").read_text()).get("family") in names]


GENERATORS = _family_models()


@pytest.mark.skipif(not GENERATORS, reason="no published family model in hub/")
def test_loading_a_model_imports_no_torchvision_dynamo_or_sympy():
    """Seconds of a cold load on a 2-vCPU machine that no model needs (hubmodels.hub.ShapeOnly, images.LazyModule)."""
    code = ("import sys, hubmodels\n"
            f"for path in {[str(p) for p in GENERATORS]!r}:\n"
            "    hubmodels.load(path)\n"
            "print(sorted(m for m in ('torchvision', 'torch._dynamo', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={"PATH": "", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


@needs_model
def test_time_load_reports_a_fresh_process_load():
    from demos.coldstart import time_load

    row = time_load(MODELS[0], env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert "error" not in row, row
    assert row["model"] == MODELS[0].name and row["parameters"] > 0
    assert row["from_pretrained_s"] > 0 and row["import_s"] > 0


def test_time_load_reports_a_broken_folder(tmp_path):
    from demos.coldstart import time_load

    (tmp_path / "config.json").write_text(json.dumps({"architecture": "nothing-like-it"}))
    row = time_load(tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert row["model"] == tmp_path.name and "error" in row and row["error"]


def test_unknown_names_are_refused_with_the_known_ones(capsys):
    from demos.coldstart import main

    with pytest.raises(SystemExit):
        main(["--spaces", "no-such-space", "--models"])
    err = capsys.readouterr().err
    assert "no Space no-such-space" in err and "known:" in err


@needs_model
def test_a_space_answers_its_first_request():
    pytest.importorskip("gradio")
    from demos.coldstart import main
    from demos.launch import discover_spaces

    name = discover_spaces()[0][1].parent.name
    out = ROOT / "outputs" / "test-coldstart.json"
    out.parent.mkdir(exist_ok=True)
    code = main(["--spaces", name, "--models", MODELS[0].name, "--port", "7985", "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0, result
    (space,) = result["spaces"]
    assert space["space"] == name and space["endpoint"].startswith("/")
    assert 0 < space["page_ready_s"] < space["first_answer_after_start_s"]
    assert space["first_request_s"] > 0 and space["second_request_s"] > 0
