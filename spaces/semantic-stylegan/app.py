"""SemanticStyleGAN Space: generate faces with their class maps, then edit them one semantic region at a time: give
a region a new shape or a new texture from another seed, walk a region from one seed to another, or watch the
classes composed one by one.

    python spaces/semantic-stylegan/app.py   # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Models: every SemanticStyleGAN model in the local hub, plus the Hub ids or folders listed in
HUBMODELS_SEMANTIC_STYLEGAN_MODELS (comma-separated). HUBMODELS_DEVICE (cpu/cuda/auto) and HUBMODELS_DTYPE
(auto/fp32/fp16/bf16) choose where and how they run: CPU, and the fastest path this machine measures within PSNR
40 dB of fp32 (``dtype="auto"``), by default.

API (gradio_client): /generate, /edit_regions, /interpolate_region, /components, /model_info, /example_request (a
typical request, for ``python -m demos.loadtest semantic-stylegan``).
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

from hubmodels.semantic_stylegan.inference import MAX_SEED, NOISE_MODES, PARTS  # noqa: E402
from hubmodels.semantic_stylegan.model import CELEBAMASKHQ_CLASSES, default_palette  # noqa: E402

SPEC = common.space_spec("semantic-stylegan")
FAMILIES = SPEC.converter_families  # ("semantic_stylegan",)
FAMILY_LABEL = SPEC.title
ENV_VAR = common.models_env_var(SPEC.name)  # HUBMODELS_SEMANTIC_STYLEGAN_MODELS
PREFERRED = "hubmodels/semantic-stylegan-synthfaces"
MAX_IMAGES = 16  # seeds per /generate request
MAX_VARIATIONS = 8  # new seeds per /edit_regions request
MIN_FRAMES, MAX_FRAMES = 2, 16
COARSE = "coarse"  # the pseudo-region of the codes shared by every foreground class (the layout)
GIF_FPS = 8

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


def _info(model_id: str) -> dict:
    """Classes, colours and sizes of a model from its config.json (the constructor's defaults where it has none)."""
    config = common.model_config(model_id)
    seg_dim = int(config.get("seg_dim") or 13)
    names = config.get("class_names")
    if not (isinstance(names, list) and len(names) == seg_dim):
        names = list(CELEBAMASKHQ_CLASSES) if seg_dim == len(CELEBAMASKHQ_CLASSES) else \
            ["background"] + [f"class_{k}" for k in range(1, seg_dim)]
    palette = config.get("palette")
    if not (isinstance(palette, list) and len(palette) == seg_dim):
        palette = default_palette(seg_dim)
    base_layers = int(config.get("base_layers", 2) or 0)
    return {
        "model": model_id,
        "architecture": config.get("architecture"),
        "family": config.get("family"),
        "resolution": int(config.get("size") or 0),
        "style_dim": config.get("style_dim"),
        "classes": [str(n) for n in names],
        "palette": [[int(v) for v in c] for c in palette],
        "n_latent": base_layers + 2 * seg_dim,
        "coarse_codes": base_layers,
    }


def _info_or_empty(model_id) -> dict:
    try:
        return _info(model_id) if model_id else {}
    except Exception:  # noqa: BLE001 - unreadable here means "unknown yet"; running it reports the cause
        return {}


def _region_choices(info: dict) -> list[str]:
    """What the region picker offers: the model's classes, then the shared layout codes (when it has any)."""
    classes = list(info.get("classes") or [])
    if info.get("coarse_codes") and COARSE not in classes:
        classes.append(COARSE)
    return classes


def _model_summary(model_id) -> str:
    if not model_id:
        return ""
    try:
        info = _info(model_id)
    except Exception as err:  # noqa: BLE001
        return f"**{model_id}**: could not read its config.json ({type(err).__name__}: {err})"
    return (f"**{model_id}**: {info['architecture']}, {info['resolution']}x{info['resolution']} px, "
            f"{len(info['classes'])} classes, {info['n_latent']} latent codes. "
            f"Runs on {common.runtime_device()} (dtype {common.runtime_dtype()}).")


def _legend(model_id) -> str:
    """The classes in their class-map colours."""
    info = _info_or_empty(model_id)
    if not info:
        return ""
    swatches = " ".join(
        f"<span style='white-space:nowrap'><span style='display:inline-block;width:0.9em;height:0.9em;"
        f"background:rgb({r},{g},{b});border:1px solid #888;vertical-align:middle'></span> {name}</span>"
        for name, (r, g, b) in zip(info["classes"], info["palette"]))
    return f"Classes: {swatches}"


# ---------------------------------------------------------------------------------------------
# inputs

_TOKEN = re.compile(r"^([+-]?\d+)(?:\s*(?:-|\.\.)\s*([+-]?\d+))?$")


def _seed_list(name: str, value, limit: int) -> list[int]:
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
    if not seeds:
        raise common.user_error(f"{name}: enter at least one seed (e.g. \"0-3, 7\")")
    if len(seeds) > limit:
        raise common.user_error(f"{name}: at most {limit} per request, got {len(seeds)}")
    return seeds


def _seed(name: str, value) -> int:
    return common.check_int(name, value, 0, MAX_SEED)


def _psi(value) -> float:
    return common.check_float("truncation psi", value, 0.0, 1.0)


def _noise_mode(value) -> str:
    return common.check_choice("noise mode", value, NOISE_MODES, owner="SemanticStyleGAN")


def _part(value) -> str:
    return common.check_choice("part", value, PARTS, owner="region editing")


def _flag(name: str, value) -> bool:
    if value is None or value == "":
        return False
    if not isinstance(value, bool):
        raise common.user_error(f"{name} must be true or false, got {value!r}")
    return value


def _regions(info: dict, value, part: str) -> list[str]:
    """Region names from the picker (a list) or an API call (a list, or a comma-separated text), checked against
    the model's classes; ``coarse`` (the shared layout codes) only for a shape edit."""
    accepted = _region_choices(info)
    listing = ", ".join(accepted)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if value is None or (isinstance(value, (list, tuple)) and not value):
        raise common.user_error(f"choose at least one region: {listing}")
    if not isinstance(value, (list, tuple)):
        raise common.user_error(f"regions must be a list of class names ({listing}), got {value!r}")
    regions: list[str] = []
    for region in value:
        if not isinstance(region, str) or region not in accepted:
            raise common.user_error(f"unknown region {region!r}; model {info['model']} has the regions: {listing}")
        if region not in regions:
            regions.append(region)
    if COARSE in regions and COARSE not in info["classes"] and part == "texture":
        raise common.user_error(f"{COARSE!r} names the shared layout codes, which only drive shape: choose the part "
                                f"\"shape\" or \"both\" for it, or leave it out of a texture edit")
    return regions


def _region_text(regions: list[str], part: str) -> str:
    what = {"shape": "shape", "texture": "texture", "both": "shape + texture"}[part]
    return f"{', '.join(regions)} {what}"


# ---------------------------------------------------------------------------------------------
# inference (validation first, on CPU; only then the GPU-decorated part)


@common.gpu
def _run_generate(model_id: str, seeds: list[int], psi: float, noise_mode: str):
    return common.load_model(model_id).generate(seeds, psi, noise_mode)


@common.gpu
def _run_edit(model_id: str, base: int, regions: list[str], part: str, sources: list[int], psi: float):
    """[original] + one edited sample per source seed, as one batch (the library's ``edit_variations``: the
    images ``edit`` gives, with the original and the untouched regions computed once)."""
    return common.load_model(model_id).edit_variations(base, regions, sources, part=part, truncation_psi=psi)


@common.gpu
def _run_interpolate(model_id: str, base: int, regions: list[str], target: int, steps: int, part: str, psi: float):
    return common.load_model(model_id).interpolate_region(base, regions, target, steps, part=part,
                                                          truncation_psi=psi)


@common.gpu
def _run_components(model_id: str, seed: int, psi: float):
    return common.load_model(model_id).components(seed, truncation_psi=psi)


def _save_gif(frames, path) -> None:
    """A looping GIF that plays the walk there and back (no jump at the loop)."""
    frames = list(frames) + list(frames)[-2:0:-1]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / GIF_FPS),
                   loop=0)


