"""Exact layer rewrites used by the inference fast path."""
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


def test_generator_inference_path_matches_training_path():
    from hubmodels.stargan_v2 import Generator

    torch.manual_seed(0)
    g = Generator(img_size=32, style_dim=8, max_conv_dim=32, w_hpf=0, dim_in=8).eval()
    x, s = torch.randn(2, 3, 32, 32), torch.randn(2, 8)
    with torch.enable_grad():
        slow = g(x, s)
    with torch.inference_mode():
        fast = g(x, s)
    torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=1e-5)


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
