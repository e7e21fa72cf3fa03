"""The StarGAN v2 Space, driven through gradio_client like a user's script, and its Hugging Face bundle.

A small random StarGANv2 is published into a throwaway local hub; the app is imported from its path and
served on a free localhost port.
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
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "spaces" / "stargan-v2" / "app.py"
DEFAULT_ID = "hubmodels/stargan-v2-synthfaces"
OTHER_ID = "hubmodels/stargan-v2-aa-test"  # sorts before the default: the default must still come first
TINY = dict(img_size=32, style_dim=16, latent_dim=8, max_conv_dim=32, dim_in=16, hidden_dim=32)

pytestmark = pytest.mark.slow


def _publish(repo_id: str, hub: Path, domains: list[str], seed: int) -> str:
    from hubmodels.stargan_v2 import StarGANv2

    torch.manual_seed(seed)
    model = StarGANv2(num_domains=len(domains), domains=domains, **TINY)
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
    root = tmp_path_factory.mktemp("space_hub")
    hub = root / "hub"
    _publish(DEFAULT_ID, hub, ["cat", "dog", "fox"], seed=0)
    _publish(OTHER_ID, hub, ["day", "night"], seed=1)
    _publish("hubmodels/extra", root / "elsewhere", ["x", "y", "z"], seed=2)  # offered through the env variable
    return hub


@pytest.fixture(scope="module")
def served(hub):
    extra = str(hub.parent / "elsewhere" / "extra")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBMODELS_HUB", str(hub))
        mp.setenv("HUBMODELS_STARGAN_V2_MODELS", extra)
        mp.delenv("HUBMODELS_DEVICE", raising=False)
        # The Space asks for dtype="auto" (test_space_asks_for_auto_dtype); the seed and equality checks
        # below must not depend on which path this CPU would choose, so they run the exact fp32 path.
        mp.setenv("HUBMODELS_DTYPE", "float32")
        app = _import_app("space_stargan_v2_app")
        port = _free_port()
        app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            yield app, client, extra
        finally:
            app.demo.close()


@pytest.fixture(scope="module")
def source(served) -> str:
    return served[0].SOURCE_EXAMPLES[0][0]  # a SynthFaces cat rendered by the app at start-up


@pytest.fixture(scope="module")
def reference(served) -> str:
    return served[0].REFERENCE_EXAMPLES[2][0]  # a fox


# ---------------------------------------------------------------------------------------------
# start-up: models, examples, endpoints


def test_models_discovered_default_first(served):
    app, _, extra = served
    assert app.MODEL_IDS == [DEFAULT_ID, OTHER_ID, extra]
    assert app.DEFAULT_MODEL == DEFAULT_ID


def test_named_endpoints(served):
    app, client, _ = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/latent_guided", "/reference_guided", "/domains", "/interpolate"} <= set(endpoints)
    params = [p["parameter_name"] for p in endpoints["/latent_guided"]["parameters"]]
    assert params == ["model_id", "image", "target_domain", "seed", "num_samples", "psi"]


def test_examples_are_synthfaces(served):
    app, _, _ = served
    domains = []
    for path, label in app.SOURCE_EXAMPLES:
        with Image.open(path) as im:
            assert im.size == (64, 64) and im.mode == "RGB"
        domains.append(label.split()[0])
    assert domains == ["cat", "dog", "fox"]


def test_domains_endpoint(served):
    _, client, extra = served
    assert client.predict(DEFAULT_ID, api_name="/domains") == ["cat", "dog", "fox"]
    assert client.predict(OTHER_ID, api_name="/domains") == ["day", "night"]
    assert client.predict(extra, api_name="/domains") == ["x", "y", "z"]
    assert client.predict("", api_name="/domains") == ["cat", "dog", "fox"]  # empty: the default model


def test_domain_dropdowns_follow_model(served):
    app, _, _ = served
    target, ref_domain, interp_domain, info = app._on_model_change(OTHER_ID)
    for dropdown in (target, ref_domain, interp_domain):
        assert [value for _, value in dropdown.choices] == ["day", "night"]
    assert target.value == "night" and ref_domain.value == "day"
    assert "day, night" in info and "32x32" in info


# ---------------------------------------------------------------------------------------------
# inference


def test_latent_guided_matches_library_and_seeds(served, source):
    app, client, _ = served
    out = client.predict(DEFAULT_ID, handle_file(source), "dog", 7, 3, 1.0, api_name="/latent_guided")
    assert [item["caption"] for item in out] == ["dog, seed 7", "dog, seed 8", "dog, seed 9"]
    images = [_pixels(item["image"]) for item in out]
    assert all(im.shape == (32, 32, 3) for im in images)

    again = client.predict(DEFAULT_ID, handle_file(source), "dog", 7, 1, 1.0, api_name="/latent_guided")
    # same seed, same image (batch 1 vs batch 3: float rounding may move a pixel by one level)
    assert np.abs(_pixels(again[0]["image"]).astype(int) - images[0].astype(int)).max() <= 1
    shifted = client.predict(DEFAULT_ID, handle_file(source), "dog", 8, 1, 1.0, api_name="/latent_guided")
    assert np.abs(_pixels(shifted[0]["image"]).astype(int) - images[1].astype(int)).max() <= 1  # sample k: seed + k
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 0  # different seeds differ

    # The Space serves exactly what its model computes (PNG round trip is lossless), on whichever
    # inference path dtype="auto" chose on this machine.
    model = app.common.load_model(DEFAULT_ID)
    expected = model.latent_guided(source, "dog", num_samples=3, seed=7)
    for got, want in zip(images, expected):
        np.testing.assert_array_equal(got, np.asarray(want))

    truncated = client.predict(DEFAULT_ID, handle_file(source), "dog", 7, 1, 0.0, api_name="/latent_guided")
    assert np.abs(_pixels(truncated[0]["image"]).astype(int) - images[0].astype(int)).max() > 0


def test_reference_guided(served, source, reference):
    app, client, _ = served
    out = _pixels(client.predict(DEFAULT_ID, handle_file(source), handle_file(reference), "fox",
                                 api_name="/reference_guided"))
    assert out.shape == (32, 32, 3)
    model = app.common.load_model(DEFAULT_ID)
    np.testing.assert_array_equal(out, np.asarray(model.reference_guided(source, reference, "fox")))
    other_ref = app.REFERENCE_EXAMPLES[0][0]
    other = _pixels(client.predict(DEFAULT_ID, handle_file(source), handle_file(other_ref), "cat",
                                   api_name="/reference_guided"))
    assert np.abs(other.astype(int) - out.astype(int)).max() > 0


def test_interpolate_ends_at_the_seeds(served, source):
    _, client, _ = served
    frames = client.predict(DEFAULT_ID, handle_file(source), "fox", 3, 5, 4, api_name="/interpolate")
    assert len(frames) == 4
    first, last = _pixels(frames[0]["image"]), _pixels(frames[-1]["image"])
    a, b = (_pixels(client.predict(DEFAULT_ID, handle_file(source), "fox", seed, 1, 1.0,
                                   api_name="/latent_guided")[0]["image"]) for seed in (3, 5))
    # Same styles, other batch size: CPU kernels may differ in the last bit, never by more than one level.
    assert np.abs(first.astype(int) - a.astype(int)).max() <= 1
    assert np.abs(last.astype(int) - b.astype(int)).max() <= 1


def test_space_asks_for_auto_dtype(served, source, monkeypatch):
    app = served[0]
    monkeypatch.delenv("HUBMODELS_DTYPE")
    assert app.common.runtime_dtype() == "auto"
    model = app.common.load_model(DEFAULT_ID)
    model.latent_guided(source, "dog", num_samples=2, seed=0)
    assert model.inference_choices  # the first request measured the paths and kept one per input shape


def test_other_models_by_id_and_env_path(served, source):
    _, client, extra = served
    out = client.predict(OTHER_ID, handle_file(source), "night", 0, 2, 1.0, api_name="/latent_guided")
    assert len(out) == 2 and _pixels(out[0]["image"]).shape == (32, 32, 3)
    out = client.predict(extra, handle_file(source), "z", 0, 1, 1.0, api_name="/latent_guided")
    assert _pixels(out[0]["image"]).shape == (32, 32, 3)
    with pytest.raises(AppError, match=re.escape("accepts: day, night")):
        client.predict(OTHER_ID, handle_file(source), "cat", 0, 1, 1.0, api_name="/latent_guided")


# ---------------------------------------------------------------------------------------------
# bad input: a gr.Error with the explanation, and the app keeps serving


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad_inputs")
    files = {
        "text": d / "notes.png",
        "svg": d / "drawing.svg",
        "truncated": d / "cut.png",
        "huge": d / "huge.png",
        "tiny": d / "tiny.png",
    }
    files["text"].write_text("this is not an image")
    files["svg"].write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" '
                            'height="64"/></svg>')
    Image.new("RGB", (64, 64), (200, 10, 10)).save(files["truncated"])
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:60])
    Image.new("RGB", (4100, 16)).save(files["huge"])
    Image.new("RGB", (4, 4)).save(files["tiny"])
    return {k: str(v) for k, v in files.items()}


def test_bad_inputs_give_messages_and_app_keeps_serving(served, source, reference, bad_files):
    _, client, _ = served
    src = handle_file(source)
    latent_cases = [
        ((DEFAULT_ID, None, "dog", 0, 2, 1.0), "Upload a source image"),
        ((DEFAULT_ID, handle_file(bad_files["text"]), "dog", 0, 2, 1.0), "not a recognised image file; accepted"),
        ((DEFAULT_ID, handle_file(bad_files["svg"]), "dog", 0, 2, 1.0), "not a recognised image file; accepted"),
        ((DEFAULT_ID, handle_file(bad_files["truncated"]), "dog", 0, 2, 1.0), "source image"),
        ((DEFAULT_ID, handle_file(bad_files["huge"]), "dog", 0, 2, 1.0), "largest accepted size is 4096x4096"),
        ((DEFAULT_ID, handle_file(bad_files["tiny"]), "dog", 0, 2, 1.0), "smallest accepted size is 8x8"),
        ((DEFAULT_ID, src, "wolf", 0, 2, 1.0), "unknown target domain 'wolf'"),
        ((DEFAULT_ID, src, "wolf", 0, 2, 1.0), "accepts: cat, dog, fox"),
        ((DEFAULT_ID, src, None, 0, 2, 1.0), "choose a target domain"),
        ((DEFAULT_ID, src, "dog", 0, 0, 1.0), "number of samples must be an integer from 1 to 16"),
        ((DEFAULT_ID, src, "dog", 0, 17, 1.0), "number of samples must be an integer from 1 to 16"),
        ((DEFAULT_ID, src, "dog", 0, 10**9, 1.0), "number of samples must be an integer from 1 to 16"),
        ((DEFAULT_ID, src, "dog", 0, 2.5, 1.0), "number of samples must be an integer from 1 to 16"),
        ((DEFAULT_ID, src, "dog", 0, "many", 1.0), "number of samples must be a number"),
        ((DEFAULT_ID, src, "dog", -1, 2, 1.0), "seed must be an integer from 0 to 2147483647"),
        ((DEFAULT_ID, src, "dog", 2**31, 2, 1.0), "seed must be an integer from 0 to 2147483647"),
        ((DEFAULT_ID, src, "dog", 1.5, 2, 1.0), "seed must be an integer from 0 to 2147483647"),
        ((DEFAULT_ID, src, "dog", "abc", 2, 1.0), "seed must be a number"),
        ((DEFAULT_ID, src, "dog", 0, 2, 5.0), "psi (truncation) must be a number from 0.0 to 1.0"),
        ((DEFAULT_ID, src, "dog", 0, 2, "nan"), "psi (truncation) must be a finite number"),
        ((DEFAULT_ID, src, "dog", 0, 2, "-inf"), "psi (truncation) must be a finite number"),
        ((DEFAULT_ID, src, "dog", 2**64, 2, 1.0), "seed must be an integer from 0 to 2147483647"),
        (("hubmodels/nope", src, "dog", 0, 2, 1.0), "unknown model 'hubmodels/nope'; this Space serves"),
        (("/etc", src, "dog", 0, 2, 1.0), "unknown model '/etc'"),
    ]
    for args, message in latent_cases:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/latent_guided")

    reference_cases = [
        ((DEFAULT_ID, src, None, "fox"), "Upload a reference image"),
        ((DEFAULT_ID, None, handle_file(reference), "fox"), "Upload a source image"),
        ((DEFAULT_ID, src, handle_file(bad_files["text"]), "fox"), "reference image is not a recognised image"),
        ((DEFAULT_ID, src, handle_file(bad_files["huge"]), "fox"), "largest accepted size is 4096x4096"),
        ((DEFAULT_ID, src, handle_file(reference), "wolf"), "unknown reference domain 'wolf'"),
    ]
    for args, message in reference_cases:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/reference_guided")
    with pytest.raises(AppError, match=re.escape("steps must be an integer from 2 to 16")):
        client.predict(DEFAULT_ID, src, "dog", 0, 1, 100, api_name="/interpolate")
    with pytest.raises(AppError, match=re.escape("unknown model 'x/y'")):
        client.predict("x/y", api_name="/domains")

    # Still serving, and still right.
    out = client.predict(DEFAULT_ID, src, "cat", 1, 2, 1.0, api_name="/latent_guided")
    assert len(out) == 2 and _pixels(out[1]["image"]).shape == (32, 32, 3)
    assert _pixels(client.predict(DEFAULT_ID, src, handle_file(reference), "fox",
                                  api_name="/reference_guided")).shape == (32, 32, 3)


# ---------------------------------------------------------------------------------------------
# no model at all: the app starts, says so, and the endpoints explain


def test_no_model_starts_and_explains(tmp_path, monkeypatch, served, source):
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "empty"))
    monkeypatch.delenv("HUBMODELS_STARGAN_V2_MODELS", raising=False)
    app = _import_app("space_stargan_v2_app_empty")
    assert app.MODEL_IDS == [] and app.DEFAULT_MODEL is None
    assert isinstance(app.demo, gr.Blocks)
    texts = [getattr(block, "value", "") for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("No StarGAN v2 model is available" in str(t) for t in texts)
    for call in (lambda: app.latent_guided(None, source, "dog", 0, 1, 1.0),
                 lambda: app.reference_guided("", source, source, "dog"),
                 lambda: app.domains("")):
        with pytest.raises(gr.Error, match="No StarGAN v2 model is available.*HUBMODELS_STARGAN_V2_MODELS"):
            call()


# ---------------------------------------------------------------------------------------------
# shared helpers


def test_gpu_decorator_uses_spaces_gpu_only_when_present(served, monkeypatch):
    common = served[0].common

    def f(x):
        return x + 1

    monkeypatch.setattr(common, "_SPACES_GPU", None)
    assert common.gpu(f) is f and common.gpu(duration=5)(f) is f
    calls = []

    def fake_gpu(duration):
        def deco(fn):
            calls.append(duration)
            return lambda *a: ("gpu", fn(*a))
        return deco

    monkeypatch.setattr(common, "_SPACES_GPU", fake_gpu)
    assert common.gpu(f)(1) == ("gpu", 2) and common.gpu(duration=120)(f)(1) == ("gpu", 2)
    assert calls == [60, 120]


def test_require_image_takes_raw_payloads(served, source):
    import base64

    common = served[0].common
    with open(source, "rb") as fh:
        data_url = "data:image/png;base64," + base64.b64encode(fh.read()).decode()
    assert common.require_image({"path": None, "url": data_url}).size == (64, 64)
    assert common.require_image({"path": source, "url": None}).size == (64, 64)
    with pytest.raises(gr.Error, match="data URL could not be decoded"):
        common.require_image({"path": None, "url": "data:image/png;base64,%%%"})
    with pytest.raises(gr.Error, match="Upload a reference image"):
        common.require_image({"path": None, "url": None}, "reference image")


def test_no_gradio_stub_files_written(served):
    # Subclassing a Gradio component makes Gradio write a .pyi beside the module on import; the
    # shared helpers must not (a stale stub hides the module from type checkers).
    assert not list((ROOT / "spaces").rglob("*.pyi"))


def test_model_cache_loads_once(served):
    common = served[0].common
    assert common.load_model(DEFAULT_ID) is common.load_model(DEFAULT_ID)
    with pytest.raises(gr.Error, match="is a 'stargan_v2' model"):
        common.load_model(DEFAULT_ID, families=("stylegan",))


# ---------------------------------------------------------------------------------------------
# Space metadata and bundle


def test_readme_header_and_requirements():
    from huggingface_hub.repocard import metadata_load

    meta = metadata_load(APP.parent / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gr.__version__
    assert DEFAULT_ID in meta["models"]
    for key in ("title", "emoji", "colorFrom", "colorTo", "license"):
        assert meta[key]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    reqs = {re.split(r"[<>=\[ ]", line)[0].lower() for line in lines if line.strip() and not line.startswith("#")}
    assert {"torch", "torchvision", "huggingface_hub", "safetensors", "pillow", "numpy", "jinja2"} <= reqs


def test_bundle_runs_from_its_own_folder(served, hub, tmp_path):
    sys.path.insert(0, str(ROOT / "spaces"))
    try:
        import bundle
    finally:
        sys.path.remove(str(ROOT / "spaces"))

    out = tmp_path / "space"
    info = bundle.bundle("stargan-v2", out, hub=hub)
    assert sorted(info["models"]) == sorted([DEFAULT_ID, OTHER_ID])
    for rel in ("app.py", "README.md", "requirements.txt", "common.py", "hubmodels/__init__.py",
                "hubmodels/stargan_v2/inference.py", "hubmodels/stargan_v2/spec.py", "hubmodels/data/synthfaces.py",
                "hub/stargan-v2-synthfaces/model.safetensors", "hub/stargan-v2-synthfaces/config.json",
                "hub/stargan-v2-aa-test/model.safetensors", ".gitattributes"):
        assert (out / rel).is_file(), rel
    assert not list(out.rglob("__pycache__")) and not list(out.rglob("test_*.py"))
    assert "*.safetensors filter=lfs" in (out / ".gitattributes").read_text()

    with pytest.raises(bundle.BundleError, match="--force"):
        bundle.bundle("stargan-v2", out, hub=hub)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(bundle.BundleError, match="not written by spaces/bundle.py"):
        bundle.bundle("stargan-v2", tmp_path / "other", hub=hub)
    with pytest.raises(bundle.BundleError, match="not in the local hub"):
        bundle.bundle("stargan-v2", tmp_path / "x", hub=hub, models=["hubmodels/missing"])

    # The bundled app, started the way Hugging Face does (cwd = the Space, no repo on the path,
    # no HUBMODELS_HUB), imports the bundled library and serves the bundled models.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HUBMODELS_HUB", "HUBMODELS_STARGAN_V2_MODELS")}
    env["HF_HUB_OFFLINE"] = "1"
    script = (
        "import json, app, hubmodels\n"
        "from PIL import Image\n"
        "out = app.latent_guided('', app.SOURCE_EXAMPLES[1][0], 'fox', 0, 2, 1.0)\n"
        "print(json.dumps({'lib': hubmodels.__file__, 'models': app.MODEL_IDS,"
        " 'sizes': [list(Image.open(path).size) for path, _ in out]}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=out, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["lib"]).resolve().is_relative_to(out.resolve())
    assert result["models"] == [DEFAULT_ID, OTHER_ID]
    assert result["sizes"] == [[32, 32], [32, 32]]


def test_bombs_refused_and_every_colour_mode_accepted(served, tmp_path):
    from tests.image_inputs import write_bomb, write_odd_modes

    _, client, _ = served
    with pytest.raises(AppError, match="decompression bomb"):
        client.predict(DEFAULT_ID, handle_file(write_bomb(tmp_path)), "dog", 0, 1, 1.0, api_name="/latent_guided")
    for mode, path in write_odd_modes(tmp_path).items():
        out = client.predict(DEFAULT_ID, handle_file(path), "dog", 0, 1, 1.0, api_name="/latent_guided")
        assert _pixels(out[-1]["image"]).shape == (32, 32, 3), mode
