"""StarGAN v2 Space: translate an image into another domain, with random styles (latent-guided) or the
style of a reference image (reference-guided).

    python spaces/stargan-v2/app.py          # serves on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860)

Models: every StarGAN v2 model in the local hub, plus the Hub ids or folders listed in
HUBMODELS_STARGAN_V2_MODELS (comma-separated). HUBMODELS_DEVICE (cpu/cuda/auto) and HUBMODELS_DTYPE
(auto/fp32/fp16/bf16) choose where and how they run: CPU, and the fastest path this machine measures within
PSNR 40 dB of fp32 (``dtype="auto"``), by default.

API (gradio_client): /latent_guided, /reference_guided, /interpolate, /domains.
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


SPEC = common.space_spec("stargan-v2")
FAMILIES = SPEC.converter_families
FAMILY_LABEL = SPEC.title
ENV_VAR = common.models_env_var(SPEC.name)
PREFERRED = "hubmodels/stargan-v2-synthfaces"
MAX_SAMPLES = 16
MAX_STEPS = 16
MAX_SEED = 2**31 - 1

MODEL_IDS: list[str] = common.discover_models(FAMILIES, env_var=ENV_VAR)
DEFAULT_MODEL: str | None = common.default_model(MODEL_IDS, PREFERRED)
if DEFAULT_MODEL is not None:  # the default first: an empty model id in an API call means it
    MODEL_IDS.remove(DEFAULT_MODEL)
    MODEL_IDS.insert(0, DEFAULT_MODEL)


# ---------------------------------------------------------------------------------------------
# models


def _model_domains(model_id: str | None) -> list[str]:
    """A model's domain names from its config (the weights are not loaded for this)."""
    if not model_id:
        return []
    try:
        config = common.model_config(model_id)
    except Exception:  # noqa: BLE001 - unreadable here means "unknown yet"; running it reports the cause
        return []
    return list(config.get("domains") or [f"domain{i}" for i in range(int(config.get("num_domains") or 0))])


def _model_summary(model_id: str | None) -> str:
    if not model_id:
        return ""
    try:
        config = common.model_config(model_id)
    except Exception as err:  # noqa: BLE001
        return f"**{model_id}**: could not read its config.json ({type(err).__name__}: {err})"
    domains = ", ".join(_model_domains(model_id)) or "?"
    hpf = " with high-pass face-mask skips (FAN)" if config.get("w_hpf") else ""
    return (f"**{model_id}**: {config.get('img_size')}x{config.get('img_size')} px{hpf}; domains: {domains}. "
            f"Runs on {common.runtime_device()} (dtype {common.runtime_dtype()}).")


def _model_id(model_id: str | None) -> str:
    """The model a request names, checked against the models this Space offers (empty: the default)."""
    return common.check_model_id(model_id, MODEL_IDS, family_label=FAMILY_LABEL, env_var=ENV_VAR)


def _load(model_id: str):
    return common.load_model(model_id, families=FAMILIES)


def _domain(model_id: str, model, value, what: str) -> str:
    return common.check_choice(what, value, list(model.domains), owner=f"model {model_id}")


# ---------------------------------------------------------------------------------------------
# inference (validation first, on CPU; only then the GPU-decorated part)


@common.gpu
def _run_latent(model_id: str, image, domain: str, seed: int, num_samples: int, psi: float):
    model = common.load_model(model_id)
    return model.latent_guided(image, domain, num_samples=num_samples, seed=seed, psi=psi)


@common.gpu
def _run_reference(model_id: str, image, reference, reference_domain: str):
    model = common.load_model(model_id)
    return model.reference_guided(image, reference, reference_domain)


@common.gpu
def _run_interpolate(model_id: str, image, domain: str, seed_a: int, seed_b: int, steps: int, psi: float):
    model = common.load_model(model_id)
    return model.interpolate(image, domain, seed_a=seed_a, seed_b=seed_b, steps=steps, psi=psi)


