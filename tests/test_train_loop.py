"""The training harness with a tiny fake family (one linear layer fitting a constant): nothing here is StarGAN v2's,
so what passes here is the harness's own: exact resume, refusals, --init-from lineage, crash safety, publishing."""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from hubmodels.hub import HubModel
from train import loop
from train.common import Checkpointer, step_generator


class Const(HubModel):
    """A 'generator' of ``size`` numbers (shown as 3 x 2 x size/6 images) from a latent of the same size."""

    def __init__(self, size: int = 12):
        super().__init__()
        self.size = size
        self.generator = nn.Linear(size, size)


class ConstFamily(loop.Family):
    module = "tests.test_train_loop"
    name = "const"
    description = "fit a constant"
    model_class = Const
    defaults = {"steps": 6, "batch_size": 4, "seed": 3, "log_every": 1, "sample_every": 3, "ckpt_every": 3}
    locked = ("lr", "size", "horizon")
    from_checkpoint = ("horizon",)
    loss_keys = ("mse",)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("const")
        g.add_argument("--lr", type=float, default=0.05)
        g.add_argument("--size", type=int, default=12)
        g.add_argument("--horizon", type=int, default=None, help="steps of the loss-weight decay (default: --steps)")
        g.add_argument("--crash-at", type=int, default=None, help="raise in this 0-based step")
        g.add_argument("--nan-at", type=int, default=None, help="report a NaN loss at this 0-based step")
        g.add_argument("--step-delay", type=float, default=0.0, help="sleep this long in each step (kill tests)")

    def check_args(self, args, error) -> None:
        if args.size % 6:
            error(f"--size must be a multiple of 6, got {args.size}")
        if args.horizon is None:
            args.horizon = args.steps

    def load_data(self, args, train: bool) -> loop.Data:
        target = torch.linspace(-0.5, 0.5, args.size)
        pool = target.expand(16, -1).clone() if train else None
        return loop.Data(pool, target, "const", summary=f"16 copies of a {args.size}-vector")

    def build(self, args, data: loop.Data) -> loop.Networks:
        torch.manual_seed(args.seed)
        model = Const(args.size)
        ema = copy.deepcopy(model).requires_grad_(False)
        opt = torch.optim.Adam(model.generator.parameters(), lr=args.lr)
        return loop.Networks({"generator": model.generator}, {"generator": opt}, ema, {"generator": "generator"},
                             lambda t: 0.9, {"size": args.size})

    def initial_state(self, args) -> dict:
        return {"weight": 1.0}

    def step(self, ctx: loop.StepContext, generator: torch.Generator) -> dict[str, float]:
        args = ctx.args
        if ctx.step == args.crash_at:
            raise RuntimeError(f"crash in step {ctx.step}")
        time.sleep(args.step_delay)
        z = torch.randn(args.batch_size, args.size, generator=generator).to(ctx.device)
        idx = torch.randint(len(ctx.data.train), (args.batch_size,), generator=generator)
        mse = (ctx.nets["generator"](z) - ctx.data.train[idx].to(ctx.device)).pow(2).mean()
        opt = ctx.optimizers["generator"]
        opt.zero_grad()
        ctx.accelerator.backward(ctx.state["weight"] * mse)
        opt.step()
        ctx.state["weight"] = max(0.5, ctx.state["weight"] - 0.5 / args.horizon)
        return {"mse": math.nan if ctx.step == args.nan_at else mse.item()}

    def sample_grid(self, ema, data, args):
        z = torch.randn(4, args.size, generator=step_generator(args.seed, 0, 0, loop.STREAM_SAMPLES))
        with torch.no_grad():
            return ema.generator(z.to(ema.device)).tanh().view(4, 3, 2, -1), 2

    def evaluate(self, ema, data, args):
        with torch.no_grad():
            return {"error_l1": round(float((ema.generator.bias - data.val).abs().mean()), 5)}

    def card(self, report: loop.RunReport) -> loop.CardText:
        return loop.CardText(
            title="A constant", description="Fits a constant.",
            intro=f"{'Fine-tuned' if report.lineage else 'Trained'} with the fake family.",
            caption="four samples", datasets=["const"], details=[f"Adam lr {report.args.lr}"],
            training={"size": report.meta["config"]["size"]})

    def options_summary(self, args) -> str:
        return f"lr {args['lr']}"


FAMILY = ConstFamily()
ROOT = Path(__file__).resolve().parents[1]


def run(out: Path, *extra: str) -> None:
    assert loop.main(FAMILY, ["--out", str(out), "--threads", "1", *extra]) == 0


