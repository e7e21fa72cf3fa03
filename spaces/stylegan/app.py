"""StyleGAN / StyleGAN2 Space: generate images from seeds, mix the styles of two sets of seeds, walk between two
seeds, and project your own image into the generator's latent space to mix and morph it like a seed.

    python spaces/stylegan/app.py          # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Models: every StyleGAN2 and StyleGAN (v1) model in the local hub, plus the Hub ids or folders listed in
HUBMODELS_STYLEGAN_MODELS (comma-separated). HUBMODELS_DEVICE (cpu/cuda/auto) and HUBMODELS_DTYPE (auto/fp32/fp16/
bf16) choose where and how they run: CPU, and the fastest path this machine measures within PSNR 40 dB of fp32
(``dtype="auto"``), by default. Projection always optimises in fp32.

API (gradio_client): /generate, /style_mixing, /interpolate, /project (keeps the projected latent for the session:
the same client's /style_mixing and /interpolate can then use it), /model_info, /example_request (a typical
request, for ``python -m demos.loadtest stylegan``).
"""
import importlib.util
import re
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

from hubmodels.stylegan.inference import MAX_SEED, NOISE_MODES, StyleGANInference  # noqa: E402

SPEC = common.space_spec("stylegan")
FAMILIES = SPEC.converter_families  # ("stylegan2", "stylegan")
FAMILY_LABEL = SPEC.title
ENV_VAR = common.models_env_var(SPEC.name)
PREFERRED = "hubmodels/stylegan2-synthfaces"
MAX_IMAGES = 16  # images per /generate request
MAX_GRID = 6  # row / column seeds of a style-mixing grid
MIN_FRAMES, MAX_FRAMES = 2, 32
MIN_PROJECT_STEPS, MAX_PROJECT_STEPS, DEFAULT_PROJECT_STEPS = 10, 500, 100
LAYER_GROUPS = ("coarse", "middle", "fine", "coarse+middle", "middle+fine")
LATENT_SPACES = ("W", "W+")
NO_CLASS = "none"
GIF_FPS = 12

MODEL_IDS: list[str] = common.discover_models(FAMILIES, env_var=ENV_VAR)
DEFAULT_MODEL: str | None = common.default_model(MODEL_IDS, PREFERRED)
if DEFAULT_MODEL is not None:  # the default first: an empty model id in an API call means it
    MODEL_IDS.remove(DEFAULT_MODEL)
    MODEL_IDS.insert(0, DEFAULT_MODEL)


# ---------------------------------------------------------------------------------------------
# models (what they are, from config.json: no weights needed)


def _model_id(model_id) -> str:
    """The model a request names, checked against the models this Space offers (empty: the default)."""
    return common.check_model_id(model_id, MODEL_IDS, family_label=FAMILY_LABEL, env_var=ENV_VAR)


def _load(model_id: str):
    return common.load_model(model_id, families=FAMILIES)


def _num_ws(resolution: int) -> int:
    # both generators: two ws per resolution from 4 px, the first resolution one conv + ToRGB (see inference.py)
    return 2 * max(resolution.bit_length() - 1, 2) - 2


def _info(model_id: str) -> dict:
    config = common.model_config(model_id)
    c_dim = int(config.get("c_dim") or 0)
    names = config.get("class_names")
    classes = [str(n) for n in names] if isinstance(names, list) and len(names) == c_dim else \
        [f"class {i}" for i in range(c_dim)]
    resolution = int(config.get("img_resolution") or 0)
    return {
        "model": model_id,
        "architecture": config.get("architecture"),
        "family": config.get("family"),
        "resolution": resolution,
        "channels": int(config.get("img_channels") or 3),
        "z_dim": config.get("z_dim"),
        "w_dim": config.get("w_dim"),
        "num_ws": _num_ws(resolution) if resolution else None,
        "conditional": c_dim > 0,
        "classes": classes,
    }


def _model_summary(model_id) -> str:
    if not model_id:
        return ""
    try:
        info = _info(model_id)
    except Exception as err:  # noqa: BLE001 - unreadable here means "unknown yet"; running it reports the cause
        return f"**{model_id}**: could not read its config.json ({type(err).__name__}: {err})"
    kind = (f"class-conditional ({len(info['classes'])} classes: {', '.join(info['classes'])})"
            if info["conditional"] else "unconditional")
    return (f"**{model_id}**: {info['architecture']}, {info['resolution']}x{info['resolution']} px, {kind}, "
            f"{info['num_ws']} style layers. Runs on {common.runtime_device()} (dtype {common.runtime_dtype()}).")


# ---------------------------------------------------------------------------------------------
# inputs

