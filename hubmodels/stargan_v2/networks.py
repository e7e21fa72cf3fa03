"""StarGAN v2 networks (Choi et al., CVPR 2020): generator, mapping network, style encoder, discriminator.

The math follows clovaai/stargan-v2 ``core/model.py``. Module and parameter names follow the official
layout as well (``from_rgb``, ``encode``, ``decode``, ``to_rgb``, ``shared``, ``unshared``, ``main``), so
an official state dict loads after only the checkpoint-level fixes done in :mod:`.convert`.

Per-domain heads are one shared trunk plus a small branch per domain; every branch runs on the whole
batch and the row of each sample's domain is gathered with ``out[arange(N), y]``.

These modules compute the paper's math and nothing else. The exact inference rewrites (fused instance norm
and AdaIN, polyphase upsample+conv) are module swaps in :mod:`.fast`, applied only by
``optimize_for_inference``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ResBlk",
    "AdaIN",
    "AdainResBlk",
    "HighPass",
    "Generator",
    "MappingNetwork",
    "StyleEncoder",
    "Discriminator",
    "default_dim_in",
]

_SQRT2 = math.sqrt(2.0)
_LRELU_SLOPE = 0.2
# Encoder feature sizes whose activations feed the high-pass skip connections (official constant).
_HPF_SIZES = (32, 64, 128)


def default_dim_in(img_size: int) -> int:
    """Width of the first conv in the official code: 2**14 // img_size (64 channels at 256 px)."""
    return 2**14 // img_size


def _log2_int(value: int, what: str) -> int:
    if not isinstance(value, int) or value < 1 or value & (value - 1):
        raise ValueError(f"{what} must be a positive power of two, got {value!r}")
    return value.bit_length() - 1


def _select_domain(out: Tensor, y: Tensor) -> Tensor:
    """Pick, for each sample, the row of its domain from a (N, num_domains, ...) tensor."""
    if y.dim() != 1 or y.size(0) != out.size(0):
        raise ValueError(f"domain labels y must have shape ({out.size(0)},), got {tuple(y.shape)}")
    return out[torch.arange(out.size(0), device=out.device), y.to(out.device, torch.long)]


class ResBlk(nn.Module):
    """Pre-activation residual block; output scaled by 1/sqrt(2) to keep unit variance."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        # pooling first is the same linear map as the official conv-then-pool, on 4x fewer pixels
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: Tensor) -> Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.conv1(F.leaky_relu(x, _LRELU_SLOPE))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(F.leaky_relu(x, _LRELU_SLOPE))

    def forward(self, x: Tensor) -> Tensor:
        return (self._shortcut(x) + self._residual(x)) / _SQRT2


class AdaIN(nn.Module):
    """Adaptive instance norm: the style vector predicts a per-channel (1 + gamma) scale and beta shift."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        h = self.fc(s)
        gamma, beta = h.chunk(2, dim=1)
        return (1 + gamma[:, :, None, None]) * self.norm(x) + beta[:, :, None, None]


