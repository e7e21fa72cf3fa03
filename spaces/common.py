"""Pieces every hubmodels Space shares: model discovery and cached loading, the ZeroGPU decorator,
input validation that turns bad input into a ``gr.Error`` message, and SynthFaces example images.

Validation works on raw values: apps register their events with ``preprocess=False`` so that every
input (an unreadable upload, text in a number box, a slider value out of range) reaches these checks
and is answered with a message saying what is accepted, instead of failing inside Gradio's own
preprocessing with a generic error.

An app imports this module *before* anything that imports torch (``hubmodels`` does), because on
ZeroGPU hardware the ``spaces`` package must patch CUDA start-up before torch sees it.

Environment variables read at call time (so tests can set them):

* ``HUBMODELS_HUB``: the local hub folder (read by ``hubmodels.hub.local_hub_dir``);
* ``HUBMODELS_<FAMILY>_MODELS``: extra comma-separated Hub ids or folder paths a Space offers,
  e.g. ``HUBMODELS_STARGAN_V2_MODELS=org/my-stargan,/data/my-model``;
* ``HUBMODELS_DEVICE``: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``;
* ``HUBMODELS_WARMUP``: ``0`` turns off the background request a Space answers while it starts (``warm_up``);
* ``HUBMODELS_DTYPE``: ``auto`` (default: the fastest inference path this machine measures within PSNR 40 dB
  of fp32, see ``HubModel.optimize_for_inference``), ``float32`` (exact), ``float16``/``fp16``,
  ``bfloat16``/``bf16``.
"""
from __future__ import annotations

try:  # ZeroGPU: must come before torch. Outside Hugging Face the package is usually absent.
    import spaces as _spaces
except ImportError:
    _spaces = None
# Inside the repository `spaces/` (this folder) also imports as an empty namespace package, so the
# package's presence alone proves nothing: only a real `spaces.GPU` counts.
_SPACES_GPU = getattr(_spaces, "GPU", None)

import atexit  # noqa: E402
import functools  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterable, Sequence, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402

from hubmodels.hub import (  # noqa: E402
    CONFIG_NAME,
    HubModel,
    ModelNotFoundError,
    load,
    local_hub_dir,
    resolve,
)
from hubmodels.__main__ import local_models  # noqa: E402
from hubmodels.family import FamilySpec  # noqa: E402
from hubmodels.images import ImageInputError, load_image  # noqa: E402
from hubmodels.registry import space_spec as _space_spec  # noqa: E402

__all__ = [
    "space_spec", "HAS_ZEROGPU", "gpu", "models_env_var", "discover_models", "default_model",
    "runtime_device", "runtime_dtype", "load_model", "model_config", "clear_model_cache", "user_error",
    "user_errors", "check_model_id", "require_image", "check_int", "check_float", "check_choice",
    "synthfaces_examples", "warm_up", "launch_kwargs", "served_image", "served_gallery",
]

F = TypeVar("F", bound=Callable[..., Any])

HAS_ZEROGPU = _SPACES_GPU is not None


# ---------------------------------------------------------------------------------------------
# GPU


def gpu(fn: F | None = None, *, duration: int = 60) -> Any:
    """``spaces.GPU(duration=...)`` when the ``spaces`` package is there, otherwise the function itself.

    Use as ``@gpu`` or ``@gpu(duration=120)``. Put validation outside the decorated function so bad
    input never costs GPU quota.
    """
    def wrap(f: F) -> F:
        if _SPACES_GPU is None:
            return f
        return _SPACES_GPU(duration=duration)(f)

    return wrap(fn) if fn is not None else wrap


# ---------------------------------------------------------------------------------------------
# model discovery and loading


def space_spec(space: str) -> FamilySpec:
    """The spec of the family whose Space is ``spaces/<space>/`` (its families, title, training module)."""
    return _space_spec(space)


def models_env_var(family: str) -> str:
    """The variable listing a family's extra models: ``my_family`` -> ``HUBMODELS_MY_FAMILY_MODELS``."""
    return f"HUBMODELS_{family.upper().replace('-', '_')}_MODELS"