_TOKEN = re.compile(r"^([+-]?\d+)(?:\s*(?:-|\.\.)\s*([+-]?\d+))?$")


def _seed_list(name: str, value, limit: int, *, allow_empty: bool = False) -> list[int]:
    """Seeds from a text of seeds and ranges ("0-3, 7"), a number, or a list of numbers; at most ``limit``."""
    what = f"{name} must be integers from 0 to {MAX_SEED}, as a list like \"0-3, 7\""
    if isinstance(value, (list, tuple)):
        seeds = [common.check_int(name, v, 0, MAX_SEED) for v in value]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seeds = [common.check_int(name, value, 0, MAX_SEED)]
    elif value is None or isinstance(value, str):
        seeds = []
        text = re.sub(r"\s*(-|\.\.)\s*(?=\d)", r"\1", (value or "").strip())  # "0 - 3" -> "0-3"
        for token in [t for t in re.split(r"[,;\s]+", text) if t]:
            match = _TOKEN.match(token)
            if match is None:
                raise common.user_error(f"{what}; {token!r} is not an integer or a range")
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) is not None else low
            if not (0 <= low <= MAX_SEED and 0 <= high <= MAX_SEED):
                raise common.user_error(f"{what}; got {token!r}")
            if high < low:
                raise common.user_error(f"{name}: the range {token!r} runs backwards; write it as {high}-{low}")
            if len(seeds) + high - low + 1 > limit:  # counted before expanding: "0-4294967295" costs nothing
                raise common.user_error(f"{name}: at most {limit} per request, got {len(seeds) + high - low + 1}")
            seeds += range(low, high + 1)
    else:
        raise common.user_error(f"{what}; got {value!r}")
    if not seeds and not allow_empty:
        raise common.user_error(f"{name}: enter at least one seed (e.g. \"0-3, 7\")")
    if len(seeds) > limit:
        raise common.user_error(f"{name}: at most {limit} per request, got {len(seeds)}")
    return seeds


def _psi(value) -> float:
    return common.check_float("truncation psi", value, 0.0, 1.0)


def _noise_mode(value) -> str:
    return common.check_choice("noise mode", value, NOISE_MODES, owner="StyleGAN")


def _class_label(info: dict, value) -> int | None:
    """The class index for the library (None for an unconditional model); accepts an index or a class name."""
    empty = value is None or value == "" or value == NO_CLASS
    if not info["conditional"]:
        if not empty:
            raise common.user_error(f"model {info['model']} is unconditional: it takes no class, got {value!r}; "
                                    "leave the class empty")
        return None
    classes = info["classes"]
    listing = ", ".join(f"{i}: {c}" for i, c in enumerate(classes))
    if empty:
        raise common.user_error(f"model {info['model']} is class-conditional: choose a class ({listing})")
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    try:
        return common.check_int("class", value, 0, len(classes) - 1)
    except gr.Error:
        raise common.user_error(f"unknown class {value!r}; model {info['model']} has classes {listing}") from None


def _layer_group(model, value) -> str:
    group = common.check_choice("layer group", value, LAYER_GROUPS, owner="style mixing")
    groups = model.layer_groups()
    if not any(groups[g] for g in group.split("+")):  # e.g. "middle" of an 8 px model
        raise common.user_error(f"this model ({model.img_resolution} px) has no {group} layers "
                                f"(its groups: {', '.join(g for g in groups if groups[g])}); choose another layer group")
    return group


def _flag(name: str, value) -> bool:
    if value is None or value == "":
        return False
    if not isinstance(value, bool):
        raise common.user_error(f"{name} must be true or false, got {value!r}")
    return value


def _projected_latent(state, model_id: str, use: bool):
    """The session's projected latent, when the request asks for it."""
    if not use:
        return None
    if not isinstance(state, dict) or state.get("latent") is None:
        raise common.user_error("no projected image yet: project one in the \"Your image\" tab (/project) first")
    if state.get("model") != model_id:
        raise common.user_error(f"your projected image was projected with model {state.get('model')}, not "
                                f"{model_id}: project it again with this model, or switch back")
    return state["latent"]


# ---------------------------------------------------------------------------------------------
# inference (validation first, on CPU; only then the GPU-decorated part)


@common.gpu
def _run_generate(model_id: str, seeds: list[int], psi: float, noise_mode: str, label):
    return common.load_model(model_id).generate(seeds, psi, noise_mode, label)


@common.gpu
def _run_mixing(model_id: str, rows: list, cols: list, group: str, psi: float, label):
    return common.load_model(model_id).style_mixing(rows, cols, group, truncation_psi=psi, class_label=label)


