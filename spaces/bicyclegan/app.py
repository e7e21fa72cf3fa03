"""BicycleGAN Space: draw a sketch (or upload an edge map or a photo) and get several different outputs for it,
with random latent codes or in the style of an example image.

    python spaces/bicyclegan/app.py          # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Models: every BicycleGAN model in the local hub, plus the Hub ids or folders listed in HUBMODELS_BICYCLEGAN_MODELS
(comma-separated). HUBMODELS_DEVICE (cpu/cuda/auto) and HUBMODELS_DTYPE (auto/fp32/fp16/bf16) choose where and how
they run: CPU, and the fastest path this machine measures within PSNR 40 dB of fp32 (``dtype="auto"``), by default.

API (gradio_client): /sample (an uploaded edge map or photo), /sketch (a Sketchpad value), /edges (a photo's
edge map), /interpolate (a walk in z between two seeds), /model_info, /example_request (a typical request, for
``python -m demos.loadtest bicyclegan``).
"""
import importlib.util
import sys
from pathlib import Path


def _bootstrap() -> None:
    """Make ``hubmodels`` and ``common`` importable from the repository or from a bundled Space."""
    here = Path(__file__).resolve().parent
    if (here / "hubmodels").is_dir():  # bundled Space: the library is copied beside app.py
        sys.path.insert(0, str(here))
    elif importlib.util.find_spec("hubmodels") is None:  # the repository: spaces/<space>/app.py
        sys.path.insert(0, str(here.parents[1]))
    common_dir = here if (here / "common.py").is_file() else here.parent
    if str(common_dir) not in sys.path:
        sys.path.insert(0, str(common_dir))


_bootstrap()

import common  # noqa: E402  (before torch: it imports `spaces` for ZeroGPU)
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

SPEC = common.space_spec("bicyclegan")
FAMILIES = SPEC.converter_families
FAMILY_LABEL = SPEC.title
ENV_VAR = common.models_env_var(SPEC.name)
PREFERRED = "hubmodels/bicyclegan-synthfaces"
MAX_SAMPLES = 16
MAX_STEPS = 16
MAX_SEED = 2**31 - 1
INPUT_KINDS = ("auto", "edge map", "photo")

MODEL_IDS: list[str] = common.discover_models(FAMILIES, env_var=ENV_VAR)
DEFAULT_MODEL: str | None = common.default_model(MODEL_IDS, PREFERRED)
if DEFAULT_MODEL is not None:  # the default first: an empty model id in an API call means it
    MODEL_IDS.remove(DEFAULT_MODEL)
    MODEL_IDS.insert(0, DEFAULT_MODEL)


# ---------------------------------------------------------------------------------------------
# models


def _model_id(model_id) -> str:
    """The model a request names, checked against the models this Space offers (empty: the default)."""
    return common.check_model_id(model_id, MODEL_IDS, family_label=FAMILY_LABEL, env_var=ENV_VAR)


def _load(model_id: str):
    return common.load_model(model_id, families=FAMILIES)


def _info(model_id: str) -> dict:
    config = common.model_config(model_id)
    nz = int(config.get("nz", 0))
    return {
        "model": model_id,
        "input": "edge map / sketch (1 channel)" if config.get("input_nc") == 1 else "3-channel image",
        "size": config.get("img_size"),
        "nz": nz,
        "diverse": nz > 0,
        "encoder": config.get("encoder") is not None and nz > 0,
        "direction": config.get("direction"),
    }


def _model_summary(model_id) -> str:
    if not model_id:
        return ""
    try:
        info = _info(model_id)
    except Exception as err:  # noqa: BLE001 - unreadable here means "unknown yet"; running it reports the cause
        return f"**{model_id}**: could not read its config.json ({type(err).__name__}: {err})"
    kind = "diverse outputs (random latent codes)" if info["diverse"] else "one output per input (nz=0)"
    ref = "; example images set the style" if info["encoder"] else ""
    return (f"**{model_id}**: {info['input']} -> image, {info['size']}x{info['size']} px, {kind}{ref}. "
            f"Runs on {common.runtime_device()} (dtype {common.runtime_dtype()}).")