def _served_gif(frames) -> str:
    """The frames as a looping GIF file of its own (see ``common.served_file``)."""
    return common.served_file(lambda path: _save_gif(frames, path), ".gif")


@common.user_errors
def generate(model_id, seeds="0-3", truncation_psi=0.7, noise_mode="const", with_mask=False):
    """Per seed: the image and its class map blended over it (with ``with_mask``, the class map alone too).
    ``seeds``: a text of seeds and ranges ("0-3, 7"), a number or a list; at most 16."""
    model_id = _model_id(model_id)
    seed_list = _seed_list("seeds", seeds, MAX_IMAGES)
    psi = _psi(truncation_psi)
    noise = _noise_mode(noise_mode)
    mask = _flag("with mask", with_mask)
    _load(model_id)  # the model's own errors (missing weights, another family) before the GPU part
    samples = _run_generate(model_id, seed_list, psi, noise)
    items = []
    for s, sample in zip(seed_list, samples):
        items += [(sample.image, f"seed {s}"), (sample.overlay, f"seed {s}: classes")]
        if mask:
            items.append((sample.mask, f"seed {s}: class map"))
    return common.served_gallery(items)


@common.user_errors
def edit_regions(model_id, base_seed=0, regions=None, part="texture", new_seed=100, variations=4,
                 truncation_psi=0.7):
    """The base seed's face, then ``variations`` edits of it: each takes the ``part`` code(s) (shape, texture or
    both) of the chosen ``regions`` from seeds ``new_seed``, ``new_seed + 1``, ...; every other code stays the base
    seed's, so only those regions change. Returns image and class overlay of the original, then of each edit."""
    model_id = _model_id(model_id)
    base = _seed("base seed", base_seed)
    part = _part(part)
    info = _info(model_id)
    region_list = _regions(info, regions, part)
    first = _seed("new seed", new_seed)
    count = common.check_int("variations", variations, 1, MAX_VARIATIONS)
    if first + count - 1 > MAX_SEED:
        raise common.user_error(f"new seeds {first} to {first + count - 1} go beyond the largest seed {MAX_SEED}")
    psi = _psi(truncation_psi)
    _load(model_id)
    sources = list(range(first, first + count))
    samples = _run_edit(model_id, base, region_list, part, sources, psi)
    what = _region_text(region_list, part)
    items = [(samples[0].image, f"original (seed {base})"), (samples[0].overlay, f"seed {base}: classes")]
    for s, sample in zip(sources, samples[1:]):
        items += [(sample.image, f"{what} from seed {s}"), (sample.overlay, f"seed {s}'s {what}: classes")]
    return common.served_gallery(items)


