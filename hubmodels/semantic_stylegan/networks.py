"""SemanticStyleGAN networks in plain PyTorch (Shi et al., "SemanticStyleGAN: Learning Compositional Generative
Priors for Controllable Image Synthesis and Editing", CVPR 2022).

The generator is compositional: a mapping network turns z into w; each semantic class k has a *local
generator* (a small MLP of 1x1 modulated convolutions over a Fourier position embedding) that outputs a
pseudo-depth map d_k (from its *shape* layers) and a feature map f_k (after its *texture* layers). Fusion is
a softmax over the pseudo-depths, giving a coarse segmentation m_k and the global feature map
``sum_k m_k f_k``; the *render network* (StyleGAN2-like, but with fixed, learned modulation instead of w
styles) upsamples it to the image and, in a parallel branch, to segmentation logits, refined residually
from the coarse mask. The dual-branch discriminator scores the image and the segmentation together.

Parameter names follow the official code (seasonSH/SemanticStyleGAN, derived from rosinality's
stylegan2-pytorch), so an official state dict loads after dropping its constant FIR-kernel buffers (see
:mod:`.convert`). Elementary StyleGAN2 numerics (FIR resampling, equalised-lr linear layers, biased leaky
ReLU with gain sqrt 2, pixel norm, minibatch-stddev) are the StyleGAN room's, imported from
:mod:`hubmodels.stylegan.networks_v2`; where they are written differently from the official code, the
difference is argued there (summation order only).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..stylegan.networks_v2 import (CHANNELS_LAST_MIN_PIXELS, FullyConnectedLayer, MinibatchStdLayer, _may_overwrite,
                                    _pointwise_conv, bias_act, normalize_2nd_moment, setup_filter, upfirdn2d,
                                    upsample2d)

__all__ = [
    "NOISE_MODES", "default_channels", "PixelNorm", "FusedLeakyReLU", "NoiseInjection", "ModulatedConv2d",
    "StyledConv", "FixedStyledConv", "ToRGB", "PositionEmbedding", "LocalGenerator", "RenderNet",
    "SemanticGenerator", "EqualConv2d", "Blur", "ConvLayer", "ResBlock", "DualBranchDiscriminator",
]

NOISE_MODES = ("const", "random", "none")
BLUR = (1, 3, 3, 1)


def default_channels(channel_multiplier: int) -> dict[int, int]:
    """Feature maps per resolution of the render net and discriminator (StyleGAN2 config-f widths)."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
            1024: 16 * cm}


def _channels(channels: Mapping[int | str, int] | None, channel_multiplier: int) -> dict[int, int]:
    base = default_channels(channel_multiplier)
    if channels is not None:  # config.json stores the keys as strings
        base.update({int(k): int(v) for k, v in channels.items()})
    return base


# ---------------------------------------------------------------------------------------------------------
# layers


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + 1e-8) over the feature axis (the mapping network's input normalisation)."""

    def forward(self, x: Tensor) -> Tensor:
        return normalize_2nd_moment(x)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU (0.2), gain sqrt(2): StyleGAN2's biased activation."""

    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor, inplace: bool = False) -> Tensor:
        """``inplace``: ``x`` is the caller's fresh result and may be overwritten (see ``bias_act``)."""
        return bias_act(x, self.bias, act="lrelu", inplace=inplace)


class NoiseInjection(nn.Module):
    """x + weight * noise, one learned strength per layer; ``noise=None`` draws fresh N(0, 1) maps."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None,
                inplace: bool = False) -> Tensor:
        """``inplace``: ``x`` is the caller's fresh result and may be overwritten when autograd allows."""
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], generator=generator, device=x.device,
                                dtype=x.dtype)
        added = self.weight * noise.to(x.dtype)
        return x.add_(added) if inplace and _may_overwrite(x) else x + added


