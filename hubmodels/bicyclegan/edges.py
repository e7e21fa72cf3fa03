"""Photos to edge maps, so a sketch-to-image model can start from any picture; and edge agreement scores.

BicycleGAN's edge models (edges2shoes, edges2handbags, the SynthFaces demo) were trained on clean black line
drawings on white. :func:`photo_to_edges` makes one from a photo with a Canny-style detector of our own, in
torch: Gaussian smoothing, Sobel gradients on every colour channel (the strongest channel wins, so a boundary
between two colours of equal brightness still counts), non-maximum suppression across the edge, then hysteresis
between two thresholds set relative to the image's own gradient range. It runs on an upsampled copy and the
thin lines are drawn back down with anti-aliasing, like the training sketches (about one output pixel wide).

:func:`edge_agreement` scores how well two line maps agree (precision, recall and F1 with a one-pixel
tolerance): the outline metric of the training script and the demo checkpoint's tests.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..images import load_image

__all__ = ["gaussian_blur", "detect_edges", "photo_to_edges", "sketch_lines", "edge_agreement", "EdgeParams",
           "looks_like_line_drawing"]

# Defaults: chosen so that SynthFaces photos give back lines close to their own sketches (see the tests).
EdgeParams = dict(sigma=1.0, low=0.1, high=0.3)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_axis(x: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    r = len(k) // 2
    pad = min(r, x.shape[axis] - 1)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    xp = np.pad(x, widths, mode="reflect")
    n = x.shape[axis]
    out = np.zeros_like(x)
    for j, w in enumerate(k[r - pad: r + pad + 1]):
        out += w * np.take(xp, np.arange(j, j + n), axis=axis)
    return out


def gaussian_blur(x: Tensor | np.ndarray, sigma: float) -> Tensor | np.ndarray:
    """Separable Gaussian blur of (N, C, H, W) with reflection padding (radius 3 sigma)."""
    if sigma <= 0:
        return x
    arr = x.detach().cpu().numpy().astype(np.float32) if isinstance(x, Tensor) else x.astype(np.float32)
    k = _gaussian_kernel(sigma)
    out = _blur_axis(_blur_axis(arr, k, 3), k, 2)
    return torch.from_numpy(out).to(x.device) if isinstance(x, Tensor) else out


def _sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge")
    h, w = x.shape[-2:]

    def at(dy: int, dx: int) -> np.ndarray:
        return p[..., 1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]

    gx = (at(-1, 1) + 2 * at(0, 1) + at(1, 1) - at(-1, -1) - 2 * at(0, -1) - at(1, -1)) / 8
    gy = (at(1, -1) + 2 * at(1, 0) + at(1, 1) - at(-1, -1) - 2 * at(-1, 0) - at(-1, 1)) / 8
    return gx, gy


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """x moved so that out[i, j] = x[i + dy, j + dx] (zero outside)."""
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def detect_edges(images: Tensor, *, sigma: float = EdgeParams["sigma"], low: float = EdgeParams["low"],
                 high: float = EdgeParams["high"]) -> Tensor:
    """Canny-style edges of (N, C, H, W) images in [0, 1]: a (N, 1, H, W) boolean map of one-pixel lines.

    ``high`` / ``low``: hysteresis thresholds as fractions of the image's 99th-percentile gradient (with a floor,
    so a flat image gives no edges); pixels above ``high`` start a line, which continues through pixels above
    ``low``. Runs in numpy (one thread): many small steps, which a busy machine's thread pool would slow down.
    """
    if images.dim() != 4:
        raise ValueError(f"detect_edges takes (N, C, H, W) images, got shape {tuple(images.shape)}")
    x = gaussian_blur(images.detach().float().cpu().numpy(), sigma)
    gx, gy = _sobel(x)
    mag_c = gx * gx + gy * gy
    best = mag_c.argmax(1)[:, None]
    gx, gy = np.take_along_axis(gx, best, 1), np.take_along_axis(gy, best, 1)
    mag = np.sqrt(np.take_along_axis(mag_c, best, 1))
    # non-maximum suppression along the gradient, quantised to 0/45/90/135 degrees
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180
    sector = ((angle + 22.5) // 45).astype(np.int64) % 4
    keep = np.zeros(mag.shape, dtype=bool)
    for s, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        keep |= (sector == s) & (mag >= _shift(mag, dy, dx)) & (mag >= _shift(mag, -dy, -dx))
    ref = np.maximum(np.quantile(mag.reshape(mag.shape[0], -1), 0.99, axis=1), 0.02).reshape(-1, 1, 1, 1)
    strong = keep & (mag >= high * ref)
    weak = keep & (mag >= low * ref)
    return torch.from_numpy(_hysteresis(strong, weak)).to(images.device)


def _hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Grow ``strong`` through 8-connected ``weak`` pixels until nothing changes (numpy: many tiny steps)."""
    while True:
        grown = strong.copy()
        grown[..., 1:, :] |= strong[..., :-1, :]
        grown[..., :-1, :] |= strong[..., 1:, :]
        rows = grown.copy()
        grown[..., :, 1:] |= rows[..., :, :-1]
        grown[..., :, :-1] |= rows[..., :, 1:]
        grown &= weak
        if np.array_equal(grown, strong):
            return strong
        strong = grown


