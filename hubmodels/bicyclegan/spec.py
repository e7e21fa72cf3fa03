"""BicycleGAN's family spec: what this room offers the rest of hubmodels (see :mod:`hubmodels.family`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..family import FamilySpec, OfficialConfig
from ..images import image_grid, register_policy, to_pil
from . import bench, evaluation, parity
from .configs import NAMED_CONFIGS, OFFICIAL_WEIGHTS, POLICIES, PREPROCESS
from .model import BicycleGAN

__all__ = ["SPEC", "convert", "sample", "translate", "SAMPLES"]

SAMPLES = 4  # outputs in the card's picture


def convert(family: str, files: Sequence[str | Path], config: str | None = None) -> BicycleGAN:
    """``*_net_G.pth`` [``*_net_E.pth``] -> :class:`BicycleGAN` (``family`` is always ``bicyclegan``)."""
    if not 1 <= len(files) <= 2:
        raise ValueError(f"BicycleGAN converts a generator *_net_G.pth, optionally with its encoder *_net_E.pth; "
                         f"got {len(files)} files")
    return BicycleGAN.from_official(*files, config=config)


@torch.no_grad()
def sample(model: BicycleGAN, seed: int = 0) -> Image.Image:
    """A held-out SynthFaces sketch (its photo for 3-channel-input models), then ``SAMPLES`` outputs with the random
    codes of seeds ``seed * SAMPLES ...`` (one output for a deterministic nz=0 model)."""
    from ..data.synthfaces import VAL_INDEX_OFFSET, render_face

    size = model.img_size
    face = render_face(seed, VAL_INDEX_OFFSET, size=min(size, 1024))
    source = face.edges if model.input_nc == 1 else face.image
    n = 1 if model.nz == 0 else SAMPLES
    outs = model.sample(source, num_samples=n, seed=seed * SAMPLES, output="tensor")[0]
    return image_grid([source.convert("RGB").resize((size, size))] + to_pil(outs), nrow=1 + n)


def translate(model: BicycleGAN, image: Image.Image, seeds: Sequence[int]) -> list[tuple[str, Image.Image]]:
    """The dashboard's view: one output per seed (edge-map models turn a photo into edges first, shown too)."""
    from .edges import looks_like_line_drawing

    out: list[tuple[str, Image.Image]] = []
    source = image
    if model.input_nc == 1 and not looks_like_line_drawing(image):
        source = model.photo_to_edges(image)
        out.append(("edges of the photo", source.convert("RGB")))
    if model.nz == 0:
        return out + [("output (deterministic)", model.sample(source, num_samples=1)[0])]
    images = model.translate(source, model.latent_codes(list(seeds)))
    return out + [(f"seed {s}", im) for s, im in zip(seeds, images)]


for _name, _policy in POLICIES.items():
    register_policy(_name, _policy)

SPEC = FamilySpec(
    name="bicyclegan",
    title="BicycleGAN",
    converter_families=("bicyclegan",),
    model_classes=(BicycleGAN,),
    space="bicyclegan",
    preprocessing=PREPROCESS,
    configs=tuple(
        OfficialConfig(name, BicycleGAN, {k: v for k, v in cfg.items() if k != "description"}, cfg["description"],
                       OFFICIAL_WEIGHTS[name])
        for name, cfg in NAMED_CONFIGS.items()
    ),
    convert=convert,
    parity=parity,
    bench_cases=bench.cases,
    sample=sample,
    test_config=dict(input_nc=1, output_nc=3, nz=4, ngf=4, nef=4, num_downs=6, encoder="resnet", encoder_depth=3,
                     img_size=64),
    training="train.bicyclegan",
    translate=translate,
    evaluate=evaluation.evaluate,
    paper="https://arxiv.org/abs/1711.11586",
    official_code="https://github.com/junyanz/BicycleGAN",
)