class ModulatedConv2d(nn.Module):
    """Style-modulated, demodulated convolution without resampling (the local generators' 1x1 layers).

    As in the official code the equalised-lr gain is folded into the weight before demodulation, and each
    sample's weights run as one group of a grouped convolution.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.demodulate = demodulate
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = FullyConnectedLayer(style_dim, in_channel, bias_init=1)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        n, c, h, w = x.shape
        s = self.modulation(style).view(n, 1, c, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(n, self.out_channel, 1, 1, 1)
        if self.kernel_size == 1:  # every local-generator layer: a batched matrix product, the same sums
            return _pointwise_conv(x, weight.reshape(n, self.out_channel, c).to(x.dtype))
        weight = weight.view(n * self.out_channel, c, self.kernel_size, self.kernel_size)
        out = F.conv2d(x.reshape(1, n * c, h, w), weight.to(x.dtype), padding=self.padding, groups=n)
        return out.view(n, self.out_channel, out.shape[2], out.shape[3])


class StyledConv(nn.Module):
    """Modulated conv, [noise], biased leaky ReLU: one layer of a local generator (there without noise)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 inject_noise: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim)
        self.noise = NoiseInjection() if inject_noise else None
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        out = self.conv(x, style)
        if self.noise is not None:
            out = self.noise(out, noise, inplace=True)
        return self.activate(out, inplace=True)  # out: this layer's own result


class FixedStyledConv(nn.Module):
    """A StyleGAN2 layer whose style is a learned per-input-channel vector (``modulation``) instead of an
    affine map of w: the render net is not driven by the latent, only by the fused feature map.

    Up-sampling is a stride-2 transposed convolution followed by the [1,3,3,1] FIR filter (gain 4) with
    padding (1, 1), as StyleGAN2 does for 3x3 kernels.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, *, demodulate: bool = True,
                 upsample: bool = False, inject_noise: bool = True, activate: bool = True,
                 blur_kernel: Sequence[float] = BLUR) -> None:
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = nn.Parameter(torch.ones(1, in_channel, 1, 1))
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.noise = NoiseInjection() if inject_noise else None
        self.activate = FusedLeakyReLU(out_channel) if activate else None

    def effective_weight(self) -> Tensor:
        """The modulated (and demodulated) weight: a function of the parameters alone, as the style is fixed
        (the inference rewrite in :mod:`.fast` computes it once per parameter version)."""
        weight = self.modulation * self.scale * self.weight
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([1, 2, 3]) + 1e-8).view(self.out_channel, 1, 1, 1)
        return weight

    def transposed_weight(self, weight: Tensor) -> Tensor:
        """``weight`` as ``[in, out, k, k]``, what the up-sampling transposed convolution takes."""
        return weight.transpose(0, 1)

    def forward(self, x: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        weight = self.effective_weight().to(x.dtype)
        if self.upsample:
            if x.device.type == "cpu" and x.shape[2] * x.shape[3] >= CHANNELS_LAST_MIN_PIXELS:
                # oneDNN's strided transposed convolution and depthwise FIR run up to 2.5x faster on channels-last
                # maps (the same sums); the layout carries on, the render net hands back contiguous outputs
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.blur(F.conv_transpose2d(x, self.transposed_weight(weight), stride=2))
        elif self.kernel_size == 1:  # the ToRGB/ToSeg and local feature heads: one matrix product
            out = _pointwise_conv(x, weight.reshape(1, self.out_channel, self.in_channel))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.noise is not None:
            out = self.noise(out, noise, generator, inplace=True)
        return self.activate(out, inplace=True) if self.activate is not None else out  # out: our own result


class ToRGB(nn.Module):
    """1x1 output head without demodulation (a :class:`FixedStyledConv`) plus bias, adding the 2x FIR-upsampled
    ``skip`` of the previous resolution. Serves the render net's image and segmentation branches and the
    local generators' feature and depth heads (these never pass a skip)."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = BLUR) -> None:
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(blur_kernel), persistent=False)
        self.conv = FixedStyledConv(in_channel, out_channel, 1, demodulate=False, inject_noise=False,
                                    activate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channel, 1, 1))

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x)
        own = _may_overwrite(out)  # the head's own result: add in place when autograd allows
        out = out.add_(self.bias.to(x.dtype)) if own else out + self.bias.to(x.dtype)
        if skip is not None:
            up = upsample2d(skip, self.resample_filter)
            out = out.add_(up) if _may_overwrite(out) else out + up
        return out


