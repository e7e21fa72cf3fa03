"""The family contract (DESIGN.md contract 8): every registered family offers every piece, and generic
code learns about families only from their specs."""
from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from hubmodels import registry
from hubmodels.family import FamilySpec, check_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = registry.families()
IDS = [s.name for s in SPECS]

# Code that serves every family: it must learn about them from the specs alone.
GENERIC = [
    # registry.py is where the families are registered: naming them there is its job
    *sorted(p for p in (ROOT / "hubmodels").glob("*.py") if p.name != "registry.py"),
    *sorted((ROOT / "hubmodels" / "nn").glob("*.py")),
    *sorted((ROOT / "hubmodels" / "metrics").glob("*.py")),
    ROOT / "spaces" / "common.py",
    ROOT / "spaces" / "bundle.py",
    *sorted((ROOT / "demos").glob("*.py")),
    *sorted(p for p in (ROOT / "train").glob("*.py") if p.stem not in {s.training.split(".")[-1] for s in SPECS}),
]


def test_every_registered_family_loads():
    assert SPECS, "no family is registered in hubmodels.registry.FAMILY_SPECS"
    assert registry.spec_errors() == {}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec: FamilySpec):
    assert check_spec(spec) == []


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_pieces_work(spec: FamilySpec, tmp_path):
    # the tiny model draws its card picture, deterministically, and it changes with the seed
    torch.manual_seed(0)
    model = spec.model_classes[0](**spec.test_config).eval()
    a, b, c = spec.sample(model, 0), spec.sample(model, 0), spec.sample(model, 1)
    assert isinstance(a, Image.Image) and a.size[0] >= 8 and a.size[1] >= 8
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    # every released configuration builds (on the meta device: shapes only, no memory)
    for cfg in spec.configs:
        with torch.device("meta"):
            built = registry.create_model(cfg.name)
        assert type(built) is cfg.model_class
    # the benchmark names its cases
    cases = spec.bench_cases(argparse.Namespace(quick=True, configs=None, paths=None))
    assert cases and all(c.name.split("/")[0] in spec.converter_families for c in cases)
    # lookups by every name the rest of hubmodels uses
    for fam in spec.converter_families:
        assert registry.family_spec(fam) is spec
    assert registry.space_spec(spec.space) is spec
    for cls in spec.model_classes:
        assert registry.architecture_class(cls.architecture) is cls


def _family_words() -> list[str]:
    words = set()
    for spec in SPECS:
        words |= {spec.name, spec.space, spec.title, *spec.converter_families}
        words |= {c.__name__ for c in spec.model_classes}
    return sorted(words, key=len, reverse=True)


@pytest.mark.parametrize("path", GENERIC, ids=[str(p.relative_to(ROOT)) for p in GENERIC])
def test_generic_code_names_no_family(path: Path):
    text = path.read_text(encoding="utf-8")
    found = [w for w in _family_words() if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    assert not found, f"{path.relative_to(ROOT)} names {found}: generic code must go through the family's spec"


def test_conformance_says_what_a_new_family_lacks(tmp_path, monkeypatch):
    """A half-written family is reported piece by piece, so its author knows what is missing."""
    pkg = tmp_path / "halffam"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "spec.py").write_text(textwrap.dedent('''
        from hubmodels.family import FamilySpec
        from hubmodels.hub import HubModel
        from hubmodels.images import Preprocess

        class Half(HubModel, family="halffam_a"):
            def __init__(self, width: int = 1):
                super().__init__()

        SPEC = FamilySpec(name="halffam", title="Half", converter_families=("halffam_a", "halffam_b"),
                          model_classes=(Half,), space="halffam", preprocessing=Preprocess(size=8, resize="resize"), configs=(),
                          convert=lambda path: None, parity=object(), bench_cases=lambda args: [],
                          sample=None, test_config={}, training="halffam.train")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILY_SPECS", (*registry.FAMILY_SPECS, "halffam.spec", "brokenfam.spec"))
    registry._reset_for_tests()
    try:
        spec = registry.family_spec("halffam_b")
        problems = "\n".join(check_spec(spec))
        for expected in ("no model class declares family='halffam_b'", "spaces/halffam/app.py is missing",
                         "no released configuration", "sample is not callable", "convert must take",
                         "parity plugin has no load_case", "test_config", "'halffam.train' does not import"):
            assert expected in problems
        assert "brokenfam.spec" in registry.spec_errors()  # a broken family is reported, the others still load
        assert registry.family_spec(SPECS[0].name).name == SPECS[0].name
    finally:
        registry._reset_for_tests()


def test_contributing_documents_the_contract():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for field in FamilySpec.__dataclass_fields__:
        if field not in ("paper", "official_code", "notes"):
            assert f"`{field}`" in text, f"CONTRIBUTING.md does not mention the spec field {field!r}"
    assert "FAMILY_SPECS" in text and "test_family_contract" in text
