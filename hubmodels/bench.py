"""Benchmarks (DESIGN.md contract 7): ``python -m hubmodels.bench <family> [options]``.

Each family's spec names its inference paths (``FamilySpec.bench_cases(args)``, returning ``BenchCase``
objects). For every path and mode (``fp32``: the exact default; an inference path forced by name:
``fp32-channels-last``, ``rewrites``, ``bf16``, ``fp16``, ``compile``, ...; ``auto``: what ``dtype="auto"`` measures
and chooses on this machine, printed, and ``auto-compile`` with the ``torch.compile`` candidates too; see
``hubmodels.inference_paths``) this prints latency at batch 1,
throughput at the large batch, peak memory, GFLOP per image (counted by torch's FlopCounterMode), achieved
GFLOP/s and its fraction of a plain fp32 and bf16 matmul measured in the same run, and the PSNR of the output
against fp32. ``--official DIR`` also times the official implementation from a local checkout on the same
weights, checks the outputs agree, and prints our speed-up. All contenders of a path are built first, warmed,
then timed in rounds (one call of each per round), so the machine's drifts fall on every one of them alike.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from . import inference_paths, registry
from .nn.fast import matmul_peak, psnr

# "fp32" is the exact default (no optimize_for_inference); the others force that inference path; "auto"
# measures and chooses like dtype="auto", "auto-compile" like dtype="auto", compile=True.
MODES = ("fp32", *(name for name in inference_paths.PATHS if name != "fp32"), "auto", "auto-compile")


@dataclass
class BenchCase:
    """One inference path of one configuration, e.g. ``afhq_256/latent_guided``."""

    name: str
    build: Callable[[], Any]  # a fresh fp32 model in eval mode (random weights at the configuration's size)
    make_inputs: Callable[[Any, int], dict]  # (model, batch) -> inputs on the model's device
    run: Callable[[Any, dict], torch.Tensor]  # our path; returns images; called under inference_mode + autocast
    official: Callable[[Any, Path], Callable[[dict], torch.Tensor]] | None = None  # (our fp32 model, checkout) -> fn
    notes: str = ""


@dataclass
class Row:
    path: str
    mode: str
    device: str
    dtype: str
    inference_path: str = ""  # the path that ran at batch 1 (what "auto" chose)
    latency_ms: float = math.nan  # batch 1, median
    batch: int = 0
    throughput: float = math.nan  # images/s at ``batch``
    peak_mem_mb: float = math.nan
    gflop_per_image: float = math.nan
    achieved_gflops: float = math.nan
    frac_fp32_peak: float = math.nan
    frac_bf16_peak: float = math.nan
    psnr_vs_fp32: float = math.nan
    max_abs_err_vs_fp32: float = math.nan
    speedup_vs_official: float = math.nan
    extra: dict = field(default_factory=dict)


class PeakMemory:
    """Peak device memory (CUDA allocator) or peak extra resident memory (CPU, sampled) during a block."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb = math.nan

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        import psutil

        self._proc = psutil.Process()
        self._base = self._proc.memory_info().rss
        self._peak = self._base
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.005):
                self._peak = max(self._peak, self._proc.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._proc.memory_info().rss)
        self.peak_mb = (self._peak - self._base) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Untimed calls go on until this long has passed (after the ``warmup`` calls): one call is not enough on a CPU.
# Measured on a 2-core EPYC: with a single warm-up call, whichever of ours and the official code ran first read
# 5-11% slower (the same generator, 272 ms timed first vs 250 ms second), so the order decided the ratio.
WARM_SECONDS = 1.0


def warm_up(fn: Callable[[], Any], device: torch.device, *, warmup: int = 1,
            warm_seconds: float = WARM_SECONDS) -> None:
    """At least ``warmup`` untimed calls and ``warm_seconds`` of them, so that a contender is timed warm whatever
    ran before it."""
    warm_start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - warm_start < warm_seconds:
        fn()
        _sync(device)
        done += 1


