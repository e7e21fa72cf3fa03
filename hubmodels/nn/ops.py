"""Exact rewrites of common GAN layer patterns that cost fewer FLOPs or memory passes at inference.

``upsample2x_conv3x3``: nearest 2x upsampling followed by a 3x3 convolution (padding 1) equals, per output
phase (row parity a, column parity b), a 2x2 convolution of the *low-resolution* input whose taps are sums of
the 3x3 taps. All four phases run as one 2x2 convolution with 4x the output channels over the input padded by
one pixel, then interleave: 16 instead of 36 multiply-adds per input pixel and channel pair (2.25x fewer),
and the 4x larger upsampled tensor is never built.

``fused_instance_norm``: instance normalisation and a per-(sample, channel) affine as one ``x * a + b`` pass.

These are functions; :mod:`hubmodels.nn.swap` holds the modules that use them, swapped in by
``HubModel.optimize_for_inference`` (never by the paper modules themselves).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["polyphase_weight", "upsample2x_conv3x3", "can_fold", "fused_instance_norm"]

# For output phase a (0: even rows, 1: odd rows), which 3x3 kernel rows fold into each of the 2 taps.
_FOLD = {0: ((0,), (1, 2)), 1: ((0, 1), (2,))}
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def polyphase_weight(weight: Tensor) -> Tensor:
    """(Cout, Cin, 3, 3) -> (4 * Cout, Cin, 2, 2), phases ordered (0,0), (0,1), (1,0), (1,1). Differentiable."""
    phases = []
    for a in (0, 1):
        rows = [weight[:, :, list(r), :].sum(2) for r in _FOLD[a]]  # each (Cout, Cin, 3)
        rows_w = torch.stack(rows, dim=2)  # (Cout, Cin, 2, 3)
        for b in (0, 1):
            cols = [rows_w[:, :, :, list(c)].sum(3) for c in _FOLD[b]]
            phases.append(torch.stack(cols, dim=3))  # (Cout, Cin, 2, 2)
    return torch.cat(phases, dim=0)


def _polyphase_params(conv: nn.Conv2d) -> tuple[Tensor, Tensor | None]:
    """The folded weight and bias of ``conv``.

    When gradients flow to the weights they are recomputed each call (differentiable); otherwise they are
    cached on the conv and recomputed only when the weight changes (in-place update, move, cast).
    """
    weight, bias = conv.weight, conv.bias
    if (torch.is_grad_enabled() and weight.requires_grad) or torch.compiler.is_compiling():
        # differentiable, or traced by torch.compile (which would graph-break on the cache's bookkeeping)
        return polyphase_weight(weight), None if bias is None else bias.repeat(4)
    key = (weight._version, weight.data_ptr(), weight.dtype, weight.device)
    cache = conv.__dict__.get("_polyphase")
    if cache is None or cache[0] != key:
        with torch.no_grad():
            w = polyphase_weight(weight.detach())
            if weight.is_contiguous(memory_format=torch.channels_last):
                w = w.contiguous(memory_format=torch.channels_last)
            b = bias.detach().repeat(4) if bias is not None else None
        cache = (key, w, b)
        conv.__dict__["_polyphase"] = cache
    return cache[1], cache[2]


def upsample2x_conv3x3(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` for a 3x3, stride-1, padding-1 conv."""
    w, bias = _polyphase_params(conv)
    n, _, h, wd = x.shape
    cout = conv.out_channels
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), w.to(x.dtype), None if bias is None else bias.to(x.dtype))
    # y: (N, 4*Cout, H+1, W+1); phase (a, b) lives at rows a..a+H, cols b..b+W of its channel block
    layout = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    if y.requires_grad:  # autograd: interleave without in-place writes
        blocks = [y[:, i * cout:(i + 1) * cout, a:a + h, b:b + wd] for i, (a, b) in enumerate(_PHASES)]
        top = torch.stack(blocks[:2], dim=-1).flatten(-2)  # even rows: columns interleaved
        bottom = torch.stack(blocks[2:], dim=-1).flatten(-2)
        return torch.stack((top, bottom), dim=-2).flatten(-3, -2).contiguous(memory_format=layout)
    out = torch.empty((n, cout, 2 * h, 2 * wd), dtype=y.dtype, device=y.device, memory_format=layout)
    for i, (a, b) in enumerate(_PHASES):
        out[:, :, a::2, b::2] = y[:, i * cout:(i + 1) * cout, a:a + h, b:b + wd]
    return out


def can_fold(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` is a 3x3, stride-1, padding-1, dense, zero-padded convolution."""
    return (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def fused_instance_norm(x: Tensor, scale: Tensor | None = None, shift: Tensor | None = None,
                        eps: float = 1e-5) -> Tensor:
    """Instance normalisation folded with a per-(sample, channel) affine into a single ``x * a + b`` pass.

    Same math as ``InstanceNorm2d`` (biased variance, ``eps`` inside the root) followed by
    ``scale * x_hat + shift``; ``scale``/``shift`` are (C,) or (N, C). PyTorch's instance norm reshapes to
    batch norm and copies channels-last tensors to NCHW and back; this keeps the layout and reads x twice.
    Statistics are computed in fp32 whatever the input dtype.
    """
    xf = x if x.dtype == torch.float32 else x.float()
    var, mean = _spatial_var_mean(xf)
    a = torch.rsqrt(var + eps)
    if scale is not None:
        a = a * scale.reshape(scale.shape[0] if scale.dim() == 2 else 1, -1, 1, 1).float()
    b = -mean * a
    if shift is not None:
        b = b + shift.reshape(shift.shape[0] if shift.dim() == 2 else 1, -1, 1, 1).float()
    return torch.addcmul(b.to(x.dtype), x, a.to(x.dtype))


def _spatial_var_mean(x: Tensor) -> tuple[Tensor, Tensor]:
    """Biased variance and mean over H, W as (N, C, 1, 1), two-pass (no E[x^2] - E[x]^2 cancellation).

    For channels-last tensors the reduction over the strided H, W axes is slow; as (N, HW, C) it becomes a
    batched (1 x HW) @ (HW x C) matmul, several times faster.
    """
    n, c, h, w = x.shape
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return var, mean
    rows = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
    weights = torch.full((n, 1, h * w), 1.0 / (h * w), dtype=x.dtype, device=x.device)
    mean = torch.bmm(weights, rows)  # (N, 1, C)
    dev = rows - mean
    dev = dev.square() if dev.requires_grad else dev.square_()
    var = torch.bmm(weights, dev)
    return var.reshape(n, c, 1, 1), mean.reshape(n, c, 1, 1)
