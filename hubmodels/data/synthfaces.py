"""SynthFaces: a procedural dataset of cartoon animal faces for every model family.

Each face is a pure function of ``(seed, index)``: the style and pose are drawn from
``np.random.Generator(np.random.PCG64([seed, index]))`` and then rendered from those
parameters alone, so any face can be re-created in any process or on any platform.

What it offers the families:

* three domains (``cat``, ``dog``, ``fox``) that differ only by *shape* (ears, muzzle, head
  outline, pupil), while colour, markings, background and pose are shared style, so an
  image-to-image translator (StarGAN v2) must learn domain = shape;
* five binary attributes (StarGAN v1), the fur ones mutually exclusive like CelebA hair colour;
* a per-pixel part segmentation with a fixed palette (SemanticStyleGAN, CelebAMask-HQ style);
* a clean outline sketch, pixel-aligned with the image (pix2pix / BicycleGAN edges2shoes style).

Rendering: polygons are drawn with PIL on a canvas ``ss`` times larger than the output and
box-downsampled, which anti-aliases the image and the sketch. The drawing also fills a
"part id" canvas (finer than the mask classes: pupils, muzzle, inner ears have their own ids);
the mask is that canvas mapped through a lookup table and the sketch is its boundaries, so the
mask and the sketch can never drift from the image.

Command line (writes the layouts the official repositories train on; all PNG by default)::

    python -m hubmodels.data.synthfaces export --layout domains --n 3000 --size 64 --out data/afhq

* ``domains``     ``out/<split>/<domain>/<idx:06d>.png``                  (AFHQ, StarGAN v2)
* ``attributes``  ``out/images/<idx:06d>.png`` + ``out/list_attr_celeba.txt`` (CelebA, StarGAN); the
  file uses CelebA's format and capitalisation: ``Black_Fur Golden_Fur Brown_Fur Eyeglasses Mouth_Open``
* ``pairs``       ``out/<split>/<idx>_AB.png``, sketch (A) | image (B)     (edges2shoes, pix2pix/BicycleGAN)
* ``masks``       ``out/images/<idx>.png`` + ``out/masks/<idx>.png`` (class ids) + ``out/palette.json``
* ``images``      ``out/<idx:05d>.png``                                     (FFHQ, StyleGAN)

``--split val`` draws from a separate index range (never overlapping train).
"""
from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .layouts import pil_to_tensor

__all__ = [
    "DOMAINS", "ATTRIBUTES", "ATTRIBUTE_FILE_NAMES", "MASK_CLASSES", "MASK_PALETTE", "LAYOUTS", "GLASSES_RGB",
    "GLASSES_SHAPES", "MIN_SIZE", "MAX_SIZE", "Face", "sample_params", "render_params", "render_face", "colorize_mask",
    "SynthFaces", "benchmark", "export", "main",
]

DOMAINS: tuple[str, ...] = ("cat", "dog", "fox")
ATTRIBUTES: tuple[str, ...] = ("black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth")
# Names used in the CelebA-format attribute file: CelebA's own capitalisation, and CelebA's own
# name where the concept is the same ("Eyeglasses"), so attribute lists read like CelebA ones.
ATTRIBUTE_FILE_NAMES: dict[str, str] = {
    "black_fur": "Black_Fur", "golden_fur": "Golden_Fur", "brown_fur": "Brown_Fur",
    "glasses": "Eyeglasses", "open_mouth": "Mouth_Open",
}
# Every face draws a frame colour and shape, worn or not, so the glasses an edit adds are one of these.
GLASSES_RGB: tuple[tuple[int, int, int], ...] = ((20, 20, 25), (120, 30, 30), (30, 60, 130), (200, 170, 60),
                                                 (240, 240, 240))
GLASSES_SHAPES: tuple[str, ...] = ("round", "square")
MASK_CLASSES: tuple[str, ...] = ("background", "head", "ears", "eyes", "nose", "mouth", "markings", "glasses")
MASK_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),        # background
    (204, 153, 102),  # head
    (255, 85, 85),    # ears
    (51, 153, 255),   # eyes
    (255, 0, 204),    # nose
    (255, 221, 0),    # mouth
    (102, 51, 0),     # markings
    (0, 204, 102),    # glasses
)
LAYOUTS: tuple[str, ...] = ("domains", "attributes", "pairs", "masks", "images")
MIN_SIZE, MAX_SIZE = 8, 1024
# Validation images come from a separate index range so that train and val never overlap;
# a multiple of 3 keeps ``index % 3`` (the default domain) aligned with the local index.
VAL_INDEX_OFFSET = 3 * 10**8

FUR_COLOURS = ("black", "golden", "brown", "grey", "white", "red", "slate")
MARKINGS = ("none", "stripes", "spots", "mask")
BACKGROUNDS = ("solid", "gradient", "texture")

# Part ids of the drawing canvas; several parts share one mask class.
P_BG, P_HEAD, P_MUZZLE, P_EAR, P_EAR_INNER, P_EYE, P_PUPIL, P_NOSE, P_MOUTH, P_TONGUE, P_MARK, P_GLASSES = range(12)
_PART_TO_CLASS = {P_BG: 0, P_HEAD: 1, P_MUZZLE: 1, P_EAR: 2, P_EAR_INNER: 2, P_EYE: 3, P_PUPIL: 3,
                  P_NOSE: 4, P_MOUTH: 5, P_TONGUE: 5, P_MARK: 6, P_GLASSES: 7}
