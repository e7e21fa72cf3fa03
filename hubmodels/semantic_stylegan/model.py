"""SemanticStyleGAN: the hub model (generator [+ dual-branch discriminator]), released configurations, sources."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ..hub import HubModel
from .fast import INFERENCE_SWAPS
from .inference import SemanticStyleGANInference
from .networks import NOISE_MODES, DualBranchDiscriminator, SemanticGenerator, _channels

__all__ = ["SemanticStyleGAN", "NAMED_CONFIGS", "OFFICIAL_WEIGHTS", "CITATION", "CELEBAMASKHQ_CLASSES",
           "OFFICIAL_PALETTE", "default_palette"]

CITATION = """@inproceedings{shi2022semanticstylegan,
  title     = {{SemanticStyleGAN}: Learning Compositional Generative Priors for Controllable Image Synthesis
               and Editing},
  author    = {Shi, Yichun and Yang, Xiao and Wan, Yangyue and Shen, Xiaohui},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2022}
}"""

# The 13 classes of the released models, in local-generator order (CelebAMask-HQ's 19 labels merged as the
# official data preparation does; names as the official visualisation scripts spell them).
CELEBAMASKHQ_CLASSES: tuple[str, ...] = ("background", "face", "eye", "eyebrow", "mouth", "nose", "ear", "hair",
                                         "neck", "cloth", "glasses", "hat", "earring")
# visualize/utils.py color_map of the official code (17 entries), used for class maps
OFFICIAL_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (239, 234, 90), (44, 105, 154), (4, 139, 168), (13, 179, 158), (131, 227, 119), (185, 231, 105),
    (107, 137, 198), (241, 196, 83), (242, 158, 76), (234, 114, 71), (215, 95, 155), (207, 113, 192),
    (159, 89, 165), (142, 82, 172), (158, 115, 200), (116, 95, 159))

_RELEASE = "https://github.com/seasonSH/SemanticStyleGAN/releases/download/1.0.0"


def default_palette(n: int) -> list[list[int]]:
    """The official colours for the first 17 classes, then evenly spread hues (deterministic)."""
    out = [list(c) for c in OFFICIAL_PALETTE[:n]]
    for k in range(len(out), n):
        h = (k * 0.618033988749895) % 1.0
        out.append([int(round(255 * (0.5 + 0.45 * math.cos(2 * math.pi * (h + s / 3))))) for s in range(3)])
    return out


def _released(description: str, file: str) -> dict[str, Any]:
    return {"description": description,
            "config": dict(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, seg_dim=13, local_layers=10,
                           base_layers=2, depth_layers=6, local_channel=64, coarse_channel=512, coarse_size=64,
                           min_feat_size=16, residual_refine=True, transparent_dims=[10, 12],
                           class_names=list(CELEBAMASKHQ_CLASSES)),
            "weights": {"url": f"{_RELEASE}/{file}", "format": "official .pt (train.py's torch.save dict: g, d, "
                                                               "g_ema, g_optim, d_optim, args Namespace)"}}


# Our constructor arguments for the released networks (GitHub release 1.0.0 of seasonSH/SemanticStyleGAN). All four
# share one architecture; their full-size shapes are checked against the reference case's full_config_shapes.json.
NAMED_CONFIGS: dict[str, dict[str, Any]] = {
    "semantic_stylegan_celebamaskhq_512": _released("CelebAMask-HQ 512x512, 13 classes (the paper's model)",
                                                    "CelebAMask-HQ-512x512.pt"),
    "semantic_stylegan_bitmoji_512": _released("BitMoji 512x512, fine-tuned from CelebAMask-HQ "
                                               "(train_adaptation.py)", "BitMoji-512x512.pt"),
    "semantic_stylegan_metfaces_512": _released("MetFaces 512x512, fine-tuned from CelebAMask-HQ",
                                                "MetFaces-512x512.pt"),
    "semantic_stylegan_toonify_512": _released("Toonify 512x512, fine-tuned from CelebAMask-HQ",
                                               "Toonify-512x512.pt"),
}
OFFICIAL_WEIGHTS: dict[str, dict[str, str]] = {k: v["weights"] for k, v in NAMED_CONFIGS.items()}


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _pow2(name: str, value: Any, low: int) -> int:
    if _int(name, value, low) & (value - 1):
        raise ValueError(f"{name} must be a power of two >= {low}, got {value}")
    return value


class SemanticStyleGAN(
    SemanticStyleGANInference,
    HubModel,
    family="semantic_stylegan",
    license="cc-by-nc-sa-4.0",
    pipeline_tag="unconditional-image-generation",
    paper_url="https://arxiv.org/abs/2112.02236",
    repo_url="https://github.com/seasonSH/SemanticStyleGAN",
    tags=["semantic_stylegan", "stylegan", "gan", "image-generation", "semantic-segmentation",
          "unconditional-image-generation"],
    citation=CITATION,
):
    """SemanticStyleGAN (Shi et al., CVPR 2022): a StyleGAN whose latent space is split by semantic region.

    Arguments are the official training options: ``size`` (image), ``style_dim`` (``--latent``), ``n_mlp``,
    ``channel_multiplier``, ``seg_dim`` (classes incl. background), ``local_layers`` / ``base_layers`` /
    ``depth_layers`` / ``local_channel`` (local generators), ``coarse_channel`` / ``coarse_size`` (the fused
    feature map), ``min_feat_size`` (the render net's start), ``residual_refine``, ``detach_texture``,
    ``transparent_dims``. ``channels`` overrides the per-resolution widths of the render net and
    discriminator (``{resolution: channels}``, default: StyleGAN2's with ``channel_multiplier``).
    ``class_names`` / ``palette`` name and colour the ``seg_dim`` classes (defaults: the released
    CelebAMask-HQ classes and the official colour map). ``with_discriminator`` adds the dual-branch
    discriminator of training checkpoints. Weights license: CC BY-NC-SA 4.0 (the official release).
    """

    inference_swaps = INFERENCE_SWAPS  # exact rewrites for the "rewrites" path and up (see .fast)

    def to(self, *args: Any, **kwargs: Any) -> "SemanticStyleGAN":
        """``nn.Module.to``, except that ``memory_format=torch.channels_last`` (what the channels-last inference
        paths apply) reaches the 4-D tensors only: the local generators keep the official 5-D modulated-conv
        weights ``[1, out, in, k, k]``, which ``nn.Module.to`` would try, and fail, to make channels-last."""
        memory_format = kwargs.pop("memory_format", None)
        out = super().to(*args, **kwargs) if args or kwargs else self
        if memory_format is not None:
            out._apply(lambda t: t.contiguous(memory_format=memory_format) if t.dim() == 4 else t)
        return out

    def __init__(
        self,
        size: int = 512,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        seg_dim: int = 13,
        local_layers: int = 10,
        base_layers: int = 2,
        depth_layers: int = 6,
        local_channel: int = 64,
        coarse_channel: int = 512,
        coarse_size: int = 64,
        min_feat_size: int = 16,
        residual_refine: bool = True,
        detach_texture: bool = False,
        transparent_dims: list[int] | None = None,
        lr_mlp: float = 0.01,
        channels: dict[str, int] | None = None,
        class_names: list[str] | None = None,
        palette: list[list[int]] | None = None,
        with_discriminator: bool = False,
    ):
        super().__init__()
        _pow2("size", size, 8)
        _int("style_dim", style_dim, 1)
        _int("n_mlp", n_mlp, 1)
        _int("channel_multiplier", channel_multiplier, 1)
        _int("seg_dim", seg_dim, 1)
        _int("local_layers", local_layers, 1)
        _int("base_layers", base_layers, 0)
        _int("depth_layers", depth_layers, 1)
        _int("local_channel", local_channel, 1)
        _int("coarse_channel", coarse_channel, 1)
        _pow2("coarse_size", coarse_size, 2)
        _pow2("min_feat_size", min_feat_size, 1)
        if depth_layers > local_layers:
            raise ValueError(f"depth_layers ({depth_layers}) must be <= local_layers ({local_layers})")
        if base_layers > depth_layers:
            raise ValueError(f"base_layers ({base_layers}) must be <= depth_layers ({depth_layers}): the shared "
                             "coarse codes drive the first shape layers")
        if not coarse_size < size:
            raise ValueError(f"coarse_size ({coarse_size}) must be smaller than size ({size})")
        if not min_feat_size < coarse_size:
            raise ValueError(f"min_feat_size ({min_feat_size}) must be smaller than coarse_size ({coarse_size})")
        for name, value in (("residual_refine", residual_refine), ("detach_texture", detach_texture),
                            ("with_discriminator", with_discriminator)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        if isinstance(lr_mlp, bool) or not isinstance(lr_mlp, (int, float)) or lr_mlp <= 0:
            raise ValueError(f"lr_mlp must be a positive number, got {lr_mlp!r}")
        transparent_dims = [] if transparent_dims is None else list(transparent_dims)
        for k in transparent_dims:
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < seg_dim:
                raise ValueError(f"transparent_dims must list class indices from 0 to {seg_dim - 1}, "
                                 f"got {transparent_dims!r}")
        if channels is not None:
            if not isinstance(channels, Mapping) or not all(
                    str(k).isdigit() and isinstance(v, int) and not isinstance(v, bool) and v > 0
                    for k, v in channels.items()):
                raise ValueError(f"channels must map resolutions to positive channel counts, e.g. "
                                 f"{{'32': 512}}, got {channels!r}")
            channels = {str(int(k)): int(v) for k, v in channels.items()}
        widths = _channels(channels, channel_multiplier)
        needed = [min_feat_size * 2 ** i for i in range(1, int(math.log2(size // min_feat_size)) + 1)]
        if with_discriminator:
            needed += [2 ** i for i in range(2, int(math.log2(size)) + 1)]
        missing = sorted(set(r for r in needed if r not in widths))
        if missing:
            raise ValueError(f"channels gives no width for resolution(s) {missing}")
        if class_names is None:
            class_names = list(CELEBAMASKHQ_CLASSES) if seg_dim == len(CELEBAMASKHQ_CLASSES) else \
                ["background"] + [f"class_{k}" for k in range(1, seg_dim)]
        class_names = list(class_names)
        if len(class_names) != seg_dim or not all(isinstance(c, str) and c for c in class_names) \
                or len(set(class_names)) != seg_dim:
            raise ValueError(f"class_names must be {seg_dim} distinct non-empty names (one per class, background "
                             f"first), got {class_names!r}")
        palette = default_palette(seg_dim) if palette is None else [list(c) for c in palette]
        if len(palette) != seg_dim or not all(
                len(c) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
                for c in palette):
            raise ValueError(f"palette must hold {seg_dim} RGB triples of integers 0-255, got {palette!r}")

        self.size, self.style_dim, self.seg_dim = size, style_dim, seg_dim
        self.class_names, self.palette = class_names, palette
        self.generator = SemanticGenerator(
            size, style_dim, n_mlp, channels=widths, lr_mlp=float(lr_mlp), seg_dim=seg_dim, coarse_size=coarse_size,
            min_feat_size=min_feat_size, local_layers=local_layers, local_channel=local_channel,
            coarse_channel=coarse_channel, base_layers=base_layers, depth_layers=depth_layers,
            residual_refine=residual_refine, detach_texture=detach_texture, transparent_dims=transparent_dims)
        self.n_latent = self.generator.n_latent
        self.n_latent_expand = self.generator.n_latent_expand
        self.discriminator = DualBranchDiscriminator(size, size, 3, seg_dim, widths) if with_discriminator else None
        self.eval()

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    @property
    def mapping_network(self) -> torch.nn.Module:
        """z -> w (PixelNorm + n_mlp equalised-lr layers): the official ``g_ema.style``."""
        return self.generator.style

    # ---- the generator ----------------------------------------------------------------------------------

    def mapping(self, z: Tensor) -> Tensor:
        """z [N, style_dim] -> w [N, style_dim] (no truncation; see :meth:`truncate`)."""
        if z.ndim != 2 or z.shape[1] != self.style_dim:
            raise ValueError(f"z must have shape [N, {self.style_dim}], got {list(z.shape)}")
        return self.generator.style(z.to(self.dtype))

    @staticmethod
    def truncate(w: Tensor, mean: Tensor, psi: float) -> Tensor:
        """``mean + psi * (w - mean)``, the official truncation (psi 1: unchanged)."""
        return w if psi == 1 else mean + psi * (w - mean)

    def expand_latents(self, latent: Tensor) -> Tensor:
        """W+ [N, n_latent, D] -> expanded [N, seg_dim * local_layers, D] (one code per local layer)."""
        return self.generator.expand_latents(latent)

    def to_wplus(self, w: Tensor) -> Tensor:
        """W [N, D] -> W+ [N, n_latent, D] (the same code in every slot); W+ or expanded codes pass through."""
        if w.ndim == 2:
            if w.shape[1] != self.style_dim:
                raise ValueError(f"a W code must be [N, {self.style_dim}], got {list(w.shape)}")
            return w.unsqueeze(1).repeat(1, self.n_latent, 1)
        if w.ndim != 3 or w.shape[2] != self.style_dim or w.shape[1] not in (self.n_latent, self.n_latent_expand):
            raise ValueError(f"latent must be W [N, {self.style_dim}], W+ [N, {self.n_latent}, {self.style_dim}] or "
                             f"expanded [N, {self.n_latent_expand}, {self.style_dim}], got {list(w.shape)}")
        return w

    def synthesis(self, latent: Tensor, *, noise_mode: str = "const", noise: list[Tensor] | None = None,
                  generator: torch.Generator | None = None,
                  composition_mask: Tensor | None = None) -> dict[str, Any]:
        """W [N, D], W+ [N, n_latent, D] or expanded latent -> dict of ``rgb`` (raw, ~[-1, 1], not clamped),
        ``seg`` (final logits), ``seg_coarse`` (coarse mask 2 m - 1 at coarse_size), ``depths`` (list of the
        seg_dim pseudo-depth maps), ``feat`` (the fused feature map) and ``latent`` (expanded).

        ``noise_mode``: ``"const"`` the stored maps (the official ``randomize_noise=False``), ``"random"``
        fresh maps from ``generator``, ``"none"`` zeros. ``noise`` (one map per render layer, shapes from
        :meth:`noise_shapes`) overrides it. ``composition_mask`` [N, seg_dim] of 0/1 drops classes.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        latent = self.to_wplus(latent).to(self.dtype)
        if noise is not None:
            shapes = self.noise_shapes()
            if len(noise) != len(shapes):
                raise ValueError(f"noise must hold {len(shapes)} maps, one per render layer, got {len(noise)}")
            for i, (n, s) in enumerate(zip(noise, shapes)):
                if n.ndim != 4 or tuple(n.shape[1:]) != s or n.shape[0] not in (1, latent.shape[0]):
                    raise ValueError(f"noise[{i}] must have shape [N or 1, {s[0]}, {s[1]}, {s[2]}], got "
                                     f"{list(n.shape)}")
        if composition_mask is not None:
            composition_mask = composition_mask.to(self.device)
        return self.generator.synthesize(latent, noise=noise, noise_mode=noise_mode, generator=generator,
                                         composition_mask=composition_mask)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """(1, H, W) of each render-net noise input, in the order ``synthesis(noise=...)`` takes them."""
        return self.generator.render_net.noise_shapes()

    def forward(self, z: Tensor, *, truncation_psi: float = 1.0, truncation_latent: Tensor | None = None,
                noise_mode: str = "const") -> tuple[Tensor, Tensor]:
        """z -> (image, segmentation logits); truncation towards ``truncation_latent`` when psi < 1."""
        w = self.mapping(z)
        if truncation_psi != 1:
            if truncation_latent is None:
                raise ValueError("truncation_psi != 1 needs truncation_latent (see mean_latent())")
            w = self.truncate(w, truncation_latent.to(w), truncation_psi)
        out = self.synthesis(w, noise_mode=noise_mode)
        return out["rgb"], out["seg"]

    def discriminate(self, img: Tensor, seg: Tensor | None = None) -> Tensor:
        """Real/fake logits [N, 1] of images and (optionally) segmentations (logits or one-hot * 2 - 1)."""
        if self.discriminator is None:
            raise ValueError("this SemanticStyleGAN was loaded without its discriminator (with_discriminator=False)")
        if img.ndim != 4 or img.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"img must be [N, 3, {self.size}, {self.size}], got {list(img.shape)}")
        if seg is not None and (seg.ndim != 4 or seg.shape[:2] != (img.shape[0], self.seg_dim)):
            raise ValueError(f"seg must be [N, {self.seg_dim}, H, W] with N = {img.shape[0]}, got {list(seg.shape)}")
        return self.discriminator(img, seg)

    # ---- conversion ------------------------------------------------------------------------------------

    @classmethod
    def from_official(cls, source: str | Path | Mapping | Any, config: str | None = None, *,
                      weights: str = "g_ema", with_discriminator: bool | None = None,
                      **overrides: Any) -> "SemanticStyleGAN":
        """Load an official checkpoint (``CelebAMask-HQ-512x512.pt`` or any train.py checkpoint): a path or
        the loaded dict. ``config`` names an entry of ``NAMED_CONFIGS`` whose architecture must match the
        file's ``args``; ``weights`` picks ``"g_ema"`` (default, what the inference scripts use) or ``"g"``;
        the discriminator ``d`` is added when present (``with_discriminator`` forces it on/off);
        ``overrides`` set ``class_names`` / ``palette``."""
        from .convert import from_official

        return from_official(source, config=config, weights=weights, with_discriminator=with_discriminator,
                             cls=cls, **overrides)
