"""The StyleGAN room's family spec: StyleGAN (v1, converter family ``stylegan``) and StyleGAN2 (``stylegan2``)
share one room, one inference API, one Space and one training script (see :mod:`hubmodels.family`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from PIL import Image

from ..family import FamilySpec, OfficialConfig
from ..images import image_grid, register_policy
from . import bench, evaluation, parity
from .inference import PROJECTION_POLICY
from .model_v1 import NAMED_CONFIGS_V1, OFFICIAL_WEIGHTS_V1, StyleGAN
from .model_v2 import NAMED_CONFIGS_V2, OFFICIAL_WEIGHTS_V2, StyleGAN2

__all__ = ["SPEC", "convert", "sample", "generate", "SAMPLE_SEEDS"]

SAMPLE_SEEDS = 8  # images in the card's picture: seeds 0..7, untruncated and at psi 0.7

# Projection's input policy (the only image input): the size is each model's own.
PREPROCESS = PROJECTION_POLICY


def _weights(entry: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in entry.items())


def _configs() -> tuple[OfficialConfig, ...]:
    out = [OfficialConfig(name, StyleGAN2, dict(cfg["config"]), cfg["description"], _weights(OFFICIAL_WEIGHTS_V2[name]))
           for name, cfg in NAMED_CONFIGS_V2.items()]
    out += [OfficialConfig(name, StyleGAN, {k: v for k, v in cfg.items() if k != "description"},
                           cfg["description"], _weights(OFFICIAL_WEIGHTS_V1[name]))
            for name, cfg in NAMED_CONFIGS_V1.items()]
    return tuple(out)


def convert(family: str, files: Sequence[str | Path], config: str | None = None) -> StyleGAN | StyleGAN2:
    """One official file -> our model. ``stylegan2``: an ada network pickle, an ada state-dict safetensors
    (optionally with its D file second) or a rosinality ``.pt``; ``stylegan``: genforce's ``.pth`` or the
    original NVlabs TensorFlow pickle (read as data: its embedded code never runs)."""
    if family == "stylegan2":
        if not 1 <= len(files) <= 2:
            raise ValueError(f"StyleGAN2 converts one file (a network pickle, a rosinality .pt, or G_ema "
                             f"safetensors optionally followed by D safetensors); got {len(files)} files")
        return StyleGAN2.from_official(files[0], config=config, discriminator=files[1] if len(files) > 1 else None)
    if family == "stylegan":
        if len(files) != 1:
            raise ValueError(f"StyleGAN (v1) converts one file (genforce .pth or NVlabs .pkl); got {len(files)}")
        return StyleGAN.from_official(files[0], config=config)
    raise ValueError(f"the StyleGAN room converts 'stylegan' or 'stylegan2' files, not {family!r}")


@torch.no_grad()
def sample(model: Any, seed: int = 0) -> Image.Image:
    """Seeds ``seed*8 .. seed*8+7``: a row untruncated, a row at truncation psi 0.7 (class 0 if conditional)."""
    seeds = list(range(seed * SAMPLE_SEEDS, (seed + 1) * SAMPLE_SEEDS))
    label = 0 if model.c_dim else None
    rows = model.generate(seeds, 1.0, class_label=label) + model.generate(seeds, 0.7, class_label=label)
    return image_grid(rows, nrow=SAMPLE_SEEDS)


def generate(model: Any, seeds: Sequence[int], psi: float) -> list[tuple[str, Image.Image]]:
    """The dashboard's view: one image per shared seed at truncation ``psi`` (class 0 if conditional)."""
    label = 0 if model.c_dim else None
    return [(f"seed {s}", im) for s, im in zip(seeds, model.generate(list(seeds), psi, class_label=label))]


register_policy("stylegan", PREPROCESS)
register_policy("stylegan2", PREPROCESS)

SPEC = FamilySpec(
    name="stylegan",
    title="StyleGAN / StyleGAN2",
    converter_families=("stylegan2", "stylegan"),
    model_classes=(StyleGAN2, StyleGAN),
    space="stylegan",
    preprocessing=PREPROCESS,
    configs=_configs(),
    convert=convert,
    parity=parity,
    bench_cases=bench.cases,
    sample=sample,
    test_config=dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16,
                     num_fp16_res=0, conv_clamp=None),
    training="train.stylegan",
    generate=generate,
    evaluate=evaluation.evaluate,
    paper="https://arxiv.org/abs/1912.04958",
    official_code="https://github.com/NVlabs/stylegan2-ada-pytorch",
    notes={"stylegan": "StyleGAN (v1): https://arxiv.org/abs/1812.04948, https://github.com/NVlabs/stylegan",
           "stylegan2 (rosinality)": "https://github.com/rosinality/stylegan2-pytorch .pt files convert too"},
)
