"""Real-browser tests: Debian's Chromium driven by Playwright opens the dashboard and a Space, runs them and
checks that images rendered. Screenshots go to ``outputs/screenshots/`` (git-ignored) as test artifacts.

`make test` installs Chromium with apt and Playwright with pip (no browser download). Without them (e.g. a
machine where apt is not available) these tests skip with the reason.
"""
from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "outputs" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    from hubmodels.stargan_v2 import StarGANv2

    hub = tmp_path_factory.mktemp("hub")
    for name, seed in (("stargan-v2-synthfaces", 0), ("stargan-v2-other", 1)):
        torch.manual_seed(seed)
        model = StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8,
                          hidden_dim=16, domains=["cat", "dog", "fox"])
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.publish(f"hubmodels/{name}", hub_dir=hub)
    return hub


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _serve(cmd: list[str], hub: Path, port: int, health: str):
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH_EXTRA", "")) if p)
    env = {**os.environ, "HUBMODELS_HUB": str(hub), "PYTHONPATH": path, "HUBMODELS_DTYPE": "float32",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}{health}", proc)
    except Exception:
        proc.kill()
        raise
    return proc


def _rendered(page, selector: str) -> list:
    """The <img> elements under ``selector`` that finished loading with a non-blank picture."""
    from PIL import Image

    shown = []
    for img in page.locator(selector).all():
        if not img.evaluate("e => e.complete && e.naturalWidth > 0"):
            continue
        pixels = Image.open(io.BytesIO(img.screenshot())).convert("L")
        lo, hi = pixels.getextrema()
        if hi - lo > 10:  # not a flat (blank) box
            shown.append(img)
    return shown


def test_dashboard_compares_models_in_a_browser(hub, browser):
    port = _free_port()
    proc = _serve([sys.executable, "-m", "streamlit", "run", "demos/dashboard.py", "--server.port", str(port),
                   "--server.address", "127.0.0.1", "--server.headless", "true",
                   "--browser.gatherUsageStats", "false"], hub, port, "/_stcore/health")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_role("button", name="Run").click(timeout=60_000)
        page.get_by_text("Time and metrics").wait_for(timeout=120_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "dashboard-translate.png"), full_page=True)
        images = _rendered(page, "[data-testid='stImage'] img")
        # the input, then 2 models x 3 domains x 2 seeds
        assert len(images) == 1 + 2 * 3 * 2, len(images)
        assert page.get_by_role("button", name="Download the comparison (PNG)").is_visible()
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_dashboard_generates_in_a_browser(hub, browser, tmp_path):
    """The Generate mode with a generator family that lives outside hubmodels (HUBMODELS_FAMILIES)."""
    import shutil
    import textwrap

    from tests.test_dashboard import GENERATOR_FAMILY

    pkg = tmp_path / "plugins" / "fakegen"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "spec.py").write_text(textwrap.dedent(GENERATOR_FAMILY))
    mixed = tmp_path / "hub"
    shutil.copytree(hub, mixed)
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); from fakegen.spec import Noise; "
            "torch.manual_seed(0); Noise().publish('hubmodels/noise', hub_dir=sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "plugins"), str(mixed)], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    port = _free_port()
    os.environ["HUBMODELS_FAMILIES"] = "fakegen.spec"
    os.environ["PYTHONPATH_EXTRA"] = str(tmp_path / "plugins")
    try:
        proc = _serve([sys.executable, "-m", "streamlit", "run", "demos/dashboard.py", "--server.port", str(port),
                       "--server.address", "127.0.0.1", "--server.headless", "true",
                       "--browser.gatherUsageStats", "false"], mixed, port, "/_stcore/health")
    finally:
        os.environ.pop("HUBMODELS_FAMILIES")
        os.environ.pop("PYTHONPATH_EXTRA")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_text("Generate", exact=True).click()
        page.get_by_role("button", name="Run").click(timeout=60_000)
        page.get_by_text("Time and metrics").wait_for(timeout=120_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "dashboard-generate.png"), full_page=True)
        assert len(_rendered(page, "[data-testid='stImage'] img")) == 2  # 2 seeds, no input image
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_space_translates_in_a_browser(hub, browser):
    port = _free_port()
    proc = _serve([sys.executable, "spaces/stargan-v2/app.py"], hub, port, "/")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        page.get_by_text("cat #0").first.click()  # a SynthFaces example as the source image
        page.get_by_role("button", name="Translate").first.click()
        page.wait_for_function(
            "() => document.querySelectorAll('.gallery-item img, [data-testid=\"gallery\"] img, "
            "button.thumbnail-item img').length >= 4", timeout=300_000)  # the first request measures paths
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "space-stargan-v2-latent.png"), full_page=True)
        images = _rendered(page, ".gallery-item img, button.thumbnail-item img")
        assert len(images) >= 4, len(images)
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
