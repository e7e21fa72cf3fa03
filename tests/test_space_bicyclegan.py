"""The BicycleGAN Space, driven through gradio_client like a user's script, with good and bad inputs.

Small random BicycleGANs (one with an encoder, one pix2pix-style nz=0) are published into a throwaway local hub;
the app is imported from its path and served on a free localhost port.
"""
from __future__ import annotations

import importlib.util
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "spaces" / "bicyclegan" / "app.py"
DEFAULT_ID = "hubmodels/bicyclegan-synthfaces"
P2P_ID = "hubmodels/bicyclegan-aa-pix2pix"  # sorts first: the default must still come first
TINY = dict(input_nc=1, output_nc=3, ngf=4, nef=4, num_downs=6, encoder_depth=3, img_size=64)

pytestmark = pytest.mark.slow


def _he(model):
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, a=0.2)
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


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    from hubmodels.bicyclegan import BicycleGAN

    hub = tmp_path_factory.mktemp("space_hub") / "hub"
    torch.manual_seed(0)
    _he(BicycleGAN(nz=8, **TINY)).publish(DEFAULT_ID, hub_dir=hub)
    torch.manual_seed(1)
    _he(BicycleGAN(nz=0, where_add="input", encoder=None, norm="batch",
                   **{k: v for k, v in TINY.items() if k != "encoder_depth"})).publish(P2P_ID, hub_dir=hub)
    return hub


@pytest.fixture(scope="module")
def served(hub):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBMODELS_HUB", str(hub))
        mp.delenv("HUBMODELS_BICYCLEGAN_MODELS", raising=False)
        mp.delenv("HUBMODELS_DEVICE", raising=False)
        mp.setenv("HUBMODELS_DTYPE", "float32")  # exact: the equality checks must not depend on this CPU
        app = _import_app("space_bicyclegan_app")
        port = _free_port()
        app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            yield app, Client(f"http://127.0.0.1:{port}/", verbose=False)
        finally:
            app.demo.close()


@pytest.fixture(scope="module")
def files(served, tmp_path_factory) -> dict[str, str]:
    app = served[0]
    d = tmp_path_factory.mktemp("space_inputs")
    out = {"sketch": app.SKETCH_EXAMPLES[0][0], "photo": app.PHOTO_EXAMPLES[0][0], "style": app.STYLE_EXAMPLES[0][0]}
    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0))  # a Sketchpad composite: strokes on transparency
    ImageDraw.Draw(drawing).ellipse((48, 48, 208, 208), outline=(0, 0, 0, 255), width=4)
    drawing.save(d / "drawing.png")
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(d / "blank.png")
    (d / "notes.png").write_text("this is not an image")
    Image.new("RGB", (4100, 16)).save(d / "huge.png")
    Image.new("RGB", (4, 4)).save(d / "tiny.png")
    out.update({k: str(d / f"{k}.png") for k in ("drawing", "blank", "notes", "huge", "tiny")})
    return out


def test_models_and_endpoints(served):
    app, client = served
    assert app.MODEL_IDS == [DEFAULT_ID, P2P_ID]
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/sample", "/sketch", "/edges", "/interpolate", "/model_info", "/example_request"} <= set(endpoints)
    params = [p["parameter_name"] for p in endpoints["/sample"]["parameters"]]
    assert params == ["model_id", "image", "input_kind", "num_samples", "seed", "reference"]
    info = client.predict("", api_name="/model_info")
    assert info["model"] == DEFAULT_ID and info["nz"] == 8 and info["encoder"] and info["size"] == 64
    assert client.predict(P2P_ID, api_name="/model_info")["diverse"] is False
    # the Space's typical request (what python -m demos.loadtest sends) is served
    request = client.predict(api_name="/example_request")
    args = [handle_file(a["file"]) if isinstance(a, dict) and "file" in a else a for a in request["args"]]
    assert len(client.predict(*args, api_name=request["api_name"])) == 4