def ckpt(out: Path, step: int | None = None):
    found = Checkpointer(out / "checkpoints").load(step)
    assert found is not None, out
    return found


def losses(out: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (out / "log.jsonl").read_text().splitlines()]


def assert_same_state(a: Path, b: Path) -> None:
    (ta, ma), (tb, mb) = ckpt(a), ckpt(b)
    assert ma["step"] == mb["step"] and ma["weight"] == mb["weight"]
    assert ta.keys() == tb.keys() and any(k.startswith("optim.generator.state.") for k in ta)
    for key in ta:  # nets, EMA, Adam moments, RNG
        assert torch.equal(ta[key], tb[key]), key
    assert losses(a) == losses(b)


def test_common_options_come_with_the_family_defaults(tmp_path, capsys):
    args = loop.parse_args(FAMILY, ["--out", str(tmp_path)])
    assert (args.steps, args.batch_size, args.seed, args.horizon, args.keep) == (6, 4, 3, 6, 2)
    with pytest.raises(SystemExit):
        loop.parse_args(FAMILY, ["--out", str(tmp_path), "--size", "7"])
    assert "multiple of 6" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        loop.parse_args(FAMILY, ["--out", str(tmp_path), "--init-from", str(tmp_path / "nowhere")])
    assert "python -m tests.test_train_loop --out" in capsys.readouterr().err


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    run(tmp_path / "straight", "--steps", "6", "--horizon", "6")
    run(tmp_path / "split", "--steps", "3", "--horizon", "6")
    run(tmp_path / "split", "--steps", "6", "--horizon", "6", "--resume")
    assert_same_state(tmp_path / "straight", tmp_path / "split")
    tensors, meta = ckpt(tmp_path / "split")
    assert meta["weight"] == pytest.approx(0.5) and [s["start_step"] for s in meta["sessions"]] == [0, 3]
    assert not torch.equal(tensors["module.generator.weight"], tensors["module.ema.generator.weight"])
    assert sorted(p.name for p in (tmp_path / "split" / "samples").iterdir()) == ["000003.png", "000006.png"]


def test_refuses_to_overwrite_or_to_resume_with_a_changed_locked_option(tmp_path):
    run(tmp_path / "r", "--steps", "3")
    with pytest.raises(SystemExit, match="pass --resume"):
        run(tmp_path / "r", "--steps", "6")
    with pytest.raises(SystemExit, match=r"--lr: checkpoint 0\.05, now 0\.1"):
        run(tmp_path / "r", "--steps", "6", "--resume", "--lr", "0.1")
    with pytest.raises(SystemExit, match="--seed: checkpoint 3, now 4"):
        run(tmp_path / "r", "--steps", "6", "--resume", "--seed", "4")
    assert ckpt(tmp_path / "r")[1]["step"] == 3


def test_card_command_of_a_resumed_run_reproduces_it(tmp_path, local_hub):
    # session 2 raises --steps; the decay horizon (default: --steps) stays session 1's, taken from the checkpoint,
    # so the one command on the card pins it
    run(tmp_path / "split", "--steps", "3")
    run(tmp_path / "split", "--steps", "6", "--resume")
    assert ckpt(tmp_path / "split")[1]["args"]["horizon"] == 3
    run(tmp_path / "split", "--publish-only", "hubmodels/split")
    command = json.loads((local_hub / "split" / "card.json").read_text())["command"]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "tests.test_train_loop"] and "--resume" not in argv
    assert argv[argv.index("--horizon") + 1] == "3" and argv[argv.index("--steps") + 1] == "6"
    argv[argv.index("--out") + 1] = str(tmp_path / "replay")
    assert loop.main(FAMILY, argv[3:]) == 0
    assert_same_state(tmp_path / "split", tmp_path / "replay")


