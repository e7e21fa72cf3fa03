"""The StyleGAN Space, driven through gradio_client like a user's script, with good and bad input, and its bundle.

Tiny random generators (an unconditional StyleGAN2, a class-conditional StyleGAN2 and a StyleGAN v1) are published
into a throwaway local hub; the app is imported from its path and served on a free localhost port.
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
APP = ROOT / "spaces" / "stylegan" / "app.py"
SPEC_MODULE = "hubmodels.stylegan.spec"
DEFAULT_ID = "hubmodels/stylegan2-synthfaces"
COND_ID = "hubmodels/stylegan2-aa-cond"
V1_ID = "hubmodels/stylegan-v1-tiny"  # both sort before the default: the default must still come first
TINY_V2 = dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16,
               num_fp16_res=0, conv_clamp=None)
TINY_V1 = dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, mapping_fmaps=16, fmaps_base=128,
               fmaps_max=16)
RES = 16
MAX_SEED = 2**32 - 1

pytestmark = pytest.mark.slow


def _perturb(model):
    """A non-trivial w_avg and noise strengths, so truncation and noise modes visibly act."""
    with torch.no_grad():
        model.mapping_network.w_avg.normal_()
        for name, p in model.named_parameters():
            if "noise_strength" in name:
                p.normal_(0, 0.5)
    return model


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


def _diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.fixture(scope="module")
def families():
    """Make sure the StyleGAN room is registered (HUBMODELS_FAMILIES until the registry lists it)."""
    from hubmodels import registry

    with pytest.MonkeyPatch.context() as mp:
        if SPEC_MODULE not in registry.FAMILY_SPECS:
            extra = [m for m in os.environ.get("HUBMODELS_FAMILIES", "").split(",") if m.strip()]
            mp.setenv("HUBMODELS_FAMILIES", ",".join(extra + [SPEC_MODULE]))
            mp.setattr(registry, "_SPECS", None)  # re-read the specs with the variable set
        yield


@pytest.fixture(scope="module")
def hub(tmp_path_factory, families) -> Path:
    from hubmodels.stylegan.model_v1 import StyleGAN
    from hubmodels.stylegan.model_v2 import StyleGAN2

    hub = tmp_path_factory.mktemp("space_hub") / "hub"
    torch.manual_seed(0)
    _perturb(StyleGAN2(**TINY_V2)).publish(DEFAULT_ID, hub_dir=hub)
    torch.manual_seed(1)
    _perturb(StyleGAN2(c_dim=3, **TINY_V2)).publish(COND_ID, hub_dir=hub)
    torch.manual_seed(2)
    _perturb(StyleGAN(**TINY_V1)).publish(V1_ID, hub_dir=hub)
    return hub


@pytest.fixture(scope="module")
def served(hub):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBMODELS_HUB", str(hub))
        mp.delenv("HUBMODELS_DEVICE", raising=False)
        mp.delenv("HUBMODELS_STYLEGAN_MODELS", raising=False)
        mp.delenv("HUBMODELS_VGG16_WEIGHTS", raising=False)  # projection: the pixel distance, no download
        mp.setenv("HUBMODELS_DTYPE", "float32")  # exact: equality checks must not depend on the CPU's choice
        app = _import_app("space_stylegan_app")
        port = _free_port()
        app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            yield app, Client(f"http://127.0.0.1:{port}/", verbose=False), f"http://127.0.0.1:{port}/"
        finally:
            app.demo.close()


@pytest.fixture(scope="module")
def client(served) -> Client:
    return served[1]


def test_models_discovered_and_endpoints(served):
    app, client, _ = served
    assert app.MODEL_IDS == [DEFAULT_ID, V1_ID, COND_ID] and app.DEFAULT_MODEL == DEFAULT_ID
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/style_mixing", "/interpolate", "/project", "/model_info", "/example_request"} \
        <= set(endpoints)
    params = {api: [p["parameter_name"] for p in endpoints[api]["parameters"]]
              for api in ("/generate", "/style_mixing", "/interpolate", "/project")}
    assert params["/generate"] == ["model_id", "seeds", "count", "truncation_psi", "noise_mode", "class_label"]
    assert params["/style_mixing"] == ["model_id", "row_seeds", "col_seeds", "layer_group", "truncation_psi",
                                       "class_label", "use_projection"]  # the session's projection: a State
    assert params["/interpolate"] == ["model_id", "start_seed", "end_seed", "steps", "truncation_psi",
                                      "class_label", "use_projection"]
    assert params["/project"] == ["model_id", "image", "steps", "latent_space", "class_label"]


def test_model_info_both_architectures(served):
    app, client, _ = served
    info = client.predict("", api_name="/model_info")
    assert info["model"] == DEFAULT_ID and info["architecture"] == "StyleGAN2" and info["resolution"] == RES
    assert info["conditional"] is False and info["classes"] == [] and info["num_ws"] == 6
    assert info["layer_groups"] == {"coarse": [0, 1], "middle": [2, 3], "fine": [4, 5]}  # 16 px: thirds
    cond = client.predict(COND_ID, api_name="/model_info")
    assert cond["conditional"] and cond["classes"] == ["class 0", "class 1", "class 2"]
    v1 = client.predict(V1_ID, api_name="/model_info")
    assert v1["architecture"] == "StyleGAN" and v1["family"] == "stylegan" and v1["num_ws"] == 6
    # the controls follow the chosen model: a class menu only for conditional ones
    classes, text = app._on_model_change(COND_ID)
    assert [v for _, v in classes.choices] == [0, 1, 2] and classes.visible and "class-conditional" in text
    classes, text = app._on_model_change(V1_ID)
    assert not classes.visible and "StyleGAN, 16x16 px, unconditional" in text


def test_generate_matches_the_library(served):
    app, client, _ = served
    out = client.predict(DEFAULT_ID, "0-2, 7", 1, 0.7, "const", None, api_name="/generate")
    assert [item["caption"] for item in out] == ["seed 0", "seed 1", "seed 2", "seed 7"]
    images = [_pixels(item["image"]) for item in out]
    assert all(im.shape == (RES, RES, 3) for im in images)
    model = app.common.load_model(DEFAULT_ID)
    for got, want in zip(images, model.generate([0, 1, 2, 7], 0.7, "const", None)):
        np.testing.assert_array_equal(got, np.asarray(want))
    assert _diff(images[0], images[1]) > 0  # seeds differ
    again = client.predict(DEFAULT_ID, 1, 3, 0.7, "const", None, api_name="/generate")  # a start seed + count
    assert [item["caption"] for item in again] == ["seed 1", "seed 2", "seed 3"]
    assert _diff(_pixels(again[0]["image"]), images[1]) == 0  # the same seed, the same image
    untruncated = client.predict(DEFAULT_ID, "0", 1, 1.0, "const", None, api_name="/generate")
    assert _diff(_pixels(untruncated[0]["image"]), images[0]) > 0  # psi acts
    noisy = client.predict(DEFAULT_ID, "0 - 1", 1, 0.7, "random", None, api_name="/generate")
    np.testing.assert_array_equal(_pixels(noisy[1]["image"]), np.asarray(model.generate([1], 0.7, "random")[0]))


def test_conditional_and_v1_models(served):
    app, client, _ = served
    cond = app.common.load_model(COND_ID)
    by_index = client.predict(COND_ID, "3-4", 1, 0.5, "const", 2, api_name="/generate")
    by_name = client.predict(COND_ID, "3-4", 1, 0.5, "const", "class 2", api_name="/generate")
    for a, b, want in zip(by_index, by_name, cond.generate([3, 4], 0.5, "const", 2)):
        np.testing.assert_array_equal(_pixels(a["image"]), np.asarray(want))
        np.testing.assert_array_equal(_pixels(b["image"]), np.asarray(want))
    other = client.predict(COND_ID, "3", 1, 0.5, "const", 0, api_name="/generate")
    assert _diff(_pixels(other[0]["image"]), _pixels(by_index[0]["image"])) > 0  # the class acts
    v1 = app.common.load_model(V1_ID)
    out = client.predict(V1_ID, "5, 6", 1, 0.7, "const", None, api_name="/generate")
    for got, want in zip(out, v1.generate([5, 6], 0.7)):
        np.testing.assert_array_equal(_pixels(got["image"]), np.asarray(want))
    mixed = client.predict(V1_ID, "0", "1", "middle", 0.7, None, False, api_name="/style_mixing")
    np.testing.assert_array_equal(_pixels(mixed), np.asarray(v1.style_mixing([0], [1], "middle",
                                                                                truncation_psi=0.7)))


def test_style_mixing_grid(served):
    app, client, _ = served
    grid = _pixels(client.predict(DEFAULT_ID, "0-2", "10-13", "coarse", 0.7, None, False, api_name="/style_mixing"))
    model = app.common.load_model(DEFAULT_ID)
    want = np.asarray(model.style_mixing([0, 1, 2], [10, 11, 12, 13], "coarse", truncation_psi=0.7))
    np.testing.assert_array_equal(grid, want)
    assert grid.shape[0] >= 4 * RES and grid.shape[1] >= 5 * RES  # (1 + rows) x (1 + columns) cells
    assert grid.shape[1] > grid.shape[0]
    middle = _pixels(client.predict(DEFAULT_ID, "0-2", "10-13", "middle", 0.7, None, False,
                                    api_name="/style_mixing"))
    assert middle.shape == grid.shape and _diff(middle, grid) > 0


def test_interpolation_ends_at_the_seeds(served):
    _, client, _ = served
    frames, gif = client.predict(DEFAULT_ID, 3, 9, 5, 0.7, None, False, api_name="/interpolate")
    assert [item["caption"] for item in frames] == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    ends = client.predict(DEFAULT_ID, "3, 9", 1, 0.7, "const", None, api_name="/generate")
    assert _diff(_pixels(frames[0]["image"]), _pixels(ends[0]["image"])) <= 1
    assert _diff(_pixels(frames[-1]["image"]), _pixels(ends[1]["image"])) <= 1
    assert _diff(_pixels(frames[0]["image"]), _pixels(frames[2]["image"])) > 0
    with Image.open(gif) as anim:
        assert anim.format == "GIF" and anim.is_animated and anim.size == (RES, RES)
        assert anim.n_frames == 2 * 5 - 2  # a boomerang loop


def test_projection_feeds_mixing_and_interpolation(served):
    app, _, url = served
    client = Client(url, verbose=False)  # a session of its own: the projected latent belongs to it
    with pytest.raises(AppError, match=re.escape("no projected image yet")):
        client.predict(DEFAULT_ID, "", "10", "coarse", 0.7, None, True, api_name="/style_mixing")
    model = app.common.load_model(DEFAULT_ID)
    target = Path(app.EXAMPLES[0][0]).with_name("projection-target.png")
    model.generate([42], 0.7)[0].resize((64, 64), Image.LANCZOS).save(target)
    out = client.predict(DEFAULT_ID, handle_file(str(target)), 10, "W+", None, api_name="/project")
    assert len(out) == 2 and out[0]["caption"].startswith("target") and "W+, 10 steps" in out[1]["caption"]
    assert all(_pixels(item["image"]).shape == (RES, RES, 3) for item in out)
    # the projected latent is the first row; the column seeds' images are the same as without it
    mixed = _pixels(client.predict(DEFAULT_ID, "", "10-11", "coarse", 0.7, None, True, api_name="/style_mixing"))
    plain = _pixels(client.predict(DEFAULT_ID, "0", "10-11", "coarse", 0.7, None, False, api_name="/style_mixing"))
    assert mixed.shape == plain.shape
    assert _diff(mixed, plain) > 0
    top = slice(0, RES + 2)  # the header row (blank cell + column images) is identical
    np.testing.assert_array_equal(mixed[top], plain[top])
    two = _pixels(client.predict(DEFAULT_ID, "0", "10-11", "coarse", 0.7, None, True, api_name="/style_mixing"))
    assert two.shape[0] > mixed.shape[0]  # projected row + seed row
    frames, _ = client.predict(DEFAULT_ID, 0, 9, 3, 0.7, None, True, api_name="/interpolate")
    end = client.predict(DEFAULT_ID, "9", 1, 0.7, "const", None, api_name="/generate")
    assert _diff(_pixels(frames[-1]["image"]), _pixels(end[0]["image"])) <= 1
    with pytest.raises(AppError, match=re.escape(f"projected with model {DEFAULT_ID}")):
        client.predict(COND_ID, "", "10", "coarse", 0.7, 0, True, api_name="/style_mixing")
    # another session does not see this one's projection
    with pytest.raises(AppError, match=re.escape("no projected image yet")):
        Client(url, verbose=False).predict(DEFAULT_ID, 0, 1, 3, 0.7, None, True, api_name="/interpolate")


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


def test_bad_inputs_give_messages_and_app_keeps_serving(served, bad_files):
    app, client, _ = served
    seeds_msg = f"seeds must be integers from 0 to {MAX_SEED}"
    gen = [
        ((DEFAULT_ID, "", 1, 0.7, "const", None), "seeds: enter at least one seed"),
        ((DEFAULT_ID, None, 1, 0.7, "const", None), "seeds: enter at least one seed"),
        ((DEFAULT_ID, "-1", 1, 0.7, "const", None), seeds_msg),
        ((DEFAULT_ID, "3, -1", 1, 0.7, "const", None), seeds_msg),
        ((DEFAULT_ID, str(MAX_SEED + 1), 1, 0.7, "const", None), seeds_msg),
        ((DEFAULT_ID, -5, 1, 0.7, "const", None), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 2**64, 1, 0.7, "const", None), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, "1.5", 1, 0.7, "const", None), "'1.5' is not an integer or a range"),
        ((DEFAULT_ID, "cats", 1, 0.7, "const", None), "'cats' is not an integer or a range"),
        ((DEFAULT_ID, 2.5, 1, 0.7, "const", None), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, "0-999999", 1, 0.7, "const", None), "seeds: at most 16 per request, got 1000000"),
        ((DEFAULT_ID, f"0-{MAX_SEED}", 1, 0.7, "const", None), "seeds: at most 16 per request"),
        ((DEFAULT_ID, "0-9, 20-29", 1, 0.7, "const", None), "seeds: at most 16 per request, got 20"),
        ((DEFAULT_ID, "5-3", 1, 0.7, "const", None), "the range '5-3' runs backwards"),
        ((DEFAULT_ID, "0", 0, 0.7, "const", None), "count must be an integer from 1 to 16"),
        ((DEFAULT_ID, "0", 10**6, 0.7, "const", None), "count must be an integer from 1 to 16"),
        ((DEFAULT_ID, "0-1", 4, 0.7, "const", None), "count 4 needs one starting seed"),
        ((DEFAULT_ID, str(MAX_SEED), 2, 0.7, "const", None), "go beyond the largest seed"),
        ((DEFAULT_ID, "0", 1, "nan", "const", None), "truncation psi must be a finite number"),
        ((DEFAULT_ID, "0", 1, "inf", "const", None), "truncation psi must be a finite number"),
        ((DEFAULT_ID, "0", 1, 1.5, "const", None), "truncation psi must be a number from 0.0 to 1.0"),
        ((DEFAULT_ID, "0", 1, -0.1, "const", None), "truncation psi must be a number from 0.0 to 1.0"),
        ((DEFAULT_ID, "0", 1, None, "const", None), "truncation psi must be a number"),
        ((DEFAULT_ID, "0", 1, 0.7, "blurry", None), "unknown noise mode 'blurry'"),
        ((DEFAULT_ID, "0", 1, 0.7, None, None), "choose a noise mode"),
        ((DEFAULT_ID, "0", 1, 0.7, "const", 1), "is unconditional: it takes no class"),
        ((COND_ID, "0", 1, 0.7, "const", None), "is class-conditional: choose a class (0: class 0"),
        ((COND_ID, "0", 1, 0.7, "const", 3), "unknown class 3"),
        ((COND_ID, "0", 1, 0.7, "const", -1), "unknown class -1"),
        ((COND_ID, "0", 1, 0.7, "const", "dog"), "unknown class 'dog'"),
        (("hubmodels/nope", "0", 1, 0.7, "const", None), "unknown model 'hubmodels/nope'; this Space serves"),
        (("/etc", "0", 1, 0.7, "const", None), "unknown model '/etc'"),
    ]
    for args, message in gen:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/generate")
    mix = [
        ((DEFAULT_ID, "0-6", "1", "coarse", 0.7, None, False), "row seeds: at most 6 per request, got 7"),
        ((DEFAULT_ID, "0", "", "coarse", 0.7, None, False), "column seeds: enter at least one seed"),
        ((DEFAULT_ID, "", "1", "coarse", 0.7, None, False), "row seeds: enter at least one seed"),
        ((DEFAULT_ID, "0", "-3", "coarse", 0.7, None, False), "column seeds must be integers from 0"),
        ((DEFAULT_ID, "0", "1", "hair", 0.7, None, False), "unknown layer group 'hair'"),
        ((DEFAULT_ID, "0", "1", "coarse", "-inf", None, False), "truncation psi must be a finite number"),
        ((DEFAULT_ID, "0", "1", "coarse", 0.7, None, "yes"), "use projection must be true or false"),
        ((DEFAULT_ID, "0", "1", "coarse", 0.7, None, True), "no projected image yet"),
    ]
    for args, message in mix:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/style_mixing")
    walk = [
        ((DEFAULT_ID, 0, 1, 1, 0.7, None, False), "steps must be an integer from 2 to 32"),
        ((DEFAULT_ID, 0, 1, 33, 0.7, None, False), "steps must be an integer from 2 to 32"),
        ((DEFAULT_ID, -1, 1, 4, 0.7, None, False), f"start seed must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 0, MAX_SEED + 1, 4, 0.7, None, False), f"end seed must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 0, 1.5, 4, 0.7, None, False), "end seed must be an integer"),
        ((DEFAULT_ID, 0, 1, 4, "nan", None, False), "truncation psi must be a finite number"),
        ((COND_ID, 0, 1, 4, 0.7, 7, False), "unknown class 7"),
    ]
    for args, message in walk:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/interpolate")
    src = handle_file(app.EXAMPLES[0][0])
    proj = [
        ((DEFAULT_ID, None, 10, "W", None), "Upload a source image"),
        ((DEFAULT_ID, handle_file(bad_files["text"]), 10, "W", None), "not a recognised image file; accepted"),
        ((DEFAULT_ID, handle_file(bad_files["truncated"]), 10, "W", None), "file is truncated or corrupt"),
        ((DEFAULT_ID, handle_file(bad_files["huge"]), 10, "W", None), "largest accepted size is 4096x4096"),
        ((DEFAULT_ID, handle_file(bad_files["tiny"]), 10, "W", None), "smallest accepted size is 8x8"),
        ((DEFAULT_ID, src, 5, "W", None), "steps must be an integer from 10 to 500"),
        ((DEFAULT_ID, src, 10**6, "W", None), "steps must be an integer from 10 to 500"),
        ((DEFAULT_ID, src, 10, "Z", None), "unknown latent space 'Z'"),
        ((DEFAULT_ID, src, 10, "W", 0), "is unconditional"),
        (("x/y", src, 10, "W", None), "unknown model 'x/y'"),
    ]
    for args, message in proj:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/project")
    with pytest.raises(AppError, match=re.escape("unknown model 'x/y'")):
        client.predict("x/y", api_name="/model_info")
    # still serving, and still right
    out = client.predict(DEFAULT_ID, "0-1", 1, 0.7, "const", None, api_name="/generate")
    model = app.common.load_model(DEFAULT_ID)
    np.testing.assert_array_equal(_pixels(out[1]["image"]), np.asarray(model.generate([1], 0.7)[0]))


def test_bombs_refused_and_every_colour_mode_accepted(client, tmp_path):
    from tests.image_inputs import write_bomb, write_odd_modes

    with pytest.raises(AppError, match="decompression bomb"):
        client.predict(DEFAULT_ID, handle_file(write_bomb(tmp_path)), 10, "W", None, api_name="/project")
    for mode, path in write_odd_modes(tmp_path).items():
        out = client.predict(DEFAULT_ID, handle_file(path), 10, "W", None, api_name="/project")
        assert [_pixels(item["image"]).shape for item in out] == [(RES, RES, 3)] * 2, mode


def test_example_request_is_served(client):
    request = client.predict(api_name="/example_request")
    assert request["api_name"] == "/generate" and request["args"][0] == DEFAULT_ID
    assert len(client.predict(*request["args"], api_name=request["api_name"])) == 4


def test_space_asks_for_auto_dtype(served, monkeypatch):
    app = served[0]
    monkeypatch.delenv("HUBMODELS_DTYPE")
    assert app.common.runtime_dtype() == "auto"
    out = app.generate(DEFAULT_ID, "0-1", 1, 0.7, "const", None)
    assert len(out) == 2
    assert app.common.load_model(DEFAULT_ID).inference_choices  # measured the paths, kept one per input shape


def test_no_model_starts_and_explains(tmp_path, monkeypatch, served):
    app0 = served[0]
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "empty"))
    monkeypatch.delenv("HUBMODELS_STYLEGAN_MODELS", raising=False)
    app = _import_app("space_stylegan_app_empty")
    assert app.MODEL_IDS == [] and app.DEFAULT_MODEL is None
    texts = [getattr(block, "value", "") for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("No StyleGAN / StyleGAN2 model is available" in str(t) for t in texts)
    for call in (lambda: app.generate(None, "0", 1, 0.7, "const", None),
                 lambda: app.style_mixing("", "0", "1", "coarse", 0.7, None, False, None),
                 lambda: app.interpolate("", 0, 1, 4, 0.7, None, False, None),
                 lambda: app.project("", app0.EXAMPLES[0][0], 10, "W", None),
                 lambda: app.model_info("")):
        with pytest.raises(gr.Error, match="No StyleGAN / StyleGAN2 model is available.*HUBMODELS_STYLEGAN_MODELS"):
            call()
    assert app.example_request()["args"][0] == ""


def test_readme_header_and_requirements():
    from huggingface_hub.repocard import metadata_load

    meta = metadata_load(APP.parent / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["sdk_version"] == gr.__version__
    assert DEFAULT_ID in meta["models"] and "stylegan2" in meta["tags"]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    reqs = {re.split(r"[<>=\[ ]", line)[0].lower() for line in lines if line.strip() and not line.startswith("#")}
    assert {"torch", "torchvision", "huggingface_hub", "safetensors", "pillow", "numpy"} <= reqs
    readme = (APP.parent / "README.md").read_text()
    for api in ("/generate", "/style_mixing", "/interpolate", "/project", "/model_info", "/example_request"):
        assert api in readme, api


def test_bundle_runs_where_hugging_face_runs_it(tmp_path, hub):
    spec = importlib.util.spec_from_file_location("space_bundle_for_stylegan", ROOT / "spaces" / "bundle.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    out = tmp_path / "space"
    bundle.bundle("stylegan", out, hub=hub)
    for rel in ("app.py", "README.md", "requirements.txt", "common.py", "hubmodels/stylegan/inference.py",
                f"hub/{DEFAULT_ID.split('/')[1]}/model.safetensors", f"hub/{V1_ID.split('/')[1]}/config.json"):
        assert (out / rel).is_file(), rel
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HUBMODELS_HUB", "HUBMODELS_STYLEGAN_MODELS")}
    env["HF_HUB_OFFLINE"] = "1"
    script = ("import json, app, hubmodels\n"
              "from PIL import Image\n"
              "out = app.generate('', '0-1', 1, 0.7, 'const', None)\n"
              "print(json.dumps({'lib': hubmodels.__file__, 'models': app.MODEL_IDS,"
              " 'size': list(Image.open(out[0][0]).size), 'captions': [c for _, c in out]}))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=out, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["lib"]).resolve().is_relative_to(out.resolve())
    assert result["models"][0] == DEFAULT_ID and set(result["models"]) == {DEFAULT_ID, COND_ID, V1_ID}
    assert result["size"] == [RES, RES] and result["captions"] == ["seed 0", "seed 1"]