class PositionEmbedding(nn.Module):
    """Fourier features of the coordinates, [c, sin(2^0 c), cos(2^0 c), ..., cos(2^(F-1) c)], then an
    equalised-lr 1x1 convolution without bias."""

    def __init__(self, in_channels: int, out_channels: int, n_freqs: int) -> None:
        super().__init__()
        self.n_freqs = n_freqs
        fan_in = in_channels * (2 * n_freqs + 1)
        self.scale = 1 / math.sqrt(fan_in)
        self.weights = nn.Parameter(torch.randn(out_channels, fan_in, 1, 1))

    def forward(self, coords: Tensor) -> Tensor:
        # the official bands are 2 ** linspace(0, F-1, F): exact powers of two, as here
        feats = [coords]
        for k in range(self.n_freqs):
            f = float(2 ** k)
            feats += [torch.sin(f * coords), torch.cos(f * coords)]
        return F.conv2d(torch.cat(feats, 1), (self.scale * self.weights).to(coords.dtype))


# ---------------------------------------------------------------------------------------------------------
# generator


class LocalGenerator(nn.Module):
    """The generator of one semantic class: ``n_layers`` 1x1 styled convs over the position embedding; the
    pseudo-depth head ``to_depth`` reads layer ``depth_layers - 1`` (the *shape* layers end there), the
    feature head ``to_feat`` the last layer (after the *texture* layers). Without ``use_depth`` (the
    background) the depth is zero."""

    def __init__(self, in_channel: int, out_channel: int, hidden_channel: int, style_dim: int, *,
                 n_layers: int, depth_layers: int, use_depth: bool, detach_texture: bool = False) -> None:
        super().__init__()
        self.n_layers, self.depth_layers = n_layers, depth_layers
        self.use_depth, self.detach_texture = use_depth, detach_texture
        self.linears = nn.ModuleList(
            StyledConv(in_channel if i == 0 else hidden_channel, hidden_channel, 1, style_dim, inject_noise=False)
            for i in range(n_layers))
        self.to_feat = ToRGB(hidden_channel, out_channel)
        self.to_depth = ToRGB(hidden_channel, 1) if use_depth else None

    def forward(self, x: Tensor, latent: Tensor) -> tuple[Tensor, Tensor]:
        depth = x.new_zeros(x.shape[0], 1, x.shape[2], x.shape[3])
        for i, layer in enumerate(self.linears):
            x = layer(x, latent[:, i])
            if self.to_depth is not None and i == self.depth_layers - 1:
                depth = self.to_depth(x)
                if self.detach_texture and i < self.n_layers - 1:  # training option: texture can't move shape
                    x = x.detach()
        return self.to_feat(x), depth


