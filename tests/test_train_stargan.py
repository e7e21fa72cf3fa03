"""StarGAN training: a short run, exact resume, joint mode with the mask vector, the official objective's pieces,
the learning-rate schedules, publishing, bad arguments."""
from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path

import pytest
import torch

from train import common
from train import stargan as sg

# A tiny configuration: 32 px, a few thousand parameters per net, 2 images per batch, G every 2nd step.
TINY = ["--image-size", "32", "--batch-size", "2", "--n-train", "12", "--n-val", "4", "--g-conv-dim", "8",
        "--d-conv-dim", "8", "--g-repeat-num", "1", "--d-repeat-num", "3", "--n-critic", "2", "--sample-images", "2",
        "--log-every", "1", "--threads", "1"]


def run(out: Path, *extra: str) -> None:
    assert sg.main([*TINY, "--out", str(out), *extra]) == 0


def ckpt(out: Path):
    found = common.Checkpointer(out / "checkpoints").load()
    assert found is not None, f"no checkpoint in {out}"
    return found


def resumes_exactly(tmp_path: Path, opts: list[str]) -> dict:
    """4 steps straight and 2 + 2 with --resume give the same tensors; returns the straight run's."""
    run(tmp_path / "straight", "--steps", "4", *opts)
    run(tmp_path / "split", "--steps", "2", *opts)
    run(tmp_path / "split", "--steps", "4", "--resume", *opts)
    a, _ = ckpt(tmp_path / "straight")
    b, _ = ckpt(tmp_path / "split")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    return a


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "short"
    run(out, "--steps", "4", "--sample-every", "2", "--ckpt-every", "2", "--lr-decay", "linear",
        "--lr-update-step", "1")
    return out