def count_gflop(fn: Callable[[], Any]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def prepare_model(case: BenchCase, mode: str, device: torch.device):
    """A fresh model in ``mode``: exact fp32, a forced inference path, or "auto" (ValueError if unavailable)."""
    model = case.build().to(device).eval()
    if mode == "fp32":
        return model  # the exact default: what from_pretrained gives without dtype
    if mode in ("auto", "auto-compile"):
        return model.optimize_for_inference("auto", compile=mode == "auto-compile")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    return model.optimize_for_inference(mode)


def time_interleaved(fns: Sequence[Callable[[], Any]], device: torch.device, *, runs: int,
                     warmups: Sequence[int], max_seconds: float = 240.0,
                     warm_seconds: float = WARM_SECONDS) -> list[list[float]]:
    """Seconds per call of each of ``fns``, timed in rounds (one call of each per round, after each one's
    warm-up): a drift of the machine's speed (another tenant, clock changes) then falls on every contender
    alike instead of on whichever was timed while it happened. Fewer rounds if they exceed max_seconds."""
    for fn, warmup in zip(fns, warmups):
        warm_up(fn, device, warmup=warmup, warm_seconds=warm_seconds)
    times: list[list[float]] = [[] for _ in fns]
    budget_start = time.perf_counter()
    for _ in range(runs):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - start)
        if time.perf_counter() - budget_start > max_seconds:
            break
    return times