class RenderNet(nn.Module):
    """Fused feature map -> (image, segmentation logits).

    The input is average-pooled to ``min_size``; each block doubles the resolution with two
    :class:`FixedStyledConv` (noise after each), and at ``coarse_size`` the full-resolution input is
    concatenated back as extra channels. ToRGB / ToSeg heads accumulate a skip image and a skip
    segmentation; ``skip_seg`` (the coarse mask in [-1, 1]) is added to the segmentation where sizes match
    (residual refinement).
    """

    def __init__(self, min_size: int, out_size: int, coarse_size: int, in_channel: int, img_dim: int,
                 seg_dim: int, channels: Mapping[int, int]) -> None:
        super().__init__()
        self.min_size, self.out_size, self.coarse_size = min_size, out_size, coarse_size
        n_blocks = int(math.log2(out_size)) - int(math.log2(min_size))
        self.n_layers = 2 * n_blocks
        feat_channel = in_channel
        self.convs = nn.ModuleList()
        self.noises = nn.Module()
        self.to_rgbs = nn.ModuleList()
        self.to_segs = nn.ModuleList()
        for i in range(n_blocks):
            size = min_size * 2 ** (i + 1)
            out_channel = channels[size]
            if size // 2 == coarse_size:
                in_channel = in_channel + feat_channel
            self.convs.append(FixedStyledConv(in_channel, out_channel, 3, upsample=True))
            self.convs.append(FixedStyledConv(out_channel, out_channel, 3))
            for j in (2 * i, 2 * i + 1):
                self.noises.register_buffer(f"noise_{j}", torch.randn(1, 1, size, size))
            self.to_rgbs.append(ToRGB(out_channel, img_dim))
            self.to_segs.append(ToRGB(out_channel, seg_dim))
            in_channel = out_channel

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        return [tuple(getattr(self.noises, f"noise_{i}").shape[1:]) for i in range(self.n_layers)]

    def forward(self, feat: Tensor, *, noise: Sequence[Tensor | None] | None = None, noise_mode: str = "const",
                generator: torch.Generator | None = None, skip_seg: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if noise is None:
            if noise_mode == "const":
                noise = [getattr(self.noises, f"noise_{i}") for i in range(self.n_layers)]
            elif noise_mode == "none":
                noise = [torch.zeros(1, 1, *s[1:], device=feat.device, dtype=feat.dtype)
                         for s in self.noise_shapes()]
            elif noise_mode == "random":
                noise = [None] * self.n_layers
            else:
                raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        x_orig, x = feat, F.adaptive_avg_pool2d(feat, (self.min_size, self.min_size))
        rgb = seg = None
        for i, (to_rgb, to_seg) in enumerate(zip(self.to_rgbs, self.to_segs)):
            if x.shape[2] == self.coarse_size:
                x = torch.cat((x, x_orig), 1)
            x = self.convs[2 * i](x, noise[2 * i], generator)
            x = self.convs[2 * i + 1](x, noise[2 * i + 1], generator)
            rgb = to_rgb(x, rgb)
            seg = to_seg(x, seg)
            if skip_seg is not None and seg.shape[2] == skip_seg.shape[2]:
                seg = seg + skip_seg
        return rgb.contiguous(), seg.contiguous()  # NCHW whatever layout the layers ran in


class SemanticGenerator(nn.Module):
    """Mapping network ``style``, position embedding, ``seg_dim`` local generators, fusion and render net.

    Latent spaces: W (one w), the default W+ of ``n_latent = base_layers + 2 * seg_dim`` codes (rows
    ``0..base_layers-1`` the shared coarse codes, then per class k a shape code at ``base_layers + 2k`` and
    a texture code at ``base_layers + 2k + 1``), and the expanded space of ``seg_dim * local_layers``
    codes, one per local-generator layer (:meth:`expand_latents`).
    """

    def __init__(self, size: int, style_dim: int, n_mlp: int, *, channels: Mapping[int, int],
                 lr_mlp: float = 0.01, seg_dim: int = 13, coarse_size: int = 64, min_feat_size: int = 16,
                 local_layers: int = 10, local_channel: int = 64, coarse_channel: int = 512,
                 base_layers: int = 2, depth_layers: int = 6, residual_refine: bool = True,
                 detach_texture: bool = False, transparent_dims: Sequence[int] = ()) -> None:
        super().__init__()
        self.size, self.style_dim, self.seg_dim, self.n_local = size, style_dim, seg_dim, seg_dim
        self.base_layers, self.local_layers, self.depth_layers = base_layers, local_layers, depth_layers
        self.coarse_size, self.min_feat_size = coarse_size, min_feat_size
        self.residual_refine = residual_refine
        self.transparent_dims = tuple(int(i) for i in transparent_dims)
        self.n_latent = base_layers + 2 * seg_dim
        self.n_latent_expand = seg_dim * local_layers
        # N_freqs is log2 of the IMAGE size (not of the coarse map the embedding is evaluated on)
        self.pos_embed = PositionEmbedding(2, local_channel, n_freqs=int(math.log2(size)))
        self.local_nets = nn.ModuleList(
            LocalGenerator(local_channel, coarse_channel, local_channel, style_dim, n_layers=local_layers,
                           depth_layers=depth_layers, use_depth=k > 0, detach_texture=detach_texture)
            for k in range(seg_dim))
        self.render_net = RenderNet(min_feat_size, size, coarse_size, coarse_channel, 3, seg_dim, channels)
        self.style = nn.Sequential(PixelNorm(), *[
            FullyConnectedLayer(style_dim, style_dim, activation="lrelu", lr_multiplier=lr_mlp)
            for _ in range(n_mlp)])
        trans = torch.tensor([1.0 if k in self.transparent_dims else 0.0 for k in range(seg_dim)])
        self.register_buffer("transparent", trans.view(1, -1, 1, 1), persistent=False)

    # ---- latents -------------------------------------------------------------------------------------

    def expand_latents(self, latent: Tensor) -> Tensor:
        """[N, n_latent, D] -> [N, n_local * local_layers, D] (an expanded code is returned as is).

        Local generator k reads rows ``k*local_layers .. (k+1)*local_layers - 1``: for k > 0 the
        ``base_layers`` shared coarse codes, then its shape code for the remaining depth (shape) layers and
        its texture code for the layers after the depth head; the background (k = 0) takes no coarse code,
        its shape code for all ``depth_layers`` layers.
        """
        if latent.ndim != 3:
            raise ValueError(f"latent must be [N, {self.n_latent} or {self.n_latent_expand}, {self.style_dim}], "
                             f"got {list(latent.shape)}")
        if latent.shape[1] == self.n_latent_expand:
            return latent
        if latent.shape[1] != self.n_latent:
            raise ValueError(f"latent must hold {self.n_latent} (W+) or {self.n_latent_expand} (expanded) codes, "
                             f"got {latent.shape[1]}")
        n_tex = self.local_layers - self.depth_layers
        rows = []
        for k in range(self.n_local):
            shape, texture = latent[:, self.base_layers + 2 * k], latent[:, self.base_layers + 2 * k + 1]
            n_shape = self.depth_layers
            if k > 0:
                rows.append(latent[:, :self.base_layers])
                n_shape -= self.base_layers
            rows.append(shape.unsqueeze(1).expand(-1, max(n_shape, 0), -1))
            rows.append(texture.unsqueeze(1).expand(-1, max(n_tex, 0), -1))
        return torch.cat(rows, 1)

    def mixing_latent(self, w1: Tensor, w2: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Training-time style mixing: shared coarse codes from ``w1``; per sample and class, (shape, texture)
        from (w1, w1), (w1, w2) or (w2, w2) with equal odds. Returns a W+ code [N, n_latent, D]."""
        n = w1.shape[0]
        pick = torch.randint(0, 3, (n, self.n_local), generator=generator).to(w1.device)
        shape_from_2 = (pick == 2).unsqueeze(-1).unsqueeze(-1)
        tex_from_2 = (pick >= 1).unsqueeze(-1).unsqueeze(-1)
        a, b = w1.unsqueeze(1).unsqueeze(1), w2.unsqueeze(1).unsqueeze(1)  # [N, 1, 1, D]
        shape = torch.where(shape_from_2, b, a)
        texture = torch.where(tex_from_2, b, a)
        local = torch.cat([shape, texture], 2).reshape(n, 2 * self.n_local, -1)
        return torch.cat([w1.unsqueeze(1).expand(-1, self.base_layers, -1), local], 1)

    # ---- fusion --------------------------------------------------------------------------------------

    def make_coords(self, n: int, h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
        """[N, 2, h, w] grid in [-1, 1]: channel 0 = x (along the width), 1 = y (along the height)."""
        xs = torch.linspace(-1, 1, w, device=device).view(1, 1, 1, w).expand(n, 1, h, w)
        ys = torch.linspace(-1, 1, h, device=device).view(1, 1, h, 1).expand(n, 1, h, w)
        return torch.cat((xs, ys), 1)

    def composite(self, feats: Sequence[Tensor], depths: Sequence[Tensor],
                  mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fusion: m = softmax_k(d_k) (the coarse segmentation, returned in [0, 1]) and f = sum_k w_k f_k.

        ``mask`` [N, n_local] of 0/1 drops classes (m renormalised over the kept ones). Transparent classes
        (``transparent_dims``) do not occlude: the opaque classes' weights are renormalised among themselves
        and the transparent classes' weights are added on top.
        """
        seg = F.softmax(torch.cat(list(depths), 1), 1)
        if mask is not None:
            if mask.shape != (seg.shape[0], seg.shape[1]):
                raise ValueError(f"composition mask must be [N, {seg.shape[1]}] (N = {seg.shape[0]}), "
                                 f"got {list(mask.shape)}")
            seg = seg * mask.reshape(seg.shape[0], seg.shape[1], 1, 1).to(seg.dtype)
            seg = seg / (seg.sum(1, keepdim=True) + 1e-8)
        if self.transparent_dims:
            trans = self.transparent.to(seg.dtype)
            opaque = seg * (1 - trans)
            weights = opaque / (opaque.sum(1, keepdim=True) + 1e-8) + seg * trans
        else:
            weights = seg
        # summed class by class in class order, as the official Python sum(); accumulated in place (one
        # buffer, not seg_dim fresh ones) when autograd does not need the partial sums
        feat = feats[0] * weights[:, 0:1]
        for k in range(1, self.seg_dim):
            if _may_overwrite(feat):
                feat.addcmul_(feats[k], weights[:, k:k + 1])
            else:
                feat = feat + feats[k] * weights[:, k:k + 1]
        return feat, seg

    def local_outputs(self, latent: Tensor, coords: Tensor | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """Each local generator's (feature map, pseudo-depth) at ``coarse_size`` from an expanded latent."""
        if coords is None:
            coords = self.make_coords(latent.shape[0], self.coarse_size, self.coarse_size, latent.device)
            shared = True  # every sample at the same coordinates
        else:
            shared = False
        x = self.pos_embed(coords.to(latent.dtype))  # the same embedding serves every class
        feats, depths = [], []
        for k, net in enumerate(self.local_nets):
            codes = latent[:, k * self.local_layers:(k + 1) * self.local_layers]
            inverse = None
            if shared and not self.training and codes.shape[0] > 1 and not (torch.is_grad_enabled()
                                                                             and codes.requires_grad):
                # a region edit changes a few classes' codes: samples with the same codes for this class get the
                # same local outputs (each sample's are batch-independent), so each distinct code runs once
                unique, inverse = torch.unique(codes.reshape(codes.shape[0], -1), dim=0, return_inverse=True)
                if unique.shape[0] == codes.shape[0]:
                    inverse = None
                else:
                    codes = unique.reshape(-1, *codes.shape[1:])
            f, d = net(x[:codes.shape[0]], codes)
            if inverse is not None:
                f, d = f[inverse], d[inverse]
            feats.append(f)
            depths.append(d)
        return feats, depths

    def synthesize(self, latent: Tensor, *, noise: Sequence[Tensor | None] | None = None, noise_mode: str = "const",
                   generator: torch.Generator | None = None,
                   composition_mask: Tensor | None = None) -> dict[str, Tensor | list[Tensor]]:
        """W+ or expanded latent -> ``rgb`` (raw, not clamped), ``seg`` (final logits), ``seg_coarse``
        (2 m - 1), ``depths`` (list of [N, 1, cs, cs]), ``feat`` (the fused feature map the render net
        receives) and ``latent`` (expanded)."""
        latent = self.expand_latents(latent)
        feats, depths = self.local_outputs(latent)
        feat, seg_coarse = self.composite(feats, depths, mask=composition_mask)
        seg_coarse = 2 * seg_coarse - 1
        rgb, seg = self.render_net(feat, noise=noise, noise_mode=noise_mode, generator=generator,
                                   skip_seg=seg_coarse if self.residual_refine else None)
        return {"rgb": rgb, "seg": seg, "seg_coarse": seg_coarse, "depths": depths, "feat": feat, "latent": latent}

    def forward(self, latent: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        """W, W+ or expanded latent -> (image, segmentation logits); ``kwargs`` as :meth:`synthesize`."""
        if latent.ndim == 2:
            latent = latent.unsqueeze(1).expand(-1, self.n_latent, -1)
        out = self.synthesize(latent, **kwargs)
        return out["rgb"], out["seg"]


# ---------------------------------------------------------------------------------------------------------
# discriminator


class Blur(nn.Module):
    """FIR filter with padding (pad0, pad1) on both axes; ``upsample_factor`` scales it by factor^2."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", setup_filter(kernel) * upsample_factor ** 2, persistent=False)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        p0, p1 = self.pad
        return upfirdn2d(x, self.kernel, padding=(p0, p1, p0, p1))


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (weight * 1/sqrt(fan_in) at run time)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, (self.weight * self.scale).to(x.dtype), self.bias, stride=self.stride,
                        padding=self.padding)


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d (stride 2 after the blur when ``downsample``) + [FusedLeakyReLU]; indices as the
    official Sequential, so keys read ``<i>.weight`` / ``<i>.bias``."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, *, downsample: bool = False,
                 bias: bool = True, activate: bool = True, blur_kernel: Sequence[float] = BLUR) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """3x3 conv, 3x3 down conv, plus a 1x1 down skip; the sum divided by sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def _branch(in_dim: int, size: int, channels: Mapping[int, int]) -> nn.Sequential:
    layers: list[nn.Module] = [ConvLayer(in_dim, channels[size], 1)]
    ch = channels[size]
    for log in range(int(math.log2(size)), 2, -1):
        layers.append(ResBlock(ch, channels[2 ** (log - 1)]))
        ch = channels[2 ** (log - 1)]
    return nn.Sequential(*layers)


class DualBranchDiscriminator(nn.Module):
    """Two StyleGAN2 resnet trunks, one on the image and one on the segmentation (logits, or a real mask's
    one-hot * 2 - 1), summed at 4x4; then minibatch-stddev (group min(N, 4)), a 3x3 conv and two linear
    layers. ``seg=None`` scores the image alone (the official domain-adaptation use)."""

    def __init__(self, img_size: int, seg_size: int | None, img_dim: int, seg_dim: int,
                 channels: Mapping[int, int]) -> None:
        super().__init__()
        seg_size = img_size if seg_size is None else seg_size
        self.convs_img = _branch(img_dim, img_size, channels)
        self.convs_seg = _branch(seg_dim, seg_size, channels)
        self.stddev = MinibatchStdLayer(4, 1)
        self.final_conv = ConvLayer(channels[4] + 1, channels[4], 3)
        self.final_linear = nn.Sequential(
            FullyConnectedLayer(channels[4] * 16, channels[4], activation="lrelu"),
            FullyConnectedLayer(channels[4], 1))

    def forward(self, img: Tensor, seg: Tensor | None = None) -> Tensor:
        out = self.convs_img(img)
        if seg is not None:
            out = out + self.convs_seg(seg)
        out = self.final_conv(self.stddev(out))
        return self.final_linear(out.flatten(1))
