"""StyleGAN2 networks in plain PyTorch (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN").

The numerics follow NVlabs/stylegan2-ada-pytorch (``training/networks.py`` and its reference ops); the key
layout is ada's too, so an ada state dict maps onto ours by renaming ``mapping``/``synthesis`` alone.
rosinality/stylegan2-pytorch computes the same generator and resnet discriminator: its converter only
reshapes and renames tensors (see :mod:`.convert_v2`), and the two places where the formulas are written
differently are argued equal where they occur (demodulation, minibatch-stddev).

Everything runs on any device with standard PyTorch ops: the FIR resampling below is ada's ``upfirdn2d``
reference path (zero insertion, pad/crop, depthwise FIR, decimation) written out in torch.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "NOISE_MODES", "setup_filter", "upfirdn2d", "bias_act", "normalize_2nd_moment",
    "FullyConnectedLayer", "Conv2dLayer", "MappingNetwork", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock",
    "SynthesisNetwork", "MinibatchStdLayer", "DiscriminatorBlock", "DiscriminatorEpilogue", "Discriminator",
    "channels_for",
]

NOISE_MODES = ("random", "const", "none")
LRELU_SLOPE = 0.2
CHANNELS_LAST_MIN_PIXELS = 32 * 32  # CPU: 2x-up convolutions from maps this large run channels-last (see below)
SQRT2 = math.sqrt(2.0)
# Half-precision blocks (num_fp16_res) are an accelerator feature: ada runs them in fp16 on GPU only through its
# CUDA kernels; on other devices we keep fp32, which is also what ada's documented force_fp32 path computes.


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution``: ada's ``min(channel_base // res, channel_max)`` rule."""
    return min(channel_base // resolution, channel_max)


# ---------------------------------------------------------------------------------------------------------
# elementary ops


def setup_filter(taps: Sequence[float]) -> Tensor:
    """The separable FIR low-pass as a normalised 2-D kernel (outer product, sum 1), float32."""
    # on the CPU even inside a meta device context: a constant of the architecture (see hubmodels.hub.ShapeOnly)
    f = torch.as_tensor(list(taps), dtype=torch.float32, device="cpu")
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: Tensor, f: Tensor, *, up: int = 1, down: int = 1, padding: Sequence[int] = (0, 0, 0, 0),
              gain: float = 1.0) -> Tensor:
    """Upsample by zero insertion, pad (negative = crop) [x0, x1, y0, y1], convolve with ``f`` (true
    convolution, as ada's default ``flip_filter=False``), keep every ``down``-th sample. ``gain`` scales the
    2-D filter (``up**2`` keeps the mean when zeros are inserted)."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = padding
    kernel = (f * gain).to(x.dtype).flip([0, 1])  # conv2d correlates; flipping makes it a convolution
    kernel = kernel[None, None].expand(c, 1, *kernel.shape)
    if x0 == x1 and y0 == y1 and x0 >= 0 and y0 >= 0:
        # symmetric zero padding (every FIR after a transposed conv): let the convolution pad, saving a padded
        # copy of the map; the same zeros enter the same sums
        x = F.conv2d(x, kernel, padding=(y0, x0), groups=c)
    else:
        x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
        x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
        x = F.conv2d(x, kernel, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """FIR upsampling of an image by ``up`` with output size exactly ``up`` times the input."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def _may_overwrite(x: Tensor) -> bool:
    """Whether an op may write its result into ``x`` (a tensor the caller created and no one else holds):
    not when autograd needs it. Large CPU buffers are fresh memory-mapped pages each time, so the in-place
    forms skip a page-fault pass per op, with the same values."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def bias_act(x: Tensor, b: Tensor | None, *, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, inplace: bool = False) -> Tensor:
    """Bias, activation, gain, clamp, in ada's order. The lrelu default gain sqrt(2) keeps unit variance;
    the clamp is applied last, so ``conv_clamp`` bounds the scaled activation. ``inplace``: ``x`` is the
    caller's own fresh result (a convolution's output), so it may be overwritten when autograd does not
    need it; intermediate results are always overwritten then."""
    own = inplace and _may_overwrite(x)
    if b is not None:
        b = b.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
        x = x.add_(b) if own else x + b
        own = _may_overwrite(x)
    if act == "lrelu":
        x = F.leaky_relu_(x, LRELU_SLOPE) if own else F.leaky_relu(x, LRELU_SLOPE)
        own = _may_overwrite(x)
        gain = SQRT2 if gain is None else gain
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}: 'lrelu' or 'linear'")
    gain = 1.0 if gain is None else gain
    if gain != 1:
        x = x.mul_(gain) if own else x * gain
        own = _may_overwrite(x)
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if own else x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Scale each vector to unit mean square (rosinality's PixelNorm is the same formula)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def conv2d_resample(x: Tensor, w: Tensor, f: Tensor | None = None, *, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1, w_transposed: Tensor | None = None) -> Tensor:
    """Convolution (cross-correlation, as ``F.conv2d``) with FIR up- or down-sampling, padding done once.

    Up-sampling is a stride-2 transposed convolution followed by the FIR filter (the cheap order, and the
    one both official codebases use); down-sampling filters first, then strides. ``w_transposed``: ``w`` already
    laid out as ``[in, out, k, k]`` (a cached copy, groups == 1), which the transposed convolution needs.
    """
    out_ch, in_per_group, kh, kw = w.shape
    fw = f.shape[-1] if f is not None else 1
    p0 = p1 = padding
    if up > 1:
        p0 += (fw + up - 1) // 2
        p1 += (fw - up) // 2
    if down > 1:
        p0 += (fw - down + 1) // 2
        p1 += (fw - down) // 2
    if down > 1 and up == 1:
        if kh == 1 and kw == 1:  # decimate while filtering, then a pointwise conv on the small map
            x = upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))
            return F.conv2d(x, w, groups=groups)
        x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
        return F.conv2d(x, w, stride=down, groups=groups)
    if up > 1 and down == 1:
        if kh == 1 and kw == 1:
            x = F.conv2d(x, w, groups=groups)
            return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)
        # conv_transpose2d wants [in, out/groups, k, k] per group
        if w_transposed is not None and groups == 1:
            wt = w_transposed
        elif groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
        p0 -= kw - 1
        p1 -= kw - up
        pt = max(min(-p0, -p1), 0)
        if x.device.type == "cpu" and groups == 1 and x.shape[2] * x.shape[3] >= CHANNELS_LAST_MIN_PIXELS:
            # oneDNN's strided transposed convolution and its depthwise FIR run up to 2.5x faster on
            # channels-last maps than on NCHW ones (the same sums, its blocked kernels) once the map is large
            # (below 32x32 NCHW is as fast or faster); the layout then carries on through the following layers
            # (values are layout-independent; the networks hand back contiguous outputs)
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.conv_transpose2d(x, wt, stride=up, padding=pt, groups=groups)
        q0, q1 = p0 + pt, p1 + pt
        return upfirdn2d(x, f, padding=(q0, q1, q0, q1), gain=up * up)
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    raise ValueError(f"conv2d_resample: up={up} with down={down} is not used by StyleGAN2")


def _pointwise_conv(x: Tensor, w: Tensor) -> Tensor:
    """A 1x1 convolution with per-sample weights ``w`` [N or 1, out, in] as one (batched) matrix product (the
    same sums over input channels) in the layout ``x`` has: PyTorch sends 1x1 convolutions to a slow path that
    copies channels-last inputs to NCHW first."""
    n, c, h, wd = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = torch.matmul(x.permute(0, 2, 3, 1).reshape(n, h * wd, c), w.transpose(1, 2))  # [N, HW, out]
        return y.reshape(n, h, wd, -1).permute(0, 3, 1, 2)  # a channels-last view
    return torch.matmul(w, x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)


def _modulate_activations(x: Tensor, weight: Tensor, up: int) -> bool:
    """Whether scaling the activations (styles on the input, demodulation on the output, one batched conv with the
    shared weight) touches fewer numbers than building N modulated weight tensors for a grouped conv.

    Both are the same linear map (conv(x * s) * d = conv_{w * s * d}(x)); at low resolution the 512-channel
    weights dwarf the feature maps, at high resolution the reverse, so each layer takes the cheaper form. The
    FLOPs of the convolution itself are the same either way. Only at inference (``fused``), as ada's choice
    between its two forms is too.
    """
    n, in_ch, h, w = x.shape
    if n > 1 and x.device.type == "cpu":
        return True  # oneDNN runs one batched convolution far faster than N groups of one (1.7x at 256 px)
    out_ch = weight.shape[0]
    activations = in_ch * h * w + out_ch * h * w * up * up
    weights = 2 * out_ch * weight[0].numel()  # modulate, then demodulate, one copy per sample
    return activations < weights


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, noise: Tensor | None = None, up: int = 1,
                     padding: int = 0, resample_filter: Tensor | None = None, demodulate: bool = True,
                     fused: bool = True, weight_sq: Tensor | None = None,
                     weight_t: Tensor | None = None) -> Tensor:
    """StyleGAN2's weight (de)modulation: scale input channels by ``styles``, normalise each output filter.

    ``fused`` folds the per-sample weights into one grouped convolution (ada's inference default); the
    unfused form scales activations instead (ada's training and fp16 path). Both compute the same function.

    rosinality folds the equalised-lr gain 1/sqrt(in*k*k) into the weight before demodulating, ada does not:
    demodulation divides that constant out again, so the two differ only in where the 1e-8 of
    ``rsqrt(sum + 1e-8)`` lands (relative effect < 1e-8 * in*k*k / sum(w^2), below float32 resolution for any
    trained or initialised filter), which is why one implementation serves both formats. Without
    demodulation (ToRGB) both apply the gain to the styles, identically.

    ``weight_sq`` (``weight.square().sum([2, 3])``) and ``weight_t`` (``weight`` as ``[in, out, k, k]``,
    contiguous) are per-layer constants an inference rewrite may cache (:mod:`.fast`); the values are the same.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # fp16 only: bring both factors to O(1) first (demodulation cancels any per-filter scale), else the
        # squared sums overflow.
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = None
    if demodulate:
        # sum_{i,k} (w[o,i,k] s[i])^2 = sum_i s[i]^2 sum_k w[o,i,k]^2: one [N, in] x [in, out] product instead of
        # squaring and summing N modulated copies of the weight (the same sum, regrouped)
        dtype = torch.promote_types(weight.dtype, styles.dtype)  # what the elementwise product would give
        if weight_sq is None or x.dtype == torch.float16:  # (fp16 rescales the weight above)
            weight_sq = weight.to(dtype).square().sum(dim=[2, 3])
        dcoefs = (styles.to(dtype).square() @ weight_sq.to(dtype).t() + 1e-8).rsqrt()
    if fused and _modulate_activations(x, weight, up):
        fused = False  # the same function, cheaper here: see _modulate_activations
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        wt = weight_t if weight_t is not None and weight_t.dtype == x.dtype and x.dtype != torch.float16 else None
        if kh == kw == 1 and up == 1 and padding == 0:
            x = _pointwise_conv(x, weight.to(x.dtype).reshape(1, out_ch, in_ch))
        else:
            x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding, w_transposed=wt)
        own = _may_overwrite(x)  # the convolution's output
        if demodulate:
            d = dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
            x = x.mul_(d) if own else x * d
            own = _may_overwrite(x)
        if noise is not None:
            x = x.add_(noise.to(x.dtype)) if own else x + noise.to(x.dtype)
        return x
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    w = w.reshape(-1, in_ch, kh, kw).to(x.dtype)
    if kh == kw == 1 and up == 1 and padding == 0:
        x = _pointwise_conv(x, w.reshape(n, out_ch, in_ch))
    elif n == 1:
        # no reshape: viewing a channels-last [1, C, H, W] map as itself rewrites its batch stride, and oneDNN
        # then no longer sees channels-last and hands back NCHW
        x = conv2d_resample(x, w, resample_filter, up=up, padding=padding)
    else:
        x = x.reshape(1, -1, *x.shape[2:])
        x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=n)
        x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise.to(x.dtype)) if _may_overwrite(x) else x + noise.to(x.dtype)  # x: the conv's output
    return x


