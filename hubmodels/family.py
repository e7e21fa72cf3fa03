"""The family contract (DESIGN.md contract 8): what one family's room offers the rest of hubmodels.

Every layer (CLI, parity, bench, Spaces, bundling, launcher, dashboard, training, evaluation) learns what a
family offers from its :class:`FamilySpec`, registered once in :data:`hubmodels.registry.FAMILY_SPECS`.
Generic code never names a family. :func:`check_spec` lists what a spec lacks; the conformance test runs
it over every registered family, so a new family learns from the test what is still missing.

A family room ``hubmodels/<name>/`` provides a ``spec.py`` with ``SPEC = FamilySpec(...)``:

* ``converter_families``: the manifest / converter names it handles (two versions of an
  architecture may be two names of one room, and stay distinct: ``convert`` is told which one was asked for);
* ``model_classes``: its :class:`~hubmodels.hub.HubModel` subclasses (their ``family`` is one of the names);
* ``space``: its Gradio Space folder ``spaces/<space>/``;
* ``preprocessing``: the official test-time input policy (:class:`~hubmodels.images.Preprocess`);
* ``configs``: the released configurations, each with where its official weights come from;
* ``convert(family, files, config)``: official checkpoint file(s) -> a model;
* ``parity``: the plugin of :mod:`hubmodels.parity` (``load_case`` and ``run_check``);
* ``bench_cases(args)``: the :class:`~hubmodels.bench.BenchCase` list of ``python -m hubmodels.bench``;
* ``sample(model, seed)``: the picture of a model's card (``sample.png``) and of the dashboard;
* ``test_config``: constructor arguments of a tiny model of this family, for smoke tests;
* ``training``: its training module (``python -m <training>``);
* ``translate(model, image, seeds)`` for image-conditioned families and/or ``generate(model, seeds, psi)``
  for generators: ``(caption, PIL image)`` pairs, what the dashboard shows for one model in its
  "Translate an image" and "Generate" modes (shared seeds across models: one seed, one sample);
* ``evaluate(model, judge, n, seed)`` (optional): the family's metrics on ``n`` held-out inputs, as
  ``{name: hubmodels.metrics.suite.Score(value, description)}``; ``judge`` brings the SynthFaces evaluator,
  the FD/KID feature extractor and the diversity distance (:mod:`hubmodels.metrics.suite`), so every family's
  numbers are computed the same way. ``python -m hubmodels.evaluate`` runs it.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from PIL import Image

    from .hub import HubModel
    from .images import Preprocess

__all__ = ["OfficialConfig", "FamilySpec", "ParityPlugin", "check_spec"]

REPO_ROOT = Path(__file__).resolve().parents[1]


class ParityPlugin(Protocol):
    """What :func:`hubmodels.parity.run_case` calls (a module with these two functions qualifies)."""

    def load_case(self, case_dir: Path, manifest: dict) -> Any: ...

    def run_check(self, state: Any, check: dict, inputs: dict) -> dict: ...


@dataclass(frozen=True)
class OfficialConfig:
    """A released configuration: ``hubmodels.create_model(name)`` builds it (random weights) and
    ``weights`` says where its official files come from, for ``python -m hubmodels convert``."""

    name: str
    model_class: type
    kwargs: Mapping[str, Any]
    description: str
    weights: str


@dataclass(frozen=True)
class FamilySpec:
    name: str
    title: str
    converter_families: tuple[str, ...]
    model_classes: tuple[type, ...]
    space: str
    preprocessing: "Preprocess"
    configs: tuple[OfficialConfig, ...]
    convert: Callable[[str, Sequence[Path], str | None], "HubModel"]
    parity: ParityPlugin
    bench_cases: Callable[[Any], list]
    sample: Callable[["HubModel", int], "Image.Image"]
    test_config: Mapping[str, Any]
    training: str
    translate: Callable[["HubModel", "Image.Image", Sequence[int]], list[tuple[str, "Image.Image"]]] | None = None
    generate: Callable[["HubModel", Sequence[int], float], list[tuple[str, "Image.Image"]]] | None = None
    # (model, judge, n, seed) -> {metric name: Score(value, description)}; see hubmodels.metrics.suite
    evaluate: Callable[["HubModel", Any, int, int], Mapping[str, Any]] | None = None
    paper: str = ""
    official_code: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def space_dir(self) -> Path:
        return REPO_ROOT / "spaces" / self.space

    def model_class(self, family: str | None = None) -> type:
        """The class of converter family ``family`` (default: the first)."""
        family = family or self.converter_families[0]
        for cls in self.model_classes:
            if getattr(cls, "family", None) == family:
                return cls
        raise KeyError(f"{self.name}: no model class for family {family!r}")

    def config(self, name: str) -> OfficialConfig:
        for cfg in self.configs:
            if cfg.name == name:
                return cfg
        raise KeyError(f"unknown {self.title} configuration {name!r}; known: {', '.join(c.name for c in self.configs)}")


def check_spec(spec: Any) -> list[str]:
    """Everything a registered spec lacks or gets wrong, as sentences a new family's author can act on.

    Cheap checks only (no model is built at full size); the conformance test adds the expensive ones.
    """
    from .hub import HubModel
    from .images import Preprocess

    if not isinstance(spec, FamilySpec):
        return [f"SPEC is a {type(spec).__name__}, not a hubmodels.family.FamilySpec"]
    problems: list[str] = []
    who = f"family {spec.name!r}"
    if not spec.converter_families:
        problems.append(f"{who}: converter_families is empty (name the manifest families it converts)")
    if not spec.model_classes:
        problems.append(f"{who}: model_classes is empty")
    for cls in spec.model_classes:
        if not (isinstance(cls, type) and issubclass(cls, HubModel)):
            problems.append(f"{who}: {cls!r} in model_classes is not a HubModel subclass")
    families = {getattr(c, "family", None) for c in spec.model_classes}
    for fam in spec.converter_families:
        if fam not in families:
            problems.append(f"{who}: no model class declares family={fam!r}")
    for fam in families - set(spec.converter_families):
        problems.append(f"{who}: model class family {fam!r} is not in converter_families")
    for required in ("app.py", "README.md", "requirements.txt"):
        if not (spec.space_dir / required).is_file():
            problems.append(f"{who}: Space file spaces/{spec.space}/{required} is missing")
    if not isinstance(spec.preprocessing, Preprocess):
        problems.append(f"{who}: preprocessing must be a hubmodels.images.Preprocess")
    if not spec.configs:
        problems.append(f"{who}: no released configuration in configs")
    for cfg in spec.configs:
        if cfg.model_class not in spec.model_classes:
            problems.append(f"{who}: configuration {cfg.name!r} builds {cfg.model_class!r}, not one of model_classes")
        if not cfg.weights.strip():
            problems.append(f"{who}: configuration {cfg.name!r} does not say where its official weights come from")
    for name in ("convert", "bench_cases", "sample"):
        if not callable(getattr(spec, name)):
            problems.append(f"{who}: {name} is not callable")
    if callable(spec.convert) and len(inspect.signature(spec.convert).parameters) < 3:
        problems.append(f"{who}: convert must take (family, files, config)")
    for name in ("load_case", "run_check"):
        if not callable(getattr(spec.parity, name, None)):
            problems.append(f"{who}: the parity plugin has no {name}()")
    if not spec.test_config:
        problems.append(f"{who}: test_config (a tiny model's constructor arguments) is empty")
    if spec.translate is None and spec.generate is None:
        problems.append(f"{who}: neither translate nor generate is given: the dashboard cannot show this family")
    for name in ("translate", "generate", "evaluate"):
        if getattr(spec, name) is not None and not callable(getattr(spec, name)):
            problems.append(f"{who}: {name} is not callable")
    if callable(spec.evaluate) and len(inspect.signature(spec.evaluate).parameters) < 4:
        problems.append(f"{who}: evaluate must take (model, judge, n, seed)")
    try:
        training = importlib.import_module(spec.training)
    except ImportError as err:
        problems.append(f"{who}: training module {spec.training!r} does not import ({err})")
    else:
        if not callable(getattr(training, "main", None)):
            problems.append(f"{who}: training module {spec.training!r} has no main()")
    return problems
