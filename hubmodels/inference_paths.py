"""Inference paths: the ways a :class:`~hubmodels.hub.HubModel` can run its networks (DESIGN.md contract 9).

Exact by default, fast on request. A freshly loaded model runs its paper modules in fp32 as stored: the
reference numbers, on every machine. ``model.optimize_for_inference()`` (what ``dtype="auto"`` calls) makes
the model try its candidate paths on this machine, per input key, and keep the fastest one whose output stays
within ``PSNR_GATE`` dB of fp32:

=====================  =========  =============  ===============================================
path                   compute    memory format  what changes
=====================  =========  =============  ===============================================
``fp32``               fp32       as stored      nothing: the reference
``fp32-channels-last`` fp32       channels-last  the layout of the conv weights and activations
``rewrites``           fp32       channels-last  + the family's exact module swaps (fused ops)
``bf16`` / ``fp16``    autocast   channels-last  + rewrites, matmuls/convs in half precision
``compile``, ...       as above   channels-last  + ``torch.compile`` (only with ``compile=True``)
=====================  =========  =============  ===============================================

The choice is never inferred from CPU flags: bf16 is 6x faster than fp32 with AMX, about half as fast with
AVX-512-BF16 alone and ~10x slower where emulated, so it is *measured* (``timer``, injectable) and checked
against fp32 (PSNR). Choices are remembered per key on the model and on disk, in
``$HUBMODELS_CACHE/inference_paths.json`` (default ``~/.cache/hubmodels/``), keyed by a machine signature
(CPU model or GPU name, torch version, threads), the model (architecture + config hash) and the key, so a
machine measures a given model and input shape once.

A family plugs in with two class attributes of its model class: ``inference_swaps`` (``{paper module class:
fast subclass}``, see :mod:`hubmodels.nn.swap`) and ``inference_eager_children`` (children never compiled),
and by running its tensor work through ``model.run_inference(key, fn)``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable

import torch
import torch.nn.functional as F
from torch import nn

from .nn.fast import psnr
from .nn.swap import swap_modules, unswap_modules

if TYPE_CHECKING:
    from .hub import HubModel

__all__ = [
    "InferencePath", "PATHS", "PSNR_GATE", "available_paths", "default_timer", "timer", "machine_signature",
    "model_signature", "cache_file", "output_psnr", "default_chunk",
]

log = logging.getLogger("hubmodels.inference_paths")

PSNR_GATE = 40.0  # dB against fp32 (images in [-1, 1]): what "auto" accepts
CACHE_VERSION = 1
CACHE_NAME = "inference_paths.json"


@dataclass(frozen=True)
class InferencePath:
    name: str
    compute_dtype: torch.dtype  # autocast dtype of matmuls/convs (float32: no autocast)
    channels_last: bool
    rewrites: bool  # the family's exact module swaps
    compile: bool  # torch.compile of the model's children (except the eager ones)
    description: str

    @property
    def half(self) -> bool:
        return self.compute_dtype != torch.float32


_ALL = (
    InferencePath("fp32", torch.float32, False, False, False, "the paper modules in fp32: the reference"),
    InferencePath("fp32-channels-last", torch.float32, True, False, False, "fp32, channels-last memory format"),
    InferencePath("rewrites", torch.float32, True, True, False, "fp32, channels-last, exact module swaps"),
    InferencePath("bf16", torch.bfloat16, True, True, False, "bf16 autocast, channels-last, module swaps"),
    InferencePath("fp16", torch.float16, True, True, False, "fp16 autocast, channels-last, module swaps"),
    InferencePath("compile", torch.float32, True, True, True, "fp32 rewrites under torch.compile"),
    InferencePath("bf16-compile", torch.bfloat16, True, True, True, "bf16 under torch.compile"),
    InferencePath("fp16-compile", torch.float16, True, True, True, "fp16 under torch.compile"),
)
PATHS: dict[str, InferencePath] = {p.name: p for p in _ALL}


# ---------------------------------------------------------------------------------------------
# what this device can run


def default_chunk(device: torch.device, x: torch.Tensor, cpu_pixels: int, gpu_images: int = 16) -> int:
    """Images per forward pass when the caller gives none: ``gpu_images`` on an accelerator; on a CPU as many as
    make ``cpu_pixels`` pixels (at least one), since larger chunks' full-resolution activations leave the caches."""
    if device.type != "cpu":
        return gpu_images
    return max(1, cpu_pixels // (x.shape[-2] * x.shape[-1]))


@functools.lru_cache(maxsize=None)
def autocast_conv_works(device_type: str, dtype: torch.dtype) -> bool:
    """Whether a convolution runs under ``torch.autocast(device_type, dtype)`` here (a quick probe)."""
    try:
        x = torch.randn(1, 4, 8, 8, device=device_type)
        w = torch.randn(4, 4, 3, 3, device=device_type)
        with torch.autocast(device_type, dtype=dtype):
            y = F.conv2d(x, w, padding=1)
        return y.dtype == dtype and bool(torch.isfinite(y).all())
    except Exception:  # an unsupported autocast dtype raises (or warns and runs fp32: dtype check above)
        return False


def half_dtypes(device: torch.device | str) -> list[torch.dtype]:
    """The half-precision autocast dtypes worth *trying* on ``device``; speed and accuracy are measured later.

    CUDA: bf16 where the GPU supports it, and fp16. CPU: bf16 always (PyTorch runs it everywhere, natively or
    emulated: only a measurement tells), fp16 when a probe shows autocast fp16 convolutions work.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return ([torch.bfloat16] if torch.cuda.is_bf16_supported() else []) + [torch.float16]
    if device.type == "cpu":
        return [torch.bfloat16] + ([torch.float16] if autocast_conv_works("cpu", torch.float16) else [])
    return [d for d in (torch.bfloat16, torch.float16) if autocast_conv_works(device.type, d)]


def available_paths(device: torch.device | str, *, rewrites: bool = True, compile: bool = False) -> list[str]:
    """Candidate path names on ``device``, reference first. ``rewrites``: the model has module swaps."""
    halves = set(half_dtypes(device))
    names = []
    for path in _ALL:
        if path.compile and not compile:
            continue
        if path.name == "rewrites" and not rewrites:
            continue  # same as fp32-channels-last without swaps
        if path.half and path.compute_dtype not in halves:
            continue
        names.append(path.name)
    return names


def check_path_name(name: Any, accepted: list[str]) -> str:
    if name not in accepted:
        unavailable = [n for n in PATHS if n not in accepted]
        note = f" (not available for this model/device: {', '.join(unavailable)})" if unavailable else ""
        raise ValueError(f"unknown inference path {name!r}; accepted: 'auto', {', '.join(map(repr, accepted))}"
                         + note)
    return name


# ---------------------------------------------------------------------------------------------
# signatures and the on-disk cache


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def machine_signature(device: torch.device | str) -> str:
    """What the speed of a path depends on besides the model: the processor, torch and the thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        # Identity, not a speed guess: CPUs sold under one name ("AMD EPYC") come with and without
        # AVX-512 / AMX, and a home folder can move between them, so the ISA torch dispatches to is part
        # of the key and such a move measures again.
        name = f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()})"
    return f"{device.type}: {name} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def model_signature(model: "HubModel", *, compile: bool = False) -> str:
    """Architecture + a hash of the config (+ whether compiled paths were candidates)."""
    config = json.dumps(model.config, sort_keys=True, default=str)
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    arch = getattr(model, "architecture", "") or type(model).__name__
    return f"{arch} {digest}" + (" +compile" if compile else "")


