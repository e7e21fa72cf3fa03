"""StyleGAN2 inference rewrites as module swaps (see :mod:`hubmodels.nn.swap`).

- :class:`FastSynthesisLayer`: a synthesis layer whose weight-only quantities are computed once, not per
  call: ``weight.square().sum([2, 3])`` (the demodulation's per-filter energies, see
  :func:`~.networks_v2.modulated_conv2d`) and, for the 2x-up layers, the weight laid out ``[in, out, k, k]``
  as the transposed convolution wants it (a strided copy of the whole weight per call otherwise, dearer still
  when the channels-last paths keep the weight channels-last). Both are the values the paper layer computes;
  they are recomputed whenever the weight changes (its storage or its in-place version counter), so a
  training step or ``load_state_dict`` never meets a stale cache. Training mode, gradients and fp16 maps
  fall back to the paper layer's computation.

``INFERENCE_SWAPS`` is the table :class:`~.model_v2.StyleGAN2` declares as ``inference_swaps``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.swap import SwapModule
from .networks_v2 import SynthesisLayer

__all__ = ["FastSynthesisLayer", "INFERENCE_SWAPS"]


class FastSynthesisLayer(SwapModule, SynthesisLayer):
    """:class:`SynthesisLayer` with its weight constants cached (same values, computed once per weight)."""

    swap_caches = ("_weight_cache",)

    def weight_constants(self) -> dict[str, Tensor]:
        weight = self.weight
        if self.training or (torch.is_grad_enabled() and weight.requires_grad):
            return {}  # gradients must flow through the weight: the paper computation
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, weight.stride())
        cache = self.__dict__.get("_weight_cache")
        if cache is None or cache[0] != key:
            with torch.no_grad():
                consts = {"weight_sq": weight.square().sum(dim=[2, 3])}
                if self.up > 1:
                    consts["weight_t"] = weight.transpose(0, 1).contiguous()
            cache = (key, consts)
            self.__dict__["_weight_cache"] = cache
        return cache[1]


INFERENCE_SWAPS: dict[type[nn.Module], type[nn.Module]] = {SynthesisLayer: FastSynthesisLayer}
