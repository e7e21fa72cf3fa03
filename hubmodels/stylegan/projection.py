"""Distances for projection: what :meth:`StyleGANInference.project` minimises.

The official projector compares VGG16 features (LPIPS); its weights are a download this project cannot assume.
So the distance is pluggable:

* ``"vgg16"``: torchvision's VGG16 with ImageNet weights from a local state-dict file
  (``HUBMODELS_VGG16_WEIGHTS``, read with ``weights_only``), features after relu1_2, relu2_2, relu3_3,
  relu4_3 and relu5_3, each unit-normalised over channels and compared by mean squared difference (LPIPS
  without its learned per-channel weights, the "baseline" variant of Zhang et al. 2018);
* ``"pixels"``: mean squared error of the images and of their 2x and 4x average-pooled copies, needing no
  weights; enough to recover an image the generator made, coarser on real photos.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["projection_distance", "pixel_distance", "VGG16_ENV"]

VGG16_ENV = "HUBMODELS_VGG16_WEIGHTS"
Distance = Callable[[Tensor, Tensor], Tensor]


def pixel_distance(synth: Tensor, target: Tensor) -> Tensor:
    """Per-image multi-scale MSE of images in [-1, 1]."""
    total = synth.new_zeros(synth.shape[0])
    a, b = synth, target.expand_as(synth)
    for _ in range(3):
        total = total + (a - b).square().flatten(1).mean(1)
        if min(a.shape[-2:]) < 8:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return total


@lru_cache(maxsize=2)
def _vgg16_features(path: str) -> torch.nn.Module:
    import torchvision

    from ..checkpoints import load_torch_file

    net = torchvision.models.vgg16(weights=None)
    state = load_torch_file(path)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} is not a torchvision VGG16 state dict ({str(err).splitlines()[0]})") from err
    return net.features[:30].eval().requires_grad_(False)


_TAPS = (3, 8, 15, 22, 29)  # the ReLU after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def _vgg_distance(path: str) -> Distance:
    features = _vgg16_features(path)

    def taps(x: Tensor) -> list[Tensor]:
        x = (x + 1) / 2
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[-1] > 256:  # the official projector's size for the features
            x = F.interpolate(x, size=(256, 256), mode="area")
        mean = x.new_tensor(_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
        out = []
        features.to(x.device)
        for i, layer in enumerate(features):
            x = layer(x)
            if i in _TAPS:
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def distance(synth: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            want = taps(target)
        got = taps(synth)
        return sum((g - w).square().sum(1).flatten(1).mean(1) for g, w in zip(got, want))

    return distance


def projection_distance(distance: str | Distance = "auto") -> tuple[str, Distance]:
    """``(name, fn)`` for ``project``'s ``distance`` argument."""
    if callable(distance):
        return getattr(distance, "__name__", "custom"), distance
    path = os.environ.get(VGG16_ENV, "")
    if distance == "pixels" or (distance == "auto" and not path):
        return "pixels", pixel_distance
    if distance in ("vgg16", "auto"):
        if not path or not os.path.isfile(path):
            raise ValueError(f"distance 'vgg16' needs torchvision's VGG16 weights: set {VGG16_ENV} to a local "
                             f"vgg16-*.pth file (now {path or 'unset'}); or use distance='pixels'")
        return "vgg16", _vgg_distance(path)
    raise ValueError(f"unknown distance {distance!r}; accepted: 'auto', 'vgg16', 'pixels' or a function")