def cache_file() -> Path:
    root = os.environ.get("HUBMODELS_CACHE", "").strip() or "~/.cache/hubmodels"
    return Path(root).expanduser() / CACHE_NAME


def _read_cache(path: Path) -> dict:
    """The cache's choices, or an empty table when it is missing or unreadable (never an error)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable inference-path cache %s (%s); it will be rewritten", path, err)
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("choices"), dict):
        log.warning("ignoring inference-path cache %s of an unknown format; it will be rewritten", path)
        return {}
    return data["choices"]


def cached_choice(machine: str, model: str, key: Hashable) -> str | None:
    entry = _read_cache(cache_file()).get(machine, {})
    entry = entry.get(model, {}) if isinstance(entry, dict) else {}
    entry = entry.get(repr(key)) if isinstance(entry, dict) else None
    path = entry.get("path") if isinstance(entry, dict) else None
    return path if isinstance(path, str) else None


def store_choice(machine: str, model: str, key: Hashable, entry: dict) -> None:
    """Add one choice to the cache file (atomically replaced); a failure to write is logged, not raised."""
    path = cache_file()
    try:
        choices = _read_cache(path)
        per_machine = choices.get(machine)
        if not isinstance(per_machine, dict):
            per_machine = choices[machine] = {}
        per_model = per_machine.get(model)
        if not isinstance(per_model, dict):
            per_model = per_machine[model] = {}
        per_model[repr(key)] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".inference_paths.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": CACHE_VERSION, "choices": choices}, fh, indent=1, sort_keys=True)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, TypeError, ValueError) as err:
        log.warning("could not write the inference-path cache %s: %s", path, err)


# ---------------------------------------------------------------------------------------------
# measuring


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def default_timer(name: str, fn: Callable[[], Any], device: torch.device, *, runs: int = 3) -> float:
    """Median seconds of ``runs`` calls of ``fn`` (already called once, untimed, by the selection: warm-up).

    Compiled paths get two more warm-up calls (a first call after compiling may still recompile).
    """
    path = PATHS.get(name)
    for _ in range(2 if path is not None and path.compile else 0):
        fn()
    sync(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: "auto" does not time a half-precision candidate on the CPU when a probe convolution under its autocast dtype
#: runs this many times slower than in fp32: an emulated dtype (fp16 on most CPUs, bf16 on some) would cost the
#: first request tens of seconds at 256 px (one request of four 256 px images here: 48 s in fp16, 0.75 s in fp32).
SLOW_HALF_FACTOR = 4.0


@functools.lru_cache(maxsize=None)
def half_probe_ratio(dtype: torch.dtype) -> float:
    """Seconds of a small convolution under CPU autocast ``dtype`` over the same in fp32, best of 3 (once per
    process, ~0.1 s where the dtype is emulated)."""
    x = torch.randn(1, 32, 32, 32)
    w = torch.randn(32, 32, 3, 3)

    def best(half: bool) -> float:
        times = []
        for i in range(4):  # the first call is the warm-up
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype, enabled=half):
                F.conv2d(x, w, padding=1)
            if i:
                times.append(time.perf_counter() - start)
        return min(times)

    return best(True) / max(best(False), 1e-9)


#: ``timer(path_name, fn, device) -> seconds``: how "auto" times a candidate. Replace it (or pass
#: ``timer=`` to ``optimize_for_inference``) to make the selection deterministic in tests.
timer: Callable[[str, Callable[[], Any], torch.device], float] = default_timer


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _tensors(item)]
    return []


def output_psnr(out: Any, ref: Any) -> float:
    """Lowest PSNR (images in [-1, 1], see :func:`~hubmodels.nn.fast.psnr`) over the tensors of an output.

    ``-inf`` when the structure or shapes differ or the output has non-finite values the reference has not.
    """
    outs, refs = _tensors(out), _tensors(ref)
    if len(outs) != len(refs):
        return -math.inf
    worst = math.inf
    for o, r in zip(outs, refs):
        if o.shape != r.shape:
            return -math.inf
        o, r = o.detach().float().cpu(), r.detach().float().cpu()
        if not bool(torch.isfinite(o).all()) and bool(torch.isfinite(r).all()):
            return -math.inf
        q = psnr(o, r)
        worst = min(worst, q) if not math.isnan(q) else -math.inf
    return worst


# ---------------------------------------------------------------------------------------------
# the state of an optimized model


@dataclass
class InferenceState:
    forced: str | None  # a path forced by name; None: "auto"
    compile: bool
    timer: Callable[[str, Callable[[], Any], torch.device], float] | None = None
    applied: str = "fp32"
    choices: dict[Hashable, str] = field(default_factory=dict)
    reports: dict[Hashable, dict] = field(default_factory=dict)
    compiled: dict[tuple[str, str], Callable] = field(default_factory=dict)  # (child, path) -> compiled call
    device: torch.device | None = None  # where the choices were made; a move to another device forgets them
    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0

    def __getstate__(self) -> dict:  # copy.deepcopy / pickle of a model: choices travel, lock and compiled code not
        data = dict(self.__dict__)
        data.update(lock=None, compiled={}, depth=0)
        return data

    def __setstate__(self, data: dict) -> None:
        self.__dict__.update(data)
        self.lock = threading.RLock()


STATE_ATTR = "_inference_state"


def state_of(model: nn.Module) -> InferenceState | None:
    return model.__dict__.get(STATE_ATTR)


def _compile_targets(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's children to compile: all but ``inference_eager_children``; containers are entered."""
    eager = set(getattr(model, "inference_eager_children", ()))
    out = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            qual = f"{prefix}{name}"
            if qual in eager or name in eager:
                continue
            if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
                visit(qual + ".", child)
            else:
                out.append((qual, child))

    visit("", model)
    return out


