"""StyleGAN / StyleGAN2 generators on the hub's common metrics (the spec's ``evaluate``; see
:mod:`hubmodels.metrics.suite`).

``n`` images from seeded latents, untruncated (psi 1, the FID protocol), const noise:

* FD/KID (named after the extractor) against ``n`` held-out SynthFaces renders at the model's resolution;
* ``diversity_<distance>``: mean distance between pairs of random samples (no input to share: the whole
  distribution's spread, where a collapsed generator scores near 0);
* ``truncation_spread``: the mean pairwise L1 between images at truncation psi 0.5 over the same at psi 1
  (below 1: truncation trades variety for the average face);
* style mixing, per layer group (coarse / middle / fine, :meth:`layer_groups`): images of row seeds with that
  group's layers taken from column seeds. ``mix_<group>_layout``: how much closer the evaluator's part masks of
  the result are to the column's than to the row's (mIoU difference: > 0, the group carries the layout);
  ``mix_<group>_colour``: the same for the mean colour, ``(d_row - d_col) / (d_row + d_col)`` in [-1, 1]
  (> 0: the group carries the colours). The paper's claim is coarse -> layout, fine -> colour.

Class-conditional models get an equal share of images per class (mixing and truncation use class 0).
"""
from __future__ import annotations

import torch

from ..metrics.masks import mean_iou
from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate"]

MIX_PAIRS = 16  # row/column seed pairs of the mixing figures
SPREAD_SEEDS = 64


@torch.no_grad()
def _pair_l1(x: torch.Tensor) -> float:
    return (x[:, None] - x[None]).abs().mean().item()


@torch.no_grad()
def _mixing(model, judge: Judge, base: int, label) -> dict[str, Score]:
    rows = [base + 500_000 + i for i in range(MIX_PAIRS)]
    cols = [base + 600_000 + i for i in range(MIX_PAIRS)]
    ws = model.latents(rows + cols, truncation_psi=1.0, class_label=label)
    row_ws, col_ws = ws[:MIX_PAIRS], ws[MIX_PAIRS:]
    imgs = model.synthesize(ws).float().cpu()
    masks = judge.net.predict(imgs)["mask"]
    k = len(judge.net.mask_classes)
    row_m, col_m = masks[:MIX_PAIRS], masks[MIX_PAIRS:]
    row_c, col_c = imgs[:MIX_PAIRS].mean((2, 3)), imgs[MIX_PAIRS:].mean((2, 3))
    out: dict[str, Score] = {}
    for group, layers in model.layer_groups().items():
        if not layers:
            continue
        mixed = row_ws.clone()
        mixed[:, layers] = col_ws[:, layers]
        img = model.synthesize(mixed).float().cpu()
        m = judge.net.predict(img)["mask"]
        layout = mean_iou(m, col_m, k)["miou"] - mean_iou(m, row_m, k)["miou"]
        c = img.mean((2, 3))
        d_col, d_row = (c - col_c).abs().mean().item(), (c - row_c).abs().mean().item()
        where = f"layers {layers[0]}-{layers[-1]}"
        out[f"mix_{group}_layout"] = Score(round(float(layout), 4), (
            f"style mixing of the {group} {where}: mIoU of the evaluator's part masks with the column seed's minus "
            f"with the row seed's ({MIX_PAIRS} pairs); > 0: this group carries the layout"))
        out[f"mix_{group}_colour"] = Score(round((d_row - d_col) / max(d_row + d_col, 1e-8), 4), (
            f"the same mixing: (colour distance to the row - to the column) / their sum, mean colours; > 0: this "
            "group carries the colours"))
    return out


@torch.no_grad()
def evaluate(model, judge: Judge, n: int, seed: int, batch_size: int = 16) -> dict[str, Score]:
    """Generate ``n`` images (seeds ``seed * 1_000_003 + i``) and compare them with ``n`` held-out renders."""
    if n < 4:
        raise ValueError(f"need at least 4 images, got n={n}")
    if getattr(model, "img_channels", 3) != 3:
        raise ValueError(f"SynthFaces evaluation needs an RGB generator, this one has {model.img_channels} channels")
    model.eval()
    base = (seed * 1_000_003) % (2**31)  # one seed, one image set; kept inside the official seed range
    seeds = [base + i for i in range(n)]
    classes = model.c_dim if getattr(model, "c_dim", 0) else 0
    fakes = []
    for i in judge.track(range(0, n, batch_size), "sampling"):
        chunk = seeds[i:i + batch_size]
        if classes:
            fakes += [model.generate_tensor([s], truncation_psi=1.0, class_label=(i + k) % classes).float().cpu()
                      for k, s in enumerate(chunk)]
        else:
            fakes.append(model.generate_tensor(chunk, truncation_psi=1.0).float().cpu())
    fake = torch.cat(fakes)
    size = fake.shape[-1]
    real = held_out_faces(n, seed=seed, size=size)["image"]
    scores = judge.distribution_scores(real, fake, "generated images (psi 1)")
    pairs = fake[: (n // 2) * 2].reshape(n // 2, 2, *fake.shape[1:])
    scores.update(judge.diversity_score(pairs, "pairs of random samples (psi 1)"))

    label = 0 if classes else None
    spread_seeds = seeds[:SPREAD_SEEDS]
    spread = {psi: _pair_l1(model.generate_tensor(spread_seeds, truncation_psi=psi, class_label=label).float())
              for psi in (1.0, 0.5)}
    scores["truncation_spread"] = Score(round(spread[0.5] / max(spread[1.0], 1e-8), 4), (
        f"mean pairwise L1 of {len(spread_seeds)} images at truncation psi 0.5 over the same at psi 1; below 1: "
        "truncation trades variety for the average face"))
    if getattr(judge.net, "mask_classes", None):
        scores.update(_mixing(model, judge, base, label))
    return scores
