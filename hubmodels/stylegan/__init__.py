"""StyleGAN (Karras et al., CVPR 2019) and StyleGAN2 (CVPR 2020): style-based generators in one room.

``StyleGAN2`` (converter family ``stylegan2``: stylegan2-ada network pickles, read without running their code,
and rosinality ``.pt`` files) and ``StyleGAN`` (``stylegan``: genforce's ``.pth`` and the original NVlabs
TensorFlow pickles) share the generation contract (``mapping``, ``synthesis``, ``noise_shapes``) and the
inference methods of :class:`~.inference.StyleGANInference`: ``generate``, ``style_mixing``, ``interpolate``,
``project``. The family's spec (:data:`.spec.SPEC`) tells the rest of hubmodels what this room offers.
"""
from __future__ import annotations

from .inference import Projection, StyleGANInference
from .model_v1 import NAMED_CONFIGS_V1, StyleGAN
from .model_v2 import NAMED_CONFIGS_V2, StyleGAN2

__all__ = ["StyleGAN", "StyleGAN2", "StyleGANInference", "Projection", "NAMED_CONFIGS_V1", "NAMED_CONFIGS_V2"]
