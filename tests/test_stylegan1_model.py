"""StyleGAN (v1): configuration checks, the generation contract, hub round trip, low precision, conversion of
NVlabs TF pickles (a synthetic one: the real files need TensorFlow to make) and inert malicious pickles."""
from __future__ import annotations

import math
import os
import pickle
import re
import sys
import types

import numpy as np
import pytest
import torch

from hubmodels.stylegan.model_v1 import NAMED_CONFIGS_V1, OFFICIAL_WEIGHTS_V1, StyleGAN
from tests.conftest import REFERENCE

SMALL = dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, mapping_fmaps=16, fmaps_base=128,
             fmaps_max=16)
CASE = REFERENCE / "stylegan1_small"


def _small(**kw) -> StyleGAN:
    torch.manual_seed(0)
    model = StyleGAN(**{**SMALL, **kw}).eval()
    with torch.no_grad():  # non-trivial noise weights and w_avg, so the tests below see their effect
        for layer in model.synthesis_network.layers:
            layer.noise_strength.normal_(0, 0.5)
        model.mapping_network.w_avg.normal_()
    return model


@pytest.mark.parametrize("kwargs,match", [
    (dict(img_resolution=48), "power of two"),
    (dict(img_resolution=4), "img_resolution"),
    (dict(z_dim=0), "z_dim"),
    (dict(c_dim=-1), "c_dim"),
    (dict(mapping_layers=1.5), "mapping_layers"),
    (dict(mapping_lr_mul=0), "mapping_lr_mul"),
    (dict(fused_scale="yes"), "fused_scale"),
    (dict(with_discriminator="no"), "with_discriminator"),
    (dict(fmaps_base=8), "fmaps_base"),
    (dict(with_discriminator=True, mbstd_num_features=3), "mbstd_num_features"),
])
def test_config_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StyleGAN(**{**SMALL, **kwargs})


def test_contract_shapes_and_errors() -> None:
    model = _small()
    assert (model.num_ws, model.z_dim, model.w_dim, model.c_dim) == (6, 16, 16, 0)
    assert model.mapping_network.w_avg.shape == (16,) and not model.has_discriminator
    assert model.noise_shapes() == [(1, 4, 4), (1, 4, 4), (1, 8, 8), (1, 8, 8), (1, 16, 16), (1, 16, 16)]
    z = torch.randn(3, 16)
    ws = model.mapping(z)
    assert ws.shape == (3, 6, 16) and torch.equal(ws[:, 0], ws[:, 5])
    assert model(z).shape == (3, 3, 16, 16)
    with pytest.raises(ValueError, match="unconditional"):
        model.mapping(z, torch.ones(3, 2))
    with pytest.raises(ValueError, match="noise_mode"):
        model.synthesis(ws, noise_mode="fresh")
    with pytest.raises(ValueError, match="noise\\[2\\]"):
        model.synthesis(ws, noise=[torch.zeros(1, *s) for s in [(1, 4, 4)] * 6])
    cond = StyleGAN(**{**SMALL, "c_dim": 3}).eval()
    with pytest.raises(ValueError, match="one-hot"):
        cond.mapping(z)
    assert cond(z, torch.eye(3)).shape == (3, 3, 16, 16)
    assert set(NAMED_CONFIGS_V1) == set(OFFICIAL_WEIGHTS_V1) == {
        "stylegan_ffhq_1024", "stylegan_celebahq_1024", "stylegan_bedrooms_256", "stylegan_cats_256"}
    assert all(c["description"] for c in NAMED_CONFIGS_V1.values())


def test_noise_modes_and_seeded_determinism() -> None:
    model = _small()
    ws = model.mapping(torch.randn(2, 16))
    with torch.no_grad():
        a = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(7))
        b = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(7))
        c = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(8))
        const1, const2 = model.synthesis(ws), model.synthesis(ws, noise_mode="const")
        none = model.synthesis(ws, noise_mode="none")
        zeros = model.synthesis(ws, noise=[torch.zeros(1, *s) for s in model.noise_shapes()])
        stored = model.synthesis(ws, noise=[layer.noise_const for layer in model.synthesis_network.layers])
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(const1, const2) and torch.equal(const1, stored)
    assert torch.equal(none, zeros) and not torch.allclose(none, const1)


def test_truncation_identity_and_cutoff() -> None:
    model = _small()
    z = torch.randn(4, 16)
    plain = model.mapping(z)
    assert torch.equal(model.mapping(z, truncation_psi=1.0, truncation_cutoff=3), plain)
    assert torch.equal(model.mapping(z, truncation_psi=0.5, truncation_cutoff=0), plain)
    cut = model.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    avg = model.mapping_network.w_avg
    assert torch.allclose(cut[:, :2], avg + 0.5 * (plain[:, :2] - avg), atol=1e-6)
    assert torch.equal(cut[:, 2:], plain[:, 2:])
    every = model.mapping(z, truncation_psi=0.0)
    assert torch.allclose(every, avg.expand_as(every))
    with pytest.raises(ValueError, match="truncation_cutoff"):
        model.mapping(z, truncation_cutoff=-1)


