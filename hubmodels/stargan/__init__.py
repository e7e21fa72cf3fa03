"""StarGAN (Choi et al., CVPR 2018): multi-domain image-to-image translation with one generator.

``StarGAN`` is the hub model, with its inference methods (``translate``, ``edit_grid``, ``single_edits``,
``classify``, ...); ``StarGAN.from_official`` converts the official ``{iters}-G.ckpt`` (and ``-D.ckpt``);
the family's spec (:data:`.spec.SPEC`) tells the rest of hubmodels what this room offers.
"""
from __future__ import annotations

from .configs import CELEBA_ATTRIBUTES, NAMED_CONFIGS, RAFD_EXPRESSIONS
from .convert import OfficialCheckpointError, load_official
from .model import StarGAN
from .networks import Discriminator, Generator, InstanceNorm2d, ResidualBlock

from_official = StarGAN.from_official

__all__ = ["StarGAN", "from_official", "load_official", "OfficialCheckpointError", "Generator", "Discriminator",
           "ResidualBlock", "InstanceNorm2d", "NAMED_CONFIGS", "CELEBA_ATTRIBUTES", "RAFD_EXPRESSIONS"]
