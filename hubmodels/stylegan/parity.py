"""Parity plugin of the StyleGAN room: a case names ``stylegan`` (v1, genforce's converted files) or
``stylegan2`` (stylegan2-ada or rosinality files); each has its own plugin, this one routes by the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import parity_v1, parity_v2

__all__ = ["load_case", "run_check"]

_PLUGINS = {"stylegan": parity_v1, "stylegan2": parity_v2}


def load_case(case_dir: Path, manifest: dict) -> tuple[Any, Any]:
    family = manifest.get("family")
    if family not in _PLUGINS:
        raise ValueError(f"{case_dir}: family {family!r} is not one of the StyleGAN room's {sorted(_PLUGINS)}")
    plugin = _PLUGINS[family]
    return plugin, plugin.load_case(case_dir, manifest)


def run_check(state: tuple[Any, Any], check: dict, inputs: dict) -> dict:
    plugin, inner = state
    return plugin.run_check(inner, check, inputs)
