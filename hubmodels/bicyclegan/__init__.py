"""BicycleGAN (Zhu et al., NeurIPS 2017): multimodal image-to-image translation.

``BicycleGAN`` is the hub model (generator + encoder), with its inference methods (``sample``, ``encode``,
``style_transfer``, ``interpolate``, ``photo_to_edges``, ...); ``BicycleGAN.from_official`` converts the official
``*_net_G.pth`` / ``*_net_E.pth`` files; the family's spec (:data:`.spec.SPEC`) tells the rest of hubmodels what
this room offers.
"""
from __future__ import annotations

from .configs import NAMED_CONFIGS
from .convert import discriminator_from_official, load_official
from .edges import detect_edges, edge_agreement, photo_to_edges
from .model import BicycleGAN
from .networks import (
    BasicBlock,
    ConvEncoder,
    MultiscaleDiscriminator,
    ResNetEncoder,
    UnetBlock,
    UnetBlockZ,
    UnetGenerator,
)

from_official = BicycleGAN.from_official

__all__ = [
    "BicycleGAN",
    "from_official",
    "discriminator_from_official",
    "load_official",
    "UnetGenerator",
    "UnetBlockZ",
    "UnetBlock",
    "ResNetEncoder",
    "ConvEncoder",
    "BasicBlock",
    "MultiscaleDiscriminator",
    "photo_to_edges",
    "detect_edges",
    "edge_agreement",
    "NAMED_CONFIGS",
]
