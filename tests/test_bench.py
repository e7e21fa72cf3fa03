"""The benchmark harness on a small StarGAN v2 configuration (figures are not asserted: this is not a timed test)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from hubmodels.bench import main
from hubmodels.nn.fast import psnr


def test_quick_bench_reports_every_figure(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HUBMODELS_CACHE", str(tmp_path / "cache"))  # auto measures afresh, not the user's cache
    out = tmp_path / "bench.json"
    assert main(["stargan_v2", "--quick", "--runs", "1", "--batch", "2", "--modes", "fp32", "rewrites", "bf16",
                 "auto", "--paths", "latent_guided", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "GFLOP/img" in text and "stargan_v2/tiny_64/latent_guided" in text
    data = json.loads(out.read_text())
    assert data["environment"]["matmul_peak_gflops"]["fp32"] > 0
    assert "bfloat16" in data["environment"]["half_autocast_dtypes"]
    rows = {r["mode"]: r for r in data["rows"]}
    assert set(rows) == {"fp32", "rewrites", "bf16", "auto"}
    for r in rows.values():
        assert r["latency_ms"] > 0 and r["throughput"] > 0 and r["batch"] == 2
        assert r["gflop_per_image"] > 0.05  # counted from the convolutions, not guessed
        assert math.isclose(r["achieved_gflops"], r["gflop_per_image"] * r["throughput"], rel_tol=1e-6)
    assert rows["fp32"]["dtype"] == "float32" and rows["fp32"]["inference_path"] == "fp32"
    # an exact rewrite stays exact
    assert rows["rewrites"]["dtype"] == "float32" and rows["rewrites"]["max_abs_err_vs_fp32"] < 1e-4
    # a forced bf16 path is reported with its PSNR, whatever it is on this CPU
    assert rows["bf16"]["dtype"] == "bfloat16" and rows["bf16"]["inference_path"] == "bf16"
    assert not math.isnan(rows["bf16"]["psnr_vs_fp32"])
    # auto: whichever path this machine picks, it is one of the candidates and within the 40 dB gate
    chosen = rows["auto"]["inference_path"]
    assert f"auto chose {chosen} at batch 1" in text
    assert chosen in ("fp32", "fp32-channels-last", "rewrites", "bf16", "fp16")
    assert rows["auto"]["psnr_vs_fp32"] >= 40


def test_many_styles_of_one_source_share_the_encoder(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["stargan_v2", "--quick", "--runs", "1", "--batch", "2", "--modes", "fp32",
                 "--paths", "latent_guided", "latent_guided_x4", "--json", str(out)]) == 0
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out.read_text())["rows"]}
    one, four = rows["latent_guided"]["gflop_per_image"], rows["latent_guided_x4"]["gflop_per_image"]
    # four outputs for less than four times the work of one: the style-free encoder runs once
    assert one * 2 < four < one * 3.8


def test_psnr():
    a = torch.zeros(1, 3, 8, 8)
    assert psnr(a, a) == float("inf")
    assert abs(psnr(a, a + 0.02) - 20 * math.log10(2 / 0.02)) < 1e-3


def test_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["stargan_v2", "--modes", "int4"])
    assert main(["stargan_v2", "--quick", "--official", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err


OFFICIAL = os.environ.get("HUBMODELS_OFFICIAL_STARGAN_V2")


@pytest.mark.skipif(not OFFICIAL, reason="set HUBMODELS_OFFICIAL_STARGAN_V2 to a clovaai/stargan-v2 checkout")
def test_official_side_by_side_agrees(tmp_path):
    out = tmp_path / "b.json"
    assert main(["stargan_v2", "--configs", "afhq_256", "--paths", "latent_guided", "--runs", "1", "--batch", "1",
                 "--modes", "fp32", "--official", OFFICIAL, "--json", str(out)]) == 0
    rows = {r["mode"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["official-fp32"]["max_abs_err_vs_fp32"] < 1e-3
    assert rows["fp32"]["speedup_vs_official"] > 0


def test_contenders_are_timed_in_rounds_after_a_warm_up():
    """Each contender is warmed (at least its warm-up calls and warm_seconds), then the timed calls alternate, so a
    slow spell of the machine lands on every contender, not on whichever was being timed."""
    import torch

    from hubmodels.bench import time_interleaved

    order: list[str] = []
    fns = [lambda: order.append("a"), lambda: order.append("b")]
    times = time_interleaved(fns, torch.device("cpu"), runs=3, warmups=[2, 1], warm_seconds=0.0)
    assert order == ["a", "a", "b", "a", "b", "a", "b", "a", "b"]
    assert [len(t) for t in times] == [3, 3] and all(x >= 0 for t in times for x in t)
    order.clear()
    time_interleaved(fns[:1], torch.device("cpu"), runs=0, warmups=[1], warm_seconds=0.05)
    assert len(order) > 1  # kept calling until the warm-up time had passed
