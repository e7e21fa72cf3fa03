"""StarGAN Space: change the attributes of an image (fur or hair colour, glasses, mouth, ...) with one generator,
and see every single-attribute edit at once, as in the paper's figures.

    python spaces/stargan/app.py          # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Models: every StarGAN model in the local hub, plus the Hub ids or folders listed in HUBMODELS_STARGAN_MODELS
(comma-separated). HUBMODELS_DEVICE (cpu/cuda/auto) and HUBMODELS_DTYPE (auto/fp32/fp16/bf16) choose where and how
they run: CPU, and the fastest path this machine measures within PSNR 40 dB of fp32 (``dtype="auto"``), by default.

API (gradio_client): /translate, /edit_grid, /detect, /labels.
"""
import importlib.util
import os
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

SPEC = common.space_spec("stargan")
FAMILIES = SPEC.converter_families
FAMILY_LABEL = SPEC.title
ENV_VAR = common.models_env_var(SPEC.name)
PREFERRED = "hubmodels/stargan-synthfaces"
KEEP = "keep"  # the colour choice that keeps the source's own colour
NO_CLASS = "none"  # joint models: no class of the second dataset (translate attributes)

MODEL_IDS: list[str] = common.discover_models(FAMILIES, env_var=ENV_VAR)
DEFAULT_MODEL: str | None = common.default_model(MODEL_IDS, PREFERRED)
if DEFAULT_MODEL is not None:  # the default first: an empty model id in an API call means it
    MODEL_IDS.remove(DEFAULT_MODEL)
    MODEL_IDS.insert(0, DEFAULT_MODEL)


# ---------------------------------------------------------------------------------------------
# what a model's labels are (from its config: no weights needed)


def _labels(model_id: str | None) -> dict:
    """``{"datasets", "attributes", "colours", "toggles", "classes", "crop_size", "image_size", ...}`` of a model.

    ``colours``: the first exclusive group (one at a time, a radio); ``toggles``: the other binary attributes
    (checkboxes); ``classes``: the class labels (a joint model's second dataset, or a class-only model's)."""
    if not model_id:
        return {}
    try:
        config = common.model_config(model_id)
    except Exception:  # noqa: BLE001 - unreadable here means "unknown yet"; running it reports the cause
        return {}
    from hubmodels.stargan.configs import OFFICIAL_HAIR_COLOURS

    attributes = list(config.get("attributes") or [f"label{i}" for i in range(int(config.get("c_dim") or 0))])
    c2 = int(config.get("c2_dim") or 0)
    attributes2 = list(config.get("attributes2") or [f"label{len(attributes) + i}" for i in range(c2)])
    datasets = list(config.get("datasets") or (["CelebA", "RaFD"] if c2 else ["CelebA"]))
    types = list(config.get("label_types") or (["multi", "single"] if c2 else ["multi"]))
    groups = config.get("exclusive_groups")
    if groups is None:
        hair = [a for a in attributes if a in OFFICIAL_HAIR_COLOURS] if types[0] == "multi" else []
        groups = [hair] if hair else []
    colours = list(groups[0]) if groups and types[0] == "multi" else []
    toggles = [a for a in attributes if a not in colours] if types[0] == "multi" else []
    classes = attributes2 if c2 else (attributes if types[0] == "single" else [])
    return {"datasets": datasets, "attributes": attributes, "attributes2": attributes2 if c2 else [],
            "label_types": types, "exclusive_groups": [list(g) for g in groups], "colours": colours,
            "toggles": toggles, "classes": classes, "image_size": config.get("image_size"),
            "crop_size": config.get("crop_size"), "discriminator": bool(config.get("with_discriminator", True))}


def _model_summary(model_id: str | None) -> str:
    if not model_id:
        return ""
    info = _labels(model_id)
    if not info:
        return f"**{model_id}**: could not read its config.json"
    parts = [f"**{model_id}**: {info['image_size']}x{info['image_size']} px"]
    if info["colours"]:
        parts.append(f"one of {', '.join(info['colours'])}")
    if info["toggles"]:
        parts.append(f"on/off: {', '.join(info['toggles'])}")
    if info["classes"]:
        parts.append(f"classes ({info['datasets'][-1]}): {', '.join(info['classes'])}")
    crop = info["crop_size"]
    parts.append(f"input: centre crop {crop} px then resize" if crop else "input: largest centred square, resized")
    if not info["discriminator"]:
        parts.append("no discriminator: choose every attribute (the source's cannot be read)")
    return "; ".join(parts) + f". Runs on {common.runtime_device()} (dtype {common.runtime_dtype()})."


def _model_id(model_id: str | None) -> str:
    return common.check_model_id(model_id, MODEL_IDS, family_label=FAMILY_LABEL, env_var=ENV_VAR)


