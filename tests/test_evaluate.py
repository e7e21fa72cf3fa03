"""``python -m hubmodels.evaluate`` end to end, on a tiny model of every family that can be evaluated."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from hubmodels import registry
from hubmodels.evaluate import main
from hubmodels.hub import file_sha256, load, verify_folder
from hubmodels.metrics.evaluator import SynthFacesEvaluator

torch.set_num_threads(1)
SPECS = [s for s in registry.families() if s.evaluate is not None]


@pytest.fixture()
def hub(tmp_path, monkeypatch) -> Path:
    """A temporary local hub holding a tiny (untrained) SynthFaces evaluator."""
    root = tmp_path / "hub"
    monkeypatch.setenv("HUBMODELS_HUB", str(root))
    monkeypatch.delenv("HUBMODELS_INCEPTION_WEIGHTS", raising=False)
    torch.manual_seed(0)
    SynthFacesEvaluator(channels=[8, 8, 16, 16], img_size=32, decoder_dim=8).publish(
        "hubmodels/synthfaces-evaluator")
    return root


def _publish_tiny(spec, name: str, datasets=("synthfaces",)) -> Path:
    torch.manual_seed(0)
    model = spec.model_classes[0](**spec.test_config).eval()
    model.card.datasets = list(datasets)
    model.card.metrics = {"from_training": 1.5}  # what training wrote stays beside the evaluation's numbers
    return Path(model.publish(f"hubmodels/{name}"))


def test_the_landed_families_can_be_evaluated():
    # evaluate is optional in the contract; the families landed with the evaluation layer all give it
    landed = {"stargan_v2", "stargan", "bicyclegan", "stylegan", "semantic_stylegan"} & {
        s.name for s in registry.families()}
    assert landed <= {s.name for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_evaluate_writes_metrics_and_card_in_place(spec, hub, capsys):
    folder = _publish_tiny(spec, f"tiny-{spec.space}")
    weights = file_sha256(folder / "model.safetensors")
    assert main([f"hubmodels/tiny-{spec.space}", "--n", "4", "--write", "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "extractor=synthfaces" in out

    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["from_training"] == 1.5
    assert {"fd_synthfaces", "kid_synthfaces"} <= set(metrics)
    assert "fid" not in metrics and "kid" not in metrics  # never called FID without Inception features
    assert all(isinstance(v, float) for v in metrics.values())

    card = ModelCard.load(folder / "README.md")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert set(results) == set(metrics) - {"from_training"}
    assert results["fd_synthfaces"].metric_name == "Fréchet distance (SynthFaces evaluator features)"
    assert results["fd_synthfaces"].metric_args["n"] == 4
    assert results["fd_synthfaces"].dataset_type == "synthfaces"
    assert "## Evaluation" in card.text and "not FID" in card.text
    info = json.loads((folder / "card.json").read_text())
    assert info["evaluation"]["n"] == 4 and info["evaluation"]["extractor"] == "synthfaces"

    # the folder still verifies and loads, with its weights untouched
    assert file_sha256(folder / "model.safetensors") == weights
    verify_folder(folder)
    reloaded = load(f"hubmodels/tiny-{spec.space}")
    assert reloaded.card.metrics["fd_synthfaces"] == metrics["fd_synthfaces"]


def test_evaluate_without_write_leaves_the_model_alone(hub, tmp_path):
    spec = SPECS[0]
    folder = _publish_tiny(spec, "tiny-readonly")
    before = {p.name: file_sha256(p) for p in folder.iterdir()}
    out = tmp_path / "results"
    assert main(["hubmodels/tiny-readonly", "--n", "4", "--out", str(out), "--no-progress"]) == 0
    assert {p.name: file_sha256(p) for p in folder.iterdir()} == before
    assert "fd_synthfaces" in json.loads((out / "metrics.json").read_text())
    assert ModelCard.load(out / "README.md").data.eval_results


def test_evaluate_refuses_what_it_cannot_measure(hub, tmp_path, capsys):
    spec = SPECS[0]
    _publish_tiny(spec, "tiny-nodata", datasets=())
    assert main(["hubmodels/tiny-nodata", "--n", "4", "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "names no dataset" in capsys.readouterr().err
    _publish_tiny(spec, "tiny-celeb", datasets=("celeba",))
    assert main(["hubmodels/tiny-celeb", "--n", "4", "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "synthfaces only" in capsys.readouterr().err
    assert main(["hubmodels/tiny-celeb", "--n", "4", "--extractor", "inception", "--dataset", "synthfaces",
                 "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "Inception" in capsys.readouterr().err


def test_evaluator_loads_through_hubmodels_load_and_stays_out_of_the_registry(hub):
    evaluator = load("hubmodels/synthfaces-evaluator")
    assert isinstance(evaluator, SynthFacesEvaluator)
    with pytest.raises(registry.UnknownFamilyError):
        registry.family_spec(evaluator.family)


def test_dashboard_shows_each_models_metrics_json(hub):
    streamlit = pytest.importorskip("streamlit")  # noqa: F841
    from streamlit.testing.v1 import AppTest

    spec = next(s for s in SPECS if s.translate is not None)
    _publish_tiny(spec, "tiny-dash")
    assert main(["hubmodels/tiny-dash", "--n", "4", "--write", "--no-progress"]) == 0
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "demos" / "dashboard.py"), default_timeout=120)
    at.run()
    assert "hubmodels/synthfaces-evaluator" not in at.sidebar.multiselect(key="models-translate").options
    at.sidebar.multiselect(key="models-translate").set_value(["hubmodels/tiny-dash"])
    at.sidebar.number_input(key="count").set_value(1)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    table = at.main.dataframe[1].value  # under the outputs, after the time table
    rows = dict(zip(table["metric"], table["hubmodels/tiny-dash"]))
    written = json.loads((hub / "tiny-dash" / "metrics.json").read_text())
    assert rows == pytest.approx(written)
    assert any("hubmodels.evaluate" in c.value and "on 4 held-out" in c.value for c in at.caption)


def test_mask_generators_get_mask_agreement(hub):
    """A generator of SynthFaces classes is judged on how its own masks agree with the evaluator's reading of its
    images (mIoU), beside the ceiling of that judge on true masks."""
    spec = registry.family_spec("semantic_stylegan")
    torch.manual_seed(0)
    config = {**spec.test_config, "class_names": ["background", "head", "glasses"]}
    model = spec.model_classes[0](**config).eval()
    model.card.datasets = ["synthfaces"]
    model.publish("hubmodels/tiny-sem-synthfaces")
    assert main(["hubmodels/tiny-sem-synthfaces", "--n", "4", "--write", "--no-progress", "--threads", "1"]) == 0
    metrics = json.loads((hub / "tiny-sem-synthfaces" / "metrics.json").read_text())
    assert 0.0 <= metrics["mask_miou"] <= 1.0 and 0.0 <= metrics["mask_miou_real"] <= 1.0
