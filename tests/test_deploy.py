"""`python -m demos.deploy`: the dry run builds exactly what would be uploaded, offline."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_launch import fetch, free_port

ROOT = Path(__file__).resolve().parents[1]
SPACE_KEYS = ("sdk", "sdk_version", "python_version", "app_file", "models", "license", "short_description")


def header(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{readme} has no YAML header"
    return yaml.safe_load(text.split("---\n", 2)[1])


def deploy(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "demos.deploy", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    import torch

    from hubmodels.stargan_v2 import StarGANv2

    hub = tmp_path_factory.mktemp("hub")
    torch.manual_seed(0)
    StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8, hidden_dim=16,
              domains=["cat", "dog", "fox"]).publish("hubmodels/stargan-v2-synthfaces", hub_dir=hub)
    return hub


@pytest.mark.parametrize("space", sorted(p.parent.name for p in (ROOT / "spaces").glob("*/app.py")))
def test_every_space_header_is_valid(space):
    data = header(ROOT / "spaces" / space / "README.md")
    missing = [k for k in SPACE_KEYS if k not in data]
    assert not missing, f"spaces/{space}/README.md lacks {missing}"
    assert data["sdk"] == "gradio" and (ROOT / "spaces" / space / data["app_file"]).is_file()
    assert str(data["python_version"]) == "3.11" and isinstance(data["models"], list)
    assert len(data["short_description"]) <= 60  # the Hub's limit


def test_space_dry_run_builds_the_upload(hub, tmp_path):
    out = tmp_path / "space"
    proc = deploy("stargan-v2", "--dry-run", "--out", str(out), "--hub", str(hub))
    assert proc.returncode == 0, proc.stderr
    assert "dry run: nothing uploaded" in proc.stdout and "hubmodels/stargan-v2-synthfaces" in proc.stdout
    for rel in ("app.py", "README.md", "requirements.txt", "common.py", "hubmodels/__init__.py",
                "hubmodels/stargan_v2/spec.py", "hub/stargan-v2-synthfaces/model.safetensors"):
        assert (out / rel).is_file(), rel
        assert f"  {rel}\n" in proc.stdout
    assert header(out / "README.md")["sdk"] == "gradio"


def test_dashboard_dry_run_is_a_docker_space_that_runs(hub, tmp_path):
    out = tmp_path / "dash"
    proc = deploy("dashboard", "--dry-run", "--out", str(out), "--hub", str(hub))
    assert proc.returncode == 0, proc.stderr
    data = header(out / "README.md")
    assert data["sdk"] == "docker" and data["app_port"] == 8501
    assert data["models"] == ["hubmodels/stargan-v2-synthfaces"] and data["license"]
    docker = (out / "Dockerfile").read_text()
    assert "EXPOSE 8501" in docker and "--server.port=8501" in docker
    requirements = (out / "requirements.txt").read_text().split()
    assert all("==" in r for r in requirements if r.split("==")[0] in ("torch", "streamlit", "huggingface_hub"))
    assert (out / "hub" / "stargan-v2-synthfaces" / "config.json").is_file()
    # the folder runs as it is: the app, the bundled library and models, no repository around it
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HUBMODELS_HUB=str(out / "hub"), HF_HUB_OFFLINE="1")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=out, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        deadline = time.monotonic() + 60
        answer = None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            answer = fetch(f"http://127.0.0.1:{port}/_stcore/health")
            time.sleep(0.5)
        assert answer is not None, "the bundled dashboard did not start"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_push_needs_a_token_and_a_repo(tmp_path):
    proc = deploy("stargan-v2", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--repo is required" in proc.stderr
    proc = deploy("nope", "--dry-run")
    assert proc.returncode == 2 and "unknown target 'nope'" in proc.stderr
    proc = deploy("stargan-v2", "--repo", "me/space", "--out", str(tmp_path / "y"),
                  env={"HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 2 and "needs a Hugging Face token" in proc.stderr
