"""SemanticStyleGAN's family spec: what this room offers the rest of hubmodels (see :mod:`hubmodels.family`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..family import FamilySpec, OfficialConfig
from ..images import Preprocess, image_grid, register_policy
from . import bench, evaluation, parity
from .model import NAMED_CONFIGS, OFFICIAL_WEIGHTS, SemanticStyleGAN

__all__ = ["SPEC", "convert", "sample", "generate", "PREPROCESS", "SAMPLE_SEEDS"]

SAMPLE_SEEDS = 6

# The official visualize/invert.py: PIL resize to the model's size (Lanczos), ToTensor, Normalize(0.5, 0.5).
PREPROCESS = Preprocess(size=512, resize="resize", interpolation="lanczos")


def convert(family: str, files: Sequence[str | Path], config: str | None = None) -> SemanticStyleGAN:
    """An official ``.pt`` (train.py's dict: g_ema [+ d], args) -> :class:`SemanticStyleGAN`."""
    if len(files) != 1:
        raise ValueError(f"SemanticStyleGAN converts one official .pt file (g_ema, d and args inside); "
                         f"got {len(files)} files")
    return SemanticStyleGAN.from_official(files[0], config=config)


@torch.no_grad()
def sample(model: SemanticStyleGAN, seed: int = 0) -> Image.Image:
    """Seeds ``seed*6 ..``: the images over their coloured class maps (psi 0.7)."""
    seeds = list(range(seed * SAMPLE_SEEDS, (seed + 1) * SAMPLE_SEEDS))
    samples = model.generate(seeds, 0.7)
    return image_grid([s.image for s in samples] + [s.mask for s in samples], nrow=SAMPLE_SEEDS)


def generate(model: SemanticStyleGAN, seeds: Sequence[int], psi: float) -> list[tuple[str, Image.Image]]:
    """The dashboard's view: each seed's image, then its segmentation overlaid."""
    out: list[tuple[str, Image.Image]] = []
    for s, smp in zip(seeds, model.generate(list(seeds), psi)):
        out += [(f"seed {s}", smp.image), (f"seed {s}: mask", smp.overlay)]
    return out


register_policy("semantic_stylegan", PREPROCESS)

SPEC = FamilySpec(
    name="semantic_stylegan",
    title="SemanticStyleGAN",
    converter_families=("semantic_stylegan",),
    model_classes=(SemanticStyleGAN,),
    space="semantic-stylegan",
    preprocessing=PREPROCESS,
    configs=tuple(OfficialConfig(name, SemanticStyleGAN, dict(cfg["config"]), cfg["description"],
                                 "; ".join(f"{k}: {v}" for k, v in OFFICIAL_WEIGHTS[name].items()))
                  for name, cfg in NAMED_CONFIGS.items()),
    convert=convert,
    parity=parity,
    bench_cases=bench.cases,
    sample=sample,
    test_config=dict(bench.QUICK_CONFIGS["tiny_16"]),
    training="train.semantic_stylegan",
    generate=generate,
    evaluate=evaluation.evaluate,
    paper="https://arxiv.org/abs/2112.02236",
    official_code="https://github.com/seasonSH/SemanticStyleGAN",
)