def test_sample_seeds_and_library_agree(served, files):
    app, client = served
    out = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "auto", 3, 5, None, api_name="/sample")
    assert [item["caption"] for item in out] == ["seed 5", "seed 6", "seed 7"]
    images = [_pixels(item["image"]) for item in out]
    assert all(im.shape == (64, 64, 3) for im in images)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 0  # different seeds differ
    again = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "edge map", 1, 6, None, api_name="/sample")
    assert np.abs(_pixels(again[0]["image"]).astype(int) - images[1].astype(int)).max() <= 1  # sample k: seed + k
    model = app.common.load_model(DEFAULT_ID)
    for got, want in zip(images, model.sample(files["sketch"], num_samples=3, seed=5)):
        np.testing.assert_array_equal(got, np.asarray(want))


def test_photo_goes_through_the_edge_helper(served, files):
    app, client = served
    out = client.predict(DEFAULT_ID, handle_file(files["photo"]), "auto", 2, 0, None, api_name="/sample")
    assert [item["caption"] for item in out] == ["edges found in the photo", "seed 0", "seed 1"]
    edges = _pixels(client.predict(DEFAULT_ID, handle_file(files["photo"]), api_name="/edges"))
    assert edges.shape == (64, 64, 3) and (edges > 200).mean() > 0.5 and (edges < 100).mean() > 0.02
    np.testing.assert_array_equal(_pixels(out[0]["image"]), edges)
    model = app.common.load_model(DEFAULT_ID)
    want = model.sample(files["photo"], num_samples=2, seed=0, from_photo=True)
    np.testing.assert_array_equal(_pixels(out[1]["image"]), np.asarray(want[0]))


def test_style_example_and_sketchpad(served, files):
    app, client = served
    out = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "edge map", 1, 0, handle_file(files["style"]),
                         api_name="/sample")
    assert [item["caption"] for item in out] == ["style of the example", "seed 0"]
    model = app.common.load_model(DEFAULT_ID)
    np.testing.assert_array_equal(_pixels(out[0]["image"]),
                                  np.asarray(model.style_transfer(files["sketch"], files["style"])))
    value = {"background": None, "layers": [], "composite": handle_file(files["drawing"])}
    drawn = client.predict(DEFAULT_ID, value, 2, 0, None, api_name="/sketch")
    assert [item["caption"] for item in drawn] == ["seed 0", "seed 1"]
    np.testing.assert_array_equal(_pixels(drawn[0]["image"]), np.asarray(model.sample(files["drawing"], 1, 0)[0]))


def test_interpolate_ends_at_the_seeds(served, files):
    _, client = served
    frames = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "auto", 3, 9, 4, api_name="/interpolate")
    assert len(frames) == 4
    a = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "auto", 1, 3, None, api_name="/sample")
    b = client.predict(DEFAULT_ID, handle_file(files["sketch"]), "auto", 1, 9, None, api_name="/sample")
    assert np.abs(_pixels(frames[0]["image"]).astype(int) - _pixels(a[0]["image"]).astype(int)).max() <= 1
    assert np.abs(_pixels(frames[-1]["image"]).astype(int) - _pixels(b[0]["image"]).astype(int)).max() <= 1


def test_deterministic_model(served, files):
    _, client = served
    out = client.predict(P2P_ID, handle_file(files["sketch"]), "auto", 1, 0, None, api_name="/sample")
    assert [item["caption"] for item in out] == ["output"]