# ---------------------------------------------------------------------------------------------
# inputs


def _input_kind(value) -> str:
    return common.check_choice("input kind", value, INPUT_KINDS, owner="this Space")


def _prepare_input(model, image, kind: str):
    """The image the generator reads, and the edge map made from a photo (None when the input was used as is)."""
    from hubmodels.bicyclegan.edges import looks_like_line_drawing

    if model.input_nc != 1 or kind == "edge map":
        return image, None
    if kind == "photo" or not looks_like_line_drawing(image):
        edges = model.photo_to_edges(image)
        return edges, edges
    return image, None


def _sketch_image(value):
    """The drawing of a Sketchpad value (a dict with background / layers / composite), on white."""
    if isinstance(value, dict) and ("composite" in value or "layers" in value or "background" in value):
        composite = value.get("composite")
        if composite is None and value.get("layers"):
            composite = value["layers"][-1]
        if composite is None:
            raise common.user_error("Draw a sketch first: the canvas is empty.")
        image = common.require_image(composite, "sketch")
    elif value is None or value == "":
        raise common.user_error("Draw a sketch first: the canvas is empty.")
    else:
        image = common.require_image(value, "sketch")
    gray = np.asarray(image.convert("L"))
    if (gray < 128).mean() < 0.002:
        raise common.user_error("The sketch is empty: draw the outline with dark strokes on the white canvas.")
    return image


def _check_samples(model, num_samples: int) -> int:
    if model.nz == 0 and num_samples != 1:
        raise common.user_error("this model is deterministic (nz=0, pix2pix-style): it gives one output per input; "
                                "set the number of samples to 1")
    return num_samples


def _reference(model, reference):
    if reference is None or reference == "" or (isinstance(reference, dict) and not reference.get("path")
                                                and not reference.get("url")):
        return None
    if model.encoder is None:
        raise common.user_error("this model has no encoder, so it cannot take the style of an example image; "
                                "leave the style example empty")
    return common.require_image(reference, "style example")


# ---------------------------------------------------------------------------------------------
# inference (validation first, on CPU; only then the GPU-decorated part)


@common.gpu
def _run_samples(model_id: str, image, num_samples: int, seed: int, reference):
    model = common.load_model(model_id)
    out = []
    if reference is not None:
        out.append((model.style_transfer(image, reference), "style of the example"))
    images = model.sample(image, num_samples=num_samples, seed=seed)
    if model.nz == 0:
        return out + [(images[0], "output")]
    return out + [(im, f"seed {seed + k}") for k, im in enumerate(images)]


@common.gpu
def _run_interpolate(model_id: str, image, seed_a: int, seed_b: int, steps: int):
    model = common.load_model(model_id)
    return model.interpolate(image, seed_a=seed_a, seed_b=seed_b, steps=steps)


def _gallery(model_id, image, kind, num_samples, seed, reference) -> list:
    model = _load(model_id)
    num_samples = _check_samples(model, common.check_int("number of samples", num_samples, 1, MAX_SAMPLES))
    seed = common.check_int("seed", seed, 0, MAX_SEED)
    ref = _reference(model, reference)
    source, edges = _prepare_input(model, image, kind)
    out = [(edges.convert("RGB"), "edges found in the photo")] if edges is not None else []
    return common.served_gallery(out + _run_samples(model_id, source, num_samples, seed, ref))


@common.user_errors
def sample(model_id, image, input_kind="auto", num_samples=4, seed=0, reference=None):
    """Outputs for an uploaded edge map or photo: one per random seed (seed, seed+1, ...), preceded by the edge map
    found in a photo and by the output in the style of ``reference`` when those apply. Returns (image, caption)."""
    model_id = _model_id(model_id)
    kind = _input_kind(input_kind)
    source = common.require_image(image, "sketch or photo")
    return _gallery(model_id, source, kind, num_samples, seed, reference)