# ---------------------------------------------------------------------------------------------------------
# equalised-learning-rate layers


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: weights stored as N(0, 1/lr^2), scaled at run time by
    ``lr_multiplier / sqrt(in)`` (and the bias by ``lr_multiplier``), so Adam's step is the same for all."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation, inplace=True)


class Conv2dLayer(nn.Module):
    """Equalised-lr convolution with optional FIR down-sampling, bias, activation and output clamp."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", down: int = 1, resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = SQRT2 if activation == "lrelu" else 1.0
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp, inplace=True)


# ---------------------------------------------------------------------------------------------------------
# mapping network


class MappingNetwork(nn.Module):
    """z (and a one-hot label c) -> w, broadcast to ``num_ws`` rows, with truncation towards ``w_avg``.

    The label is embedded and normalised separately, then concatenated after the normalised z (ada's
    conditioning); ``z_dim = 0`` gives the discriminator's label-only mapping.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, *, num_layers: int = 8,
                 lr_multiplier: float = 0.01, embed_features: int | None = None,
                 layer_features: int | None = None, track_w_avg: bool = True, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.w_avg_beta = w_avg_beta
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        hidden = w_dim if layer_features is None else layer_features
        features = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=lr_multiplier))
        if track_w_avg:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor | None, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> Tensor:
        dtype = next(self.parameters()).dtype  # (a label-only mapping may have no fc layers: TF-era D)
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(dtype))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(dtype)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.training and hasattr(self, "w_avg") and torch.is_grad_enabled():
            # training keeps a moving average of w, the centre truncation pulls towards (ada's tracker);
            # forward passes without gradients (sampling during training) leave it alone
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            w_avg = self.w_avg.to(x.dtype)
            rows = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([w_avg.lerp(x[:, :rows], truncation_psi), x[:, rows:]], dim=1)
        return x