def _load(model_id: str):
    return common.load_model(model_id, families=FAMILIES)


def _check_list(name: str, value, choices: list[str]) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise common.user_error(f"{name} must be a list of attribute names, got {value!r}")
    unknown = [v for v in value if v not in choices]
    if unknown:
        raise common.user_error(f"unknown {name} {unknown}; this model's are: {', '.join(choices) or 'none'}")
    return list(value)


def _target(info: dict, colour, attributes, label_class) -> dict:
    """The library's target dict from the Space's controls (validated: unknown names are refused)."""
    if label_class not in (None, "", NO_CLASS):
        label_class = common.check_choice("class", label_class, info["classes"])
        return {label_class: 1}
    if not info["colours"] and not info["toggles"]:
        raise common.user_error(f"this model translates to classes only: choose one of {', '.join(info['classes'])}")
    target = {}
    if info["colours"]:
        if colour not in (None, "", KEEP):
            colour = common.check_choice("colour", colour, info["colours"])
            target[colour] = 1
    elif colour not in (None, "", KEEP):
        raise common.user_error(f"this model has no colour group; got colour {colour!r}")
    on = _check_list("attributes", attributes, info["toggles"])
    for name in info["toggles"]:
        target[name] = int(name in on)
    if not target:
        raise common.user_error("nothing to translate to: choose a colour or attributes")
    return target


# ---------------------------------------------------------------------------------------------
# inference (validation first, on CPU; only then the GPU-decorated part)


@common.gpu
def _run_translate(model_id: str, image, target: dict):
    return common.load_model(model_id).translate(image, target, crop_size=_crop())


@common.gpu
def _run_edits(model_id: str, image):
    return common.load_model(model_id).single_edits(image, crop_size=_crop())


def _crop():
    """The official crop frames CelebA's 178x218 aligned faces; uploads are any size, so the Space crops the
    largest centred square unless HUBMODELS_STARGAN_CROP=official asks for the model's own crop."""
    return "model" if os.environ.get("HUBMODELS_STARGAN_CROP", "").strip() == "official" else None


@common.user_errors
def translate(model_id, image, colour=KEEP, attributes=None, label_class=NO_CLASS):
    """Translate the image to the chosen labels: ``colour`` (one of the model's colour group, or "keep" for the
    source's own), ``attributes`` (the on/off attributes to have ON; the others are turned off), or, for a model
    with class labels, ``label_class`` (a class name; then the attributes are not used). Returns the image."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    info = _labels(model_id)
    target = _target(info, colour, attributes, label_class)
    _load(model_id)  # the model's own errors (missing weights, another family) before the GPU part
    return common.served_image(_run_translate(model_id, source, target))


@common.user_errors
def edit_grid(model_id, image):
    """Every single-attribute edit of the image, as in the paper's figures: (image, caption) pairs, the input first;
    a colour is set, any other attribute flipped, and a joint model adds every class."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    _load(model_id)
    return common.served_gallery((im, caption) for caption, im in _run_edits(model_id, source))


@common.user_errors
def detect(model_id, image):
    """The source image's labels as the model's discriminator reads them: ``{"colour", "attributes",
    "class", "probabilities"}`` (what the toggles start from)."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    info = _labels(model_id)
    model = _load(model_id)
    if not model.has_discriminator:
        raise common.user_error(f"model {model_id} has no discriminator, so it cannot read an image's labels; "
                                "choose them yourself")
    probs = model.classify(source, crop_size=_crop())
    colour = max(info["colours"], key=lambda a: probs[a]) if info["colours"] else KEEP
    if info["colours"] and probs[colour] <= 0.5:
        colour = KEEP
    label_class = max(info["classes"], key=lambda a: probs[a]) if info["classes"] else NO_CLASS
    return {"colour": colour, "attributes": [a for a in info["toggles"] if probs[a] > 0.5], "class": label_class,
            "probabilities": probs}


@common.user_errors
def labels(model_id: str = "") -> dict:
    """A model's labels: datasets, the colour group, the on/off attributes and the classes."""
    model_id = _model_id(model_id)
    info = _labels(model_id)
    if not info:
        _load(model_id)  # raises the reason
    return {k: info[k] for k in ("datasets", "colours", "toggles", "classes", "exclusive_groups", "image_size")}


def _on_image(model_id, image):
    """Upload: set the toggles to what the discriminator reads (quietly keeps them when it cannot)."""
    try:
        found = detect(model_id, image)
    except Exception:  # noqa: BLE001 - no image yet, no discriminator: leave the controls as they are
        return gr.update(), gr.update(), gr.update()
    return (gr.update(value=found["colour"]), gr.update(value=found["attributes"]),
            gr.update(value=NO_CLASS))


