"""StyleGAN2: the hub model (mapping + synthesis [+ discriminator]), its released configurations and sources."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ..hub import HubModel
from .fast import INFERENCE_SWAPS
from .inference import StyleGANInference
from .networks_v2 import NOISE_MODES, Discriminator, MappingNetwork, SynthesisNetwork

__all__ = ["StyleGAN2", "NAMED_CONFIGS_V2", "OFFICIAL_WEIGHTS_V2", "CITATION_V2"]

CITATION_V2 = """@inproceedings{karras2020stylegan2,
  title     = {Analyzing and Improving the Image Quality of {StyleGAN}},
  author    = {Karras, Tero and Laine, Samuli and Aittala, Miika and Hellsten, Janne and Lehtinen, Jaakko
               and Aila, Timo},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020}
}
@inproceedings{karras2020ada,
  title     = {Training Generative Adversarial Networks with Limited Data},
  author    = {Karras, Tero and Aittala, Miika and Hellsten, Janne and Laine, Samuli and Lehtinen, Jaakko
               and Aila, Timo},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2020}
}"""

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"


def _named(description: str, *, resolution: int, channel_base: int = 32768, mapping_layers: int = 8,
           c_dim: int = 0, num_fp16_res: int = 4, conv_clamp: float | None = 256, mbstd: int | None = 4,
           d_architecture: str = "resnet") -> dict[str, Any]:
    return {
        "description": description,
        "config": dict(z_dim=512, w_dim=512, c_dim=c_dim, img_resolution=resolution, img_channels=3,
                       mapping_layers=mapping_layers, channel_base=channel_base, channel_max=512,
                       num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, d_architecture=d_architecture,
                       d_conv_clamp=conv_clamp, d_mbstd_group_size=mbstd),
    }


# Our constructor arguments for every released StyleGAN2 network we convert. The full-size tensor shapes of
# each are checked against the reference cases' full_config_shapes.json (tests/test_stylegan2_parity.py).
NAMED_CONFIGS_V2: dict[str, dict[str, Any]] = {
    "stylegan2_ffhq_1024": _named("FFHQ 1024x1024, config-f (the paper's network; ada's ffhq.pkl, converted from "
                                  "TensorFlow: no fp16 blocks, no clamp)", resolution=1024, num_fp16_res=0,
                                  conv_clamp=None),
    "stylegan2_ffhq_512": _named("FFHQ 512x512, ada cfg 'stylegan2' transfer-learning source net",
                                 resolution=512, mbstd=8),
    "stylegan2_ffhq_256": _named("FFHQ 256x256, ada cfg 'paper256' (half the channels below 64px)",
                                 resolution=256, channel_base=16384, mbstd=8),
    "stylegan2_metfaces_1024": _named("MetFaces 1024x1024 (ADA, transfer from FFHQ), cfg 'paper1024'",
                                      resolution=1024),
    "stylegan2_afhqcat_512": _named("AFHQ Cat 512x512 (ADA), cfg 'paper512'", resolution=512, mbstd=8),
    "stylegan2_afhqdog_512": _named("AFHQ Dog 512x512 (ADA), cfg 'paper512'", resolution=512, mbstd=8),
    "stylegan2_afhqwild_512": _named("AFHQ Wild 512x512 (ADA), cfg 'paper512'", resolution=512, mbstd=8),
    "stylegan2_brecahad_512": _named("BreCaHAD 512x512 crops (ADA), cfg 'paper512'", resolution=512, mbstd=8),
    "stylegan2_cifar10_32": _named("CIFAR-10 32x32, class-conditional (c_dim 10), cfg 'cifar'", resolution=32,
                                   mapping_layers=2, c_dim=10, mbstd=32, d_architecture="orig"),
    # rosinality's train.py at --size 256 --channel_multiplier 2: the same network as config-f at 256px
    # (channel_base 32768), trained without fp16 or clamping.
    "stylegan2_ffhq_256_rosinality": _named("FFHQ 256x256, rosinality/stylegan2-pytorch's 550000.pt "
                                            "(channel_multiplier 2)", resolution=256, num_fp16_res=0,
                                            conv_clamp=None),
}

OFFICIAL_WEIGHTS_V2: dict[str, dict[str, str]] = {
    "stylegan2_ffhq_1024": {"format": "ada", "url": f"{_ADA}/ffhq.pkl",
                            "note": "legacy.py conversion of NVlabs/stylegan2 stylegan2-ffhq-config-f.pkl"},
    "stylegan2_ffhq_512": {"format": "ada", "url": "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/"
                                                   "pretrained/transfer-learning-source-nets/"
                                                   "ffhq-res512-mirror-stylegan2-noaug.pkl"},
    "stylegan2_ffhq_256": {"format": "ada", "url": "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/"
                                                   "pretrained/transfer-learning-source-nets/"
                                                   "ffhq-res256-mirror-paper256-noaug.pkl"},
    "stylegan2_metfaces_1024": {"format": "ada", "url": f"{_ADA}/metfaces.pkl"},
    "stylegan2_afhqcat_512": {"format": "ada", "url": f"{_ADA}/afhqcat.pkl"},
    "stylegan2_afhqdog_512": {"format": "ada", "url": f"{_ADA}/afhqdog.pkl"},
    "stylegan2_afhqwild_512": {"format": "ada", "url": f"{_ADA}/afhqwild.pkl"},
    "stylegan2_brecahad_512": {"format": "ada", "url": f"{_ADA}/brecahad.pkl"},
    "stylegan2_cifar10_32": {"format": "ada", "url": f"{_ADA}/cifar10.pkl"},
    "stylegan2_ffhq_256_rosinality": {
        "format": "rosinality", "url": "https://github.com/rosinality/stylegan2-pytorch (README: 550000.pt, "
                                       "Google Drive link)",
        "note": "train.py checkpoint from an older model.py: g_ema lacks noises.noise_* and there is no "
                "latent_avg; the converter makes both deterministically and warns"},
}


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _clamp(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number or None (no clamping), got {value!r}")
    return float(value)


class StyleGAN2(
    StyleGANInference,
    HubModel,
    family="stylegan2",
    license="other",
    pipeline_tag="unconditional-image-generation",
    paper_url="https://arxiv.org/abs/1912.04958",
    repo_url="https://github.com/NVlabs/stylegan2-ada-pytorch",
    tags=["stylegan2", "stylegan", "gan", "image-generation", "unconditional-image-generation"],
    citation=CITATION_V2,
):
    """StyleGAN2 (Karras et al., CVPR 2020), as trained by stylegan2-ada-pytorch or rosinality/stylegan2-pytorch.

    ``mapping_network`` maps z (and a one-hot label when ``c_dim > 0``) to ``num_ws`` copies of w;
    ``synthesis_network`` turns per-layer ws into an image. ``channel_base``/``channel_max`` size the maps
    (``min(channel_base // res, channel_max)`` at each resolution); ``num_fp16_res`` highest resolutions run
    in fp16 on CUDA (never elsewhere); ``conv_clamp`` clamps every conv output to +-value (None: off).
    ``with_discriminator`` adds ada's discriminator (``d_*`` options), present in training checkpoints.
    Weights license: NVIDIA Source Code License-NC for the NVlabs networks (non-commercial), MIT for the
    rosinality-trained ones; see the model card of each converted model.
    """

    inference_swaps = INFERENCE_SWAPS  # exact rewrites for the "rewrites" path and up (see .fast)

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        c_dim: int = 0,
        img_resolution: int = 1024,
        img_channels: int = 3,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        resample_filter: list[int] | None = None,
        with_discriminator: bool = False,
        d_architecture: str = "resnet",
        d_channel_base: int | None = None,
        d_channel_max: int | None = None,
        d_num_fp16_res: int | None = None,
        d_conv_clamp: float | None = None,
        d_mbstd_group_size: int | None = 4,
        d_mbstd_num_channels: int = 1,
        d_cmap_dim: int | None = None,
        d_mapping_layers: int = 8,
        d_mapping_lr_multiplier: float = 0.01,
    ):
        super().__init__()
        _int("z_dim", z_dim, 1)
        _int("w_dim", w_dim, 1)
        _int("c_dim", c_dim, 0)
        _int("img_channels", img_channels, 1)
        _int("mapping_layers", mapping_layers, 1)
        _int("channel_base", channel_base, 1)
        _int("channel_max", channel_max, 1)
        _int("num_fp16_res", num_fp16_res, 0)
        if _int("img_resolution", img_resolution, 4) & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        for name, value in (("mapping_lr_multiplier", mapping_lr_multiplier),
                            ("d_mapping_lr_multiplier", d_mapping_lr_multiplier)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if channel_base // img_resolution < 1:
            raise ValueError(f"channel_base {channel_base} gives no channels at {img_resolution}px "
                             f"(channels = min(channel_base // res, channel_max))")
        conv_clamp = _clamp("conv_clamp", conv_clamp)
        if resample_filter is None:
            resample_filter = [1, 3, 3, 1]
        if not isinstance(resample_filter, (list, tuple)) or not resample_filter \
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in resample_filter) \
                or sum(resample_filter) <= 0:
            raise ValueError(f"resample_filter must be a list of filter taps with a positive sum, "
                             f"got {resample_filter!r}")
        if not isinstance(with_discriminator, bool):
            raise ValueError(f"with_discriminator must be true or false, got {with_discriminator!r}")
        if d_architecture not in Discriminator.ARCHITECTURES:
            raise ValueError(f"d_architecture must be one of {Discriminator.ARCHITECTURES}, got {d_architecture!r}")
        if d_mbstd_group_size is not None:
            _int("d_mbstd_group_size", d_mbstd_group_size, 1)
        _int("d_mbstd_num_channels", d_mbstd_num_channels, 0)
        _int("d_mapping_layers", d_mapping_layers, 0)
        for name, value in (("d_channel_base", d_channel_base), ("d_channel_max", d_channel_max),
                            ("d_cmap_dim", d_cmap_dim)):
            if value is not None:
                _int(name, value, 1)
        if d_num_fp16_res is not None:
            _int("d_num_fp16_res", d_num_fp16_res, 0)
        d_conv_clamp = _clamp("d_conv_clamp", d_conv_clamp)

        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis_network = SynthesisNetwork(
            w_dim, img_resolution, img_channels, channel_base=channel_base, channel_max=channel_max,
            num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, resample_filter=list(resample_filter))
        self.num_ws = self.synthesis_network.num_ws
        self.mapping_network = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                              lr_multiplier=float(mapping_lr_multiplier))
        if with_discriminator:
            self.discriminator = Discriminator(
                c_dim, img_resolution, img_channels, architecture=d_architecture,
                channel_base=channel_base if d_channel_base is None else d_channel_base,
                channel_max=channel_max if d_channel_max is None else d_channel_max,
                num_fp16_res=num_fp16_res if d_num_fp16_res is None else d_num_fp16_res,
                conv_clamp=d_conv_clamp, cmap_dim=d_cmap_dim, mbstd_group_size=d_mbstd_group_size,
                mbstd_num_channels=d_mbstd_num_channels, mapping_layers=d_mapping_layers,
                mapping_lr_multiplier=float(d_mapping_lr_multiplier),
                resample_filter=list(resample_filter))
        else:
            self.discriminator = None
        self.eval()

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    # ---- the generator ----------------------------------------------------------------------------------

    def _check_c(self, z: Tensor, c: Tensor | None) -> Tensor | None:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.c_dim == 0:
            if c is not None and c.numel() > 0:
                raise ValueError("this StyleGAN2 is unconditional (c_dim = 0): pass c=None")
            return None
        if c is None:
            raise ValueError(f"this StyleGAN2 is class-conditional: pass c, one-hot [N, {self.c_dim}]")
        if c.ndim != 2 or c.shape != (z.shape[0], self.c_dim):
            raise ValueError(f"c must have shape [{z.shape[0]}, {self.c_dim}] (one-hot labels), got {list(c.shape)}")
        return c

    def mapping(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        """z [N, z_dim] (+ one-hot c [N, c_dim]) -> ws [N, num_ws, w_dim]; rows [0, cutoff) (all when None)
        move towards ``mapping_network.w_avg`` by ``truncation_psi`` (1 = no truncation)."""
        c = self._check_c(z, c)
        if truncation_cutoff is not None:
            _int("truncation_cutoff", truncation_cutoff, 0)
        return self.mapping_network(z, c, truncation_psi=truncation_psi,
                                    truncation_cutoff=truncation_cutoff).to(torch.float32)

    def synthesis(self, ws: Tensor, *, noise_mode: str = "const", generator: torch.Generator | None = None,
                  noise: list[Tensor] | None = None, force_fp32: bool = False) -> Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, H, W] in float32, roughly [-1, 1], not clamped.

        ``noise_mode``: ``"const"`` the stored per-layer maps (deterministic), ``"random"`` fresh
        ``torch.randn`` maps from ``generator`` on ws's device, ``"none"`` no noise. ``noise`` (one map per
        layer, shapes from :meth:`noise_shapes`, batch 1 or N) overrides the mode.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise is not None:
            shapes = self.noise_shapes()
            if len(noise) != len(shapes):
                raise ValueError(f"noise must hold {len(shapes)} maps, one per layer, got {len(noise)}")
            for i, (n, s) in enumerate(zip(noise, shapes)):
                if n.ndim != 4 or tuple(n.shape[1:]) != s or n.shape[0] not in (1, ws.shape[0]):
                    raise ValueError(f"noise[{i}] must have shape [N or 1, {s[0]}, {s[1]}, {s[2]}], got "
                                     f"{list(n.shape)}")
        return self.synthesis_network(ws, noise_mode=noise_mode, noise=noise, generator=generator,
                                      force_fp32=force_fp32)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """(1, H, W) of each noise input, in the order ``synthesis(noise=...)`` takes them."""
        return [(1, layer.resolution, layer.resolution) for layer in self.synthesis_network.noise_layers()]

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                generator: torch.Generator | None = None) -> Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator)

    def discriminate(self, img: Tensor, c: Tensor | None = None, *, force_fp32: bool = False) -> Tensor:
        """Real/fake logits [N, 1] (projected onto the label embedding when c_dim > 0)."""
        if self.discriminator is None:
            raise ValueError("this StyleGAN2 was loaded without its discriminator (with_discriminator=False)")
        return self.discriminator(img, c, force_fp32=force_fp32)

    # ---- conversion ------------------------------------------------------------------------------------

    @classmethod
    def from_official(cls, source: str | Path | Mapping | Any, *, config: str | None = None,
                      discriminator: str | Path | Mapping | None = None) -> "StyleGAN2":
        """Load an official StyleGAN2 checkpoint: an ada network pickle (``ffhq.pkl``,
        ``network-snapshot-*.pkl``; read without running any of its code), a rosinality ``.pt``
        (``g_ema`` [+ ``d``, ``latent_avg``]), an ada state-dict safetensors file (reference-case form), or such
        an object already loaded. ``config`` names an entry of ``NAMED_CONFIGS_V2`` whose arguments must match
        what the file holds. ``discriminator``: a separate D file (safetensors form) to add.
        """
        from .convert_v2 import from_official

        return from_official(source, config=config, discriminator=discriminator, cls=cls)