# ---------------------------------------------------------------------------------------------------------
# synthesis network


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), per-pixel noise, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *, up: int = 1,
                 use_noise: bool = True, resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = None, kernel_size: int = 3) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def weight_constants(self) -> dict[str, Tensor]:
        """Per-layer constants ``modulated_conv2d`` may take precomputed (``weight_sq``, ``weight_t``): none
        here; the inference rewrite (:mod:`.fast`) caches them."""
        return {}

    def forward(self, x: Tensor, w: Tensor, *, noise_mode: str = "const", noise: Tensor | None = None,
                generator: torch.Generator | None = None, fused: bool = True, gain: float = 1.0) -> Tensor:
        # styles and the modulated weights stay in the parameters' dtype (fp32 in ada's fp16 blocks); only the
        # convolution itself runs in the block's dtype
        styles = self.affine(w)
        added = None
        if self.use_noise:
            if noise is not None:  # explicit maps (projection, rosinality's noise=[...]) win over the mode
                added = noise.to(styles.dtype) * self.noise_strength
            elif noise_mode == "random":
                drawn = torch.randn(x.shape[0], 1, self.resolution, self.resolution, generator=generator,
                                    device=x.device)
                added = drawn.to(styles.dtype) * self.noise_strength
            elif noise_mode == "const":
                added = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=added, up=self.up,
                             padding=self.padding, resample_filter=self.resample_filter, fused=fused,
                             **self.weight_constants())
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act="lrelu", gain=SQRT2 * gain, clamp=clamp, inplace=True)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to colour, no demodulation (the image keeps the style's scale), bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor, *, fused: bool = True) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp, inplace=True)


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' generator: (const | 2x-up conv0), conv1, ToRGB added to the upsampled image.

    It takes ``num_conv + 1`` ws: its ToRGB shares the w of the next block's first conv (both official
    codebases index ws this way).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int, *,
                 use_fp16: bool = False, resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = None, use_noise: bool = True) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        kwargs = dict(resample_filter=resample_filter, conv_clamp=conv_clamp, use_noise=use_noise)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, **kwargs)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, **kwargs)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def layers(self) -> list[SynthesisLayer]:
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, *, dtype: torch.dtype,
                noise_mode: str, noise: Iterator[Tensor | None],
                generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        w_iter = iter(ws.unbind(dim=1))
        # ada fuses the modulation into one grouped conv at inference unless it runs fp16 with a batch > 1
        fused = (not self.training) and (dtype != torch.float16 or ws.shape[0] == 1)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = x.to(dtype)
        for layer in self.layers():
            x = layer(x, next(w_iter), noise_mode=noise_mode, noise=next(noise), generator=generator, fused=fused)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused=fused).to(torch.float32)
        return x, (img + y if img is not None else y)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R]: a 4x4 learned constant grown by 2x per block."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, *, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, conv_clamp: float | None = None,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), use_noise: bool = True) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = channels_for(res // 2, channel_base, channel_max) if res > 4 else 0
            block = SynthesisBlock(in_ch, channels_for(res, channel_base, channel_max), w_dim, res, img_channels,
                                   use_fp16=res >= fp16_resolution, resample_filter=resample_filter,
                                   conv_clamp=conv_clamp, use_noise=use_noise)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last ToRGB

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layers(self) -> list[SynthesisLayer]:
        """The noise-taking layers in the order ``noise=[...]`` lists them (rosinality's noises order)."""
        return [layer for block in self.blocks() for layer in block.layers()]

    def forward(self, ws: Tensor, *, noise_mode: str = "const", noise: Sequence[Tensor] | None = None,
                generator: torch.Generator | None = None, force_fp32: bool = False) -> Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        layers = self.noise_layers()
        if noise is not None and len(noise) != len(layers):
            raise ValueError(f"noise must list {len(layers)} maps (one per layer, see noise_shapes()), "
                             f"got {len(noise)}")
        noise_iter = iter(noise if noise is not None else [None] * len(layers))
        param_dtype = self.b4.const.dtype
        ws = ws.to(param_dtype if param_dtype != torch.float16 else torch.float32)
        x = img = None
        w_idx = 0
        for block in self.blocks():
            dtype = param_dtype
            if block.use_fp16 and not force_fp32 and ws.device.type == "cuda" and param_dtype == torch.float32:
                dtype = torch.float16
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + 1), dtype=dtype, noise_mode=noise_mode,
                           noise=noise_iter, generator=generator)
            w_idx += block.num_conv
        return img.contiguous()  # NCHW whatever layout the layers ran in


