"""The official paired-image loader (junyanz/BicycleGAN ``data/aligned_dataset.py`` + ``base_dataset.py``), own code.

A dataset file is ``A | B`` side by side. Both halves get the same random parameters: a crop position drawn with
Python's ``random`` (``randint(0, load - crop)`` for x, then y) and a flip (``random() > 0.5``); each half is
[converted to one channel when its side of the model is 1-channel], resized to ``load_size`` x ``load_size``
(bicubic, aspect not kept), cropped, [flipped], and normalised to [-1, 1]. With ``direction="BtoA"`` the
dataset still returns ``A`` = left and ``B`` = right; which half is grayscale follows the side that becomes the
network's input (``input_nc``) or output (``output_nc``), and the model swaps them afterwards (``set_input``).

Used by the parity checks (with the manifest's Python seed) and by training on ``pairs`` folders.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from PIL import Image
from torch import Tensor

# torchvision-exact Grayscale/Resize/ToTensor/Normalize without importing torchvision (about 2 s)
from ..images import _normalize, _resize_image, _to_grayscale, _to_tensor, load_image

__all__ = ["AlignedParams", "aligned_params", "aligned_pair"]


@dataclass(frozen=True)
class AlignedParams:
    crop_pos: tuple[int, int]  # (x, y) of the crop's top-left corner in the resized image
    flip: bool


def aligned_params(load_size: int, crop_size: int, rng: Any = random) -> AlignedParams:
    """The official ``get_params`` for ``preprocess='resize_and_crop'``: x, y, then the flip coin, from ``rng``."""
    if load_size < crop_size:
        raise ValueError(f"load_size ({load_size}) must be >= crop_size ({crop_size})")
    x = rng.randint(0, max(0, load_size - crop_size))
    y = rng.randint(0, max(0, load_size - crop_size))
    return AlignedParams((x, y), rng.random() > 0.5)


def _half(img: Image.Image, params: AlignedParams, load_size: int, crop_size: int, gray: bool,
          flip: bool) -> Tensor:
    if gray:
        img = _to_grayscale(img)
    img = _resize_image(img, (load_size, load_size), "bicubic")
    x, y = params.crop_pos
    w, h = img.size
    if w > crop_size or h > crop_size:
        img = img.crop((x, y, x + crop_size, y + crop_size))
    if flip and params.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    t = _to_tensor(img)
    return _normalize(t, [0.5] * t.shape[0], [0.5] * t.shape[0])


def aligned_pair(ab: Any, *, load_size: int, crop_size: int, input_nc: int = 3, output_nc: int = 3,
                 direction: str = "AtoB", rng: random.Random | None = None, flip: bool = False,
                 params: AlignedParams | None = None) -> dict[str, Any]:
    """One official training/test example from a side-by-side ``A | B`` image.

    Returns ``{"A", "B", "params"}`` like ``AlignedDataset.__getitem__`` (A = left, B = right, before the model's
    direction swap). ``rng`` (a ``random.Random``; default: Python's global generator, as the official code)
    draws the crop and flip unless ``params`` are given; ``flip=False`` is the official ``--no_flip``.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    img = load_image(ab, name="paired image")
    w, h = img.size
    w2 = int(w / 2)
    a, b = img.crop((0, 0, w2, h)), img.crop((w2, 0, w, h))
    if params is None:
        params = aligned_params(load_size, crop_size, rng if rng is not None else random)
    a_nc = output_nc if direction == "BtoA" else input_nc
    b_nc = input_nc if direction == "BtoA" else output_nc
    return {"A": _half(a, params, load_size, crop_size, a_nc == 1, flip),
            "B": _half(b, params, load_size, crop_size, b_nc == 1, flip),
            "params": params}
