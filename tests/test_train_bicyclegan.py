"""BicycleGAN training: the official objective and schedule, the variants, exact resume, publishing."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from train import bicyclegan as bg
from train import common

# A tiny configuration: 64 px (where_add="all" needs 6 U-Net levels), a few thousand parameters per net.
TINY = ["--data", "synthfaces", "--img-size", "64", "--batch-size", "2", "--n-train", "8", "--n-val", "4",
        "--ngf", "4", "--nef", "4", "--ndf", "4", "--nz", "4", "--samples", "2", "--grid-rows", "2",
        "--log-every", "1", "--threads", "1"]


def run(out: Path, *extra: str) -> None:
    assert bg.main([*TINY, "--out", str(out), *extra]) == 0


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
    for key in bg.LOSS_KEYS:
        assert all(math.isfinite(r[key]) for r in records), key
    from PIL import Image

    with Image.open(short_run / "samples" / "000002.png") as grid:
        # columns: input, ground truth, encoded, 2 random codes; 2 held-out rows; 64 px cells, 2 px padding
        assert grid.size == (5 * 66 + 2, 2 * 66 + 2)
    tensors, meta = ckpt(short_run)
    assert meta["step"] == 2 and meta["args"]["niter"] == 1 and meta["args"]["niter_decay"] == 1
    for prefix in ("module.generator.", "module.encoder.", "module.D.", "module.D2.", "module.ema.encoder.",
                   "optim.D2.state."):
        assert any(k.startswith(prefix) for k in tensors), prefix
    # the published copy is the trained nets themselves (official: no EMA)
    key = "model.up.1.weight"
    assert torch.equal(tensors[f"module.generator.{key}"], tensors[f"module.ema.generator.{key}"])


def test_resume_is_bit_identical(tmp_path):
    opts = ["--sample-every", "100", "--ckpt-every", "2"]
    run(tmp_path / "straight", "--steps", "4", *opts)
    run(tmp_path / "split", "--steps", "2", "--niter", "2", "--niter-decay", "2", *opts)
    run(tmp_path / "split", "--steps", "4", "--resume", *opts)
    a, meta_a = ckpt(tmp_path / "straight")
    b, meta_b = ckpt(tmp_path / "split")
    assert meta_a["step"] == meta_b["step"] == 4 and a.keys() == b.keys()
    for key in a:  # nets, published copy, Adam moments, RNG: all bit-identical
        assert torch.equal(a[key], b[key]), key
    assert len(meta_b["sessions"]) == 2
    run(tmp_path / "other", "--steps", "2", "--seed", "1", *opts)
    c, _ = ckpt(tmp_path / "other")
    d = common.Checkpointer(tmp_path / "split" / "checkpoints").load(2)[0]
    assert not torch.equal(c["module.generator.model.down.0.weight"], d["module.generator.model.down.0.weight"])


@pytest.mark.parametrize("variant,nets,absent,losses", [
    ("cvae", {"generator", "encoder", "D"}, {"D2"}, {"G_GAN", "G_L1", "kl", "D"}),
    ("clr", {"generator", "encoder", "D2"}, {"D"}, {"G_GAN2", "z_L1", "D2"}),
    ("pix2pix", {"generator", "D"}, {"encoder", "D2"}, {"G_GAN", "G_L1", "D"}),
])
def test_variants_train(tmp_path, variant, nets, absent, losses):
    run(tmp_path / variant, "--variant", variant, "--steps", "1", "--sample-every", "1", "--ckpt-every", "1")
    tensors, meta = ckpt(tmp_path / variant)
    names = {k.split(".")[1] for k in tensors if k.startswith("module.") and not k.startswith("module.ema.")}
    assert names == nets and not names & absent
    record = json.loads((tmp_path / variant / "log.jsonl").read_text().splitlines()[-1])
    assert losses <= set(record)
    if variant == "pix2pix":
        assert meta["config"]["nz"] == 0 and meta["config"]["encoder"] is None
        assert meta["args"]["gan_mode"] == "vanilla" and meta["args"]["norm"] == "batch"
    if variant == "clr":
        assert meta["args"]["lambda_l1"] == 0 and meta["args"]["lambda_kl"] == 0


def _tiny_args(**over) -> argparse.Namespace:
    args = bg.parse_args([*TINY, "--out", "unused", "--steps", "10", *sum(([f"--{k}", str(v)]
                                                                             for k, v in over.items()), [])])
    return args


def _one_step(args):
    model, D, D2, _ = bg.build_networks(args)
    nets = {"generator": model.generator, "encoder": model.encoder, "D": D, "D2": D2}
    optims = {n: torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.999)) for n, m in nets.items()
              if m is not None}
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in nets.items() if m is not None}

    class Acc:
        def backward(self, loss):
            loss.backward()

    g = torch.Generator().manual_seed(0)
    A, B = torch.rand(2, 1, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    losses = bg.bicycle_step(nets, optims, Acc(), A, B, args, g, model.encoder)
    moved = {n: any(not torch.equal(p, q) for p, q in zip(before[n], m.parameters()))
             for n, m in nets.items() if m is not None}
    return losses, moved


def test_latent_loss_updates_the_generator_only():
    """BicycleGAN: |E(G(A, z)) - z| trains G, not E (official set_requires_grad(netE, False)); cLR-GAN alone
    trains E with it."""
    args = _tiny_args(**{"lambda-l1": 0, "lambda-kl": 0, "lambda-gan": 0})
    losses, moved = _one_step(args)
    assert losses["z_L1"] > 0 and moved["generator"] and not moved["encoder"]
    args = _tiny_args(variant="clr")
    losses, moved = _one_step(args)
    assert moved["generator"] and moved["encoder"]


def test_objective_pieces():
    # KL and image L1 with the official weights reach E
    args = _tiny_args()
    assert (args.lambda_l1, args.lambda_kl, args.lambda_z, args.lambda_gan, args.lambda_gan2) == (10, 0.01, 0.5, 1, 1)
    assert (args.lr, args.beta1, args.gan_mode, args.init_type, args.init_gain) == (2e-4, 0.5, "lsgan", "xavier", 0.02)
    losses, moved = _one_step(args)
    assert all(moved.values()) and losses["kl"] >= 0
    # least squares GAN loss, summed over scales; one scale sums per-image means (the official quirk)
    p = [torch.full((2, 1, 3, 3), 0.5), torch.zeros(2, 1, 2, 2)]
    assert bg.gan_loss(p, True, "lsgan").item() == pytest.approx(0.25 + 1.0)
    assert bg.gan_loss([p[0]], True, "lsgan").item() == pytest.approx(2 * 0.25)
    # constant then linear decay (official 'linear' policy, per step)
    assert [round(bg.lr_factor(t, 4, 4), 3) for t in range(9)] == [1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0.0]


def test_publish_writes_a_loadable_model_with_card(short_run, local_hub):
    import hubmodels

    assert bg.main(["--out", str(short_run), "--publish-only", "hubmodels/tiny-bicyclegan"]) == 0
    folder = local_hub / "tiny-bicyclegan"
    model = hubmodels.load(str(folder))
    assert type(model).__name__ == "BicycleGAN" and model.input_nc == 1 and model.nz == 4
    tensors, _ = ckpt(short_run)
    ref = tensors["module.ema.generator.model.down.0.weight"]
    assert torch.equal(model.generator.model.down[0].weight, ref.half().float())  # fp16 storage
    card = model.card
    assert "python -m train.bicyclegan" in card.command and "--steps 2" in card.command
    for key in ("diversity_l1", "outline_f1", "outline_f1_shuffled", "real_outline_f1", "mask_r2", "recon_l1"):
        assert math.isfinite(card.metrics[key]), key
    assert "G_L1=" in card.training["final losses"]
    readme = (folder / "README.md").read_text()
    assert "| steps | 2 |" in readme and "sample.png" in readme and "What it does not" in readme
    assert len(model.sample(torch.zeros(1, 64, 64), num_samples=2)) == 2


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    for argv, message in [
        (["--batch-size", "3"], "--batch-size must be even"),
        (["--img-size", "48"], "power of 2"),
        (["--encoder-depth", "4"], "for --img-size 64 use 3"),
        (["--data", str(tmp_path / "nope")], "no such folder"),
        (["--input-nc", "3"], "SynthFaces sketches are 1-channel"),
        (["--variant", "pix2pix", "--lambda-z", "1"], "no meaning for --variant pix2pix"),
        (["--lambda-gan", "0", "--lambda-gan2", "0"], "at least one of --lambda-gan"),
    ]:
        with pytest.raises(SystemExit):
            bg.parse_args(["--out", str(tmp_path / "o"), *argv])
        assert message in capsys.readouterr().err, argv


def test_paired_folder_data(tmp_path):
    """A pix2pix-layout folder (A|B side by side) trains like the official aligned dataset."""
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / "pairs" / split).mkdir(parents=True)
        for i in range(3):
            ab = Image.new("RGB", (80, 40), (200, 200, 200))
            ab.paste((20 * i, 100, 50), (40, 0, 80, 40))
            ab.save(tmp_path / "pairs" / split / f"{i}_AB.png")
    args = bg.parse_args(["--out", str(tmp_path / "o"), "--data", str(tmp_path / "pairs"), "--img-size", "32",
                          "--load-size", "36", "--num-downs", "5", "--where-add", "input", "--encoder-depth", "2"])
    pool, val = bg.load_pools(args)
    assert len(pool) == 3 and val.held_out
    A, B = bg.sample_batch(pool, 4, common.step_generator(0, 0), flip=True)
    assert A.shape == (4, 3, 32, 32) and B.shape == (4, 3, 32, 32)
    assert torch.allclose(A, torch.full_like(A, 200 / 127.5 - 1), atol=0.02)  # A: the left half
