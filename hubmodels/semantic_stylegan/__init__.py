"""SemanticStyleGAN (Shi et al., CVPR 2022): a StyleGAN whose latent space is split by semantic region.

``SemanticStyleGAN`` (converter family ``semantic_stylegan``: the official train.py ``.pt`` files of GitHub release
1.0.0) generates an image together with its segmentation; :class:`~.inference.SemanticStyleGANInference` adds
``generate`` (image, class map, overlay), region-wise ``edit`` / ``interpolate_region`` and ``latent_layout``.
"""
from __future__ import annotations

from .inference import SemanticSample, SemanticStyleGANInference
from .model import NAMED_CONFIGS, OFFICIAL_WEIGHTS, SemanticStyleGAN

__all__ = ["SemanticStyleGAN", "SemanticStyleGANInference", "SemanticSample", "NAMED_CONFIGS", "OFFICIAL_WEIGHTS"]