_CLASS_LUT = [_PART_TO_CLASS.get(i, 0) for i in range(256)]


@dataclass
class Face:
    """One rendered face; ``mask`` and ``edges`` are pixel-aligned with ``image``."""
    image: Image.Image          # RGB, size x size
    mask: np.ndarray            # (size, size) uint8 class ids into MASK_CLASSES
    edges: Image.Image          # mode "L", black lines on white
    domain: str                 # one of DOMAINS
    attributes: dict[str, bool]  # keys = ATTRIBUTES
    params: dict                # the sampled style/pose parameters (JSON-serialisable)


# ----------------------------------------------------------------------------- validation

def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    return int(size)


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; accepted domains: {', '.join(DOMAINS)}")
    return domain


def _check_nonneg(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- sampling

def _hsv(h: float, s: float, v: float) -> list[int]:
    return [int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))]


def _mix(a: Sequence[int], b: Sequence[int], t: float) -> list[int]:
    return [int(round(x * (1 - t) + y * t)) for x, y in zip(a, b)]


def _luma(c: Sequence[int]) -> float:
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255.0


def _sample_fur(rng: np.random.Generator) -> tuple[str, list[int]]:
    # Attribute colours are kept in their own regions of colour space, and the "other" colours
    # stay clear of them, so the fur attribute is readable from the pixels.
    u = rng.random()
    h, s, v = rng.random(3)
    if u < 0.2:
        return "black", _hsv(h, 0.15 * s, 0.07 + 0.12 * v)
    if u < 0.4:
        return "golden", _hsv(0.10 + 0.04 * h, 0.50 + 0.30 * s, 0.80 + 0.17 * v)
    if u < 0.6:
        return "brown", _hsv(0.05 + 0.04 * h, 0.50 + 0.35 * s, 0.30 + 0.22 * v)
    other = FUR_COLOURS[3 + int(rng.integers(4))]
    if other == "grey":
        return other, _hsv(h, 0.06 * s, 0.45 + 0.30 * v)
    if other == "white":
        return other, _hsv(0.08 + 0.1 * h, 0.08 * s, 0.90 + 0.09 * v)
    if other == "red":
        return other, _hsv(0.01 + 0.04 * h, 0.75 + 0.2 * s, 0.78 + 0.2 * v)
    return other, _hsv(0.55 + 0.1 * h, 0.12 + 0.15 * s, 0.40 + 0.25 * v)  # slate / blue-grey


def sample_params(seed: int, index: int, domain: str | None = None) -> dict:
    """The style and pose parameters of face ``(seed, index)`` as a JSON-serialisable dict.

    The random stream never depends on the domain, so overriding the domain changes the shape
    only: colours, markings, background, pose, eyes, glasses and mouth stay the same.
    """
    seed, index = _check_nonneg("seed", seed), _check_nonneg("index", index)
    domain = DOMAINS[index % len(DOMAINS)] if domain is None else _check_domain(domain)
    rng = np.random.Generator(np.random.PCG64([seed, index]))
    f = lambda lo, hi: float(lo + (hi - lo) * rng.random())  # noqa: E731

    fur, fur_rgb = _sample_fur(rng)
    dark_fur = _luma(fur_rgb) < 0.35
    # Markings contrast with the fur: darker on light fur, lighter on dark fur.
    marking = MARKINGS[int(rng.integers(len(MARKINGS)))]
    marking_rgb = _mix(fur_rgb, [235, 235, 230] if dark_fur else [25, 18, 12], f(0.45, 0.8))
    if marking == "stripes":
        geom = [[f(-1, 1), f(-1, 1), f(0.7, 1.3)] for _ in range(int(rng.integers(3, 7)))]
    elif marking == "spots":
        geom = [[f(-0.5, 0.5), f(-0.42, 0.38), f(0.045, 0.1)] for _ in range(int(rng.integers(3, 8)))]
    elif marking == "mask":
        geom = [[f(-0.06, 0.04), f(0.10, 0.17), f(0.0, 1.0)]]
    else:
        geom = []
    # Consume the same amount of randomness for every marking type so later draws stay put.
    rng.random(24 - 3 * len(geom))

    muzzle_rgb = _mix(fur_rgb, [250, 245, 235], f(0.25, 0.9))
    ear_rgb = _mix(fur_rgb, [20, 14, 10], f(0.0, 0.45))
    inner_ear_rgb = _mix(fur_rgb, [240, 160, 170], f(0.4, 0.85))
    eye_rgb = _hsv(rng.choice([0.08, 0.12, 0.28, 0.55, 0.6]) + f(-0.03, 0.03), f(0.5, 0.95), f(0.55, 0.95))
    eye_size = f(0.075, 0.115)
    pupil = f(0.0, 1.0)
    nose_rgb = [[235, 140, 155], [30, 22, 22], [110, 65, 50], [70, 70, 75], [200, 100, 110]][int(rng.integers(5))]
    nose_rgb = _mix(nose_rgb, [128, 128, 128], f(0.0, 0.2))

    open_mouth = bool(rng.random() < 0.5)
    mouth = [f(-1, 1), f(-1, 1)]  # width and depth jitter
    glasses = bool(rng.random() < 0.35)
    glasses_rgb = list(GLASSES_RGB[int(rng.integers(len(GLASSES_RGB)))])
    glasses_shape = GLASSES_SHAPES[int(rng.integers(len(GLASSES_SHAPES)))]

    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    # Background brightness is pushed away from the fur's so the silhouette stays readable.
    fl = _luma(fur_rgb)
    bl = fl + (1 if fl < 0.5 else -1) * f(0.25, 0.6)
    bg_rgb = _hsv(f(0, 1), f(0.05, 0.6), min(max(bl, 0.04), 0.98))
    bg_rgb2 = _mix(bg_rgb, _hsv(f(0, 1), f(0.1, 0.7), min(max(bl + f(-0.2, 0.2), 0.04), 0.98)), f(0.4, 1.0))
    bg_angle = f(0, 360)
    bg_noise_seed = int(rng.integers(2**31))

    shape = [f(-1, 1) for _ in range(8)]
    # Wide enough that pose is a visible factor of its own: a translator that draws one fixed
    # upright head per style cannot pass for one that keeps the source's pose.
    pose = {"dx": f(-0.14, 0.14), "dy": f(-0.09, 0.09), "scale": f(0.8, 1.08), "rotation": f(-30, 30)}

    return {
        "seed": seed, "index": index, "domain": domain,
        "fur": fur, "fur_rgb": fur_rgb, "marking": marking, "marking_rgb": marking_rgb, "marking_geom": geom,
        "muzzle_rgb": muzzle_rgb, "ear_rgb": ear_rgb, "inner_ear_rgb": inner_ear_rgb,
        "eye_rgb": eye_rgb, "eye_size": eye_size, "pupil": pupil, "nose_rgb": nose_rgb,
        "open_mouth": open_mouth, "mouth": mouth,
        "glasses": glasses, "glasses_rgb": glasses_rgb, "glasses_shape": glasses_shape,
        "background": background, "bg_rgb": bg_rgb, "bg_rgb2": bg_rgb2, "bg_angle": bg_angle,
        "bg_noise_seed": bg_noise_seed, "shape": shape, "pose": pose,
    }


