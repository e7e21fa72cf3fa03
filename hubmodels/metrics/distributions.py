"""Distances between image distributions: Fréchet distance and KID over the features of a pluggable extractor.

The statistics are torchmetrics' (:class:`~torchmetrics.image.fid.FrechetInceptionDistance` and
:class:`~torchmetrics.image.kid.KernelInceptionDistance`), not ours: the numbers then match what the rest of
the field computes from the same features. We compute the features once (an extractor may be slow, and both
metrics read the same ones) and hand them to torchmetrics through a pass-through "network".

Which features decide what the number may be called: only Inception-v3's pool features (the standard FID
network, its weights file read from disk, never downloaded here) give "FID"/"KID". Any other extractor's
number is a Fréchet distance in *that* feature space, named after the extractor (``fd_synthfaces``), and
is not comparable with published FIDs. :func:`metric_names` holds that rule in one place.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import Tensor, nn

__all__ = ["Passthrough", "frechet_distance", "kernel_distance", "InceptionFeatures", "inception_weights_path",
           "inception_available", "metric_names", "extract", "INCEPTION_ENV"]

INCEPTION_ENV = "HUBMODELS_INCEPTION_WEIGHTS"


class Passthrough(nn.Module):
    """Features in, features out: lets torchmetrics' statistics run on features computed beforehand."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)  # torchmetrics sizes its running sums from this

    def forward(self, x: Tensor) -> Tensor:
        return x


def _check_features(real: Tensor, fake: Tensor) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need (N, D) feature matrices of one width, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError(f"need at least 2 samples per set, got {real.shape[0]} and {fake.shape[0]}")


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` of two (N, D) feature sets, via torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_features(real, fake)
    metric = FrechetInceptionDistance(feature=Passthrough(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kernel_distance(real: Tensor, fake: Tensor, *, subsets: int = 50, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel, mean and std over random
    subsets, via torchmetrics. ``subset_size`` is capped at the smaller set; the subsets are drawn from a
    fixed seed so one evaluation gives one number."""
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_features(real, fake)
    size = min(subset_size, real.shape[0], fake.shape[0])
    with warnings.catch_warnings():  # its "features are kept in memory" warning: we pass features already
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=Passthrough(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global RNG
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


# ---------------------------------------------------------------------------------------------
# Inception-v3 (standard FID features), only from a local weights file


def inception_weights_path(path: str | os.PathLike | None = None) -> Path | None:
    """The Inception-v3 FID weights file given by ``path`` or ``$HUBMODELS_INCEPTION_WEIGHTS``, if it exists."""
    text = path if path is not None else os.environ.get(INCEPTION_ENV)
    if not text:
        return None
    found = Path(text).expanduser()
    return found if found.is_file() else None


def inception_available(path: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(usable, why not): the weights file exists and torchmetrics' Inception wrapper (torch-fidelity) imports."""
    weights = inception_weights_path(path)
    if weights is None:
        where = path or os.environ.get(INCEPTION_ENV)
        if not where:
            return False, f"no Inception-v3 FID weights file given (--inception-weights or ${INCEPTION_ENV})"
        return False, f"no Inception-v3 FID weights file at {where}"
    try:
        import torch_fidelity  # noqa: F401 - torchmetrics builds its Inception through it
    except ImportError:
        return False, "torch-fidelity is not installed (torchmetrics' Inception-v3 needs it: pip install torch-fidelity)"
    return True, ""


class InceptionFeatures(nn.Module):
    """The 2048-d pool features of the FID Inception-v3 (torchmetrics' ``NoTrainInceptionV3``), from a local file.

    Takes images in [-1, 1] of any size; torchmetrics resizes them to 299 px as the reference FID code does.
    """

    name = "inception"
    label = "Inception-v3 pool3 (standard FID features)"

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        ok, why = inception_available(weights)
        if not ok:
            raise FileNotFoundError(f"cannot use Inception-v3 features: {why}")
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                      feature_extractor_weights_path=str(inception_weights_path(weights)))
        self.num_features = 2048

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # the network expects uint8
        return self.net(x).reshape(x.shape[0], -1).float()


def metric_names(extractor_name: str) -> dict[str, str]:
    """Metric keys for an extractor: "fid"/"kid" for Inception-v3 only, else ``fd_<name>``/``kid_<name>``."""
    if extractor_name == "inception":
        return {"fd": "fid", "kid": "kid"}
    return {"fd": f"fd_{extractor_name}", "kid": f"kid_{extractor_name}"}


@torch.no_grad()
def extract(extractor: Callable[[Tensor], Tensor], batches: Iterable[Tensor]) -> Tensor:
    """Features of every image of ``batches`` (each (B, 3, H, W) in [-1, 1]), concatenated on the CPU."""
    return torch.cat([extractor(b).float().cpu() for b in batches])
