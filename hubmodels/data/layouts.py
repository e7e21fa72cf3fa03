"""Datasets that read the official dataset layouts from disk.

Real datasets and SynthFaces exports (``python -m hubmodels.data.synthfaces export``) share these
layouts, so a training script cannot tell them apart:

==============  ==============================================  ===================================
layout          on disk                                         used by
==============  ==============================================  ===================================
``domains``     ``root/[train|val/]<domain>/*.png``             StarGAN v2 (AFHQ, CelebA-HQ)
``attributes``  ``root/images/`` + ``root/list_attr_celeba.txt``  StarGAN (CelebA)
``pairs``       ``root/[train|val/]*_AB.png`` (A | B)            pix2pix, BicycleGAN (edges2shoes)
``masks``       ``root/images/<k>.png`` + ``root/masks/<k>.png``  SemanticStyleGAN (CelebAMask-HQ)
``images``      ``root/**/*.png``                                StyleGAN, StyleGAN2 (FFHQ)
==============  ==============================================  ===================================

Every image comes back as float32 ``(3, size, size)`` in ``[-1, 1]``: EXIF orientation applied,
centre-cropped to a square (``crop="center"``, the default; ``crop=None`` stretches instead),
then resized with PIL's antialiased bilinear filter. Masks are cropped the same way and resized
with nearest neighbour, so class ids stay class ids.
"""
from __future__ import annotations

import json
import os
import random
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

