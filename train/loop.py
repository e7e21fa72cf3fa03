"""The training harness every family script plugs into.

A family script is a :class:`Family` and one line, ``sys.exit(loop.main(MyFamily()))``. The family
says what is its own: options, data, networks, one training step, sample grid, metrics and the words
of its model card. The harness owns the rest:

* the common options (``--out --resume --init-from --seed --steps --batch-size --mixed-precision
  --threads --sample-every --ckpt-every --log-every --keep --publish --publish-only``);
* the run folder: ``checkpoints/`` (atomic, see :class:`~train.common.Checkpointer`),
  ``samples/NNNNNN.png`` and ``log.jsonl`` (step, wall time, family state, mean losses);
* ``--resume`` (locked options refused, some options taken from the checkpoint, log lines a crashed
  session wrote past the checkpoint dropped, wall time and sessions carried on) and ``--init-from``
  (fine-tuning from another run's nets, EMA and optimiser state; its lineage reaches the card);
* the loop: step-seeded batches (a resumed run is bit-identical to one that never stopped), EMA of
  the nets the family names, a guard against non-finite losses, cadences, progress bar;
* publishing: the latest checkpoint's EMA model, evaluated, with a sample grid and a card that gives
  one command per run of the lineage that reproduces it, wall time, hardware and sessions.

Checkpoint sidecars hold ``step``, ``wall_time``, ``args``, ``config``, ``sessions``, ``init_from``,
``last_losses``, ``data``, ``num_processes`` and the family's state keys at the top level.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, NoReturn, Sequence

import torch
from torch import Tensor, nn

from hubmodels.data.layouts import DatasetImageError
from train.common import (
    Checkpointer,
    CheckpointError,
    LossMeter,
    WallClock,
    atomic_write_bytes,
    broadcast_int,
    check_in_sync,
    collect_state,
    command_line,
    ema_update,
    format_duration,
    format_losses,
    hardware_summary,
    make_image_grid,
    progress_bar,
    restore_state,
    save_image_grid,
    setup_accelerator,
    step_generator,
)

__all__ = [
    "COMMON_LOCKED", "STREAM_EVAL", "STREAM_SAMPLES", "STREAM_TRAIN", "CardText", "Data", "Family", "Networks",
    "RunReport", "StepContext", "build_parser", "check_resume_args", "given_options", "lineage", "main",
    "parse_args", "publish_run", "replay_command", "train", "warm_start",
]

# Separate random streams drawn from one (seed, step, rank) key: batches, sample grids, metrics.
STREAM_TRAIN, STREAM_SAMPLES, STREAM_EVAL = 0, 1, 2
# Common options that change the result: a resume must keep them.
COMMON_LOCKED = ("seed", "batch_size", "init_from")
# Sidecar keys of the harness and the Checkpointer; a family's state keys sit beside them.
_META_KEYS = frozenset({"step", "wall_time", "args", "config", "sessions", "num_processes", "last_losses",
                        "init_from", "data", "modules", "optimizers", "scaler", "rng", "tensors_file",
                        "tensors_sha256", "tensors_bytes", "saved_at"})


# =============================================================================================
# the plugin protocol


@dataclass
class Data:
    """A family's data: ``train`` is what its step samples from (None when only publishing; it must have a
    ``len``), ``val`` what its sample grids and metrics use."""

    train: Any
    val: Any
    name: str  # the dataset, as checkpoints and the card name it
    held_out: bool = True  # False when ``val`` is training data (the card says so)
    summary: str = ""  # one log line: sizes, classes, resolution


@dataclass
class Networks:
    """What a family trains, built on CPU from the options; the harness moves, wraps and checkpoints it."""

    nets: dict[str, nn.Module]  # trained nets, wrapped by ``accelerator.prepare`` (DDP with several processes)
    optimizers: dict[str, torch.optim.Optimizer]  # keyed like the nets they step
    ema: nn.Module  # the published model (an instance of Family.model_class); checkpointed as "ema"
    ema_of: dict[str, str]  # EMA submodule ("" for the whole model) -> trained net averaged into it every step
    ema_beta: Callable[[int], float]  # EMA decay at 0-based step t
    config: dict[str, Any]  # Family.model_class's constructor arguments; --init-from requires them equal
    frozen: dict[str, nn.Module] = field(default_factory=dict)  # helpers moved to the device, never trained


@dataclass
class StepContext:
    """What a training step works with; ``state`` is the family's schedule, saved in every checkpoint."""

    args: argparse.Namespace
    accelerator: Any
    data: Data
    nets: dict[str, nn.Module]  # as prepared: call these, not the unwrapped ones
    optimizers: dict[str, torch.optim.Optimizer]
    ema: nn.Module
    frozen: dict[str, nn.Module]
    state: dict[str, Any]
    rank: int = 0
    step: int = 0  # 0-based step being trained

    @property
    def device(self) -> torch.device:
        return self.accelerator.device


