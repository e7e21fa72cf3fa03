"""Image input/output for the hub: loading and validating user images, the
test-time preprocessing of each model family, and turning outputs back into
pictures.

Every input (file, bytes, PIL image, array, tensor) is first brought to an
8-bit RGB ``PIL.Image`` by :func:`load_image`, because the official pipelines
all start from ``Image.open(path).convert('RGB')`` of 8-bit files; the
geometric steps of :func:`preprocess` then run on that PIL image with the
same Pillow / ``torch.nn.functional`` calls torchvision's functional
transforms make, so the numbers are bit for bit the ones the official
``transforms.Compose`` produces (``tests/test_images_exact.py`` holds us to
that) without importing torchvision (about 2 s: it pulls in ``torch._dynamo``).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "MAX_SIDE",
    "MIN_SIDE",
    "MAX_FILE_BYTES",
    "ImageInputError",
    "UnknownPolicyError",
    "load_image",
    "Preprocess",
    "POLICIES",
    "register_policy",
    "get_policy",
    "preprocess",
    "to_pil",
    "image_grid",
    "split_pair",
]

MAX_SIDE = 4096
MIN_SIDE = 8
# A 4096x4096 16-bit RGBA TIFF is 128 MiB uncompressed; anything larger than
# this cannot be an acceptable image and is refused before it is read whole.
MAX_FILE_BYTES = 160 * 2**20

# Decoders we let Pillow use. Rarely used formats (EPS calls Ghostscript,
# several others are seldom-audited parsers) are kept out of reach of uploads.
_ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "AVIF")

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Any]


class ImageInputError(ValueError):
    """An image input was refused; the message says what was wrong and what is accepted."""


class UnknownPolicyError(ImageInputError, KeyError):
    """An unknown preprocessing-policy name (also a ``KeyError`` for dict-like use)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _accepted_formats() -> list[str]:
    Image.init()
    return [f for f in _ALLOWED_FORMATS if f in Image.OPEN]


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------


