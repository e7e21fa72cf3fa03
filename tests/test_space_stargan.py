"""The StarGAN Space, driven through gradio_client like a user's script, with good and bad input, and its bundle.

Small random StarGANs (one of SynthFaces attributes, one joint with SynthFaces domains, one without
discriminator) are published into a throwaway local hub; the app is imported from its path and served on a free
localhost port.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "spaces" / "stargan" / "app.py"
DEFAULT_ID = "hubmodels/stargan-synthfaces"
JOINT_ID = "hubmodels/stargan-aa-joint"  # sorts before the default: the default must still come first
BARE_ID = "hubmodels/stargan-bare"
ATTRS = ["black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth"]
TINY = dict(image_size=32, c_dim=5, conv_dim=8, repeat_num=1, d_conv_dim=8, d_repeat_num=3, attributes=ATTRS,
            exclusive_groups=[ATTRS[:3]], datasets=["synthfaces"], crop_size=None)

pytestmark = pytest.mark.slow


def _publish(repo_id: str, hub: Path, seed: int, **overrides) -> str:
    from hubmodels.stargan import StarGAN

    torch.manual_seed(seed)
    model = StarGAN(**{**TINY, **overrides})
    with torch.no_grad():
        for m in model.generator.norms():
            m.weight.add_(0.3 * torch.randn_like(m.weight))
    return model.publish(repo_id, hub_dir=hub)


def _import_app(name: str):
    spec = importlib.util.spec_from_file_location(name, APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    hub = tmp_path_factory.mktemp("space_hub") / "hub"
    _publish(DEFAULT_ID, hub, 0)
    _publish(JOINT_ID, hub, 1, c2_dim=3, attributes2=["cat", "dog", "fox"],
             datasets=["synthfaces", "synthfaces-domains"])
    _publish(BARE_ID, hub, 2, with_discriminator=False)
    return hub


@pytest.fixture(scope="module")
def served(hub):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBMODELS_HUB", str(hub))
        mp.delenv("HUBMODELS_DEVICE", raising=False)
        mp.delenv("HUBMODELS_STARGAN_MODELS", raising=False)
        mp.setenv("HUBMODELS_DTYPE", "float32")  # exact: equality checks must not depend on the CPU's choice
        app = _import_app("space_stargan_app")
        port = _free_port()
        app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            yield app, Client(f"http://127.0.0.1:{port}/", verbose=False)
        finally:
            app.demo.close()


@pytest.fixture(scope="module")
def source(served) -> str:
    return served[0].EXAMPLES[0][0]  # a SynthFaces face rendered by the app at start-up


def test_models_discovered_default_first(served):
    app, _ = served
    assert app.MODEL_IDS == [DEFAULT_ID, JOINT_ID, BARE_ID] and app.DEFAULT_MODEL == DEFAULT_ID


def test_named_endpoints(served):
    _, client = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/translate", "/edit_grid", "/detect", "/labels"} <= set(endpoints)
    params = [p["parameter_name"] for p in endpoints["/translate"]["parameters"]]
    assert params == ["model_id", "image", "colour", "attributes", "label_class"]


def test_labels_and_controls_follow_the_model(served):
    app, client = served
    labels = client.predict(DEFAULT_ID, api_name="/labels")
    assert labels["colours"] == ATTRS[:3] and labels["toggles"] == ATTRS[3:] and labels["classes"] == []
    joint = client.predict(JOINT_ID, api_name="/labels")
    assert joint["classes"] == ["cat", "dog", "fox"] and joint["datasets"] == ["synthfaces", "synthfaces-domains"]
    assert client.predict("", api_name="/labels")["colours"] == ATTRS[:3]  # empty: the default model
    colour, toggles, classes, info = app._on_model_change(JOINT_ID)
    assert [v for _, v in colour.choices] == ["keep", *ATTRS[:3]]
    assert [v for _, v in toggles.choices] == ATTRS[3:] and classes.visible
    assert "32x32" in info and "cat, dog, fox" in info


def test_translate_matches_the_library(served, source):
    app, client = served
    model = app.common.load_model(DEFAULT_ID)
    out = _pixels(client.predict(DEFAULT_ID, handle_file(source), "golden_fur", ["glasses"], "none",
                                 api_name="/translate"))
    expected = model.translate(source, {"golden_fur": 1, "glasses": 1, "open_mouth": 0}, crop_size=None)
    np.testing.assert_array_equal(out, np.asarray(expected))
    # "keep": the source's colour, as the discriminator reads it
    kept = _pixels(client.predict(DEFAULT_ID, handle_file(source), "keep", [], "none", api_name="/translate"))
    np.testing.assert_array_equal(kept, np.asarray(model.translate(source, {"glasses": 0, "open_mouth": 0},
                                                                   crop_size=None)))
    assert np.abs(kept.astype(int) - out.astype(int)).max() > 0


def test_detect_reads_the_source(served, source):
    app, client = served
    found = client.predict(DEFAULT_ID, handle_file(source), api_name="/detect")
    probs = app.common.load_model(DEFAULT_ID).classify(source, crop_size=None)
    assert found["probabilities"] == pytest.approx(probs)
    assert found["attributes"] == [a for a in ATTRS[3:] if probs[a] > 0.5]
    assert found["colour"] in ["keep", *ATTRS[:3]]


def test_edit_grid_and_joint_classes(served, source):
    app, client = served
    grid = client.predict(DEFAULT_ID, handle_file(source), api_name="/edit_grid")
    captions = [item["caption"] for item in grid]
    assert captions[0] == "input" and captions[1:4] == ATTRS[:3] and len(captions) == 6
    assert {c.lstrip("+-") for c in captions[4:]} == set(ATTRS[3:])
    joint = client.predict(JOINT_ID, handle_file(source), api_name="/edit_grid")
    assert [item["caption"] for item in joint][-3:] == ["cat", "dog", "fox"]
    dog = _pixels(client.predict(JOINT_ID, handle_file(source), "keep", [], "dog", api_name="/translate"))
    np.testing.assert_array_equal(dog, np.asarray(app.common.load_model(JOINT_ID).translate(source, "dog",
                                                                                            crop_size=None)))


def test_model_without_discriminator(served, source):
    _, client = served
    with pytest.raises(AppError, match="has no discriminator"):
        client.predict(BARE_ID, handle_file(source), api_name="/detect")
    with pytest.raises(AppError, match="no discriminator"):  # "keep" needs the source's colour
        client.predict(BARE_ID, handle_file(source), "keep", [], "none", api_name="/translate")
    out = client.predict(BARE_ID, handle_file(source), "brown_fur", ["open_mouth"], "none", api_name="/translate")
    assert _pixels(out).shape == (32, 32, 3)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad_inputs")
    files = {"text": d / "notes.png", "truncated": d / "cut.png", "huge": d / "huge.png", "tiny": d / "tiny.png"}
    files["text"].write_text("this is not an image")
    Image.new("RGB", (64, 64), (200, 10, 10)).save(files["truncated"])
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:60])
    Image.new("RGB", (4100, 16)).save(files["huge"])
    Image.new("RGB", (4, 4)).save(files["tiny"])
    return {k: str(v) for k, v in files.items()}


def test_bad_inputs_give_messages_and_app_keeps_serving(served, source, bad_files):
    _, client = served
    src = handle_file(source)
    cases = [
        ((DEFAULT_ID, None, "keep", [], "none"), "Upload a source image"),
        ((DEFAULT_ID, handle_file(bad_files["text"]), "keep", [], "none"), "not a recognised image file; accepted"),
        ((DEFAULT_ID, handle_file(bad_files["truncated"]), "keep", [], "none"), "source image"),
        ((DEFAULT_ID, handle_file(bad_files["huge"]), "keep", [], "none"), "largest accepted size is 4096x4096"),
        ((DEFAULT_ID, handle_file(bad_files["tiny"]), "keep", [], "none"), "smallest accepted size is 8x8"),
        ((DEFAULT_ID, src, "purple_fur", [], "none"), "unknown colour 'purple_fur'"),
        ((DEFAULT_ID, src, "keep", ["wings"], "none"), "unknown attributes ['wings']"),
        ((DEFAULT_ID, src, "keep", ["golden_fur"], "none"), "unknown attributes ['golden_fur']"),
        ((DEFAULT_ID, src, "keep", [3], "none"), "must be a list of attribute names"),
        ((DEFAULT_ID, src, "keep", [], "dog"), "unknown class 'dog'"),
        ((JOINT_ID, src, "keep", [], "wolf"), "accepts: cat, dog, fox"),
        (("hubmodels/nope", src, "keep", [], "none"), "unknown model 'hubmodels/nope'; this Space serves"),
        (("/etc", src, "keep", [], "none"), "unknown model '/etc'"),
    ]
    for args, message in cases:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/translate")
    with pytest.raises(AppError, match=re.escape("Upload a source image")):
        client.predict(DEFAULT_ID, None, api_name="/edit_grid")
    with pytest.raises(AppError, match=re.escape("not a recognised image file")):
        client.predict(DEFAULT_ID, handle_file(bad_files["text"]), api_name="/detect")
    with pytest.raises(AppError, match=re.escape("unknown model 'x/y'")):
        client.predict("x/y", api_name="/labels")
    # still serving, and still right
    assert _pixels(client.predict(DEFAULT_ID, src, "black_fur", [], "none", api_name="/translate")).shape == (32, 32, 3)
    assert len(client.predict(DEFAULT_ID, src, api_name="/edit_grid")) == 6


def test_space_asks_for_auto_dtype(served, source, monkeypatch):
    app = served[0]
    monkeypatch.delenv("HUBMODELS_DTYPE")
    assert app.common.runtime_dtype() == "auto"
    model = app.common.load_model(DEFAULT_ID)
    model.translate(source, {"glasses": 1}, crop_size=None)
    assert model.inference_choices  # the first request measured the paths and kept one per input shape


def test_no_model_starts_and_explains(tmp_path, monkeypatch, served, source):
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "empty"))
    app = _import_app("space_stargan_app_empty")
    assert app.MODEL_IDS == [] and app.DEFAULT_MODEL is None
    texts = [getattr(block, "value", "") for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("No StarGAN model is available" in str(t) for t in texts)
    for call in (lambda: app.translate(None, source, "keep", [], "none"), lambda: app.edit_grid("", source),
                 lambda: app.labels("")):
        with pytest.raises(gr.Error, match="No StarGAN model is available.*HUBMODELS_STARGAN_MODELS"):
            call()


def test_bundle_runs_where_hugging_face_runs_it(tmp_path, hub):
    spec = importlib.util.spec_from_file_location("space_bundle_for_stargan", ROOT / "spaces" / "bundle.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    out = tmp_path / "space"
    bundle.bundle("stargan", out, hub=hub)
    for rel in ("app.py", "README.md", "requirements.txt", "common.py", "hubmodels/stargan/model.py",
                f"hub/{DEFAULT_ID.split('/')[1]}/model.safetensors"):
        assert (out / rel).is_file(), rel
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HUBMODELS_HUB", "HUBMODELS_STARGAN_MODELS")}
    env["HF_HUB_OFFLINE"] = "1"
    script = ("import json, app, hubmodels\n"
              "from PIL import Image\n"
              "out = app.translate('', app.EXAMPLES[1][0], 'golden_fur', ['glasses'], 'none')\n"
              "print(json.dumps({'lib': hubmodels.__file__, 'models': app.MODEL_IDS,"
              " 'size': list(Image.open(out).size)}))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=out, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["lib"]).resolve().is_relative_to(out.resolve())
    assert result["models"][0] == DEFAULT_ID and result["size"] == [32, 32]


def test_bombs_refused_and_every_colour_mode_accepted(served, tmp_path):
    from tests.image_inputs import write_bomb, write_odd_modes

    _, client = served
    with pytest.raises(AppError, match="decompression bomb"):
        client.predict(DEFAULT_ID, handle_file(write_bomb(tmp_path)), "black_fur", [], "none", api_name="/translate")
    for mode, path in write_odd_modes(tmp_path).items():
        out = client.predict(DEFAULT_ID, handle_file(path), "black_fur", [], "none", api_name="/translate")
        assert _pixels(out).shape == (32, 32, 3), mode