@common.user_errors
def latent_guided(model_id, image, target_domain, seed=0, num_samples=4, psi=1.0):
    """Translate the source image into ``target_domain`` with ``num_samples`` random styles
    (latent seeds seed, seed+1, ...). Returns the gallery: (image, caption) pairs."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    domain = _domain(model_id, _load(model_id), target_domain, "target domain")
    seed = common.check_int("seed", seed, 0, MAX_SEED)
    num_samples = common.check_int("number of samples", num_samples, 1, MAX_SAMPLES)
    psi = common.check_float("psi (truncation)", psi, 0.0, 1.0)
    images = _run_latent(model_id, source, domain, seed, num_samples, psi)
    return common.served_gallery((im, f"{domain}, seed {seed + k}") for k, im in enumerate(images))


@common.user_errors
def reference_guided(model_id, image, reference, reference_domain):
    """Translate the source image into the style of ``reference``, an image of ``reference_domain``."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    ref = common.require_image(reference, "reference image")
    domain = _domain(model_id, _load(model_id), reference_domain, "reference domain")
    return common.served_image(_run_reference(model_id, source, ref, domain))


@common.user_errors
def interpolate(model_id, image, target_domain, seed_a=0, seed_b=1, steps=6, psi=1.0):
    """Outputs along the straight line between the styles of two latent seeds."""
    model_id = _model_id(model_id)
    source = common.require_image(image, "source image")
    domain = _domain(model_id, _load(model_id), target_domain, "target domain")
    seed_a = common.check_int("seed A", seed_a, 0, MAX_SEED)
    seed_b = common.check_int("seed B", seed_b, 0, MAX_SEED)
    steps = common.check_int("steps", steps, 2, MAX_STEPS)
    psi = common.check_float("psi (truncation)", psi, 0.0, 1.0)
    images = _run_interpolate(model_id, source, domain, seed_a, seed_b, steps, psi)
    return common.served_gallery((im, f"{k}/{steps - 1}") for k, im in enumerate(images))


@common.user_errors
def domains(model_id: str = "") -> list[str]:
    """The domain names of a model (empty model id: the default model)."""
    model_id = _model_id(model_id)
    return _model_domains(model_id) or list(_load(model_id).domains)


def _on_model_change(model_id):
    """Domain dropdowns follow the chosen model."""
    names = _model_domains(model_id) if model_id in MODEL_IDS else []
    target = names[1] if len(names) > 1 else (names[0] if names else None)
    reference = names[0] if names else None
    return (gr.Dropdown(choices=names, value=target), gr.Dropdown(choices=names, value=reference),
            gr.Dropdown(choices=names, value=target), _model_summary(model_id))


# ---------------------------------------------------------------------------------------------
# UI

def example_request() -> dict:
    """A typical request of this Space (endpoint and arguments; files as {"file": path}), for load tests."""
    return {"api_name": "/latent_guided",
            "args": [DEFAULT_MODEL or "", {"file": SOURCE_EXAMPLES[0][0]}, _target0 or "", 0, 4, 1.0]}


SOURCE_EXAMPLES = common.synthfaces_examples([(0, "cat"), (1, "dog"), (2, "fox")], prefix="source")
REFERENCE_EXAMPLES = common.synthfaces_examples([(10, "cat"), (11, "dog"), (12, "fox")], prefix="reference")

_domains0 = _model_domains(DEFAULT_MODEL)
_target0 = _domains0[1] if len(_domains0) > 1 else (_domains0[0] if _domains0 else None)

INTRO = f"""# StarGAN v2
Diverse image-to-image translation across domains ([Choi et al., CVPR 2020](https://arxiv.org/abs/1912.01865)).
**Latent-guided**: random styles of the target domain drawn from latent seeds. **Reference-guided**: the style
of a reference image. Models come from the [hubmodels](https://github.com/hubmodels/hubmodels) local hub
(extra Hub ids: environment variable `{ENV_VAR}`)."""

NO_MODEL = f"""> **No {FAMILY_LABEL} model is available.** Publish one into the local hub (`{common.local_hub_dir()}`,
> e.g. train with `python -m {SPEC.training} --publish hubmodels/<name>`) or list Hugging Face Hub ids in `{ENV_VAR}`, then restart."""