def test_init_from_starts_from_the_parent_and_records_its_lineage(tmp_path, local_hub):
    parent, child = tmp_path / "parent", tmp_path / "child"
    run(parent, "--steps", "3", "--lr", "0.01")
    run(child, "--steps", "3", "--seed", "5", "--init-from", str(parent))
    (tp, mp), (tc, mc) = ckpt(parent), ckpt(child)
    assert mc["init_from"]["run"] == str(parent) and mc["init_from"]["step"] == 3
    assert mc["init_from"]["sessions"] == mp["sessions"]
    # Adam went on from the parent's state: its step count is the parent's plus the child's
    assert float(tc["optim.generator.state.0.step"]) == float(tp["optim.generator.state.0.step"]) + 3
    # the child's steps and schedule start afresh, with its own hyperparameters (not the parent's lr 0.01)
    assert mc["step"] == 3 and mc["weight"] == mp["weight"] == pytest.approx(0.5)
    assert json.dumps(mc["optimizers"]).count('"lr": 0.05') >= 1 and '"lr": 0.01' not in json.dumps(mc["optimizers"])
    with pytest.raises(SystemExit, match="size: 12 there, 6 here"):
        run(tmp_path / "other", "--size", "6", "--init-from", str(parent))

    run(child, "--publish-only", "hubmodels/child")
    card = json.loads((local_hub / "child" / "card.json").read_text())
    parent_cmd, child_cmd = card["command"].splitlines()
    assert "--lr 0.01" in parent_cmd and "--init-from" not in parent_cmd
    assert f"--init-from {parent}" in child_cmd
    assert f"initialised from run `{parent}` at step 3" in card["how_made"] and "lr 0.01" in card["how_made"]
    assert card["how_made"].startswith("Fine-tuned") and card["training"]["initialised from"] == f"{parent} (step 3)"
    assert "for the 3 steps of" in card["training"]["wall time"]


def test_a_crash_keeps_the_last_good_checkpoint_and_resume_completes_the_run(tmp_path):
    out = tmp_path / "crash"
    with pytest.raises(RuntimeError, match="crash in step 4"):
        run(out, "--steps", "8", "--crash-at", "4")
    assert ckpt(out)[1]["step"] == 3 and [r["step"] for r in losses(out)] == [1, 2, 3, 4]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    run(out, "--steps", "8", "--resume")
    assert [r["step"] for r in losses(out)] == list(range(1, 9))  # step 4's line of the crashed session dropped
    run(tmp_path / "straight", "--steps", "8")
    assert_same_state(tmp_path / "straight", out)


def test_non_finite_losses_never_reach_a_checkpoint(tmp_path):
    with pytest.raises(FloatingPointError, match="at step 5"):
        run(tmp_path / "logged", "--nan-at", "4")
    # between log lines: caught at the checkpoint
    with pytest.raises(FloatingPointError, match="before step 6"):
        run(tmp_path / "quiet", "--steps", "8", "--nan-at", "4", "--log-every", "100")
    assert ckpt(tmp_path / "quiet")[1]["step"] == 3


def test_publish_writes_a_folder_whose_card_has_the_command_and_metrics(tmp_path, local_hub):
    out = tmp_path / "pub"
    run(out, "--steps", "3", "--publish", "hubmodels/const")
    folder = local_hub / "const"
    assert {"README.md", "card.json", "config.json", "metrics.json", "model.safetensors", "sample.png"} <= {
        p.name for p in folder.iterdir()}
    card = json.loads((folder / "card.json").read_text())
    assert card["command"].startswith("python -m tests.test_train_loop --out") and "--steps 3" in card["command"]
    assert card["title"] == "A constant" and card["datasets"] == ["const"]
    assert card["training"]["steps"] == 3 and card["training"]["size"] == 12 and card["training"]["sessions"] == 1
    assert card["training"]["final losses"].startswith("mse=")
    assert "* Adam lr 0.05" in card["how_made"] and "measured on held-out images" in card["how_made"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics) == ["error_l1"] and card["metrics"] == metrics  # evaluation only, no training losses
    readme = (folder / "README.md").read_text()
    assert "python -m tests.test_train_loop" in readme and "| steps | 3 |" in readme and "sample.png" in readme
    # the published weights are the EMA's, stored in fp16
    from safetensors.torch import load_file

    tensors, _ = ckpt(out)
    published = load_file(folder / "model.safetensors")
    assert torch.equal(published["generator.weight"], tensors["module.ema.generator.weight"].half())


def test_sigkill_at_a_random_moment_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    """kill -9 (no cleanup, no finally) at a random moment of a run in another process: the checkpoints on
    disk are whole, and --resume reaches bit for bit the weights of a run that never stopped."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tests.test_train_loop", "--out", str(out), "--threads", "1", "--steps", "40",
           "--ckpt-every", "2", "--step-delay", "0.05"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "latest.json").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, "the training process ended before its first checkpoint"
            time.sleep(0.05)
        time.sleep(random.uniform(0.0, 1.0))  # anywhere in a step, or in the middle of writing a checkpoint
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = ckpt(out)[1]["step"]
    assert 0 < killed_at < 40
    run(out, "--steps", "40", "--ckpt-every", "2", "--resume")
    run(tmp_path / "straight", "--steps", "40", "--ckpt-every", "2")
    assert_same_state(tmp_path / "straight", out)


if __name__ == "__main__":  # the kill test runs the fake family in its own process
    sys.exit(loop.main(FAMILY))