@common.user_errors
def interpolate_region(model_id, base_seed=0, target_seed=1, regions=None, part="both", steps=8,
                       truncation_psi=0.7):
    """The paper's local interpolation: the ``part`` code(s) of ``regions`` walk linearly from the base seed's to
    the target seed's while every other code stays the base seed's; ``steps`` frames (both ends included), as a
    gallery and a looping GIF."""
    model_id = _model_id(model_id)
    base = _seed("base seed", base_seed)
    target = _seed("target seed", target_seed)
    part = _part(part)
    region_list = _regions(_info(model_id), regions, part)
    steps = common.check_int("steps", steps, MIN_FRAMES, MAX_FRAMES)
    psi = _psi(truncation_psi)
    _load(model_id)
    samples = _run_interpolate(model_id, base, region_list, target, steps, part, psi)
    frames = [s.image for s in samples]
    gallery = common.served_gallery((im, f"{k}/{steps - 1}") for k, im in enumerate(frames))
    return gallery, _served_gif(frames)


@common.user_errors
def components(model_id, seed=0, truncation_psi=0.7):
    """The paper's component figure: the background alone, then each class added in turn (image and overlay)."""
    model_id = _model_id(model_id)
    s = _seed("seed", seed)
    psi = _psi(truncation_psi)
    _load(model_id)
    parts = _run_components(model_id, s, psi)
    items = []
    for k, (name, sample) in enumerate(parts):
        label = name if k == 0 else f"+ {name}"
        items += [(sample.image, label), (sample.overlay, f"{label}: classes")]
    return common.served_gallery(items)