def attributes_of(params: dict) -> dict[str, bool]:
    return {"black_fur": params["fur"] == "black", "golden_fur": params["fur"] == "golden",
            "brown_fur": params["fur"] == "brown", "glasses": bool(params["glasses"]),
            "open_mouth": bool(params["open_mouth"])}


# ----------------------------------------------------------------------------- geometry

@lru_cache(maxsize=None)
def _circle(n: int) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 40, power: float = 2.0) -> np.ndarray:
    c = _circle(n)
    if power != 2.0:  # superellipse: boxier for power > 2 (square glasses)
        c = np.sign(c) * np.abs(c) ** (2.0 / power)
    p = c * (rx, ry)
    if angle:
        a = math.radians(angle)
        p = p @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return p + (cx, cy)


@lru_cache(maxsize=None)
def _catmull_basis(m: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, m, endpoint=False)[:, None]
    return 0.5 * np.hstack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2])


def _spline(points: Sequence[Sequence[float]], m: int = 6) -> np.ndarray:
    """Closed Catmull-Rom curve through the control points: organic outlines from few numbers."""
    p = np.asarray(points, dtype=np.float64)
    idx = np.arange(len(p))
    quad = np.stack([p[(idx - 1) % len(p)], p[idx], p[(idx + 1) % len(p)], p[(idx + 2) % len(p)]], 1)  # (n,4,2)
    return np.matmul(_catmull_basis(m), quad).reshape(-1, 2)


def _head_outline(domain: str, s: Sequence[float]) -> np.ndarray:
    w, h = 1 + 0.06 * s[0], 1 + 0.05 * s[1]
    if domain == "cat":  # round, a little wider than tall, fluffy cheeks
        half = [(0, -0.47), (0.3, -0.43), (0.5, -0.25), (0.58, 0.03), (0.52, 0.26), (0.3, 0.42), (0, 0.47)]
    elif domain == "dog":  # taller, boxier, with jowls
        half = [(0, -0.52), (0.3, -0.49), (0.45, -0.3), (0.49, 0.0), (0.46, 0.3), (0.36, 0.5), (0.16, 0.6), (0, 0.61)]
    else:  # fox: wide cheek tufts, tapering to a pointed chin
        half = [(0, -0.44), (0.3, -0.4), (0.5, -0.2), (0.64, 0.1), (0.46, 0.2), (0.28, 0.36), (0.12, 0.58), (0, 0.66)]
    # top -> right side -> chin, then the left side mirrored back up
    outline = half + [(-x, y) for x, y in reversed(half[1:-1])]
    return _spline(outline, 6) * (w, h)


