"""spaces/common.warm_up: a Space answers its typical request in the background while its server starts, so the
first user finds the default model loaded and its inference path chosen; a failed warm-up never stops a Space."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

gr = pytest.importorskip("gradio")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "spaces"))
import common  # noqa: E402


def _demo(fn, api_name: str = "work") -> gr.Blocks:
    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button().click(fn, [box], [box], api_name=api_name)
    return demo


def test_the_typical_request_is_answered_in_the_background_with_file_paths(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("HUBMODELS_WARMUP", raising=False)
    seen = []
    demo = _demo(lambda *args: seen.append(args) or "done")
    image = tmp_path / "x.png"
    thread = common.warm_up(demo, lambda: {"api_name": "/work", "args": [{"file": str(image)}, 3, "auto"]})
    assert thread is not None and thread.daemon
    thread.join(30)
    assert seen == [(str(image), 3, "auto")]
    assert "warm-up: /work answered" in capsys.readouterr().out


def test_a_streaming_endpoint_runs_to_its_end(monkeypatch):
    monkeypatch.delenv("HUBMODELS_WARMUP", raising=False)
    steps = []

    def stream(*args):
        for k in range(3):
            steps.append(k)
            yield str(k)

    common.warm_up(_demo(stream), lambda: {"api_name": "/work", "args": []}).join(30)
    assert steps == [0, 1, 2]


def test_a_failed_warm_up_is_reported_and_leaves_the_space_alone(monkeypatch, capsys):
    monkeypatch.delenv("HUBMODELS_WARMUP", raising=False)

    def broken(*args):
        raise RuntimeError("out of paint")

    common.warm_up(_demo(broken), lambda: {"api_name": "/work", "args": []}).join(30)
    common.warm_up(_demo(broken), lambda: {"api_name": "/nowhere", "args": []}).join(30)
    out = capsys.readouterr().out
    assert "warm-up request failed (RuntimeError: out of paint)" in out
    assert "no endpoint '/nowhere'" in out and out.count("serves without it") == 2


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("HUBMODELS_WARMUP", "0")
    called = []
    assert common.warm_up(_demo(lambda *a: called.append(a)), lambda: {"api_name": "/work", "args": []}) is None
    assert called == []


@pytest.mark.slow
def test_a_real_space_has_its_default_model_loaded_after_the_warm_up(monkeypatch, tmp_path):
    """The SemanticStyleGAN Space's warm-up (the slowest first request) loads the default model into the Space's
    cache and leaves the choice of its inference path made: the first user's request repeats neither."""
    from hubmodels.semantic_stylegan.model import SemanticStyleGAN
    from hubmodels.inference_paths import state_of

    torch.manual_seed(0)
    hub = tmp_path / "hub"
    SemanticStyleGAN(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2,
                     local_channel=8, coarse_channel=8, coarse_size=8, min_feat_size=4,
                     channels={"4": 8, "8": 8, "16": 4}, class_names=["background", "head", "eyes"],
                     ).publish("hubmodels/semantic-stylegan-warm", hub_dir=hub)
    monkeypatch.setenv("HUBMODELS_HUB", str(hub))
    monkeypatch.setenv("HUBMODELS_CACHE", str(tmp_path / "cache"))  # nothing chosen on this machine yet
    monkeypatch.delenv("HUBMODELS_WARMUP", raising=False)
    monkeypatch.delenv("HUBMODELS_DTYPE", raising=False)
    common.clear_model_cache()
    spec = importlib.util.spec_from_file_location("space_for_warm_up", ROOT / "spaces" / "semantic-stylegan" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert app.DEFAULT_MODEL == "hubmodels/semantic-stylegan-warm"
    try:
        common.warm_up(app.demo, app.example_request).join(300)
        model = common.load_model(app.DEFAULT_MODEL)  # from the cache, the warm-up's instance
        state = state_of(model)
        assert state is not None and state.choices, "the warm-up did not choose an inference path"
        assert (tmp_path / "cache").exists()
    finally:
        common.clear_model_cache()
