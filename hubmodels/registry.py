"""Registries that make every family uniform: architectures, named configurations, family plugins.

Families register themselves at import time; lookups import the family package lazily so that
``import hubmodels`` stays cheap and a broken family cannot take the others down.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

# Converter/manifest family name -> the package that implements it (DESIGN.md contract 4).
FAMILY_PACKAGES: dict[str, str] = {
    "stargan_v2": "hubmodels.stargan_v2",
    "stargan": "hubmodels.stargan",
    "bicyclegan": "hubmodels.bicyclegan",
    "stylegan": "hubmodels.stylegan",
    "stylegan2": "hubmodels.stylegan",
    "semantic_stylegan": "hubmodels.semantic_stylegan",
}

# Space folder names, hyphenated (DESIGN.md contract 6).
FAMILY_SPACES: dict[str, str] = {
    "stargan_v2": "stargan-v2",
    "stargan": "stargan",
    "bicyclegan": "bicyclegan",
    "stylegan": "stylegan",
    "stylegan2": "stylegan",
    "semantic_stylegan": "semantic-stylegan",
}

ARCHITECTURES: dict[str, type] = {}


@dataclass(frozen=True)
class NamedConfig:
    name: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


CONFIGS: dict[str, NamedConfig] = {}


class UnknownFamilyError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


def register_architecture(cls: type) -> None:
    ARCHITECTURES[cls.architecture] = cls


def register_config(name: str, cls: type, description: str = "", **kwargs: Any) -> None:
    CONFIGS[name] = NamedConfig(name=name, cls=cls, kwargs=dict(kwargs), description=description)


def family_package(family: str):
    """Import and return the package implementing ``family``."""
    if family not in FAMILY_PACKAGES:
        known = ", ".join(sorted(FAMILY_PACKAGES))
        raise UnknownFamilyError(f"unknown family {family!r}; known families: {known}")
    module = FAMILY_PACKAGES[family]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and module.startswith(err.name):
            raise UnknownFamilyError(
                f"family {family!r} is not implemented yet in this version of hubmodels ({module} is missing)"
            ) from err
        raise


def family_module(family: str, submodule: str):
    """Import ``<family package>.<submodule>`` (e.g. ``parity``, ``convert``, ``bench``)."""
    package = family_package(family)
    name = f"{package.__name__}.{submodule}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            raise UnknownFamilyError(f"family {family!r} has no {submodule} support ({name} is missing)") from err
        raise


def load_all_families() -> None:
    """Import every implemented family so that its architectures and configurations are registered."""
    for module in sorted(set(FAMILY_PACKAGES.values())):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if not (err.name and module.startswith(err.name)):
                raise


def architecture_class(architecture: str) -> type:
    if architecture not in ARCHITECTURES:
        load_all_families()
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES)) or "none"
        raise UnknownFamilyError(f"unknown architecture {architecture!r}; known architectures: {known}")
    return ARCHITECTURES[architecture]


def list_configs() -> list[NamedConfig]:
    load_all_families()
    return [CONFIGS[k] for k in sorted(CONFIGS)]


def create_model(name: str, **overrides: Any):
    """Build a freshly initialised model from a named configuration, e.g. ``stargan_v2_afhq_256``."""
    if name not in CONFIGS:
        load_all_families()
    if name not in CONFIGS:
        known = ", ".join(sorted(CONFIGS)) or "none"
        raise KeyError(f"unknown configuration {name!r}; known configurations: {known}")
    cfg = CONFIGS[name]
    return cfg.cls(**{**cfg.kwargs, **overrides})
