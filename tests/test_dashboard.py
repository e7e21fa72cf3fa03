"""The Streamlit dashboard, run in-process by streamlit.testing.v1.AppTest against a throwaway local hub."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REFERENCE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "demos" / "dashboard.py")


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    from hubmodels.stargan_v2 import StarGANv2

    hub = tmp_path_factory.mktemp("hub")
    for name, seed in (("sg2-a", 0), ("sg2-b", 1)):
        torch.manual_seed(seed)
        model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8,
                          hidden_dim=16, domains=["cat", "dog", "fox"])
        for m in model.modules():  # He init: random styles visibly differ
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.card.metrics = {"diversity_l1": 0.1 * (seed + 1), "cycle_l1": 0.5}
        model.publish(f"hubmodels/{name}", hub_dir=hub)
    return hub


@pytest.fixture
def app(hub, monkeypatch) -> AppTest:
    monkeypatch.setenv("HUBMODELS_HUB", str(hub))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _images(at: AppTest) -> list:
    return list(at.get("image"))


def test_lists_the_local_hub_and_translates_with_every_model(app):
    assert app.sidebar.multiselect(key="models-translate").options == ["hubmodels/sg2-a", "hubmodels/sg2-b"]
    assert app.sidebar.multiselect(key="models-translate").value == ["hubmodels/sg2-a", "hubmodels/sg2-b"]
    app.sidebar.number_input(key="count").set_value(2)
    app.button(key="run").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    # the input, then per model 3 domains x 2 seeds
    assert len(_images(app)) == 1 + 2 * 6
    captions = [c.value for c in app.caption]
    assert sum("ms" in c and "M params" in c for c in captions) == 2
    table = app.main.dataframe[0].value
    assert list(table["model"]) == ["hubmodels/sg2-a", "hubmodels/sg2-b"]
    assert list(table["diversity_l1"]) == pytest.approx([0.1, 0.2])
    assert (table["time (ms)"] > 0).all()


def test_download_is_one_png_grid_of_the_comparison(app):
    from demos import dashboard

    app.sidebar.multiselect(key="models-translate").set_value(["hubmodels/sg2-a"])
    app.sidebar.number_input(key="count").set_value(1)
    app.button(key="run").click().run()
    assert not app.exception, app.exception
    assert app.get("download_button")
    # the grid the button serves: the input column, then one column per model with its outputs
    rows = [{"model": "m", "outputs": [("a", Image.new("RGB", (32, 32), "red"))] * 3, "error": None}]
    grid = dashboard.comparison_grid(rows, Image.new("RGB", (32, 32), "blue"))
    assert grid.size == (2 * (dashboard.TILE + 4) + 4, 18 + 4 + 3 * (dashboard.TILE + 4))
    png = Image.open(io.BytesIO(dashboard.png_bytes(grid)))
    assert png.format == "PNG" and png.getpixel((4 + 10, 40)) == (0, 0, 255)


def test_generate_mode_without_generators_says_so(app):
    app.sidebar.radio(key="mode").set_value("Generate").run()
    assert not app.exception, app.exception
    assert app.sidebar.multiselect(key="models-generate").options == []
    assert any("no model that can generate" in i.value for i in app.info)


@pytest.mark.skipif(not (REFERENCE / "stargan_v2_small").is_dir(), reason="reference case not available")
def test_official_vs_ours_shows_images_and_errors(app):
    app.sidebar.radio(key="mode").set_value("Official vs ours").run()
    app.text_input(key="case_path").set_value(str(REFERENCE / "stargan_v2_small")).run()
    app.button(key="compare").click().run()
    assert not app.exception, app.exception
    assert any("checks passed" in m.value for m in app.markdown)
    table = app.main.dataframe[0].value
    assert table["passed"].all() and len(table) == 7
    # official | ours | error map for every image-valued output
    assert len(_images(app)) >= 3 and len(_images(app)) % 3 == 0


GENERATOR_FAMILY = '''
import torch
from PIL import Image
from hubmodels.family import FamilySpec
from hubmodels.hub import HubModel
from hubmodels.images import Preprocess, to_pil


class Noise(HubModel, family="fakegen", license="mit"):
    """A 'generator': a fixed linear map of a seeded latent to a 3x16x16 image."""

    def __init__(self, latent_dim: int = 8):
        super().__init__()
        self.latent_dim = latent_dim
        self.mapping_network = torch.nn.Linear(latent_dim, 3 * 16 * 16)


def generate(model, seeds, psi):
    out = []
    for seed in seeds:
        z = torch.randn(1, model.latent_dim, generator=torch.Generator().manual_seed(seed)) * psi
        img = model.run_inference(("gen",), lambda: model.mapping_network(z).tanh().view(1, 3, 16, 16))
        out.append((f"seed {seed}", to_pil(img)[0]))
    return out


SPEC = FamilySpec(name="fakegen", title="Fake generator", converter_families=("fakegen",), model_classes=(Noise,),
                  space="fakegen", preprocessing=Preprocess(size=16, resize="resize"), configs=(), convert=None,
                  parity=None, bench_cases=None, sample=lambda m, s: generate(m, [s], 1.0)[0][1],
                  test_config={}, training="fakegen.train", generate=generate)
'''


@pytest.fixture
def generator_hub(hub, tmp_path, monkeypatch):
    """The local hub plus a model of a generator family registered for this test only."""
    import shutil
    import sys
    import textwrap

    from hubmodels import registry

    pkg = tmp_path / "fakegen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "spec.py").write_text(textwrap.dedent(GENERATOR_FAMILY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILY_SPECS", (*registry.FAMILY_SPECS, "fakegen.spec"))
    registry._reset_for_tests()
    mixed = tmp_path / "hub"
    shutil.copytree(hub, mixed)
    spec = registry.family_spec("fakegen")
    torch.manual_seed(0)
    spec.model_classes[0]().publish("hubmodels/noise", hub_dir=mixed)
    monkeypatch.setenv("HUBMODELS_HUB", str(mixed))
    yield mixed
    registry._reset_for_tests()
    sys.modules.pop("fakegen.spec", None)


def test_generate_mode_runs_every_generator_with_shared_seeds(generator_hub):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="mode").set_value("Generate").run()
    assert at.sidebar.multiselect(key="models-generate").options == ["hubmodels/noise"]  # translators are not offered
    at.sidebar.number_input(key="count").set_value(3)
    at.sidebar.slider(key="psi").set_value(0.5)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    images = _images(at)
    assert len(images) == 3  # no input image in this mode: one output per seed
    assert [c for img in images for c in img.captions] == ["seed 0", "seed 1", "seed 2"]
    assert list(at.main.dataframe[0].value["model"]) == ["hubmodels/noise"]
