"""`make demo`'s launcher: the index page lists the local hub and the Spaces it starts answer."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode("utf-8", "replace")
    except OSError:
        return None


@pytest.fixture
def tiny_hub(tmp_path) -> Path:
    import torch

    from hubmodels.stargan_v2 import StarGANv2

    torch.manual_seed(0)
    StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8, hidden_dim=16,
              domains=["cat", "dog", "fox"]).publish("hubmodels/stargan-v2-synthfaces", hub_dir=tmp_path / "hub")
    return tmp_path / "hub"


def test_launcher_serves_index_and_space(tiny_hub):
    port = free_port()
    env = {**os.environ, "HUBMODELS_HUB": str(tiny_hub), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "demos.launch", "--port", str(port), "--only", "stargan-v2",
                             "--no-dashboard", "--exit-after", "120"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        assert f"hubmodels index: http://127.0.0.1:{port}/" in out, out
        index = fetch(f"http://127.0.0.1:{port}/")
        assert index is not None and "hubmodels/stargan-v2-synthfaces" in index and "stargan_v2" in index
        space_url = re.search(r"Space stargan-v2: (http://\S+)", out).group(1)
        assert space_url in index
        page = None
        deadline = time.monotonic() + 90
        while page is None and time.monotonic() < deadline:
            page = fetch(space_url)
            time.sleep(1)
        assert page is not None and "gradio" in page.lower(), "the Space never answered"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