def _uncompile(model: nn.Module) -> None:
    for _, child in _compile_targets(model):
        if getattr(child, "_compiled_call_impl", None) is not None:
            child._compiled_call_impl = None


def _compile(model: nn.Module, state: InferenceState, name: str) -> None:
    for qual, child in _compile_targets(model):
        key = (qual, name)
        if key not in state.compiled:  # one compiled callable per child and path: switching back is free
            state.compiled[key] = torch.compile(child._call_impl, dynamic=False)
        child._compiled_call_impl = state.compiled[key]


def _reset(model: nn.Module, state: InferenceState | None) -> None:
    """Back to the paper modules in fp32, contiguous, uncompiled."""
    _uncompile(model)
    unswap_modules(model)
    model.to(memory_format=torch.contiguous_format)
    if state is not None:
        state.applied = "fp32"


def apply_path(model: "HubModel", state: InferenceState, name: str) -> None:
    """Put the model in path ``name``: swaps, memory format, compilation (the dtype is ``model.autocast()``'s)."""
    if state.applied == name:
        return
    path, current = PATHS[name], PATHS[state.applied]
    try:
        if current.compile:
            _uncompile(model)
        if current.rewrites and not path.rewrites:
            unswap_modules(model)
        if path.rewrites and not current.rewrites:
            swap_modules(model, getattr(model, "inference_swaps", {}) or {})
        if path.channels_last != current.channels_last:
            model.to(memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
        if path.compile:
            _compile(model, state, name)
        state.applied = name
    except Exception:
        _reset(model, state)
        raise


def optimize(model: "HubModel", path: str | None = "auto", *, compile: bool = False,
             timer: Callable | None = None) -> "HubModel":
    """See :meth:`HubModel.optimize_for_inference`."""
    if path is None:  # back to the exact default
        _reset(model, state_of(model))
        model.__dict__.pop(STATE_ATTR, None)
        return model.eval()
    if path != "auto":
        forced = PATHS.get(path) if isinstance(path, str) else None
        compile = compile or (forced is not None and forced.compile)  # forcing a compiled path asks for compile
        check_path_name(path, model.inference_paths(compile=compile))
    wrong = sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()
                    if p.is_floating_point() and p.dtype != torch.float32})
    if wrong:
        raise ValueError(f"optimize_for_inference needs fp32 weights (they are the reference the paths are "
                         f"checked against); this model holds {', '.join(wrong)}: load it with dtype='auto' "
                         "or call model.float() first")
    old = state_of(model)
    if old is not None:
        _reset(model, old)
    state = InferenceState(forced=None if path == "auto" else path, compile=compile, timer=timer,
                           device=model.device)
    model.__dict__[STATE_ATTR] = state
    model.eval()
    if state.forced is not None:
        apply_path(model, state, state.forced)
    return model


