"""StarGAN v2 (Choi et al., CVPR 2020): diverse multi-domain image-to-image translation.

``StarGANv2`` is the hub model; ``from_official`` converts the official checkpoints; the named
configurations ``stargan_v2_celebahq_256`` and ``stargan_v2_afhq_256`` are registered on import.
"""
from __future__ import annotations

from ..registry import register_config
from .convert import discriminator_from_official, from_official, load_official
from .fan import FAN
from .model import NAMED_CONFIGS, StarGANv2
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

for _name, _cfg in NAMED_CONFIGS.items():
    _kwargs = {k: v for k, v in _cfg.items() if k != "description"}
    register_config(_name, StarGANv2, description=_cfg.get("description", ""), **_kwargs)
