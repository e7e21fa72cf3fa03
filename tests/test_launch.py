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


def _start(tiny_hub, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HUBMODELS_HUB": str(tiny_hub), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "demos.launch", *args, "--exit-after", "240"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until_running(proc: subprocess.Popen, seconds: float = 200) -> str:
    lines = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Ctrl-C" in line or not line:
            break
    return "".join(lines)


def test_launcher_serves_index_space_and_dashboard(tiny_hub):
    port, dash = free_port(), free_port()
    proc = _start(tiny_hub, "--port", str(port), "--dashboard-port", str(dash), "--only", "stargan-v2")
    try:
        out = _read_until_running(proc)
        assert f"hubmodels index: http://127.0.0.1:{port}/" in out, out
        # fixed ports: the Space of the first registered family on port + 1, the dashboard where asked
        assert f"Space stargan-v2: http://127.0.0.1:{port + 1}/ (ready in" in out, out
        assert f"Dashboard: http://127.0.0.1:{dash}/ (ready in" in out, out
        assert "2 service(s) running. Ctrl-C to stop." in out
        # the launcher printed "ready" only once each answered
        page = fetch(f"http://127.0.0.1:{port + 1}/")
        assert page is not None and "gradio" in page.lower()
        assert fetch(f"http://127.0.0.1:{dash}/_stcore/health") is not None
        index = fetch(f"http://127.0.0.1:{port}/")
        assert index is not None and "hubmodels/stargan-v2-synthfaces" in index and "stargan_v2" in index
        assert f"http://127.0.0.1:{port + 1}/" in index and f"http://127.0.0.1:{dash}/" in index
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
    # a clean stop: nothing is left listening
    assert all(fetch(f"http://127.0.0.1:{p}/", timeout=1) is None for p in (port, port + 1, dash))


def test_a_service_that_cannot_start_is_reported_and_the_rest_run(tiny_hub):
    port, dash = free_port(), free_port()
    with socket.socket() as squatter:  # another program holds the Space's fixed port
        squatter.bind(("127.0.0.1", port + 1))
        squatter.listen()
        proc = _start(tiny_hub, "--port", str(port), "--dashboard-port", str(dash), "--only", "stargan-v2")
        try:
            out = _read_until_running(proc)
            assert f"Space stargan-v2: FAILED to start (port {port + 1} is in use by another program)" in out, out
            assert f"Dashboard: http://127.0.0.1:{dash}/ (ready in" in out, out
            assert "1 service(s) running, 1 failed" in out
            assert fetch(f"http://127.0.0.1:{port}/") is not None
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0


def test_unknown_space_is_refused():
    proc = subprocess.run([sys.executable, "-m", "demos.launch", "--only", "nope"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "unknown Space(s) nope" in proc.stderr and "stargan-v2" in proc.stderr