def _ears(domain: str, s: Sequence[float]) -> tuple[np.ndarray, np.ndarray | None]:
    """(outer, inner) outlines of the right ear; the left ear is its mirror image.

    The first outer point is the ear's root on the head, the pivot for tilting it."""
    k = 1 + 0.12 * s[2]
    if domain == "cat":  # small upright triangles
        outer = np.array([(0.1, -0.3), (0.13, -0.44), (0.38, -0.47 - 0.26 * k), (0.52, -0.2), (0.4, -0.1)])
        inner = np.array([(0.2, -0.42), (0.36, -0.48 - 0.17 * k), (0.45, -0.3)])
        return outer, inner
    if domain == "fox":  # large, pointed, wide apart
        outer = np.array([(0.08, -0.3), (0.1, -0.41), (0.48, -0.5 - 0.46 * k), (0.64, -0.12), (0.45, -0.05)])
        inner = np.array([(0.18, -0.41), (0.46, -0.52 - 0.32 * k), (0.55, -0.2)])
        return outer, inner
    # dog: floppy, rounded, hanging along the sides of the head
    hang = 0.22 * k
    outer = _spline([(0.24, -0.52), (0.5, -0.5), (0.66, -0.25), (0.72, 0.05 + hang * 0.5), (0.64, 0.12 + hang),
                     (0.52, 0.06 + hang), (0.46, -0.15), (0.34, -0.38)], 5)
    return outer, None


def _muzzle(domain: str, s: Sequence[float]) -> list[np.ndarray]:
    k = 1 + 0.1 * s[4]
    if domain == "cat":  # tiny whisker pads
        return [_ellipse(0.065, 0.235, 0.085 * k, 0.065 * k, n=24), _ellipse(-0.065, 0.235, 0.085 * k, 0.065 * k, n=24)]
    if domain == "dog":  # broad and round
        return [_ellipse(0.0, 0.3, 0.3 * k, 0.23 * k, n=40)]
    # fox: long, narrow, pointed, white from the cheeks down to the chin
    return [_spline([(0, 0.05), (0.17, 0.12), (0.44, 0.2), (0.26, 0.33), (0.1, 0.52), (0, 0.64), (-0.1, 0.52),
                     (-0.26, 0.33), (-0.44, 0.2), (-0.17, 0.12)], 5) * (k, 1)]


# Per-domain layout of the features (face units): right eye centre, eye aspect and tilt (degrees),
# nose centre and half-width, closed-mouth half-width.
_FEATURES = {
    "cat": dict(eye=(0.235, -0.04), eye_rx=1.05, eye_ry=0.95, eye_tilt=0.0, nose=(0.0, 0.165), nose_w=0.06, mouth_w=0.11),
    "dog": dict(eye=(0.215, -0.12), eye_rx=0.9, eye_ry=0.9, eye_tilt=0.0, nose=(0.0, 0.24), nose_w=0.115, mouth_w=0.15),
    "fox": dict(eye=(0.23, -0.06), eye_rx=1.15, eye_ry=0.7, eye_tilt=-16.0, nose=(0.0, 0.41), nose_w=0.055, mouth_w=0.085),
}


def _nose(domain: str, cx: float, cy: float, w: float) -> np.ndarray:
    if domain == "dog":  # broad rounded
        pts = [(-w, -0.05), (0, -0.06), (w, -0.05), (0.55 * w, 0.035), (0, 0.05), (-0.55 * w, 0.035)]
    else:  # small inverted triangle with soft corners
        pts = [(-w, -0.03), (0, -0.035), (w, -0.03), (0.25 * w, 0.035), (0, 0.045), (-0.25 * w, 0.035)]
    return _spline(pts, 5) + (cx, cy)


def _stroke(pts: np.ndarray, width: float, closed: bool) -> np.ndarray:
    """Outline of a polyline of the given width, as one polygon.

    Open lines: left offset forward, right offset backward. Closed lines: the outer and inner
    offset loops in one polygon; PIL fills with the even-odd rule, so the inner loop is a hole.
    """
    if closed:
        nxt, prv = np.roll(pts, -1, 0), np.roll(pts, 1, 0)
    else:
        nxt = np.vstack([pts[1:], 2 * pts[-1:] - pts[-2:-1]])
        prv = np.vstack([2 * pts[:1] - pts[1:2], pts[:-1]])
    tangent = nxt - prv
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) * (width / 2)
    left, right = pts + normal, pts - normal
    if closed:
        return np.vstack([left, left[:1], right[:1], right[::-1][:-1], right[:1], left[:1]])
    return np.vstack([left, right[::-1]])


# ----------------------------------------------------------------------------- rendering

def _supersample(size: int) -> int:
    return 4 if size <= 128 else 2


