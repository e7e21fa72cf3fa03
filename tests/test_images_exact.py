"""hubmodels.images' own image operations are bit-identical to torchvision's functional transforms.

``hubmodels.images`` re-implements the few torchvision operations the preprocessing needs (resize, crop,
center crop, grayscale, to_tensor, normalize) so that a first image request does not pay torchvision's ~2 s
import. These tests hold every one of them, and the whole preprocessing of every built-in policy and of the
BicycleGAN paired loader, to ``torch.equal`` against torchvision on the same machine, and check that
preprocessing in a fresh process never imports torchvision.

Which inputs the code paths can see: :func:`load_image` always returns an 8-bit RGB image, and the only
mode change after it is ``Grayscale(1)`` (mode L); geometry keeps the mode. So RGB and L are what really
reaches ``to_tensor``/resize/crop; the other modes are checked too, since the helpers accept them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

import hubmodels.images as hi
from hubmodels.bicyclegan.aligned import AlignedParams, aligned_pair
from hubmodels.images import POLICIES, Preprocess, get_policy, preprocess

ROOT = Path(__file__).resolve().parents[1]
MODES = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
         "bicubic": InterpolationMode.BICUBIC, "lanczos": InterpolationMode.LANCZOS}
# (width, height): odd, square, landscape, degenerate 1-pixel-wide, portrait
SIZES = [(37, 53), (64, 64), (300, 200), (1, 5), (53, 37)]
EIGHT_BIT_MODES = ["RGB", "L", "RGBA", "LA", "P", "CMYK", "YCbCr", "1"]


def _image(mode: str, wh: tuple[int, int], seed: int = 0) -> Image.Image:
    """A random PIL image of the given mode (noise plus a gradient, so resampling filters differ)."""
    w, h = wh
    rs = np.random.RandomState(seed)
    if mode == "1":
        return Image.fromarray(rs.rand(h, w) > 0.5)
    if mode == "I;16":  # the full 16-bit range, so values above 32767 (int16 wrap) occur
        return Image.frombytes("I;16", (w, h), rs.randint(0, 65536, (h, w)).astype("<u2").tobytes())
    if mode == "I":
        return Image.fromarray(rs.randint(-70000, 70000, (h, w)).astype(np.int32))
    if mode == "F":
        return Image.fromarray((rs.rand(h, w) * 300 - 20).astype(np.float32))
    if mode == "P":
        img = Image.frombytes("P", (w, h), rs.randint(0, 256, (h, w)).astype(np.uint8).tobytes())
        img.putpalette(rs.randint(0, 256, 768).astype(np.uint8).tobytes())
        return img
    bands = len(Image.getmodebands(mode) * "x")
    yy, xx = np.mgrid[0:h, 0:w]
    grad = ((xx * 255) // max(w - 1, 1) + (yy * 128) // max(h - 1, 1))[..., None] % 256
    arr = (grad + rs.randint(-40, 41, (h, w, bands))).clip(0, 255).astype(np.uint8)
    return Image.frombytes(mode, (w, h), arr.tobytes())


def _pil_equal(a: Image.Image, b: Image.Image) -> bool:
    """Same mode, size, pixels (and palette for P)."""
    if a.mode != b.mode or a.size != b.size:
        return False
    if a.mode == "P" and a.getpalette() != b.getpalette():
        return False
    return torch.equal(torch.from_numpy(np.array(a)), torch.from_numpy(np.array(b)))


def _tensor(shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


# ------------------------------------------------------------------ to_tensor / grayscale / normalize


@pytest.mark.parametrize("mode", EIGHT_BIT_MODES + ["I;16", "I", "F"])
def test_to_tensor_pil_modes(mode: str) -> None:
    for wh in SIZES:
        img = _image(mode, wh, seed=len(mode))
        ref, ours = TF.to_tensor(img), hi._to_tensor(img)
        assert ours.dtype == ref.dtype and torch.equal(ours, ref), (mode, wh)


def test_to_tensor_numpy_and_default_dtype() -> None:
    rs = np.random.RandomState(0)
    arrays = [rs.randint(0, 256, (13, 7), dtype=np.uint8), rs.randint(0, 256, (13, 7, 3), dtype=np.uint8),
              rs.randint(0, 256, (5, 9, 4), dtype=np.uint8), rs.rand(6, 4, 3).astype(np.float32),
              rs.rand(6, 4).astype(np.float64), rs.randint(-9, 9, (3, 5, 2)).astype(np.int32),
              np.asfortranarray(rs.randint(0, 256, (11, 6, 3), dtype=np.uint8))]
    for a in arrays:
        ref, ours = TF.to_tensor(a), hi._to_tensor(a)
        assert ours.dtype == ref.dtype and torch.equal(ours, ref), (a.dtype, a.shape)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # 8-bit data goes to the default dtype, like torchvision
    try:
        for src in (_image("RGB", (37, 53)), arrays[1]):
            ref, ours = TF.to_tensor(src), hi._to_tensor(src)
            assert ours.dtype == ref.dtype == torch.float64 and torch.equal(ours, ref)
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK"])
def test_grayscale(mode: str) -> None:
    for wh in SIZES:
        img = _image(mode, wh)
        assert _pil_equal(hi._to_grayscale(img), TF.rgb_to_grayscale(img, num_output_channels=1))


def test_normalize() -> None:
    # the (mean, std) pairs preprocess derives from value ranges, plus uneven ones
    cases = [((0.5,) * 3, (0.5,) * 3), ((0.0,) * 3, (1.0,) * 3), ((0.1, 0.2, 0.3), (0.7, 0.11, 3.0))]
    for lo, hi_ in [(-1.0, 1.0), (0.0, 255.0), (-0.3, 2.7), (-2.0, 3.0)]:
        span = hi_ - lo
        cases.append(((-lo / span,) * 3, (1.0 / span,) * 3))
    for dtype in (torch.float32, torch.float64):
        for shape in ((3, 37, 53), (2, 3, 5, 1)):
            x = _tensor(shape, seed=shape[0], dtype=dtype) * 1.3 - 0.1
            for mean, std in cases:
                ref = TF.normalize(x, list(mean), list(std))
                ours = hi._normalize(x, list(mean), list(std))
                assert ours.dtype == ref.dtype and torch.equal(ours, ref), (dtype, mean, std)
    x = _tensor((1, 4, 4))
    assert torch.equal(hi._normalize(x, [0.25], [0.5]), TF.normalize(x, [0.25], [0.5]))
    with pytest.raises(ValueError, match="std"):
        hi._normalize(x, [0.0], [0.0])


# ------------------------------------------------------------------ resize


def _sizes_for(wh: tuple[int, int]) -> list:
    w, h = wh
    return [17, 64, 1, 3, min(w, h), [40], (h, w), (7, 9), (128, 96), (h * 2 + 1, max(w // 2, 1))]


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "1", "I", "F"])
@pytest.mark.parametrize("interpolation", list(MODES))
def test_pil_resize(mode: str, interpolation: str) -> None:
    for wh in SIZES:
        img = _image(mode, wh, seed=3)
        for size in _sizes_for(wh):
            tv_size = [size] if isinstance(size, int) else list(size)
            ref = TF.resize(img, tv_size, interpolation=MODES[interpolation])
            ours = hi._resize_image(img, size, interpolation)
            assert _pil_equal(ours, ref), (mode, wh, size, interpolation)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8, torch.float16])
def test_tensor_resize(interpolation: str, antialias: bool, dtype: torch.dtype) -> None:
    for w, h in SIZES:
        for shape in ((3, h, w), (1, h, w), (2, 3, h, w)):
            x = _tensor(shape, seed=w * h, dtype=dtype)
            for size in _sizes_for((w, h)):
                tv_size = [size] if isinstance(size, int) else list(size)
                ref = TF.resize(x, tv_size, interpolation=MODES[interpolation], antialias=antialias)
                ours = hi._resize_image(x, size, interpolation, antialias)
                assert ours.dtype == ref.dtype and torch.equal(ours, ref), (shape, size, dtype)


def test_tensor_lanczos_is_refused() -> None:
    with pytest.raises(ValueError, match="lanczos"):
        hi._resize_image(_tensor((3, 8, 8)), 4, "lanczos")


# ------------------------------------------------------------------ crops


def _crop_sizes(wh: tuple[int, int]) -> list:
    w, h = wh
    # smaller with even/odd margins (Python round() halves to even), equal, larger on one or both axes
    return [1, 8, min(w, h), (h, w), (h - 1, w), (max(h - 3, 1), max(w - 5, 1)), (h + 1, w), (h, w + 3),
            (h + 4, w + 7), (max(h // 2, 1), w + 2), 178, 256, [9], (1, 1)]


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "F"])
def test_center_crop_pil(mode: str) -> None:
    for wh in SIZES:
        img = _image(mode, wh, seed=5)
        for size in _crop_sizes(wh):
            tv_size = [size] if isinstance(size, int) else list(size)
            assert _pil_equal(hi._center_crop(img, size), TF.center_crop(img, tv_size)), (mode, wh, size)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_center_crop_tensor(dtype: torch.dtype) -> None:
    for w, h in SIZES:
        for shape in ((3, h, w), (1, h, w), (2, 3, h, w)):
            x = _tensor(shape, seed=7, dtype=dtype)
            for size in _crop_sizes((w, h)):
                tv_size = [size] if isinstance(size, int) else list(size)
                ref, ours = TF.center_crop(x, tv_size), hi._center_crop(x, size)
                assert ours.dtype == ref.dtype and torch.equal(ours, ref), (shape, size)


def test_crop_and_dimensions() -> None:
    for w, h in SIZES:
        img, x = _image("RGB", (w, h)), _tensor((3, h, w))
        assert hi._dimensions(img) == tuple(TF.get_dimensions(img))
        assert hi._dimensions(x) == tuple(TF.get_dimensions(x))
        assert hi._dimensions(x[0]) == tuple(TF.get_dimensions(x[0]))
        # inside, touching the edges, and overlapping any side (the windows our callers can ask for)
        boxes = [(0, 0, h, w), (h // 3, w // 4, max(h // 2, 1), max(w // 2, 1)), (-2, -3, h, w),
                 (1, 1, h + 2, w + 5), (-1, 0, h + 2, 1), (h - 1, w - 1, 4, 4)]
        for box in boxes:
            assert _pil_equal(hi._crop(img, *box), TF.crop(img, *box)), box
            assert torch.equal(hi._crop(x, *box), TF.crop(x, *box)), box


# ------------------------------------------------------------------ whole pipelines


def _tv_preprocess_one(img: Image.Image, policy: Preprocess) -> torch.Tensor:
    """The preprocessing as it was written with torchvision (the reference for ours)."""

    def resize(im, hw):
        size = [hw] if isinstance(hw, int) else list(hw)
        return TF.resize(im, size, interpolation=MODES[policy.interpolation], antialias=policy.antialias)

    def geometry(im):
        out_hw = policy.out_hw
        if policy.resize == "none":
            return im
        if policy.resize == "resize":
            return resize(im, out_hw)
        if policy.resize == "center_crop_resize":
            if policy.crop_size is None:
                _, h, w = TF.get_dimensions(im)
                s = min(w, h)
                im = TF.crop(im, (h - s) // 2, (w - s) // 2, s, s)
            else:
                im = TF.center_crop(im, list(hi._as_hw(policy.crop_size)))
            return resize(im, out_hw)
        if policy.load_size is None:
            if out_hw[0] == out_hw[1]:
                im = resize(im, out_hw[0])
            else:
                _, h, w = TF.get_dimensions(im)
                scale = max(out_hw[0] / h, out_hw[1] / w)
                im = resize(im, (max(out_hw[0], round(h * scale)), max(out_hw[1], round(w * scale))))
        else:
            im = resize(im, hi._as_hw(policy.load_size))
        return TF.center_crop(im, list(out_hw))

    if policy.grayscale:
        img = TF.rgb_to_grayscale(img, num_output_channels=1)
    x = TF.to_tensor(geometry(img)) if policy.antialias else geometry(TF.to_tensor(img))
    lo, hi_ = (float(v) for v in policy.value_range)
    if (lo, hi_) != (0.0, 1.0):
        span = hi_ - lo
        x = TF.normalize(x, [-lo / span] * x.shape[0], [1.0 / span] * x.shape[0])
    return x


def _policies() -> dict[str, Preprocess]:
    get_policy("stargan_v2")  # the families register their policies
    extra = {
        "tensor_nearest": Preprocess(size=(40, 24), resize="resize", interpolation="nearest", antialias=False),
        "tensor_bilinear": Preprocess(size=33, resize="resize", antialias=False),
        "tensor_bicubic_crop": Preprocess(size=96, resize="center_crop_resize", crop_size=(120, 250),
                                          interpolation="bicubic", antialias=False),
        "tensor_square": Preprocess(size=31, resize="center_crop_resize", antialias=False, value_range=(0.0, 1.0)),
        "tensor_load": Preprocess(size=64, resize="resize_center_crop", load_size=(70, 90), antialias=False,
                                  interpolation="bicubic", grayscale=True),
        "pil_nearest_big_crop": Preprocess(size=48, resize="center_crop_resize", crop_size=(301, 257),
                                           interpolation="nearest"),
        "pil_cover_rect": Preprocess(size=(60, 100), resize="resize_center_crop", value_range=(-0.3, 2.7)),
        "pil_short_side": Preprocess(size=50, resize="resize_center_crop", interpolation="lanczos"),
        "none_gray": Preprocess(size=8, resize="none", grayscale=True, value_range=(0.0, 255.0)),
    }
    return {**POLICIES, **extra}


@pytest.mark.parametrize("name", sorted(_policies()))
def test_preprocess_matches_torchvision_pipeline(name: str) -> None:
    policy = _policies()[name]
    # odd sizes, both orientations, one smaller than the 178/256 centre crops (zero padding), and one whose
    # odd margins around CenterCrop(178) (3 and 43 pixels) start it where round() and floor() disagree
    for wh in ((301, 218), (150, 200), (37, 53), (64, 64), (181, 221)):
        img = _image("RGB", wh, seed=wh[0])
        ref = _tv_preprocess_one(img, policy)
        ours = preprocess(img, policy)[0]
        assert ours.dtype == ref.dtype and torch.equal(ours, ref), (name, wh)


def _tv_half(img, params, load_size, crop_size, gray, flip):
    """The paired loader's half as it was written with torchvision."""
    if gray:
        img = TF.rgb_to_grayscale(img, num_output_channels=1)
    img = TF.resize(img, [load_size, load_size], interpolation=InterpolationMode.BICUBIC)
    x, y = params.crop_pos
    w, h = img.size
    if w > crop_size or h > crop_size:
        img = img.crop((x, y, x + crop_size, y + crop_size))
    if flip and params.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    t = TF.to_tensor(img)
    return TF.normalize(t, [0.5] * t.shape[0], [0.5] * t.shape[0])


