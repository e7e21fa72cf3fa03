"""StyleGAN / StyleGAN2 training: short runs of each arch and of conditional mode, regulariser cadences, exact
resume, publishing a loadable generator, and the small pieces (EMA ramp, Fréchet distance, style mixing)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from train import common
from train import stylegan as sg

# A tiny configuration: 16 px, a few thousand parameters per net, 4 images per batch (the mbstd group).
TINY = ["--image-size", "16", "--batch-size", "4", "--n-train", "16", "--n-val", "8", "--channel-base", "256",
        "--channel-max", "16", "--z-dim", "8", "--w-dim", "8", "--grid-seeds", "3", "--log-every", "1",
        "--threads", "1", "--sample-every", "100"]
# regularisers on short cadences so a few steps show both
CADENCE = ["--g-reg-interval", "2", "--d-reg-interval", "4"]


def run(out: Path, *extra: str) -> None:
    assert sg.main([*TINY, "--out", str(out), *extra]) == 0


def ckpt(out: Path):
    found = common.Checkpointer(out / "checkpoints").load()
    assert found is not None, f"no checkpoint in {out}"
    return found


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def v2_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "v2"
    run(out, "--steps", "5", "--ckpt-every", "5", "--sample-every", "5", *CADENCE)
    return out


def test_stylegan2_losses_and_lazy_regularisers(v2_run):
    recs = records(v2_run)
    assert [r["step"] for r in recs] == [1, 2, 3, 4, 5]
    for r in recs:
        for key in ("G/loss", "D/loss_fake", "D/loss_real", "scores/real", "scores/fake"):
            assert math.isfinite(r[key]), key
    # path length on steps 0, 2, 4 (every 2), R1 on steps 0 and 4 (every 4); 1-based log steps
    assert [r["step"] for r in recs if "G/pl_penalty" in r] == [1, 3, 5]
    assert [r["step"] for r in recs if "D/r1_penalty" in r] == [1, 5]
    assert all(math.isfinite(r["G/pl_penalty"]) for r in recs if "G/pl_penalty" in r)
    assert recs[-1]["pl_steps"] == 3 and recs[-1]["r1_steps"] == 2 and recs[-1]["pl_mean"] > 0
    tensors, meta = ckpt(v2_run)
    assert meta["args"]["arch"] == "stylegan2" and meta["args"]["r1_gamma"] == pytest.approx(0.0002 * 16 ** 2 / 4)
    # lazy regularisation: Adam lr and betas scaled by interval / (interval + 1)
    groups = {n: meta["optimizers"][n]["param_groups"][0] for n in ("generator", "discriminator")}
    assert groups["generator"]["lr"] == pytest.approx(0.0025 * 2 / 3)
    assert groups["discriminator"]["betas"][1] == pytest.approx(0.99 ** (4 / 5))
    assert not any(k.startswith("module.ema.discriminator") for k in tensors)
    assert any(k.startswith("module.discriminator.") for k in tensors)
    # the EMA tracks w_avg with the nets (buffers copied) and differs from the trained weights
    assert torch.equal(tensors["module.ema.mapping_network.w_avg"], tensors["module.mapping_network.w_avg"])
    assert tensors["module.ema.mapping_network.w_avg"].abs().sum() > 0
    assert not torch.equal(tensors["module.ema.mapping_network.fc0.weight"], tensors["module.mapping_network.fc0.weight"])
    from PIL import Image

    with Image.open(v2_run / "samples" / "000005.png") as grid:
        # 2 rows of seeds at psi 1 + the same at psi 0.7; 3 columns; 16 px cells, 2 px padding
        assert grid.size == (3 * 18 + 2, 4 * 18 + 2)


def test_stylegan_v1_r1_every_step_no_path_length(tmp_path, local_hub):
    out = tmp_path / "v1"
    run(out, "--arch", "stylegan", "--steps", "2", "--ckpt-every", "2", "--mapping-layers", "2")
    recs = records(out)
    assert all("D/r1_penalty" in r and "G/pl_penalty" not in r for r in recs)
    _, meta = ckpt(out)
    assert meta["args"]["r1_gamma"] == 10.0 and meta["args"]["lr"] == 0.001
    assert meta["optimizers"]["discriminator"]["param_groups"][0]["lr"] == 0.001  # not lazy: no adjustment
    assert "fmaps_base" in meta["config"]
    import hubmodels

    assert sg.main(["--out", str(out), "--publish-only", "hubmodels/tiny-stylegan"]) == 0
    model = hubmodels.load(str(local_hub / "tiny-stylegan"))
    assert type(model).__name__ == "StyleGAN" and not model.has_discriminator
    z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(0))
    assert model(z, truncation_psi=0.7).shape == (2, 3, 16, 16)


def test_conditional_publish_loads_and_generates(tmp_path, local_hub):
    out = tmp_path / "cond"
    run(out, "--cond", "--steps", "2", "--ckpt-every", "2", *CADENCE)
    assert all(math.isfinite(r["G/loss"]) for r in records(out))
    assert sg.main(["--out", str(out), "--publish-only", "hubmodels/tiny-cond"]) == 0
    import hubmodels

    folder = local_hub / "tiny-cond"
    model = hubmodels.load(str(folder))
    assert type(model).__name__ == "StyleGAN2" and model.c_dim == 3 and not model.has_discriminator
    tensors, _ = ckpt(out)
    ref = tensors["module.ema.synthesis_network.b4.const"]
    assert torch.equal(model.synthesis_network.b4.const, ref.half().float())  # fp16 storage of the EMA
    z = torch.randn(3, model.z_dim, generator=torch.Generator().manual_seed(0))
    c = torch.eye(3)
    assert model(z, c).shape == (3, 3, 16, 16)
    card = model.card
    assert "python -m train.stylegan" in card.command and "--cond" in card.command
    for key in ("fd_thumb", "fd_thumb_real", "diversity_l1", "diversity_l1_real"):
        assert math.isfinite(card.metrics[key]), key
    assert "class-conditional" in card.description and "not FID" in (folder / "README.md").read_text()
    # one row per class at psi 1 and at 0.7
    assert card.sample_image.size == (3 * 18 + 2, 6 * 18 + 2)


def test_resume_is_bit_identical(tmp_path):
    opts = ["--ckpt-every", "3", *CADENCE]
    run(tmp_path / "straight", "--steps", "6", *opts)
    run(tmp_path / "split", "--steps", "3", *opts)
    run(tmp_path / "split", "--steps", "6", "--resume", *opts)
    a, meta_a = ckpt(tmp_path / "straight")
    b, meta_b = ckpt(tmp_path / "split")
    assert meta_a["step"] == meta_b["step"] == 6
    assert meta_a["pl_mean"] == meta_b["pl_mean"] and meta_a["r1_steps"] == meta_b["r1_steps"] == 2
    assert a.keys() == b.keys()
    for key in a:  # nets, EMA (with w_avg), Adam moments, RNG
        assert torch.equal(a[key], b[key]), key
    assert len(meta_b["sessions"]) == 2
    with pytest.raises(SystemExit, match="--r1-gamma"):
        run(tmp_path / "split", "--steps", "7", "--resume", *opts, "--r1-gamma", "1")


def test_publish_of_v2_run(v2_run, local_hub):
    import hubmodels

    assert sg.main(["--out", str(v2_run), "--publish-only", "hubmodels/tiny-sg2"]) == 0
    model = hubmodels.load(str(local_hub / "tiny-sg2"))
    assert type(model).__name__ == "StyleGAN2" and model.c_dim == 0
    z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(1))
    img = model(z, truncation_psi=0.5)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    assert model.card.training["steps"] == 5 and "G/loss=" in model.card.training["final losses"]


def test_ema_ramp_follows_the_official_formula():
    assert sg.ema_beta_at(0, 32, 10.0, 0.05) == 0.0  # the first EMA is G itself
    # ramp: half-life min(10 kimg, 0.05 * images seen)
    assert sg.ema_beta_at(100, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / (100 * 32 * 0.05)))
    assert sg.ema_beta_at(10 ** 6, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 10000))
    assert sg.ema_beta_at(0, 16, 10.0, 0.0) == pytest.approx(0.5 ** (16 / 10000))  # no ramp (v1)


def test_frechet_distance():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 6, generator=g).double(), torch.randn(400, 6, generator=g).double()
    assert sg.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near = sg.frechet_distance(a, b)
    assert 0 < near < 0.3
    # a mean shift of 1 in every dimension adds |mu|^2 = 6; a doubled scale adds tr(S)(1 + 4 - 2*2) = 6
    assert sg.frechet_distance(a, b + 1) == pytest.approx(near + 6, abs=0.5)
    assert sg.frechet_distance(a, 2 * b) == pytest.approx(6, abs=1.0)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan"])
def test_style_mixing_does_not_move_w_avg(arch):
    args = sg.parse_args([*TINY, "--arch", arch, "--out", "unused", "--mapping-layers", "2"])
    model = sg.build_model(**sg.model_config(args, 0)).train()
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    shapes = model.noise_shapes()
    before = model.mapping_network.w_avg.clone()
    sg.run_generator(model.mapping_network, model.synthesis_network, model.mapping_network, z, None,
                     torch.Generator().manual_seed(0), num_ws=model.num_ws, style_mixing_prob=1.0, noise_shapes=shapes)
    mixed = model.mapping_network.w_avg.clone()
    model.mapping_network.w_avg.copy_(before)
    model.mapping_network(z, None)  # one tracked pass: what the mixed call must equal
    assert not torch.equal(mixed, before)
    assert torch.equal(mixed, model.mapping_network.w_avg)
