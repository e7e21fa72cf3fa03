"""SynthFaces: determinism, domain = shape, label consistency, alignment, anti-aliasing, API."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hubmodels.data.synthfaces import (ATTRIBUTES, DOMAINS, MASK_CLASSES, MASK_PALETTE, SynthFaces, benchmark,
                                       colorize_mask, render_face, render_params, sample_params)

ROOT = Path(__file__).resolve().parents[1]
HEAD, EARS, EYES, MOUTH, GLASSES = (MASK_CLASSES.index(c) for c in ("head", "ears", "eyes", "mouth", "glasses"))


def _digest(face) -> str:
    h = hashlib.sha256()
    for a in (np.asarray(face.image), face.mask, np.asarray(face.edges)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _boundary(m: np.ndarray) -> np.ndarray:
    b = np.zeros(m.shape, dtype=bool)
    dv, dh = m[1:] != m[:-1], m[:, 1:] != m[:, :-1]
    b[1:] |= dv
    b[:-1] |= dv
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    return b


def _dilate(b: np.ndarray) -> np.ndarray:
    g = b.copy()
    g[1:] |= b[:-1]
    g[:-1] |= b[1:]
    g[:, 1:] |= b[:, :-1]
    g[:, :-1] |= b[:, 1:]
    return g


# ----------------------------------------------------------------------------- determinism

def test_same_seed_index_gives_identical_face():
    a, b = render_face(3, 17), render_face(3, 17)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert np.array_equal(a.mask, b.mask)
    assert np.array_equal(np.asarray(a.edges), np.asarray(b.edges))
    assert a.params == b.params and a.attributes == b.attributes


def test_different_index_or_seed_gives_different_face():
    base = np.asarray(render_face(3, 17).image).astype(int)
    for other in (render_face(3, 18), render_face(3, 20), render_face(4, 17)):
        assert np.abs(np.asarray(other.image).astype(int) - base).mean() > 5


def test_fresh_process_renders_identical_pixels():
    cases = [(0, 0, 64), (7, 123, 64), (1, 5, 40), (2, 9, 160)]
    here = [_digest(render_face(s, i, n)) for s, i, n in cases]
    code = ("import hashlib, numpy as np\n"
            "from hubmodels.data.synthfaces import render_face\n"
            f"for s, i, n in {cases!r}:\n"
            "    f = render_face(s, i, n); h = hashlib.sha256()\n"
            "    for a in (np.asarray(f.image), f.mask, np.asarray(f.edges)):\n"
            "        h.update(np.ascontiguousarray(a).tobytes())\n"
            "    print(h.hexdigest())\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == here


def test_params_round_trip_through_json():
    face = render_face(5, 42, 48)
    params = json.loads(json.dumps(face.params))
    again = render_params(params, 48)
    assert np.array_equal(np.asarray(again.image), np.asarray(face.image))
    assert np.array_equal(again.mask, face.mask)


# ----------------------------------------------------------------------------- domains and style

def test_default_domain_cycles_with_index_and_override_keeps_style():
    assert [render_face(0, i, 16).domain for i in range(6)] == list(DOMAINS) * 2
    for i in range(5):
        styles = [dict(sample_params(1, i, d), domain=None) for d in DOMAINS]
        assert styles[0] == styles[1] == styles[2]


def test_domains_differ_by_shape():
    rows = []
    for i in range(24):
        areas, low, silh = {}, {}, {}
        for d in DOMAINS:
            face = render_face(11, i, 64, d)
            m = face.mask
            ys, xs = np.nonzero(m == EARS)
            cy, cx = (c.mean() for c in np.nonzero(m > 0))
            # share of ear pixels below the middle of the face, "below" in the head's own frame
            a = np.radians(face.params["pose"]["rotation"])
            down = -(xs - cx) * np.sin(a) + (ys - cy) * np.cos(a)
            areas[d], low[d], silh[d] = len(ys), (down > 0).mean(), m > 0
        rows.append((areas, low, silh))
        # fox ears are large, cat ears small; dog ears hang beside the head, the others stand on top
        assert areas["fox"] > 2 * areas["cat"]
        assert low["dog"] > 0.25 and low["cat"] < 0.1 and low["fox"] < 0.1, low
        for a, b in (("cat", "dog"), ("cat", "fox"), ("dog", "fox")):
            iou = (silh[a] & silh[b]).sum() / (silh[a] | silh[b]).sum()
            assert iou < 0.85, (i, a, b, iou)
    # dog ears are by far the largest part area of the three on average
    assert np.mean([r[0]["dog"] for r in rows]) > np.mean([r[0]["cat"] for r in rows]) * 2


def test_style_varies_between_indices():
    params = [sample_params(0, i) for i in range(90)]
    assert len({tuple(p["fur_rgb"]) for p in params}) > 80
    assert len({tuple(p["eye_rgb"]) for p in params}) > 80
    assert {p["marking"] for p in params} == {"none", "stripes", "spots", "mask"}
    assert {p["background"] for p in params} == {"solid", "gradient", "texture"}
    assert {p["open_mouth"] for p in params} == {True, False}
    assert {p["glasses"] for p in params} == {True, False}
    rots = [p["pose"]["rotation"] for p in params]
    assert np.std(rots) > 3 and np.std([p["eye_size"] for p in params]) > 0.005


# ----------------------------------------------------------------------------- labels

def test_attributes_are_consistent_with_pixels():
    counts = np.zeros(len(ATTRIBUTES))
    for i in range(60):
        f = render_face(2, i, 64)
        assert set(f.attributes) == set(ATTRIBUTES)
        assert sum(f.attributes[a] for a in ("black_fur", "golden_fur", "brown_fur")) <= 1
        assert f.mask.dtype == np.uint8 and f.mask.shape == (64, 64) and f.mask.max() < len(MASK_CLASSES)
        assert f.attributes["glasses"] == bool((f.mask == GLASSES).any())
        counts += [f.attributes[a] for a in ATTRIBUTES]
        # the fur colour follows the fur attribute: the commonest colour of the head pixels
        # (flat fur; the lighter muzzle also counts as head)
        colours, n = np.unique(np.asarray(f.image)[f.mask == HEAD], axis=0, return_counts=True)
        top2 = [c.tolist() for c in colours[np.argsort(-n)[:2]]]  # a small striped fox can show more muzzle
        assert f.params["fur_rgb"] in top2, (i, top2, f.params["fur_rgb"])
        r, g, b = (float(c) for c in f.params["fur_rgb"])
        luma = (0.299 * r + 0.587 * g + 0.114 * b) / 255
        if f.attributes["black_fur"]:
            assert luma < 0.25
        elif f.attributes["golden_fur"]:
            assert r > g > b and luma > 0.6
        elif f.attributes["brown_fur"]:
            assert r > g > b and 0.15 < luma < 0.55
    assert counts.min() >= 5  # every attribute occurs
    assert counts[:3].sum() < 60  # and "other" fur colours too


def test_open_mouth_is_drawn_bigger_than_closed():
    for i in range(40):
        p = sample_params(4, i)
        opened, closed = copy.deepcopy(p), copy.deepcopy(p)
        opened["open_mouth"], closed["open_mouth"] = True, False
        a = (render_params(opened, 64).mask == MOUTH).sum()
        b = (render_params(closed, 64).mask == MOUTH).sum()
        assert b > 0 and a > 1.5 * b, (i, a, b)
        assert render_params(opened, 16).attributes["open_mouth"] and not render_params(closed, 16).attributes["open_mouth"]


def test_edges_follow_mask_boundaries():
    fractions, shifted = [], []
    for i in range(20):
        f = render_face(6, i, 64)
        ink = np.asarray(f.edges) < 128
        near = _dilate(_boundary(f.mask.astype(int)))
        fractions.append((ink & near).sum() / ink.sum())
        moved = _dilate(_boundary(np.roll(f.mask.astype(int), 4, axis=1)))
        shifted.append((ink & moved).sum() / ink.sum())
    assert min(fractions) > 0.75 and np.mean(fractions) > 0.85, fractions
    assert np.mean(shifted) < np.mean(fractions) - 0.3  # alignment, not just "lines everywhere"
    f = render_face(6, 0, 64)
    assert f.edges.mode == "L" and np.median(np.asarray(f.edges)) == 255  # black lines on white


def test_images_are_antialiased():
    found = 0
    for i in range(30):
        p = sample_params(8, i)
        if p["background"] != "solid":
            continue
        f = render_params(p, 64)
        img = np.asarray(f.image).astype(float)
        bg, fur = np.array(p["bg_rgb"], float), np.array(p["fur_rgb"], float)
        if np.linalg.norm(bg - fur) < 60:
            continue
        # pixels on the background/head border are blends of the two colours, not one or the other
        border = _boundary(np.isin(f.mask, (0,)).astype(int)) & (f.mask == HEAD)
        t = ((img[border] - bg) @ (fur - bg)) / ((fur - bg) @ (fur - bg))
        assert np.mean((t > 0.1) & (t < 0.9)) > 0.2  # hard-edged polygons give about 0
        e = np.asarray(f.edges)
        assert np.mean((e > 30) & (e < 225)) > 0.3 * np.mean(e < 225)  # grey line borders
        found += 1
    assert found >= 3


# ----------------------------------------------------------------------------- API

def test_colorize_mask_uses_palette():
    f = render_face(0, 1, 32)
    rgb = np.asarray(colorize_mask(f.mask))
    assert rgb.shape == (32, 32, 3)
    for k in np.unique(f.mask):
        assert (rgb[f.mask == k] == MASK_PALETTE[k]).all()
    with pytest.raises(ValueError, match="class ids"):
        colorize_mask(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 7\]"):
        colorize_mask(np.full((2, 2), 9, np.uint8))


def test_dataset_items():
    ds = SynthFaces(7, size=32, seed=2)
    item = ds[4]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["domain"].dtype == torch.int64 and int(item["domain"]) == 4 % 3
    assert item["attributes"].shape == (5,) and set(item["attributes"].tolist()) <= {0.0, 1.0}
    assert item["mask"].shape == (32, 32) and item["mask"].dtype == torch.int64
    assert item["edges"].shape == (1, 32, 32) and item["edges"].max() == 1.0
    face = render_face(2, 4, 32)
    assert torch.equal(item["mask"], torch.from_numpy(face.mask.astype(np.int64)))
    assert item["attributes"].tolist() == [float(face.attributes[a]) for a in ATTRIBUTES]

    sub = SynthFaces(6, size=16, domains=["fox", "cat"])
    assert [sub.face(i).domain for i in range(4)] == ["fox", "cat", "fox", "cat"]
    assert [int(sub[i]["domain"]) for i in range(4)] == [0, 1, 0, 1]

    torch.manual_seed(0)
    flip = SynthFaces(8, size=16, hflip=True)
    plain = SynthFaces(8, size=16)
    flipped = 0
    for i in range(8):
        a, b = flip[i], plain[i]
        if torch.equal(a["image"], b["image"].flip(-1)) and not torch.equal(a["image"], b["image"]):
            assert torch.equal(a["mask"], b["mask"].flip(-1)) and torch.equal(a["edges"], b["edges"].flip(-1))
            flipped += 1
        else:
            assert torch.equal(a["image"], b["image"])
    assert 0 < flipped < 8


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\[8, 1024\]"):
        render_face(0, 0, size=4)
    with pytest.raises(ValueError, match=r"\[8, 1024\]"):
        SynthFaces(3, size=2048)
    with pytest.raises(ValueError, match="cat, dog, fox"):
        render_face(0, 0, domain="wolf")
    with pytest.raises(ValueError, match="cat"):
        SynthFaces(3, domains=["cat", "wolf"])
    with pytest.raises(ValueError, match="non-negative"):
        render_face(-1, 0)
    assert render_face(0, 0, 256).image.size == (256, 256)


def test_benchmark_runs():
    assert benchmark(n=5, size=32) > 0
    assert benchmark(n=3, size=16, clock="wall") > 0
