"""Inference fast paths: pick the compute dtype the hardware is fast at, and run in it safely.

bf16 is only a win where the CPU has native bf16 units (AMX or AVX-512-BF16): elsewhere PyTorch emulates
it and a bf16 matmul runs ~10x *slower* than fp32 (measured on an AVX2 EPYC). So "auto" looks at the CPU
flags instead of assuming. On CUDA, bf16 where supported, else fp16.
"""
from __future__ import annotations

import functools
import time
from contextlib import nullcontext
from typing import ContextManager

import torch


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    flags = cpu_flags()
    if {"amx_bf16", "avx512_bf16"} & flags:
        return True
    # No /proc (macOS, some containers): trust oneDNN's own capability report.
    capability = torch.backends.cpu.get_cpu_capability().upper()
    return not flags and ("AMX" in capability or "BF16" in capability)


def auto_compute_dtype(device: torch.device | str) -> torch.dtype:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def autocast_context(device: torch.device, compute_dtype: torch.dtype | None) -> ContextManager:
    """Autocast to a half-precision compute dtype; fp32 (or None) runs as stored."""
    if compute_dtype is None or compute_dtype == torch.float32:
        return nullcontext()
    # also when the weights are already half precision: autocast keeps norms and reductions in fp32
    return torch.autocast(device.type, dtype=compute_dtype)


def psnr(a: torch.Tensor, b: torch.Tensor, value_range: float = 2.0) -> float:
    """PSNR in dB between two image tensors whose values span ``value_range`` ([-1, 1] -> 2)."""
    mse = torch.mean((a.float().clamp(-1, 1) - b.float().clamp(-1, 1)) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(value_range**2 / mse)).item()


def matmul_peak(dtype: torch.dtype, device: torch.device | str = "cpu", n: int = 1024,
                seconds: float = 1.0) -> float:
    """Achieved GFLOP/s of a plain square matmul in ``dtype``: the roofline our paths are compared with."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up (and oneDNN primitive creation)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    count, start = 0, time.perf_counter()
    while True:
        a @ b
        count += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or (count >= 3 and elapsed * (count + 1) / count > 4 * seconds):
            break
    return 2 * n**3 * count / elapsed / 1e9