def run(model: "HubModel", key: Hashable, fn: Callable[[], Any]) -> Any:
    """See :meth:`HubModel.run_inference`."""
    state = state_of(model)
    if state is None:
        return fn()
    with state.lock:  # one call at a time: a path is a state of the whole model
        if state.depth:  # nested inside another run_inference: run under the outer call's path
            return fn()
        state.depth += 1
        try:
            if model.device != state.device:  # moved: what was fastest there says nothing here
                state.choices.clear()
                state.reports.clear()
                state.device = model.device
            name = state.forced or state.choices.get(key)
            if name is None:
                name = _from_disk(model, state, key)
            if name is None:
                return _select(model, state, key, fn)
            apply_path(model, state, name)
            with model.autocast():
                return fn()
        finally:
            state.depth -= 1


def _from_disk(model: "HubModel", state: InferenceState, key: Hashable) -> str | None:
    name = cached_choice(machine_signature(model.device), model_signature(model, compile=state.compile), key)
    if name is None or name not in model.inference_paths(compile=state.compile):
        return None
    state.choices[key] = name
    state.reports[key] = {"path": name, "source": "cache", "file": str(cache_file())}
    return name


def _select(model: "HubModel", state: InferenceState, key: Hashable, fn: Callable[[], Any]) -> Any:
    """Measure every candidate for ``key``; keep the fastest within the PSNR gate; return its output."""
    device = model.device
    time_it = state.timer or timer
    candidates = model.inference_paths(compile=state.compile)

    def call() -> Any:
        with model.autocast():
            return fn()

    apply_path(model, state, "fp32")
    ref = call()  # the reference, and the reference path's warm-up
    seconds = time_it("fp32", call, device)
    measured: dict[str, dict] = {"fp32": {"ms": seconds * 1e3, "psnr": "inf"}}
    best, best_seconds, best_out = "fp32", seconds, ref
    for name in candidates:
        if name == "fp32":
            continue
        path = PATHS.get(name)
        probed = time_it is default_timer and device.type == "cpu" and path is not None and path.half
        ratio = half_probe_ratio(path.compute_dtype) if probed else 0.0  # a replaced timer: no probe
        if ratio > SLOW_HALF_FACTOR:
            measured[name] = {"rejected": f"a probe convolution runs {ratio:.0f}x slower in "
                                          f"{str(path.compute_dtype).replace('torch.', '')} than in fp32 here"}
            continue
        try:
            apply_path(model, state, name)
            out = call()  # also the candidate's warm-up (oneDNN primitives, compilation)
            quality = output_psnr(out, ref)
            measured[name] = {"psnr": quality if math.isfinite(quality) else str(quality)}
            if not quality >= PSNR_GATE:
                measured[name]["rejected"] = f"PSNR below {PSNR_GATE:g} dB"
                continue
            seconds = time_it(name, call, device)
        except Exception as err:  # a path this machine cannot run (no compiler, unsupported op) is skipped
            _reset(model, state)
            measured[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
            log.info("inference path %s failed for %r: %s", name, key, measured[name]["error"])
            continue
        measured[name]["ms"] = seconds * 1e3
        if seconds < best_seconds:
            best, best_seconds, best_out = name, seconds, out
    apply_path(model, state, best)
    state.choices[key] = best
    entry = {"path": best, "measured": measured, "psnr_gate": PSNR_GATE, "date": time.strftime("%Y-%m-%d")}
    state.reports[key] = {**entry, "source": "measured"}
    log.info("inference path for %r: %s (%s)", key, best,
             ", ".join(f"{n} {m['ms']:.1f} ms" for n, m in measured.items() if "ms" in m))
    store_choice(machine_signature(device), model_signature(model, compile=state.compile), key, entry)
    return best_out