__all__ = ["IMAGE_EXTENSIONS", "DomainFolder", "AttributeFolder", "PairedFolder", "MaskFolder", "ImageFolder",
           "open_layout", "read_attribute_file", "load_rgb", "pil_to_tensor"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_CROPS = ("center", None)


# ----------------------------------------------------------------------------- helpers

def _natural_key(path: Path) -> list:
    # "2.png" before "10.png", as CelebAMask-HQ and edges2shoes number their files.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.as_posix())]


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _list_images(folder: Path, recursive: bool, check: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted((p for p in it if p.is_file() and _is_image(p)), key=lambda p: _natural_key(p.relative_to(folder)))
    return _readable(files, folder) if check else files


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {path}")
    return path


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return int(size)


def _check_crop(crop: str | None) -> str | None:
    if crop not in _CROPS:
        raise ValueError(f"unknown crop {crop!r}; accepted: 'center' or None (stretch)")
    return crop


def _square_box(w: int, h: int) -> tuple[int, int, int, int]:
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return left, top, left + s, top + s


def _fit(img: Image.Image, size: int, crop: str | None, resample: int) -> Image.Image:
    if crop == "center" and img.width != img.height:
        img = img.crop(_square_box(img.width, img.height))
    if img.size != (size, size):
        img = img.resize((size, size), resample)
    return img


class DatasetImageError(OSError):
    """A dataset file that cannot be read as an image; the message names it."""


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as upright RGB (EXIF orientation applied); a damaged file raises DatasetImageError."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetImageError(f"{path} cannot be read as an image ({type(err).__name__}: {err}); remove or "
                                "replace it") from None


def _readable(files: list[Path], where: Path) -> list[Path]:
    """The files whose image header opens; the others are skipped with one warning naming them.

    A header check is cheap (no pixels are decoded); damage past the header is caught when the image
    is read, as a DatasetImageError naming the file.
    """
    good, bad = [], []
    for path in files:
        try:
            with Image.open(path):
                good.append(path)
        except (OSError, ValueError, Image.DecompressionBombError):
            bad.append(path)
    if bad:
        shown = ", ".join(str(p.relative_to(where)) for p in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5
                                                                        else "")
        warnings.warn(f"skipped {len(bad)} file(s) under {where} that are not readable images: {shown}",
                      stacklevel=3)
    return good


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 PIL image -> float32 (C, H, W) in [-1, 1]."""
    a = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
    if a.ndim == 2:
        a = a[:, :, None]
    return a.permute(2, 0, 1).float().div_(127.5).sub_(1.0)


# ----------------------------------------------------------------------------- datasets

class ImageFolder(Dataset):
    """Every image under ``root`` (recursive), FFHQ style. Item -> ``dict(image)``."""

    def __init__(self, root: str | os.PathLike, size: int, crop: str | None = "center"):
        self.root = _require_dir(Path(root), "image")
        self.size, self.crop = _check_size(size), _check_crop(crop)
        self.files = _list_images(self.root, recursive=True, check=True)
        if not self.files:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {self.root}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": pil_to_tensor(_fit(load_rgb(self.files[i]), self.size, self.crop, Image.BILINEAR))}


class DomainFolder(Dataset):
    """``root/<domain>/*`` (AFHQ / StarGAN v2). Item -> ``dict(image, domain=int64)``.

    ``domains`` defaults to the sorted names of the subfolders that hold images, which is the
    order StarGAN v2 (torchvision ``ImageFolder``) gives them labels in. ``labels`` lists the
    domain of every item, for balanced samplers and for drawing reference images.
    """

    def __init__(self, root: str | os.PathLike, size: int, domains: Sequence[str] | None = None,
                 crop: str | None = "center"):
        self.root = _require_dir(Path(root), "domain")
        self.size, self.crop = _check_size(size), _check_crop(crop)
        if domains is None:
            domains = sorted(d.name for d in self.root.iterdir()
                             if d.is_dir() and not d.name.startswith(".") and _list_images(d, recursive=True))
            if not domains:
                raise ValueError(f"no domain subfolders with images in {self.root}; expected root/<domain>/*.png")
        else:
            if isinstance(domains, str):
                domains = [domains]
            missing = [d for d in domains if not (self.root / d).is_dir()]
            if missing:
                present = sorted(d.name for d in self.root.iterdir() if d.is_dir())
                raise FileNotFoundError(f"domain folder(s) {missing} not found in {self.root}; present: {present}")
        self.domains = list(domains)
        self.files: list[Path] = []
        self.labels: list[int] = []
        for k, d in enumerate(self.domains):
            files = _list_images(self.root / d, recursive=True, check=True)
            if not files:
                raise ValueError(f"domain folder {self.root / d} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            self.files += files
            self.labels += [k] * len(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img = _fit(load_rgb(self.files[i]), self.size, self.crop, Image.BILINEAR)
        return {"image": pil_to_tensor(img), "domain": torch.tensor(self.labels[i], dtype=torch.int64)}


def read_attribute_file(path: str | os.PathLike) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Parse a CelebA attribute list: ``(names, [(filename, [+1/-1, ...]), ...])``.

    Accepts the original ``list_attr_celeba.txt`` (line 1: count, line 2: names, then
    ``filename v1 v2 ...`` with 1/-1, any whitespace) and the CSV variant
    (``image_id,name1,...`` header, comma separated). 0 is read as absent, like -1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attribute file not found: {path}")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if path.suffix.lower() == ".csv":
        header = [t.strip() for t in lines[0].split(",")] if lines else []
        names, rows = header[1:], [[t.strip() for t in ln.split(",")] for ln in lines[1:]]
    else:
        if len(lines) < 2 or not lines[0].strip().isdigit():
            raise ValueError(f"{path} is not a CelebA attribute file: expected line 1 = image count, "
                             f"line 2 = attribute names, then 'filename 1 -1 ...' rows")
        names, rows = lines[1].split(), [ln.split() for ln in lines[2:]]
    if not names:
        raise ValueError(f"{path} names no attributes")
    parsed = []
    for n, row in enumerate(rows):
        if len(row) != len(names) + 1:
            raise ValueError(f"{path}: row {n + 1} ({row[0] if row else ''}) has {len(row) - 1} values, "
                             f"expected {len(names)} (one per attribute)")
        try:
            values = [int(v) for v in row[1:]]
        except ValueError:
            raise ValueError(f"{path}: row {n + 1} ({row[0]}) has non-integer values; expected 1 or -1") from None
        if any(v not in (1, -1, 0) for v in values):
            raise ValueError(f"{path}: row {n + 1} ({row[0]}) has values other than 1/-1")
        parsed.append((row[0], values))
    return names, parsed


class AttributeFolder(Dataset):
    """CelebA images + attribute list (StarGAN). Item -> ``dict(image, attributes=float 0/1)``.

    ``selected_attrs`` picks and orders the attributes (exact names, or case-insensitive);
    ``None`` takes all of them. ``split="train"|"test"`` reproduces StarGAN's split (rows shuffled
    with ``random.seed(1234)``, the first ``test_count`` are test); ``"all"`` keeps file order.
    StarGAN centre-crops CelebA to 178 px before resizing; pass ``crop_size=178`` for that.
    """

    def __init__(self, image_dir: str | os.PathLike, attr_path: str | os.PathLike, size: int,
                 selected_attrs: Sequence[str] | None = None, split: str = "all", test_count: int = 2000,
                 crop: str | None = "center", crop_size: int | None = None, skip_missing: bool = False):
        self.image_dir = _require_dir(Path(image_dir), "image")
        self.size, self.crop = _check_size(size), _check_crop(crop)
        self.crop_size = crop_size
        names, rows = read_attribute_file(attr_path)
        self.all_attrs = names
        if selected_attrs is None:
            selected_attrs = names
        if isinstance(selected_attrs, str):
            selected_attrs = [selected_attrs]
        lower = {n.lower(): i for i, n in enumerate(names)}
        cols = []
        for a in selected_attrs:
            if a in names:
                cols.append(names.index(a))
            elif a.lower() in lower:
                cols.append(lower[a.lower()])
            else:
                raise ValueError(f"unknown attribute {a!r} in {attr_path}; available: {' '.join(names)}")
        self.selected_attrs = [names[c] for c in cols]
        if split not in ("all", "train", "test"):
            raise ValueError(f"unknown split {split!r}; accepted: all, train, test")
        if split != "all":
            rows = list(rows)
            random.Random(1234).shuffle(rows)  # StarGAN's preprocess(): random.seed(1234); random.shuffle(lines)
            rows = rows[:test_count] if split == "test" else rows[test_count:]
        present = {p.name for p in self.image_dir.iterdir()}
        missing = [f for f, _ in rows if f not in present]
        if missing and not skip_missing:
            raise FileNotFoundError(f"{len(missing)} image(s) listed in {attr_path} are missing from {self.image_dir}, "
                                    f"e.g. {missing[:3]}; pass skip_missing=True to use only those present")
        rows = [r for r in rows if r[0] in present]
        if not rows:
            raise ValueError(f"no images of {attr_path} found in {self.image_dir}")
        self.files = [self.image_dir / f for f, _ in rows]
        self.labels = torch.tensor([[1.0 if v[c] == 1 else 0.0 for c in cols] for _, v in rows], dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img = load_rgb(self.files[i])
        if self.crop_size:
            w, h = img.size
            c = self.crop_size
            img = img.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c))
        img = _fit(img, self.size, self.crop, Image.BILINEAR)
        return {"image": pil_to_tensor(img), "attributes": self.labels[i].clone()}


class PairedFolder(Dataset):
    """Side-by-side ``A | B`` files (pix2pix / edges2shoes). Item -> ``dict(A, B)``, each (3, size, size).

    ``direction="BtoA"`` swaps the halves, as pix2pix's ``--direction BtoA`` does.
    """

    def __init__(self, root: str | os.PathLike, size: int, direction: str = "AtoB", crop: str | None = "center"):
        self.root = _require_dir(Path(root), "paired image")
        self.size, self.crop = _check_size(size), _check_crop(crop)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"unknown direction {direction!r}; accepted: AtoB, BtoA")
        self.direction = direction
        self.files = _list_images(self.root, recursive=True)
        if not self.files:
            raise ValueError(f"no side-by-side AB images found under {self.root}; expected e.g. 1_AB.png")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ab = load_rgb(self.files[i])
        w, h = ab.size
        if w < 2:
            raise ValueError(f"{self.files[i]} is {w}x{h}; expected A and B side by side (width = 2 x height)")
        half = w // 2
        a = ab.crop((0, 0, half, h))
        b = ab.crop((half, 0, 2 * half, h))
        if self.direction == "BtoA":
            a, b = b, a
        return {"A": pil_to_tensor(_fit(a, self.size, self.crop, Image.BILINEAR)),
                "B": pil_to_tensor(_fit(b, self.size, self.crop, Image.BILINEAR))}


def _mask_ids(m: Image.Image, path: Path) -> Image.Image:
    # Class-id masks are single-channel ("L", or "P" whose indices are the ids). An RGB file
    # is only accepted when it is grey (all channels equal), as some tools save ids that way.
    if m.mode in ("L", "P"):
        return m.copy() if m.mode == "L" else Image.fromarray(np.asarray(m), "L")
    if m.mode in ("I", "I;16", "I;16B", "I;16L"):
        a = np.asarray(m)
        if a.max() > 255:
            raise ValueError(f"mask {path} has class ids above 255")
        return Image.fromarray(a.astype(np.uint8), "L")
    if m.mode in ("RGB", "RGBA", "LA"):
        a = np.asarray(m.convert("RGB"))
        if (a == a[..., :1]).all():
            return Image.fromarray(a[..., 0], "L")
    raise ValueError(f"mask {path} has mode {m.mode}; expected a single-channel class-id PNG (mode L or P)")


class MaskFolder(Dataset):
    """``images/<k>.*`` + ``masks/<k>.png`` matched by file stem (CelebAMask-HQ style).

    Item -> ``dict(image, mask=int64 (size, size))``. ``classes`` and ``palette`` come from
    ``palette.json`` next to the two folders when there is one (SynthFaces writes it).
    """

    def __init__(self, image_dir: str | os.PathLike, mask_dir: str | os.PathLike, size: int,
                 crop: str | None = "center", num_classes: int | None = None):
        self.image_dir = _require_dir(Path(image_dir), "image")
        self.mask_dir = _require_dir(Path(mask_dir), "mask")
        self.size, self.crop = _check_size(size), _check_crop(crop)
        images = {p.stem: p for p in _list_images(self.image_dir, recursive=False)}
        masks = {p.stem: p for p in _list_images(self.mask_dir, recursive=False)}
        if not images:
            raise ValueError(f"no images found in {self.image_dir}")
        no_mask = sorted(set(images) - set(masks), key=lambda s: _natural_key(Path(s)))
        no_image = sorted(set(masks) - set(images), key=lambda s: _natural_key(Path(s)))
        if no_mask or no_image:
            raise ValueError(f"images in {self.image_dir} and masks in {self.mask_dir} must match by file stem: "
                             f"{len(no_mask)} image(s) without a mask (e.g. {no_mask[:3]}), "
                             f"{len(no_image)} mask(s) without an image (e.g. {no_image[:3]})")
        stems = sorted(images, key=lambda s: _natural_key(Path(s)))
        self.pairs = [(images[s], masks[s]) for s in stems]
        self.classes: list[str] | None = None
        self.palette: list[tuple[int, int, int]] | None = None
        pal = self.mask_dir.parent / "palette.json"
        if pal.is_file():
            meta = json.loads(pal.read_text())
            self.classes = list(meta.get("classes", [])) or None
            self.palette = [tuple(c) for c in meta.get("palette", [])] or None
        self.num_classes = num_classes if num_classes is not None else (len(self.classes) if self.classes else None)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ip, mp = self.pairs[i]
        img = load_rgb(ip)
        with Image.open(mp) as m:
            mask = _mask_ids(m, mp)
        if mask.size != img.size:
            raise ValueError(f"mask {mp} is {mask.size[0]}x{mask.size[1]} but image {ip} is "
                             f"{img.size[0]}x{img.size[1]}; expected the same size")
        img = _fit(img, self.size, self.crop, Image.BILINEAR)
        ids = torch.from_numpy(np.array(_fit(mask, self.size, self.crop, Image.NEAREST), dtype=np.int64))
        if self.num_classes is not None and ids.numel() and int(ids.max()) >= self.num_classes:
            raise ValueError(f"mask {mp} holds class id {int(ids.max())}; expected ids < {self.num_classes}")
        return {"image": pil_to_tensor(img), "mask": ids}


# ----------------------------------------------------------------------------- dispatch

LAYOUTS = ("domains", "attributes", "pairs", "masks", "images")


def _split_dir(root: Path, split: str | None) -> Path:
    # "root/train" when the layout has split folders, else root itself.
    if split and (root / split).is_dir():
        return root / split
    return root


def _first_existing(root: Path, names: Sequence[str], what: str, is_dir: bool) -> Path:
    for n in names:
        p = root / n
        if (p.is_dir() if is_dir else p.is_file()):
            return p
    raise FileNotFoundError(f"no {what} in {root}; expected one of: {', '.join(names)}")


def open_layout(layout: str, root: str | os.PathLike, size: int, **kw) -> Dataset:
    """Open ``root`` as one of the official layouts: domains, attributes, pairs, masks, images.

    ``split`` (default ``"train"``) selects ``root/<split>`` for ``domains`` and ``pairs`` when
    that folder exists. ``attributes`` finds ``images/`` or ``img_align_celeba/`` and
    ``list_attr_celeba.txt`` (or ``.csv``) under ``root`` unless ``image_dir``/``attr_path`` are
    given; ``masks`` finds ``images/`` + ``masks/`` (or CelebAMask-HQ's folder names). Other
    keyword arguments go to the dataset class.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; accepted: {', '.join(LAYOUTS)}")
    _require_dir(root, f"{layout} dataset")
    if layout == "domains":
        return DomainFolder(_split_dir(root, kw.pop("split", "train")), size, **kw)
    if layout == "pairs":
        return PairedFolder(_split_dir(root, kw.pop("split", "train")), size, **kw)
    if layout == "images":
        return ImageFolder(root, size, **kw)
    if layout == "attributes":
        image_dir = kw.pop("image_dir", None) or _first_existing(
            root, ("images", "img_align_celeba", "celeba"), "image folder", True)
        attr_path = kw.pop("attr_path", None) or _first_existing(
            root, ("list_attr_celeba.txt", "list_attr_celeba.csv"), "attribute file", False)
        return AttributeFolder(image_dir, attr_path, size, **kw)
    image_dir = kw.pop("image_dir", None) or _first_existing(root, ("images", "CelebA-HQ-img"), "image folder", True)
    mask_dir = kw.pop("mask_dir", None) or _first_existing(root, ("masks", "CelebAMaskHQ-mask", "CelebAMask-HQ-mask"),
                                                            "mask folder", True)
    return MaskFolder(image_dir, mask_dir, size, **kw)