@common.gpu
def _run_interpolate(model_id: str, start, end, steps: int, psi: float, label):
    return common.load_model(model_id).interpolate(start, end, steps, truncation_psi=psi, class_label=label)


@common.gpu(duration=180)
def _run_project(model_id: str, image, steps: int, w_plus: bool, label):
    return common.load_model(model_id).project(image, steps, w_plus=w_plus, class_label=label, progress=False)


def _served_gif(frames) -> str:
    """The frames as a looping GIF file of its own (see ``common.served_file``)."""
    return common.served_file(lambda path: StyleGANInference.save_animation(frames, path, fps=GIF_FPS), ".gif")


@common.user_errors
def generate(model_id, seeds="0-3", count=1, truncation_psi=0.7, noise_mode="const", class_label=None):
    """One image per seed. ``seeds``: a text of seeds and ranges ("0-3, 7"), a number or a list; ``count`` > 1
    takes ``count`` consecutive seeds from one starting seed. At most 16 images. Returns (image, "seed N") pairs."""
    model_id = _model_id(model_id)
    count = common.check_int("count", count, 1, MAX_IMAGES)
    seed_list = _seed_list("seeds", seeds, MAX_IMAGES)
    if count > 1:
        if len(seed_list) != 1:
            raise common.user_error(f"count {count} needs one starting seed (e.g. seeds 10, count 4: seeds 10-13); "
                                    f"got {len(seed_list)} seeds")
        start = seed_list[0]
        if start + count - 1 > MAX_SEED:
            raise common.user_error(f"seeds {start} to {start + count - 1} go beyond the largest seed {MAX_SEED}")
        seed_list = list(range(start, start + count))
    psi = _psi(truncation_psi)
    noise = _noise_mode(noise_mode)
    label = _class_label(_info(model_id), class_label)
    _load(model_id)  # the model's own errors (missing weights, another family) before the GPU part
    images = _run_generate(model_id, seed_list, psi, noise, label)
    return common.served_gallery((im, f"seed {s}") for s, im in zip(seed_list, images))


@common.user_errors
def style_mixing(model_id, row_seeds="0-2", col_seeds="10-13", layer_group="coarse", truncation_psi=0.7,
                 class_label=None, use_projection=False, projection=None):
    """The paper's style-mixing figure: the top row holds the column seeds' images, the left column the row seeds'
    (with ``use_projection``, your projected image first); cell (r, c) is row r with the ``layer_group`` styles
    (coarse: pose and shape, middle: features, fine: colours) of column c. At most 6 rows and 6 columns."""
    model_id = _model_id(model_id)
    use = _flag("use projection", use_projection)
    latent = _projected_latent(projection, model_id, use)
    rows = _seed_list("row seeds", row_seeds, MAX_GRID - int(use), allow_empty=use)
    cols = _seed_list("column seeds", col_seeds, MAX_GRID)
    psi = _psi(truncation_psi)
    label = _class_label(_info(model_id), class_label)
    model = _load(model_id)
    group = _layer_group(model, layer_group)
    row_latents = ([latent] if use else []) + rows
    return common.served_image(_run_mixing(model_id, row_latents, cols, group, psi, label))


@common.user_errors
def interpolate(model_id, start_seed=0, end_seed=1, steps=8, truncation_psi=0.7, class_label=None,
                use_projection=False, projection=None):
    """A straight walk in W from the start seed (or, with ``use_projection``, your projected image) to the end seed:
    ``steps`` frames, both ends included, as a gallery and a looping GIF."""
    model_id = _model_id(model_id)
    use = _flag("use projection", use_projection)
    latent = _projected_latent(projection, model_id, use)
    start = latent if use else common.check_int("start seed", start_seed, 0, MAX_SEED)
    end = common.check_int("end seed", end_seed, 0, MAX_SEED)
    steps = common.check_int("steps", steps, MIN_FRAMES, MAX_FRAMES)
    psi = _psi(truncation_psi)
    label = _class_label(_info(model_id), class_label)
    _load(model_id)
    frames = _run_interpolate(model_id, start, end, steps, psi, label)
    gallery = common.served_gallery((im, f"{k}/{steps - 1}") for k, im in enumerate(frames))
    return gallery, _served_gif(frames)


