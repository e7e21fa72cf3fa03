"""Face-alignment network (FAN, one hourglass stack with CoordConv, AdaptiveWingLoss variant).

StarGAN v2 uses it, frozen, only to build the two face masks that gate the generator's high-pass
skips (CelebA-HQ model, w_hpf > 0). The math follows clovaai/stargan-v2 ``core/wing.py``; parameter
names follow the official layout so that ``wing.ckpt['state_dict']`` loads as is.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FAN", "heatmaps_to_masks"]

# Landmark index ranges of the 98-point WFLW layout, [start, end).
_CHIN = (8, 25)  # the face outline without its 8 outermost points on each side
_EYEBROWS = (33, 51)
_EYEBROW_EDGES = (33, 46)
_NOSE = (51, 55)
_NOSTRILS = (55, 60)
_EYES = (60, 76)
_LIP_EDGES = (76, 82)
_LIP_UPPER = (77, 82)
_LIP_LOWER = (83, 88)
_LIP_INNER = (88, 96)


class _AddCoords(nn.Module):
    """Appends normalised (row, column[, radius]) coordinate channels to a fixed-size feature map."""

    def __init__(self, height: int, width: int, with_r: bool):
        super().__init__()
        # (i / (n - 1)) * 2 - 1 rather than linspace: same arithmetic as the official code, same bits
        rows = (torch.arange(height, dtype=torch.float32)[:, None] / (height - 1) * 2 - 1).expand(height, width)
        cols = (torch.arange(width, dtype=torch.float32)[None, :] / (width - 1) * 2 - 1).expand(height, width)
        coords = [rows, cols]
        if with_r:
            radius = torch.sqrt(rows**2 + cols**2)
            coords.append(radius / radius.max())
        # derived from the shape alone, so not part of the state dict
        self.register_buffer("coords", torch.stack(coords)[None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        coords = self.coords.to(x.dtype).expand(x.size(0), -1, -1, -1)
        return torch.cat([x, coords], dim=1)


class _CoordConv(nn.Module):
    """CoordConv: a conv that also sees coordinate channels.

    Only the configurations FAN uses are supported: no boundary channels (the official
    ``with_boundary`` path is dead code with a single hourglass, whose heatmap input is always None).
    """

    def __init__(self, height: int, width: int, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0):
        super().__init__()
        self.addcoords = _AddCoords(height, width, with_r=True)
        self.conv = nn.Conv2d(in_channels + 3, out_channels, kernel_size, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.addcoords(x))


class _ConvBlock(nn.Module):
    """Hierarchical residual block (Bulat & Tzimiropoulos): three BN-ReLU-conv3x3 stages whose
    outputs (C/2, C/4, C/4 channels) are concatenated and added to the input."""

    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes), nn.ReLU(), nn.Conv2d(in_planes, out_planes, 1, 1, bias=False)
            )

    def forward(self, x: Tensor) -> Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + residual


class _HourGlass(nn.Module):
    """Recursive hourglass of the given depth on 256-channel 64x64 features, preceded by a CoordConv."""

    def __init__(self, depth: int, num_features: int = 256):
        super().__init__()
        self.depth = depth
        self.coordconv = _CoordConv(64, 64, num_features, num_features, kernel_size=1)
        # official names: b1_<level> (skip), b2_<level> (down), b2_plus_1 (innermost), b3_<level> (up)
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", _ConvBlock(num_features, num_features))
            self.add_module(f"b2_{level}", _ConvBlock(num_features, num_features))
            if level == 1:
                self.add_module("b2_plus_1", _ConvBlock(num_features, num_features))
            self.add_module(f"b3_{level}", _ConvBlock(num_features, num_features))

    def _level(self, level: int, x: Tensor) -> Tensor:
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        if level > 1:
            low = self._level(level - 1, low)
        else:
            low = self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: Tensor) -> Tensor:
        return self._level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    """Face-alignment network: 256x256 RGB in [0, 1] -> (N, num_landmarks + 1, 64, 64) heatmaps.

    The last channel is the boundary heatmap; the mask code drops it. The network is a frozen
    feature extractor: it always stays in eval mode (BatchNorm uses its running statistics), even
    when a parent module is put in training mode.
    """

    def __init__(self, num_modules: int = 1, end_relu: bool = False, num_landmarks: int = 98):
        super().__init__()
        if num_modules != 1:
            # the official constructor accepts num_modules but always builds a single stack
            raise ValueError(f"FAN supports num_modules=1 only (as the official code), got {num_modules}")
        if num_landmarks != 98:
            raise ValueError(
                f"FAN masks need the 98-landmark WFLW layout (num_landmarks=98), got {num_landmarks}"
            )
        self.num_modules = num_modules
        self.end_relu = end_relu
        self.num_landmarks = num_landmarks
        self.conv1 = _CoordConv(256, 256, 3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = _ConvBlock(64, 128)
        self.conv3 = _ConvBlock(128, 128)
        self.conv4 = _ConvBlock(128, 256)
        self.m0 = _HourGlass(depth=4)
        self.top_m_0 = _ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)
        self.eval()

    def train(self, mode: bool = True) -> "FAN":
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """Raw heatmaps of a (N, 3, 256, 256) batch in [0, 1]; (N, num_landmarks + 1, 64, 64)."""
        if x.shape[-2:] != (256, 256):
            raise ValueError(f"FAN takes 256x256 images, got {tuple(x.shape[-2:])}; use get_heatmap for other sizes")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        heatmaps = self.l0(x)
        if self.end_relu:
            heatmaps = F.relu(heatmaps)
        return heatmaps

    @torch.no_grad()
    def get_heatmap(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Face masks for images in [-1, 1] (any square size): (full mask, mask without chin/mouth/brows),
        each (N, 1, 256, 256) in [0, 1]. Same as the official ``get_heatmap(b_preprocess=True)``."""
        x = F.interpolate(x, size=256, mode="bilinear", align_corners=False)
        heatmaps = self(x * 0.5 + 0.5)[:, :-1]
        heatmaps = F.interpolate(heatmaps, scale_factor=x.size(2) // heatmaps.size(2),
                                 mode="bilinear", align_corners=True)
        return heatmaps_to_masks(heatmaps)


