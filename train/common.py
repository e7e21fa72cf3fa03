"""What every training script shares.

* :func:`setup_accelerator`: one ``accelerate.Accelerator`` for CUDA (multi-GPU, mixed precision) or
  plain CPU (several processes over gloo when launched with ``accelerate launch --cpu``).
* :func:`step_generator`: sampling as a pure function of ``(seed, step, rank, stream)``, so a run
  resumed at step k draws exactly the data and latents an uninterrupted run draws; the "data
  position" of a checkpoint is then just its step.
* :func:`ema_update`: parameter EMA by ``torch.lerp`` (bit-stable, as in the official implementations).
* :class:`Checkpointer`: atomic checkpoints (safetensors for tensors, a JSON sidecar for the
  rest, never pickle) with a ``latest.json`` pointer that only ever names a complete checkpoint;
  :func:`collect_state` / :func:`restore_state` pack nets, optimisers, grad scaler and every RNG.
* :func:`progress_bar`, :class:`LossMeter`, :func:`save_image_grid`, :func:`hardware_summary`,
  :func:`command_line`, :class:`WallClock`, :func:`check_in_sync`, :func:`broadcast_int`.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "LossMeter",
    "WallClock",
    "atomic_write_bytes",
    "atomic_write_json",
    "broadcast_int",
    "check_in_sync",
    "collect_state",
    "command_line",
    "cpu_model",
    "derive_seed",
    "ema_beta",
    "ema_update",
    "format_duration",
    "format_losses",
    "hardware_summary",
    "make_image_grid",
    "progress_bar",
    "restore_state",
    "save_image_grid",
    "setup_accelerator",
    "step_generator",
]

_MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# accelerate


def setup_accelerator(mixed_precision: str = "no", threads: int | None = None, cpu: bool | None = None):
    """An ``Accelerator`` on CUDA when available, else on CPU; sets the torch thread count.

    ``threads`` defaults to the machine's cores divided among the processes on this node, so two
    CPU processes on two cores do not fight over them.
    """
    from accelerate import Accelerator

    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision must be one of no, bf16, fp16; got {mixed_precision!r}")
    if cpu is None:
        cpu = not torch.cuda.is_available()
    if threads is None:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")) or 1)
        threads = max(1, (os.cpu_count() or 1) // max(1, local))
    torch.set_num_threads(int(threads))
    if int(os.environ.get("WORLD_SIZE", "1") or 1) == 1:
        # accelerate keeps its state per process and refuses a second Accelerator with another precision; a
        # single process (a notebook, the tests) may train several runs in turn, each with its own settings
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
    try:
        return Accelerator(cpu=cpu, mixed_precision=mixed_precision)
    except ValueError as err:  # e.g. fp16 requested where accelerate cannot do it
        raise ValueError(f"mixed precision {mixed_precision!r} is not available here: {err}") from err


def broadcast_int(accelerator, value: int) -> int:
    """``value`` of the main process, on every process (e.g. which checkpoint step to resume)."""
    if accelerator.num_processes == 1:
        return int(value)
    import torch.distributed as dist

    t = torch.tensor([int(value)], dtype=torch.int64, device=accelerator.device)
    dist.broadcast(t, src=0)
    return int(t.item())


@torch.no_grad()
def check_in_sync(accelerator, modules: Mapping[str, nn.Module]) -> None:
    """Raise if the processes hold different weights (data parallelism went out of lockstep)."""
    if accelerator.num_processes == 1:
        return
    import torch.distributed as dist

    sums = torch.stack([
        torch.stack([p.detach().double().sum() for p in m.parameters()]).sum() if any(True for _ in m.parameters())
        else torch.zeros((), dtype=torch.float64, device=accelerator.device)
        for m in modules.values()
    ]).to(accelerator.device)
    gathered = [torch.empty_like(sums) for _ in range(accelerator.num_processes)]
    dist.all_gather(gathered, sums)
    for rank, other in enumerate(gathered):
        if not torch.equal(other, gathered[0]):
            bad = [name for name, a, b in zip(modules, gathered[0], other) if a != b]
            raise RuntimeError(f"process {rank} holds different weights than process 0 for {bad}: "
                               "the data-parallel processes are out of sync")


# ---------------------------------------------------------------------------------------------
# step-seeded sampling


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (same on every platform and Python run)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _splitmix64(h ^ (int(p) & _MASK64))
    return h & ((1 << 63) - 1)


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` for (seed, step, rank, stream). Draw on CPU, then move to the device:
    the numbers are then the same whatever the device."""
    g = torch.Generator()
    g.manual_seed(derive_seed(seed, step, rank, stream))
    return g


