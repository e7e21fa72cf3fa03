"""StyleGAN (v1): the hub model (mapping + synthesis [+ discriminator]), its released configurations and the
public generation contract shared with StyleGAN2 (``mapping``, ``synthesis``, ``noise_shapes``, ``forward``)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ..hub import HubModel
from .inference import StyleGANInference
from .networks_v1 import NOISE_MODES, Discriminator, MappingNetwork, SynthesisNetwork, truncate

__all__ = ["StyleGAN", "NAMED_CONFIGS_V1", "OFFICIAL_WEIGHTS_V1", "CITATION_V1"]

CITATION_V1 = """@inproceedings{karras2019style,
  title     = {A Style-Based Generator Architecture for Generative Adversarial Networks},
  author    = {Karras, Tero and Laine, Samuli and Aila, Timo},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {4401--4410},
  year      = {2019}
}"""

_RELEASED = dict(z_dim=512, w_dim=512, c_dim=0, img_channels=3, mapping_layers=8, mapping_fmaps=512,
                 mapping_lr_mul=0.01, fmaps_base=16384, fmaps_max=512, fused_scale="auto")

# The released NVlabs models (all other arguments at the official defaults), named after genforce's zoo.
NAMED_CONFIGS_V1: dict[str, dict[str, Any]] = {
    "stylegan_ffhq_1024": dict(_RELEASED, img_resolution=1024,
                               description="StyleGAN trained on FFHQ (70k aligned faces), 1024x1024"),
    "stylegan_celebahq_1024": dict(_RELEASED, img_resolution=1024,
                                   description="StyleGAN trained on CelebA-HQ faces, 1024x1024"),
    "stylegan_bedrooms_256": dict(_RELEASED, img_resolution=256,
                                  description="StyleGAN trained on LSUN Bedroom, 256x256"),
    "stylegan_cats_256": dict(_RELEASED, img_resolution=256,
                              description="StyleGAN trained on LSUN Cat, 256x256"),
}

_NV = "https://github.com/NVlabs/stylegan (Google Drive links in its README)"
_GF = "https://github.com/genforce/genforce models/model_zoo.py"
OFFICIAL_WEIGHTS_V1: dict[str, dict[str, str]] = {
    "stylegan_ffhq_1024": {"tf_pickle": "karras2019stylegan-ffhq-1024x1024.pkl", "tf_source": _NV,
                           "genforce": "stylegan_ffhq1024.pth", "genforce_source": _GF},
    "stylegan_celebahq_1024": {"tf_pickle": "karras2019stylegan-celebahq-1024x1024.pkl", "tf_source": _NV,
                               "genforce": "stylegan_celebahq1024.pth", "genforce_source": _GF},
    "stylegan_bedrooms_256": {"tf_pickle": "karras2019stylegan-bedrooms-256x256.pkl", "tf_source": _NV,
                              "genforce": "stylegan_bedroom256.pth", "genforce_source": _GF},
    "stylegan_cats_256": {"tf_pickle": "karras2019stylegan-cats-256x256.pkl", "tf_source": _NV,
                          "genforce": "stylegan_cat256.pth", "genforce_source": _GF},
}


def _int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _fused(name: str, value: Any) -> bool | str:
    if value not in ("auto", True, False) or (not isinstance(value, bool) and value != "auto"):
        raise ValueError(f"{name} must be true, false or \"auto\" (fused from 128 px, the official default), "
                         f"got {value!r}")
    return value


class StyleGAN(
    StyleGANInference,
    HubModel,
    family="stylegan",
    license="cc-by-nc-4.0",
    pipeline_tag="unconditional-image-generation",
    paper_url="https://arxiv.org/abs/1812.04948",
    repo_url="https://github.com/NVlabs/stylegan",
    tags=["stylegan", "gan", "image-generation", "unconditional-image-generation"],
    citation=CITATION_V1,
):
    """StyleGAN (Karras, Laine, Aila; CVPR 2019): a mapping network z -> w and a style-based synthesis
    network driven by one w per layer (``num_ws = 2 * log2(img_resolution) - 2``), plus per-pixel noise.

    ``fmaps_base``/``fmaps_max``: feature maps ``min(fmaps_base // res, fmaps_max)`` at each resolution
    (genforce's convention; 16384 and 512 for the released models). ``fused_scale``: up/down-sampling convs
    as one transposed / strided conv (``"auto"``: from 128 px, as the official). The discriminator (only in
    training checkpoints, ``with_discriminator``) uses ``d_fmaps_base``/``d_fmaps_max`` (default: the
    generator's) and the minibatch stddev layer (``mbstd_group_size``, 0 or 1 disables it).
    Only the official square, constant-input, repeated-w configuration is supported.
    """

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        c_dim: int = 0,
        img_resolution: int = 1024,
        img_channels: int = 3,
        mapping_layers: int = 8,
        mapping_fmaps: int = 512,
        mapping_lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
        fmaps_base: int = 16384,
        fmaps_max: int = 512,
        fused_scale: bool | str = "auto",
        with_discriminator: bool = False,
        d_fmaps_base: int | None = None,
        d_fmaps_max: int | None = None,
        mbstd_group_size: int = 4,
        mbstd_num_features: int = 1,
    ):
        super().__init__()
        for name, value, low in (("z_dim", z_dim, 1), ("w_dim", w_dim, 1), ("c_dim", c_dim, 0),
                                 ("img_channels", img_channels, 1), ("mapping_layers", mapping_layers, 1),
                                 ("mapping_fmaps", mapping_fmaps, 1), ("fmaps_base", fmaps_base, 1),
                                 ("fmaps_max", fmaps_max, 1), ("mbstd_group_size", mbstd_group_size, 0),
                                 ("mbstd_num_features", mbstd_num_features, 1)):
            _int(name, value, low)
        _int("img_resolution", img_resolution, 8)
        if img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8 (square images), got {img_resolution}")
        for name, value in (("mapping_lr_mul", mapping_lr_mul), ("w_avg_beta", w_avg_beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if w_avg_beta > 1:
            raise ValueError(f"w_avg_beta must be in (0, 1], got {w_avg_beta!r}")
        _fused("fused_scale", fused_scale)
        if not isinstance(with_discriminator, bool):
            raise ValueError(f"with_discriminator must be true or false, got {with_discriminator!r}")
        d_base = fmaps_base if d_fmaps_base is None else _int("d_fmaps_base", d_fmaps_base)
        d_max = fmaps_max if d_fmaps_max is None else _int("d_fmaps_max", d_fmaps_max)
        if fmaps_base // img_resolution < 1:
            raise ValueError(f"fmaps_base {fmaps_base} gives no feature maps at {img_resolution} px "
                             f"(channels are fmaps_base // resolution): use fmaps_base >= {img_resolution}")
        if with_discriminator:
            if d_base // img_resolution < 1:
                raise ValueError(f"d_fmaps_base {d_base} gives no feature maps at {img_resolution} px")
            if mbstd_group_size > 1 and min(d_base // 4, d_max) % mbstd_num_features:
                raise ValueError(f"mbstd_num_features {mbstd_num_features} must divide the 4x4 channels "
                                 f"{min(d_base // 4, d_max)}")

        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.mapping_network = MappingNetwork(z_dim, w_dim, c_dim, mapping_layers, mapping_fmaps, mapping_lr_mul,
                                              w_avg_beta)
        self.synthesis_network = SynthesisNetwork(w_dim, img_resolution, img_channels, fmaps_base, fmaps_max,
                                                  fused_scale)
        self.num_ws = self.synthesis_network.num_ws
        if with_discriminator:
            self.discriminator = Discriminator(img_resolution, img_channels, c_dim, d_base, d_max, fused_scale,
                                               mbstd_group_size, mbstd_num_features)

    @property
    def has_discriminator(self) -> bool:
        return getattr(self, "discriminator", None) is not None

    # ---- the generation contract -------------------------------------------------------------

    def truncate(self, ws: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        """Truncation trick on ws [N, num_ws, w_dim] (or w [N, w_dim], broadcast): rows ``[0, cutoff)``
        towards ``mapping_network.w_avg`` (all rows when the cutoff is None)."""
        if isinstance(truncation_psi, bool) or not isinstance(truncation_psi, (int, float)) \
                or not math.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be a finite number, got {truncation_psi!r}")
        if truncation_cutoff is not None and (isinstance(truncation_cutoff, bool)
                                              or not isinstance(truncation_cutoff, int) or truncation_cutoff < 0):
            raise ValueError(f"truncation_cutoff must be None or an integer in [0, {self.num_ws}], "
                             f"got {truncation_cutoff!r}")
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).repeat(1, self.num_ws, 1)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        return truncate(ws, self.mapping_network.w_avg, float(truncation_psi), truncation_cutoff)

    def mapping(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        """z [N, z_dim] (+ one-hot c [N, c_dim] iff c_dim > 0) -> ws [N, num_ws, w_dim], truncated."""
        w = self.mapping_network(z, c)
        return self.truncate(w, truncation_psi, truncation_cutoff)

    def synthesis(self, ws: Tensor, *, noise_mode: str = "const", generator: torch.Generator | None = None,
                  noise: list[Tensor] | None = None) -> Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, H, W], roughly [-1, 1], not clamped.

        ``noise_mode``: ``"const"`` (the stored per-layer maps, the official ``randomize_noise=False``),
        ``"random"`` (fresh maps from ``torch.randn(..., generator=generator)`` on ws's device) or ``"none"``.
        ``noise``: explicit maps (shapes from :meth:`noise_shapes`, batch 1 or N), overriding the mode.
        """
        if noise is None and noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        return self.synthesis_network(ws, noise_mode, generator, noise)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """(1, H, W) of each noise input, in the order ``synthesis(noise=...)`` takes them."""
        return self.synthesis_network.noise_shapes()

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                generator: torch.Generator | None = None) -> Tensor:
        """``G(z, c)``: mapping (with truncation) then synthesis."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator)

    # ---- hub ------------------------------------------------------------------------------------

    def usage_snippet(self, repo_id: str) -> str:
        return (f"import torch\nimport hubmodels\n\nmodel = hubmodels.load({repo_id!r})\n"
                f"z = torch.randn(4, model.z_dim, generator=torch.Generator().manual_seed(0))\n"
                "images = model(z, truncation_psi=0.7, truncation_cutoff=8)  # [4, 3, H, W], about [-1, 1]")

    @classmethod
    def from_named(cls, name: str, **overrides: Any) -> "StyleGAN":
        """An untrained model of a released configuration (``NAMED_CONFIGS_V1``)."""
        if name not in NAMED_CONFIGS_V1:
            raise ValueError(f"unknown StyleGAN configuration {name!r}; known: {', '.join(NAMED_CONFIGS_V1)}")
        kwargs = {k: v for k, v in NAMED_CONFIGS_V1[name].items() if k != "description"}
        return cls(**{**kwargs, **overrides})

    @classmethod
    def from_official(cls, source: str | Path | Any, *, config: str | Mapping[str, Any] | None = None,
                      with_discriminator: bool | None = None) -> "StyleGAN":
        """Load an official checkpoint: genforce's converted ``.pth`` (``generator_smooth`` [+
        ``discriminator``]) or the original NVlabs TensorFlow pickle ``(G, D, Gs)`` (read as data, its
        embedded code never run); a path or the already-loaded object.

        ``config``: a name of ``NAMED_CONFIGS_V1``, a dict of our constructor arguments, or genforce's
        ``StyleGANGenerator`` keyword arguments; what it does not give is read from the tensor shapes
        (``fused_scale`` defaults to ``"auto"``, the official; it is not visible in the shapes and changes
        the generator's function below 128 px, so a model trained with another value must say so).
        ``with_discriminator``: None keeps the discriminator when the file has one.
        """
        from .convert_v1 import from_official

        return from_official(source, config=config, with_discriminator=with_discriminator, cls=cls)