def _shift(x: Tensor, n: int) -> Tensor:
    """Cyclic shift along height: n > 0 moves content up by n rows, n < 0 moves it down."""
    return torch.roll(x, shifts=-n, dims=2)


def _normalize(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Min-max normalisation of every (sample, channel) map."""
    flat = x.flatten(2)
    lo = flat.min(dim=2, keepdim=True).values
    hi = flat.max(dim=2, keepdim=True).values
    return ((flat - lo) / (hi - lo + eps)).view_as(x)


def heatmaps_to_masks(x: Tensor) -> tuple[Tensor, Tensor]:
    """Turn (N, 98, H, W) landmark heatmaps into the two StarGAN v2 face masks (official ``preprocess``).

    Each facial part is moved and sharpened so that the union of the heatmaps covers the regions whose
    fine detail the generator should keep (eyes, nose, mouth, face outline).
    """
    x = torch.where(x < 0.1, torch.zeros_like(x), x)  # drop weak responses before normalising
    x = _normalize(x)
    sw = x.size(2) // 256  # the official offsets are in pixels at 256 px

    # (part, vertical shift, exponent): exponents > 1 shrink the blobs
    for (start, end), n, power in (
        (_CHIN, 0, 3),
        (_EYEBROWS, -7 * sw, 2),
        (_NOSTRILS, 8 * sw, 4),
        (_LIP_UPPER, -8 * sw, 4),
        (_LIP_LOWER, 8 * sw, 4),
        (_LIP_INNER, -2 * sw, 3),
    ):
        x[:, start:end] = _shift(x[:, start:end], n) ** power

    zero_out = list(range(0, _CHIN[0])) + list(range(_CHIN[1], 33))
    zero_out += [_EYEBROW_EDGES[0], _EYEBROW_EDGES[1], _LIP_EDGES[0], _LIP_EDGES[1]]
    x[:, zero_out] = 0

    start, end = _NOSE
    x[:, start + 1:end] = _shift(x[:, start + 1:end], 4 * sw)

    start, end = _EYES
    eyes = x[:, start:end]
    # the official eye shifts are not scaled by sw
    x[:, start:end] = _shift(eyes, -8) ** 3 + _shift(eyes, -24)

    x2 = x.clone()
    x2[:, _CHIN[0]:_CHIN[1]] = 0
    x2[:, _LIP_EDGES[0]:_LIP_INNER[1]] = 0
    x2[:, _EYEBROWS[0]:_EYEBROWS[1]] = 0

    mask = x.sum(dim=1, keepdim=True)
    mask2 = x2.sum(dim=1, keepdim=True)
    # The official code zeroes NaNs of the first mask only (its second NaN test runs after the first
    # mask was already cleaned, so it never fires); kept as is.
    mask = torch.where(torch.isnan(mask), torch.zeros_like(mask), mask)
    return mask.clamp(0, 1), mask2.clamp(0, 1)