def photo_to_edges(image: Any, size: int | tuple[int, int] | None = None, *, thickness: float = 1.0,
                   supersample: int = 4, sigma: float = EdgeParams["sigma"], low: float = EdgeParams["low"],
                   high: float = EdgeParams["high"]) -> Image.Image:
    """A line drawing of a photo: black lines on white (PIL mode ``L``), like the training sketches.

    ``image``: anything :func:`hubmodels.images.load_image` accepts. ``size``: output size (an int for a square,
    or (width, height); default: the photo's own size). The photo is resized to ``supersample`` times the output
    size, edges are found there (``sigma`` in output pixels), lines are widened to ``thickness`` output pixels and
    box-filtered back down, which anti-aliases them.
    """
    img = load_image(image, name="photo")
    if size is None:
        out_w, out_h = img.size
    elif isinstance(size, int):
        out_w = out_h = size
    else:
        out_w, out_h = size
    if min(out_w, out_h) < 8:
        raise ValueError(f"the edge map must be at least 8x8 pixels, got {out_w}x{out_h}")
    ss = max(1, int(supersample))
    big = img.resize((out_w * ss, out_h * ss), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(big, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    lines = detect_edges(x, sigma=sigma * ss, low=low, high=high).float()
    width = max(1, int(round(ss * thickness)))  # line width in supersampled pixels
    if width > 1:
        before = (width - 1) // 2
        lines = F.max_pool2d(F.pad(lines, (before, width - 1 - before, before, width - 1 - before)), width, 1)
    coverage = F.avg_pool2d(lines, ss) if ss > 1 else lines
    gray = (255 * (1 - coverage[0, 0])).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(gray, "L")


def looks_like_line_drawing(image: Any) -> bool:
    """Whether an image is a dark-on-light line drawing (an edge map or sketch) rather than a photo: nearly
    colourless, and at least half of it close to white."""
    rgb = np.asarray(load_image(image, name="image").convert("RGB"), dtype=np.int16)
    colourless = (rgb.max(-1) - rgb.min(-1) <= 24).mean()
    light = (rgb.mean(-1) >= 200).mean()
    return bool(colourless >= 0.95 and light >= 0.5)


def sketch_lines(sketch: Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Where a black-on-white line drawing (N, C, H, W) has a line: a (N, 1, H, W) boolean map."""
    lo, hi = value_range
    gray = (sketch.float().mean(1, keepdim=True) - lo) / (hi - lo)
    return gray < 0.5


def edge_agreement(pred: Tensor, target: Tensor, tolerance: int = 1) -> dict[str, Tensor]:
    """Precision, recall and F1 (each (N,)) of line map ``pred`` against ``target`` (boolean (N, 1, H, W)):
    a predicted pixel counts when a target line lies within ``tolerance`` pixels, and the other way round."""
    if pred.shape != target.shape:
        raise ValueError(f"edge maps differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    k = 2 * tolerance + 1
    pf, tf = pred.float(), target.float()
    near_t = F.max_pool2d(tf, k, 1, tolerance) > 0
    near_p = F.max_pool2d(pf, k, 1, tolerance) > 0
    n_pred = pf.flatten(1).sum(1)
    n_true = tf.flatten(1).sum(1)
    precision = (pred & near_t).flatten(1).sum(1) / n_pred.clamp_min(1)
    recall = (target & near_p).flatten(1).sum(1) / n_true.clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-8)
    return {"precision": precision, "recall": recall, "f1": f1}
