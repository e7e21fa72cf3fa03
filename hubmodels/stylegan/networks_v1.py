"""StyleGAN (v1) networks in plain PyTorch (Karras et al., CVPR 2019, arXiv:1812.04948).

The math follows the official TensorFlow release (NVlabs/stylegan ``training/networks_stylegan.py``) as
reproduced layer for layer by genforce's PyTorch port; the module layout is ours:

* :class:`MappingNetwork` (``f``): PixelNorm(z [, label embedding]) -> ``mapping_layers`` equalised dense
  layers (lr multiplier 0.01) with leaky ReLU -> w; keeps the tracked average ``w_avg`` used by truncation.
* :class:`SynthesisNetwork` (``g``): learned 4x4 constant, two :class:`StyledLayer` per resolution (conv ->
  per-pixel noise -> bias -> leaky ReLU -> instance norm -> AdaIN style), ``[1, 2, 1]`` blur after every
  up-sampling conv, ToRGB at the final resolution.
* :class:`Discriminator`: FromRGB, per resolution conv + blurred down-sampling conv, minibatch stddev and the
  dense epilogue; an optional label switch (projection onto the one-hot label).

Equalised learning rate: every stored weight is the raw variable of the official checkpoint (initialised
N(0, 1/lr_mul)); the runtime weight is ``weight * gain / sqrt(fan_in) * lr_mul`` and the runtime bias
``bias * lr_mul``. Weights therefore convert with transposes only.

Inference runs at lod 0 (full resolution): the lower-resolution ToRGB / FromRGB layers that progressive
growing trained are kept (so conversion is lossless) but not used.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "NOISE_MODES", "channels_at", "EqualLinear", "EqualConv2d", "PixelNorm", "MappingNetwork", "StyledLayer",
    "ToRGB", "SynthesisNetwork", "MinibatchStddev", "Discriminator", "truncate",
]

NOISE_MODES = ("random", "const", "none")
LRELU_SLOPE = 0.2
HE_GAIN = math.sqrt(2.0)  # StyleGAN1 puts the ReLU gain into the weight scale, not after the activation
AUTO_FUSED_MIN_RES = 128  # fused_scale="auto": the official switches to fused up/down-scaling from 128 px


def channels_at(res: int, fmaps_base: int, fmaps_max: int) -> int:
    """Feature maps at resolution ``res``: ``min(fmaps_base // res, fmaps_max)`` (genforce's convention;
    the TF code's ``fmap_base`` is half of ``fmaps_base``)."""
    return min(fmaps_base // res, fmaps_max)


def fused_at(res: int, fused_scale: bool | str) -> bool:
    """Whether the up/down-sampling conv at ``res`` is the fused (transposed / strided) one."""
    return res >= AUTO_FUSED_MIN_RES if fused_scale == "auto" else bool(fused_scale)


def blur_kernel(channels: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The depthwise ``[1, 2, 1] x [1, 2, 1] / 16`` kernel, one copy per channel: [C, 1, 3, 3]."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64, device="cpu")  # a constant: see hubmodels.hub.ShapeOnly
    k = torch.outer(k, k)
    return (k / k.sum()).to(dtype).expand(channels, 1, 3, 3).contiguous()


def blur(x: Tensor, kernel: Tensor) -> Tensor:
    # symmetric kernel, so correlation = convolution: no flip question
    return F.conv2d(x, kernel.to(x.dtype), padding=1, groups=x.shape[1])


def _shift_sum(weight: Tensor) -> Tensor:
    """The 3x3 kernel zero-padded to 4x4 and summed over its four one-pixel shifts: the kernel that applies
    ``conv3x3`` to a 2x nearest-upsampled map in one stride-2 transposed conv (and, times 0.25, ``conv3x3``
    followed by 2x2 average pooling in one stride-2 conv)."""
    w = F.pad(weight, (1, 1, 1, 1))
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


# ---------------------------------------------------------------------------------------------
# equalised learning-rate layers


class EqualLinear(nn.Module):
    """Dense layer with the equalised learning rate: ``x @ (W * gain / sqrt(in) * lr_mul).T + b * lr_mul``."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = HE_GAIN, lr_mul: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = gain / math.sqrt(in_features) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Conv weight and bias with the equalised learning rate; how it is applied is the caller's business
    (plain, fused up-sampling, fused down-sampling)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, gain: float = HE_GAIN) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size)

    def scaled_weight(self) -> Tensor:
        return self.weight * self.weight_gain

    def forward(self, x: Tensor) -> Tensor:
        w = self.scaled_weight()
        return F.conv2d(x, w, self.bias, padding=w.shape[-1] // 2)


class PixelNorm(nn.Module):
    """Normalise each feature vector to unit root-mean-square (eps 1e-8), over dim 1."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x / torch.sqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


def instance_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-sample, per-channel normalisation over H, W with the biased variance (the official op order:
    centre first, then divide by the RMS of the centred map)."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x / torch.sqrt(x.square().mean(dim=(2, 3), keepdim=True) + eps)


# ---------------------------------------------------------------------------------------------
# mapping network and truncation


def truncate(ws: Tensor, w_avg: Tensor, psi: float, cutoff: int | None) -> Tensor:
    """Truncation trick: rows ``[0, cutoff)`` of ws [N, L, w_dim] move to ``w_avg + psi * (w - w_avg)``.

    The official computes ``w_avg + (w - w_avg) * coef`` on every row with coef 1 beyond the cutoff; we leave
    those rows untouched. ``w_avg + (w - w_avg) * 1`` equals w up to one float rounding of the subtraction
    and addition (half an ulp of w each), far inside the parity tolerance, and psi=1 becomes an exact identity.
    """
    layers = ws.shape[1]
    cutoff = layers if cutoff is None else min(int(cutoff), layers)
    if psi == 1 or cutoff <= 0:
        return ws
    avg = w_avg.to(ws.dtype).view(1, 1, -1)
    head = avg + (ws[:, :cutoff] - avg) * psi
    return torch.cat([head, ws[:, cutoff:]], dim=1)


class MappingNetwork(nn.Module):
    """z [N, z_dim] (+ one-hot label c [N, c_dim]) -> w [N, w_dim].

    With labels, ``c @ label_embedding`` (a [c_dim, z_dim] matrix, no weight scaling, as the official
    ``LabelConcat``) is concatenated to z before the PixelNorm, so the first dense layer takes 2 * z_dim.
    ``w_avg`` is the tracked average of w (TF ``dlatent_avg``), the centre of truncation.
    """

    def __init__(self, z_dim: int, w_dim: int, c_dim: int = 0, num_layers: int = 8, hidden: int = 512,
                 lr_mul: float = 0.01, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.c_dim, self.num_layers = z_dim, w_dim, c_dim, num_layers
        self.w_avg_beta = w_avg_beta
        if c_dim:
            self.label_embedding = nn.Parameter(torch.randn(c_dim, z_dim))
        self.norm = PixelNorm()
        dims = [z_dim * (2 if c_dim else 1)] + [hidden] * (num_layers - 1) + [w_dim]
        self.layers = nn.ModuleList(EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul) for i in range(num_layers))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.c_dim:
            if c is None:
                raise ValueError(f"this model is conditional: pass c, a one-hot label [N, {self.c_dim}]")
            if c.ndim != 2 or tuple(c.shape) != (z.shape[0], self.c_dim):
                raise ValueError(f"c must have shape [{z.shape[0]}, {self.c_dim}] (one-hot), got {list(c.shape)}")
            z = torch.cat([z, c.to(z.dtype) @ self.label_embedding.to(z.dtype)], dim=1)
        elif c is not None and c.numel():
            raise ValueError("this model is unconditional (c_dim = 0): do not pass c")
        x = self.norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LRELU_SLOPE)
        if self.training and self.w_avg_beta < 1:  # the official moving average, updated in training only
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x


# ---------------------------------------------------------------------------------------------
# synthesis network


class StyledLayer(nn.Module):
    """One synthesis layer: [up-sampling] conv (or the learned constant) -> + noise * per-channel weight ->
    + bias -> leaky ReLU -> instance norm -> AdaIN ``x * (1 + ys) + yb`` with ``(ys, yb)`` an affine of w.

    ``up``: nearest 2x up-sampling before the 3x3 conv and the ``[1, 2, 1]`` blur after it; ``fused``: the
    up-sampling and conv as one stride-2 transposed conv (what the official does from 128 px, or always
    with ``fused_scale=True``). The two are NOT interchangeable for given weights: a transposed conv applies
    its kernel rotated by 180 degrees relative to a correlation, so the fused layer equals nearest
    up-sampling followed by a 3x3 conv with the flipped kernel. Which one a checkpoint was trained with is not
    visible in its shapes, hence the ``fused_scale`` option.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *, const: bool = False,
                 up: bool = False, fused: bool = False) -> None:
        super().__init__()
        self.resolution, self.up, self.fused, self.is_const = resolution, up, fused, const
        if const:
            self.const = nn.Parameter(torch.ones(1, out_channels, resolution, resolution))
        else:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.weight_gain = HE_GAIN / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.style = EqualLinear(w_dim, 2 * out_channels, gain=1.0)
        if up:
            self.register_buffer("blur_kernel", blur_kernel(out_channels), persistent=False)

    def _conv(self, x: Tensor) -> Tensor:
        w = self.weight * self.weight_gain
        if not self.up:
            return F.conv2d(x, w, padding=1)
        if self.fused:
            # conv_transpose2d wants [in, out, k, k]; stride 2, padding 1 gives exactly 2H x 2W
            x = F.conv_transpose2d(x, _shift_sum(w).transpose(0, 1), stride=2, padding=1)
        else:
            x = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, padding=1)
        return blur(x, self.blur_kernel)

    def forward(self, x: Tensor | None, w: Tensor, noise: Tensor | None) -> Tensor:
        if self.is_const:
            x = self.const.to(w.dtype).expand(w.shape[0], -1, -1, -1)
        else:
            x = self._conv(x)
        if noise is not None:
            x = x + noise.to(x.dtype) * self.noise_strength.to(x.dtype).view(1, -1, 1, 1)
        x = F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), LRELU_SLOPE)
        x = instance_norm(x)
        ys, yb = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (ys + 1) + yb


class ToRGB(EqualConv2d):
    """1x1 conv to image channels, gain 1, plus bias; linear (no style in StyleGAN1)."""

    def __init__(self, in_channels: int, img_channels: int) -> None:
        super().__init__(in_channels, img_channels, 1, gain=1.0)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, C, R, R]; layer i takes ws[:, i] and noise input i.

    ``to_rgb[k]`` is the ToRGB of resolution ``4 * 2**k`` (official ``ToRGB_lod{log2(R) - 2 - k}``); only
    the last is used (lod 0), the others are kept from progressive growing.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, fmaps_base: int = 16384,
                 fmaps_max: int = 512, fused_scale: bool | str = "auto") -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.resolutions = [2 ** i for i in range(2, log2 + 1)]
        layers, to_rgb = [], []
        for res in self.resolutions:
            ch = channels_at(res, fmaps_base, fmaps_max)
            if res == 4:
                layers.append(StyledLayer(ch, ch, w_dim, 4, const=True))
            else:
                prev = channels_at(res // 2, fmaps_base, fmaps_max)
                layers.append(StyledLayer(prev, ch, w_dim, res, up=True, fused=fused_at(res, fused_scale)))
            layers.append(StyledLayer(ch, ch, w_dim, res))
            to_rgb.append(ToRGB(ch, img_channels))
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(to_rgb)
        self.num_ws = len(layers)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        return [(1, layer.resolution, layer.resolution) for layer in self.layers]

    def _noise(self, ws: Tensor, noise_mode: str, generator: torch.Generator | None,
               noise: list[Tensor] | None) -> list[Tensor | None]:
        if noise is not None:
            if len(noise) != self.num_ws:
                raise ValueError(f"noise must hold {self.num_ws} maps (one per layer), got {len(noise)}")
            for i, (n, layer) in enumerate(zip(noise, self.layers)):
                res = layer.resolution
                if n.ndim != 4 or n.shape[1] != 1 or tuple(n.shape[2:]) != (res, res) \
                        or n.shape[0] not in (1, ws.shape[0]):
                    raise ValueError(f"noise[{i}] must have shape [1 or {ws.shape[0]}, 1, {res}, {res}], "
                                     f"got {list(n.shape)}")
            return list(noise)
        if noise_mode == "const":
            return [layer.noise_const for layer in self.layers]
        if noise_mode == "none":
            return [None] * self.num_ws
        if noise_mode == "random":
            # drawn in fp32 then cast, so a seeded generator gives the same maps in every dtype
            return [torch.randn((ws.shape[0], 1, layer.resolution, layer.resolution), generator=generator,
                                device=ws.device, dtype=torch.float32) for layer in self.layers]
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")

    def forward(self, ws: Tensor, noise_mode: str = "const", generator: torch.Generator | None = None,
                noise: list[Tensor] | None = None) -> Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        maps = self._noise(ws, noise_mode, generator, noise)
        x = None
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], maps[i])
        return self.to_rgb[-1](x)


# ---------------------------------------------------------------------------------------------
# discriminator


class MinibatchStddev(nn.Module):
    """Append the average standard deviation over groups of ``min(group_size, N)`` samples.

    Groups are strided (sample n belongs to group ``n % (N / G)``), as the official reshape [G, M, ...]
    makes them; features split into ``num_features`` channel groups, each giving one new channel.
    """

    def __init__(self, group_size: int = 4, num_features: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size, self.num_features, self.eps = group_size, num_features, eps

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"the minibatch stddev layer needs a batch divisible by {g}, got {n}")
        f = self.num_features
        y = x.view(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.square().mean(dim=0) + self.eps)  # [M, f, c/f, H, W]
        y = y.mean(dim=(2, 3, 4))  # [M, f]
        y = y.view(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DownBlock(nn.Module):
    """conv0 (3x3, lrelu) then conv1_down: blur, 3x3 conv and 2x down-sampling (fused: one stride-2 conv
    with the shift-summed kernel * 0.25; else conv then 2x2 average pooling), bias, lrelu.

    Unlike the generator's up-sampling, both forms here are the same function (a strided correlation with
    the shift-summed kernel is exactly conv3x3 followed by 2x2 averaging); the option only reproduces the
    official float rounding."""

    def __init__(self, in_channels: int, out_channels: int, fused: bool) -> None:
        super().__init__()
        self.fused = fused
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1_down = EqualConv2d(in_channels, out_channels, 3)
        self.register_buffer("blur_kernel", blur_kernel(in_channels), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv0(x), LRELU_SLOPE)
        x = blur(x, self.blur_kernel)
        w, b = self.conv1_down.scaled_weight(), self.conv1_down.bias
        if self.fused:
            x = F.conv2d(x, _shift_sum(w) * 0.25, b, stride=2, padding=1)
        else:
            # the bias commutes with the average pooling (the mean of a constant is that constant)
            x = F.avg_pool2d(F.conv2d(x, w, b, padding=1), 2)
        return F.leaky_relu(x, LRELU_SLOPE)


class Discriminator(nn.Module):
    """images [N, C, R, R] (+ one-hot labels) -> logits [N, 1].

    ``from_rgb[k]`` reads images at resolution ``R / 2**k`` (official ``FromRGB_lod{k}``); at lod 0 only
    ``from_rgb[0]`` is used. ``blocks[k]`` is the official ``{R/2**k}x{R/2**k}/Conv0, Conv1_down``. The
    epilogue at 4x4: minibatch stddev, ``conv`` (3x3), ``dense0`` (lrelu), ``dense1`` (gain 1, linear) with
    ``max(c_dim, 1)`` outputs; with labels the score is ``sum(out * c)``.
    """

    def __init__(self, img_resolution: int, img_channels: int = 3, c_dim: int = 0, fmaps_base: int = 16384,
                 fmaps_max: int = 512, fused_scale: bool | str = "auto", mbstd_group_size: int = 4,
                 mbstd_num_features: int = 1) -> None:
        super().__init__()
        self.img_resolution, self.img_channels, self.c_dim = img_resolution, img_channels, c_dim
        log2 = int(math.log2(img_resolution))
        resolutions = [2 ** i for i in range(log2, 1, -1)]  # R, R/2, ..., 4

        def nf(res: int) -> int:
            return channels_at(res, fmaps_base, fmaps_max)

        self.from_rgb = nn.ModuleList(EqualConv2d(img_channels, nf(res), 1) for res in resolutions)
        self.blocks = nn.ModuleList(DownBlock(nf(res), nf(res // 2), fused_at(res, fused_scale))
                                    for res in resolutions[:-1])
        self.mbstd = MinibatchStddev(mbstd_group_size, mbstd_num_features) if mbstd_group_size > 1 else None
        extra = mbstd_num_features if self.mbstd is not None else 0
        self.conv = EqualConv2d(nf(4) + extra, nf(4), 3)
        self.dense0 = EqualLinear(nf(4) * 16, nf(2))
        self.dense1 = EqualLinear(nf(2), max(c_dim, 1), gain=1.0)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        r = self.img_resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, r, r):
            raise ValueError(f"images must have shape [N, {self.img_channels}, {r}, {r}], got {list(img.shape)}")
        x = F.leaky_relu(self.from_rgb[0](img), LRELU_SLOPE)
        for block in self.blocks:
            x = block(x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = F.leaky_relu(self.conv(x), LRELU_SLOPE)
        x = F.leaky_relu(self.dense0(x.flatten(1)), LRELU_SLOPE)
        out = self.dense1(x)
        if self.c_dim:
            if c is None or tuple(c.shape) != (img.shape[0], self.c_dim):
                raise ValueError(f"this discriminator is conditional: pass c, one-hot [N, {self.c_dim}]")
            out = (out * c.to(out.dtype)).sum(dim=1, keepdim=True)
        return out
