"""StyleGAN / StyleGAN2 generators on the hub's common metrics (the spec's ``evaluate``; see
:mod:`hubmodels.metrics.suite`).

``n`` images from seeded latents, untruncated (psi 1, the FID protocol), const noise:

* FD/KID (named after the extractor) against ``n`` held-out SynthFaces renders at the model's resolution;
* ``diversity_<distance>``: mean distance between pairs of random samples (no input to share: the whole
  distribution's spread, where a collapsed generator scores near 0).

Class-conditional models get an equal share of images per class.
"""
from __future__ import annotations

import torch

from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate"]


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
    return scores
