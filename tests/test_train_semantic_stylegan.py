"""SemanticStyleGAN training: a short run (finite losses, the official regulariser cadences and lazy Adam
adjustment), bit-identical resume, publishing a loadable generator with its card, a mask folder, and the small pieces
(real-mask input, style mixing draws, the mask-agreement figure)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from train import common
from train import semantic_stylegan as sss

# A tiny configuration: 16 px, 8 SynthFaces classes, a few thousand parameters per net, 4 pairs per batch.
TINY = ["--image-size", "16", "--batch-size", "4", "--n-train", "16", "--n-val", "8", "--style-dim", "8",
        "--n-mlp", "2", "--channel-base", "128", "--channel-max", "8", "--local-layers", "3", "--base-layers", "1",
        "--depth-layers", "2", "--local-channel", "8", "--coarse-channel", "8", "--grid-seeds", "3",
        "--log-every", "1", "--threads", "1", "--sample-every", "100"]
# regularisers on short cadences so a few steps show both
CADENCE = ["--g-reg-every", "2", "--d-reg-every", "4"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # two threads on a loaded 2-core machine are pathologically slow; the runs set --threads 1 as well
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(out: Path, *extra: str) -> None:
    assert sss.main([*TINY, "--out", str(out), *extra]) == 0


def ckpt(out: Path):
    found = common.Checkpointer(out / "checkpoints").load()
    assert found is not None, f"no checkpoint in {out}"
    return found


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "sss"
    run(out, "--steps", "5", "--ckpt-every", "5", "--sample-every", "5", *CADENCE)
    return out


def test_losses_finite_and_regulariser_cadence(short_run):
    recs = records(short_run)
    assert [r["step"] for r in recs] == [1, 2, 3, 4, 5]
    for r in recs:
        for key in ("G/loss", "G/mask", "D/loss_fake", "D/loss_real", "scores/real", "scores/fake"):
            assert math.isfinite(r[key]), key
    # path length on steps 0, 2, 4 (every 2), R1 (both branches) on steps 0 and 4 (every 4); 1-based log steps
    assert [r["step"] for r in recs if "G/path" in r] == [1, 3, 5]
    assert [r["step"] for r in recs if "D/r1_img" in r] == [1, 5]
    assert [r["step"] for r in recs if "D/r1_seg" in r] == [1, 5]
    assert all(math.isfinite(r[k]) for r in recs for k in ("G/path", "D/r1_img", "D/r1_seg") if k in r)
    assert recs[-1]["path_steps"] == 3 and recs[-1]["r1_steps"] == 2 and recs[-1]["mean_path_length"] > 0
    tensors, meta = ckpt(short_run)
    a = meta["args"]
    assert (a["r1_img"], a["r1_seg"], a["lambda_mask"], a["path_regularize"], a["mixing"], a["lr"]) == \
        (10.0, 1000.0, 100.0, 0.5, 0.3, 0.002)
    assert a["ema_decay"] == pytest.approx(0.5 ** (32 / 10000))
    # the official lazy adjustment: lr x r, betas ^ r, r = every / (every + 1)
    groups = {n: meta["optimizers"][n]["param_groups"][0] for n in ("generator", "discriminator")}
    assert groups["generator"]["lr"] == pytest.approx(0.002 * 2 / 3)
    assert groups["discriminator"]["lr"] == pytest.approx(0.002 * 4 / 5)
    assert groups["discriminator"]["betas"] == pytest.approx([0.0, 0.99 ** (4 / 5)])
    cfg = meta["config"]
    assert cfg["class_names"][7] == "glasses" and cfg["transparent_dims"] == [7] and cfg["seg_dim"] == 8
    assert not any(k.startswith("module.ema.discriminator") for k in tensors)
    assert any(k.startswith("module.discriminator.") for k in tensors)
    key = "module.ema.generator.style.1.weight"
    assert not torch.equal(tensors[key], tensors["module.generator.generator.style.1.weight"])
    from PIL import Image

    with Image.open(short_run / "samples" / "000005.png") as grid:
        # images + class maps at psi 1, the same at psi 0.7: 4 rows; 3 columns; 16 px cells, 2 px padding
        assert grid.size == (3 * 18 + 2, 4 * 18 + 2)


def test_resume_is_bit_identical(tmp_path):
    opts = ["--ckpt-every", "3", *CADENCE, "--mixing", "0.9"]  # mixing draws on most passes
    run(tmp_path / "straight", "--steps", "6", *opts)
    run(tmp_path / "split", "--steps", "3", *opts)
    run(tmp_path / "split", "--steps", "6", "--resume", *opts)
    a, meta_a = ckpt(tmp_path / "straight")
    b, meta_b = ckpt(tmp_path / "split")
    assert meta_a["step"] == meta_b["step"] == 6
    assert meta_a["mean_path_length"] == meta_b["mean_path_length"] and meta_b["r1_steps"] == 2
    assert a.keys() == b.keys()
    for key in a:  # nets, EMA, Adam moments, RNG
        assert torch.equal(a[key], b[key]), key
    assert len(meta_b["sessions"]) == 2
    with pytest.raises(SystemExit, match="--r1-seg"):
        run(tmp_path / "split", "--steps", "7", "--resume", *opts, "--r1-seg", "1")


def test_publish_loads_and_generates(short_run, local_hub):
    import hubmodels
    import hubmodels.semantic_stylegan  # noqa: F401  (the family is not registered yet)

    assert sss.main(["--out", str(short_run), "--publish-only", "hubmodels/tiny-semantic-stylegan"]) == 0
    folder = local_hub / "tiny-semantic-stylegan"
    model = hubmodels.load(str(folder))
    assert type(model).__name__ == "SemanticStyleGAN" and not model.has_discriminator
    tensors, _ = ckpt(short_run)
    ref = tensors["module.ema.generator.style.1.weight"]
    assert torch.equal(model.generator.style[1].weight, ref.half().float())  # fp16 storage of the EMA
    samples = model.generate([0, 1], 0.7)
    assert samples[0].image.size == (16, 16) and samples[0].classes.max() < 8
    edited = model.edit(0, ["eyes"], 5, part="texture")
    assert len(edited) == 2
    card = model.card
    assert "python -m train.semantic_stylegan" in card.command
    for key in ("fd_thumb", "fd_thumb_real", "diversity_l1", "diversity_l1_real", "mask_r2", "mask_r2_real",
                "class_area_l1", "class_area_l1_real"):
        assert math.isfinite(card.metrics[key]), key
    assert 0 <= card.metrics["mask_r2"] <= 1 and card.metrics["mask_r2_real"] > 0.5
    readme = (folder / "README.md").read_text()
    assert "not FID" in readme and "lambda_mask 100" in readme and "r1_seg 1000" in readme
    assert "Fine detail is not measured" in card.description
    assert card.training["steps"] == 5 and "G/mask=" in card.training["final losses"]


def test_mask_folder_run(tmp_path):
    from PIL import Image

    from hubmodels.data.synthfaces import render_face

    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(6):
        face = render_face(3, i, 16)
        face.image.save(root / "images" / f"{i}.png")
        Image.fromarray(np.minimum(face.mask, 3).astype(np.uint8), "L").save(root / "masks" / f"{i}.png")
    out = tmp_path / "run"
    run(out, "--data", str(root), "--classes", "background", "head", "ears", "glasses", "--steps", "1",
        "--ckpt-every", "1")
    _, meta = ckpt(out)
    assert meta["config"]["class_names"] == ["background", "head", "ears", "glasses"]
    assert meta["config"]["transparent_dims"] == [3] and meta["data"]["n_train"] == 6
    with pytest.raises(SystemExit):
        sss.parse_args([*TINY, "--out", str(tmp_path / "x"), "--data", str(tmp_path / "missing")])


def test_real_mask_input_and_mixing_draws():
    ids = torch.tensor([[[0, 2], [1, 2]]])
    x = sss.real_mask_input(ids, 3)
    assert x.shape == (1, 3, 2, 2) and set(x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(x.argmax(1), ids)
    args = sss.parse_args([*TINY, "--out", "unused"])
    from hubmodels.data.synthfaces import MASK_CLASSES, MASK_PALETTE
    from hubmodels.semantic_stylegan import SemanticStyleGAN

    torch.manual_seed(0)
    model = SemanticStyleGAN(**sss.model_config(args, MASK_CLASSES, MASK_PALETTE))
    G = sss.TrainGenerator(model.generator)
    z = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    noise = [torch.zeros(3, *s) for s in model.noise_shapes()]
    run_a = G(z[0], z[1], True, torch.Generator().manual_seed(1), noise)
    run_b = G(z[0], z[1], True, torch.Generator().manual_seed(1), noise)
    assert torch.equal(run_a["rgb"], run_b["rgb"])  # the per-class picks come from the given generator
    plain = G(z[0], z[1], False, torch.Generator().manual_seed(1), noise)
    ws = model.generator.style(z[0])
    assert torch.equal(plain["latent"], model.generator.expand_latents(ws.unsqueeze(1).repeat(1, model.n_latent, 1)))
    # the path-length pass: the expanded latent is a leaf, the mapping gets no gradient from it
    pl = G(z[0], z[1], True, torch.Generator().manual_seed(1), noise, latent_grad=True)
    assert pl["latent"].requires_grad and pl["latent"].is_leaf
    assert pl["latent"].shape == (3, 8 * 3, 8)


def test_mask_r2_fallback_matches_the_metrics_package():
    g = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 3, (4, 8, 8), generator=g)
    images = masks[:, None].float().repeat(1, 3, 1, 1) + 0.1 * torch.randn(4, 3, 8, 8, generator=g)
    r2 = sss._mask_r2(images, masks, 3)
    assert r2.shape == (4,) and (r2 > 0.9).all()
    noise = torch.randn(4, 3, 8, 8, generator=g)
    assert sss._mask_r2(noise, masks, 3).mean() < 0.5


def test_frechet_distance():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 6, generator=g).double(), torch.randn(400, 6, generator=g).double()
    assert sss.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near = sss.frechet_distance(a, b)
    assert 0 < near < 0.3
    # a mean shift of 1 in every dimension adds |mu|^2 = 6
    assert sss.frechet_distance(a, b + 1) == pytest.approx(near + 6, abs=0.5)


def test_depth_prior_starts_each_class_at_its_share_of_the_masks():
    """--depth-prior: at step 0 the coarse composition gives each class about its area in the training masks; without
    it (the official zero biases) every class starts near 1/seg_dim, a tiny class with many times its share."""
    from hubmodels.semantic_stylegan.model import SemanticStyleGAN

    masks = torch.zeros(40, 16, 16, dtype=torch.uint8)
    masks[:, 4:12, 4:12] = 1  # a head: 25%
    masks[:, 7:9, 7:9] = 2  # a nose: 1.6%
    areas = sss.class_areas(masks, 3)
    assert torch.allclose(areas, torch.tensor([0.75, 60 / 256, 4 / 256], dtype=areas.dtype))
    cfg = dict(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2,
               local_channel=8, coarse_channel=8, coarse_size=8, min_feat_size=4, channels={"4": 8, "8": 8, "16": 4})

    def start_areas(prior: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = SemanticStyleGAN(**cfg)
        if prior:
            sss.init_depth_prior(model.generator, areas)
        with torch.no_grad():
            out = model.synthesis(model.mapping(torch.randn(64, 8)))
        return ((out["seg_coarse"] + 1) / 2).mean((0, 2, 3)).double()

    with_prior, without = start_areas(True), start_areas(False)
    # the random depth maps spread the softmax (tiny nets: widely), so "about": within a factor of 2.5 of the prior,
    # against more than 5 times for the smallest class from zero biases
    assert ((with_prior / areas).log().abs() < math.log(2.5)).all(), with_prior
    assert without[2] > 5 * areas[2], without


def test_depth_prior_option_initialises_the_training_generator_and_its_ema(tmp_path):
    args = sss.parse_args([*TINY, "--out", str(tmp_path / "r"), "--depth-prior"])
    data = sss.FAMILY.load_data(args, True)
    nets = sss.FAMILY.build(args, data)
    areas = sss.class_areas(data.train.masks, len(data.train.classes)).clamp_min(1e-4)
    for model in (nets.nets["generator"].generator, nets.ema.generator):
        got = [float(net.to_depth.bias) for net in model.local_nets[1:]]
        want = torch.log(areas[1:] / areas[0]).tolist()
        assert got == pytest.approx(want, rel=1e-5)
    plain = sss.FAMILY.build(sss.parse_args([*TINY, "--out", str(tmp_path / "p")]), data)
    assert all(float(net.to_depth.bias) == 0 for net in plain.ema.generator.local_nets[1:])


def test_class_frequency_map_is_the_per_pixel_share_of_each_class():
    masks = torch.zeros(4, 8, 8, dtype=torch.uint8)
    masks[:2, :, :4] = 1  # class 1 on the left half of half the masks
    masks[3, 0:2, 6:8] = 2  # class 2 in the top-right 2x2 of one mask
    freq = sss.class_frequency_map(masks, 3, 4)
    assert freq.shape == (3, 4, 4)
    assert torch.allclose(freq.sum(0), torch.ones(4, 4))
    assert torch.equal(freq[1, :, :2], torch.full((4, 2), 0.5)) and torch.equal(freq[1, :, 2:], torch.zeros(4, 2))
    assert float(freq[2, 0, 3]) == 0.25 and float(freq[2].sum()) == 0.25
    mirrored = sss.class_frequency_map(masks, 3, 4, mirror=True)
    assert torch.equal(mirrored, mirrored.flip(-1)) and torch.allclose(mirrored[1], torch.full((4, 4), 0.25))


def test_depth_warmup_puts_a_small_class_where_the_masks_have_it():
    """--depth-warmup: a class of 1.6% of the pixels, always at the same spot, wins that spot of the coarse composition
    after the warm-up for most latents; the area prior alone never lets it win a pixel."""
    from hubmodels.semantic_stylegan.model import SemanticStyleGAN

    masks = torch.zeros(40, 16, 16, dtype=torch.uint8)
    masks[:, 4:12, 4:12] = 1  # a head
    masks[:, 4:6, 4:6] = 2  # an eye, in the head's top-left corner: coarse pixel (2, 2) of 8 x 8
    cfg = dict(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2,
               local_channel=8, coarse_channel=8, coarse_size=8, min_feat_size=4, channels={"4": 8, "8": 8, "16": 4})
    torch.manual_seed(0)
    model = SemanticStyleGAN(**cfg)
    sss.init_depth_prior(model.generator, sss.class_areas(masks, 3))

    def coarse_classes() -> torch.Tensor:
        with torch.no_grad():
            out = model.synthesis(model.mapping(torch.randn(64, 8, generator=torch.Generator().manual_seed(1))))
        return out["seg_coarse"].argmax(1)

    before = coarse_classes()
    assert not (before == 2).any()
    freq = sss.class_frequency_map(masks, 3, 8)
    kl = sss.depth_warmup(model.generator, freq, steps=600, batch_size=8, lr=0.002, seed=0)
    assert 0 <= kl < 0.02
    after = coarse_classes()
    assert (after[:, 2, 2] == 2).float().mean() > 0.9
    # the rest of the layout follows the masks too: background outside the head, head inside it away from the eye
    assert (after[:, 0, :] == 0).float().mean() > 0.9 and (after[:, 4:6, 4:6] == 1).float().mean() > 0.8


def test_depth_warmup_option_warms_the_generator_and_its_ema_and_resumes_exactly(tmp_path, capsys):
    opts = ["--depth-prior", "--depth-warmup", "5"]
    args = sss.parse_args([*TINY, "--out", str(tmp_path / "r"), *opts])
    data = sss.FAMILY.load_data(args, True)
    warmed, again = sss.FAMILY.build(args, data), sss.FAMILY.build(args, data)
    plain = sss.FAMILY.build(sss.parse_args([*TINY, "--out", str(tmp_path / "p"), "--depth-prior"]), data)
    trained = warmed.nets["generator"].generator.state_dict()
    for key, value in warmed.ema.generator.state_dict().items():
        assert torch.equal(value, trained[key]), key  # the EMA starts as a copy of the warmed-up generator
        assert torch.equal(value, again.ema.generator.state_dict()[key]), key  # a pure function of --seed
    depth_keys = [k for k in trained if ".to_depth." in k]
    assert any(not torch.equal(trained[k], plain.ema.generator.state_dict()[k]) for k in depth_keys)
    with pytest.raises(SystemExit):
        sss.parse_args([*TINY, "--out", str(tmp_path / "bad"), "--depth-warmup", "-1"])
    assert "--depth-warmup is a number of batches, 0 (off) or more; got -1" in capsys.readouterr().err
    run(tmp_path / "straight", "--steps", "4", "--ckpt-every", "2", *CADENCE, *opts)
    run(tmp_path / "split", "--steps", "2", "--ckpt-every", "2", *CADENCE, *opts)
    run(tmp_path / "split", "--steps", "4", "--ckpt-every", "2", "--resume", *CADENCE, *opts)
    a, _ = ckpt(tmp_path / "straight")
    b, _ = ckpt(tmp_path / "split")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(SystemExit, match="--depth-warmup"):
        run(tmp_path / "split", "--steps", "5", "--resume", *CADENCE, "--depth-prior", "--depth-warmup", "6")
