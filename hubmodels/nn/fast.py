"""Small numeric helpers of the inference paths: the autocast context, PSNR, a matmul roofline.

Which path is fast is never inferred from CPU flags here: bf16 autocast is 6x faster than fp32 on AMX, about
half as fast on AVX-512-BF16 without AMX, and ~10x slower where it is emulated (AVX2). The choice is made by
measuring on the machine itself (:mod:`hubmodels.inference_paths`).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from typing import ContextManager

import torch


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
