"""The SemanticStyleGAN Space, driven through gradio_client like a user's script, with good and bad input, and its
bundle.

Two tiny random SemanticStyleGANs (3 classes each, one with a shared coarse code and one without) are published
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
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "spaces" / "semantic-stylegan" / "app.py"
SPEC_MODULE = "hubmodels.semantic_stylegan.spec"
DEFAULT_ID = "hubmodels/semantic-stylegan-synthfaces"
OTHER_ID = "hubmodels/semantic-stylegan-aa-tiny"  # sorts before the default: the default must still come first
CLASSES = ["background", "hair", "glasses"]
OTHER_CLASSES = ["background", "face", "hat"]
TINY = dict(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2, local_channel=8,
            coarse_channel=8, coarse_size=8, min_feat_size=4, channels={"4": 8, "8": 8, "16": 4}, transparent_dims=[2])
RES = 16
MAX_SEED = 2**32 - 1
ENV_VAR = "HUBMODELS_SEMANTIC_STYLEGAN_MODELS"

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a loaded 2-core machine two threads are pathologically slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _noisy(model):
    """Non-zero noise strengths (freshly initialised ones are zero), so the noise modes visibly act."""
    with torch.no_grad():
        for conv in model.generator.render_net.convs:
            conv.noise.weight.fill_(0.5)
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
    """Make sure the SemanticStyleGAN room is registered (HUBMODELS_FAMILIES until the registry lists it)."""
    from hubmodels import registry

    with pytest.MonkeyPatch.context() as mp:
        if SPEC_MODULE not in registry.FAMILY_SPECS:
            extra = [m for m in os.environ.get("HUBMODELS_FAMILIES", "").split(",") if m.strip()]
            mp.setenv("HUBMODELS_FAMILIES", ",".join(extra + [SPEC_MODULE]))
            mp.setattr(registry, "_SPECS", None)  # re-read the specs with the variable set
        yield


@pytest.fixture(scope="module")
def hub(tmp_path_factory, families) -> Path:
    from hubmodels.semantic_stylegan import SemanticStyleGAN

    hub = tmp_path_factory.mktemp("space_hub") / "hub"
    torch.manual_seed(0)
    _noisy(SemanticStyleGAN(**TINY, class_names=CLASSES)).publish(DEFAULT_ID, hub_dir=hub)
    torch.manual_seed(1)
    _noisy(SemanticStyleGAN(**{**TINY, "base_layers": 0}, class_names=OTHER_CLASSES)).publish(OTHER_ID, hub_dir=hub)
    return hub


@pytest.fixture(scope="module")
def served(hub):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBMODELS_HUB", str(hub))
        mp.delenv("HUBMODELS_DEVICE", raising=False)
        mp.delenv(ENV_VAR, raising=False)
        mp.setenv("HUBMODELS_DTYPE", "float32")  # exact: equality checks must not depend on the CPU's choice
        app = _import_app("space_semantic_stylegan_app")
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
    assert app.MODEL_IDS == [DEFAULT_ID, OTHER_ID] and app.DEFAULT_MODEL == DEFAULT_ID
    assert app.ENV_VAR == ENV_VAR
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/edit_regions", "/interpolate_region", "/components", "/model_info",
            "/example_request"} <= set(endpoints)
    params = {api: [p["parameter_name"] for p in endpoints[api]["parameters"]]
              for api in ("/generate", "/edit_regions", "/interpolate_region", "/components")}
    assert params["/generate"] == ["model_id", "seeds", "truncation_psi", "noise_mode", "with_mask"]
    assert params["/edit_regions"] == ["model_id", "base_seed", "regions", "part", "new_seed", "variations",
                                       "truncation_psi"]
    assert params["/interpolate_region"] == ["model_id", "base_seed", "target_seed", "regions", "part", "steps",
                                             "truncation_psi"]
    assert params["/components"] == ["model_id", "seed", "truncation_psi"]


def test_model_info_and_controls(served):
    app, client, _ = served
    info = client.predict("", api_name="/model_info")
    assert info["model"] == DEFAULT_ID and info["architecture"] == "SemanticStyleGAN" and info["resolution"] == RES
    assert info["classes"] == CLASSES and info["regions"] == CLASSES + ["coarse"]
    model = app.common.load_model(DEFAULT_ID)
    assert info["palette"] == [list(c) for c in model.palette] and len(info["palette"]) == 3
    assert info["n_latent"] == 7 and info["latent_layout"]["coarse"] == [0]
    assert info["latent_layout"]["regions"]["hair"] == {"shape": 3, "texture": 4}
    other = client.predict(OTHER_ID, api_name="/model_info")
    assert other["classes"] == OTHER_CLASSES and other["regions"] == OTHER_CLASSES  # no shared codes: no "coarse"
    assert other["latent_layout"]["coarse"] == [] and other["n_latent"] == 6
    # the region pickers and the legend follow the chosen model
    edit_picker, walk_picker, text, legend = app._on_model_change(OTHER_ID)
    assert [v for _, v in edit_picker.choices] == OTHER_CLASSES and edit_picker.value == ["face"]
    assert [v for _, v in walk_picker.choices] == OTHER_CLASSES
    assert "16x16 px, 3 classes" in text and "hat" in legend
    edit_picker, *_ = app._on_model_change(DEFAULT_ID)
    assert [v for _, v in edit_picker.choices] == CLASSES + ["coarse"] and edit_picker.value == ["hair"]


def test_generate_matches_the_library(served):
    app, client, _ = served
    out = client.predict(DEFAULT_ID, "0-1, 7", 0.7, "const", True, api_name="/generate")
    assert [item["caption"] for item in out] == [f"seed {s}{x}" for s in (0, 1, 7)
                                                  for x in ("", ": classes", ": class map")]
    model = app.common.load_model(DEFAULT_ID)
    want = model.generate([0, 1, 7], 0.7, "const")
    for k, sample in enumerate(want):
        got = [_pixels(out[3 * k + j]["image"]) for j in range(3)]
        assert all(g.shape == (RES, RES, 3) for g in got)
        np.testing.assert_array_equal(got[0], np.asarray(sample.image))
        np.testing.assert_array_equal(got[1], np.asarray(sample.overlay))
        np.testing.assert_array_equal(got[2], np.asarray(sample.mask))
    images = [_pixels(out[3 * k]["image"]) for k in range(3)]
    assert _diff(images[0], images[1]) > 0  # seeds differ
    plain = client.predict(DEFAULT_ID, "1", 0.7, "const", False, api_name="/generate")  # no mask: image + overlay
    assert [item["caption"] for item in plain] == ["seed 1", "seed 1: classes"]
    assert _diff(_pixels(plain[0]["image"]), images[1]) == 0  # the same seed, the same image
    untruncated = client.predict(DEFAULT_ID, 0, 1.0, "const", False, api_name="/generate")
    assert _diff(_pixels(untruncated[0]["image"]), images[0]) > 0  # psi acts
    noisy = client.predict(DEFAULT_ID, [0, 1], 0.7, "random", False, api_name="/generate")
    np.testing.assert_array_equal(_pixels(noisy[2]["image"]), np.asarray(model.generate([1], 0.7, "random")[0].image))
    assert _diff(_pixels(noisy[2]["image"]), images[1]) > 0  # noise acts


def test_edit_regions_changes_only_the_regions(served):
    app, client, _ = served
    model = app.common.load_model(DEFAULT_ID)
    out = client.predict(DEFAULT_ID, 5, ["hair", "glasses"], "texture", 100, 3, 0.7, api_name="/edit_regions")
    assert [item["caption"] for item in out] == (
        ["original (seed 5)", "seed 5: classes"]
        + [c for s in (100, 101, 102) for c in (f"hair, glasses texture from seed {s}",
                                                 f"seed {s}'s hair, glasses texture: classes")])
    # the original is /generate's image (and class overlay), pixel for pixel
    gen = client.predict(DEFAULT_ID, "5", 0.7, "const", False, api_name="/generate")
    np.testing.assert_array_equal(_pixels(out[0]["image"]), _pixels(gen[0]["image"]))
    np.testing.assert_array_equal(_pixels(out[1]["image"]), _pixels(gen[1]["image"]))
    for k, source in enumerate((100, 101, 102)):
        original, edited = model.edit(5, ["hair", "glasses"], source, part="texture", truncation_psi=0.7)
        np.testing.assert_array_equal(_pixels(out[2 + 2 * k]["image"]), np.asarray(edited.image))
        np.testing.assert_array_equal(_pixels(out[3 + 2 * k]["image"]), np.asarray(edited.overlay))
        assert _diff(np.asarray(edited.image), _pixels(out[0]["image"])) > 0  # the texture did change
        # what the library guarantees for a texture edit: every pseudo-depth, hence the coarse layout, is the
        # original's bit for bit (the class map of the original is not moved)
        w = torch.stack([model.latents([5], truncation_psi=0.7)[0],
                         model.edit_latent(5, ["hair", "glasses"], source, part="texture", truncation_psi=0.7)])
        with torch.no_grad():
            synth = model.synthesis(w)
        assert torch.equal(synth["seg_coarse"][0], synth["seg_coarse"][1])
        assert all(torch.equal(d[0], d[1]) for d in synth["depths"])
    assert _diff(_pixels(out[2]["image"]), _pixels(out[4]["image"])) > 0  # variations differ
    # a shape edit moves the layout; the shared coarse codes are accepted for shape, and a text list works too
    shape = client.predict(DEFAULT_ID, 5, "hair, coarse", "shape", 100, 1, 0.7, api_name="/edit_regions")
    assert len(shape) == 4 and shape[2]["caption"] == "hair, coarse shape from seed 100"
    edited = model.edit(5, ["hair", "coarse"], 100, part="shape", truncation_psi=0.7)[1]
    np.testing.assert_array_equal(_pixels(shape[2]["image"]), np.asarray(edited.image))
    w = torch.stack([model.latents([5])[0], model.edit_latent(5, ["hair", "coarse"], 100, part="shape")])
    with torch.no_grad():
        assert not torch.equal(*model.synthesis(w)["seg_coarse"])
    # a model without shared codes: its own classes
    other = client.predict(OTHER_ID, 0, ["hat"], "both", 7, 2, 0.5, api_name="/edit_regions")
    assert len(other) == 6 and other[2]["caption"] == "hat shape + texture from seed 7"


def test_interpolation_ends_at_the_seeds(served):
    app, client, _ = served
    model = app.common.load_model(DEFAULT_ID)
    frames, gif = client.predict(DEFAULT_ID, 3, 9, ["hair"], "both", 5, 0.7, api_name="/interpolate_region")
    assert [item["caption"] for item in frames] == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    start = client.predict(DEFAULT_ID, "3", 0.7, "const", False, api_name="/generate")
    np.testing.assert_array_equal(_pixels(frames[0]["image"]), _pixels(start[0]["image"]))
    end = model.edit(3, ["hair"], 9, part="both", truncation_psi=0.7)[1]  # seed 3 with seed 9's hair codes
    assert _diff(_pixels(frames[-1]["image"]), np.asarray(end.image)) <= 1
    assert _diff(_pixels(frames[0]["image"]), _pixels(frames[2]["image"])) > 0
    for got, want in zip(frames, model.interpolate_region(3, ["hair"], 9, 5, part="both", truncation_psi=0.7)):
        np.testing.assert_array_equal(_pixels(got["image"]), np.asarray(want.image))
    with Image.open(gif) as anim:
        assert anim.format == "GIF" and anim.is_animated and anim.size == (RES, RES)
        assert anim.n_frames == 2 * 5 - 2  # a boomerang loop


def test_components_add_the_classes_one_by_one(served):
    app, client, _ = served
    out = client.predict(DEFAULT_ID, 4, 0.7, api_name="/components")
    assert [item["caption"] for item in out] == ["background", "background: classes", "+ hair", "+ hair: classes",
                                                 "+ glasses", "+ glasses: classes"]
    want = app.common.load_model(DEFAULT_ID).components(4, truncation_psi=0.7)
    for k, (_, sample) in enumerate(want):
        np.testing.assert_array_equal(_pixels(out[2 * k]["image"]), np.asarray(sample.image))
    full = client.predict(DEFAULT_ID, "4", 0.7, "const", False, api_name="/generate")
    assert _diff(_pixels(out[-2]["image"]), _pixels(full[0]["image"])) <= 1  # every class: the whole face


def test_bad_inputs_give_messages_and_app_keeps_serving(served):
    app, client, _ = served
    seeds_msg = f"seeds must be integers from 0 to {MAX_SEED}"
    regions_msg = "has the regions: background, hair, glasses, coarse"
    gen = [
        ((DEFAULT_ID, "", 0.7, "const", False), "seeds: enter at least one seed"),
        ((DEFAULT_ID, None, 0.7, "const", False), "seeds: enter at least one seed"),
        ((DEFAULT_ID, "-1", 0.7, "const", False), seeds_msg),
        ((DEFAULT_ID, str(MAX_SEED + 1), 0.7, "const", False), seeds_msg),
        ((DEFAULT_ID, -5, 0.7, "const", False), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 2**64, 0.7, "const", False), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 2.5, 0.7, "const", False), f"seeds must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, "1.5", 0.7, "const", False), "'1.5' is not an integer or a range"),
        ((DEFAULT_ID, "cats", 0.7, "const", False), "'cats' is not an integer or a range"),
        ((DEFAULT_ID, f"0-{MAX_SEED}", 0.7, "const", False), "seeds: at most 16 per request"),
        ((DEFAULT_ID, "5-3", 0.7, "const", False), "the range '5-3' runs backwards"),
        ((DEFAULT_ID, "0", "nan", "const", False), "truncation psi must be a finite number"),
        ((DEFAULT_ID, "0", "inf", "const", False), "truncation psi must be a finite number"),
        ((DEFAULT_ID, "0", 1.5, "const", False), "truncation psi must be a number from 0.0 to 1.0"),
        ((DEFAULT_ID, "0", -0.1, "const", False), "truncation psi must be a number from 0.0 to 1.0"),
        ((DEFAULT_ID, "0", None, "const", False), "truncation psi must be a number"),
        ((DEFAULT_ID, "0", 0.7, "blurry", False), "unknown noise mode 'blurry'"),
        ((DEFAULT_ID, "0", 0.7, None, False), "choose a noise mode"),
        ((DEFAULT_ID, "0", 0.7, "const", "yes"), "with mask must be true or false"),
        (("hubmodels/nope", "0", 0.7, "const", False), "unknown model 'hubmodels/nope'; this Space serves"),
        (("/etc", "0", 0.7, "const", False), "unknown model '/etc'"),
    ]
    for args, message in gen:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/generate")
    edit = [
        ((DEFAULT_ID, None, ["hair"], "texture", 1, 2, 0.7), "base seed must be a number"),
        ((DEFAULT_ID, -1, ["hair"], "texture", 1, 2, 0.7), f"base seed must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, MAX_SEED + 1, ["hair"], "texture", 1, 2, 0.7), "base seed must be an integer from 0"),
        ((DEFAULT_ID, 1.5, ["hair"], "texture", 1, 2, 0.7), "base seed must be an integer"),
        ((DEFAULT_ID, "abc", ["hair"], "texture", 1, 2, 0.7), "base seed must be a number, got 'abc'"),
        ((DEFAULT_ID, 0, ["hair"], "texture", -3, 2, 0.7), "new seed must be an integer from 0"),
        ((DEFAULT_ID, 0, ["hair"], "texture", None, 2, 0.7), "new seed must be a number"),
        ((DEFAULT_ID, 0, ["hair"], "texture", MAX_SEED, 2, 0.7), "go beyond the largest seed"),
        ((DEFAULT_ID, 0, [], "texture", 1, 2, 0.7), "choose at least one region: background, hair"),
        ((DEFAULT_ID, 0, None, "texture", 1, 2, 0.7), "choose at least one region"),
        ((DEFAULT_ID, 0, ["nose"], "texture", 1, 2, 0.7), f"unknown region 'nose'; model {DEFAULT_ID} {regions_msg}"),
        ((DEFAULT_ID, 0, ["hair", 3], "texture", 1, 2, 0.7), "unknown region 3"),
        ((DEFAULT_ID, 0, "hair, nose", "texture", 1, 2, 0.7), "unknown region 'nose'"),
        ((DEFAULT_ID, 0, {"a": 1}, "texture", 1, 2, 0.7), "regions must be a list of class names"),
        ((OTHER_ID, 0, ["hair"], "texture", 1, 2, 0.7), "model hubmodels/semantic-stylegan-aa-tiny has the "
                                                        "regions: background, face, hat"),
        ((OTHER_ID, 0, ["coarse"], "shape", 1, 2, 0.7), "unknown region 'coarse'"),
        ((DEFAULT_ID, 0, ["coarse"], "texture", 1, 2, 0.7), "'coarse' names the shared layout codes"),
        ((DEFAULT_ID, 0, ["hair"], "colour", 1, 2, 0.7), "unknown part 'colour'; region editing accepts: shape, "
                                                        "texture, both"),
        ((DEFAULT_ID, 0, ["hair"], None, 1, 2, 0.7), "choose a part"),
        ((DEFAULT_ID, 0, ["hair"], "texture", 1, 0, 0.7), "variations must be an integer from 1 to 8"),
        ((DEFAULT_ID, 0, ["hair"], "texture", 1, 9, 0.7), "variations must be an integer from 1 to 8"),
        ((DEFAULT_ID, 0, ["hair"], "texture", 1, 10**9, 0.7), "variations must be an integer from 1 to 8"),
        ((DEFAULT_ID, 0, ["hair"], "texture", 1, 2, "nan"), "truncation psi must be a finite number"),
        ((DEFAULT_ID, 0, ["hair"], "texture", 1, 2, 2.0), "truncation psi must be a number from 0.0 to 1.0"),
        (("x/y", 0, ["hair"], "texture", 1, 2, 0.7), "unknown model 'x/y'"),
    ]
    for args, message in edit:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/edit_regions")
    walk = [
        ((DEFAULT_ID, 0, 1, ["hair"], "both", 1, 0.7), "steps must be an integer from 2 to 16"),
        ((DEFAULT_ID, 0, 1, ["hair"], "both", 17, 0.7), "steps must be an integer from 2 to 16"),
        ((DEFAULT_ID, 0, 1, ["hair"], "both", 2.5, 0.7), "steps must be an integer from 2 to 16"),
        ((DEFAULT_ID, -1, 1, ["hair"], "both", 4, 0.7), f"base seed must be an integer from 0 to {MAX_SEED}"),
        ((DEFAULT_ID, 0, MAX_SEED + 1, ["hair"], "both", 4, 0.7), "target seed must be an integer from 0"),
        ((DEFAULT_ID, 0, 1, ["eyes"], "both", 4, 0.7), f"unknown region 'eyes'; model {DEFAULT_ID} {regions_msg}"),
        ((DEFAULT_ID, 0, 1, [], "both", 4, 0.7), "choose at least one region"),
        ((DEFAULT_ID, 0, 1, ["hair"], "all", 4, 0.7), "unknown part 'all'"),
        ((DEFAULT_ID, 0, 1, ["hair"], "both", 4, "-inf"), "truncation psi must be a finite number"),
    ]
    for args, message in walk:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/interpolate_region")
    for args, message in [((DEFAULT_ID, -2, 0.7), "seed must be an integer from 0"),
                          ((DEFAULT_ID, 0, 7), "truncation psi must be a number from 0.0 to 1.0"),
                          (("nope", 0, 0.7), "unknown model 'nope'")]:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*args, api_name="/components")
    with pytest.raises(AppError, match=re.escape("unknown model 'x/y'")):
        client.predict("x/y", api_name="/model_info")
    # still serving, and still right
    out = client.predict(DEFAULT_ID, "0-1", 0.7, "const", False, api_name="/generate")
    model = app.common.load_model(DEFAULT_ID)
    np.testing.assert_array_equal(_pixels(out[2]["image"]), np.asarray(model.generate([1], 0.7)[0].image))


def test_example_request_is_served(client):
    request = client.predict(api_name="/example_request")
    assert request["api_name"] == "/edit_regions" and request["args"][0] == DEFAULT_ID
    assert request["args"][2] == ["hair"]
    out = client.predict(*request["args"], api_name=request["api_name"])
    assert len(out) == 2 * (1 + request["args"][5])


def test_space_asks_for_auto_dtype(served, monkeypatch):
    app = served[0]
    monkeypatch.delenv("HUBMODELS_DTYPE")
    assert app.common.runtime_dtype() == "auto"
    out = app.generate(DEFAULT_ID, "0-1", 0.7, "const", False)
    assert len(out) == 4
    assert app.common.load_model(DEFAULT_ID).inference_choices  # measured the paths, kept one per input shape


def test_no_model_starts_and_explains(tmp_path, monkeypatch, served):
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "empty"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    app = _import_app("space_semantic_stylegan_app_empty")
    assert app.MODEL_IDS == [] and app.DEFAULT_MODEL is None
    texts = [getattr(block, "value", "") for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("No SemanticStyleGAN model is available" in str(t) for t in texts)
    for call in (lambda: app.generate(None, "0", 0.7, "const", False),
                 lambda: app.edit_regions("", 0, ["hair"], "texture", 1, 2, 0.7),
                 lambda: app.interpolate_region("", 0, 1, ["hair"], "both", 4, 0.7),
                 lambda: app.components("", 0, 0.7),
                 lambda: app.model_info("")):
        with pytest.raises(gr.Error, match=f"No SemanticStyleGAN model is available.*{ENV_VAR}"):
            call()
    assert app.example_request()["args"][0] == ""


def test_readme_header_and_requirements():
    from huggingface_hub.repocard import metadata_load

    meta = metadata_load(APP.parent / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["sdk_version"] == gr.__version__
    assert DEFAULT_ID in meta["models"] and "semantic-stylegan" in meta["tags"]
    assert meta["license"] == "cc-by-nc-sa-4.0"
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    reqs = {re.split(r"[<>=\[ ]", line)[0].lower() for line in lines if line.strip() and not line.startswith("#")}
    assert {"torch", "torchvision", "huggingface_hub", "safetensors", "pillow", "numpy"} <= reqs
    readme = (APP.parent / "README.md").read_text()
    for api in ("/generate", "/edit_regions", "/interpolate_region", "/components", "/model_info",
                "/example_request", ENV_VAR):
        assert api in readme, api


def test_bundle_runs_where_hugging_face_runs_it(tmp_path, hub):
    spec = importlib.util.spec_from_file_location("space_bundle_for_semantic_stylegan", ROOT / "spaces" / "bundle.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    out = tmp_path / "space"
    bundle.bundle("semantic-stylegan", out, hub=hub)
    for rel in ("app.py", "README.md", "requirements.txt", "common.py", "hubmodels/semantic_stylegan/inference.py",
                f"hub/{DEFAULT_ID.split('/')[1]}/model.safetensors", f"hub/{OTHER_ID.split('/')[1]}/config.json"):
        assert (out / rel).is_file(), rel
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HUBMODELS_HUB", ENV_VAR)}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HUBMODELS_DTYPE="float32")
    script = ("import json, app, hubmodels\n"
              "from PIL import Image\n"
              "out = app.edit_regions('', 0, ['hair'], 'texture', 100, 1, 0.7)\n"
              "print(json.dumps({'lib': hubmodels.__file__, 'models': app.MODEL_IDS,"
              " 'size': list(Image.open(out[0][0]).size), 'captions': [c for _, c in out]}))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=out, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["lib"]).resolve().is_relative_to(out.resolve())
    assert result["models"] == [DEFAULT_ID, OTHER_ID]
    assert result["size"] == [RES, RES]
    assert result["captions"] == ["original (seed 0)", "seed 0: classes", "hair texture from seed 100",
                                  "seed 100's hair texture: classes"]