def _local_models(families: Iterable[str]) -> list[str]:
    """Ids of the local-hub models whose config.json names one of ``families``."""
    wanted = set(families)
    return [row["id"] for row in local_models() if row["family"] in wanted]


def discover_models(families: str | Iterable[str], *, env_var: str | None = None) -> list[str]:
    """Every local-hub model of ``families`` and then the ids listed in ``env_var``
    (default ``HUBMODELS_<FIRST FAMILY>_MODELS``), without duplicates."""
    families = (families,) if isinstance(families, str) else tuple(families)
    env_var = env_var or models_env_var(families[0])
    extra = [x.strip() for x in os.environ.get(env_var, "").split(",") if x.strip()]
    seen: dict[str, None] = {}
    for model_id in _local_models(families) + extra:
        seen.setdefault(model_id)
    return list(seen)


def default_model(model_ids: Sequence[str], preferred: str | None = None) -> str | None:
    """``preferred`` when offered, else the first id, else None."""
    if preferred is not None and preferred in model_ids:
        return preferred
    return model_ids[0] if model_ids else None


def runtime_device() -> str:
    return os.environ.get("HUBMODELS_DEVICE", "").strip() or "cpu"


def runtime_dtype() -> str:
    return os.environ.get("HUBMODELS_DTYPE", "").strip() or "auto"


_MODELS: dict[tuple, HubModel] = {}
_MODELS_LOCK = threading.Lock()


def _cache_key(model_id: str) -> tuple:
    try:
        target, folder, _ = resolve(model_id)
    except (ModelNotFoundError, ValueError):
        target, folder = model_id, None
    # The resolved folder is part of the key: the same id may point at another local hub later
    # (HUBMODELS_HUB changed), and a republished folder must not be served from the old weights.
    stamp = None
    if folder is not None:
        try:
            stamp = (folder / "model.safetensors").stat().st_mtime_ns
        except OSError:
            stamp = None
    return model_id, str(target), stamp, runtime_device(), runtime_dtype()


def load_model(model_id: str, families: Iterable[str] | None = None) -> HubModel:
    """Load ``model_id`` once per (id, folder, device, dtype) and keep it; errors become ``gr.Error``."""
    key = _cache_key(model_id)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                model = load(model_id, device=runtime_device(), dtype=runtime_dtype())
            except (ModelNotFoundError, ValueError, OSError) as err:
                raise user_error(f"could not load model {model_id!r}: {err}") from err
            _MODELS[key] = model
    if families is not None and model.family not in set(families):
        raise user_error(
            f"model {model_id!r} is a {model.family!r} model ({model.architecture}); this Space runs "
            f"{' / '.join(families)} models"
        )
    return model


def clear_model_cache() -> None:
    with _MODELS_LOCK:
        _MODELS.clear()


def model_config(model_id: str) -> dict[str, Any]:
    """config.json of a model without loading its weights (a loaded model's own config if cached)."""
    key = _cache_key(model_id)
    with _MODELS_LOCK:
        if key in _MODELS:
            return dict(_MODELS[key].config)
    target, folder, _ = resolve(model_id)
    if folder is not None:
        path = folder / CONFIG_NAME
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo_id=target, filename=CONFIG_NAME))
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# validation: every user mistake becomes a gr.Error with a message, and the app keeps serving


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a user's mistake: shown to them, kept out of the server log's tracebacks."""
    return gr.Error(message, print_exception=False)


def user_errors(fn: F) -> F:
    """Turn the library's input errors (ValueError, ImageInputError, model not found) into ``gr.Error``.

    Anything else is a bug and is left to Gradio (logged, shown as a generic error).
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, ModelNotFoundError) as err:  # ImageInputError, HubModelError are ValueErrors
            raise user_error(str(err)) from err

    return wrapper  # type: ignore[return-value]


def check_model_id(model_id: Any, available: Sequence[str], *, family_label: str, env_var: str) -> str:
    """The model to run: one of ``available`` (empty means the first/default one)."""
    if not available:
        raise user_error(
            f"No {family_label} model is available in this Space: publish one into the local hub "
            f"({local_hub_dir()}) or list Hugging Face Hub ids in the environment variable {env_var}."
        )
    if model_id is None or model_id == "":
        return available[0]
    if not isinstance(model_id, str) or model_id not in available:
        raise user_error(f"unknown model {model_id!r}; this Space serves: {', '.join(available)}")
    return model_id


