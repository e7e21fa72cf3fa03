"""StarGAN v2 (Choi et al., CVPR 2020): diverse multi-domain image-to-image translation.

``StarGANv2`` is the hub model, with its inference methods (``latent_guided``, ``reference_guided``,
``interpolate``, ...); ``StarGANv2.from_official`` converts the official checkpoints; the family's spec
(:data:`.spec.SPEC`) tells the rest of hubmodels what this room offers.
"""
from __future__ import annotations

from .configs import NAMED_CONFIGS
from .convert import discriminator_from_official, load_official
from .fan import FAN
from .model import StarGANv2
from .networks import (
    AdaIN,
    AdainResBlk,
    Discriminator,
    Generator,
    HighPass,
    MappingNetwork,
    ResBlk,
    StyleEncoder,
)

from_official = StarGANv2.from_official

__all__ = [
    "StarGANv2",
    "from_official",
    "discriminator_from_official",
    "load_official",
    "FAN",
    "Generator",
    "MappingNetwork",
    "StyleEncoder",
    "Discriminator",
    "ResBlk",
    "AdaIN",
    "AdainResBlk",
    "HighPass",
    "NAMED_CONFIGS",
]