class AdainResBlk(nn.Module):
    """Decoder block with AdaIN.

    With high-pass skips (w_hpf > 0) the block returns its residual branch alone: the identity
    information then comes through the masked high-pass path in :class:`Generator`. The learned
    shortcut conv still exists (the official checkpoints carry it) but is never evaluated.
    """

    def __init__(self, dim_in: int, dim_out: int, style_dim: int = 64, w_hpf: float = 0.0, upsample: bool = False):
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        # a 1x1 conv commutes with nearest upsampling: run it on 4x fewer pixels
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def _residual(self, x: Tensor, s: Tensor) -> Tensor:
        x = F.leaky_relu(self.norm1(x, s), _LRELU_SLOPE)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = F.leaky_relu(self.norm2(x, s), _LRELU_SLOPE)
        return self.conv2(x)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        out = self._residual(x, s)
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) / _SQRT2
        return out


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like filter scaled by 1/w_hpf (kept as the buffer ``filter``)."""

    def __init__(self, w_hpf: float = 1.0):
        super().__init__()
        if w_hpf <= 0:
            raise ValueError(f"HighPass needs w_hpf > 0, got {w_hpf}")
        kernel = torch.full((3, 3), -1.0)
        kernel[1, 1] = 8.0
        self.register_buffer("filter", kernel / w_hpf)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.size(1)
        weight = self.filter.to(x.dtype).expand(channels, 1, 3, 3).contiguous()
        return F.conv2d(x, weight, padding=1, groups=channels)


class Generator(nn.Module):
    """Encoder-decoder generator: ResBlk downsampling, two bottleneck blocks, AdaIN decoder.

    The output is not squashed (no tanh); images are clamped only when converted to pixels.
    With ``w_hpf > 0`` the network has one more down/up level, and given face masks from FAN it adds
    high-passed, masked encoder features back into the decoder at 32/64/128 px.
    """

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1.0,
        dim_in: int | None = None,
    ):
        super().__init__()
        levels = _log2_int(img_size, "img_size")
        dim = default_dim_in(img_size) if dim_in is None else dim_in
        if dim < 1:
            raise ValueError(f"dim_in must be >= 1, got {dim}")
        self.img_size = img_size
        self.w_hpf = float(w_hpf)
        self.from_rgb = nn.Conv2d(3, dim, 3, 1, 1)
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim, affine=True),
            nn.LeakyReLU(_LRELU_SLOPE),
            nn.Conv2d(dim, 3, 1, 1, 0),
        )

        num_down = levels - 4 + (1 if w_hpf > 0 else 0)
        if num_down < 1:
            raise ValueError(f"img_size {img_size} is too small for this generator (w_hpf={w_hpf})")
        encode: list[nn.Module] = []
        decode: list[nn.Module] = []  # built innermost-last, reversed below
        dim_out = dim
        for _ in range(num_down):
            dim_out = min(dim * 2, max_conv_dim)
            encode.append(ResBlk(dim, dim_out, normalize=True, downsample=True))
            decode.append(AdainResBlk(dim_out, dim, style_dim, w_hpf=w_hpf, upsample=True))
            dim = dim_out
        for _ in range(2):  # bottleneck
            encode.append(ResBlk(dim_out, dim_out, normalize=True))
            decode.append(AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))
        self.encode = nn.ModuleList(encode)
        self.decode = nn.ModuleList(decode[::-1])
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(self, x: Tensor, s: Tensor, masks: tuple[Tensor, Tensor] | None = None) -> Tensor:
        content, skips = self.encode_content(x, masks)
        return self.decode_styled(content, skips, s, masks)

    def encode_content(self, x: Tensor, masks: tuple[Tensor, Tensor] | None = None
                       ) -> tuple[Tensor, dict[int, Tensor]]:
        """The style-free half: bottleneck features and, with masks, the encoder skips the decoder adds back.

        It does not see the style, so one source translated with many styles needs it once
        (about 40% of the generator's work at the released sizes).
        """
        if masks is not None and self.w_hpf <= 0:
            raise ValueError("masks are only used by generators built with w_hpf > 0")
        x = self.from_rgb(x)
        skips: dict[int, Tensor] = {}
        for block in self.encode:
            if masks is not None and x.size(2) in _HPF_SIZES:
                skips[x.size(2)] = x
            x = block(x)
        return x, skips

    def decode_styled(self, content: Tensor, skips: dict[int, Tensor], s: Tensor,
                      masks: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The AdaIN decoder on features from :meth:`encode_content` (one row of ``s`` per row of ``content``)."""
        x = content
        for block in self.decode:
            x = block(x, s)
            size = x.size(2)
            if masks is not None and size in _HPF_SIZES:
                # the coarsest level uses the full face mask, finer levels the one without chin/mouth
                mask = masks[0] if size == _HPF_SIZES[0] else masks[1]
                mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
                x = x + self.hpf(mask * skips[size])
        return self.to_rgb(x)


class MappingNetwork(nn.Module):
    """Latent code z -> style code s of domain y: shared MLP trunk, one MLP branch per domain."""

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2, hidden_dim: int = 512):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(
            nn.Sequential(
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, hidden_dim),
                nn.ReLU(),
                nn.Linear(hidden_dim, style_dim),
            )
            for _ in range(num_domains)
        )

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.shared(z)
        out = torch.stack([branch(h) for branch in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return _select_domain(out, y)


def _downsampling_trunk(img_size: int, dim_in: int | None, max_conv_dim: int) -> tuple[list[nn.Module], int]:
    """Conv + ResBlks down to 4x4, LeakyReLU, 4x4 valid conv, LeakyReLU: shared by E and D."""
    levels = _log2_int(img_size, "img_size")
    if levels < 3:
        raise ValueError(f"img_size must be >= 8, got {img_size}")
    dim = default_dim_in(img_size) if dim_in is None else dim_in
    if dim < 1:
        raise ValueError(f"dim_in must be >= 1, got {dim}")
    blocks: list[nn.Module] = [nn.Conv2d(3, dim, 3, 1, 1)]
    dim_out = dim
    for _ in range(levels - 2):
        dim_out = min(dim * 2, max_conv_dim)
        blocks.append(ResBlk(dim, dim_out, downsample=True))
        dim = dim_out
    blocks += [nn.LeakyReLU(_LRELU_SLOPE), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(_LRELU_SLOPE)]
    return blocks, dim_out


class StyleEncoder(nn.Module):
    """Image x -> style code s of domain y: shared conv trunk, one linear head per domain."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
    ):
        super().__init__()
        blocks, dim_out = _downsampling_trunk(img_size, dim_in, max_conv_dim)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.shared(x).flatten(1)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (N, num_domains, style_dim)
        return _select_domain(out, y)


class Discriminator(nn.Module):
    """Multi-task discriminator: one real/fake logit per domain; returns the logit of domain y, shape (N,)."""

    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512, dim_in: int | None = None):
        super().__init__()
        blocks, dim_out = _downsampling_trunk(img_size, dim_in, max_conv_dim)
        blocks.append(nn.Conv2d(dim_out, num_domains, 1, 1, 0))
        self.main = nn.Sequential(*blocks)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        out = self.main(x).flatten(1)  # (N, num_domains)
        return _select_domain(out, y)