def _check_size(width: int, height: int, name: str) -> None:
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageInputError(
            f"{name} is {width}x{height} (width x height); the largest accepted size is "
            f"{MAX_SIDE}x{MAX_SIDE}: downscale it so neither side exceeds {MAX_SIDE} pixels"
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageInputError(
            f"{name} is {width}x{height} (width x height); the smallest accepted size is "
            f"{MIN_SIDE}x{MIN_SIDE}: both sides must be at least {MIN_SIDE} pixels"
        )


def _read_bytes(src: Any, name: str) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:  # file-like
        try:
            data = src.read(MAX_FILE_BYTES + 1)
        except Exception as exc:  # noqa: BLE001 - any read failure is an input problem
            raise ImageInputError(f"{name}: could not read from the file object ({exc})") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise ImageInputError(
                f"{name}: the file object returned {type(data).__name__}, not bytes; "
                "open the file in binary mode ('rb')"
            )
        data = bytes(data)
    if len(data) == 0:
        raise ImageInputError(f"{name} is empty (0 bytes); expected the bytes of an image file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageInputError(
            f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB; the largest accepted file is "
            f"{MAX_FILE_BYTES // 2**20} MiB"
        )
    return data


def _decode(fp: Any, name: str) -> Image.Image:
    """Open lazily, check the header size, and only then decode the pixels."""
    formats = _accepted_formats()
    # Pillow's own bomb check runs inside Image.open and warns (or raises) on
    # its global MAX_IMAGE_PIXELS; the warning is turned into an error only
    # inside this block, so nothing global is changed for other callers.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp, formats=formats)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageInputError(
                f"{name} declares far too many pixels (decompression bomb refused: {exc}); "
                f"the largest accepted size is {MAX_SIDE}x{MAX_SIDE}"
            ) from exc
        except UnidentifiedImageError as exc:
            raise ImageInputError(
                f"{name} is not a recognised image file; accepted formats: {', '.join(formats)}"
            ) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageInputError(
                f"{name} could not be read as an image ({exc}); accepted formats: {', '.join(formats)}"
            ) from exc

        # The header alone gives the size: refuse before allocating pixels.
        width, height = img.size
        try:
            _check_size(width, height, name)
        except ImageInputError:
            img.close()
            raise
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageInputError(f"{name}: decompression bomb refused ({exc})") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
            raise ImageInputError(
                f"{name} could not be decoded: the file is truncated or corrupt ({exc}); "
                "re-export or re-download it"
            ) from exc
    if img.size != (width, height):  # a decoder disagreeing with its own header
        _check_size(*img.size, name)
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _uint16_to_uint8(a: np.ndarray) -> np.ndarray:
    # round(v * 255 / 65535) in integers: rescales the full 16-bit range
    # instead of clipping everything above 255 (what Image.convert('L') does).
    a = a.astype(np.uint32)
    return ((a * 255 + 32767) // 65535).astype(np.uint8)


def _deep_gray_to_l(img: Image.Image, name: str) -> Image.Image:
    """Modes I;16*, I and F (16/32-bit gray, float gray) -> 8-bit L, scaled, not clipped."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        return Image.fromarray(_uint16_to_uint8(a.astype(np.uint16)), "L")
    if img.mode == "I":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 255:
            return Image.fromarray(a.astype(np.uint8), "L")
        if lo >= 0 and hi <= 65535:
            return Image.fromarray(_uint16_to_uint8(a), "L")
        raise ImageInputError(
            f"{name} is a 32-bit integer image with values in [{lo}, {hi}]; accepted integer "
            "ranges are 0..255 and 0..65535"
        )
    # mode F
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ImageInputError(f"{name} is a float image containing NaN or infinite values; all values must be finite")
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0 and hi <= 1.0:
        a = a * 255.0
    elif not (lo >= 0.0 and hi <= 255.0):
        raise ImageInputError(
            f"{name} is a float image with values in [{lo:g}, {hi:g}]; accepted float ranges are "
            "[0, 1] and [0, 255]"
        )
    return Image.fromarray(np.floor(a + 0.5).clip(0, 255).astype(np.uint8), "L")


def _pil_to_rgb(img: Image.Image, name: str) -> Image.Image:
    width, height = img.size
    _check_size(width, height, name)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 - broken EXIF or pixel data
        raise ImageInputError(f"{name} could not be decoded or its EXIF orientation applied ({exc})") from exc
    if img.mode.startswith("I") or img.mode == "F":
        img = _deep_gray_to_l(img, name)
    if _has_alpha(img):
        return _composite_on_white(img)
    if img.mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageInputError(
            f"{name} has colour mode {img.mode!r}, which cannot be converted to RGB; accepted: "
            "RGB, RGBA, L, LA, P, 1, CMYK, YCbCr, 16-bit gray (I;16), I and F"
        ) from exc


def _float_to_uint8(t: torch.Tensor, value_range: tuple[float, float], name: str) -> torch.Tensor:
    lo, hi = float(value_range[0]), float(value_range[1])
    t = t.detach().to("cpu", torch.float32)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise ImageInputError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite values; float images must be finite "
            f"and lie in [{lo:g}, {hi:g}]"
        )
    vmin, vmax = float(t.min()), float(t.max())
    # Allow rounding noise of up to one 8-bit level, then clamp; anything
    # further out is a different convention the caller must tell us about.
    tol = (hi - lo) / 255.0
    if vmin < lo - tol or vmax > hi + tol:
        hint = " (pass value_range=(-1, 1) for tanh outputs)" if vmin < 0 and (lo, hi) == (0.0, 1.0) else ""
        raise ImageInputError(
            f"{name} has float values in [{vmin:.4g}, {vmax:.4g}]; floats must lie in "
            f"[{lo:g}, {hi:g}]{hint}; clamp generator outputs first or use to_pil()"
        )
    # Same arithmetic as torchvision.utils.save_image / to_pil below.
    t = t.clamp(lo, hi).sub(lo).div(max(hi - lo, 1e-5))
    return t.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


def _hwc_from_array(a: torch.Tensor, name: str, kind: str) -> torch.Tensor:
    """Bring an array/tensor to (H, W, C) with C in {1, 3, 4}."""
    shape = tuple(a.shape)
    if a.numel() == 0:
        raise ImageInputError(f"{name} is an empty {kind} of shape {shape}; expected an image with pixels")
    if a.ndim == 4:
        if shape[0] != 1:
            raise ImageInputError(
                f"{name} is a batch of {shape[0]} images (shape {shape}); load_image takes one image: "
                "pass a 1xCxHxW batch or use preprocess() on the whole batch"
            )
        a = a[0]
    if a.ndim == 2:
        return a[:, :, None]
    if a.ndim == 3:
        # Sides are at least MIN_SIDE (8) pixels, so a leading dim of 1/3/4
        # cannot be a spatial side: channels-first and channels-last are
        # told apart without ambiguity for every acceptable image.
        if shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
            return a.permute(1, 2, 0) if isinstance(a, torch.Tensor) else a.transpose(1, 2, 0)
        if shape[-1] in (1, 3, 4):
            return a
        raise ImageInputError(
            f"{name} has shape {shape}; accepted: HxW, HxWxC or CxHxW with C in (1, 3, 4)"
        )
    raise ImageInputError(
        f"{name} has {a.ndim} dimensions (shape {shape}); accepted: HxW, HxWxC, CxHxW or 1xCxHxW"
    )


def _tensor_to_pil(t: torch.Tensor, name: str, value_range: tuple[float, float], kind: str) -> Image.Image:
    t = _hwc_from_array(t, name, kind)
    h, w, c = t.shape
    _check_size(int(w), int(h), name)
    if t.dtype == torch.uint8:
        u8 = t
    elif t.dtype == torch.bool:
        u8 = t.to(torch.uint8) * 255
    elif t.dtype == torch.uint16:
        u8 = torch.from_numpy(_uint16_to_uint8(t.cpu().numpy()))
    elif t.is_floating_point():
        u8 = _float_to_uint8(t, value_range, name)
    else:
        raise ImageInputError(
            f"{name} has dtype {str(t.dtype).replace('torch.', '')}; accepted dtypes: uint8 (0..255), "
            "uint16 (0..65535), bool, or float (in [0, 1] unless value_range says otherwise)"
        )
    arr = np.ascontiguousarray(u8.detach().cpu().numpy())
    if c == 1:
        return Image.fromarray(arr[:, :, 0], "L").convert("RGB")
    if c == 4:
        return _composite_on_white(Image.fromarray(arr, "RGBA"))
    return Image.fromarray(arr, "RGB")


def load_image(
    src: ImageSource,
    *,
    name: str = "image",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Image.Image:
    """Load and validate one image, returning an 8-bit RGB ``PIL.Image``.

    ``src`` may be a path, bytes, a binary file object, a PIL image, a numpy
    array or a torch tensor (HxW, HxWxC, CxHxW or 1xCxHxW with C in 1/3/4;
    uint8, uint16, bool or float). Float data is read in ``value_range``
    ([0, 1] by default; pass ``(-1, 1)`` for tanh outputs). Transparency is
    composited on white, EXIF orientation is applied, 16-bit data is rescaled.
    ``name`` is used in error messages (e.g. ``"style reference"``).
    """
    if src is None:
        raise ImageInputError(
            f"{name} is missing (got None); pass a file path, bytes, a PIL image, a numpy array or a tensor"
        )
    lo, hi = value_range
    if not hi > lo:
        raise ImageInputError(f"value_range must be (low, high) with low < high, got {value_range}")

    if isinstance(src, Image.Image):
        return _pil_to_rgb(src, name)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            what = "a directory" if path.is_dir() else "not an existing file"
            raise ImageInputError(f"{name}: {str(path)!r} is {what}; expected the path of an image file")
        size = path.stat().st_size
        if size == 0:
            raise ImageInputError(f"{name}: {str(path)!r} is empty (0 bytes); expected an image file")
        if size > MAX_FILE_BYTES:
            raise ImageInputError(
                f"{name}: {str(path)!r} is {size / 2**20:.0f} MiB; the largest accepted file is "
                f"{MAX_FILE_BYTES // 2**20} MiB"
            )
        with open(path, "rb") as fh:
            data = fh.read()
        return _pil_to_rgb(_decode(io.BytesIO(data), name), name)
    if isinstance(src, (bytes, bytearray, memoryview)) or hasattr(src, "read"):
        return _pil_to_rgb(_decode(io.BytesIO(_read_bytes(src, name)), name), name)
    if isinstance(src, np.ndarray):
        kind, itemsize = src.dtype.kind, src.dtype.itemsize
        if not (kind in "bf" or (kind == "u" and itemsize in (1, 2))):
            raise ImageInputError(
                f"{name} has numpy dtype {src.dtype}; accepted dtypes: uint8 (0..255), uint16 (0..65535), "
                "bool, or float (in [0, 1] unless value_range says otherwise); convert with .astype(np.uint8)"
            )
        if kind == "u" and itemsize == 2:
            src = _uint16_to_uint8(src) if src.size else src.astype(np.uint8)
        return _tensor_to_pil(torch.from_numpy(np.ascontiguousarray(src)), name, value_range, "numpy array")
    if isinstance(src, torch.Tensor):
        return _tensor_to_pil(src.detach(), name, value_range, "tensor")
    raise ImageInputError(
        f"{name} has unsupported type {type(src).__name__}; accepted: file path (str/Path), bytes, "
        "binary file object, PIL.Image, numpy array, torch tensor"
    )


# --------------------------------------------------------------------------
# torchvision-exact image operations
# --------------------------------------------------------------------------
# The official pipelines are written with torchvision.transforms. Importing
# torchvision costs about 2 s (it pulls in torch._dynamo), which every first
# image request would pay, so the few operations we need are re-implemented
# here with the very calls torchvision ends up making (Pillow's resize/crop/
# convert, torch.nn.functional.interpolate, the same dtype steps), which is
# what makes the results bit-identical, not merely close. The names below
# mirror torchvision.transforms.functional so the correspondence is easy to
# audit; tests/test_images_exact.py compares every one with torchvision.
#
# Images are either PIL images or tensors shaped (..., C, H, W).

# Our interpolation names -> Pillow's resampling filters (the integer codes
# torchvision's InterpolationMode maps to for PIL inputs).
_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# ... and -> torch.nn.functional.interpolate modes. There is no tensor
# lanczos; "nearest" is torch's legacy (floor) nearest, as in torchvision.
_TENSOR_MODES = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic"}
# Tensor dtypes that are resized in float32 and rounded back (others that are
# not float32/float64, e.g. float16, are cast back without rounding).
_ROUNDED_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _dimensions(img: Image.Image | torch.Tensor) -> tuple[int, int, int]:
    """(channels, height, width) of a PIL image or a (..., C, H, W) / (H, W) tensor."""
    if isinstance(img, torch.Tensor):
        if img.ndim < 2:
            raise TypeError(f"an image tensor needs at least 2 dimensions (H, W), got shape {tuple(img.shape)}")
        return (1 if img.ndim == 2 else int(img.shape[-3])), int(img.shape[-2]), int(img.shape[-1])
    if isinstance(img, Image.Image):
        return len(img.getbands()), img.height, img.width
    raise TypeError(f"expected a PIL image or a tensor, got {type(img).__name__}")


def _resized_hw(height: int, width: int, size: int | Sequence[int]) -> tuple[int, int]:
    """Output (H, W) of ``Resize(size)``.

    An int (or a one-element sequence) sets the shorter side; the longer one is
    ``int(size * long / short)``, i.e. truncated after a float division, not
    rounded. A square image counts as "width is the shorter side". Two values
    are (H, W) as they are.
    """
    if isinstance(size, (int, np.integer)):
        size = [int(size)]
    size = list(size)
    if len(size) == 2:
        return int(size[0]), int(size[1])
    if len(size) != 1:
        raise ValueError(f"size must be an int or 1 or 2 ints, got {size!r}")
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(size[0]), int(int(size[0]) * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def _pil_resize(img: Image.Image, hw: tuple[int, int], interpolation: str) -> Image.Image:
    # Pillow takes (width, height). Its bilinear/bicubic/lanczos filters are
    # always antialiased (their support widens with the downscale factor);
    # there is no way to turn that off, so PIL inputs have no antialias switch.
    return img.resize((hw[1], hw[0]), _PIL_FILTERS[interpolation])


def _tensor_resize(x: torch.Tensor, hw: tuple[int, int], interpolation: str, antialias: bool) -> torch.Tensor:
    if interpolation not in _TENSOR_MODES:
        raise ValueError(f"{interpolation!r} resizing exists only for PIL images; tensors take {tuple(_TENSOR_MODES)}")
    mode = _TENSOR_MODES[interpolation]
    # interpolate() rejects antialias for nearest; torchvision silently drops it there.
    antialias = bool(antialias) and mode in ("bilinear", "bicubic")
    # align_corners=False is interpolate's default behaviour for (bi)linear/cubic,
    # passed explicitly only to avoid its warning; nearest takes None.
    align_corners = False if mode in ("bilinear", "bicubic") else None
    batched = x.ndim >= 4
    y = x if batched else x.unsqueeze(0)  # interpolate wants (N, C, H, W)
    in_dtype = y.dtype
    if in_dtype not in (torch.float32, torch.float64):
        y = y.to(torch.float32)  # interpolate works in float: other dtypes go through float32 and back
    y = torch.nn.functional.interpolate(y, size=[hw[0], hw[1]], mode=mode, align_corners=align_corners,
                                        antialias=antialias)
    if mode == "bicubic" and in_dtype == torch.uint8:
        y = y.clamp(min=0, max=255)  # bicubic overshoots; integer pixels must not wrap
    if not batched:
        y = y.squeeze(0)
    if y.dtype != in_dtype:
        if in_dtype in _ROUNDED_DTYPES:
            y = torch.round(y)  # integer images: round half to even, not truncate
        y = y.to(in_dtype)
    return y


def _resize_image(
    img: Image.Image | torch.Tensor,
    size: int | Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = True,
) -> Image.Image | torch.Tensor:
    """``TF.resize``: ``size`` is an int (shorter side, aspect kept) or (H, W).

    An image already at the target size is returned as it is (the same object),
    with no resampling pass, as torchvision does.
    ``antialias`` matters only for tensors (bilinear/bicubic); PIL always
    antialiases.
    """
    _, h, w = _dimensions(img)
    hw = _resized_hw(h, w, size)
    if hw == (h, w):
        return img
    if isinstance(img, torch.Tensor):
        return _tensor_resize(img, hw, interpolation, antialias)
    return _pil_resize(img, hw, interpolation)


def _crop(img: Image.Image | torch.Tensor, top: int, left: int, height: int, width: int):
    """The ``height`` x ``width`` window at (top, left); parts outside the image are zero.

    Pillow's ``crop`` already fills outside areas with zero bytes (black, alpha 0,
    palette index 0), exactly what torchvision's pad-with-0-then-crop gives.
    Tensors are sliced (a view) when the window fits, else copied into zeros.
    Windows are expected to overlap the image (all our callers' do).
    """
    if isinstance(img, Image.Image):
        return img.crop((left, top, left + width, top + height))
    _, h, w = _dimensions(img)
    bottom, right = top + height, left + width
    if top >= 0 and left >= 0 and bottom <= h and right <= w:
        return img[..., top:bottom, left:right]
    out = img.new_zeros((*img.shape[:-2], height, width))
    src_t, src_l = max(top, 0), max(left, 0)
    src_b, src_r = min(bottom, h), min(right, w)
    if src_b > src_t and src_r > src_l:
        out[..., src_t - top:src_b - top, src_l - left:src_r - left] = img[..., src_t:src_b, src_l:src_r]
    return out


def _center_offset(image_side: int, crop_side: int) -> int:
    """Where ``CenterCrop`` starts along one axis, in the image's coordinates.

    A crop larger than the image is zero-padded with the odd pixel going to the
    far side (before: ``(crop - image) // 2``), so it starts that far before 0.
    Otherwise the start is ``int(round((image - crop) / 2))`` with Python's
    round, which rounds halves to even: a margin of 1 starts at 0, 3 at 2, 5 at 2.
    """
    if crop_side > image_side:
        return -((crop_side - image_side) // 2)
    return int(round((image_side - crop_side) / 2.0))


def _center_crop(img: Image.Image | torch.Tensor, size: int | Sequence[int]):
    """``TF.center_crop``: the centred (H, W) window (an int means square), zero-padded if larger."""
    if isinstance(size, (int, np.integer)):
        size = [int(size)]
    size = list(size)
    crop_h, crop_w = (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
    _, h, w = _dimensions(img)
    return _crop(img, _center_offset(h, crop_h), _center_offset(w, crop_w), crop_h, crop_w)


def _to_grayscale(img: Image.Image) -> Image.Image:
    """``TF.rgb_to_grayscale(pil, 1)``: Pillow's own ITU-R 601-2 luma (L = R*299/1000 + ...)."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"grayscale conversion here takes a PIL image, got {type(img).__name__}")
    return img.convert("L")


# Pillow modes that are not 8 bits per channel, and the numpy type their pixels
# are read as (the others are read as uint8). 16-bit gray is read as *signed*
# int16, as torchvision does (values above 32767 wrap around); these wide modes
# are returned as integer/float tensors without scaling.
_WIDE_MODES = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16, "F": np.float32}


def _to_tensor(pic: Image.Image | np.ndarray) -> torch.Tensor:
    """``TF.to_tensor``: (C, H, W), 8-bit data divided by 255 into the default float dtype.

    Other data keeps its type: 32-bit (I), 16-bit (I;16) and float (F) PIL images
    and non-uint8 arrays come back unscaled. Mode "1" becomes 0/255 first. The
    division is a true ``/ 255`` (not ``* (1 / 255)``, which differs in the last bit).
    """
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"an image array must have 2 or 3 dimensions, got {pic.ndim}")
        hwc = pic[:, :, None] if pic.ndim == 2 else pic
        t = torch.from_numpy(hwc.transpose(2, 0, 1)).contiguous()
    elif isinstance(pic, Image.Image):
        a = np.array(pic, dtype=_WIDE_MODES.get(pic.mode, np.uint8), copy=True)
        t = torch.from_numpy(a)
        if pic.mode == "1":
            t = t * 255  # bilevel pixels read as 0/1
        t = t.view(pic.height, pic.width, len(pic.getbands())).permute(2, 0, 1).contiguous()
    else:
        raise TypeError(f"expected a PIL image or a numpy array, got {type(pic).__name__}")
    if t.dtype == torch.uint8:
        return t.to(torch.get_default_dtype()).div(255)
    return t