# ---------------------------------------------------------------------------------------------
# EMA


def ema_beta(step: int, beta: float, warmup: bool = False) -> float:
    """EMA decay at (0-based) ``step``; with ``warmup`` it ramps as (1+t)/(10+t) up to ``beta`` so a short
    run's average is not dominated by its initial weights."""
    return min(beta, (1.0 + step) / (10.0 + step)) if warmup else beta


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, beta: float, buffers: bool = True) -> None:
    """ema <- lerp(model, ema, beta) for every parameter (= beta*ema + (1-beta)*model); buffers copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.copy_(torch.lerp(p.detach(), p_ema, beta))
    if buffers:
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


# ---------------------------------------------------------------------------------------------
# atomic files


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | Callable[[Any], None]) -> None:
    """Write ``path`` so that readers see the old file or the complete new one, never a partial one.

    The bytes go to a temporary file in the same folder, are fsynced, then ``os.replace``d over
    ``path``; on any error the temporary file is removed and ``path`` is untouched. ``data`` may be
    a callable that writes into the open binary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# checkpoint state: nets, optimisers, scaler, RNG


def _optimizer_state(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.state.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "state_scalars": scalars,
                     "state_ids": [int(p) for p in sd["state"]]}


def _load_optimizer_state(optimizer: torch.optim.Optimizer, prefix: str, tensors: Mapping[str, Tensor],
                          meta: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {int(p): dict(v) for p, v in meta["state_scalars"].items()}
    mark = f"{prefix}.state."
    for key, value in tensors.items():
        if key.startswith(mark):
            pid, name = key[len(mark):].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    missing = set(meta["state_ids"]) - set(state)
    if missing:
        raise CheckpointError(f"optimizer {prefix!r}: state of parameter(s) {sorted(missing)} missing in checkpoint")
    groups = [dict(g) for g in meta["param_groups"]]
    for g in groups:  # JSON made tuples lists; Adam and friends want betas as a tuple
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    tensors["rng.numpy.keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
            "python": {"version": version, "state": list(internal), "gauss_next": gauss_next}}
    return tensors, meta


def _set_rng_state(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items() if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([v for _, v in cuda][: torch.cuda.device_count()])
    if "rng.numpy.keys" in tensors and "numpy" in meta:
        m = meta["numpy"]
        np.random.set_state((m["kind"], tensors["rng.numpy.keys"].numpy().astype(np.uint32), m["pos"],
                             m["has_gauss"], m["cached_gaussian"]))
    if "python" in meta:
        p = meta["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def collect_state(modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                  scaler: Any = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Everything needed to continue training, as (tensors, JSON-able meta).

    ``modules`` are unwrapped nets (``accelerator.unwrap_model``) keyed by a name without dots
    ('generator', 'ema.generator' is fine: the name is a prefix). Tensors are detached CPU copies.
    """
    tensors: dict[str, Tensor] = {}
    meta: dict[str, Any] = {"modules": sorted(modules), "optimizers": {}}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value
    for name, opt in (optimizers or {}).items():
        t, m = _optimizer_state(f"optim.{name}", opt)
        tensors.update(t)
        meta["optimizers"][name] = m
    if scaler is not None:
        meta["scaler"] = scaler.state_dict()
    t, m = _rng_state()
    tensors.update(t)
    meta["rng"] = m
    # safetensors wants contiguous, unaliased CPU tensors
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, meta


def restore_state(tensors: Mapping[str, Tensor], meta: Mapping[str, Any], modules: Mapping[str, nn.Module],
                  optimizers: Mapping[str, torch.optim.Optimizer] | None = None, scaler: Any = None,
                  rng: bool = True) -> None:
    """Load what :func:`collect_state` packed into the given (unwrapped) nets and optimisers, strictly."""
    for name, module in modules.items():
        prefix = f"module.{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state and any(True for _ in module.state_dict()):
            raise CheckpointError(f"the checkpoint holds no weights for {name!r} (it holds {meta.get('modules')})")
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"the checkpoint's {name!r} does not match this network: {err}") from err
    for name, opt in (optimizers or {}).items():
        if name not in meta.get("optimizers", {}):
            raise CheckpointError(f"the checkpoint holds no state for optimizer {name!r}")
        _load_optimizer_state(opt, f"optim.{name}", tensors, meta["optimizers"][name])
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    if rng and "rng" in meta:
        _set_rng_state(tensors, meta["rng"])


# ---------------------------------------------------------------------------------------------
# checkpoints on disk


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, incomplete or does not match what is being resumed."""


class Checkpointer:
    """Checkpoints in ``folder``: ``step-XXXXXXXX.safetensors`` + ``step-XXXXXXXX.json`` and ``latest.json``.

    Order of a save: tensors file (atomic), sidecar with the tensors' sha256 (atomic), then the
    ``latest.json`` pointer (atomic), then pruning to the ``keep`` newest. A crash at any point
    leaves ``latest.json`` naming the previous complete checkpoint. Loading verifies the hash and
    falls back to the newest checkpoint that verifies when the pointer is missing or broken.
    """

    POINTER = "latest.json"

    def __init__(self, folder: str | os.PathLike, keep: int = 2):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.folder = Path(folder)
        self.keep = keep

    @staticmethod
    def name(step: int) -> str:
        return f"step-{int(step):08d}"

    def paths(self, step: int) -> tuple[Path, Path]:
        stem = self.folder / self.name(step)
        return stem.with_suffix(".safetensors"), stem.with_suffix(".json")

    def save(self, step: int, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> Path:
        from safetensors.torch import save as st_save

        self.folder.mkdir(parents=True, exist_ok=True)
        blob = st_save(dict(tensors), metadata={"format": "pt", "step": str(int(step))})
        tensor_path, meta_path = self.paths(step)
        atomic_write_bytes(tensor_path, blob)
        sidecar = dict(meta)
        sidecar.update(step=int(step), tensors_file=tensor_path.name, tensors_sha256=hashlib.sha256(blob).hexdigest(),
                       tensors_bytes=len(blob), saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        atomic_write_json(meta_path, sidecar)
        atomic_write_json(self.folder / self.POINTER, {"step": int(step), "name": self.name(step)})
        self._prune(int(step))
        return tensor_path

    def _steps(self) -> list[int]:
        steps = []
        for p in self.folder.glob("step-*.json"):
            try:
                steps.append(int(p.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return sorted(steps)

    def _prune(self, current: int) -> None:
        older = [s for s in self._steps() if s != current]
        for step in older[: max(0, len(older) - (self.keep - 1))]:
            for p in self.paths(step):
                p.unlink(missing_ok=True)

    def _verified(self, step: int) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        from safetensors.torch import load as st_load

        tensor_path, meta_path = self.paths(step)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            blob = tensor_path.read_bytes()
        except (OSError, ValueError):
            return None
        if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256") or meta.get("step") != step:
            return None
        try:
            return st_load(blob), meta
        except Exception:  # noqa: BLE001 - any unreadable file is "not a good checkpoint"
            return None

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint (by the pointer, else by scanning), or None."""
        found = self.load()
        return None if found is None else int(found[1]["step"])

    def load(self, step: int | None = None) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        """(tensors, meta) of checkpoint ``step``, or of the latest good one when ``step`` is None.

        Returns None when there is no checkpoint at all; raises :class:`CheckpointError` when an
        explicitly requested step is missing or corrupt.
        """
        if step is not None:
            got = self._verified(int(step))
            if got is None:
                raise CheckpointError(f"checkpoint {self.name(step)} in {self.folder} is missing or corrupt "
                                      f"(available: {self._steps()})")
            return got
        if not self.folder.is_dir():
            return None
        try:
            pointed = int(json.loads((self.folder / self.POINTER).read_text(encoding="utf-8"))["step"])
        except (OSError, ValueError, KeyError, TypeError):
            pointed = None
        if pointed is not None:
            got = self._verified(pointed)
            if got is not None:
                return got
        for candidate in reversed(self._steps()):
            got = self._verified(candidate)
            if got is not None:
                return got
        return None


# ---------------------------------------------------------------------------------------------
# logging, progress, timing


def progress_bar(total: int, initial: int = 0, disable: bool = False, desc: str | None = None):
    """tqdm over training steps; refreshes less often when the output is a log file, not a terminal."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=disable, desc=desc, dynamic_ncols=tty, ascii=not tty,
                mininterval=0.5 if tty else 30.0, smoothing=0.05, unit="step")


class LossMeter:
    """Running sums of named losses since the last :meth:`pop` (averaged across processes on pop).

    Each loss is averaged over the steps that reported it: a loss computed only every few steps (a
    generator updated once per n_critic discriminator updates) is the mean of those steps' values.
    """

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, losses: Mapping[str, float]) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1
        self.count += 1

    def pop(self, accelerator=None) -> dict[str, float]:
        """Means since the last pop; with several processes, also averaged over them (call on all)."""
        if not self.count:
            return {}
        keys = sorted(self.sums)
        means = torch.tensor([self.sums[k] / self.counts[k] for k in keys], dtype=torch.float64)
        if accelerator is not None and accelerator.num_processes > 1:
            import torch.distributed as dist

            means = means.to(accelerator.device)
            dist.all_reduce(means)
            means = means.cpu() / accelerator.num_processes
        self.sums, self.counts, self.count = {}, {}, 0
        return {k: float(v) for k, v in zip(keys, means.tolist())}


def format_losses(losses: Mapping[str, float], keys: Iterable[str] | None = None) -> str:
    keys = list(keys) if keys is not None else list(losses)
    return " ".join(f"{k}={losses[k]:.3f}" for k in keys if k in losses)


class WallClock:
    """Training wall time that survives resumes: ``offset`` is the time spent before this session."""

    def __init__(self, offset: float = 0.0):
        self.offset = float(offset)
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return self.offset + time.perf_counter() - self.start


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


# ---------------------------------------------------------------------------------------------
# images


def make_image_grid(images: Tensor, nrow: int, value_range: tuple[float, float] = (-1.0, 1.0), padding: int = 2):
    """(N, 3, H, W) tensor -> one PIL grid, ``nrow`` images per row."""
    from hubmodels.images import image_grid, to_pil

    return image_grid(to_pil(images, value_range=value_range), nrow=nrow, padding=padding)


def save_image_grid(images: Tensor, nrow: int, path: str | os.PathLike,
                    value_range: tuple[float, float] = (-1.0, 1.0)):
    """Write a PNG grid atomically and return the PIL image."""
    import io

    grid = make_image_grid(images, nrow, value_range)
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return grid


# ---------------------------------------------------------------------------------------------
# provenance


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware_summary(device: torch.device | str | None = None, num_processes: int = 1) -> str:
    """E.g. '1x NVIDIA H100 80GB HBM3' or 'CPU: AMD EPYC (2 cores, 2 threads/process)'."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return f"{num_processes}x {torch.cuda.get_device_name(device)}"
    procs = f", {num_processes} processes" if num_processes > 1 else ""
    return f"CPU: {cpu_model()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads/process{procs})"


def command_line(module: str | None = None, argv: list[str] | None = None) -> str:
    """The command that is running, as it could be re-typed (with its ``accelerate launch``/``torchrun`` prefix)."""
    argv = sys.argv[1:] if argv is None else argv
    target = f"-m {module}" if module else shlex.join(sys.argv[:1])
    head = f"python {target}"
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        if any(k.startswith("ACCELERATE_") for k in os.environ):
            cpu = " --cpu" if not torch.cuda.is_available() else " --multi_gpu"
            head = f"accelerate launch{cpu} --num_processes {world} {target}"
        else:
            head = f"torchrun --nproc_per_node {world} {target}"
    return f"{head} {shlex.join(argv)}".strip()
