"""Tests for hubmodels.images: loading/validation, official preprocessing, output helpers."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.utils import make_grid, save_image

from hubmodels.images import (
    MAX_SIDE,
    MIN_SIDE,
    POLICIES,
    ImageInputError,
    Preprocess,
    get_policy,
    image_grid,
    load_image,
    preprocess,
    register_policy,
    split_pair,
    to_pil,
)


def _rgb(h: int = 20, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h: int, w: int, seed: int = 0) -> Image.Image:
    """A photo-like (smooth + texture) RGB image, so resampling filters differ visibly."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], -1) * 200
    arr = np.clip(base + rs.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_header(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# ---------------------------------------------------------------- loading


def test_all_input_kinds_give_the_same_pixels(tmp_path: Path) -> None:
    arr = _rgb()
    pil = Image.fromarray(arr, "RGB")
    path = tmp_path / "x.png"
    pil.save(path)
    data = path.read_bytes()
    t = torch.from_numpy(arr)
    inputs = {
        "str path": str(path),
        "Path": path,
        "bytes": data,
        "bytearray": bytearray(data),
        "file object": io.BytesIO(data),
        "PIL": pil,
        "numpy uint8": arr,
        "numpy float": arr.astype(np.float64) / 255.0,
        "numpy CHW": arr.transpose(2, 0, 1),
        "numpy uint16": arr.astype(np.uint16) * 257,
        "tensor HWC": t,
        "tensor CHW": t.permute(2, 0, 1),
        "tensor 1xCxHxW": t.permute(2, 0, 1)[None],
        "tensor float [0,1]": t.permute(2, 0, 1).float() / 255,
        "tensor fp16 [0,1]": (t.permute(2, 0, 1).float() / 255).half(),
    }
    for label, src in inputs.items():
        out = load_image(src)
        assert out.mode == "RGB" and out.size == (24, 20), label
        got = np.asarray(out)
        if label == "tensor fp16 [0,1]":  # fp16 has 11 bits of mantissa: off by at most one level
            assert np.abs(got.astype(int) - arr).max() <= 1, label
        else:
            assert np.array_equal(got, arr), label
    tanh = t.permute(2, 0, 1).float() / 127.5 - 1
    assert np.array_equal(np.asarray(load_image(tanh, value_range=(-1, 1))), arr)
    with pytest.raises(ImageInputError, match=r"value_range=\(-1, 1\)"):
        load_image(tanh)


def test_grayscale_and_bool_arrays() -> None:
    g = _rgb()[:, :, 0]
    for src in (g, g[:, :, None], torch.from_numpy(g)[None]):
        assert np.array_equal(np.asarray(load_image(src)), np.repeat(g[:, :, None], 3, 2))
    mask = np.zeros((10, 12), bool)
    mask[:, 6:] = True
    out = np.asarray(load_image(mask))
    assert out[:, :6].max() == 0 and out[:, 6:].min() == 255


def test_palette_with_transparency_is_composited_on_white() -> None:
    p = Image.new("P", (16, 16), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, index 1 blue
    p.paste(1, (8, 0, 16, 16))
    p.info["transparency"] = 0  # red index is transparent
    out = np.asarray(load_image(_png_bytes(p)))
    assert (out[:, :8] == 255).all()  # transparent -> white, not red and not black
    assert (out[:, 8:] == [0, 0, 255]).all()


def test_la_and_rgba_are_composited_on_white() -> None:
    la = np.zeros((10, 10, 2), np.uint8)
    la[:, :, 1] = 0
    la[:, 5:, 1] = 255
    la[0, 0, 1] = 128
    out = np.asarray(load_image(_png_bytes(Image.fromarray(la, "LA"))))
    assert (out[:, 5:] == 0).all()  # opaque black stays black
    assert (out[1:, :5] == 255).all()  # fully transparent -> white
    assert 126 <= out[0, 0, 0] <= 129  # half-transparent black over white
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 5:, 3] = 255
    for src in (_png_bytes(Image.fromarray(rgba, "RGBA")), rgba, torch.from_numpy(rgba).permute(2, 0, 1)):
        out = np.asarray(load_image(src))
        assert (out[:, :5] == 255).all() and (out[:, 5:] == [200, 0, 0]).all()


def test_16bit_png_keeps_its_gradient() -> None:
    v = np.linspace(0, 65535, 64).round().astype(np.uint16)
    img16 = Image.fromarray(np.tile(v, (16, 1)))
    assert img16.mode == "I;16"
    out = np.asarray(load_image(_png_bytes(img16)))[:, :, 0]
    row = out[0].astype(int)
    # Image.convert('L') would clip nearly everything to 255; we rescale.
    assert row[0] == 0 and row[-1] == 255
    assert (np.diff(row) >= 0).all() and len(np.unique(row)) == 64
    assert np.abs(row - v / 257.0).max() <= 0.5 + 1e-9
    # mode I (32-bit) holding 16-bit data, and mode F in [0, 1]
    as_i = Image.fromarray(np.tile(v, (16, 1)).astype(np.int32))
    assert as_i.mode == "I"
    assert np.array_equal(np.asarray(load_image(as_i))[:, :, 0], out)
    as_f = Image.fromarray(np.tile(v / 65535.0, (16, 1)).astype(np.float32))
    assert np.abs(np.asarray(load_image(as_f))[0, :, 0].astype(int) - row).max() <= 1


def test_cmyk_converts_to_rgb() -> None:
    cmyk = Image.new("CMYK", (12, 12), (0, 255, 255, 0))  # pure red in CMYK
    buf = io.BytesIO()
    cmyk.save(buf, "TIFF")
    for src in (cmyk, buf.getvalue()):
        out = np.asarray(load_image(src))
        assert (out == [255, 0, 0]).all()


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide, 20 high
    arr[:, :20] = [255, 0, 0]  # left half red
    arr[:, 20:] = [0, 0, 255]  # right half blue
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(path).size == (40, 20)
    out = load_image(path)
    assert out.size == (20, 40)  # displayed portrait
    px = np.asarray(out).astype(int)
    # 90 degrees clockwise: the stored left half ends up on top
    assert px[5, 10, 0] > 200 and px[5, 10, 2] < 60
    assert px[35, 10, 2] > 200 and px[35, 10, 0] < 60


# ------------------------------------------------------------- rejections


def test_decompression_bomb_is_refused_from_the_header() -> None:
    limit_before = Image.MAX_IMAGE_PIXELS
    # A genuine 1-bit 30000x30000 PNG: valid zlib stream of all-zero rows.
    side, row = 30000, 1 + 30000 // 8
    comp = zlib.compressobj(9)
    block = b"\x00" * (row * 1000)
    idat = b"".join(comp.compress(block) for _ in range(side // 1000)) + comp.flush()
    bomb = _png_with_header(side, side, 1, 0, idat)
    assert len(bomb) < 200_000  # ~0.1 MB on disk, 900 megapixels decoded
    t0 = time.perf_counter()
    with pytest.raises(ImageInputError, match="decompression bomb") as info:
        load_image(bomb, name="upload")
    assert time.perf_counter() - t0 < 1.0
    assert "upload" in str(info.value) and "4096x4096" in str(info.value)
    assert Image.MAX_IMAGE_PIXELS == limit_before  # nothing global changed


def test_bomb_refused_even_with_pillow_limit_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Some apps set Image.MAX_IMAGE_PIXELS = None; our own header check must still hold.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    fake = _png_with_header(30000, 30000, 1, 0, b"never decoded")
    t0 = time.perf_counter()
    with pytest.raises(ImageInputError, match=r"30000x30000.*largest accepted size is 4096x4096"):
        load_image(fake)
    assert time.perf_counter() - t0 < 0.5


def test_oversized_header_is_refused_before_decoding() -> None:
    # 5000x3000 is under Pillow's own bomb limit; the IDAT is garbage, so a
    # size message (not a decode error) proves the pixels were never decoded.
    fake = _png_with_header(5000, 3000, 8, 2, b"not zlib at all")
    with pytest.raises(ImageInputError, match=r"5000x3000.*largest accepted size is 4096x4096"):
        load_image(fake)


def test_size_limits() -> None:
    with pytest.raises(ImageInputError, match=r"8x4097.*4096x4096"):
        load_image(np.zeros((4097, 8), np.uint8))
    with pytest.raises(ImageInputError, match=r"5000x8"):
        load_image(_png_bytes(Image.new("L", (5000, 8))))
    with pytest.raises(ImageInputError, match=r"7x100.*smallest accepted size is 8x8"):
        load_image(Image.new("RGB", (7, 100)))
    assert load_image(np.zeros((MIN_SIDE, MAX_SIDE), np.uint8)).size == (MAX_SIDE, MIN_SIDE)


def test_truncated_text_and_missing_files(tmp_path: Path) -> None:
    data = _png_bytes(Image.fromarray(_rgb(64, 64)))
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a picture\n" * 10)
    with pytest.raises(ImageInputError, match=r"not a recognised image file; accepted formats: PNG, JPEG"):
        load_image(text)
    with pytest.raises(ImageInputError, match="not an existing file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageInputError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageInputError, match="empty"):
        load_image(b"")


def test_bad_arrays_and_types() -> None:
    nan = np.random.rand(16, 16, 3)
    nan[3, 4, 0] = np.nan
    with pytest.raises(ImageInputError, match="1 NaN"):
        load_image(nan, name="source image")
    with pytest.raises(ImageInputError, match="infinite"):
        load_image(torch.full((3, 16, 16), float("inf")))
    with pytest.raises(ImageInputError, match="empty"):
        load_image(np.zeros((0, 16, 3), np.uint8))
    with pytest.raises(ImageInputError, match="dtype int64.*uint8"):
        load_image(np.zeros((16, 16), np.int64))
    with pytest.raises(ImageInputError, match="dtype int32"):
        load_image(torch.zeros(3, 16, 16, dtype=torch.int32))
    with pytest.raises(ImageInputError, match="missing"):
        load_image(None)
    with pytest.raises(ImageInputError, match="unsupported type dict"):
        load_image({"a": 1})
    with pytest.raises(ImageInputError, match=r"batch of 2"):
        load_image(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ImageInputError, match=r"shape \(16, 16, 5\)"):
        load_image(np.zeros((16, 16, 5), np.uint8))
    with pytest.raises(ImageInputError, match=r"\[0, 1\]"):
        load_image(np.full((16, 16), 3.0))


# ------------------------------------------------------------- policies


def _official(policy_name: str, img: Image.Image) -> torch.Tensor:
    """The official test-time pipelines, written the way each repository writes them."""
    norm3 = T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    if policy_name == "stargan_v2":  # core/data_loader.py get_test_loader
        tf = T.Compose([T.Resize([256, 256]), T.ToTensor(), norm3])
    elif policy_name == "stargan_celeba":  # data_loader.py get_loader, mode='test'
        tf = T.Compose([T.CenterCrop(178), T.Resize(128), T.ToTensor(), norm3])
    elif policy_name == "stargan_rafd":
        tf = T.Compose([T.CenterCrop(256), T.Resize(128), T.ToTensor(), norm3])
    elif policy_name in ("bicyclegan", "bicyclegan_256", "bicyclegan_maps", "bicyclegan_edges"):
        load, crop = {"bicyclegan": (286, 256), "bicyclegan_256": (256, 256),
                      "bicyclegan_maps": (512, 512), "bicyclegan_edges": (256, 256)}[policy_name]
        gray = policy_name == "bicyclegan_edges"
        x = (load - crop) // 2  # base_dataset.__crop at the centre position
        steps = [T.Grayscale(1)] if gray else []
        steps += [T.Resize([load, load], Image.BICUBIC),
                  T.Lambda(lambda im: im.crop((x, x, x + crop, x + crop))),
                  T.ToTensor(),
                  T.Normalize((0.5,), (0.5,)) if gray else norm3]
        tf = T.Compose(steps)
    elif policy_name == "stylegan":  # stylegan2-ada-pytorch projector.py
        def tf(im: Image.Image) -> torch.Tensor:
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
            im = im.resize((1024, 1024), Image.LANCZOS)
            return norm3(T.ToTensor()(im))
    elif policy_name == "semantic_stylegan":  # visualize/invert.py
        def tf(im: Image.Image) -> torch.Tensor:
            return norm3(T.ToTensor()(im.resize((512, 512), resample=Image.LANCZOS)))
    else:
        raise AssertionError(policy_name)
    return tf(img)


@pytest.mark.parametrize(
    "policy_name",
    ["stargan_v2", "stargan_celeba", "stargan_rafd", "bicyclegan", "bicyclegan_256", "bicyclegan_edges",
     "bicyclegan_maps", "stylegan", "semantic_stylegan"],
)
def test_policies_match_official_pipelines(policy_name: str) -> None:
    # 301x218 (odd margins) like a CelebA aligned photo widened; also a small
    # image where CenterCrop(256) must zero-pad the same way.
    for img in (_smooth(218, 301, seed=1), _smooth(150, 200, seed=2)):
        ref = _official(policy_name, img)
        ours = preprocess(img, policy_name)
        assert ours.shape == (1, *ref.shape)
        assert ours.dtype == torch.float32
        assert (ours[0] - ref).abs().max().item() <= 1e-6, policy_name


def test_policy_interpolation_matters() -> None:
    """The exactness test above would be vacuous if the filters agreed anyway."""
    img = _smooth(218, 301, seed=1)
    bilinear = preprocess(img, Preprocess(size=256, resize="resize", interpolation="bilinear"))
    bicubic = preprocess(img, Preprocess(size=256, resize="resize", interpolation="bicubic"))
    assert (bilinear - bicubic).abs().max() > 0.02
    celeba = preprocess(img, "stargan_celeba")
    plain = preprocess(img, get_policy("stargan_v2", 128))
    assert (celeba - plain).abs().mean() > 0.01  # CenterCrop(178) framing is really applied


def test_preprocess_batches_ranges_and_devices() -> None:
    imgs = [_smooth(64, 80, seed=s) for s in range(3)]
    out = preprocess(imgs, "stargan_v2", dtype=torch.float64)
    assert out.shape == (3, 3, 256, 256) and out.dtype == torch.float64
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out[1].float(), preprocess(imgs[1], "stargan_v2")[0])
    batch = torch.stack([T.ToTensor()(im.resize((32, 32))) for im in imgs])
    assert preprocess(batch, get_policy("stargan_v2", 32)).shape == (3, 3, 32, 32)
    unit = preprocess(imgs[0], Preprocess(size=(48, 64), resize="resize", value_range=(0.0, 1.0)))
    tanh = preprocess(imgs[0], Preprocess(size=(48, 64), resize="resize"))
    assert unit.shape == (1, 3, 48, 64)
    assert torch.allclose(unit * 2 - 1, tanh, atol=1e-6)
    no_aa = preprocess(imgs[0], Preprocess(size=16, resize="resize", antialias=False))
    aa = preprocess(imgs[0], Preprocess(size=16, resize="resize"))
    assert no_aa.shape == aa.shape and not torch.allclose(no_aa, aa, atol=1e-3)
    with pytest.raises(ImageInputError, match="different shapes"):
        preprocess([imgs[0], _smooth(40, 40)], Preprocess(size=8, resize="none"))
    with pytest.raises(ImageInputError, match="image 1 is 4x4"):
        preprocess([imgs[0], np.zeros((4, 4), np.uint8)], "stargan_v2")


def test_policy_registry() -> None:
    with pytest.raises(KeyError, match="known policies: .*stargan_v2") as info:
        get_policy("stargan_v3")
    assert isinstance(info.value, ImageInputError)
    assert get_policy("StarGAN-v2") is POLICIES["stargan_v2"]
    bigger = get_policy("bicyclegan", 512)
    assert bigger.out_hw == (512, 512) and bigger.load_size == 572
    assert get_policy("stargan_celeba", 256).crop_size == 178
    custom = Preprocess(size=(64, 32), resize="resize", value_range=(0.0, 1.0))
    register_policy("test_custom_policy", custom)
    try:
        assert get_policy("test_custom_policy") == custom
        with pytest.raises(ValueError, match="overwrite=True"):
            register_policy("test_custom_policy", custom.with_size(8))
    finally:
        POLICIES.pop("test_custom_policy")
    with pytest.raises(ValueError):
        Preprocess(size=0, resize="resize")
    with pytest.raises(ValueError):
        Preprocess(size=8, resize="stretch")  # type: ignore[arg-type]


# ---------------------------------------------------------------- output


def test_to_pil_round_trip_and_save_image_equivalence(tmp_path: Path) -> None:
    arr = _rgb(24, 32, seed=3)
    x = preprocess(arr, Preprocess(size=8, resize="none"))
    (back,) = to_pil(x)
    assert np.array_equal(np.asarray(back), arr)
    assert np.array_equal(np.asarray(to_pil(x[0])[0]), arr)
    # Out-of-range values are clamped exactly as torchvision.utils.save_image does.
    y = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.5
    ours = to_pil(y)
    for i in range(2):
        path = tmp_path / f"ref{i}.png"
        save_image(y[i], path, normalize=True, value_range=(-1, 1))
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(ours[i]))
    # one channel, [0, 1] range, uint8 passthrough
    (gray,) = to_pil(torch.linspace(0, 1, 64).reshape(1, 1, 8, 8), value_range=(0, 1))
    assert gray.mode == "L" and np.asarray(gray)[0, 0] == 0 and np.asarray(gray)[-1, -1] == 255
    u8 = torch.from_numpy(arr).permute(2, 0, 1)
    assert np.array_equal(np.asarray(to_pil(u8)[0]), arr)
    with pytest.raises(ValueError, match="NaN"):
        to_pil(torch.full((3, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="C in"):
        to_pil(torch.zeros(2, 5, 8, 8))


def test_image_grid_matches_make_grid_layout() -> None:
    imgs = [Image.fromarray(_rgb(10, 12, seed=s)) for s in range(5)]
    grid = image_grid(imgs, nrow=3, padding=2, pad_value=255)
    assert grid.size == (3 * (12 + 2) + 2, 2 * (10 + 2) + 2)
    ref = make_grid(torch.stack([T.ToTensor()(im) for im in imgs]), nrow=3, padding=2, pad_value=1.0)
    ref_u8 = ref.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(grid), ref_u8)
    single = image_grid(imgs[:2], nrow=4, padding=0)
    assert single.size == (24, 10)
    mixed = image_grid([imgs[0], Image.new("L", (6, 4), 0)], nrow=2, padding=1, pad_value=(0, 255, 0))
    assert mixed.size == (2 * 13 + 1, 12) and mixed.getpixel((0, 0)) == (0, 255, 0)


def test_split_pair() -> None:
    ab = np.zeros((16, 33, 3), np.uint8)  # odd width: B gets the extra column, as in AlignedDataset
    ab[:, :16] = [255, 0, 0]
    ab[:, 16:] = [0, 255, 0]
    a, b = split_pair(ab)
    assert a.size == (16, 16) and b.size == (17, 16)
    assert (np.asarray(a) == [255, 0, 0]).all() and (np.asarray(b) == [0, 255, 0]).all()
    b2, a2 = split_pair(Image.fromarray(ab), direction="BtoA")
    assert np.array_equal(np.asarray(a2), np.asarray(a)) and np.array_equal(np.asarray(b2), np.asarray(b))
    with pytest.raises(ImageInputError, match="each half"):
        split_pair(np.zeros((16, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="AtoB"):
        split_pair(ab, direction="left")  # type: ignore[arg-type]
