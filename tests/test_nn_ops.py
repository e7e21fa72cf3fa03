"""Exact layer rewrites (nn.ops) and the module swaps that apply them (nn.swap, stargan_v2.fast)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hubmodels.nn.ops import can_fold, polyphase_weight, upsample2x_conv3x3


@pytest.mark.parametrize("shape,cin,cout,bias,channels_last", [
    ((2, 5, 7), 5, 3, True, False), ((1, 8, 8), 8, 16, False, True), ((3, 4, 1), 4, 4, True, True),
])
def test_polyphase_equals_upsample_then_conv(shape, cin, cout, bias, channels_last):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)
    x = torch.randn(shape[0], cin, shape[1], shape[2])
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        out = upsample2x_conv3x3(x, conv)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_polyphase_weight_taps_sum_to_kernel():
    w = torch.randn(2, 3, 3, 3)
    p = polyphase_weight(w)
    assert p.shape == (8, 3, 2, 2)
    # every phase sees every 3x3 tap exactly once
    for i in range(4):
        torch.testing.assert_close(p[2 * i:2 * i + 2].sum((2, 3)), w.sum((2, 3)))


def test_cache_follows_weight_updates():
    conv = torch.nn.Conv2d(2, 2, 3, 1, 1)
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        upsample2x_conv3x3(x, conv)
        conv.weight.mul_(2)
        torch.testing.assert_close(upsample2x_conv3x3(x, conv), conv(F.interpolate(x, scale_factor=2)))


def test_can_fold():
    assert can_fold(torch.nn.Conv2d(2, 2, 3, 1, 1))
    assert not can_fold(torch.nn.Conv2d(2, 2, 3, 2, 1)) and not can_fold(torch.nn.Conv2d(2, 2, 1))


def test_polyphase_is_differentiable_like_upsample_then_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, 1, 1)
    x = torch.randn(2, 3, 5, 6, requires_grad=True)
    ref = conv(F.interpolate(x, scale_factor=2, mode="nearest"))
    grads_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.bias])
    out = upsample2x_conv3x3(x, conv)
    grads = torch.autograd.grad(out.square().sum(), [x, conv.weight, conv.bias])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-4, rtol=1e-4)


def _generator():
    from hubmodels.stargan_v2 import Generator

    torch.manual_seed(0)
    return Generator(img_size=32, style_dim=8, max_conv_dim=32, w_hpf=0, dim_in=8).eval()


@pytest.mark.parametrize("grad", [False, True])
def test_swapped_generator_matches_paper_modules(grad):
    """The StarGAN v2 swaps compute the paper's function, with and without autograd."""
    from hubmodels.nn.swap import swap_modules, swapped_modules, unswap_modules
    from hubmodels.stargan_v2.fast import INFERENCE_SWAPS
    from hubmodels.stargan_v2.networks import AdaIN, AdainResBlk

    paper, fast = _generator(), _generator()
    assert swap_modules(fast, INFERENCE_SWAPS) > 0
    kinds = {orig for orig, _ in swapped_modules(fast).values()}
    assert {torch.nn.InstanceNorm2d, AdaIN, AdainResBlk} <= kinds
    x, s = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(fast(x, s), paper(x, s), atol=1e-5, rtol=1e-5)
    if grad:  # gradients reach the same parameters
        g_fast = torch.autograd.grad(fast(x, s).sum(), list(fast.parameters()), allow_unused=True)
        g_paper = torch.autograd.grad(paper(x, s).sum(), list(paper.parameters()), allow_unused=True)
        scale = max(g.abs().max().item() for g in g_paper if g is not None)
        for a, b in zip(g_fast, g_paper):
            assert (a is None) == (b is None)
            if a is not None:  # (conv biases before a norm have a true gradient of 0: compare on the overall scale)
                torch.testing.assert_close(a, b, atol=1e-4 * scale, rtol=1e-4)
    unswap_modules(fast)
    assert not swapped_modules(fast)
    assert all(type(m) is type(p) for m, p in zip(fast.modules(), paper.modules()))
    assert not any("_polyphase" in m.__dict__ for m in fast.modules())  # fast caches dropped


def test_swap_refuses_a_class_that_does_not_subclass_the_original():
    from hubmodels.nn.swap import FusedInstanceNorm2d, swap_modules

    with pytest.raises(TypeError, match="must subclass"):
        swap_modules(torch.nn.Sequential(torch.nn.BatchNorm2d(2)), {torch.nn.BatchNorm2d: FusedInstanceNorm2d})


def test_fused_instance_norm_module_keeps_running_stats_norms():
    from hubmodels.nn.swap import FusedInstanceNorm2d, swap_modules

    net = torch.nn.Sequential(torch.nn.InstanceNorm2d(3, affine=True),
                              torch.nn.InstanceNorm2d(3, track_running_stats=True))
    assert swap_modules(net, {torch.nn.InstanceNorm2d: FusedInstanceNorm2d}) == 1
    assert type(net[0]) is FusedInstanceNorm2d and type(net[1]) is torch.nn.InstanceNorm2d
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(net[0](x), torch.nn.functional.instance_norm(x, weight=net[0].weight,
                                                                            bias=net[0].bias), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("per_sample", [False, True])
def test_fused_instance_norm_matches_module(channels_last, per_sample):
    from hubmodels.nn.ops import fused_instance_norm

    torch.manual_seed(0)
    x = torch.randn(3, 6, 9, 7) * 3 + 5  # a large mean tests the two-pass variance
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    norm = torch.nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
        if per_sample:
            scale, shift = torch.rand(3, 6) + 0.5, torch.randn(3, 6)
            ref = scale[:, :, None, None] * torch.nn.functional.instance_norm(x) + shift[:, :, None, None]
        else:
            scale, shift = norm.weight, norm.bias
            ref = norm(x)
        out = fused_instance_norm(x, scale, shift)
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    if channels_last:
        assert out.is_contiguous(memory_format=torch.channels_last)
