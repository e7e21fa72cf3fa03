"""StarGAN v2 training: a short run, exact resume, 2-process data parallel, publishing, atomic checkpoints."""
from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train import common
from train import stargan_v2 as sg

ROOT = Path(__file__).resolve().parents[1]
# A tiny configuration: 32 px, a few thousand parameters per net, 2 images per batch.
TINY = ["--data", "synthfaces", "--img-size", "32", "--batch-size", "2", "--n-train", "12", "--n-val", "6",
        "--dim-in", "8", "--max-conv-dim", "16", "--style-dim", "8", "--latent-dim", "4", "--hidden-dim", "16",
        "--styles", "2", "--log-every", "1", "--threads", "1"]


def run(out: Path, *extra: str) -> None:
    assert sg.main([*TINY, "--out", str(out), *extra]) == 0


def ckpt(out: Path):
    found = common.Checkpointer(out / "checkpoints").load()
    assert found is not None, f"no checkpoint in {out}"
    return found


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "short"
    run(out, "--steps", "2", "--sample-every", "1", "--ckpt-every", "1")
    return out


def test_short_run_writes_losses_samples_checkpoint(short_run):
    records = [json.loads(line) for line in (short_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    for key in sg.LOSS_KEYS:
        assert all(math.isfinite(r[key]) for r in records), key
    # the diversity weight decays linearly to 0 over --ds-iter (= --steps): 2 -> 1 -> 0
    assert [r["lambda_ds"] for r in records] == [1.0, 0.0]
    from PIL import Image

    with Image.open(short_run / "samples" / "000002.png") as grid:
        # 3 domains x 2 styles + source column, 6 held-out sources (2 per domain), 32 px cells, 2 px padding
        assert grid.size == (7 * 34 + 2, 6 * 34 + 2)
    tensors, meta = ckpt(short_run)
    assert meta["step"] == 2 and meta["lambda_ds"] == 0.0
    assert meta["data"]["next_step"] == 2
    assert any(k.startswith("module.ema.generator.") for k in tensors)
    assert any(k.startswith("optim.discriminator.state.") for k in tensors)
    assert "rng.torch" in tensors
    # training moved the nets away from their EMA (which moves only by 0.1% per step)
    assert not torch.equal(tensors["module.generator.to_rgb.2.weight"], tensors["module.ema.generator.to_rgb.2.weight"])
    assert (short_run / "checkpoints" / "step-00000001.json").exists()  # keep=2: both kept


def test_resume_is_bit_identical(tmp_path):
    common_args = ["--ds-iter", "4", "--sample-every", "100", "--ckpt-every", "2"]
    run(tmp_path / "straight", "--steps", "4", *common_args)
    run(tmp_path / "split", "--steps", "2", *common_args)
    run(tmp_path / "split", "--steps", "4", "--resume", *common_args)
    a, meta_a = ckpt(tmp_path / "straight")
    b, meta_b = ckpt(tmp_path / "split")
    assert meta_a["step"] == meta_b["step"] == 4
    assert meta_a["lambda_ds"] == meta_b["lambda_ds"]
    assert a.keys() == b.keys()
    ema = [k for k in a if k.startswith("module.ema.")]
    assert len(ema) > 50
    for key in a:  # EMA, training nets, Adam moments, RNG: all bit-identical
        assert torch.equal(a[key], b[key]), key
    assert len(meta_b["sessions"]) == 2 and meta_b["sessions"][1]["start_step"] == 2
    # a different seed gives different weights (the comparison above can fail)
    run(tmp_path / "other", "--steps", "2", "--seed", "1", *common_args)
    c, _ = ckpt(tmp_path / "other")
    d = common.Checkpointer(tmp_path / "split" / "checkpoints").load(2)[0]
    assert not torch.equal(c["module.ema.generator.from_rgb.weight"], d["module.ema.generator.from_rgb.weight"])


def test_card_command_of_a_resumed_run_reproduces_it(tmp_path, local_hub):
    # Session 2 raises --steps; lambda_ds keeps decaying over session 1's --steps (taken from the checkpoint),
    # so the one command on the card must pin that horizon to give the same weights in a single run.
    opts = ["--sample-every", "100", "--ckpt-every", "2"]
    run(tmp_path / "split", "--steps", "2", *opts)
    run(tmp_path / "split", "--steps", "4", "--resume", *opts)
    assert sg.main(["--out", str(tmp_path / "split"), "--publish-only", "hubmodels/split"]) == 0
    import hubmodels

    command = hubmodels.load(str(local_hub / "split")).card.command
    assert "--resume" not in command and "--steps 4" in command and "--ds-iter 2" in command
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "train.stargan_v2"]
    argv = argv[3:]
    argv[argv.index("--out") + 1] = str(tmp_path / "replay")
    assert sg.main(argv) == 0
    a, meta_a = ckpt(tmp_path / "split")
    b, meta_b = ckpt(tmp_path / "replay")
    assert meta_a["step"] == meta_b["step"] == 4 and len(meta_b["sessions"]) == 1
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_refuses_to_overwrite_and_checks_resume_settings(short_run):
    with pytest.raises(SystemExit, match="--resume"):
        run(short_run, "--steps", "3")
    with pytest.raises(SystemExit, match="--lr"):
        run(short_run, "--steps", "3", "--resume", "--lr", "0.001")


def test_publish_writes_a_loadable_model_with_card(short_run, local_hub):
    import hubmodels

    assert sg.main(["--out", str(short_run), "--publish-only", "hubmodels/tiny-stargan"]) == 0
    folder = local_hub / "tiny-stargan"
    model = hubmodels.load(str(folder))
    assert type(model).__name__ == "StarGANv2" and model.domains == ["cat", "dog", "fox"]
    tensors, _ = ckpt(short_run)
    # fp16 storage of the EMA generator
    ref = tensors["module.ema.generator.from_rgb.weight"]
    assert torch.equal(model.generator.from_rgb.weight, ref.half().float())
    card = model.card
    assert "python -m train.stargan_v2" in card.command and "--steps 2" in card.command
    assert card.training["steps"] == 2 and card.datasets == ["synthfaces"]
    for key in ("diversity_l1", "cycle_l1", "style_recon_l1"):
        assert math.isfinite(card.metrics[key]), key
    assert card.metrics["diversity_l1"] > 0
    assert "G/latent_cyc=" in card.training["final losses"] and "G/ref_cyc=" in card.training["final losses"]
    readme = (folder / "README.md").read_text()
    assert "python -m train.stargan_v2" in readme and "| steps | 2 |" in readme and "sample.png" in readme
    assert card.sample_image is not None and card.sample_image.size == (7 * 34 + 2, 6 * 34 + 2)
    # the published nets translate
    x = torch.zeros(1, 3, 32, 32)
    s = model.mapping_network(torch.zeros(1, 4), torch.tensor([1]))
    assert model(x, s).shape == (1, 3, 32, 32)


def test_published_metrics_are_evaluation_metrics_only(short_run, tmp_path):
    # The card's YAML `metrics:` (card.metrics, metrics.json) are what the model scores; the training losses
    # of its last steps are provenance and go in the training table.
    folder = Path(sg.publish_run(short_run, "hubmodels/tiny-metrics", hub_dir=tmp_path))
    files = {"metrics.json": json.loads((folder / "metrics.json").read_text()),
             "card.json": json.loads((folder / "card.json").read_text())["metrics"]}
    yaml_head = (folder / "README.md").read_text().split("---")[1]
    for name, metrics in files.items():
        assert {"diversity_l1", "cycle_l1", "style_recon_l1", "pose_gap"} <= set(metrics), name
        losses = [k for k in metrics if k.startswith("final") or "loss" in k or "/" in k
                  or k.replace("_", "/", 1) in sg.LOSS_KEYS]
        assert not losses, (name, losses)
    assert "diversity_l1" in yaml_head and "final_" not in yaml_head and "latent_cyc" not in yaml_head
    card = json.loads((folder / "card.json").read_text())
    assert "D/latent_real=" in card["training"]["final losses"]


def test_failed_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    ck = common.Checkpointer(tmp_path / "ck", keep=2)
    good = {"w": torch.arange(6.0)}
    ck.save(1, good, {"note": "good"})

    # a crash while the tensors are being written: replace never happens
    real_replace = os.replace

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(common.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ck.save(2, {"w": torch.zeros(6)}, {"note": "bad"})
    monkeypatch.setattr(common.os, "replace", real_replace)
    assert sorted(p.name for p in ck.folder.iterdir()) == ["latest.json", "step-00000001.json",
                                                           "step-00000001.safetensors"]  # no temp files left
    tensors, meta = ck.load()
    assert meta["step"] == 1 and torch.equal(tensors["w"], good["w"])

    # a crash after the tensors file but before its sidecar and the pointer
    real_json = common.atomic_write_json
    monkeypatch.setattr(common, "atomic_write_json", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError, match="killed"):
        ck.save(3, {"w": torch.ones(6)}, {})
    monkeypatch.setattr(common, "atomic_write_json", real_json)
    assert ck.load()[1]["step"] == 1

    # a checkpoint corrupted on disk after the fact: loading falls back to the newest good one
    ck.save(4, {"w": torch.full((6,), 4.0)}, {})
    assert ck.latest_step() == 4
    path, _ = ck.paths(4)
    path.write_bytes(path.read_bytes()[:-5])
    assert ck.latest_step() == 1
    with pytest.raises(common.CheckpointError, match="corrupt"):
        ck.load(4)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        sg.parse_args(["--out", str(tmp_path), "--data", str(tmp_path / "nope")])
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sg.parse_args(["--out", str(tmp_path), "--img-size", "48"])
    assert "power of 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sg.parse_args(["--out", str(tmp_path), "--domains", "cat", "cow"])
    assert "not SynthFaces domains" in capsys.readouterr().err


def test_domain_folder_data(tmp_path):
    from PIL import Image

    root = tmp_path / "faces"
    for split in ("train", "val"):
        for k, domain in enumerate(("a", "b")):
            (root / split / domain).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40, 40), (80 * k + 20 * i, 100, 50)).save(root / split / domain / f"{i}.png")
    args = sg.parse_args(["--out", str(tmp_path / "o"), "--data", str(root), "--img-size", "32"])
    pool, val = sg.load_pools(args)
    assert pool.domains == ["a", "b"] and len(pool) == 6 and val.held_out
    inputs = sg.sample_inputs(pool, 8, 4, common.step_generator(0, 0))
    assert inputs["x_src"].shape == (8, 3, 32, 32)
    # references are drawn from the target domain, like the official reference loader
    assert torch.all(inputs["x_ref"][:, 0].mean((1, 2)).lt(-0.5) == inputs["y_trg"].eq(0))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_data_parallel_run(tmp_path):
    # accelerate's own launcher needs mpirun for several CPU processes; torchrun starts the same
    # gloo process group that Accelerator(cpu=True) joins (DistributedType.MULTI_CPU, DDP-wrapped nets).
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "train.stargan_v2", *TINY, "--steps", "2", "--ckpt-every", "2",
           "--sample-every", "2", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # both processes trained (the R1 double backward ran through DistributedDataParallel) and stayed in
    # lockstep: the checkpoint save checks that every process holds the same weights
    assert "2 x 2 process(es)" in proc.stdout and "DistributedDataParallel" in proc.stdout
    tensors, meta = ckpt(out)
    assert meta["num_processes"] == 2 and meta["step"] == 2
    assert meta["sessions"][0]["command"].startswith("torchrun --nproc_per_node 2 -m train.stargan_v2")
    # averaged gradients over 2 x 2 images differ from a single process's 2 images
    single = tmp_path / "single"
    run(single, "--steps", "2", "--ckpt-every", "2", "--sample-every", "2")
    other, _ = ckpt(single)
    key = "module.generator.from_rgb.weight"
    assert not torch.equal(tensors[key], other[key])
    # the EMA nets load into the hub model
    from hubmodels.stargan_v2 import StarGANv2

    model = StarGANv2(**meta["config"])
    common.restore_state(tensors, meta, {"ema": model}, rng=False)


