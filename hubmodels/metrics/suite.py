"""What every family's evaluation shares: the judge (evaluator, feature extractor, diversity distance),
held-out SynthFaces, and scores that carry their own description.

A family's ``evaluate(model, judge, n, seed)`` (its spec's ``evaluate`` field) returns ``{name: Score}``;
:mod:`hubmodels.evaluate` runs it, and writes the values to ``metrics.json`` and the descriptions to the card.
Which extractor and distance were used is decided here, once, so every family's numbers are computed the same
way and named after what they measured (:func:`~.distributions.metric_names`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from .distributions import (InceptionFeatures, extract, frechet_distance, inception_available, kernel_distance,
                            metric_names)
from .diversity import FeatureDistance, LPIPSDistance, lpips_available, pairwise_mean

__all__ = ["Score", "Judge", "make_judge", "held_out_faces", "EXTRACTORS", "HELDOUT_STREAM"]

EXTRACTORS = ("auto", "inception", "synthfaces")
# The evaluation's held-out faces: the validation index range of stream 0, the stream the demo models' training
# data comes from (so real and generated faces are drawn from one distribution), never an index they trained on.
HELDOUT_STREAM = 0


class Score(NamedTuple):
    """One metric: its value and a short description (what it measures, which way is better)."""

    value: float
    description: str


def held_out_faces(n: int, *, seed: int = HELDOUT_STREAM, size: int = 64, offset: int = 0,
                   domain: str | None = None) -> dict[str, Any]:
    """Faces ``offset .. offset + n`` of the validation range of stream ``seed``, as tensors and parameters.

    Returns ``image`` (N, 3, S, S) in [-1, 1], ``edges`` (N, 1, S, S), ``mask`` (N, S, S) class ids, ``domain``
    (names), ``attributes`` (dicts) and ``params`` (the renderer's, to re-render a face changed)."""
    from ..data.layouts import pil_to_tensor
    from ..data.synthfaces import VAL_INDEX_OFFSET, render_params, sample_params

    params = [sample_params(seed, VAL_INDEX_OFFSET + offset + i, domain) for i in range(n)]
    faces = [render_params(p, size) for p in params]
    return {
        "image": torch.stack([pil_to_tensor(f.image) for f in faces]),
        "edges": torch.stack([pil_to_tensor(f.edges) for f in faces]),
        "mask": torch.stack([torch.from_numpy(f.mask.astype(np.int64)) for f in faces]),
        "domain": [f.domain for f in faces],
        "attributes": [f.attributes for f in faces],
        "params": params,
    }


@dataclass
class Judge:
    """The evaluator network, the feature extractor of FD/KID and the diversity distance, plus a progress hook.

    ``net``: the SynthFaces evaluator (:class:`~.evaluator.SynthFacesEvaluator`); ``extractor``: a module
    images -> (N, D) features with ``name`` and ``label``; ``distance``: (a, b) -> (N,) with ``name``, ``label``.
    """

    net: Any
    extractor: Any
    distance: Any
    show_progress: bool = False  # a progress bar (tqdm, on stderr) over each family loop
    notes: list[str] = field(default_factory=list)  # why a fallback was taken, for the card

    @property
    def extractor_name(self) -> str:
        return self.extractor.name

    def track(self, items: Sequence[Any], desc: str = "evaluating") -> Iterator[Any]:
        """``items`` under a progress bar (when asked for): the family's main loop."""
        from tqdm.auto import tqdm

        return iter(tqdm(items, desc=desc, disable=not self.show_progress, leave=False))

    # ---- the shared scores ----------------------------------------------------------------

    def features(self, images: Tensor, batch_size: int = 64) -> Tensor:
        return extract(self.extractor, (images[i:i + batch_size] for i in range(0, images.shape[0], batch_size)))

    def distribution_scores(self, real: Tensor, fake: Tensor, what: str) -> dict[str, Score]:
        """FD and KID between real and generated images (or their features, when given as (N, D))."""
        fr = real if real.dim() == 2 else self.features(real)
        ff = fake if fake.dim() == 2 else self.features(fake)
        names = metric_names(self.extractor.name)
        space = "FID (Inception-v3 features)" if self.extractor.name == "inception" else \
            f"Fréchet distance (not FID) in {self.extractor.label}"
        kid_mean, _ = kernel_distance(fr, ff)
        return {
            names["fd"]: Score(round(frechet_distance(fr, ff), 4),
                               f"{space} between {what} ({ff.shape[0]}) and held-out SynthFaces ({fr.shape[0]}); "
                               "lower is better"),
            names["kid"]: Score(round(kid_mean, 5),
                                f"KID (cubic-kernel MMD^2, mean over subsets) in {self.extractor.label}, same "
                                "sets; lower is better"),
        }

    def diversity_score(self, samples: Tensor, what: str) -> dict[str, Score]:
        """``diversity_<distance>``: mean pairwise distance of (N, K, C, H, W) samples, K per input."""
        return {f"diversity_{self.distance.name}": Score(
            round(pairwise_mean(samples, self.distance), 5),
            f"mean pairwise {self.distance.label} between {what}; higher is more diverse")}

    def describe(self) -> dict[str, str]:
        return {"extractor": self.extractor.name, "extractor_label": self.extractor.label,
                "distance": self.distance.name, "distance_label": self.distance.label}


def make_judge(evaluator: Any, *, extractor: str = "auto", inception_weights: str | os.PathLike | None = None,
               lpips: str = "auto", show_progress: bool = False) -> Judge:
    """Choose the extractor (``auto``: Inception-v3 when its weights file is on disk, else the SynthFaces
    evaluator's features) and the diversity distance (LPIPS when its backbone is on disk, else the evaluator's
    feature distance). Asking for ``inception`` without its weights is an error, not a silent fallback."""
    from .evaluator import SynthFacesFeatures

    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown extractor {extractor!r}; accepted: {', '.join(EXTRACTORS)}")
    notes = []
    ok, why = inception_available(inception_weights)
    if extractor == "inception" and not ok:
        raise FileNotFoundError(f"--extractor inception: {why}")
    if extractor == "inception" or (extractor == "auto" and ok):
        feats = InceptionFeatures(inception_weights).eval()
    else:
        if extractor == "auto":
            notes.append(f"FD/KID use the SynthFaces evaluator's features, not Inception-v3: {why}")
        feats = SynthFacesFeatures(evaluator).eval()
    ok, why = lpips_available()
    if lpips not in ("auto", "lpips", "synthfaces"):
        raise ValueError(f"unknown diversity distance {lpips!r}; accepted: auto, lpips, synthfaces")
    if lpips == "lpips" and not ok:
        raise FileNotFoundError(f"LPIPS: {why}")
    if lpips == "lpips" or (lpips == "auto" and ok):
        distance = LPIPSDistance()
    else:
        if lpips == "auto":
            notes.append(f"diversity uses the SynthFaces evaluator's feature distance, not LPIPS: {why}")
        distance = FeatureDistance(evaluator)
    return Judge(net=evaluator, extractor=feats, distance=distance, show_progress=show_progress,
                 notes=notes)