@dataclass
class RunReport:
    """What the family's card text can draw on when a run is published."""

    meta: dict[str, Any]  # the latest checkpoint's sidecar
    args: argparse.Namespace  # the run's options, as the checkpoint saved them
    data: Data  # val only
    metrics: dict[str, float]  # Family.evaluate's
    lineage: list[dict[str, Any]]  # the runs it was initialised from, nearest first (see :func:`lineage`)


@dataclass
class CardText:
    """The family's words on the model card; the harness adds command, lineage, sessions, wall time, hardware."""

    title: str
    description: str
    intro: str  # opens "How these weights were made": what was trained, from scratch or fine-tuned, on what
    caption: str  # under the sample grid
    datasets: list[str]
    details: list[str] = field(default_factory=list)  # bullets after steps and hardware: objective, optimiser, EMA
    notes: list[str] = field(default_factory=list)  # the last bullets: how to read the metrics
    training: dict[str, Any] = field(default_factory=dict)  # rows of the training table (image size, optimiser)


class Family:
    """A GAN family's part of a training script. Subclass it: set ``module`` and ``model_class`` and implement
    the methods that raise NotImplementedError; the others have defaults for a family without such parts.

    Every random draw of a step must come from the generator :meth:`step` is given (or from the step's
    index): that makes the "data position" of a checkpoint its step, and resuming exact.
    """

    module: ClassVar[str] = ""  # what ``python -m`` runs; the card's commands start with it
    name: ClassVar[str] = ""  # progress-bar label
    description: ClassVar[str] = ""  # headline of --help
    model_class: type  # the published HubModel class, built as model_class(**Networks.config)
    defaults: ClassVar[Mapping[str, Any]] = {}  # the family's defaults for common options (steps, seed, ...)
    locked: ClassVar[Sequence[str]] = ()  # its options that change the result: a resume must keep them
    # Its options a resume takes from the checkpoint unless given again: ones whose default derives from
    # an option a later session may change (a schedule over --steps); the card's command pins them.
    from_checkpoint: ClassVar[Sequence[str]] = ()
    loss_keys: ClassVar[Sequence[str] | None] = None  # loss order in log lines and on the card (None: as returned)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the family's option groups."""
        raise NotImplementedError

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        """Validate the family's options and fill derived defaults; ``error(message)`` exits."""

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        """The data; without ``train`` (publishing) only ``val`` is needed."""
        raise NotImplementedError

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        """Fresh networks and optimisers, initialised from ``args.seed``."""
        raise NotImplementedError

    def initial_state(self, args: argparse.Namespace) -> dict[str, Any]:
        """The schedule state at step 0 (JSON numbers; e.g. a decaying loss weight), kept across resumes."""
        return {}

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        """Train one step on ``ctx``, drawing every random number from ``generator``; update ``ctx.state``;
        return the losses as floats."""
        raise NotImplementedError

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        """The progress bar's short summary of a step."""
        return format_losses(losses, list(self.loss_keys or losses)[:4])

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        """(images (N, 3, H, W) in [-1, 1], images per row) of the EMA model, same inputs at every call."""
        raise NotImplementedError

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        """Metrics of the EMA model on ``data.val``, for the card (never training losses)."""
        return {}

    def card(self, report: RunReport) -> CardText:
        """What the model card says of this family's run (title, description, how it was made, caption)."""
        raise NotImplementedError

    def options_summary(self, args: Mapping[str, Any]) -> str:
        """The options that set a run apart (e.g. 'lr 0.0003, lambda_cyc 5'), for the card's lineage."""
        return ""