def test_init_from_fine_tunes_a_run_and_records_its_lineage(short_run, tmp_path, local_hub):
    parent, _ = ckpt(short_run)
    out = tmp_path / "fine"
    run(out, "--steps", "1", "--ckpt-every", "1", "--sample-every", "100", "--lambda-cyc", "3", "--lambda-ds", "0",
        "--seed", "5", "--init-from", str(short_run))
    child, meta = ckpt(out)
    assert meta["step"] == 1 and meta["init_from"]["step"] == 2 and meta["init_from"]["run"] == str(short_run)
    # one step of lr 1e-4 from the parent's weights: close to them, unlike a fresh run with the same seed
    key = "module.generator.from_rgb.weight"
    moved = (child[key] - parent[key]).abs().max()
    assert 0 < moved < 1e-3, moved
    run(tmp_path / "fresh", "--steps", "1", "--ckpt-every", "1", "--sample-every", "100", "--seed", "5")
    fresh, _ = ckpt(tmp_path / "fresh")
    assert (fresh[key] - parent[key]).abs().max() > 10 * moved
    # Adam continues from the parent's moments: its step counts go on from the parent's
    steps = [k for k in child if k.startswith("optim.") and k.endswith(".step")]
    assert steps and all(float(child[k]) == float(parent[k]) + float(fresh[k]) for k in steps)
    # the lineage reaches the card: the parent's command and steps, then this run's
    assert sg.main(["--out", str(out), "--publish-only", "hubmodels/tiny-fine"]) == 0
    readme = (local_hub / "tiny-fine" / "README.md").read_text()
    assert "Fine-tuned" in readme and f"initialised from run `{short_run}` at step 2" in readme
    assert "--lambda-cyc 3" in readme and "--steps 2" in readme


def test_init_from_refuses_another_architecture_or_a_missing_run(short_run, tmp_path, capsys):
    with pytest.raises(SystemExit, match="dim_in: 8 there, 16 here"):
        sg.main([*TINY, "--dim-in", "16", "--out", str(tmp_path / "x"), "--steps", "1",
                 "--init-from", str(short_run)])
    with pytest.raises(SystemExit):
        run(tmp_path / "y", "--steps", "1", "--init-from", str(tmp_path / "nowhere"))
    assert "not a run folder" in capsys.readouterr().err
