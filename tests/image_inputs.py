"""Image files for the bad-input matrix of every Space: a decompression bomb and the colour modes people upload.

One place makes them, so each Space's test sends the same files: a bomb must be refused with a message,
every mode must be accepted and converted (DESIGN.md: bad input gets a clear error, good input of an odd
kind just works).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ODD_MODES", "write_bomb", "write_odd_modes"]

# mode name -> file name; all should load as RGB
ODD_MODES = ("gray", "rgba", "gray16", "cmyk", "palette")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_bomb(folder: Path, side: int = 30000) -> str:
    """A genuine 1-bit PNG of side x side pixels (900 megapixels decoded) that is ~0.1 MB on disk."""
    row = 1 + side // 8
    comp = zlib.compressobj(9)
    block = b"\x00" * (row * 1000)
    idat = b"".join(comp.compress(block) for _ in range(side // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path = Path(folder) / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return str(path)


def write_odd_modes(folder: Path, size: int = 48) -> dict[str, str]:
    """The same face-sized gradient saved as 8-bit gray, RGBA, 16-bit gray, CMYK JPEG and a palette PNG."""
    folder = Path(folder)
    ramp = np.linspace(0, 255, size, dtype=np.float64)
    rgb = np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)),
                    np.full((size, size), 128.0)], -1).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    paths = {m: folder / f"{m}.png" for m in ODD_MODES}
    paths["cmyk"] = folder / "cmyk.jpg"
    img.convert("L").save(paths["gray"])
    img.convert("RGBA").save(paths["rgba"])
    Image.fromarray(rgb[..., 0].astype("<u2") * 257).save(paths["gray16"])
    img.convert("CMYK").save(paths["cmyk"], "JPEG")
    img.convert("P", palette=Image.Palette.ADAPTIVE).save(paths["palette"])
    for mode, p in paths.items():  # the files really are what their names say
        with Image.open(p) as check:
            assert check.mode == {"gray": "L", "rgba": "RGBA", "gray16": "I;16", "cmyk": "CMYK",
                                  "palette": "P"}[mode], (mode, check.mode)
    return {m: str(p) for m, p in paths.items()}