with gr.Blocks(title="StarGAN v2 · hubmodels") as demo:
    gr.Markdown(INTRO)
    if not MODEL_IDS:
        gr.Markdown(NO_MODEL)
    with gr.Row():
        model_box = gr.Dropdown(MODEL_IDS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True, scale=2)
        model_info = gr.Markdown(_model_summary(DEFAULT_MODEL))
    with gr.Row():
        with gr.Column(scale=1):
            source_box = gr.Image(label="Source image", type="filepath", format="png",
                                           sources=["upload", "clipboard"], height=280)
            gr.Examples([[p] for p, _ in SOURCE_EXAMPLES], inputs=[source_box], cache_examples=False,
                        example_labels=[label for _, label in SOURCE_EXAMPLES], label="SynthFaces examples")
        with gr.Column(scale=2):
            with gr.Tabs():
                with gr.Tab("Latent-guided"):
                    with gr.Row():
                        target_box = gr.Dropdown(_domains0, value=_target0, label="Target domain",
                                                 allow_custom_value=True)
                        seed_box = gr.Number(0, label="Seed", precision=None, info=f"0 to {MAX_SEED}")
                    with gr.Row():
                        samples_box = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label="Number of samples")
                        psi_box = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="psi (truncation)",
                                                   info="1: no truncation; lower: closer to the domain's mean style")
                    latent_btn = gr.Button("Translate", variant="primary")
                    latent_gallery = gr.Gallery(label="Samples", format="png", columns=4, height="auto")
                with gr.Tab("Reference-guided"):
                    with gr.Row():
                        with gr.Column():
                            reference_box = gr.Image(label="Reference image", type="filepath", format="png",
                                                     sources=["upload", "clipboard"], height=220)
                            gr.Examples([[p] for p, _ in REFERENCE_EXAMPLES], inputs=[reference_box],
                                        cache_examples=False, label="SynthFaces references",
                                        example_labels=[label for _, label in REFERENCE_EXAMPLES])
                            ref_domain_box = gr.Dropdown(_domains0, value=_domains0[0] if _domains0 else None,
                                                         label="Reference domain",
                                                         info="the domain the reference image belongs to "
                                                              "(and the output's)", allow_custom_value=True)
                            reference_btn = gr.Button("Translate", variant="primary")
                        reference_out = gr.Image(label="Result", type="filepath", format="png", interactive=False)
                with gr.Tab("Interpolation"):
                    with gr.Row():
                        interp_domain_box = gr.Dropdown(_domains0, value=_target0, label="Target domain",
                                                        allow_custom_value=True)
                        seed_a_box = gr.Number(0, label="Seed A", precision=None)
                        seed_b_box = gr.Number(1, label="Seed B", precision=None)
                        steps_box = gr.Slider(2, MAX_STEPS, value=6, step=1, label="Steps")
                    interp_btn = gr.Button("Interpolate", variant="primary")
                    interp_gallery = gr.Gallery(label="From seed A to seed B", format="png", columns=6, height="auto")

    # preprocess=False: the functions get the raw values and validate them all themselves (see common.py).
    model_box.change(_on_model_change, model_box, [target_box, ref_domain_box, interp_domain_box, model_info],
                     api_visibility="private")
    latent_btn.click(latent_guided, [model_box, source_box, target_box, seed_box, samples_box, psi_box],
                     latent_gallery, api_name="latent_guided", preprocess=False)
    reference_btn.click(reference_guided, [model_box, source_box, reference_box, ref_domain_box], reference_out,
                        api_name="reference_guided", preprocess=False)
    interp_btn.click(interpolate, [model_box, source_box, interp_domain_box, seed_a_box, seed_b_box, steps_box],
                     interp_gallery, api_name="interpolate", preprocess=False)
    gr.api(domains, api_name="domains")
    gr.api(example_request, api_name="example_request")
    # a bounded queue: under load, requests wait their turn (one model call at a time) instead of piling up
    demo.queue(default_concurrency_limit=1, max_size=64)


if __name__ == "__main__":
    common.warm_up(demo, example_request)  # overlaps the server's start-up
    demo.launch(**common.launch_kwargs())