# ---------------------------------------------------------------------------------------------------------
# discriminator


class MinibatchStdLayer(nn.Module):
    """Append the stddev over groups of ``group_size`` samples as extra feature map(s).

    Groups are strided (sample i is in group i % (N / G)), as both official codebases reshape
    ``[G, N/G, ...]``. rosinality writes ``var(0, unbiased=False)``, ada ``(y - mean).square().mean()``:
    the same population variance, differing only in float summation order (~1 ulp)."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch-stddev: batch {n} is not divisible by the group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """One resolution: [fromrgb], conv0, 2x-down conv1, and for 'resnet' a 1x1 down skip, summed with gain
    sqrt(1/2) (rosinality divides the sum by sqrt(2): the same value, distributed)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int, *,
                 architecture: str = "resnet", use_fp16: bool = False,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.architecture, self.use_fp16 = in_channels, architecture, use_fp16
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":  # ada gives the skip no clamp
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: Tensor | None, img: Tensor, dtype: torch.dtype) -> Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img.to(dtype))
        else:
            x = x.to(dtype)
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch-stddev, conv, fc, out (1 logit, or a cmap_dim projection for labels)."""

    def __init__(self, in_channels: int, cmap_dim: int, *, resolution: int = 4, mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: Tensor, cmap: Tensor | None) -> Tensor:
        x = x.to(self.fc.weight.dtype)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:  # projection discriminator: <features, embedded label> / sqrt(dim)
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """ada's Discriminator ('resnet' default, 'orig'); rosinality's is the 'resnet' one with group size 4."""

    ARCHITECTURES = ("resnet", "orig")

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, *, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: float | None = None, cmap_dim: int | None = None, mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1, mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01,
                 resample_filter: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        if architecture not in self.ARCHITECTURES:
            raise ValueError(f"discriminator architecture must be one of {self.ARCHITECTURES}, got {architecture!r}")
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        ch = {res: channels_for(res, channel_base, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        cmap_dim = 0 if c_dim == 0 else (ch[4] if cmap_dim is None else cmap_dim)
        for res in self.block_resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(
                ch[res] if res < img_resolution else 0, ch[res], ch[res // 2], img_channels,
                architecture=architecture, use_fp16=res >= fp16_resolution, resample_filter=resample_filter,
                conv_clamp=conv_clamp))
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, None, num_layers=mapping_layers,
                                          lr_multiplier=mapping_lr_multiplier, track_w_avg=False)
        self.b4 = DiscriminatorEpilogue(ch[4], cmap_dim, mbstd_group_size=mbstd_group_size,
                                        mbstd_num_channels=mbstd_num_channels, conv_clamp=conv_clamp)

    def forward(self, img: Tensor, c: Tensor | None = None, *, force_fp32: bool = False) -> Tensor:
        if self.c_dim > 0 and c is None:
            raise ValueError(f"this discriminator is conditional: pass c, one-hot [N, {self.c_dim}]")
        param_dtype = self.b4.fc.weight.dtype
        x = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            dtype = param_dtype
            if block.use_fp16 and not force_fp32 and img.device.type == "cuda" and param_dtype == torch.float32:
                dtype = torch.float16
            x = block(x, img, dtype)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap).to(torch.float32)