def test_short_run_writes_losses_samples_checkpoint(short_run):
    records = [json.loads(line) for line in (short_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for key in sg.LOSS_KEYS[:4]:  # the critic's losses every step
        assert all(math.isfinite(r[key]) for r in records), key
    # the generator's only every n_critic (2) steps, logged as the mean of the steps that had them
    assert ["G/loss_rec" in r for r in records] == [False, True, False, True]
    # linear decay to 0 over the last half (steps 3 and 4), updated every step
    assert [r["g_lr"] for r in records] == [1e-4, 1e-4, 5e-5, 0.0]
    from PIL import Image

    with Image.open(short_run / "samples" / "000004.png") as grid:
        # 2 held-out images per row: the image then 5 single-attribute edits; 32 px cells, 2 px padding
        assert grid.size == (6 * 34 + 2, 2 * 34 + 2)
    tensors, meta = ckpt(short_run)
    assert meta["step"] == 4 and meta["g_lr"] == 0.0 and meta["config"]["exclusive_groups"] == [
        ["black_fur", "golden_fur", "brown_fur"]]
    assert any(k.startswith("module.ema.generator.") for k in tensors)
    assert any(k.startswith("optim.discriminator.state.") for k in tensors)
    assert tensors["module.generator.main.1.running_mean"].abs().sum() > 0  # running stats updated in training
    # EMA beta 0 (the official code has no EMA): the published weights are the trained ones
    assert torch.equal(tensors["module.generator.main.0.weight"], tensors["module.ema.generator.main.0.weight"])


def test_resume_is_bit_identical(tmp_path):
    opts = ["--sample-every", "100", "--ckpt-every", "3", "--lr-decay", "official", "--lr-update-step", "2"]
    run(tmp_path / "straight", "--steps", "6", *opts)
    run(tmp_path / "split", "--steps", "3", *opts, "--num-iters-decay", "3", "--decay-from", "3")
    run(tmp_path / "split", "--steps", "6", "--resume", *opts)
    a, meta_a = ckpt(tmp_path / "straight")
    b, meta_b = ckpt(tmp_path / "split")
    assert meta_a["step"] == meta_b["step"] == 6 and meta_a["g_lr"] == meta_b["g_lr"] < 1e-4
    assert a.keys() == b.keys() and len([k for k in a if k.startswith("module.ema.")]) > 20
    for key in a:  # nets, running statistics, Adam moments, RNG: all bit-identical
        assert torch.equal(a[key], b[key]), key
    assert len(meta_b["sessions"]) == 2 and meta_b["sessions"][1]["start_step"] == 3
    run(tmp_path / "other", "--steps", "3", "--seed", "1", *opts)
    c, _ = ckpt(tmp_path / "other")
    d = common.Checkpointer(tmp_path / "split" / "checkpoints").load(3)[0]
    assert not torch.equal(c["module.generator.main.0.weight"], d["module.generator.main.0.weight"])


def test_card_command_of_a_resumed_run_reproduces_it(tmp_path, local_hub):
    # Session 2 raises --steps; the decay window stays session 1's (from the checkpoint), so the card's one
    # command pins it.
    opts = ["--sample-every", "100", "--ckpt-every", "2", "--lr-decay", "linear", "--lr-update-step", "1"]
    run(tmp_path / "split", "--steps", "2", *opts)
    run(tmp_path / "split", "--steps", "4", "--resume", *opts)
    assert sg.main(["--out", str(tmp_path / "split"), "--publish-only", "hubmodels/split"]) == 0
    import hubmodels

    command = hubmodels.load(str(local_hub / "split")).card.command
    assert "--resume" not in command and "--steps 4" in command and "--decay-from 1" in command
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "train.stargan"]
    argv = argv[3:]
    argv[argv.index("--out") + 1] = str(tmp_path / "replay")
    assert sg.main(argv) == 0
    a, _ = ckpt(tmp_path / "split")
    b, meta_b = ckpt(tmp_path / "replay")
    assert meta_b["step"] == 4 and len(meta_b["sessions"]) == 1
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_joint_mode_trains_both_datasets_with_the_mask_vector(tmp_path, local_hub):
    out = tmp_path / "joint"
    run(out, "--steps", "2", "--data2", "synthfaces-domains", "--sample-every", "2", "--ckpt-every", "2")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert "synthfaces:D/loss_cls" in records[0] and "synthfaces-domains:D/loss_cls" in records[0]
    _, meta = ckpt(out)
    cfg = meta["config"]
    assert (cfg["c_dim"], cfg["c2_dim"], cfg["attributes2"]) == (5, 3, ["cat", "dog", "fox"])
    assert cfg["label_types"] == ["multi", "single"] and cfg["datasets"] == ["synthfaces", "synthfaces-domains"]
    from PIL import Image

    with Image.open(out / "samples" / "000002.png") as grid:  # image, 5 attribute edits, 3 classes
        assert grid.size == (9 * 34 + 2, 2 * 34 + 2)
    assert sg.main(["--out", str(out), "--publish-only", "hubmodels/joint"]) == 0
    import hubmodels

    model = hubmodels.load(str(local_hub / "joint"))
    assert model.joint and model.label_dim == 10 and model.generator.main[0].in_channels == 13
    assert set(model.card.datasets) == {"synthfaces", "synthfaces-domains"}
    assert "mask vector" in (local_hub / "joint" / "README.md").read_text()


def test_official_objective_pieces():
    # classification: summed BCE over attributes averaged over the batch; softmax CE for classes
    logit = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="sum") / 2
    torch.testing.assert_close(sg.classification_loss(logit, target, "multi"), expected)
    torch.testing.assert_close(sg.classification_loss(logit, torch.tensor([0, 1]), "single"),
                               torch.nn.functional.cross_entropy(logit, torch.tensor([0, 1])))
    # gradient penalty: (||grad|| - 1)^2; for out = sum(a * x), the gradient is a everywhere
    x = torch.ones(2, 3, 2, 2, requires_grad=True)
    a = torch.tensor([0.5, 2.0])
    out = (a[:, None, None, None] * x).flatten(1).sum(1, keepdim=True)
    norms = a * math.sqrt(12)
    torch.testing.assert_close(sg.gradient_penalty(out, x), ((norms - 1) ** 2).mean())