def test_save_and_load_round_trip(tmp_path) -> None:
    model = _small(with_discriminator=True)
    model.save_pretrained(tmp_path / "m")
    loaded = StyleGAN.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and loaded.has_discriminator
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(loaded(z, truncation_psi=0.7, truncation_cutoff=2), model(z, truncation_psi=0.7,
                                                                                       truncation_cutoff=2))
        img = torch.rand(4, 3, 16, 16) * 2 - 1
        assert torch.equal(loaded.discriminator(img), model.discriminator(img))


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_low_precision_load_runs(tmp_path, dtype: str) -> None:
    model = _small()
    model.save_pretrained(tmp_path / "m")
    low = StyleGAN.from_pretrained(tmp_path / "m", dtype=dtype)
    z = torch.randn(2, 16)
    with torch.no_grad():
        ref = model(z)
        with low.autocast():
            out = low(z.to(low.dtype), noise_mode="random", generator=torch.Generator().manual_seed(1))
            out_const = low(z.to(low.dtype))
    assert out.shape == ref.shape and torch.isfinite(out.float()).all()
    assert (out_const.float() - ref).abs().mean() < 0.1


# ---- NVlabs TF pickles ---------------------------------------------------------------------------

def _to_tf(sd: dict, disc: dict, final_log2: int) -> tuple[dict, dict, dict, dict]:
    """genforce layout -> TF variables of (G top, G_mapping, G_synthesis, D) with the inverse of genforce's
    rules: conv [out, in, k, k] -> [k, k, in, out], dense / StyleMod [out, in] -> [in, out]."""
    def conv(t):
        return t.permute(2, 3, 1, 0).numpy().copy()

    top, mapping, synth, d = {"lod": np.float32(0), "dlatent_avg": sd["truncation.w_avg"].numpy()}, {}, {}, {}
    for key, v in sd.items():
        if m := re.fullmatch(r"mapping\.dense(\d+)\.(weight|bias)", key):
            mapping[f"Dense{m[1]}/{m[2]}"] = v.t().numpy().copy() if m[2] == "weight" else v.numpy()
        elif key == "synthesis.lod":
            synth["lod"] = v.numpy()
        elif m := re.fullmatch(r"synthesis\.output(\d+)\.(weight|bias)", key):
            synth[f"ToRGB_lod{final_log2 - 2 - int(m[1])}/{m[2]}"] = conv(v) if m[2] == "weight" else v.numpy()
        elif m := re.fullmatch(r"synthesis\.layer(\d+)\.(.+)", key):
            i, leaf = int(m[1]), m[2]
            res = 2 ** (i // 2 + 2)
            scope = f"{res}x{res}/" + (("Const" if res == 4 else "Conv0_up") if i % 2 == 0 else
                                        ("Conv" if res == 4 else "Conv1"))
            if leaf == "apply_noise.noise":
                synth[f"noise{i}"] = v.numpy()
            elif leaf == "blur.kernel":
                continue
            else:
                name = {"const": "const", "weight": "weight", "bias": "bias", "apply_noise.weight": "Noise/weight",
                        "style.weight": "StyleMod/weight", "style.bias": "StyleMod/bias"}[leaf]
                val = conv(v) if leaf == "weight" else v.t().numpy().copy() if leaf == "style.weight" else v.numpy()
                synth[f"{scope}/{name}"] = val
    last = final_log2 - 2
    for key, v in disc.items():
        if key == "lod":
            d["lod"] = v.numpy()
        elif m := re.fullmatch(r"input(\d+)\.(weight|bias)", key):
            d[f"FromRGB_lod{m[1]}/{m[2]}"] = conv(v) if m[2] == "weight" else v.numpy()
        elif m := re.fullmatch(r"layer(\d+)\.(weight|bias)", key):
            i = int(m[1])
            if i < 2 * last:
                res = 2 ** (final_log2 - i // 2)
                scope = f"{res}x{res}/" + ("Conv0" if i % 2 == 0 else "Conv1_down")
            else:
                scope = "4x4/" + {0: "Conv", 1: "Dense0", 2: "Dense1"}[i - 2 * last]
            val = v.numpy() if m[2] == "bias" else conv(v) if v.ndim == 4 else v.t().numpy().copy()
            d[f"{scope}/{m[2]}"] = val
    return top, mapping, synth, d


class Network:
    """Stands in for dnnlib.tflib.network.Network when pickling: the same __getstate__ dict."""

    def __init__(self, name: str, variables: dict, components: dict | None = None, src: str = "") -> None:
        self._state = {"version": 3, "name": name, "static_kwargs": {}, "components": components or {},
                       "build_module_src": src, "build_func_name": name,
                       "variables": [(k, np.asarray(v, dtype=np.float32)) for k, v in variables.items()]}

    def __getstate__(self) -> dict:
        return self._state

    def __setstate__(self, state: dict) -> None:  # only what real dnnlib does, minus TF: exec the source
        exec(state["build_module_src"], {})  # noqa: S102 - this is what must never happen when we load


@pytest.fixture
def dnnlib_stub(monkeypatch):
    """Make Network pickle as dnnlib.tflib.network.Network, as the released files name it."""
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(sys.modules["dnnlib.tflib.network"], "Network", Network, raising=False)
    monkeypatch.setattr(Network, "__module__", "dnnlib.tflib.network")
    return Network


def _write_tf_pickle(path, src: str = "") -> None:
    from hubmodels.checkpoints import load_torch_file

    data = load_torch_file(CASE / "stylegan_small.pth")
    final = int(math.log2(32))
    top, mapping, synth, d = _to_tf(data["generator_smooth"], data["discriminator"], final)
    networks = []
    for role in ("G", "D", "Gs"):
        if role == "D":
            networks.append(Network("D", d, src=src))
        else:
            comps = {"mapping": Network("G_mapping", mapping, src=src),
                     "synthesis": Network("G_synthesis", synth, src=src)}
            networks.append(Network(role, top, comps, src=src))
    path.write_bytes(pickle.dumps(tuple(networks), protocol=4))  # NVlabs: HIGHEST_PROTOCOL of py3.6


@pytest.mark.skipif(not CASE.is_dir(), reason="stylegan1_small reference case missing")
def test_tf_pickle_converts_to_the_same_model(tmp_path, dnnlib_stub) -> None:
    from safetensors.torch import load_file

    marker = tmp_path / "pwned"
    _write_tf_pickle(tmp_path / "karras2019stylegan-small.pkl", src=f"open({str(marker)!r}, 'w').write('x')")
    config = {"fused_scale": True}
    tf = StyleGAN.from_official(tmp_path / "karras2019stylegan-small.pkl", config=config)
    ref = StyleGAN.from_official(CASE / "stylegan_small.pth", config=config)
    assert not marker.exists(), "the embedded build_module_src was executed"
    assert tf.config == ref.config and tf.has_discriminator
    theirs = ref.state_dict()
    for key, value in tf.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    tensors = load_file(str(CASE / "tensors.safetensors"))
    with torch.no_grad():
        img = tf(tensors["in.z"], truncation_psi=0.7, truncation_cutoff=4)
        assert torch.allclose(img, tensors["out.img_G"], atol=8e-5, rtol=1e-5)
        assert torch.allclose(tf.discriminator(tensors["in.img_real"]), tensors["out.logits_D_real"], atol=2e-6)


class _Evil:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_malicious_pickles_run_nothing(tmp_path, dnnlib_stub) -> None:
    from hubmodels.checkpoints import load_pickle_data
    from hubmodels.stylegan.convert_v1 import OfficialCheckpointError

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps((_Evil(f"touch {marker}"),) * 3, protocol=2))
    assert not marker.exists()
    with pytest.raises(OfficialCheckpointError, match="not a dnnlib Network state"):
        StyleGAN.from_official(evil)
    assert not marker.exists()
    # a well-formed network state whose source would write the marker if executed: loads as inert data
    src = f"open({str(marker)!r}, 'w').write('x')"
    tree = pickle.dumps(Network("Gs", {"lod": 0.0}, src=src), protocol=4)
    (tmp_path / "net.pkl").write_bytes(tree)
    obj = load_pickle_data(tmp_path / "net.pkl")
    assert obj.state["build_module_src"] == src and not marker.exists()
    # and the same payload through a torch.save file is refused by weights_only
    torch.save({"generator_smooth": _Evil(f"touch {marker}")}, tmp_path / "evil.pth")
    with pytest.raises(ValueError):
        StyleGAN.from_official(tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.skipif(not CASE.is_dir(), reason="stylegan1_small reference case missing")
def test_converter_errors_name_keys_and_shapes() -> None:
    from hubmodels.checkpoints import load_torch_file
    from hubmodels.stylegan.convert_v1 import OfficialCheckpointError

    data = load_torch_file(CASE / "stylegan_small.pth")
    gen = dict(data["generator_smooth"])
    gen.pop("synthesis.layer3.style.bias")
    gen["synthesis.layer2.extra"] = torch.zeros(1)
    with pytest.raises(OfficialCheckpointError) as err:
        StyleGAN.from_official({"generator_smooth": gen})
    msg = str(err.value)
    assert "synthesis_network.layers.3.style.bias" in msg and "synthesis.layer2.extra" in msg
    gen = dict(data["generator_smooth"])
    gen["synthesis.layer1.bias"] = torch.zeros(5)
    with pytest.raises(OfficialCheckpointError, match=r"synthesis\.layer1\.bias.*\[5\].*\[32\]"):
        StyleGAN.from_official({"generator_smooth": gen}, config={"fmaps_base": 256, "fmaps_max": 32})
    with pytest.raises(OfficialCheckpointError, match="img_resolution"):
        StyleGAN.from_official(data, config="stylegan_ffhq_1024")
    gen = dict(data["generator_smooth"])
    gen["synthesis.lod"] = torch.tensor(1.0)
    with pytest.raises(OfficialCheckpointError, match="lod"):
        StyleGAN.from_official({"generator_smooth": gen})
