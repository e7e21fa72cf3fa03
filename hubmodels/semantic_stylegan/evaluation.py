"""SemanticStyleGAN on the hub's common metrics (the spec's ``evaluate``; see :mod:`hubmodels.metrics.suite`).

``n`` samples from seeded latents at psi 1, const noise:

* FD/KID (named after the extractor) of the images against ``n`` held-out SynthFaces renders;
* ``diversity_<distance>``: mean distance between pairs of random samples;
* ``mask_miou``: the mask agreement of the paper's claim, the mean IoU between the model's own segmentation
  of each generated image and the SynthFaces evaluator's segmentation of that image (classes matched by name;
  a model whose classes are not SynthFaces' gets no mIoU), with ``mask_miou_real``, the evaluator against the
  true masks of held-out faces: the ceiling this judge allows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..metrics.masks import mean_iou
from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model, judge: Judge, n: int, seed: int, batch_size: int = 16) -> dict[str, Score]:
    if n < 4:
        raise ValueError(f"need at least 4 samples, got n={n}")
    model.eval()
    base = (seed * 1_000_003) % (2**31)
    images, masks = [], []
    for i in judge.track(range(0, n, batch_size), "sampling"):
        chunk = [base + k for k in range(i, min(i + batch_size, n))]
        out = model.synthesize(model.latents(chunk, truncation_psi=1.0), noise_mode="const")
        images.append(out["rgb"].float().cpu())
        masks.append(out["seg"].argmax(1).cpu())
    fake, fake_masks = torch.cat(images), torch.cat(masks)
    real_set = held_out_faces(n, seed=seed, size=fake.shape[-1])
    scores = judge.distribution_scores(real_set["image"], fake, "generated images (psi 1)")
    pairs = fake[: (n // 2) * 2].reshape(n // 2, 2, *fake.shape[1:])
    scores.update(judge.diversity_score(pairs, "pairs of random samples (psi 1)"))

    judge_classes = list(judge.net.mask_classes)
    if set(model.class_names) <= set(judge_classes):
        # the model's class ids -> the judge's, so both segmentations speak one vocabulary
        lut = torch.tensor([judge_classes.index(c) for c in model.class_names])
        ours = lut[fake_masks]
        theirs = judge.net.predict(fake)["mask"]
        if theirs.shape[-1] != ours.shape[-1]:
            theirs = F.interpolate(theirs[:, None].float(), size=ours.shape[-2:], mode="nearest")[:, 0].long()
        agreement = mean_iou(theirs, ours, len(judge_classes))
        real_pred = judge.net.predict(real_set["image"])["mask"]
        if real_pred.shape[-1] != real_set["mask"].shape[-1]:
            real_pred = F.interpolate(real_pred[:, None].float(), size=real_set["mask"].shape[-2:],
                                      mode="nearest")[:, 0].long()
        ceiling = mean_iou(real_pred, real_set["mask"].long(), len(judge_classes))
        scores["mask_miou"] = Score(round(float(agreement["miou"]), 4),
                                    "mean IoU between the model's own mask of each generated image and the "
                                    "SynthFaces evaluator's segmentation of that image; higher is better")
        scores["mask_miou_real"] = Score(round(float(ceiling["miou"]), 4),
                                         "the same judge against the true masks of held-out faces: the ceiling")
    return scores
