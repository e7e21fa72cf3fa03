"""StarGAN's family spec: what this room offers the rest of hubmodels (see :mod:`hubmodels.family`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..family import FamilySpec, OfficialConfig
from ..images import register_policy
from . import bench, evaluation, parity
from .configs import NAMED_CONFIGS, OFFICIAL_WEIGHTS, PREPROCESS, PREPROCESS_RAFD
from .convert import is_discriminator, load_official
from .model import StarGAN

__all__ = ["SPEC", "convert", "sample", "translate"]


def convert(family: str, files: Sequence[str | Path], config: str | None = None) -> StarGAN:
    """``{iters}-G.ckpt`` [``{iters}-D.ckpt``] -> :class:`StarGAN` (either order; ``family`` is ``stargan``)."""
    if not 1 <= len(files) <= 2:
        raise ValueError(f"StarGAN converts {{iters}}-G.ckpt, optionally with {{iters}}-D.ckpt; got {len(files)} files")
    states = [load_official(f) for f in files]
    if len(states) == 2 and is_discriminator(states[0]) and not is_discriminator(states[1]):
        states.reverse()
    return StarGAN.from_official(*states, config=config)


@torch.no_grad()
def sample(model: StarGAN, seed: int = 0) -> Image.Image:
    """A held-out SynthFaces face (``seed`` picks it) and every single-attribute edit of it, as the paper's
    figures. The face's true attributes are the source labels when the model's are SynthFaces'; otherwise the
    discriminator reads them (or, without one, every attribute starts at 0)."""
    from ..data.synthfaces import ATTRIBUTES, VAL_INDEX_OFFSET, render_face

    face = render_face(seed, VAL_INDEX_OFFSET, size=min(max(model.image_size, 8), 1024))
    source = None
    if model.label_types[0] == "multi":
        if set(model.attributes) <= set(ATTRIBUTES):
            source = {a: int(face.attributes[a]) for a in model.attributes}
        elif not model.has_discriminator:
            source = {a: 0 for a in model.attributes}
    return model.edit_grid(face.image, source=source, crop_size=None, padding=2)


def translate(model: StarGAN, image: Image.Image, seeds: Sequence[int]) -> list[tuple[str, Image.Image]]:
    """The dashboard's view: every single-attribute edit of the image (StarGAN is deterministic: no seeds).

    The source's labels are read by the discriminator; a model without one starts from all attributes off."""
    source = None
    if model.label_types[0] == "multi" and not model.has_discriminator:
        source = {a: 0 for a in model.attributes}
    return [(caption, im) for caption, im in model.single_edits(image, source=source, crop_size=None)[1:]]


register_policy("stargan", PREPROCESS)
register_policy("stargan_celeba", PREPROCESS)
register_policy("stargan_rafd", PREPROCESS_RAFD)

SPEC = FamilySpec(
    name="stargan",
    title="StarGAN",
    converter_families=("stargan",),
    model_classes=(StarGAN,),
    space="stargan",
    preprocessing=PREPROCESS,
    configs=tuple(
        OfficialConfig(name, StarGAN, {k: v for k, v in cfg.items() if k != "description"}, cfg["description"],
                       OFFICIAL_WEIGHTS[name])
        for name, cfg in NAMED_CONFIGS.items()
    ),
    convert=convert,
    parity=parity,
    bench_cases=bench.cases,
    sample=sample,
    test_config=dict(image_size=32, c_dim=5, conv_dim=8, repeat_num=2, d_conv_dim=8, d_repeat_num=3,
                     attributes=["black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth"],
                     exclusive_groups=[["black_fur", "golden_fur", "brown_fur"]], datasets=["synthfaces"],
                     crop_size=None),
    training="train.stargan",
    translate=translate,
    evaluate=evaluation.evaluate,
    paper="https://arxiv.org/abs/1711.09020",
    official_code="https://github.com/yunjey/stargan",
    notes={"inference": "instance norms use each image's own statistics, as the official test (never G.eval())"},
)