def run_case(case: BenchCase, modes: list[str], device: torch.device, *, batch: int, runs: int,
             peaks: dict[str, float], official_dir: Path | None, log: Callable[[str], None]) -> list[Row]:
    """Every mode (and the official code) built and checked first, then timed together in rounds."""
    rows: list[Row] = []
    calls: list[Callable[[dict], torch.Tensor]] = []
    inputs: list[Callable[[int], dict]] = []
    warmups: list[int] = []
    reference: torch.Tensor | None = None
    gflop = math.nan
    for mode in modes:
        try:
            model = prepare_model(case, mode, device)
        except ValueError as err:  # a path this device cannot run
            log(f"# {case.name}: mode {mode} skipped: {err}")
            continue
        x1 = case.make_inputs(model, 1)

        def call(inputs: dict, model=model) -> torch.Tensor:
            # the whole case is one inference call: "auto" measures and chooses per (case, batch)
            key = ("bench", case.name, next(iter(inputs.values())).shape[0])
            with torch.inference_mode(), model.autocast():
                return model.run_inference(key, lambda: case.run(model, inputs))

        out1 = call(x1).float()
        row = Row(case.name, mode, str(device), str(model.compute_dtype).replace("torch.", ""),
                  inference_path=model.inference_path)
        if mode.startswith("auto"):
            for key, report in model.inference_report.items():
                measured = report.get("measured", {})
                detail = ", ".join(f"{n} {m['ms']:.1f} ms" if "ms" in m
                                   else f"{n}: {m.get('rejected') or m.get('error')}" for n, m in measured.items())
                detail = detail or f"from the cache {report.get('file')}"
                log(f"# {case.name}: auto chose {report['path']} at batch {key[-1]} ({detail})")
        if mode == "fp32":
            reference = out1
            gflop = count_gflop(lambda: call(x1))
        elif reference is not None:
            row.psnr_vs_fp32 = psnr(out1.cpu(), reference.cpu())
            row.max_abs_err_vs_fp32 = (out1.cpu() - reference.cpu()).abs().max().item()
        row.gflop_per_image = gflop
        rows.append(row)
        calls.append(call)
        inputs.append(lambda n, model=model: case.make_inputs(model, n))
        warmups.append(3 if mode == "compile" else 1)  # recompiles per new shape must not land in the timings
    official_row: Row | None = None
    if official_dir is not None and case.official is not None:
        model = prepare_model(case, "fp32", device)
        official = case.official(model, official_dir)
        x1 = case.make_inputs(model, 1)
        with torch.no_grad():
            out = official(x1).float()
        official_row = Row(case.name, "official-fp32", str(device), "float32")
        official_row.max_abs_err_vs_fp32 = ((out.cpu() - reference.cpu()).abs().max().item()
                                            if reference is not None else math.nan)
        official_row.psnr_vs_fp32 = psnr(out.cpu(), reference.cpu()) if reference is not None else math.nan

        def call_official(inputs: dict) -> torch.Tensor:
            with torch.no_grad():
                return official(inputs)

        official_row.gflop_per_image = count_gflop(lambda: call_official(x1))  # its own FLOPs: ours skip some
        rows.append(official_row)
        calls.append(call_official)
        inputs.append(lambda n, model=model: case.make_inputs(model, n))
        warmups.append(1)
    if not rows:
        return rows

    ones = [make(1) for make in inputs]
    many = [make(batch) for make in inputs] if batch > 1 else ones
    for row, c, x in zip(rows, calls, many):  # the first call at this size: what serving it takes at peak
        with PeakMemory(device) as mem:
            c(x)
        row.peak_mem_mb = mem.peak_mb

    def timed(xs: list[dict], n: int) -> list[list[float]]:
        return time_interleaved([lambda c=c, x=x: c(x) for c, x in zip(calls, xs)], device, runs=n, warmups=warmups)

    for row, t in zip(rows, timed(ones, runs)):
        row.latency_ms = statistics.median(t) * 1e3
    if batch > 1:
        for row, t in zip(rows, timed(many, max(1, runs // 2))):
            row.batch, row.throughput = batch, batch / statistics.median(t)
    else:
        for row in rows:
            row.batch, row.throughput = 1, 1e3 / row.latency_ms
    for row in rows:
        row.achieved_gflops = row.gflop_per_image * row.throughput
        row.frac_fp32_peak = row.achieved_gflops / peaks["fp32"]
        row.frac_bf16_peak = row.achieved_gflops / peaks["bf16"]
    ours = rows[:-1] if official_row is not None else rows
    if official_row is not None:
        for r in ours:
            r.speedup_vs_official = official_row.latency_ms / r.latency_ms
            r.extra["throughput_speedup_vs_official"] = r.throughput / official_row.throughput
    for row in rows:
        log(format_row(row))
    if official_row is not None:
        log(f"  {case.name}: official vs ours max abs err {official_row.max_abs_err_vs_fp32:.2e}; speed-up at "
            "batch 1: " + ", ".join(f"{r.mode} {r.speedup_vs_official:.2f}x" for r in ours)
            + (f"; at batch {batch}: " + ", ".join(f"{r.mode} {r.extra['throughput_speedup_vs_official']:.2f}x"
                                                     for r in ours) if batch > 1 else ""))
    return rows


HEADER = (f"{'path':<40} {'mode':<18} {'dtype':<9} {'lat@1 ms':>9} {'batch':>5} {'img/s':>7} {'peak MB':>8} "
          f"{'GFLOP/img':>9} {'GFLOP/s':>8} {'%fp32pk':>7} {'%bf16pk':>7} {'PSNR':>6} {'x offic.':>8}")


def format_row(r: Row) -> str:
    def f(v: float, spec: str) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    return (f"{r.path:<40} {r.mode:<18} {r.dtype:<9} {f(r.latency_ms, '9.1f')} {r.batch:>5} "
            f"{f(r.throughput, '7.2f')} {f(r.peak_mem_mb, '8.0f')} {f(r.gflop_per_image, '9.2f')} "
            f"{f(r.achieved_gflops, '8.1f')} {f(100 * r.frac_fp32_peak, '6.0f')}% {f(100 * r.frac_bf16_peak, '6.0f')}% "
            f"{f(r.psnr_vs_fp32, '6.1f')} {f(r.speedup_vs_official, '7.2f')}x")


def environment(device: torch.device) -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cpu": inference_paths.cpu_name(),
        "threads": torch.get_num_threads(),
        "machine_signature": inference_paths.machine_signature(device),
        "half_autocast_dtypes": [str(d).replace("torch.", "") for d in inference_paths.half_dtypes(device)],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubmodels.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("family", choices=registry.converter_families())
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--modes", nargs="+", default=["fp32", "auto"], choices=MODES, metavar="MODE",
                        help="fp32 (exact default), an inference path forced by name, auto or auto-compile; "
                             f"choices: {', '.join(MODES)} (default: fp32 auto)")
    parser.add_argument("--batch", type=int, default=16, help="batch size for the throughput figure")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (median reported)")
    parser.add_argument("--official", type=Path, help="local checkout of the official repository to time beside ours")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="small configurations (a smoke test, not a benchmark)")
    parser.add_argument("--configs", nargs="+", help="only these configurations (family-specific names)")
    parser.add_argument("--paths", nargs="+", help="only these paths (e.g. latent_guided)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .hub import parse_device

    device = parse_device(args.device)
    cases: list[BenchCase] = registry.family_spec(args.family).bench_cases(args)
    if not cases:
        print("no benchmark cases selected", file=sys.stderr)
        return 2
    if args.official is not None and not args.official.is_dir():
        print(f"error: --official {args.official} is not a folder (a checkout of the official repository)",
              file=sys.stderr)
        return 2
    env = environment(device)
    n = 256 if args.quick else 1024
    peaks = {"fp32": matmul_peak(torch.float32, device, n=n), "bf16": matmul_peak(torch.bfloat16, device, n=n)}
    env["matmul_peak_gflops"] = peaks
    print("# " + ", ".join(f"{k}={v}" for k, v in env.items() if k != "matmul_peak_gflops"))
    print(f"# plain {n}x{n} matmul: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s")
    print(HEADER)
    rows: list[Row] = []
    for case in cases:
        rows += run_case(case, args.modes, device, batch=args.batch, runs=args.runs, peaks=peaks,
                         official_dir=args.official, log=lambda line: print(line, flush=True))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": env, "rows": [asdict(r) for r in rows]}, indent=2))
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