class _Canvas:
    """Draws the same polygons into the RGB canvas and the part-id canvas, in face coordinates."""

    def __init__(self, size: int, params: dict):
        self.ss = _supersample(size)
        self.size = size
        self.H = size * self.ss
        pose = params["pose"]
        # Face coordinates: head centre at the origin, y down, roughly [-0.7, 0.7] x [-1, 0.65].
        fit = 0.92 * pose["scale"]
        a = math.radians(pose["rotation"])
        self.m = fit * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        self.t = np.array([pose["dx"], 0.16 + pose["dy"]])
        self.unit_px = fit * self.H / 2  # hi-res pixels per face unit
        self.part = Image.new("L", (self.H, self.H), P_BG)
        self.dpart = ImageDraw.Draw(self.part)
        self.rgb: Image.Image | None = None
        self.drgb: ImageDraw.ImageDraw | None = None

    def set_rgb(self, rgb: Image.Image) -> None:
        self.rgb, self.drgb = rgb, ImageDraw.Draw(rgb)

    def xy(self, pts: np.ndarray) -> list[float]:
        q = (np.asarray(pts) @ self.m + self.t) * (self.H / 2) + self.H / 2
        return q.ravel().tolist()

    def fill(self, pts: np.ndarray, rgb: Sequence[int], part: int | None) -> None:
        xy = self.xy(pts)
        self.drgb.polygon(xy, fill=tuple(rgb))
        if part is not None:
            self.dpart.polygon(xy, fill=part)

    def line(self, pts: np.ndarray, width: float, rgb: Sequence[int], part: int | None, closed: bool = False) -> None:
        # Widths are in face units but never thinner than one output pixel, so thin parts
        # (closed mouth, frames) survive in the downsampled mask. Strokes are filled polygons
        # (PIL's wide lines with round joints are several times slower).
        w = max(width, self.ss / self.unit_px)
        self.fill(_stroke(np.asarray(pts, dtype=np.float64), w, closed), rgb, part)


def _background(c: _Canvas, p: dict) -> Image.Image:
    # The background is smooth, so it is computed at the output resolution and blown up with
    # nearest neighbour: each block of samples is then constant and the final box filter
    # returns exactly these pixels.
    n, H = c.size, c.H
    one = np.asarray(p["bg_rgb"], np.float32)
    if p["background"] == "solid":
        return Image.new("RGB", (H, H), tuple(p["bg_rgb"]))
    if p["background"] == "gradient":
        a = math.radians(p["bg_angle"])
        g = np.linspace(-1.0, 1.0, n, dtype=np.float32)
        t = math.cos(a) * g[None, :] + math.sin(a) * g[:, None]
        t = (t - t.min()) / (float(np.ptp(t)) + 1e-9)
    else:  # texture: smooth blotches plus a finer grain, from the stored noise seed
        rng = np.random.Generator(np.random.PCG64(p["bg_noise_seed"]))
        coarse = Image.fromarray((rng.random((5, 5)) * 255).astype(np.uint8), "L").resize((n, n), Image.BICUBIC)
        fine = Image.fromarray((rng.random((24, 24)) * 255).astype(np.uint8), "L").resize((n, n), Image.BICUBIC)
        t = (0.7 * np.asarray(coarse, np.float32) + 0.3 * np.asarray(fine, np.float32)) / 255.0
    two = np.asarray(p["bg_rgb2"], np.float32)
    img = one + t[..., None] * (two - one)
    small = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    return small.resize((H, H), Image.NEAREST)


def _markings(c: _Canvas, p: dict) -> None:
    kind = p["marking"]
    if kind == "none":
        return
    layer = Image.new("L", (c.H, c.H), 0)
    d = ImageDraw.Draw(layer)
    polys = []
    if kind == "stripes":
        # Tabby pattern: forehead stripes fanning down, cheek stripes coming in from the sides.
        for i, (a, b, wk) in enumerate(p["marking_geom"]):
            if i % 3 == 0:  # forehead
                x, w, tip_x, tip_y = 0.16 * a, 0.045 * wk, 0.16 * a + 0.03 * b, -0.2 + 0.05 * b
                polys.append(np.array([(x - w, -0.6), (x + w, -0.6), (tip_x + 0.3 * w, tip_y), (tip_x - 0.3 * w, tip_y)]))
            else:  # cheeks, alternating sides
                side = 1 if i % 3 == 1 else -1
                y, w, tip = 0.08 + 0.1 * a, 0.04 * wk, side * (0.36 + 0.04 * b)
                polys.append(np.array([(side * 0.75, y - w), (side * 0.75, y + w), (tip, y + 0.02), (tip, y)]))
    elif kind == "spots":
        polys = [_ellipse(x, y, r, r * 0.85, n=20) for x, y, r in p["marking_geom"]]
    else:  # mask: a band across the eyes, like a raccoon's
        y, hh, _ = p["marking_geom"][0]
        f = _FEATURES[p["domain"]]
        polys = [_ellipse(0.0, f["eye"][1] + y, 0.8, hh, n=40)]
    for poly in polys:
        d.polygon(c.xy(poly), fill=255)
    # Markings live on the head only: clip the layer to the head pixels drawn so far. A mode "1"
    # mask makes paste a plain copy instead of a per-pixel blend (several times faster).
    clip = Image.fromarray((np.asarray(layer) != 0) & (np.asarray(c.part) == P_HEAD))
    box = (0, 0, c.H, c.H)
    c.rgb.paste(tuple(p["marking_rgb"]), box, clip)
    c.part.paste(P_MARK, box, clip)


