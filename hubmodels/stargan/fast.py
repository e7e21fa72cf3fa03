"""StarGAN inference rewrites as module swaps (see :mod:`hubmodels.nn.swap`).

- :class:`~.networks.InstanceNorm2d` in its default inference mode (each image's own statistics): one fused
  ``x * a + b`` pass that keeps the channels-last layout (PyTorch's instance norm reshapes to batch norm and
  copies channels-last tensors to NCHW and back). Training mode and ``normalization="running"`` fall back to
  the paper module's forward.

``INFERENCE_SWAPS`` is the table :class:`~.model.StarGAN` declares as ``inference_swaps``.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..nn.ops import fused_instance_norm
from ..nn.swap import SwapModule
from .networks import InstanceNorm2d

__all__ = ["FastInstanceNorm2d", "INFERENCE_SWAPS"]


class FastInstanceNorm2d(SwapModule, InstanceNorm2d):
    """Per-image instance norm and its affine as one fused pass (statistics in fp32)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training or self.normalization != "instance" or x.dim() != 4:
            return super().forward(x)
        return fused_instance_norm(x, self.weight, self.bias, self.eps)


INFERENCE_SWAPS: dict[type[nn.Module], type[nn.Module]] = {InstanceNorm2d: FastInstanceNorm2d}
