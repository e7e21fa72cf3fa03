"""Data: the procedural SynthFaces dataset and loaders for the official dataset layouts.

Names are imported lazily (PEP 562) so that ``python -m hubmodels.data.synthfaces`` does not
import its own module twice.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    **{name: "synthfaces" for name in (
        "ATTRIBUTES", "ATTRIBUTE_FILE_NAMES", "DOMAINS", "MASK_CLASSES", "MASK_PALETTE", "Face", "SynthFaces",
        "benchmark", "colorize_mask", "export", "render_face", "render_params", "sample_params")},
    **{name: "layouts" for name in (
        "AttributeFolder", "DomainFolder", "ImageFolder", "MaskFolder", "PairedFolder", "open_layout",
        "read_attribute_file")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