def _eyes(c: _Canvas, p: dict, f: dict) -> list[tuple[float, float]]:
    dom = p["domain"]
    es = p["eye_size"]
    spread = 1 + 0.06 * p["shape"][5]
    rx, ry = es * f["eye_rx"], es * f["eye_ry"]
    pd = p["pupil"]
    rim = [int(0.3 * v) for v in p["fur_rgb"]] if _luma(p["fur_rgb"]) > 0.25 else [8, 8, 8]
    centres = []
    for side in (1, -1):
        cx, cy = side * f["eye"][0] * spread, f["eye"][1]
        tilt = side * f["eye_tilt"]
        centres.append((cx, cy))
        c.fill(_ellipse(cx, cy, rx * 1.18, ry * 1.2, tilt, n=32), rim, P_EYE)
        c.fill(_ellipse(cx, cy, rx, ry, tilt, n=32), p["eye_rgb"], P_EYE)
        if dom == "cat":  # vertical slit
            prx, pry = rx * (0.15 + 0.3 * pd), ry * 0.88
        elif dom == "dog":  # round
            prx = pry = min(rx, ry) * (0.45 + 0.25 * pd)
        else:  # fox: vertical oval
            prx, pry = rx * (0.2 + 0.2 * pd), ry * 0.8
        c.fill(_ellipse(cx, cy, prx, pry, n=24), [12, 10, 10], P_PUPIL)
        # catch-light in the image only: it is not a part of the face
        c.fill(_ellipse(cx - 0.3 * rx, cy - 0.35 * ry, 0.22 * es, 0.22 * es, n=12), [250, 250, 250], None)
    return centres


def _mouth(c: _Canvas, p: dict, f: dict, nose_bottom: float) -> None:
    mw = f["mouth_w"] * (1 + 0.12 * p["mouth"][0])
    top = nose_bottom + 0.035
    line_rgb = [int(0.35 * v) for v in p["fur_rgb"]] if _luma(p["fur_rgb"]) > 0.25 else [230, 220, 220]
    thick = 0.026
    if p["open_mouth"]:
        # An open mouth is clearly bigger than the closed line, at any size and in every domain.
        mw *= 1.2
        mh = 0.15 + 0.03 * p["mouth"][1]
        t = np.linspace(0.0, math.pi, 24)
        d_shape = np.vstack([np.stack([mw * np.cos(t), top + mh * np.sin(t)], 1), [(-mw, top - 0.012), (mw, top - 0.012)]])
        c.fill(d_shape, [95, 20, 35], P_MOUTH)
        c.fill(_ellipse(0.0, top + 0.65 * mh, 0.55 * mw, 0.35 * mh, n=24), [235, 120, 140], P_TONGUE)
        c.line(np.array([(0.0, nose_bottom - 0.01), (0.0, top)]), thick, line_rgb, P_MOUTH)
    else:
        t = np.linspace(0.0, math.pi, 10)
        right = np.stack([mw / 2 - mw / 2 * np.cos(t), top + 0.035 * np.sin(t)], 1)
        left = right * (-1, 1)
        c.line(np.array([(0.0, nose_bottom - 0.01), (0.0, top)]), thick, line_rgb, P_MOUTH)
        c.line(right, thick, line_rgb, P_MOUTH)
        c.line(left, thick, line_rgb, P_MOUTH)


def _glasses(c: _Canvas, p: dict, centres: list[tuple[float, float]]) -> None:
    r = p["eye_size"] * 1.55 + 0.03
    power = 2.0 if p["glasses_shape"] == "round" else 5.0
    rgb, w = p["glasses_rgb"], 0.038
    for cx, cy in centres:
        c.line(_ellipse(cx, cy, r, r * 0.9, n=36, power=power), w, rgb, P_GLASSES, closed=True)
    x0, y0 = centres[0]  # right eye
    inner = abs(x0) - r
    c.line(np.array([(inner, y0 - 0.01), (0.0, y0 - 0.05), (-inner, y0 - 0.01)]), w, rgb, P_GLASSES)
    for side in (1, -1):  # temple arms towards the edge of the head
        c.line(np.array([(side * (abs(x0) + r), y0 - 0.02), (side * (abs(x0) + r + 0.12), y0 - 0.05)]), w, rgb, P_GLASSES)


def _edges_from_parts(part: np.ndarray, ss: int, size: int) -> Image.Image:
    # Boundaries between part ids at high resolution, thickened to about one output pixel
    # (two at 256 px and above, like edges2shoes), then box-downsampled: anti-aliased lines.
    b = np.zeros(part.shape, dtype=bool)
    dv = part[1:] != part[:-1]
    b[1:] |= dv
    b[:-1] |= dv
    dh = part[:, 1:] != part[:, :-1]
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    line_px = max(1.0, size / 128)
    d = max(0, int(round((ss * line_px - 2) / 2)))
    for _ in range(d):
        g = b.copy()
        g[1:] |= b[:-1]
        g[:-1] |= b[1:]
        g[:, 1:] |= b[:, :-1]
        g[:, :-1] |= b[:, 1:]
        b = g
    return Image.fromarray(np.where(b, 0, 255).astype(np.uint8), "L").reduce(ss)