@common.user_errors
def project(model_id, image, steps=DEFAULT_PROJECT_STEPS, latent_space="W", class_label=None):
    """Find the latent whose image is closest to yours (stylegan2-ada's projector): W (one style vector, easier to
    edit) or W+ (one per layer, closer fit). Returns the target (your image as the generator sees it) and the
    projected image, and keeps the latent for this session (use it in style mixing and interpolation)."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    steps = common.check_int("steps", steps, MIN_PROJECT_STEPS, MAX_PROJECT_STEPS)
    space = common.check_choice("latent space", latent_space, LATENT_SPACES, owner="projection")
    label = _class_label(_info(model_id), class_label)
    _load(model_id)
    result = _run_project(model_id, source, steps, space == "W+", label)
    final = result.losses[-1] if result.losses else float("nan")
    gallery = common.served_gallery([(result.target, "target (your image, as the model sees it)"),
                                     (result.image, f"projected ({space}, {steps} steps, {result.distance} "
                                                    f"distance {final:.4g})")])
    state = {"model": model_id, "latent": result.latent.detach().cpu(), "space": space}
    return gallery, state


@common.user_errors
def model_info(model_id: str = "") -> dict:
    """What a model is: architecture, resolution, classes (conditional models) and its layer groups."""
    model_id = _model_id(model_id)
    info = _info(model_id)
    model = _load(model_id)
    info["layer_groups"] = model.layer_groups()
    info["num_ws"] = model.num_ws
    return info


def _on_model_change(model_id):
    info = {}
    if model_id in MODEL_IDS:
        try:
            info = _info(model_id)
        except Exception:  # noqa: BLE001 - the summary says why
            info = {}
    classes = info.get("classes") or []
    return (gr.Dropdown(choices=[(f"{i}: {c}", i) for i, c in enumerate(classes)],
                        value=0 if classes else None, visible=bool(classes)),
            _model_summary(model_id))


def _projection_note(state) -> str:
    if isinstance(state, dict) and state.get("latent") is not None:
        return f"Projected latent kept for this session ({state.get('space')}, model {state.get('model')})."
    return "No projected image yet."


# ---------------------------------------------------------------------------------------------
# UI


def _examples() -> list[tuple[str, str]]:
    return common.synthfaces_examples([(0, None), (1, None), (2, None)], prefix="project")


EXAMPLES = _examples()


def example_request() -> dict:
    """A typical request of this Space (endpoint and arguments), for load tests."""
    label = 0 if DEFAULT_MODEL and _info_or_empty(DEFAULT_MODEL).get("conditional") else None
    return {"api_name": "/generate", "args": [DEFAULT_MODEL or "", "0-3", 1, 0.7, "const", label]}


def _info_or_empty(model_id) -> dict:
    try:
        return _info(model_id) if model_id else {}
    except Exception:  # noqa: BLE001
        return {}


_info0 = _info_or_empty(DEFAULT_MODEL)
_classes0 = _info0.get("classes") or []

INTRO = f"""# StyleGAN / StyleGAN2
Style-based generators ([StyleGAN, Karras et al., CVPR 2019](https://arxiv.org/abs/1812.04948);
[StyleGAN2, CVPR 2020](https://arxiv.org/abs/1912.04958)): every seed is an image. **Truncation psi** trades
variety for quality (1: none, 0.7: the usual, 0: the average image). Mix the styles of two sets of seeds, walk
between two seeds, or project your own image and use it like a seed. Models come from the
[hubmodels](https://github.com/hubmodels/hubmodels) local hub (extra Hub ids: environment variable `{ENV_VAR}`)."""

NO_MODEL = f"""> **No {FAMILY_LABEL} model is available.** Publish one into the local hub (`{common.local_hub_dir()}`,
> e.g. train with `python -m {SPEC.training} --publish hubmodels/<name>`, or convert official weights with
> `python -m hubmodels convert stylegan2 ffhq.pkl --out ...`) or list Hugging Face Hub ids in `{ENV_VAR}`, then
> restart."""

with gr.Blocks(title="StyleGAN · hubmodels") as demo:
    gr.Markdown(INTRO)
    if not MODEL_IDS:
        gr.Markdown(NO_MODEL)
    projection_state = gr.State(None)
    with gr.Row():
        model_box = gr.Dropdown(MODEL_IDS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, scale=2)
        model_text = gr.Markdown(_model_summary(DEFAULT_MODEL))
    with gr.Row():
        psi_box = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation psi",
                            info="1: no truncation (more variety), 0: the average image")
        class_box = gr.Dropdown([(f"{i}: {c}", i) for i, c in enumerate(_classes0)],
                                value=0 if _classes0 else None, label="Class (conditional models)",
                                visible=bool(_classes0))
    with gr.Tabs():
        with gr.Tab("Generate"):
            with gr.Row():
                seeds_box = gr.Textbox("0-3", label="Seeds", info=f"e.g. \"0-3, 7\"; 0 to {MAX_SEED}; "
                                                                  f"at most {MAX_IMAGES} images")
                count_box = gr.Slider(1, MAX_IMAGES, value=1, step=1, label="Count",
                                      info="> 1: this many consecutive seeds from one starting seed")
                noise_box = gr.Radio(list(NOISE_MODES), value="const", label="Noise",
                                     info="const: fixed per model, random: drawn from each seed, none: off")
            generate_btn = gr.Button("Generate", variant="primary")
            generate_gallery = gr.Gallery(label="Images", format="png", columns=8, height="auto")
        with gr.Tab("Style mixing"):
            with gr.Row():
                rows_box = gr.Textbox("0-2", label="Row seeds", info=f"at most {MAX_GRID}; the left column")
                cols_box = gr.Textbox("10-13", label="Column seeds", info=f"at most {MAX_GRID}; the top row")
                group_box = gr.Radio(list(LAYER_GROUPS), value="coarse", label="Styles taken from the columns",
                                     info="coarse: pose, shape; middle: features, hair; fine: colours, detail")
            mix_use_box = gr.Checkbox(False, label="Use my projected image as the first row")
            mix_btn = gr.Button("Mix", variant="primary")
            mix_image = gr.Image(label="Style mixing", type="filepath", format="png", interactive=False)
        with gr.Tab("Interpolation"):
            with gr.Row():
                start_box = gr.Number(0, label="Start seed", precision=None)
                end_box = gr.Number(1, label="End seed", precision=None)
                steps_box = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=8, step=1, label="Frames")
            walk_use_box = gr.Checkbox(False, label="Start from my projected image")
            walk_btn = gr.Button("Interpolate", variant="primary")
            with gr.Row():
                walk_gallery = gr.Gallery(label="Frames", format="png", columns=8, height="auto", scale=3)
                walk_gif = gr.Image(label="Animation (GIF)", type="filepath", interactive=False, scale=1)
        with gr.Tab("Your image"):
            with gr.Row():
                with gr.Column():
                    upload_box = gr.Image(label="Image to project", type="filepath", format="png",
                                          sources=["upload", "clipboard"], height=240)
                    gr.Examples([[p] for p, _ in EXAMPLES], inputs=[upload_box], cache_examples=False,
                                example_labels=[label for _, label in EXAMPLES], label="SynthFaces examples")
                    project_steps_box = gr.Slider(MIN_PROJECT_STEPS, MAX_PROJECT_STEPS, value=DEFAULT_PROJECT_STEPS,
                                                  step=10, label="Optimisation steps",
                                                  info="more: a closer fit, slower (about 1000 in the paper)")
                    space_box = gr.Radio(list(LATENT_SPACES), value="W", label="Latent space",
                                         info="W: one style vector (edits well); W+: one per layer (fits closer)")
                    project_btn = gr.Button("Project", variant="primary")
                with gr.Column():
                    project_gallery = gr.Gallery(label="Target and projection", format="png", columns=2,
                                                 height="auto")
                    project_note = gr.Markdown(_projection_note(None))

    # preprocess=False: the functions get the raw values and validate them all themselves (see common.py).
    # concurrency_id: one model call at a time across the tabs (projection trains through the shared model).
    model_box.change(_on_model_change, model_box, [class_box, model_text], api_visibility="private")
    generate_btn.click(generate, [model_box, seeds_box, count_box, psi_box, noise_box, class_box], generate_gallery,
                       api_name="generate", preprocess=False, concurrency_id="model")
    mix_btn.click(style_mixing, [model_box, rows_box, cols_box, group_box, psi_box, class_box, mix_use_box,
                                 projection_state], mix_image,
                  api_name="style_mixing", preprocess=False, concurrency_id="model")
    walk_btn.click(interpolate, [model_box, start_box, end_box, steps_box, psi_box, class_box, walk_use_box,
                                 projection_state], [walk_gallery, walk_gif],
                   api_name="interpolate", preprocess=False, concurrency_id="model")
    project_btn.click(project, [model_box, upload_box, project_steps_box, space_box, class_box],
                      [project_gallery, projection_state], api_name="project", preprocess=False,
                      concurrency_id="model").then(_projection_note, projection_state, project_note,
                                                   api_visibility="private")
    gr.api(model_info, api_name="model_info")
    gr.api(example_request, api_name="example_request")
    # a bounded queue: under load, requests wait their turn (one model call at a time) instead of piling up
    demo.queue(default_concurrency_limit=1, max_size=64)


if __name__ == "__main__":
    common.warm_up(demo, example_request)  # overlaps the server's start-up
    demo.launch(**common.launch_kwargs())
