"""SemanticStyleGAN inference rewrites as module swaps (see :mod:`hubmodels.nn.swap`).

- :class:`FastFixedStyledConv`: the render net's layers (and every ToRGB/ToSeg head) modulate with a *learned*
  vector, not with w, so their modulated and demodulated weight is a constant of the parameters. The paper
  layer rebuilds it (three passes over the weight, plus a strided transposed copy for the up-sampling
  layers) on every call; this computes the same tensors once and reuses them until a parameter changes (its
  storage or its in-place version counter: a training step or ``load_state_dict`` invalidates). Training mode
  or gradients through the parameters fall back to the paper computation.

``INFERENCE_SWAPS`` is the table :class:`~.model.SemanticStyleGAN` declares as ``inference_swaps``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.swap import SwapModule
from .networks import FixedStyledConv

__all__ = ["FastFixedStyledConv", "INFERENCE_SWAPS"]


class FastFixedStyledConv(SwapModule, FixedStyledConv):
    """:class:`FixedStyledConv` with its constant effective weight (and transposed copy) cached."""

    swap_caches = ("_weight_cache",)

    def _cached(self) -> tuple[Tensor, Tensor | None] | None:
        params = (self.weight, self.modulation)
        if self.training or (torch.is_grad_enabled() and any(p.requires_grad for p in params)):
            return None  # gradients must reach the parameters: the paper computation
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device, p.stride()) for p in params)
        cache = self.__dict__.get("_weight_cache")
        if cache is None or cache[0] != key:
            with torch.no_grad():
                weight = super().effective_weight()
                transposed = weight.transpose(0, 1).contiguous() if self.upsample else None
            cache = (key, weight, transposed)
            self.__dict__["_weight_cache"] = cache
        return cache[1], cache[2]

    def effective_weight(self) -> Tensor:
        cached = self._cached()
        return super().effective_weight() if cached is None else cached[0]

    def transposed_weight(self, weight: Tensor) -> Tensor:
        cache = self.__dict__.get("_weight_cache")
        if cache is not None and cache[2] is not None and weight is cache[1]:
            return cache[2]
        return super().transposed_weight(weight)


INFERENCE_SWAPS: dict[type[nn.Module], type[nn.Module]] = {FixedStyledConv: FastFixedStyledConv}