@common.user_errors
def model_info(model_id: str = "") -> dict:
    """What a model is: resolution, classes and their colours, and which latent codes drive which region."""
    model_id = _model_id(model_id)
    info = _info(model_id)
    model = _load(model_id)
    info["classes"] = list(model.class_names)
    info["palette"] = [list(c) for c in model.palette]
    info["resolution"] = model.size
    info["n_latent"] = model.n_latent
    info["regions"] = _region_choices(info)
    info["latent_layout"] = model.latent_layout()
    return info


def _on_model_change(model_id):
    info = _info_or_empty(model_id) if model_id in MODEL_IDS else {}
    choices = _region_choices(info)
    value = [_default_region(info)] if choices else []
    picker = gr.CheckboxGroup(choices=choices, value=value)
    return picker, gr.CheckboxGroup(choices=choices, value=value), _model_summary(model_id), _legend(model_id)


def _default_region(info: dict) -> str:
    """A region worth editing first: hair when the model has it, else the first foreground class."""
    classes = list(info.get("classes") or [])
    for name in ("hair", "face", "skin"):
        if name in classes:
            return name
    return classes[1] if len(classes) > 1 else (classes[0] if classes else "hair")


# ---------------------------------------------------------------------------------------------
# UI


def example_request() -> dict:
    """A typical request of this Space (endpoint and arguments), for load tests."""
    region = _default_region(_info_or_empty(DEFAULT_MODEL))
    return {"api_name": "/edit_regions", "args": [DEFAULT_MODEL or "", 0, [region], "texture", 100, 4, 0.7]}


_info0 = _info_or_empty(DEFAULT_MODEL)
_regions0 = _region_choices(_info0)
_region0 = [_default_region(_info0)] if _regions0 else []

INTRO = f"""# SemanticStyleGAN
A StyleGAN whose latent space is split by semantic region
([SemanticStyleGAN, Shi et al., CVPR 2022](https://arxiv.org/abs/2112.02236)):
every seed is a face **and its segmentation**, and each class (hair, eyes, mouth, ...) has a *shape* code (where it
is) and a *texture* code (what it looks like) of its own. Give chosen regions the shape or texture of other seeds
while the rest of the face stays as it was, walk one region between two seeds, or watch a face composed class by
class. **Truncation psi** trades variety for quality (1: none, 0.7: the usual, 0: the average face). Models come
from the [hubmodels](https://github.com/hubmodels/hubmodels) local hub (extra Hub ids: environment variable
`{ENV_VAR}`)."""

NO_MODEL = f"""> **No {FAMILY_LABEL} model is available.** Publish one into the local hub (`{common.local_hub_dir()}`,
> e.g. train with `python -m {SPEC.training} --publish hubmodels/<name>`, or convert the official weights with
> `python -m hubmodels convert semantic_stylegan CelebAMask-HQ-512x512.pt --out ...`) or list Hugging Face Hub ids
> in `{ENV_VAR}`, then restart."""

PART_INFO = "shape: where the region is (its outline); texture: what it looks like (colour, detail); both"