def _on_model_change(model_id):
    info = _labels(model_id) if model_id in MODEL_IDS else {}
    colours = [KEEP] + info.get("colours", [])
    toggles = info.get("toggles", [])
    classes = info.get("classes", [])
    return (gr.Radio(choices=colours, value=KEEP, visible=len(colours) > 1),
            gr.CheckboxGroup(choices=toggles, value=[], visible=bool(toggles)),
            gr.Radio(choices=[NO_CLASS] + classes, value=NO_CLASS, visible=bool(classes)),
            _model_summary(model_id))


# ---------------------------------------------------------------------------------------------
# UI

def example_request() -> dict:
    """A typical request of this Space (endpoint and arguments; files as {"file": path}), for load tests."""
    return {"api_name": "/edit_grid", "args": [DEFAULT_MODEL or "", {"file": EXAMPLES[0][0]}]}


EXAMPLES = common.synthfaces_examples([(0, None), (1, None), (2, None), (4, None)], prefix="source")
_info0 = _labels(DEFAULT_MODEL)

INTRO = f"""# StarGAN
Change the attributes of an image with one generator ([Choi et al., CVPR 2018](https://arxiv.org/abs/1711.09020)):
pick the target labels and translate, or see every single-attribute edit at once, as in the paper's figures. The
toggles start from what the model's discriminator reads in the image; a colour is one at a time. Models come from the
[hubmodels](https://github.com/hubmodels/hubmodels) local hub (extra Hub ids: environment variable `{ENV_VAR}`)."""

NO_MODEL = f"""> **No {FAMILY_LABEL} model is available.** Publish one into the local hub (`{common.local_hub_dir()}`,
> e.g. train with `python -m {SPEC.training} --publish hubmodels/<name>`) or list Hugging Face Hub ids in
> `{ENV_VAR}`, then restart."""

with gr.Blocks(title="StarGAN · hubmodels") as demo:
    gr.Markdown(INTRO)
    if not MODEL_IDS:
        gr.Markdown(NO_MODEL)
    with gr.Row():
        model_box = gr.Dropdown(MODEL_IDS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, scale=2)
        model_info = gr.Markdown(_model_summary(DEFAULT_MODEL))
    with gr.Row():
        with gr.Column(scale=1):
            source_box = gr.Image(label="Source image", type="filepath", format="png",
                                  sources=["upload", "clipboard"], height=260)
            gr.Examples([[p] for p, _ in EXAMPLES], inputs=[source_box], cache_examples=False,
                        example_labels=[label for _, label in EXAMPLES], label="SynthFaces examples")
        with gr.Column(scale=1):
            colour_box = gr.Radio([KEEP] + _info0.get("colours", []), value=KEEP, label="Colour (one at a time)",
                                  visible=bool(_info0.get("colours")))
            toggles_box = gr.CheckboxGroup(_info0.get("toggles", []), value=[], label="Attributes (checked: on)",
                                           visible=bool(_info0.get("toggles")))
            class_box = gr.Radio([NO_CLASS] + _info0.get("classes", []), value=NO_CLASS,
                                 label="Class (joint models: translate to a class of the second dataset instead)",
                                 visible=bool(_info0.get("classes")))
            translate_btn = gr.Button("Translate", variant="primary")
        with gr.Column(scale=1):
            result_box = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=260)
    with gr.Row():
        grid_btn = gr.Button("All single-attribute edits")
        detect_btn = gr.Button("Read the source's labels")
    grid_gallery = gr.Gallery(label="Single-attribute edits (input first)", format="png", columns=8, height="auto")
    detect_box = gr.JSON(label="The source's labels as the model's discriminator reads them")

    # preprocess=False: the functions get the raw values and validate them all themselves (see common.py).
    model_box.change(_on_model_change, model_box, [colour_box, toggles_box, class_box, model_info],
                     api_visibility="private")
    source_box.change(_on_image, [model_box, source_box], [colour_box, toggles_box, class_box],
                      api_visibility="private", preprocess=False)
    translate_btn.click(translate, [model_box, source_box, colour_box, toggles_box, class_box], result_box,
                        api_name="translate", preprocess=False)
    grid_btn.click(edit_grid, [model_box, source_box], grid_gallery, api_name="edit_grid", preprocess=False)
    detect_btn.click(detect, [model_box, source_box], detect_box, api_name="detect", preprocess=False)
    gr.api(labels, api_name="labels")
    gr.api(example_request, api_name="example_request")
    # a bounded queue: under load, requests wait their turn (one model call at a time) instead of piling up
    demo.queue(default_concurrency_limit=1, max_size=64)


if __name__ == "__main__":
    common.warm_up(demo, example_request)  # overlaps the server's start-up
    demo.launch(**common.launch_kwargs())