# =============================================================================================
# command line


def build_parser(family: Family) -> argparse.ArgumentParser:
    """The family's options, then the common ones (with the family's defaults)."""
    p = argparse.ArgumentParser(prog=f"python -m {family.module}", description=family.description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    family.add_arguments(p)
    t = p.add_argument_group("run")
    t.add_argument("--steps", type=int, default=1000, help="total iterations")
    t.add_argument("--batch-size", type=int, default=8, help="per process")
    t.add_argument("--out", required=True, help="run folder: checkpoints/, samples/, log.jsonl")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    t.add_argument("--init-from", default=None, metavar="RUN",
                   help="fine-tune: start this run from the networks, EMA and optimiser state of the latest "
                        "checkpoint of run folder RUN (same architecture); steps, schedules and RNG start afresh")
    t.add_argument("--seed", type=int, default=0, help="init and sampling seed")
    t.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    t.add_argument("--threads", type=int, default=None, help="torch threads per process (default: cores/processes)")
    t.add_argument("--sample-every", type=int, default=250)
    t.add_argument("--ckpt-every", type=int, default=250)
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--keep", type=int, default=2, help="checkpoints kept")
    t.add_argument("--publish", default=None, metavar="REPO_ID",
                   help="publish the EMA model at the end, e.g. hubmodels/x")
    t.add_argument("--publish-only", default=None, metavar="REPO_ID",
                   help="do not train: publish the latest checkpoint of --out")
    p.set_defaults(**family.defaults)
    return p


def parse_args(family: Family, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; every problem exits with a message that says what is accepted."""
    parser = build_parser(family)
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "sample_every", "ckpt_every", "log_every", "keep"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    family.check_args(args, parser.error)
    if args.init_from is not None and not (Path(args.init_from) / "checkpoints").is_dir():
        parser.error(f"--init-from {args.init_from!r}: not a run folder (it needs a checkpoints/ folder written by "
                     f"python -m {family.module} --out ...)")
    return args


def given_options(argv: Sequence[str]) -> set[str]:
    """The options a command line names, as argparse dests ('--ds-iter=3' -> 'ds_iter')."""
    return {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


# =============================================================================================
# resume, fine-tuning, lineage


def check_resume_args(args: argparse.Namespace, saved: Mapping[str, Any], given: set[str],
                      locked: Sequence[str], from_checkpoint: Sequence[str] = (),
                      defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Locked options must match the checkpoint's; ``from_checkpoint`` options not given are taken from it.

    A locked option the checkpoint does not record was added after the run started, so the run trained as with
    its default: ``defaults`` gives those (without them such a run could never be resumed).

    Returns those taken options whose value differs from the one the command line alone gives: the
    command that replays the run must pin them (see :func:`replay_command`).
    """
    saved = {**{k: v for k, v in (defaults or {}).items() if k not in saved}, **saved}
    pinned = {}
    for key in from_checkpoint:
        if key not in given:
            if saved[key] != getattr(args, key):
                pinned[key] = saved[key]
            setattr(args, key, saved[key])
    diffs = [f"{_option(k)}: checkpoint {saved.get(k)!r}, now {getattr(args, k)!r}"
             for k in dict.fromkeys(locked) if saved.get(k) != getattr(args, k)]
    if diffs:
        raise CheckpointError("cannot resume with different training settings (start a new --out instead): "
                              + "; ".join(diffs))
    return pinned


def warm_start(run: str | os.PathLike, config: Mapping[str, Any], modules: Mapping[str, nn.Module],
               optims: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """Load the latest checkpoint of ``run`` into a fresh run's nets, EMA and optimisers (not its RNG).

    Returns the lineage recorded in every checkpoint of the new run and on its model card: the parent's
    folder, step, wall time, sessions (with their commands), options and its own lineage.
    """
    found = Checkpointer(Path(run) / "checkpoints").load()
    if found is None:
        raise CheckpointError(f"--init-from {run}: no checkpoint in {Path(run) / 'checkpoints'}")
    tensors, meta = found
    diffs = [f"{k}: {meta['config'].get(k)!r} there, {v!r} here" for k, v in config.items()
             if meta["config"].get(k) != v]
    if diffs:
        raise CheckpointError(f"--init-from {run}: the run's networks differ from this run's ({'; '.join(diffs)}); "
                              "pass the same model and data options")
    # The optimiser keeps its moments, so the first fine-tuning steps are as large as the parent's last ones; its
    # hyperparameters are this run's (the parent's state dict carries its own, e.g. a learning rate decayed to 0).
    fresh = {name: [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
             for name, opt in optims.items()}
    restore_state(tensors, meta, modules, optims, rng=False)
    for name, opt in optims.items():
        for group, hyper in zip(opt.param_groups, fresh[name]):
            group.update(hyper)
    return {"run": str(run), "step": int(meta["step"]), "wall_time": float(meta["wall_time"]),
            "sessions": meta["sessions"], "args": meta["args"], "init_from": meta.get("init_from")}


def lineage(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs a fine-tuned run started from, nearest first (empty for a run trained from scratch)."""
    chain, parent = [], meta.get("init_from")
    while parent:
        chain.append(parent)
        parent = parent.get("init_from")
    return chain


def replay_command(sessions: Sequence[Mapping[str, Any]], args: Mapping[str, Any],
                   from_checkpoint: Sequence[str] = ()) -> str:
    """One command that trains the run from its start to its last step without stopping.

    Resumed sessions are bit-identical to an uninterrupted run, so the last session's command (which names the
    final --steps) reproduces everything once --resume is dropped, provided the options that session took from
    the checkpoint are pinned where its command alone would give another value (a schedule over --steps it
    raised). Sessions recorded without ``pinned`` pin every such option they did not give.
    """
    last = sessions[-1]
    argv = shlex.split(last["command"])
    resumed = "--resume" in argv
    argv = [a for a in argv if a != "--resume"]
    given = given_options(argv)
    pinned = last.get("pinned")
    if pinned is None:
        pinned = {k: args.get(k) for k in from_checkpoint if resumed and k not in given}
    for key, value in pinned.items():
        if value is not None and not isinstance(value, bool):
            argv += [_option(key), *map(str, value if isinstance(value, list) else [value])]
    return shlex.join(argv)


def _jsonable_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def _state_text(state: Mapping[str, Any], fmt: str) -> str:
    return " ".join(f"{k}={v:{fmt}}" if isinstance(v, float) else f"{k}={v}" for k, v in state.items())


def _any_process(accelerator, flag: bool) -> bool:
    """True on every process when ``flag`` is on any (so all of them stop together, none hangs)."""
    if accelerator.num_processes == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)], device=accelerator.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


# =============================================================================================
# training


def _drop_log_lines_after(path: Path, step: int) -> None:
    """Drop lines a crashed session logged past the checkpoint we continue from (they will be logged again)."""
    if path.exists():
        kept = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
        atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode())


def train(family: Family, args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Train (or continue) the run in ``args.out``; returns the run folder."""
    session_start = time.perf_counter()
    accelerator = setup_accelerator(args.mixed_precision, args.threads)
    main_proc, rank, world = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    out = Path(args.out)
    ckpt = Checkpointer(out / "checkpoints", keep=args.keep)
    log = (lambda msg: print(msg, flush=True)) if main_proc else (lambda msg: None)

    resume, pinned = None, {}
    latest = broadcast_int(accelerator, (ckpt.latest_step() or 0) if main_proc else 0)
    if latest > 0 and not args.resume:
        raise SystemExit(f"error: {out} already holds checkpoints (latest step {latest}); "
                         "pass --resume to continue it, or choose another --out")
    if args.resume:
        if latest > 0:
            resume = ckpt.load(latest)  # every process reads the file the main process chose
            parser = build_parser(family)
            locked = (*family.locked, *COMMON_LOCKED)
            pinned = check_resume_args(args, resume[1]["args"], given_options(argv), locked,
                                       family.from_checkpoint, {k: parser.get_default(k) for k in locked})
        else:
            log(f"--resume: no checkpoint in {ckpt.folder} yet, starting from step 0")
    start_step = int(resume[1]["step"]) if resume else 0
    if start_step >= args.steps:
        log(f"the checkpoint is at step {start_step} >= --steps {args.steps}: nothing to train")

    t0 = time.perf_counter()
    data = family.load_data(args, train=True)
    log(f"data: {data.summary or f'{len(data.train)} training examples ({data.name})'}; "
        f"loaded in {time.perf_counter() - t0:.1f}s")

    built = family.build(args, data)
    names, opt_names = list(built.nets), list(built.optimizers)
    prepared = accelerator.prepare(*built.nets.values(), *built.optimizers.values())
    ctx = StepContext(args, accelerator, data, dict(zip(names, prepared[: len(names)])),
                      dict(zip(opt_names, prepared[len(names):])), built.ema.to(accelerator.device),
                      {n: m.to(accelerator.device) for n, m in built.frozen.items()}, family.initial_state(args), rank)
    clash = sorted(set(ctx.state) & _META_KEYS)
    if clash:
        raise ValueError(f"{type(family).__name__}.initial_state uses keys the checkpoint reserves: {clash}")
    unwrapped = {n: accelerator.unwrap_model(m) for n, m in ctx.nets.items()}
    state_modules = {**unwrapped, "ema": ctx.ema}

    sessions: list[dict[str, Any]] = []
    offset = 0.0
    if resume:
        tensors, meta = resume
        restore_state(tensors, meta, state_modules, ctx.optimizers, scaler=accelerator.scaler)
        ctx.state.update({k: meta[k] for k in ctx.state})
        offset, sessions, init_from = float(meta["wall_time"]), list(meta["sessions"]), meta.get("init_from")
        if meta.get("num_processes", 1) != world:
            log(f"warning: the checkpoint was written by {meta.get('num_processes')} process(es), now {world}: "
                "the continuation draws different batches than the original run would have")
        log(f"resumed from {ckpt.name(start_step)}" + (f" ({_state_text(ctx.state, '.6g')})" if ctx.state else ""))
        del tensors, resume
    elif args.init_from:
        init_from = warm_start(args.init_from, built.config, state_modules, ctx.optimizers)
        log(f"initialised from {args.init_from} (step {init_from['step']}): networks, EMA and optimiser state")
    else:
        init_from = None
    session = {"command": command_line(family.module, list(argv)),
               "hardware": hardware_summary(accelerator.device, world),
               "mixed_precision": args.mixed_precision, "start_step": start_step, "end_step": start_step,
               "wall_time": 0.0, "pinned": pinned}
    sessions.append(session)
    clock = WallClock(offset)
    clock.start = session_start  # the session's time includes set-up and data loading

    history = out / "log.jsonl"
    if main_proc:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        _drop_log_lines_after(history, start_step)
        log(f"training {start_step} -> {args.steps} steps, batch {args.batch_size} x {world} process(es), "
            f"{session['hardware']}, mixed precision {args.mixed_precision}, "
            f"nets wrapped as {type(next(iter(ctx.nets.values()))).__name__}")

    def save(step: int, last_losses: dict[str, float]) -> None:
        check_in_sync(accelerator, unwrapped)
        session.update(end_step=step, wall_time=round(clock.elapsed - offset, 2))
        if main_proc:
            tensors, meta = collect_state(state_modules, ctx.optimizers, scaler=accelerator.scaler)
            meta.update(ctx.state)
            meta.update(step=step, wall_time=round(clock.elapsed, 2), args=_jsonable_args(args), config=built.config,
                        sessions=sessions, num_processes=world, last_losses=last_losses, init_from=init_from,
                        data={"sampler": "step-seeded", "seed": args.seed, "next_step": step,
                              "dataset": data.name, "n_train": len(data.train)})
            ckpt.save(step, tensors, meta)
        accelerator.wait_for_everyone()

    meter = LossMeter()
    last_losses: dict[str, float] = {}
    nonfinite = False  # since the last checkpoint, on this process
    bar = progress_bar(args.steps, initial=start_step, disable=not main_proc, desc=family.name or None)
    for step in range(start_step, args.steps):
        ctx.step = step
        losses = family.step(ctx, step_generator(args.seed, step, rank, STREAM_TRAIN))
        beta = built.ema_beta(step)
        for ema_name, net_name in built.ema_of.items():
            ema_update(ctx.ema.get_submodule(ema_name), unwrapped[net_name], beta)
        meter.add(losses)
        nonfinite = nonfinite or not all(math.isfinite(v) for v in losses.values())
        done = step + 1
        if main_proc:
            bar.update(1)
            bar.set_postfix_str(family.postfix(losses, ctx.state), refresh=False)
        if done % args.log_every == 0 or done == args.steps:
            last_losses = meter.pop(accelerator)
            if not all(math.isfinite(v) for v in last_losses.values()):
                raise FloatingPointError(f"non-finite losses at step {done}: {last_losses}")
            if main_proc:
                with open(history, "a") as fh:
                    fh.write(json.dumps({"step": done, "wall_time": round(clock.elapsed, 2), **ctx.state,
                                         **last_losses}) + "\n")
                bar.write(f"[{done}/{args.steps} {format_duration(clock.elapsed)}] "
                          + " ".join(filter(None, [format_losses(last_losses, family.loss_keys),
                                                   _state_text(ctx.state, ".4f")])))
        if main_proc and (done % args.sample_every == 0 or done == args.steps):
            images, nrow = family.sample_grid(ctx.ema, data, args)
            save_image_grid(images, nrow, out / "samples" / f"{done:06d}.png")
        if done % args.ckpt_every == 0 or done == args.steps:
            # a step between log lines may have gone non-finite: never let it replace the last good checkpoint
            if _any_process(accelerator, nonfinite):
                raise FloatingPointError(f"non-finite losses before step {done}; checkpoint not saved")
            save(done, last_losses)
    bar.close()
    if start_step < args.steps:
        log(f"done: {args.steps} steps, wall time {format_duration(clock.elapsed)}")
    return out


# =============================================================================================
# publishing


def _sessions_text(sessions: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"steps {s['start_step']}-{s['end_step']}: `{s['command']}`" for s in sessions)


def _how_made(family: Family, meta: Mapping[str, Any], text: CardText, held_out: bool,
              chain: Sequence[Mapping[str, Any]]) -> str:
    a, sessions = meta["args"], meta["sessions"]
    lines = [
        text.intro, "",
        f"* {meta['step']} iterations, batch {a['batch_size']} x {meta.get('num_processes', 1)} process(es); "
        f"wall time {format_duration(meta['wall_time'])}",
        f"* hardware: {'; '.join(sorted({s['hardware'] for s in sessions}))}; torch {torch.__version__}; "
        f"mixed precision {', '.join(sorted({s['mixed_precision'] for s in sessions}))}",
        *(f"* {d}" for d in text.details),
    ]
    if len(sessions) > 1:
        lines.append(f"* trained in {len(sessions)} sessions (resumed from checkpoints, bit-identical to an "
                     f"uninterrupted run): {_sessions_text(sessions)}")
    for parent in chain:
        summary = family.options_summary(parent["args"])
        lines.append(f"* initialised from run `{parent['run']}` at step {parent['step']} (networks, EMA and "
                     f"optimiser state; wall time {format_duration(parent['wall_time'])}"
                     f"{'; ' + summary if summary else ''}), itself made by: {_sessions_text(parent['sessions'])}")
    lines.append(f"* metrics are measured on {'held-out' if held_out else 'training (no held-out split)'} images")
    lines += [f"* {n}" for n in text.notes]
    return "\n".join(lines)


def publish_run(family: Family, out: str | os.PathLike, repo_id: str, hub_dir: str | os.PathLike | None = None) -> str:
    """Publish the EMA model of the latest checkpoint of run ``out`` with a full model card; returns the folder."""
    ckpt = Checkpointer(Path(out) / "checkpoints")
    found = ckpt.load()
    if found is None:
        raise CheckpointError(f"no checkpoint in {ckpt.folder}: train first "
                              f"(python -m {family.module} --out {out} ...)")
    tensors, meta = found
    model = family.model_class(**meta["config"])
    restore_state(tensors, meta, {"ema": model}, rng=False)
    model.eval()
    args = argparse.Namespace(**meta["args"])
    data = family.load_data(args, train=False)
    metrics = family.evaluate(model, data, args)
    images, nrow = family.sample_grid(model, data, args)
    chain = lineage(meta)
    text = family.card(RunReport(meta, args, data, metrics, chain))

    wall = format_duration(meta["wall_time"])
    if chain:  # fine-tuned runs: the steps and time of every run they started from
        wall += " (+ " + " + ".join(f"{format_duration(p['wall_time'])} for the {p['step']} steps of `{p['run']}`"
                                   for p in chain) + ")"
    sessions = meta["sessions"]
    card = model.card
    card.title, card.description, card.datasets = text.title, text.description, list(text.datasets)
    card.how_made = _how_made(family, meta, text, data.held_out, chain)
    card.command = "\n".join(replay_command(r["sessions"], r["args"], family.from_checkpoint)
                             for r in [*reversed(chain), meta])
    card.training = {
        "steps": meta["step"], "batch size": f"{args.batch_size} x {meta.get('num_processes', 1)} process(es)",
        "training images": meta["data"]["n_train"], "wall time": wall,
        "hardware": "; ".join(sorted({s["hardware"] for s in sessions})), "torch": torch.__version__,
        "mixed precision": ", ".join(sorted({s["mixed_precision"] for s in sessions})),
        **text.training,
        # training losses belong here, not in card.metrics (the card's YAML metrics are evaluation results)
        "final losses": format_losses(meta.get("last_losses") or {}, family.loss_keys),
        "sessions": len(sessions),
        **({"initialised from": "; ".join(f"{p['run']} (step {p['step']})" for p in chain)} if chain else {}),
    }
    card.metrics = dict(metrics)
    card.sample_image = make_image_grid(images, nrow)
    card.sample_caption = text.caption
    return model.publish(repo_id, hub_dir=hub_dir, storage_dtype="fp16")


# =============================================================================================


def main(family: Family, argv: Sequence[str] | None = None) -> int:
    """The whole script: parse, then train (and ``--publish``), or only ``--publish-only``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(family, argv)
    try:
        if args.publish_only:
            print(f"published {publish_run(family, args.out, args.publish_only)}")
            return 0
        train(family, args, argv)
    except (CheckpointError, DatasetImageError) as err:
        # the last good checkpoint is intact (a step's data is read before it updates anything): fix, --resume
        raise SystemExit(f"error: {err}") from None
    if args.publish:
        from accelerate import PartialState

        if PartialState().is_main_process:
            print(f"published {publish_run(family, args.out, args.publish)}", flush=True)
        PartialState().wait_for_everyone()
    return 0
