"""Metrics shared by families, training scripts, ``python -m hubmodels.evaluate`` and the dashboard.

* :mod:`.masks`: layout metrics (``mask_r2``, ``pose_alignment_gap``) and mask agreement (``mean_iou``);
* :mod:`.distributions`: Fréchet distance and KID over a pluggable feature extractor (torchmetrics' statistics);
  "FID" only with Inception-v3 features, ``fd_synthfaces`` with the SynthFaces evaluator's;
* :mod:`.diversity`: mean pairwise distance between samples (LPIPS when its weights are on disk, otherwise the
  evaluator's feature-space distance);
* :mod:`.evaluator`: the SynthFaces evaluator (a HubModel trained by :mod:`.train_evaluator`);
* :mod:`.suite`: what the family evaluations share (held-out faces, extractor choice, result records).

The submodules that need torchmetrics or timm import them lazily, so ``from hubmodels.metrics import mask_r2``
stays as cheap as it was when this was one module.
"""
from __future__ import annotations

from .masks import confusion_matrix, mask_r2, mean_iou, pose_alignment_gap

__all__ = ["mask_r2", "pose_alignment_gap", "confusion_matrix", "mean_iou"]
