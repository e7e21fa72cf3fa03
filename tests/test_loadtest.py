"""A short, bounded load test of the StarGAN v2 Space on loopback (the README's 20 clients x 60 s is the same
command with larger numbers): no request fails, the server stays up, memory does not grow with requests."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_concurrent_clients_all_served(tmp_path: Path):
    pytest.importorskip("gradio_client")
    from demos.loadtest import run
    from hubmodels.stargan_v2 import StarGANv2

    torch.manual_seed(0)
    StarGANv2(img_size=32, style_dim=8, latent_dim=4, num_domains=3, max_conv_dim=16, dim_in=8, hidden_dim=16,
              domains=["cat", "dog", "fox"]).publish("hubmodels/stargan-v2-synthfaces", hub_dir=tmp_path / "hub")
    result = run("stargan-v2", clients=6, seconds=10, port=_free_port(),
                 env={"HUBMODELS_HUB": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"})
    assert result["server_alive"] and result["failed"] == 0, result["failures"]
    assert result["ok"] >= 6, result
    # what requests add to the process once it is warm (allocator caches, gradio's file cache): bounded
    assert result["rss_end_mb"] - result["rss_after_warmup_mb"] < 150, result