@common.user_errors
def sketch(model_id, drawing, num_samples=4, seed=0, reference=None):
    """Outputs for a drawing (a Sketchpad value: a dict with ``composite``; or an image file)."""
    model_id = _model_id(model_id)
    image = _sketch_image(drawing)
    return _gallery(model_id, image, "edge map", num_samples, seed, reference)


@common.user_errors
def edges(model_id, photo):
    """The edge map a photo becomes for this model (black lines on white, at the model's input size)."""
    model_id = _model_id(model_id)
    source = common.require_image(photo, "photo")
    model = _load(model_id)
    return common.served_image(model.photo_to_edges(source).convert("RGB"))


@common.user_errors
def interpolate(model_id, image, input_kind="auto", seed_a=0, seed_b=1, steps=6):
    """Outputs along the straight line in z between the random codes of two seeds."""
    model_id = _model_id(model_id)
    kind = _input_kind(input_kind)
    source = common.require_image(image, "sketch or photo")
    model = _load(model_id)
    if model.nz == 0:
        raise common.user_error("this model is deterministic (nz=0): it has no latent space to walk in")
    seed_a = common.check_int("seed A", seed_a, 0, MAX_SEED)
    seed_b = common.check_int("seed B", seed_b, 0, MAX_SEED)
    steps = common.check_int("steps", steps, 2, MAX_STEPS)
    source, _ = _prepare_input(model, source, kind)
    images = _run_interpolate(model_id, source, seed_a, seed_b, steps)
    return common.served_gallery((im, f"{k}/{steps - 1}") for k, im in enumerate(images))


@common.user_errors
def model_info(model_id: str = "") -> dict:
    """What a model takes and gives (empty model id: the default model)."""
    return _info(_model_id(model_id))


# ---------------------------------------------------------------------------------------------
# UI


