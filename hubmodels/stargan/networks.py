"""StarGAN networks (Choi et al., CVPR 2018): the generator and the discriminator with its two heads.

The math and the module layout follow yunjey/stargan ``model.py``, so an official state dict loads with no
renames: ``main`` is the same ``nn.Sequential`` of the same layers in the same order, ``conv1`` and ``conv2``
are the discriminator's two heads.

* :class:`Generator` ``G(x, c)``: the label vector ``c`` (N, C) is tiled to H x W and concatenated after the
  three image channels; a 7x7 conv, two stride-2 down-sampling convs, ``repeat_num`` residual blocks, two
  transposed up-sampling convs and a 7x7 conv to RGB with tanh. Every conv has no bias (instance norm follows).
* :class:`Discriminator` ``D(x) -> (out_src, out_cls)``: ``repeat_num`` stride-2 4x4 convs with LeakyReLU(0.01),
  then ``conv1`` (3x3, one channel: the PatchGAN real/fake map, N x 1 x H/2^r x W/2^r) and ``conv2`` (a valid
  conv over the whole remaining map: the class logits, N x c_dim).

**Instance norm statistics.** The official generator's norms are ``InstanceNorm2d(affine=True,
track_running_stats=True)``: they carry running averages of the per-instance statistics, and in PyTorch's
eval mode they would normalise with those averages. The official test code never calls ``G.eval()``, so the
released results are computed with each image's *own* statistics (train mode), and eval mode gives broken
images with the released weights (yunjey/stargan#102). :class:`InstanceNorm2d` keeps the buffers (they load
and are saved unchanged) and has two ways to normalise outside training:

* ``"instance"`` (default): each image's own mean and variance, exactly what the official test computes, and
  without the side effect of train mode (which updates the running averages in place at every call);
* ``"running"``: the stored running averages, PyTorch's eval-mode semantics (``G.eval()`` in the official
  code): only useful to inspect those buffers.

In training mode both normalise with the per-instance statistics and update the running averages with
momentum 0.1, as the official training does. :meth:`Generator.set_normalization` switches every norm.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NORMALIZATIONS", "InstanceNorm2d", "ResidualBlock", "Generator", "Discriminator", "tile_labels"]

NORMALIZATIONS = ("instance", "running")
_D_SLOPE = 0.01  # LeakyReLU slope of the discriminator


class InstanceNorm2d(nn.InstanceNorm2d):
    """``InstanceNorm2d(affine=True, track_running_stats=True)`` whose eval mode uses each image's statistics.

    Same parameters and buffers as the official module (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``num_batches_tracked``). ``normalization`` chooses what eval mode does (see the module
    docstring); training mode is PyTorch's (and the official training's): per-instance statistics, running
    averages updated.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True, track_running_stats=True)
        self.normalization = "instance"

    def forward(self, x: Tensor) -> Tensor:
        if self.training or self.normalization == "running":
            return super().forward(x)
        # the official test path's numbers (train mode) without writing to the running averages
        return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, normalization={self.normalization!r}"


class ResidualBlock(nn.Module):
    """conv3x3 - IN - ReLU - conv3x3 - IN, added to the input (official ``ResidualBlock``)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            InstanceNorm2d(dim_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim_out, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            InstanceNorm2d(dim_out),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


def tile_labels(x: Tensor, c: Tensor) -> Tensor:
    """``cat([x, c tiled to x's H x W], dim=1)``: the generator's input (official ``Generator.forward``)."""
    if c.dim() != 2 or c.size(0) != x.size(0):
        raise ValueError(f"labels c must have shape ({x.size(0)}, C) for {x.size(0)} image(s), got {tuple(c.shape)}")
    c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.size(2), x.size(3))
    return torch.cat([x, c], dim=1)


class Generator(nn.Module):
    """StarGAN generator ``G(x, c)``; ``c_dim`` counts every label channel (joint mode: c_dim + c2_dim + 2)."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        self.conv_dim, self.c_dim, self.repeat_num = conv_dim, c_dim, repeat_num
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
            InstanceNorm2d(conv_dim),
            nn.ReLU(inplace=True),
        ]
        curr = conv_dim
        for _ in range(2):  # down-sampling
            layers += [nn.Conv2d(curr, curr * 2, kernel_size=4, stride=2, padding=1, bias=False),
                       InstanceNorm2d(curr * 2), nn.ReLU(inplace=True)]
            curr *= 2
        layers += [ResidualBlock(curr, curr) for _ in range(repeat_num)]  # bottleneck
        for _ in range(2):  # up-sampling
            layers += [nn.ConvTranspose2d(curr, curr // 2, kernel_size=4, stride=2, padding=1, bias=False),
                       InstanceNorm2d(curr // 2), nn.ReLU(inplace=True)]
            curr //= 2
        layers += [nn.Conv2d(curr, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if c.size(1) != self.c_dim:
            raise ValueError(f"this generator takes {self.c_dim} label channels, got c of shape {tuple(c.shape)}")
        return self.main(tile_labels(x, c))

    def norms(self) -> list[InstanceNorm2d]:
        return [m for m in self.modules() if isinstance(m, InstanceNorm2d)]

    def set_normalization(self, normalization: str) -> None:
        """``"instance"`` (the official test outputs) or ``"running"`` (PyTorch eval mode) for every norm."""
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        for norm in self.norms():
            norm.normalization = normalization


class Discriminator(nn.Module):
    """PatchGAN discriminator with an auxiliary classifier: ``D(x) -> (out_src (N,1,h,w), out_cls (N,c_dim))``."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        if image_size % (2 ** repeat_num):
            raise ValueError(f"image_size {image_size} is not divisible by 2**repeat_num = {2 ** repeat_num}: "
                             "the classifier's kernel (image_size / 2**repeat_num) must be a whole number")
        kernel = image_size // 2 ** repeat_num
        if kernel < 1:
            raise ValueError(f"image_size {image_size} is too small for {repeat_num} down-sampling convs")
        self.image_size, self.c_dim, self.repeat_num = image_size, c_dim, repeat_num
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1),
                                   nn.LeakyReLU(_D_SLOPE)]
        curr = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(curr, curr * 2, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(_D_SLOPE)]
            curr *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(curr, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(curr, c_dim, kernel_size=kernel, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.size(-1) != self.image_size or x.size(-2) != self.image_size:
            raise ValueError(f"this discriminator takes {self.image_size}x{self.image_size} images, "
                             f"got {tuple(x.shape[-2:])}")
        h = self.main(x)
        out_src = self.conv1(h)
        out_cls = self.conv2(h)
        return out_src, out_cls.view(out_cls.size(0), out_cls.size(1))
