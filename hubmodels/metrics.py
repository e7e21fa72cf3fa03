"""Image metrics shared by families, training scripts and the dashboard.

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

__all__ = ["mask_r2", "pose_alignment_gap"]


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