def test_bad_inputs_give_messages_and_app_keeps_serving(served, files):
    _, client = served
    sk = handle_file(files["sketch"])
    cases = [
        ("/sample", (DEFAULT_ID, None, "auto", 2, 0, None), "Upload a sketch or photo"),
        ("/sample", (DEFAULT_ID, handle_file(files["notes"]), "auto", 2, 0, None), "not a recognised image file"),
        ("/sample", (DEFAULT_ID, handle_file(files["huge"]), "auto", 2, 0, None), "largest accepted size is 4096"),
        ("/sample", (DEFAULT_ID, handle_file(files["tiny"]), "auto", 2, 0, None), "smallest accepted size is 8x8"),
        ("/sample", (DEFAULT_ID, sk, "painting", 2, 0, None), "unknown input kind 'painting'"),
        ("/sample", (DEFAULT_ID, sk, "auto", 0, 0, None), "number of samples must be an integer from 1 to 16"),
        ("/sample", (DEFAULT_ID, sk, "auto", 17, 0, None), "number of samples must be an integer from 1 to 16"),
        ("/sample", (DEFAULT_ID, sk, "auto", "many", 0, None), "number of samples must be a number"),
        ("/sample", (DEFAULT_ID, sk, "auto", 2, -1, None), "seed must be an integer from 0 to 2147483647"),
        ("/sample", (DEFAULT_ID, sk, "auto", 2, 1.5, None), "seed must be an integer from 0 to 2147483647"),
        ("/sample", (DEFAULT_ID, sk, "auto", 2, 0, handle_file(files["notes"])), "style example is not a recognised"),
        ("/sample", ("hubmodels/nope", sk, "auto", 2, 0, None), "unknown model 'hubmodels/nope'; this Space serves"),
        ("/sample", (P2P_ID, sk, "auto", 4, 0, None), "deterministic (nz=0"),
        ("/sample", (P2P_ID, sk, "auto", 1, 0, handle_file(files["style"])), "has no encoder"),
        ("/sketch", (DEFAULT_ID, None, 2, 0, None), "Draw a sketch first"),
        ("/sketch", (DEFAULT_ID, {"background": None, "layers": [], "composite": None}, 2, 0, None),
         "Draw a sketch first"),
        ("/sketch", (DEFAULT_ID, {"background": None, "layers": [], "composite": handle_file(files["blank"])}, 2, 0,
                     None), "The sketch is empty"),
        ("/edges", (DEFAULT_ID, None), "Upload a photo"),
        ("/interpolate", (DEFAULT_ID, sk, "auto", 0, 1, 100), "steps must be an integer from 2 to 16"),
        ("/interpolate", (P2P_ID, sk, "auto", 0, 1, 4), "no latent space"),
        ("/model_info", ("x/y",), "unknown model 'x/y'"),
    ]
    for api, args, message in cases:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name=api)
    # still serving, and still right
    out = client.predict(DEFAULT_ID, sk, "auto", 2, 0, None, api_name="/sample")
    assert len(out) == 2 and _pixels(out[1]["image"]).shape == (64, 64, 3)


def test_no_model_starts_and_explains(tmp_path, monkeypatch, served, files):
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "empty"))
    monkeypatch.delenv("HUBMODELS_BICYCLEGAN_MODELS", raising=False)
    app = _import_app("space_bicyclegan_app_empty")
    assert app.MODEL_IDS == [] and app.DEFAULT_MODEL is None
    texts = [getattr(block, "value", "") for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("No BicycleGAN model is available" in str(t) for t in texts)
    with pytest.raises(gr.Error, match="No BicycleGAN model is available.*HUBMODELS_BICYCLEGAN_MODELS"):
        app.sample(None, files["sketch"], "auto", 1, 0, None)


def test_readme_header_and_requirements():
    from huggingface_hub.repocard import metadata_load

    meta = metadata_load(APP.parent / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["sdk_version"] == gr.__version__
    assert DEFAULT_ID in meta["models"]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    reqs = {re.split(r"[<>=\[ ]", line)[0].lower() for line in lines if line.strip() and not line.startswith("#")}
    assert {"torch", "torchvision", "huggingface_hub", "safetensors", "pillow", "numpy"} <= reqs


def test_bombs_truncated_and_every_colour_mode(served, files, tmp_path):
    from tests.image_inputs import write_bomb, write_odd_modes

    _, client = served
    cut = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(cut)
    cut.write_bytes(cut.read_bytes()[:60])
    bomb = handle_file(write_bomb(tmp_path))
    sk = handle_file(files["sketch"])
    for args, message in [((DEFAULT_ID, bomb, "auto", 1, 0, None), "decompression bomb"),
                          ((DEFAULT_ID, sk, "auto", 1, 0, bomb), "decompression bomb"),
                          ((DEFAULT_ID, handle_file(str(cut)), "auto", 1, 0, None), "file is truncated or corrupt"),
                          ((DEFAULT_ID, sk, "auto", 1, 2**64, None), "seed must be an integer from 0 to"),
                          ((DEFAULT_ID, sk, "auto", 10**6, 0, None), "number of samples must be an integer")]:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/sample")
    for mode, path in write_odd_modes(tmp_path).items():
        out = client.predict(DEFAULT_ID, handle_file(path), "auto", 1, 0, None, api_name="/sample")
        assert _pixels(out[1]["image"]).shape == (64, 64, 3), mode
