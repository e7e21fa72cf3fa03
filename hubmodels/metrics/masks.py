"""Layout metrics: how well an image follows a segmentation mask, and mask agreement (mIoU).

``mask_r2`` scores how well an image's layout follows a segmentation: the share of the image's
pixel variance that the mask's regions explain. SynthFaces renders flat-shaded cartoons, so a
face drawn in a given pose is nearly constant inside each region of that pose's mask. A
translation that keeps the source's pose therefore scores high against the mask of the same face
rendered in the target domain, and no higher than chance against another face's mask. The gap
between the two is what :func:`pose_alignment_gap` reports; colours do not enter it, so a style
change costs nothing.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mask_r2", "pose_alignment_gap", "confusion_matrix", "mean_iou"]


def mask_r2(images: Tensor, masks: Tensor, num_classes: int | None = None) -> Tensor:
    """Per image, ``1 - within-region / total`` sum of squares over all channels.

    ``images``: (N, C, H, W) float; ``masks``: (N, H, W) integer class ids. Returns (N,) in
    [0, 1]: 1 when the image is constant inside every region, about 0 when the regions say
    nothing about it. A constant image (no variance at all) scores 1.
    """
    if images.dim() != 4 or masks.dim() != 3 or images.shape[0] != masks.shape[0] \
            or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"need images (N, C, H, W) and masks (N, H, W) of one size; got {tuple(images.shape)} "
                         f"and {tuple(masks.shape)}")
    if masks.dtype.is_floating_point:
        raise ValueError(f"masks must hold integer class ids, got {masks.dtype}")
    x = images.detach().double().flatten(2)  # (N, C, P)
    m = masks.long().flatten(1)  # (N, P)
    if m.numel() and int(m.min()) < 0:
        raise ValueError("mask class ids must be >= 0")
    k = int(num_classes if num_classes is not None else (int(m.max()) + 1 if m.numel() else 1))
    onehot = torch.nn.functional.one_hot(m, k).double()  # (N, P, K)
    counts = onehot.sum(1)  # (N, K)
    sums = torch.bmm(x, onehot)  # (N, C, K)
    squares = x.pow(2).sum((1, 2))
    between = (sums.pow(2) / counts.clamp_min(1).unsqueeze(1)).sum((1, 2))
    total = squares - x.sum(2).pow(2).sum(1) / x.shape[2]
    within = squares - between
    r2 = 1 - within / total.clamp_min(1e-12)
    return torch.where(total > 1e-12, r2, torch.ones_like(r2)).clamp(0, 1).float()


def pose_alignment_gap(images: Tensor, own_masks: Tensor, other_masks: Tensor,
                       num_classes: int | None = None) -> dict[str, float]:
    """Mean :func:`mask_r2` against each image's own target masks and against other images' masks.

    ``own_masks`` are the masks an image should follow (the source face rendered in the target
    domain); ``other_masks`` are those of different faces in the same domain (the chance level).
    """
    own = mask_r2(images, own_masks, num_classes)
    other = mask_r2(images, other_masks, num_classes)
    return {"matched": float(own.mean()), "shuffled": float(other.mean()), "gap": float((own - other).mean())}


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(K, K) int64 counts, rows the true class and columns the predicted one, over every pixel.

    ``pred`` and ``target``: integer class ids of one shape (any number of dimensions).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have one shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dtype.is_floating_point or target.dtype.is_floating_point:
        raise ValueError("pred and target must hold integer class ids (take argmax of logits first)")
    p, t = pred.reshape(-1).long(), target.reshape(-1).long()
    if p.numel() and (int(torch.minimum(p.min(), t.min())) < 0 or int(torch.maximum(p.max(), t.max())) >= num_classes):
        raise ValueError(f"class ids must be in [0, {num_classes - 1}]")
    return torch.bincount(t * num_classes + p, minlength=num_classes * num_classes).view(num_classes, num_classes)


def mean_iou(pred: Tensor, target: Tensor, num_classes: int) -> dict[str, float | list[float | None]]:
    """Mask agreement: per-class IoU ``|P ∩ T| / |P ∪ T|`` over all pixels of the batch, and their mean.

    Classes absent from both ``pred`` and ``target`` have no IoU (``None``) and are left out of the
    mean, the usual convention (ADE20K / Cityscapes scripts), so a face without glasses does not score
    a free 1 for "glasses". Returns ``{"miou": float, "iou": [per class or None], "pixel_accuracy": float}``;
    ``miou`` is NaN when no class occurs at all (an empty batch).
    """
    cm = confusion_matrix(pred, target, num_classes).double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    iou = [float(i / u) if u > 0 else None for i, u in zip(inter.tolist(), union.tolist())]
    present = [v for v in iou if v is not None]
    total = cm.sum()
    return {"miou": sum(present) / len(present) if present else float("nan"), "iou": iou,
            "pixel_accuracy": float(inter.sum() / total) if total > 0 else float("nan")}
