"""StarGAN v2's family spec: what this room offers the rest of hubmodels (see :mod:`hubmodels.family`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..family import FamilySpec, OfficialConfig
from ..images import image_grid, register_policy, to_pil
from . import bench, evaluation, parity
from .configs import NAMED_CONFIGS, OFFICIAL_WEIGHTS, PREPROCESS
from .model import StarGANv2

__all__ = ["SPEC", "convert", "sample", "translate"]


def convert(family: str, files: Sequence[str | Path], config: str | None = None) -> StarGANv2:
    """``{step}_nets_ema.ckpt`` [``wing.ckpt``] -> :class:`StarGANv2` (``family`` is always ``stargan_v2``)."""
    if not 1 <= len(files) <= 2:
        raise ValueError(f"StarGAN v2 converts one {{step}}_nets_ema.ckpt, optionally followed by wing.ckpt; "
                         f"got {len(files)} files")
    return StarGANv2.from_official(*files, config=config)


@torch.no_grad()
def sample(model: StarGANv2, seed: int = 0) -> Image.Image:
    """One held-out SynthFaces face, then its latent-guided translation into every domain (style ``seed``)."""
    from ..data.synthfaces import DOMAINS, VAL_INDEX_OFFSET, render_face

    domain = next((d for d in model.domains if d in DOMAINS), None)
    source = render_face(seed, VAL_INDEX_OFFSET, size=model.img_size, domain=domain).image
    masks = None
    if model.w_hpf > 0 and getattr(model, "fan", None) is None:
        # no FAN to find the face: let every pixel through the high-pass skips
        ones = torch.ones(1, 1, model.img_size, model.img_size, device=model.device)
        masks = (ones, ones)
    outs = [model.latent_guided(source, d, num_samples=1, seed=seed, masks=masks, output="tensor")[0, 0]
            for d in range(model.num_domains)]
    return image_grid([source.resize((model.img_size,) * 2)] + to_pil(torch.stack(outs)), nrow=1 + len(outs))


def translate(model: StarGANv2, image: Image.Image, seeds: Sequence[int]) -> list[tuple[str, Image.Image]]:
    """The dashboard's view: the image in every domain, one latent-guided style per seed."""
    out = []
    for domain in model.domains:
        for seed in seeds:
            out.append((f"{domain}, seed {seed}", model.latent_guided(image, domain, num_samples=1, seed=seed)[0]))
    return out


register_policy("stargan_v2", PREPROCESS)

SPEC = FamilySpec(
    name="stargan_v2",
    title="StarGAN v2",
    converter_families=("stargan_v2",),
    model_classes=(StarGANv2,),
    space="stargan-v2",
    preprocessing=PREPROCESS,
    configs=tuple(
        OfficialConfig(name, StarGANv2, {k: v for k, v in cfg.items() if k != "description"}, cfg["description"],
                       OFFICIAL_WEIGHTS[name])
        for name, cfg in NAMED_CONFIGS.items()
    ),
    convert=convert,
    parity=parity,
    bench_cases=bench.cases,
    sample=sample,
    test_config=dict(img_size=32, num_domains=3, style_dim=16, latent_dim=8, hidden_dim=32, dim_in=8,
                     max_conv_dim=32, domains=["cat", "dog", "fox"]),
    training="train.stargan_v2",
    translate=translate,
    evaluate=evaluation.evaluate,
    paper="https://arxiv.org/abs/1912.01865",
    official_code="https://github.com/clovaai/stargan-v2",
)