with gr.Blocks(title="SemanticStyleGAN · hubmodels") as demo:
    gr.Markdown(INTRO)
    if not MODEL_IDS:
        gr.Markdown(NO_MODEL)
    with gr.Row():
        model_box = gr.Dropdown(MODEL_IDS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, scale=2)
        model_text = gr.Markdown(_model_summary(DEFAULT_MODEL))
    legend = gr.Markdown(_legend(DEFAULT_MODEL))
    psi_box = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation psi",
                        info="1: no truncation (more variety), 0: the average face")
    with gr.Tabs():
        with gr.Tab("Generate"):
            with gr.Row():
                seeds_box = gr.Textbox("0-3", label="Seeds", info=f"e.g. \"0-3, 7\"; 0 to {MAX_SEED}; "
                                                                  f"at most {MAX_IMAGES}")
                noise_box = gr.Radio(list(NOISE_MODES), value="const", label="Noise",
                                     info="const: fixed per model, random: drawn from each seed, none: off")
                mask_box = gr.Checkbox(False, label="Also show the class map alone")
            generate_btn = gr.Button("Generate", variant="primary")
            generate_gallery = gr.Gallery(label="Images and their classes", format="png", columns=6, height="auto")
        with gr.Tab("Edit regions"):
            with gr.Row():
                base_box = gr.Number(0, label="Base seed", precision=None)
                new_box = gr.Number(100, label="New seed", precision=None,
                                    info="the chosen regions' codes come from this seed and the next ones")
                count_box = gr.Slider(1, MAX_VARIATIONS, value=4, step=1, label="Variations")
            regions_box = gr.CheckboxGroup(_regions0, value=_region0, label="Regions",
                                           info=f"{COARSE}: the codes shared by all classes (the overall layout)")
            part_box = gr.Radio(list(PARTS), value="texture", label="Part", info=PART_INFO)
            edit_btn = gr.Button("Edit", variant="primary")
            edit_gallery = gr.Gallery(label="Original, then the edits (image and classes)", format="png", columns=6,
                                      height="auto")
        with gr.Tab("Interpolate a region"):
            with gr.Row():
                walk_base_box = gr.Number(0, label="Base seed", precision=None)
                walk_target_box = gr.Number(1, label="Target seed", precision=None)
                steps_box = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=8, step=1, label="Frames")
            walk_regions_box = gr.CheckboxGroup(_regions0, value=_region0, label="Regions")
            walk_part_box = gr.Radio(list(PARTS), value="both", label="Part", info=PART_INFO)
            walk_btn = gr.Button("Interpolate", variant="primary")
            with gr.Row():
                walk_gallery = gr.Gallery(label="Frames", format="png", columns=8, height="auto", scale=3)
                walk_gif = gr.Image(label="Animation (GIF)", type="filepath", interactive=False, scale=1)
        with gr.Tab("Components"):
            gr.Markdown("The paper's component figure: the background alone, then each class added in turn.")
            comp_seed_box = gr.Number(0, label="Seed", precision=None)
            comp_btn = gr.Button("Compose", variant="primary")
            comp_gallery = gr.Gallery(label="Classes added one by one", format="png", columns=6, height="auto")

    # preprocess=False: the functions get the raw values and validate them all themselves (see common.py).
    # concurrency_id: one model call at a time across the tabs.
    model_box.change(_on_model_change, model_box, [regions_box, walk_regions_box, model_text, legend],
                     api_visibility="private")
    generate_btn.click(generate, [model_box, seeds_box, psi_box, noise_box, mask_box], generate_gallery,
                       api_name="generate", preprocess=False, concurrency_id="model")
    edit_btn.click(edit_regions, [model_box, base_box, regions_box, part_box, new_box, count_box, psi_box],
                   edit_gallery, api_name="edit_regions", preprocess=False, concurrency_id="model")
    walk_btn.click(interpolate_region, [model_box, walk_base_box, walk_target_box, walk_regions_box, walk_part_box,
                                        steps_box, psi_box], [walk_gallery, walk_gif],
                   api_name="interpolate_region", preprocess=False, concurrency_id="model")
    comp_btn.click(components, [model_box, comp_seed_box, psi_box], comp_gallery, api_name="components",
                   preprocess=False, concurrency_id="model")
    gr.api(model_info, api_name="model_info")
    gr.api(example_request, api_name="example_request")
    # a bounded queue: under load, requests wait their turn (one model call at a time) instead of piling up
    demo.queue(default_concurrency_limit=1, max_size=64)


if __name__ == "__main__":
    common.warm_up(demo, example_request)  # overlaps the server's start-up
    demo.launch(**common.launch_kwargs())
