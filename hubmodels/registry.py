"""The one place families are registered, and the lookups every layer goes through.

Families outside this package register by naming their spec modules in ``HUBMODELS_FAMILIES``
(comma-separated), read when the specs are first loaded.

:data:`FAMILY_SPECS` names each family's spec module (``hubmodels/<room>/spec.py`` defining ``SPEC``).
Specs are imported lazily, so ``import hubmodels`` stays cheap and a broken family cannot take the
others down: a spec that fails to import is reported by :func:`spec_errors` and skipped elsewhere.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .family import FamilySpec, OfficialConfig

# Adding a family: write its room (CONTRIBUTING.md) and add its spec module here.
FAMILY_SPECS: tuple[str, ...] = (
    "hubmodels.stargan_v2.spec",
    "hubmodels.stargan.spec",
    "hubmodels.bicyclegan.spec",
    "hubmodels.stylegan.spec",
    "hubmodels.semantic_stylegan.spec",
)

# HubModels that are not families (no spec, no Space): their classes register their architecture when their
# module is imported, so hubmodels.load can dispatch to them from a cold start.
NON_FAMILY_MODULES: tuple[str, ...] = ("hubmodels.metrics.evaluator",)

ARCHITECTURES: dict[str, type] = {}
_SPECS: dict[str, "FamilySpec"] | None = None
_ERRORS: dict[str, str] = {}


class UnknownFamilyError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


def register_architecture(cls: type) -> None:
    ARCHITECTURES[cls.architecture] = cls


def families() -> list["FamilySpec"]:
    """Every registered family that imports, in registration order."""
    global _SPECS
    if _SPECS is None:
        specs: dict[str, FamilySpec] = {}
        # HUBMODELS_FAMILIES: extra spec modules (comma-separated), for families that live outside this package
        extra = tuple(m.strip() for m in os.environ.get("HUBMODELS_FAMILIES", "").split(",") if m.strip())
        for module in FAMILY_SPECS + extra:
            try:
                spec = importlib.import_module(module).SPEC
            except Exception as err:  # noqa: BLE001 - one broken family must not hide the others
                _ERRORS[module] = f"{type(err).__name__}: {err}"
                continue
            specs[spec.name] = spec
        _SPECS = specs
    return list(_SPECS.values())


def spec_errors() -> dict[str, str]:
    """Spec modules that failed to import, with the error (the conformance test reports them)."""
    families()
    return dict(_ERRORS)


def converter_families() -> list[str]:
    """Every converter / manifest family name (``stargan_v2``, ``stylegan``, ``stylegan2``, ...)."""
    return sorted(name for spec in families() for name in spec.converter_families)


def family_spec(name: str) -> "FamilySpec":
    """The spec of a room (``stargan_v2``) or of one of its converter families (``stylegan2``)."""
    for spec in families():
        if name == spec.name or name in spec.converter_families:
            return spec
    known = ", ".join(converter_families()) or "none"
    raise UnknownFamilyError(f"unknown family {name!r}; known families: {known}")


def space_spec(space: str) -> "FamilySpec":
    """The spec whose Space folder is ``spaces/<space>/``."""
    for spec in families():
        if spec.space == space:
            return spec
    known = ", ".join(s.space for s in families()) or "none"
    raise UnknownFamilyError(f"no family serves the Space {space!r}; Spaces: {known}")


def architecture_class(architecture: str) -> type:
    if architecture not in ARCHITECTURES:
        families()  # importing the specs registers their classes
    if architecture not in ARCHITECTURES:
        for module in NON_FAMILY_MODULES:
            importlib.import_module(module)
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES)) or "none"
        raise UnknownFamilyError(f"unknown architecture {architecture!r}; known architectures: {known}")
    return ARCHITECTURES[architecture]


def list_configs() -> list["OfficialConfig"]:
    """The released configurations of every family, by name."""
    return sorted((cfg for spec in families() for cfg in spec.configs), key=lambda c: c.name)


def create_model(name: str, **overrides: Any):
    """Build a freshly initialised model from a named configuration, e.g. ``stargan_v2_afhq_256``."""
    for cfg in list_configs():
        if cfg.name == name:
            return cfg.model_class(**{**cfg.kwargs, **overrides})
    known = ", ".join(c.name for c in list_configs()) or "none"
    raise KeyError(f"unknown configuration {name!r}; known configurations: {known}")


def _reset_for_tests() -> None:
    """Forget imported specs (tests that register a fake family call this around it)."""
    global _SPECS
    _SPECS = None
    _ERRORS.clear()
