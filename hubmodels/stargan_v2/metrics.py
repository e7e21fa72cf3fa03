"""Does a StarGAN v2 keep the source's pose? Measured on SynthFaces, where the answer is known.

SynthFaces draws one set of parameters per (seed, index) and lets the domain change the head's
shape alone, so "this face, as a fox" exists as a ground-truth render with its segmentation mask.
A translation into the fox domain that keeps the source's pose (position, size, tilt, open mouth,
glasses) lines up with that mask; see :mod:`hubmodels.metrics` for the score.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.layouts import pil_to_tensor
from ..data.synthfaces import DOMAINS, MASK_CLASSES, render_face, render_params, sample_params
from ..metrics import mask_r2, pose_alignment_gap

__all__ = ["synthfaces_pose", "synthfaces_pose_follow", "POSE_EXTREMES"]

# Two settings of one pose parameter each, far apart within SynthFaces' range, everything else kept.
POSE_EXTREMES: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "tilt": ({"rotation": -25.0}, {"rotation": 25.0}),
    "shift": ({"dx": -0.12}, {"dx": 0.12}),
    "scale": ({"scale": 0.8}, {"scale": 1.08}),
}


def _check_synthfaces_model(model) -> None:
    unknown = [d for d in model.domains if d not in DOMAINS]
    if unknown:
        raise ValueError(f"the model's domains {model.domains} are not SynthFaces domains {list(DOMAINS)}")


@torch.no_grad()
def synthfaces_pose_follow(model, *, seed: int, n: int = 12, style_seed: int = 0) -> dict[str, float]:
    """How far outputs follow a change of the source's tilt, position or size, as a share of the ground truth's.

    Each held-out face ``(seed, i)`` is rendered twice, at the two settings of :data:`POSE_EXTREMES`
    for one parameter (say tilted 25 degrees left and right), and both renders are translated into every
    domain with one random style. Each output is scored (:func:`~hubmodels.metrics.mask_r2`) against the
    target-domain mask of its own setting and of the other one; the summed margin is divided by that of
    the ground-truth target-domain renders. 1: the outputs follow the change as sharply as the real faces;
    0: they ignore it (one fixed head whatever the source's pose). Returning the source unchanged scores
    about 0.45 (tilt, size) and 0.6 (position) at 64 px: it has the right pose but the wrong domain's outline.
    """
    _check_synthfaces_model(model)
    if n < 1:
        raise ValueError(f"need at least 1 face, got n={n}")
    model.eval()
    size, k = model.img_size, len(MASK_CLASSES)
    result = {}
    for name, settings in POSE_EXTREMES.items():
        g = torch.Generator().manual_seed(style_seed)
        margin = real_margin = 0.0
        for i in range(n):
            params = sample_params(seed, i)
            poses = [dict(params["pose"], **setting) for setting in settings]
            x = torch.stack([pil_to_tensor(render_params({**params, "pose": q}, size).image) for q in poses])
            for d, domain in enumerate(model.domains):
                targets = [render_params({**params, "pose": q, "domain": domain}, size) for q in poses]
                masks = torch.stack([torch.from_numpy(f.mask.astype("int64")) for f in targets])
                real = torch.stack([pil_to_tensor(f.image) for f in targets])
                z = torch.randn(1, model.latent_dim, generator=g).expand(2, -1)
                y = torch.full((2,), d, dtype=torch.long, device=model.device)
                s = model.mapping_network(z.to(model.device, model.dtype), y)
                out = model(x.to(model.device, model.dtype), s).float().cpu()
                # every pair is one output per setting, so summed mean gaps keep the ratio of the total margins
                margin += pose_alignment_gap(out, masks, masks.flip(0), k)["gap"]
                real_margin += pose_alignment_gap(real, masks, masks.flip(0), k)["gap"]
        result[f"follow_{name}"] = round(margin / real_margin, 4)
    return result


@torch.no_grad()
def synthfaces_pose(model, *, seed: int, n: int = 48, style_seed: int = 0, batch_size: int = 16) -> dict[str, float]:
    """Translate SynthFaces ``(seed, 0..n-1)`` into every domain with random styles and score the pose.

    Faces follow ``SynthFaces(n, seed=seed, domains=model.domains)``: face ``i`` is in domain
    ``i % num_domains``. Returns

    * ``pose_r2``: mean mask R^2 of each output against the source face rendered in the target domain,
    * ``pose_r2_shuffled``: the same output against the next face's mask in that domain (chance level),
    * ``pose_gap``: their difference (0 for an output that ignores the source's layout),
    * ``real_pose_gap``: that difference for the ground-truth renders themselves (the ceiling),
    * ``shape_gap``: for targets other than the source's domain, R^2 against the target-domain mask
      minus R^2 against the source's own mask (> 0: the output took the target domain's shape),
    * ``real_shape_gap``: that difference for the ground-truth renders.
    """
    _check_synthfaces_model(model)
    if n < 2:
        raise ValueError(f"need at least 2 faces to compare against another face's mask, got n={n}")
    model.eval()
    size, nd, k = model.img_size, model.num_domains, len(MASK_CLASSES)
    device, dtype = model.device, model.dtype
    g = torch.Generator().manual_seed(style_seed)
    # every face in every domain, rendered once: sources, ground truths and shuffled masks index into these
    renders = [[render_face(seed, i, size, domain) for i in range(n)] for domain in model.domains]
    images = torch.stack([torch.stack([pil_to_tensor(f.image) for f in row]) for row in renders])  # (nd, n, 3, S, S)
    masks = torch.stack([torch.stack([torch.from_numpy(f.mask.astype("int64")) for f in row]) for row in renders])
    faces = torch.arange(n)
    source_images, source_masks = images[faces % nd, faces], masks[faces % nd, faces]
    sums = dict(pose_r2=0.0, pose_r2_shuffled=0.0, real_r2=0.0, real_r2_shuffled=0.0, shape=0.0, real_shape=0.0)
    count = crossed = 0
    for start in range(0, n, batch_size):
        idx = faces[start:start + batch_size]
        x = source_images[idx].to(device, dtype)
        for d in range(nd):
            own, other, real = masks[d, idx], masks[d, (idx + 1) % n], images[d, idx]
            y = torch.full((len(idx),), d, dtype=torch.long, device=device)
            z = torch.randn(len(idx), model.latent_dim, generator=g).to(device, dtype)
            out = model(x, model.mapping_network(z, y)).float().cpu()
            r2_own = mask_r2(out, own, k)
            sums["pose_r2"] += float(r2_own.sum())
            sums["pose_r2_shuffled"] += float(mask_r2(out, other, k).sum())
            real_own = mask_r2(real, own, k)
            sums["real_r2"] += float(real_own.sum())
            sums["real_r2_shuffled"] += float(mask_r2(real, other, k).sum())
            count += len(idx)
            moved = idx % nd != d
            if moved.any():
                sums["shape"] += float((r2_own - mask_r2(out, source_masks[idx], k))[moved].sum())
                sums["real_shape"] += float((real_own - mask_r2(real, source_masks[idx], k))[moved].sum())
                crossed += int(moved.sum())
    mean = {key: value / count for key, value in sums.items()}
    # a one-domain model has no target other than the source's own domain
    mean["shape"], mean["real_shape"] = (sums["shape"] / crossed, sums["real_shape"] / crossed) if crossed \
        else (float("nan"), float("nan"))
    return {
        "pose_r2": round(mean["pose_r2"], 5),
        "pose_r2_shuffled": round(mean["pose_r2_shuffled"], 5),
        "pose_gap": round(mean["pose_r2"] - mean["pose_r2_shuffled"], 5),
        "real_pose_gap": round(mean["real_r2"] - mean["real_r2_shuffled"], 5),
        "shape_gap": round(mean["shape"], 5),
        "real_shape_gap": round(mean["real_shape"], 5),
    }