def render_params(params: dict, size: int = 64) -> Face:
    """Render a face from its parameters (as returned by :func:`sample_params`)."""
    size = _check_size(size)
    p = params
    dom = _check_domain(p["domain"])
    s = p["shape"]
    f = _FEATURES[dom]
    c = _Canvas(size, p)
    c.set_rgb(_background(c, p))

    outer, inner = _ears(dom, s)
    a = math.radians(8.0 * s[3])  # ear tilt, about the ear root so tilted ears stay attached
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pivot = outer[0]
    outer = (outer - pivot) @ rot + pivot
    inner = None if inner is None else (inner - pivot) @ rot + pivot
    sides = (np.array([1.0, 1.0]), np.array([-1.0, 1.0]))

    if dom != "dog":  # upright ears sit behind the head
        for side in sides:
            c.fill(outer * side, p["ear_rgb"], P_EAR)
            c.fill(inner * side, p["inner_ear_rgb"], P_EAR_INNER)
    c.fill(_head_outline(dom, s), p["fur_rgb"], P_HEAD)
    _markings(c, p)
    for m in _muzzle(dom, s):
        c.fill(m, p["muzzle_rgb"], P_MUZZLE)
    if dom == "dog":  # floppy ears hang in front of the head
        for side in sides:
            c.fill(outer * side, p["ear_rgb"], P_EAR)
    centres = _eyes(c, p, f)
    nx, ny = f["nose"]
    nose_w = f["nose_w"] * (1 + 0.12 * s[6])
    c.fill(_nose(dom, nx, ny, nose_w), p["nose_rgb"], P_NOSE)
    _mouth(c, p, f, ny + 0.045)
    if p["glasses"]:
        _glasses(c, p, centres)

    ss = c.ss
    part = np.asarray(c.part)
    # Mask: the class of the sample nearest the centre of each output pixel's block.
    mask = np.asarray(c.part.point(_CLASS_LUT))[ss // 2::ss, ss // 2::ss].copy()
    return Face(image=c.rgb.reduce(ss), mask=mask, edges=_edges_from_parts(part, ss, size), domain=dom,
                attributes=attributes_of(p), params=p)


def render_face(seed: int, index: int, size: int = 64, domain: str | None = None) -> Face:
    """Face ``index`` of the stream ``seed``; ``domain`` overrides ``DOMAINS[index % 3]`` (shape only)."""
    size = _check_size(size)
    return render_params(sample_params(seed, index, domain), size)


def colorize_mask(mask: np.ndarray) -> Image.Image:
    """RGB picture of a class-id mask using ``MASK_PALETTE``."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W) class ids, got shape {m.shape}")
    if m.size and (m.min() < 0 or m.max() >= len(MASK_CLASSES)):
        raise ValueError(f"mask ids must be in [0, {len(MASK_CLASSES) - 1}], got range [{m.min()}, {m.max()}]")
    return Image.fromarray(np.asarray(MASK_PALETTE, dtype=np.uint8)[m.astype(np.int64)], "RGB")


# ----------------------------------------------------------------------------- dataset

class SynthFaces(torch.utils.data.Dataset):
    """``n`` faces of the stream ``seed``, rendered on the fly (no files needed).

    Item ``i`` has domain ``self.domains[i % len(self.domains)]``. ``hflip`` mirrors image, mask
    and sketch together with probability 1/2 using torch's RNG, like torchvision's
    ``RandomHorizontalFlip`` (so it follows ``torch.manual_seed`` and the DataLoader's worker seeds).
    """

    def __init__(self, n: int, size: int = 64, seed: int = 0, domains: Sequence[str] = DOMAINS, hflip: bool = False):
        self.n = _check_nonneg("n", n)
        self.size = _check_size(size)
        self.seed = _check_nonneg("seed", seed)
        if isinstance(domains, str):
            domains = (domains,)
        self.domains = tuple(_check_domain(d) for d in domains)
        if not self.domains or len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains must be a non-empty list of distinct names from {DOMAINS}, got {domains!r}")
        self.hflip = bool(hflip)
        self.attributes = ATTRIBUTES

    def __len__(self) -> int:
        return self.n

    def face(self, i: int) -> Face:
        return render_face(self.seed, i, self.size, self.domains[i % len(self.domains)])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for SynthFaces of length {self.n}")
        i %= self.n
        face = self.face(i)
        item = {
            "image": pil_to_tensor(face.image),
            "domain": torch.tensor(i % len(self.domains), dtype=torch.int64),
            "attributes": torch.tensor([float(face.attributes[a]) for a in ATTRIBUTES], dtype=torch.float32),
            "mask": torch.from_numpy(face.mask.astype(np.int64)),
            "edges": pil_to_tensor(face.edges),
        }
        if self.hflip and torch.rand(()) < 0.5:
            for k in ("image", "mask", "edges"):
                item[k] = item[k].flip(-1)
        return item


def benchmark(n: int = 300, size: int = 64, seed: int = 0, clock: str = "cpu") -> float:
    """Render ``n`` faces in this process (one core) and return the rate in images per second.

    ``clock="cpu"`` divides by this process's CPU time, which measures one core's throughput
    even on a busy machine; ``clock="wall"`` uses elapsed time.
    """
    if clock not in ("cpu", "wall"):
        raise ValueError(f"unknown clock {clock!r}; accepted: cpu, wall")
    n, size = max(1, int(n)), _check_size(size)
    timer = time.process_time if clock == "cpu" else time.perf_counter
    render_face(seed, 0, size)  # warm caches (circle and spline tables)
    t0 = timer()
    for i in range(n):
        render_face(seed, i, size)
    return n / max(timer() - t0, 1e-9)


# ----------------------------------------------------------------------------- export

def _split_offset(split: str) -> int:
    if split not in ("train", "val"):
        raise ValueError(f"unknown split {split!r}; accepted: train, val")
    return 0 if split == "train" else VAL_INDEX_OFFSET


def _export_one(job: tuple) -> tuple[int, dict[str, bool]]:
    layout, out, i, size, seed, offset, split, ext = job
    out = Path(out)
    face = render_face(seed, offset + i, size)
    if layout == "domains":
        face.image.save(out / split / face.domain / f"{i:06d}.{ext}")
    elif layout == "attributes":
        face.image.save(out / "images" / f"{i:06d}.{ext}")
    elif layout == "pairs":
        ab = Image.new("RGB", (2 * size, size))
        ab.paste(face.edges.convert("RGB"), (0, 0))
        ab.paste(face.image, (size, 0))
        ab.save(out / split / f"{i}_AB.{ext}")
    elif layout == "masks":
        face.image.save(out / "images" / f"{i}.{ext}")
        Image.fromarray(face.mask, "L").save(out / "masks" / f"{i}.png")  # always lossless
    else:
        face.image.save(out / f"{i:05d}.{ext}")
    return i, face.attributes


def export(layout: str, out: str | os.PathLike, n: int, size: int = 64, seed: int = 0, split: str = "train",
           ext: str = "png", workers: int = 1) -> Path:
    """Write ``n`` faces to ``out`` in one of the official dataset layouts (see module docstring).

    ``domains`` and ``pairs`` write into ``out/<split>/``; the other layouts have no split folders
    (as in CelebA, CelebAMask-HQ, FFHQ), so ``split`` only picks the disjoint index range.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; accepted: {', '.join(LAYOUTS)}")
    if ext not in ("png", "jpg"):
        raise ValueError(f"unknown image format {ext!r}; accepted: png, jpg")
    n, size, seed = _check_nonneg("n", n), _check_size(size), _check_nonneg("seed", seed)
    offset = _split_offset(split)
    out = Path(out)
    dirs = {"domains": [out / split / d for d in DOMAINS], "attributes": [out / "images"], "pairs": [out / split],
            "masks": [out / "images", out / "masks"], "images": [out]}[layout]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    jobs = [(layout, str(out), i, size, seed, offset, split, ext) for i in range(n)]
    if workers > 1 and n > 1:
        import multiprocessing as mp

        from . import synthfaces as importable  # not __main__ under "python -m", so workers can unpickle it
        with mp.get_context("spawn").Pool(workers) as pool:
            results = pool.map(importable._export_one, jobs, chunksize=max(1, n // (8 * workers)))
    else:
        results = [_export_one(j) for j in jobs]
    if layout == "attributes":
        names = [ATTRIBUTE_FILE_NAMES[a] for a in ATTRIBUTES]
        lines = [str(n), " ".join(names)]
        for i, attrs in sorted(results):
            lines.append(f"{i:06d}.{ext} " + " ".join(f"{1 if attrs[a] else -1:>2d}" for a in ATTRIBUTES))
        (out / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if layout == "masks":
        palette = {"classes": list(MASK_CLASSES), "palette": [list(c) for c in MASK_PALETTE]}
        (out / "palette.json").write_text(json.dumps(palette, indent=2) + "\n")
    meta = {"generator": "hubmodels.data.synthfaces", "layout": layout, "n": n, "size": size, "seed": seed,
            "split": split, "index_offset": offset, "format": ext}
    (out / f"synthfaces_{layout}_{split}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hubmodels.data.synthfaces", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="write faces in an official dataset layout")
    ex.add_argument("--layout", required=True, choices=LAYOUTS)
    ex.add_argument("--n", type=int, required=True, help="number of faces")
    ex.add_argument("--size", type=int, default=64, help=f"image size in pixels [{MIN_SIZE}, {MAX_SIZE}]")
    ex.add_argument("--out", required=True, help="output folder")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--split", default="train", choices=("train", "val"))
    ex.add_argument("--format", default="png", choices=("png", "jpg"), help="image format (masks are always PNG)")
    ex.add_argument("--workers", type=int, default=1, help="processes to render with")
    bench = sub.add_parser("bench", help="measure rendering speed on one core")
    bench.add_argument("--n", type=int, default=300)
    bench.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "export":
            out = export(args.layout, args.out, args.n, args.size, args.seed, args.split, args.format, args.workers)
            print(f"wrote {args.n} faces ({args.layout} layout, {args.size}px, seed {args.seed}, {args.split}) to {out}")
        else:
            cpu = benchmark(args.n, args.size, clock="cpu")
            wall = benchmark(args.n, args.size, clock="wall")
            print(f"{cpu:.1f} images/s per core (CPU time), {wall:.1f} images/s wall clock, at {args.size}px")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