def require_image(value: Any, what: str = "source image") -> Image.Image:
    """An uploaded image, validated and converted to RGB.

    Events that take images should run with ``preprocess=False``: stock ``gr.Image`` opens uploads with
    PIL while preprocessing, so a corrupt or unsupported file would fail inside Gradio with a generic
    error. Raw, the value is Gradio's file payload (a dict whose ``path`` Gradio has already checked
    is an upload of this session); a path string or a PIL image also works (direct Python calls).
    """
    if isinstance(value, dict):
        url = value.get("url") or ""
        if value.get("path") is None and isinstance(url, str) and url.startswith("data:"):
            value = _data_url_bytes(url, what)
        else:
            value = value.get("path")
    if value is None or value == "":
        raise user_error(f"Upload a {what} (PNG, JPEG, WebP, ...) or pick one of the examples.")
    try:
        return load_image(value, name=what)
    except ImageInputError as err:
        raise user_error(str(err)) from err


def _data_url_bytes(url: str, what: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(url.split(",", 1)[1], validate=True)
    except (IndexError, ValueError, binascii.Error) as err:
        raise user_error(f"{what}: the data URL could not be decoded ({err}); send the image as a file") from err


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise user_error(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise user_error(f"{name} must be a number, got {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise user_error(f"{name} must be a finite number, got {value!r}")
    return value


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """An integer in [low, high] (integral floats such as 3.0 from a number box are accepted)."""
    number = _as_number(name, value)
    if float(number) != int(number) or not low <= number <= high:
        raise user_error(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(number)


def check_float(name: str, value: Any, low: float, high: float) -> float:
    number = float(_as_number(name, value))
    if not low <= number <= high:
        raise user_error(f"{name} must be a number from {low} to {high}, got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: Sequence[str], *, owner: str = "") -> str:
    if value is None or value == "":
        raise user_error(f"choose a {name}: one of {', '.join(choices)}")
    if value not in choices:
        where = f" {owner}" if owner else ""
        raise user_error(f"unknown {name} {value!r};{where} accepts: {', '.join(map(str, choices))}")
    return value


# ---------------------------------------------------------------------------------------------
# examples


_EXAMPLE_DIRS: list[str] = []


def _cleanup_examples() -> None:
    for folder in _EXAMPLE_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_cleanup_examples)


def synthfaces_examples(specs: Sequence[tuple[int, str | None]], *, size: int = 64, seed: int = 0,
                        prefix: str = "example") -> list[tuple[str, str]]:
    """Render SynthFaces faces ``(index, domain)`` of stream ``seed`` into a temporary folder.

    Returns ``(path, label)`` pairs. Indices are taken from the validation range, so the examples are
    faces the demo checkpoints never trained on.
    """
    from hubmodels.data.synthfaces import VAL_INDEX_OFFSET, render_face

    folder = tempfile.mkdtemp(prefix="hubmodels-examples-")
    _EXAMPLE_DIRS.append(folder)
    out = []
    for index, domain in specs:
        face = render_face(seed, VAL_INDEX_OFFSET + index, size=size, domain=domain)
        path = Path(folder) / f"{prefix}-{face.domain}-{index}.png"
        face.image.save(path)
        out.append((str(path), f"{face.domain} #{index}"))
    return out


# Outputs are handed to Gradio as files with unique names. Gradio saves a returned PIL image under a path
# named by its content's hash and rewrites that file in place, so two concurrent requests with the same
# output (the same example and seed) can serve one client a half-written file; a file path is instead
# copied into its cache under a temporary name and renamed, which is safe.
_OUTPUT_DIR: list[str] = []
_OUTPUT_TTL_S = 15 * 60  # long enough for Gradio to copy a file and a client to fetch it
_OUTPUT_LOCK = threading.Lock()


def _output_dir() -> Path:
    with _OUTPUT_LOCK:
        if not _OUTPUT_DIR:
            _OUTPUT_DIR.append(tempfile.mkdtemp(prefix="hubmodels-outputs-"))
            _EXAMPLE_DIRS.append(_OUTPUT_DIR[0])  # removed at exit with the examples
        return Path(_OUTPUT_DIR[0])


def _prune_outputs(folder: Path) -> None:
    import time

    limit = time.time() - _OUTPUT_TTL_S
    for old in folder.iterdir():
        if old.name.startswith("."):
            continue  # a file being written
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except OSError:
            pass  # another request pruned it first


def served_file(write: Callable[[Path], Any], suffix: str) -> str:
    """A file of its own for Gradio to serve: ``write(path)`` fills a staging path ending in ``suffix``, which is
    then renamed to a unique name (so no user is ever served another's half-written file); returns its path.
    Outputs older than a quarter of an hour are pruned."""
    import uuid

    folder = _output_dir()
    _prune_outputs(folder)
    name = uuid.uuid4().hex
    staging = folder / f".{name}.tmp{suffix}"
    write(staging)
    final = folder / f"{name}{suffix}"
    os.replace(staging, final)
    return str(final)


def served_image(image: Image.Image) -> str:
    """``image`` written to a PNG file of its own (see :func:`served_file`); returns its path."""
    return served_file(lambda path: image.save(path, format="PNG"), ".png")


def served_gallery(items: Iterable[tuple[Image.Image, str]]) -> list[tuple[str, str]]:
    """(image, caption) pairs as (file path, caption) pairs for a ``gr.Gallery`` (see :func:`served_image`)."""
    return [(served_image(img), caption) for img, caption in items]


def _endpoint(demo: gr.Blocks, api_name: str) -> Callable[..., Any]:
    name = api_name.lstrip("/")
    for block_fn in demo.fns.values():
        if block_fn.api_name == name:
            return block_fn.fn
    raise LookupError(f"the app has no endpoint {api_name!r}")


def warm_up(demo: gr.Blocks, example_request: Callable[[], dict]) -> threading.Thread | None:
    """Answer the app's typical request (``example_request()``: ``api_name`` and raw ``args``, files as
    ``{"file": path}``) in a background thread while the server starts, so the first user does not pay for loading
    the default model and for ``dtype="auto"`` timing its candidate paths on this machine.

    Safe beside real requests: model loading is serialised by ``load_model``'s lock and inference by the model's
    own lock (``hubmodels.inference_paths.run``), so a user who arrives early waits for the warm-up's result
    instead of repeating its work. Off with ``HUBMODELS_WARMUP=0``, and on ZeroGPU, where a GPU exists only
    inside a request. A failure is printed and otherwise ignored: the Space serves as it would have without.
    """
    if HAS_ZEROGPU or os.environ.get("HUBMODELS_WARMUP", "1").strip() == "0":
        return None

    def target() -> None:
        try:
            request = example_request()
            fn = _endpoint(demo, request["api_name"])
            args = [a["file"] if isinstance(a, dict) and "file" in a else a for a in request["args"]]
            out = fn(*args)
            if inspect.isgenerator(out):  # a streaming endpoint: run it to the end
                for _ in out:
                    pass
            print(f"warm-up: {request['api_name']} answered", flush=True)
        except Exception as err:  # noqa: BLE001  (the warm-up is an optimisation, never a reason to stop serving)
            print(f"warm-up request failed ({type(err).__name__}: {err}); the Space serves without it", flush=True)

    thread = threading.Thread(target=target, name="hubmodels-warm-up", daemon=True)
    thread.start()
    return thread


def launch_kwargs() -> dict[str, Any]:
    """What ``demo.launch`` gets when an app is run as a script (Gradio 6: theme/css go here)."""
    kwargs: dict[str, Any] = {"theme": gr.themes.Soft(), "max_file_size": "50mb"}
    if os.environ.get("GRADIO_SERVER_NAME"):
        kwargs["server_name"] = os.environ["GRADIO_SERVER_NAME"]
    if os.environ.get("GRADIO_SERVER_PORT"):
        kwargs["server_port"] = int(os.environ["GRADIO_SERVER_PORT"])
    return kwargs