def test_learning_rate_schedules():
    args = argparse.Namespace(lr_decay="official", lr_update_step=1000, decay_from=100000, num_iters_decay=100000)
    lr = 1e-4
    for done in range(1, 200001):
        lr = sg.decayed_lr(1e-4, lr, done, args)
    # the official arithmetic lowers the rate by lr0 / lr_update_step in all (what yunjey/stargan's solver does)
    assert lr == pytest.approx(1e-4 * (1 - 1 / 1000))
    args.lr_decay = "linear"
    assert sg.decayed_lr(1e-4, 1e-4, 150000, args) == pytest.approx(5e-5)
    assert sg.decayed_lr(1e-4, 1e-4, 200000, args) == 0.0
    assert sg.decayed_lr(1e-4, 1e-4, 150001, args) == 1e-4  # only every lr_update_step steps


def test_publish_writes_a_loadable_model_with_card(short_run, local_hub):
    import hubmodels

    assert sg.main(["--out", str(short_run), "--publish-only", "hubmodels/tiny-stargan"]) == 0
    folder = local_hub / "tiny-stargan"
    model = hubmodels.load(str(folder))
    assert type(model).__name__ == "StarGAN" and model.has_discriminator
    assert model.attributes == ["black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth"]
    tensors, _ = ckpt(short_run)
    assert torch.equal(model.generator.main[0].weight, tensors["module.ema.generator.main.0.weight"].half().float())
    card = model.card
    assert "python -m train.stargan" in card.command and "--steps 4" in card.command
    assert card.training["steps"] == 4 and card.training["training images"] == 12
    assert card.datasets == ["synthfaces"]
    for key in ("cls_acc_real", "cls_acc_fake", "cycle_l1", "identity_l1", "edit_golden_fur", "edit_glasses",
                "edit_open_mouth", "rest_l1"):
        assert math.isfinite(card.metrics[key]), key
    losses = [k for k in card.metrics if "/" in k or "loss" in k]
    assert not losses  # training losses go in the training table, not in the evaluation metrics
    assert "G/loss_rec=" in card.training["final losses"]
    readme = (folder / "README.md").read_text()
    assert "WGAN-GP" in readme and "sample.png" in readme and "| steps | 4 |" in readme
    assert card.sample_image is not None and card.sample_image.size == (6 * 34 + 2, 2 * 34 + 2)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    cases = [
        (["--data", str(tmp_path / "nope")], "no such folder"),
        (["--image-size", "30"], "multiple of 4"),
        (["--image-size", "48", "--d-repeat-num", "5"], "divisible by 2**--d-repeat-num"),
        (["--selected-attrs", "glasses", "wings"], "not SynthFaces attributes"),
        (["--data2", "synthfaces-domains", "--domains2", "cat", "cow"], "not SynthFaces domains"),
        (["--domains2", "cat", "dog"], "give --data2 too"),
        (["--exclusive", "glasses", "wings"], "not among --selected-attrs"),
        (["--n-critic", "0"], "--n-critic must be >= 1"),
        (["--instance-noise", "-1"], "--instance-noise is a standard deviation on the [-1, 1] image range"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit):
            sg.parse_args(["--out", str(tmp_path / "o"), *argv])
        assert message in capsys.readouterr().err, argv


def test_refuses_to_overwrite_and_checks_resume_settings(short_run):
    with pytest.raises(SystemExit, match="--resume"):
        run(short_run, "--steps", "5")
    with pytest.raises(SystemExit, match="--g-lr"):
        run(short_run, "--steps", "5", "--resume", "--g-lr", "0.001")


def test_attribute_folder_data(tmp_path):
    """A CelebA-style folder (images/ + list_attr_celeba.txt) trains the same way; its split is StarGAN's."""
    from PIL import Image

    root = tmp_path / "celeba"
    (root / "images").mkdir(parents=True)
    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    rows = []
    for i in range(8):
        Image.new("RGB", (60, 70), (30 * i, 100, 50)).save(root / "images" / f"{i:06d}.jpg")
        values = [1 if (i % 3) == k else -1 for k in range(3)] + [1 if i % 2 else -1, -1]
        rows.append(f"{i:06d}.jpg " + " ".join(map(str, values)))
    (root / "list_attr_celeba.txt").write_text(f"{len(rows)}\n{' '.join(names)}\n" + "\n".join(rows) + "\n")
    args = sg.parse_args(["--out", str(tmp_path / "o"), "--data", str(root), "--image-size", "32", "--n-val", "3"])
    assert args.crop_size == 178 and args.selected_attrs == names and args.exclusive == [names[:3]]
    train, val = sg.load_pools(args)
    assert len(train[0]) + len(val[0]) == 8 and train[0].labels.shape[1] == 5 and val[0].held_out
    x, labels = sg.sample_batch(train[0], 4, common.step_generator(0, 0))
    assert x.shape == (4, 3, 32, 32) and labels.shape == (4, 5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_data_parallel_run(tmp_path):
    """torchrun starts the gloo process group Accelerator(cpu=True) joins; the gradient penalty's double backward
    runs through DistributedDataParallel and the processes stay in lockstep (checked at every save); the critic's
    classifier warm-up, which leaves the real/fake head out of its loss, runs through it too."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "train.stargan", *TINY, "--steps", "2", "--ckpt-every", "2",
           "--sample-every", "2", "--d-cls-warmup", "2", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 x 2 process(es)" in proc.stdout and "DistributedDataParallel" in proc.stdout
    _, meta = ckpt(out)
    assert meta["num_processes"] == 2 and meta["step"] == 2
    assert meta["sessions"][0]["command"].startswith("torchrun --nproc_per_node 2 -m train.stargan")


def test_class_folder_as_the_second_dataset(tmp_path):
    """Joint mode with a RaFD-style folder (root/train/<class>/*.png): its classes label the second dataset."""
    from PIL import Image

    root = tmp_path / "rafd"
    for split in ("train", "val"):
        for k, name in enumerate(("happy", "sad")):
            (root / split / name).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40, 40), (90 * k + 20 * i, 60, 40)).save(root / split / name / f"{i}.png")
    args = sg.parse_args(["--out", str(tmp_path / "o"), "--data2", str(root), "--image-size", "32", "--n-train", "6",
                          "--n-val", "4"])
    train, val = sg.load_pools(args)
    assert [p.kind for p in train] == ["multi", "single"] and train[1].names == ["happy", "sad"]
    assert len(train[1]) == 6 and len(val[1]) == 4 and val[1].held_out
    cond = sg.Condition(1, 5, 2, "single", ["happy", "sad"])
    c = cond.label_vector(torch.tensor([1, 0]), train[1])
    assert c.tolist() == [[0, 0, 0, 0, 0, 0, 1, 0, 1], [0, 0, 0, 0, 0, 1, 0, 0, 1]]
    assert cond.logits(torch.arange(7.0)[None]).tolist() == [[5.0, 6.0]]


def test_card_verdict_follows_the_measured_edits():
    from train.stargan import _verdict

    attrs = ["black_fur", "glasses", "open_mouth"]
    text = _verdict({"edit_black_fur": 0.6, "edit_glasses": -0.04, "edit_open_mouth": 0.15, "cls_acc_fake": 0.99,
                     "rest_l1": 0.25, "identity_l1": 0.05}, attrs)
    assert "visibly makes the black_fur" in text and "faintly the open_mouth" in text
    assert "not the glasses" in text and "discriminator reads them" in text and "rest_l1" in text
    assert "identity_l1" not in text
    assert _verdict({}, attrs) == ""
    good = _verdict({"edit_black_fur": 0.5, "edit_glasses": 0.4, "edit_open_mouth": 0.35, "rest_l1": 0.05}, attrs)
    assert "not" not in good and "faintly" not in good


def test_classifier_jacobian_penalty_is_the_squared_frobenius_norm():
    """One backward pass with random signs estimates ||d logits / d x||_F^2 without bias: exact for one logit, the
    mean of many draws for several, checked on a linear classifier whose Jacobian is its weight."""
    torch.manual_seed(0)
    w = torch.randn(5, 3 * 4 * 4)
    x = torch.randn(6, 3, 4, 4, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    one = sg.classifier_jacobian_penalty(x.flatten(1) @ w[:1].T, x, g)
    assert torch.allclose(one, w[0].pow(2).sum(), rtol=1e-5)
    draws = torch.stack([sg.classifier_jacobian_penalty(x.flatten(1) @ w.T, x, g) for _ in range(400)])
    assert abs(draws.mean().item() / w.pow(2).sum().item() - 1) < 0.05
    assert draws.std() > 0  # the signs do vary
    w.requires_grad_(True)
    sg.classifier_jacobian_penalty(x.flatten(1) @ w.T, x, g).backward()  # double backward reaches the weights
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_the_classifier_jacobian_option_trains_logs_and_resumes(tmp_path):
    opts = ["--sample-every", "100", "--ckpt-every", "2", "--lambda-cls-jac", "10"]
    a = resumes_exactly(tmp_path, opts)
    lines = [json.loads(s) for s in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["D/cls_jac"]) and r["D/cls_jac"] > 0 for r in lines if "D/loss_cls" in r)
    with pytest.raises(SystemExit, match="--lambda-cls-jac"):
        run(tmp_path / "split", "--steps", "5", "--resume", *opts[:-1], "1")
    run(tmp_path / "plain", "--steps", "4", *opts[:-2])  # the option changes the weights it trains
    c, _ = ckpt(tmp_path / "plain")
    assert not torch.equal(a["module.discriminator.main.0.weight"], c["module.discriminator.main.0.weight"])


class _PlainAccelerator:
    """Just what train_step and classifier_warmup ask of accelerate's Accelerator on one CPU process."""

    process_index = 0

    def autocast(self):
        import contextlib
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()


def _critic_inputs(instance_noise: float) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, float]]:
    from hubmodels.stargan.networks import Discriminator, Generator

    torch.manual_seed(0)
    G, D = Generator(conv_dim=8, c_dim=2, repeat_num=1), Discriminator(image_size=16, conv_dim=8, c_dim=2,
                                                                         repeat_num=2)
    seen: list[torch.Tensor] = []
    D.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].detach().clone()))
    optims = {"generator": torch.optim.Adam(G.parameters()), "discriminator": torch.optim.Adam(D.parameters())}
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    pool = sg.LabelPool(images=x, dataset=None, labels=labels, names=["a", "b"], kind="multi", name="t")
    cond = sg.Condition(k=0, c_dim=2, c2_dim=0, kind="multi", names=["a", "b"])
    args = argparse.Namespace(lambda_cls=1.0, lambda_rec=10.0, lambda_gp=10.0, lambda_id=0.0, lambda_cls_jac=0.0,
                              instance_noise=instance_noise)
    losses = sg.train_step(G, D, optims, _PlainAccelerator(), x, labels, pool, cond,
                           torch.Generator().manual_seed(1), args, update_g=True)
    return x, seen, losses


def test_instance_noise_reaches_every_image_the_critic_sees():
    """With --instance-noise the critic's real image, translated image (critic and generator updates alike) all
    carry noise of that standard deviation; at 0 the critic sees the real image itself, as the official code."""
    x, seen, losses = _critic_inputs(0.0)
    assert torch.equal(seen[0], x) and all(math.isfinite(v) for v in losses.values())
    x, seen, losses = _critic_inputs(0.3)
    assert len(seen) == 4  # real, translated, interpolated (critic update); translated (generator update)
    assert abs((seen[0] - x).std().item() - 0.3) < 0.03
    assert all(math.isfinite(v) for v in losses.values())
    _, plain, _ = _critic_inputs(0.0)
    # the translations differ only by the noise on top of the same generator output (same seed, same weights)
    assert abs((seen[1] - plain[1]).std().item() - 0.3) < 0.03
    assert abs((seen[3] - plain[3]).std().item() - 0.3) < 0.05


def test_the_instance_noise_option_resumes_exactly_and_is_checked(tmp_path):
    opts = ["--sample-every", "100", "--ckpt-every", "2", "--instance-noise", "0.2"]
    resumes_exactly(tmp_path, opts)
    with pytest.raises(SystemExit, match="--instance-noise"):
        run(tmp_path / "split", "--steps", "5", "--resume", *opts[:-1], "0.1")


def test_classifier_warmup_trains_the_critics_classifier_alone():
    """--d-cls-warmup: the critic's classification loss on the real images falls, its real/fake output's weights
    are left as they were (only the classifier's gradient reaches the shared trunk), and no gradient is left
    behind."""
    from hubmodels.stargan.networks import Discriminator

    torch.manual_seed(0)
    D = Discriminator(image_size=16, conv_dim=8, c_dim=2, repeat_num=2)
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] * 2)
    x[labels[:, 0] == 1, 0] += 0.5  # attribute a: a redder image
    pool = sg.LabelPool(images=x, dataset=None, labels=labels, names=["a", "b"], kind="multi", name="t")
    args = argparse.Namespace(d_cls_warmup=60, seed=3, d_lr=1e-3, beta1=0.5, beta2=0.999, batch_size=4, hflip=True)

    def cls_loss() -> float:
        with torch.no_grad():
            return sg.classification_loss(D(x)[1], labels, "multi").item()

    before, src_head = cls_loss(), D.conv1.weight.detach().clone()
    out = sg.classifier_warmup(D, [pool], _PlainAccelerator(), torch.device("cpu"), args, 2, 0)
    assert cls_loss() < 0.5 * before and math.isfinite(out["D/warmup_cls"])
    assert torch.equal(D.conv1.weight, src_head)
    assert all(p.grad is None for p in D.parameters())


def test_the_classifier_warmup_option_resumes_exactly_and_is_checked(tmp_path, capsys):
    opts = ["--sample-every", "100", "--ckpt-every", "2", "--d-cls-warmup", "3"]
    a = resumes_exactly(tmp_path, opts)
    run(tmp_path / "plain", "--steps", "4", *opts[:-2])
    c, _ = ckpt(tmp_path / "plain")
    assert any(not torch.equal(a[k], c[k]) for k in a if "discriminator" in k)
    first = json.loads((tmp_path / "straight" / "log.jsonl").read_text().splitlines()[0])
    assert "D/warmup_cls" in json.dumps(first)
    with pytest.raises(SystemExit, match="--d-cls-warmup"):
        run(tmp_path / "split", "--steps", "5", "--resume", *opts[:-1], "4")
    with pytest.raises(SystemExit):
        run(tmp_path / "bad", "--steps", "2", "--d-cls-warmup", "-1")
    assert "--d-cls-warmup is a number of batches, 0 (off) or more; got -1" in capsys.readouterr().err


def test_a_run_older_than_an_option_resumes_as_with_its_default(tmp_path, capsys):
    """A checkpoint written before an option existed does not record it: the run trained as with its default, so
    it resumes without the option, and refuses another value."""
    run(tmp_path / "old", "--steps", "2", "--sample-every", "100", "--ckpt-every", "2")
    for meta in (tmp_path / "old" / "checkpoints").glob("step-*.json"):
        saved = json.loads(meta.read_text())
        del saved["args"]["d_cls_warmup"], saved["args"]["instance_noise"]
        meta.write_text(json.dumps(saved))
    with pytest.raises(SystemExit):
        run(tmp_path / "old", "--steps", "4", "--sample-every", "100", "--ckpt-every", "2", "--resume",
            "--d-cls-warmup", "3")
    run(tmp_path / "old", "--steps", "4", "--sample-every", "100", "--ckpt-every", "2", "--resume")
    assert ckpt(tmp_path / "old")[1]["step"] == 4
