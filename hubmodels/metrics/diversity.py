"""Diversity: the mean pairwise distance between samples drawn for one input (or between random samples).

Two distances, one name each, so a number always says what it measured:

* ``lpips``: LPIPS (Zhang et al. 2018, AlexNet variant) through torchmetrics, used only when the AlexNet
  backbone weights torchvision would download are already on disk (torch hub cache): evaluation never
  downloads anything;
* ``synthfaces``: the same recipe on the SynthFaces evaluator's backbone, without LPIPS' learned layer
  weights (LPIPS' "baseline" variant): every level's feature map is unit-normalised along channels, the
  squared differences are averaged over positions and summed over levels. 0 for identical images; it grows
  as the images differ in what the evaluator sees (shape, colours, parts), not in pixel noise.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["lpips_available", "LPIPSDistance", "FeatureDistance", "pairwise_mean"]


def _alexnet_file() -> Path | None:
    try:
        from torchvision.models import AlexNet_Weights
    except ImportError:
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(AlexNet_Weights.DEFAULT.url).name


def lpips_available() -> tuple[bool, str]:
    """(usable, why not): torchmetrics ships LPIPS' linear layers; its AlexNet backbone must be on disk."""
    path = _alexnet_file()
    if path is None:
        return False, "torchvision is not installed"
    if not path.is_file():
        return False, f"LPIPS' AlexNet backbone weights are not on disk ({path})"
    return True, ""


class LPIPSDistance:
    """(N, C, H, W) x (N, C, H, W) in [-1, 1] -> (N,) LPIPS distances (torchmetrics, AlexNet)."""

    name = "lpips"
    label = "LPIPS (AlexNet, torchmetrics)"

    def __init__(self) -> None:
        ok, why = lpips_available()
        if not ok:
            raise FileNotFoundError(f"cannot use LPIPS: {why}")
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        self.metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="sum")

    @torch.no_grad()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        # the metric's network gives one value per pair; the metric object itself would reduce over the batch
        return self.metric.net(a.float().clamp(-1, 1), b.float().clamp(-1, 1), normalize=False).reshape(-1).cpu()


class FeatureDistance:
    """LPIPS' recipe without learned weights, on the SynthFaces evaluator's feature maps (see the module doc)."""

    name = "synthfaces"
    label = "SynthFaces evaluator feature distance (unit-normalised multi-scale features, unweighted LPIPS recipe)"

    def __init__(self, evaluator) -> None:
        self.evaluator = evaluator

    @torch.no_grad()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = self.evaluator.feature_maps(a), self.evaluator.feature_maps(b)
        total = torch.zeros(a.shape[0])
        for x, y in zip(fa, fb):
            d = (F.normalize(x.float(), dim=1) - F.normalize(y.float(), dim=1)).square().sum(1)
            total += d.mean((1, 2)).cpu()
        return total


def pairwise_mean(outputs: Tensor, distance: Callable[[Tensor, Tensor], Tensor]) -> float:
    """(N, K, C, H, W): K samples of each of N inputs -> mean ``distance`` over all K(K-1)/2 pairs and inputs."""
    if outputs.dim() != 5 or outputs.shape[1] < 2:
        raise ValueError(f"need (N, K >= 2, C, H, W) samples, got {tuple(outputs.shape)}")
    values = [distance(outputs[:, i], outputs[:, j]) for i, j in itertools.combinations(range(outputs.shape[1]), 2)]
    return float(torch.stack(values).float().mean())