def _examples() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Held-out SynthFaces sketches, photos (for the edge helper) and style examples."""
    import atexit
    import shutil
    import tempfile

    from hubmodels.data.synthfaces import VAL_INDEX_OFFSET, render_face

    folder = Path(tempfile.mkdtemp(prefix="hubmodels-bicyclegan-examples-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    sketches, photos, styles = [], [], []
    for i in range(3):
        face = render_face(0, VAL_INDEX_OFFSET + i, size=64)
        path = folder / f"sketch-{face.domain}-{i}.png"
        face.edges.save(path)
        sketches.append((str(path), f"sketch: {face.domain} #{i}"))
    photos = common.synthfaces_examples([(20, "cat"), (21, "dog")], prefix="photo")
    styles = common.synthfaces_examples([(30, None), (31, None), (32, None)], prefix="style")
    return sketches, photos, styles


SKETCH_EXAMPLES, PHOTO_EXAMPLES, STYLE_EXAMPLES = _examples()


def example_request() -> dict:
    """A typical request of this Space (endpoint and arguments; files as {"file": path}), for load tests."""
    return {"api_name": "/sample",
            "args": [DEFAULT_MODEL or "", {"file": SKETCH_EXAMPLES[0][0]}, "auto", 4, 0, None]}

INTRO = f"""# BicycleGAN
Multimodal image-to-image translation ([Zhu et al., NeurIPS 2017](https://arxiv.org/abs/1711.11586)): one input,
many plausible outputs. Draw a sketch (or upload an edge map, or a photo whose edges are found for you); each random
seed gives another colouring, and an optional **style example** gives the colouring of that image (its latent code,
read by the encoder). Models come from the [hubmodels](https://github.com/hubmodels/hubmodels) local hub (extra Hub
ids: environment variable `{ENV_VAR}`)."""

NO_MODEL = f"""> **No {FAMILY_LABEL} model is available.** Publish one into the local hub (`{common.local_hub_dir()}`,
> e.g. train with `python -m {SPEC.training} --publish hubmodels/<name>`) or list Hugging Face Hub ids in `{ENV_VAR}`, then restart."""

with gr.Blocks(title="BicycleGAN · hubmodels") as demo:
    gr.Markdown(INTRO)
    if not MODEL_IDS:
        gr.Markdown(NO_MODEL)
    with gr.Row():
        model_box = gr.Dropdown(MODEL_IDS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, scale=2)
        model_text = gr.Markdown(_model_summary(DEFAULT_MODEL))
    with gr.Row():
        samples_box = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label="Number of samples")
        seed_box = gr.Number(0, label="Seed", precision=None, info=f"0 to {MAX_SEED}; sample k uses seed + k")
        style_box = gr.Image(label="Style example (optional)", type="filepath", format="png",
                             sources=["upload", "clipboard"], height=160)
    gr.Examples([[p] for p, _ in STYLE_EXAMPLES], inputs=[style_box], cache_examples=False,
                example_labels=[label for _, label in STYLE_EXAMPLES], label="Style examples (SynthFaces)")
    with gr.Tabs():
        with gr.Tab("Draw"):
            with gr.Row():
                with gr.Column():
                    sketch_box = gr.Sketchpad(label="Sketch (black strokes on white)", type="filepath",
                                              format="png", canvas_size=(256, 256), fixed_canvas=True,
                                              brush=gr.Brush(default_size=4, colors=["#000000"],
                                                             color_mode="fixed"))
                    sketch_btn = gr.Button("Generate", variant="primary")
                sketch_gallery = gr.Gallery(label="Samples", format="png", columns=4, height="auto")
        with gr.Tab("Upload an edge map or a photo"):
            with gr.Row():
                with gr.Column():
                    upload_box = gr.Image(label="Edge map or photo", type="filepath", format="png",
                                          sources=["upload", "clipboard"], height=240)
                    kind_box = gr.Radio(list(INPUT_KINDS), value="auto", label="The upload is",
                                        info="auto: a mostly white, colourless image is an edge map, anything else a "
                                             "photo (its edges are found first)")
                    gr.Examples([[p] for p, _ in SKETCH_EXAMPLES + PHOTO_EXAMPLES], inputs=[upload_box],
                                cache_examples=False, label="SynthFaces sketches and photos",
                                example_labels=[label for _, label in SKETCH_EXAMPLES + PHOTO_EXAMPLES])
                    upload_btn = gr.Button("Generate", variant="primary")
                    edges_btn = gr.Button("Show the edges of a photo")
                with gr.Column():
                    upload_gallery = gr.Gallery(label="Samples", format="png", columns=4, height="auto")
                    edges_out = gr.Image(label="Edges", type="filepath", format="png", interactive=False,
                                         height=200)
        with gr.Tab("Walk in z"):
            with gr.Row():
                seed_a_box = gr.Number(0, label="Seed A", precision=None)
                seed_b_box = gr.Number(1, label="Seed B", precision=None)
                steps_box = gr.Slider(2, MAX_STEPS, value=6, step=1, label="Steps")
            gr.Markdown("Uses the upload of the previous tab.")
            walk_btn = gr.Button("Interpolate", variant="primary")
            walk_gallery = gr.Gallery(label="From seed A to seed B", format="png", columns=6, height="auto")

    # preprocess=False: the functions get the raw values and validate them all themselves (see common.py).
    model_box.change(_model_summary, model_box, model_text, api_visibility="private")
    sketch_btn.click(sketch, [model_box, sketch_box, samples_box, seed_box, style_box], sketch_gallery,
                     api_name="sketch", preprocess=False)
    upload_btn.click(sample, [model_box, upload_box, kind_box, samples_box, seed_box, style_box], upload_gallery,
                     api_name="sample", preprocess=False)
    edges_btn.click(edges, [model_box, upload_box], edges_out, api_name="edges", preprocess=False)
    walk_btn.click(interpolate, [model_box, upload_box, kind_box, seed_a_box, seed_b_box, steps_box], walk_gallery,
                   api_name="interpolate", preprocess=False)
    gr.api(model_info, api_name="model_info")
    gr.api(example_request, api_name="example_request")
    # a bounded queue: under load, requests wait their turn (one model call at a time) instead of piling up
    demo.queue(default_concurrency_limit=1, max_size=64)


if __name__ == "__main__":
    common.warm_up(demo, example_request)  # overlaps the server's start-up
    demo.launch(**common.launch_kwargs())