def _normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``TF.normalize``: ``(x - mean) / std`` per channel, out of place.

    mean and std are first rounded to the tensor's dtype and the result is a
    true division by that rounded std (not a multiplication by its inverse).
    """
    if not x.is_floating_point():
        raise TypeError(f"normalize takes a float tensor, got {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"normalize takes a (..., C, H, W) tensor, got shape {tuple(x.shape)}")
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    if bool((s == 0).any()):
        raise ValueError(f"std is zero in {x.dtype}: {list(std)}")
    if m.ndim == 1:
        m = m.view(-1, 1, 1)
    if s.ndim == 1:
        s = s.view(-1, 1, 1)
    return x.sub(m).div(s)


# --------------------------------------------------------------------------
# preprocessing policies
# --------------------------------------------------------------------------

ResizeMode = Literal["resize", "center_crop_resize", "resize_center_crop", "none"]
InterpolationName = Literal["bilinear", "bicubic", "nearest", "lanczos"]
_RESIZE_MODES = ("resize", "center_crop_resize", "resize_center_crop", "none")


def _as_hw(size: int | tuple[int, int] | Sequence[int], what: str = "size") -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        hw = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size
    ):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{what} must be an int or an (H, W) pair of ints, got {size!r}")
    if min(hw) < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return hw


@dataclass(frozen=True)
class Preprocess:
    """A test-time input pipeline: geometry, then a float tensor in ``value_range``.

    resize modes:
      * ``"resize"``: resize to ``size`` (H, W) without keeping the aspect ratio.
      * ``"center_crop_resize"``: centre crop ``crop_size`` (torchvision
        ``CenterCrop``, zero-padded if the image is smaller), then resize to
        ``size``. With ``crop_size=None`` the largest centred square is taken
        with floor offsets, as the StyleGAN2-ADA projector does.
      * ``"resize_center_crop"``: resize to ``load_size`` (H, W; ``None`` means
        "shorter side to the output size, aspect kept", i.e. ``Resize(int)``),
        then centre crop to ``size``.
      * ``"none"``: keep the image's own size.

    ``grayscale`` converts to one channel (``Grayscale(1)``) before any
    resizing, as pix2pix-style loaders do for one-channel inputs (``input_nc=1``).
    ``antialias=True`` resizes the 8-bit PIL image (what torchvision does on
    PIL inputs); ``False`` resizes a float tensor without antialiasing.
    """

    size: int | tuple[int, int]
    resize: ResizeMode
    crop_size: int | tuple[int, int] | None = None
    interpolation: InterpolationName = "bilinear"
    value_range: tuple[float, float] = (-1.0, 1.0)
    antialias: bool = True
    load_size: int | tuple[int, int] | None = None
    grayscale: bool = False

    def __post_init__(self) -> None:
        _as_hw(self.size, "Preprocess.size")
        if self.resize not in _RESIZE_MODES:
            raise ValueError(f"Preprocess.resize must be one of {_RESIZE_MODES}, got {self.resize!r}")
        if self.interpolation not in _PIL_FILTERS:
            raise ValueError(
                f"Preprocess.interpolation must be one of {tuple(_PIL_FILTERS)}, got {self.interpolation!r}"
            )
        if self.crop_size is not None:
            _as_hw(self.crop_size, "Preprocess.crop_size")
        if self.load_size is not None:
            _as_hw(self.load_size, "Preprocess.load_size")
        lo, hi = self.value_range
        if not float(hi) > float(lo):
            raise ValueError(f"Preprocess.value_range must be (low, high) with low < high, got {self.value_range}")
        if not self.antialias and self.interpolation == "lanczos":
            raise ValueError("lanczos resizing exists only on PIL images: use antialias=True with it")

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output (H, W); for ``resize="none"`` the input's own size is kept instead."""
        return _as_hw(self.size)

    def with_size(self, size: int | tuple[int, int]) -> "Preprocess":
        """The same policy for another output size.

        A fixed ``crop_size`` stays (it frames the dataset's faces, e.g. 178 for
        CelebA); ``load_size`` scales with the output so the crop margin keeps
        its proportion (a 286 -> 256 policy becomes 572 -> 512).
        """
        new_hw = _as_hw(size)
        load = self.load_size
        if load is not None:
            old_h, old_w = self.out_hw
            lh, lw = _as_hw(load)
            scaled = (round(lh * new_hw[0] / old_h), round(lw * new_hw[1] / old_w))
            load = scaled[0] if isinstance(self.load_size, int) and scaled[0] == scaled[1] else scaled
        return dataclasses.replace(self, size=size, load_size=load)


