"""StarGAN: released-size shapes, released-file quirks, bad files, configuration, normalisation, determinism,
the fast path against fp32, and the hub round trip."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from hubmodels.stargan import NAMED_CONFIGS, StarGAN, load_official
from hubmodels.stargan.convert import OfficialCheckpointError, infer_discriminator, infer_generator
from tests.conftest import REFERENCE

SMALL = REFERENCE / "stargan_small"
JOINT = REFERENCE / "stargan_joint_small"
SHAPES = SMALL / "full_config_shapes.json"
needs_small = pytest.mark.skipif(not SMALL.is_dir(), reason=f"reference case {SMALL} missing")
needs_shapes = pytest.mark.skipif(not SHAPES.is_file(), reason=f"{SHAPES} missing")

# full_config_shapes.json's configurations -> our named configurations
RELEASED = {"celeba_128_5attrs": "stargan_celeba_128", "celeba_256_5attrs": "stargan_celeba_256",
            "rafd_128": "stargan_rafd_128", "both_celeba_rafd_256": "stargan_celeba_rafd_256"}
TINY = dict(image_size=32, c_dim=5, conv_dim=8, repeat_num=2, d_conv_dim=8, d_repeat_num=3,
            attributes=["black_fur", "golden_fur", "brown_fur", "glasses", "open_mouth"],
            exclusive_groups=[["black_fur", "golden_fur", "brown_fur"]], crop_size=None)


def _fake_official(config: str, drop: tuple[str, ...] = ()) -> dict[str, dict[str, torch.Tensor]]:
    """Zero-valued official state dicts with the released shapes (expanded scalars: no memory)."""
    shapes = json.loads(SHAPES.read_text())[config]
    return {net: {k: torch.zeros(()).expand(s) for k, s in sd.items() if not k.endswith(drop or ("\0",))}
            for net, sd in shapes.items()}


def _kwargs(name: str) -> dict:
    return {k: v for k, v in NAMED_CONFIGS[name].items() if k != "description"}


def tiny(seed: int = 0, **overrides) -> StarGAN:
    torch.manual_seed(seed)
    model = StarGAN(**{**TINY, **overrides})
    with torch.no_grad():  # non-trivial affine norms, so every layer matters
        for m in model.generator.norms():
            m.weight.add_(0.2 * torch.randn_like(m.weight))
            m.bias.add_(0.2 * torch.randn_like(m.bias))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# released sizes


@needs_shapes
@pytest.mark.parametrize("config", sorted(RELEASED))
def test_named_configurations_match_released_shapes(config: str) -> None:
    shapes = json.loads(SHAPES.read_text())[config]
    with torch.device("meta"):
        model = StarGAN(**_kwargs(RELEASED[config]))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    official = {f"{'generator' if net == 'G' else 'discriminator'}.{k}": s for net, sd in shapes.items()
                for k, s in sd.items()}
    assert ours == official


@needs_shapes
@pytest.mark.parametrize("config", sorted(RELEASED))
def test_released_files_convert_from_their_shapes_alone(config: str) -> None:
    """G + D files at the released sizes load strictly with no configuration, into the released one."""
    fake = _fake_official(config)
    model = StarGAN.from_official(fake["G"], fake["D"])
    expected = _kwargs(RELEASED[config])
    for key in ("image_size", "c_dim", "conv_dim", "repeat_num", "d_conv_dim", "d_repeat_num", "attributes",
                "datasets", "label_types", "crop_size"):
        assert model.config[key] == expected[key], key
    assert model.config["c2_dim"] == expected.get("c2_dim", 0)


@needs_shapes
def test_released_generator_alone_and_pytorch_03_counters() -> None:
    """The released files were written by PyTorch 0.3: no num_batches_tracked. G alone converts (image size: the
    official default, with a warning; named configuration: no warning)."""
    fake = _fake_official("celeba_256_5attrs", drop=("num_batches_tracked",))
    with pytest.warns(UserWarning, match="assuming the official default 128"):
        model = StarGAN.from_official(fake["G"])
    assert model.image_size == 128 and not model.has_discriminator
    assert all(int(n.num_batches_tracked) == 0 for n in model.generator.norms())
    model = StarGAN.from_official(fake["G"], config="stargan_celeba_256")
    assert model.image_size == 256 and model.attributes == NAMED_CONFIGS["stargan_celeba_256"]["attributes"]


@needs_shapes
def test_discriminator_file_first_and_module_prefix(tmp_path: Path) -> None:
    fake = _fake_official("celeba_128_5attrs")
    g = {f"module.{k}": v.clone() for k, v in fake["G"].items()}
    torch.save(g, tmp_path / "200000-G.ckpt")
    torch.save({k: v.clone() for k, v in fake["D"].items()}, tmp_path / "200000-D.ckpt")
    model = StarGAN.from_official(tmp_path / "200000-D.ckpt", tmp_path / "200000-G.ckpt")  # either order
    assert model.has_discriminator and model.image_size == 128
    assert "200000-G.ckpt" in model.card.how_made


# ---------------------------------------------------------------------------------------------
# bad files


class Pickled:  # a class a checkpoint would need code to rebuild
    pass


def test_pickle_needing_code_is_refused(tmp_path: Path) -> None:
    torch.save({"main.0.weight": Pickled()}, tmp_path / "bad.ckpt")
    with pytest.raises(OfficialCheckpointError, match="cannot be loaded safely"):
        load_official(tmp_path / "bad.ckpt")


def test_garbage_truncated_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialCheckpointError, match="not a readable PyTorch checkpoint"):
        load_official(tmp_path / "junk.ckpt")
    torch.save(tiny().generator.state_dict(), tmp_path / "g.ckpt")
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "g.ckpt").read_bytes()[:300])
    with pytest.raises(OfficialCheckpointError, match="not a readable"):
        load_official(tmp_path / "cut.ckpt")
    with pytest.raises(FileNotFoundError):
        load_official(tmp_path / "nope.ckpt")
    torch.save([1, 2], tmp_path / "list.ckpt")
    with pytest.raises(OfficialCheckpointError, match="expected a state dict"):
        load_official(tmp_path / "list.ckpt")


def test_mismatches_are_named() -> None:
    model = tiny()
    g = {k: v.clone() for k, v in model.generator.state_dict().items()}
    d = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    with pytest.raises(OfficialCheckpointError, match="give the generator"):
        infer_generator(d)
    with pytest.raises(OfficialCheckpointError, match="not a StarGAN discriminator"):
        infer_discriminator(g)
    other = tiny(c_dim=4, attributes=None, exclusive_groups=None)
    with pytest.raises(OfficialCheckpointError, match="not one model's generator and discriminator"):
        StarGAN.from_official(g, other.discriminator.state_dict())
    broken = dict(g)
    broken.pop("main.4.weight")
    broken["main.7.weight"] = torch.zeros(3, 3)
    broken["extra.weight"] = torch.zeros(1)
    with pytest.raises(OfficialCheckpointError) as err:
        StarGAN.from_official(broken, d)
    text = str(err.value)
    assert "1 missing: generator.main.4.weight" in text and "generator.extra.weight" in text
    assert "generator.main.7.weight: checkpoint [3, 3]" in text
    with pytest.raises(OfficialCheckpointError, match="conv_dim=8 but the configuration says 16"):
        StarGAN.from_official(g, d, config={"conv_dim": 16})
    with pytest.raises(ValueError, match="unknown StarGAN configuration 'nope'"):
        StarGAN.from_official(g, d, config="nope")


def test_explicit_configuration_and_official_options() -> None:
    import argparse

    model = tiny()
    g, d = model.generator.state_dict(), model.discriminator.state_dict()
    converted = StarGAN.from_official(g, d, attributes=["a", "b", "c", "d", "e"], crop_size=None)
    assert converted.attributes == ["a", "b", "c", "d", "e"] and converted.exclusive_groups == []
    ns = argparse.Namespace(dataset="CelebA", c_dim=5, image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=2,
                            d_repeat_num=3, selected_attrs=["Black_Hair", "Male", "Young", "Gray_Hair", "Pale_Skin"],
                            celeba_crop_size=178)
    official = StarGAN.from_official(g, d, config=ns)
    assert official.exclusive_groups == [["Black_Hair", "Gray_Hair"]] and official.crop_size == 178
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 1]])
    torch.testing.assert_close(official.generate(x, c), model.generate(x, c), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# the model


def test_constructor_validation() -> None:
    for kwargs, match in [
        (dict(image_size=30), "divisible by 4"),
        (dict(image_size=48, d_repeat_num=5), "divisible by 2\\*\\*d_repeat_num"),
        (dict(c_dim=0), "c_dim must be an integer >= 1"),
        (dict(attributes=["a"]), "has 1 names but the model has 5"),
        (dict(c2_dim=2, attributes2=["black_fur", "x"]), "unique across the datasets"),
        (dict(exclusive_groups=[["glasses", "nope"]]), "names \\['nope'\\]"),
        (dict(label_types=["single", "multi"]), "list of 1"),
        (dict(attributes2=["x"]), "set c2_dim > 0"),
        (dict(with_discriminator="yes"), "true or false"),
        (dict(crop_size=0), "crop_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            StarGAN(**{**TINY, **kwargs})
    assert StarGAN(**{**TINY, "image_size": 36, "with_discriminator": False}).image_size == 36


def test_joint_label_layout() -> None:
    model = StarGAN(**{**TINY, "c2_dim": 3, "attributes2": ["cat", "dog", "fox"], "datasets": ["attrs", "domains"]})
    assert model.label_dim == 5 + 3 + 2 and model.discriminator.conv2.out_channels == 8
    c = model.condition(torch.tensor([[0.0, 1.0, 0.0]]), "domains")
    assert c.tolist() == [[0, 0, 0, 0, 0, 0, 1, 0, 0, 1]]
    c = model.condition(torch.tensor([[1.0, 0, 0, 1, 0]]), 0)
    assert c.tolist() == [[1, 0, 0, 1, 0, 0, 0, 0, 1, 0]]


def test_normalization_modes() -> None:
    model = tiny()
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.zeros(2, 5)
    with torch.no_grad():
        instance = model.generator(x, c)
        model.generator.train()
        trained = model.generator(x, c)  # official test mode (per-instance statistics; updates the buffers)
        model.generator.eval()
        model.normalization = "running"
        running = model.generator(x, c)
    model.normalization = "instance"
    torch.testing.assert_close(instance, trained, rtol=0, atol=1e-6)
    assert (instance - running).abs().max() > 1e-3
    with pytest.raises(ValueError, match="normalization"):
        model.normalization = "batch"


def test_outputs_depend_only_on_their_own_input() -> None:
    """Deterministic, and per-image instance statistics: an image's output does not depend on its batch."""
    model = tiny()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    c = (torch.rand(4, 5, generator=g) > 0.5).float()
    a, b = model.generate(x, c), model.generate(x, c)
    assert torch.equal(a, b)
    one = torch.cat([model.generate(x[i:i + 1], c[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(one, a, rtol=0, atol=1e-5)
    assert model.generate(x, c, batch_size=1).shape == (4, 3, 32, 32)


@pytest.mark.parametrize("path", ["fp32-channels-last", "rewrites"])
def test_fast_paths_match_fp32_and_the_official_outputs(path: str) -> None:
    from hubmodels.nn.swap import swapped_modules

    model = tiny()
    g = torch.Generator().manual_seed(4)
    x, c = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, (torch.rand(2, 5, generator=g) > 0.5).float()
    ref = model.generate(x, c)
    fast = copy.deepcopy(model).optimize_for_inference(path)
    if path == "rewrites":
        assert swapped_modules(fast)
    torch.testing.assert_close(fast.generate(x, c), ref, rtol=0, atol=2e-5)
    if SMALL.is_dir():
        from safetensors.torch import load_file

        tensors = load_file(str(SMALL / "tensors.safetensors"))
        official = StarGAN.from_official(SMALL / "200000-G.ckpt", SMALL / "200000-D.ckpt").optimize_for_inference(path)
        torch.testing.assert_close(official.generate(tensors["g.x"], tensors["g.c"]), tensors["g.x_fake_train"],
                                   atol=5e-5, rtol=5e-4)


def test_half_precision_paths_stay_close() -> None:
    model = tiny()
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.ones(2, 5)
    ref = model.generate(x, c)
    for path in [p for p in model.inference_paths() if p in ("bf16", "fp16")]:
        out = copy.deepcopy(model).optimize_for_inference(path).generate(x, c)
        assert torch.isfinite(out).all()
        assert (out - ref).abs().mean() < 0.05, path


def test_hub_round_trip(tmp_path: Path) -> None:
    import hubmodels

    model = tiny()
    model.save_pretrained(tmp_path / "m")
    loaded = hubmodels.load(str(tmp_path / "m"))
    assert type(loaded) is StarGAN and loaded.config == model.config
    assert loaded.exclusive_groups == TINY["exclusive_groups"] and loaded.normalization == "instance"
    x, c = torch.rand(1, 3, 32, 32) * 2 - 1, torch.ones(1, 5)
    assert torch.equal(loaded.generate(x, c), model.generate(x, c))
    assert (tmp_path / "m" / "sample.png").is_file()
    no_d = StarGAN(**{**TINY, "with_discriminator": False})
    no_d.save_pretrained(tmp_path / "g")
    assert not any(k.startswith("discriminator.") for k in hubmodels.load(str(tmp_path / "g")).state_dict())


OFFICIAL = __import__("os").environ.get("HUBMODELS_OFFICIAL_STARGAN")


@pytest.mark.skipif(not OFFICIAL, reason="set HUBMODELS_OFFICIAL_STARGAN to a yunjey/stargan checkout")
def test_official_side_by_side_agrees(tmp_path: Path) -> None:
    """python -m hubmodels.bench stargan --official: the official Generator on our weights gives our outputs."""
    from hubmodels.bench import main

    out = tmp_path / "b.json"
    assert main(["stargan", "--configs", "celeba_128", "--runs", "1", "--batch", "1", "--modes", "fp32",
                 "--official", OFFICIAL, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert all(r["max_abs_err_vs_fp32"] < 1e-4 for r in rows if r["mode"] == "official-fp32")


def test_generate_chunks_by_pixels_on_a_cpu_with_the_same_answer():
    """On a CPU the default chunk holds CPU_CHUNK_PIXELS (2 images of 128 px, 8 of 64 px); any chunk size gives the
    same images (instance norm is per image), and a bad one is refused with what is accepted."""
    from hubmodels.stargan.inference import CPU_CHUNK_PIXELS

    assert CPU_CHUNK_PIXELS // (64 * 64) == 8
    torch.manual_seed(0)
    model = StarGAN(image_size=32, conv_dim=8, repeat_num=1, d_conv_dim=8, d_repeat_num=2).eval()
    x, c = torch.rand(5, 3, 32, 32) * 2 - 1, torch.rand(5, model.label_dim).round()
    whole = model.generate(x, c)
    for size in (1, 2, 5):
        torch.testing.assert_close(model.generate(x, c, batch_size=size), whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.generate(x, c, batch_size=0)