@pytest.mark.parametrize("load_size,crop_size", [(286, 256), (64, 64), (37, 30), (53, 53)])
def test_aligned_pair_matches_torchvision(load_size: int, crop_size: int) -> None:
    ab = _image("RGB", (2 * 53 + 1, 53), seed=11)  # odd width: B gets the extra column
    for input_nc, output_nc, direction in ((3, 3, "AtoB"), (1, 3, "AtoB"), (3, 1, "BtoA"), (1, 1, "BtoA")):
        for flip_coin in (False, True):
            params = AlignedParams((load_size - crop_size, (load_size - crop_size) // 2), flip_coin)
            item = aligned_pair(ab, load_size=load_size, crop_size=crop_size, input_nc=input_nc,
                                output_nc=output_nc, direction=direction, flip=True, params=params)
            a, b = ab.crop((0, 0, 53, 53)), ab.crop((53, 0, 107, 53))
            a_gray = (output_nc if direction == "BtoA" else input_nc) == 1
            b_gray = (input_nc if direction == "BtoA" else output_nc) == 1
            assert torch.equal(item["A"], _tv_half(a, params, load_size, crop_size, a_gray, True))
            assert torch.equal(item["B"], _tv_half(b, params, load_size, crop_size, b_gray, True))


# ------------------------------------------------------------------ no torchvision import


def test_preprocessing_never_imports_torchvision() -> None:
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from PIL import Image
        import hubmodels.images as hi
        from hubmodels.bicyclegan.aligned import aligned_pair
        hi.get_policy("stargan_v2")  # registers every family's policies
        assert len(hi.POLICIES) >= 5, sorted(hi.POLICIES)
        rs = np.random.RandomState(0)
        img = Image.fromarray(rs.randint(0, 256, (150, 211, 3), dtype=np.uint8))
        for name in sorted(hi.POLICIES):
            for policy in (hi.POLICIES[name], hi.dataclasses.replace(hi.POLICIES[name], antialias=False,
                           interpolation="bicubic")):
                x = hi.preprocess(img, policy)
                assert x.ndim == 4 and x.dtype.is_floating_point
        pair = rs.randint(0, 256, (40, 80, 3), dtype=np.uint8)
        for nc in (1, 3):
            out = aligned_pair(pair, load_size=36, crop_size=32, input_nc=nc, output_nc=3)
            assert out["A"].shape == (nc, 32, 32) and out["B"].shape == (3, 32, 32)
        print(sorted(m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