# Official test-time pipelines (the official code is the reference, not the papers), by name. Each
# registered family declares its own in its spec (``FamilySpec.preprocessing``) and registers it here
# under its names when the spec loads.
POLICIES: dict[str, Preprocess] = {}


def _normalise_name(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_policy(name: str, policy: Preprocess, *, overwrite: bool = False) -> None:
    """Add a named policy; re-registering a name needs ``overwrite=True``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"policy name must be a non-empty string, got {name!r}")
    if not isinstance(policy, Preprocess):
        raise TypeError(f"policy must be a Preprocess, got {type(policy).__name__}")
    key = _normalise_name(name)
    if key in POLICIES and POLICIES[key] != policy and not overwrite:
        raise ValueError(f"a different policy named {key!r} already exists; pass overwrite=True to replace it")
    POLICIES[key] = policy


def get_policy(name_or_policy: str | Preprocess, size: int | tuple[int, int] | None = None) -> Preprocess:
    """Look up a policy by name (or take a ``Preprocess``), optionally at another output size."""
    if isinstance(name_or_policy, Preprocess):
        policy = name_or_policy
    elif isinstance(name_or_policy, str):
        key = _normalise_name(name_or_policy)
        if key not in POLICIES:
            from .registry import families

            families()  # the registered families' specs register their policies
        if key not in POLICIES:
            raise UnknownPolicyError(
                f"unknown preprocessing policy {name_or_policy!r}; known policies: {', '.join(sorted(POLICIES))}"
            )
        policy = POLICIES[key]
    else:
        raise TypeError(f"expected a policy name or a Preprocess, got {type(name_or_policy).__name__}")
    return policy if size is None else policy.with_size(size)


def _largest_centered_square(img: Image.Image | torch.Tensor) -> Image.Image | torch.Tensor:
    _, h, w = _dimensions(img)
    s = min(w, h)
    # (w - s) // 2 like the StyleGAN2-ADA projector, not CenterCrop's round()
    return _crop(img, (h - s) // 2, (w - s) // 2, s, s)


def _resize(img: Image.Image | torch.Tensor, hw: tuple[int, int] | int, policy: Preprocess):
    return _resize_image(img, hw, policy.interpolation, policy.antialias)


def _apply_geometry(img: Image.Image | torch.Tensor, policy: Preprocess):
    out_hw = policy.out_hw
    if policy.resize == "none":
        return img
    if policy.resize == "resize":
        return _resize(img, out_hw, policy)
    if policy.resize == "center_crop_resize":
        if policy.crop_size is None:
            img = _largest_centered_square(img)
        else:
            img = _center_crop(img, _as_hw(policy.crop_size))
        return _resize(img, out_hw, policy)
    # resize_center_crop
    if policy.load_size is None:
        if out_hw[0] == out_hw[1]:
            img = _resize(img, out_hw[0], policy)  # Resize(int): shorter side, aspect kept
        else:
            _, h, w = _dimensions(img)
            scale = max(out_hw[0] / h, out_hw[1] / w)  # smallest size covering the crop
            img = _resize(img, (max(out_hw[0], round(h * scale)), max(out_hw[1], round(w * scale))), policy)
    else:
        img = _resize(img, _as_hw(policy.load_size), policy)
    return _center_crop(img, out_hw)


def _preprocess_one(img: Image.Image, policy: Preprocess) -> torch.Tensor:
    if policy.grayscale:
        img = _to_grayscale(img)
    if policy.antialias:
        x = _to_tensor(_apply_geometry(img, policy))
    else:
        x = _apply_geometry(_to_tensor(img), policy)
    lo, hi = (float(v) for v in policy.value_range)
    if (lo, hi) != (0.0, 1.0):
        # Written as Normalize(mean, std) so (-1, 1) is exactly torchvision's
        # Normalize((0.5,)*3, (0.5,)*3).
        span = hi - lo
        c = x.shape[0]
        x = _normalize(x, [-lo / span] * c, [1.0 / span] * c)
    return x


def _split_inputs(images: Any) -> list[Any]:
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ImageInputError("preprocess got an empty list; pass at least one image")
        return list(images)
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return [images[i] for i in range(images.shape[0])]
    return [images]


def preprocess(
    images: Any,
    policy: str | Preprocess,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    input_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """One image, a list of images, or an NxCxHxW batch -> (N, C, H, W) in ``policy.value_range``.

    Every item goes through :func:`load_image` (so any accepted input works;
    float arrays/tensors are read in ``input_range``) and then the policy's
    official geometry. C is 3, or 1 for grayscale policies.
    """
    policy = get_policy(policy)
    items = _split_inputs(images)
    tensors = []
    for i, item in enumerate(items):
        label = "image" if len(items) == 1 else f"image {i}"
        tensors.append(_preprocess_one(load_image(item, name=label, value_range=input_range), policy))
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ImageInputError(
            f"images came out with different shapes {sorted(shapes)}; policy resize='none' keeps each "
            "image's own size, so a batch needs images of one size (or use a resizing policy)"
        )
    out = torch.stack(tensors)
    return out.to(device=device, dtype=dtype if dtype is not None else torch.float32)


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------


def to_pil(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> list[Image.Image]:
    """(N, C, H, W), (C, H, W) or (H, W) with C in {1, 3} -> list of PIL images (RGB, or L for C=1).

    Float values are clamped to ``value_range`` and quantised exactly as
    ``torchvision.utils.save_image(x, normalize=True, value_range=...)``;
    uint8 tensors are taken as they are.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"to_pil expects a torch tensor, got {type(x).__name__}")
    x = x.detach()
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"to_pil expects (N, C, H, W), (C, H, W) or (H, W) with C in (1, 3), got shape {tuple(x.shape)}"
        )
    if x.numel() == 0:
        raise ValueError(f"to_pil got an empty tensor of shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        u8 = x.cpu()
    elif x.is_floating_point():
        x = x.to("cpu", torch.float32)
        if bool(torch.isnan(x).any()):
            raise ValueError("to_pil got NaN values; the model output is broken (NaN cannot be drawn)")
        lo, hi = float(value_range[0]), float(value_range[1])
        x = x.clamp(lo, hi).sub(lo).div(max(hi - lo, 1e-5))
        u8 = x.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    else:
        raise ValueError(f"to_pil expects a float or uint8 tensor, got {x.dtype}")
    arr = u8.permute(0, 2, 3, 1).numpy()
    if arr.shape[-1] == 1:
        return [Image.fromarray(np.ascontiguousarray(a[:, :, 0]), "L") for a in arr]
    return [Image.fromarray(np.ascontiguousarray(a), "RGB") for a in arr]


def image_grid(
    images: Sequence[Image.Image],
    nrow: int,
    padding: int = 2,
    pad_value: int | tuple[int, int, int] = 255,
) -> Image.Image:
    """Tile images, ``nrow`` per row (torchvision ``make_grid`` layout), into one RGB image.

    Images of different sizes get cells of the largest width/height and are
    centred in them.
    """
    if isinstance(images, Image.Image):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if not all(isinstance(im, Image.Image) for im in images):
        raise TypeError("image_grid expects PIL images; convert tensors with to_pil() first")
    if int(nrow) < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    fill = (pad_value,) * 3 if isinstance(pad_value, int) else tuple(int(v) for v in pad_value)
    n = len(images)
    xmaps = min(int(nrow), n)
    ymaps = math.ceil(n / xmaps)
    cell_w = max(im.width for im in images)
    cell_h = max(im.height for im in images)
    grid = Image.new("RGB", (xmaps * (cell_w + padding) + padding, ymaps * (cell_h + padding) + padding), fill)
    for k, im in enumerate(images):
        y, x = divmod(k, xmaps)
        left = x * (cell_w + padding) + padding + (cell_w - im.width) // 2
        top = y * (cell_h + padding) + padding + (cell_h - im.height) // 2
        grid.paste(im.convert("RGB"), (left, top))
    return grid


def split_pair(
    image: ImageSource, direction: Literal["AtoB", "BtoA"] = "AtoB"
) -> tuple[Image.Image, Image.Image]:
    """Split a pix2pix-style side-by-side ``A|B`` image into (input, target).

    The left half is A and the right half B (cut at ``int(w / 2)`` like
    ``AlignedDataset``); ``direction="AtoB"`` returns (A, B) and ``"BtoA"``
    returns (B, A), matching the models' ``set_input``.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    ab = load_image(image, name="paired image")
    w, h = ab.size
    w2 = int(w / 2)
    if w2 < MIN_SIDE or w - w2 < MIN_SIDE:
        raise ImageInputError(
            f"paired image is {w}x{h}; each half must be at least {MIN_SIDE} pixels wide, so the whole "
            f"image must be at least {2 * MIN_SIDE} pixels wide"
        )
    a = ab.crop((0, 0, w2, h))
    b = ab.crop((w2, 0, w, h))
    return (a, b) if direction == "AtoB" else (b, a)
