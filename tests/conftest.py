"""Shared test setup: offline hub, the reference cases folder, a throwaway local hub."""
from __future__ import annotations

import os

# Must precede any huggingface_hub import: the hub reads it at import time. Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# dtype="auto" caches its measured choices per machine; a test run must neither read a developer's
# cache nor leave one behind.
os.environ["HUBMODELS_CACHE"] = __import__("tempfile").mkdtemp(prefix="hubmodels-test-cache-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"


def reference_cases(family: str) -> list[Path]:
    """Every reference case folder of ``family`` (empty when ../shared/reference is absent)."""
    import json

    if not REFERENCE.is_dir():
        return []
    cases = []
    for manifest in sorted(REFERENCE.glob("*/manifest.json")):
        try:
            if json.loads(manifest.read_text())["family"] == family:
                cases.append(manifest.parent)
        except (KeyError, ValueError):
            continue
    return cases


@pytest.fixture
def local_hub(tmp_path, monkeypatch) -> Path:
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HUBMODELS_HUB", str(hub))
    return hub
