"""StyleGAN2 model contract: configuration checks, noise modes, truncation, labels, hub round trip, reduced
precision, converter errors and the safety of reading official pickles."""
from __future__ import annotations

import collections
import json
import os
import pickle
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch

from hubmodels.checkpoints import CheckpointFileError, load_pickle_data
from hubmodels.stylegan.convert_v2 import OfficialCheckpointError, from_official
from hubmodels.stylegan.model_v2 import NAMED_CONFIGS_V2, StyleGAN2
from tests.conftest import REFERENCE

ADA = REFERENCE / "stylegan2_ada_cond_small"
ROS = REFERENCE / "stylegan2_rosinality_small"
needs_ada = pytest.mark.skipif(not ADA.is_dir(), reason=f"{ADA} not present")
needs_ros = pytest.mark.skipif(not ROS.is_dir(), reason=f"{ROS} not present")

SMALL = dict(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=2, channel_base=128, channel_max=16)


def _small(**kw) -> StyleGAN2:
    torch.manual_seed(0)
    model = StyleGAN2(**{**SMALL, **kw})
    with torch.no_grad():  # non-zero noise strengths so the noise modes differ
        for layer in model.synthesis_network.noise_layers():
            layer.noise_strength.fill_(0.5)
    return model


# ---------------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize("kwargs,needle", [
    (dict(img_resolution=24), "power of two"),
    (dict(img_resolution=2), "img_resolution"),
    (dict(z_dim=0), "z_dim"),
    (dict(c_dim=-1), "c_dim"),
    (dict(mapping_layers=0), "mapping_layers"),
    (dict(conv_clamp=-1), "conv_clamp"),
    (dict(channel_base=8), "channel_base"),
    (dict(num_fp16_res=1.5), "num_fp16_res"),
    (dict(with_discriminator="yes"), "with_discriminator"),
    (dict(d_architecture="skip"), "d_architecture"),
    (dict(d_mbstd_group_size=0), "d_mbstd_group_size"),
    (dict(resample_filter=[]), "resample_filter"),
])
def test_config_validation(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        StyleGAN2(**{**SMALL, **kwargs})


def test_contract_attributes() -> None:
    model = _small(with_discriminator=True)
    assert (model.z_dim, model.w_dim, model.c_dim, model.img_resolution, model.img_channels) == (16, 16, 0, 16, 3)
    assert model.num_ws == 6 and model.has_discriminator
    assert model.mapping_network.w_avg.shape == (16,)
    assert model.noise_shapes() == [(1, 4, 4), (1, 8, 8), (1, 8, 8), (1, 16, 16), (1, 16, 16)]
    assert not _small().has_discriminator
    json.dumps(model.config)  # the config is JSON


# ---------------------------------------------------------------------------------------------------------
# noise, truncation, labels


def test_noise_modes() -> None:
    model = _small()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    ws = model.mapping(z)
    a = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(5))
    b = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(5))
    c = model.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    const = model.synthesis(ws, noise_mode="const")
    assert torch.equal(const, model.synthesis(ws)) and torch.equal(const, model(z))
    none = model.synthesis(ws, noise_mode="none")
    assert not torch.allclose(const, none)
    zeros = [torch.zeros(1, *s) for s in model.noise_shapes()]
    assert torch.allclose(model.synthesis(ws, noise=zeros, noise_mode="random"), none, atol=1e-6)
    consts = [layer.noise_const[None, None] for layer in model.synthesis_network.noise_layers()]
    assert torch.allclose(model.synthesis(ws, noise=consts), const, atol=1e-6)
    assert const.shape == (2, 3, 16, 16) and const.dtype == torch.float32
    with pytest.raises(ValueError, match="noise_mode"):
        model.synthesis(ws, noise_mode="fixed")
    with pytest.raises(ValueError, match="noise"):
        model.synthesis(ws, noise=zeros[:-1])


def test_truncation() -> None:
    model = _small()
    with torch.no_grad():
        model.mapping_network.w_avg.normal_()
    z = torch.randn(3, 16)
    ws = model.mapping(z)
    assert ws.shape == (3, model.num_ws, 16) and torch.equal(ws[:, 0], ws[:, -1])
    assert torch.equal(model.mapping(z, truncation_psi=1.0), ws)
    w_avg = model.mapping_network.w_avg
    full = model.mapping(z, truncation_psi=0.5)
    assert torch.allclose(full, w_avg + 0.5 * (ws - w_avg), atol=1e-6)
    cut = model.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], full[:, :2]) and torch.equal(cut[:, 2:], ws[:, 2:])
    assert torch.allclose(model.mapping(z, truncation_psi=0.0), w_avg.expand_as(ws))


def test_labels() -> None:
    cond = _small(c_dim=4)
    z = torch.randn(2, 16)
    c = torch.nn.functional.one_hot(torch.tensor([0, 3]), 4).float()
    ws = cond.mapping(z, c)
    assert not torch.allclose(ws, cond.mapping(z, c.flip(0)))
    with pytest.raises(ValueError, match="class-conditional"):
        cond.mapping(z)
    with pytest.raises(ValueError, match=r"c must have shape \[2, 4\]"):
        cond.mapping(z, c[:, :3])
    with pytest.raises(ValueError, match="unconditional"):
        _small().mapping(z, c)
    assert _small().mapping(z, None).shape == (2, 6, 16)


# ---------------------------------------------------------------------------------------------------------
# hub round trip and reduced precision


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _small(c_dim=3, with_discriminator=True, conv_clamp=256)
    model.save_pretrained(tmp_path / "m")
    loaded = StyleGAN2.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    z, c = torch.randn(2, 16), torch.eye(3)[:2]
    assert torch.equal(loaded(z, c), model(z, c))
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded.discriminate(img, torch.eye(3)[[0, 1, 2, 0]]),
                       model.discriminate(img, torch.eye(3)[[0, 1, 2, 0]]))
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (tmp_path / "m" / name).is_file()


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_reduced_precision_load_runs(tmp_path: Path, dtype: str) -> None:
    model = _small()
    model.save_pretrained(tmp_path / "m")
    half = StyleGAN2.from_pretrained(tmp_path / "m", dtype=dtype)
    z = torch.randn(2, 16)
    out = half(z, truncation_psi=0.7)
    ref = model(z, truncation_psi=0.7)
    assert out.dtype == torch.float32 and out.shape == ref.shape and torch.isfinite(out).all()
    assert (out - ref).abs().mean() < 0.1 * ref.abs().mean()


# ---------------------------------------------------------------------------------------------------------
# converter: errors and released-file quirks


@needs_ros
def test_rosinality_file_without_noise_buffers(tmp_path: Path) -> None:
    """The released 550000.pt lacks noises.noise_* (and latent_avg): converted with seeded maps and a warning."""
    ckpt = torch.load(ROS / "010000.pt", weights_only=True)
    ckpt["g_ema"] = {k: v for k, v in ckpt["g_ema"].items() if not k.startswith("noises.")}
    torch.save(ckpt, tmp_path / "550000.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = from_official(tmp_path / "550000.pt")
    messages = " | ".join(str(w.message) for w in caught)
    assert "noises.noise_" in messages and "latent_avg" in messages, messages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = StyleGAN2.from_official(tmp_path / "550000.pt")
    z = torch.randn(2, a.z_dim)
    assert torch.equal(a(z), b(z))  # deterministic const noise
    assert not torch.allclose(a(z), a(z, noise_mode="none"))
    assert torch.isfinite(a.mapping_network.w_avg).all() and a.mapping_network.w_avg.abs().sum() > 0


@needs_ros
def test_rosinality_errors_name_the_key(tmp_path: Path) -> None:
    ckpt = torch.load(ROS / "010000.pt", weights_only=True)
    g = dict(ckpt["g_ema"])
    g.pop("convs.1.activate.bias")
    with pytest.raises(OfficialCheckpointError, match="convs.1.activate.bias"):
        from_official({"g_ema": g})
    g = dict(ckpt["g_ema"], **{"convs.1.conv.modulation.weight": torch.zeros(7, 32)})
    with pytest.raises(OfficialCheckpointError, match=r"convs.1.conv.modulation.weight: file \[7, 32\]"):
        from_official({"g_ema": g})
    g = dict(ckpt["g_ema"], **{"extra.weight": torch.zeros(1)})
    with pytest.raises(OfficialCheckpointError, match="extra.weight"):
        from_official({"g_ema": g})


@needs_ada
def test_ada_errors_and_named_config() -> None:
    from safetensors.torch import load_file

    state = load_file(str(ADA / "G_ema.safetensors"))
    with pytest.raises(OfficialCheckpointError, match="init_kwargs"):
        from_official(state)
    with pytest.raises(OfficialCheckpointError, match="not stylegan2_ffhq_1024"):
        from_official(ADA / "G_ema.safetensors", config="stylegan2_ffhq_1024")
    with pytest.raises(ValueError, match="unknown StyleGAN2 configuration"):
        from_official(ADA / "G_ema.safetensors", config="nope")
    with pytest.raises(OfficialCheckpointError, match="discriminator"):
        from_official(ADA / "D.safetensors")
    assert "stylegan2_cifar10_32" in NAMED_CONFIGS_V2


# ---------------------------------------------------------------------------------------------------------
# network pickles: the ada format is read without running anything


class _Persistent:
    """Pickles like a stylegan2-ada persistent network object."""

    def __init__(self, fn, meta: dict) -> None:
        self.fn, self.meta = fn, meta

    def __reduce__(self):
        return self.fn, (self.meta,), None


def _fake_modules() -> tuple:
    """Stand-ins for torch_utils.persistence and dnnlib.util, present only while a test pickle is written."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # the real one exec()s meta['module_src']
        raise AssertionError("never called when loading")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util", "__qualname__": "EasyDict"})
    util.EasyDict = easy
    return {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
            "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}, _reconstruct_persistent_obj, easy


def _network(state: dict, fn, kwargs, class_name: str, src: str) -> _Persistent:
    root: dict = {}
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value

    def build(node: dict, name: str, init_kwargs) -> _Persistent:
        params, bufs, mods = collections.OrderedDict(), collections.OrderedDict(), collections.OrderedDict()
        for k, v in node.items():
            if isinstance(v, dict):
                mods[k] = build(v, k, {})
            elif k in ("w_avg", "noise_const", "resample_filter"):
                bufs[k] = v
            else:
                params[k] = torch.nn.Parameter(v)
        st = {"training": False, "_parameters": params, "_buffers": bufs, "_non_persistent_buffers_set": set(),
              "_modules": mods, "_init_args": (), "_init_kwargs": init_kwargs, "z_dim": 24}
        return _Persistent(fn, dict(type="class", version=6, module_src=src, class_name=name, state=st))

    return build(root, class_name, kwargs)


def _ada_pickle(path: Path, marker: Path) -> None:
    from safetensors import safe_open

    modules, fn, easy = _fake_modules()
    src = f"open({str(marker)!r}, 'w').write('module_src ran')\n"

    def ed(d):
        return easy({k: ed(v) if isinstance(v, dict) else v for k, v in d.items()})

    nets = {}
    for name in ("G_ema", "D"):
        with safe_open(str(ADA / f"{name}.safetensors"), "pt") as h:
            meta, state = h.metadata(), {k: h.get_tensor(k) for k in h.keys()}
        nets[name] = _network(state, fn, ed(json.loads(meta["init_kwargs"])), meta["class_name"], src)
    data = dict(G=nets["G_ema"], D=nets["D"], G_ema=nets["G_ema"], augment_pipe=None,
                training_set_kwargs=ed({"path": "data.zip", "resolution": 16}))
    saved = {k: sys.modules.get(k) for k in modules}
    sys.modules.update(modules)
    try:
        with open(path, "wb") as handle:
            pickle.dump(data, handle)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@needs_ada
def test_ada_network_pickle_converts_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "module_src_ran"
    _ada_pickle(tmp_path / "network-snapshot-000100.pkl", marker)
    assert "torch_utils" not in sys.modules
    model = StyleGAN2.from_official(tmp_path / "network-snapshot-000100.pkl")
    assert not marker.exists() and "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    reference = from_official(ADA / "G_ema.safetensors", discriminator=ADA / "D.safetensors")
    assert model.config == reference.config and model.has_discriminator
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


class _Shell:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_reduce_calling_os_system_is_inert(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    shell = _Shell()
    shell.marker = marker
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"G_ema": shell}))
    data = load_pickle_data(tmp_path / "evil.pkl")
    assert not marker.exists()
    assert type(data["G_ema"]).origin in {("posix", "system"), ("nt", "system"), ("os", "system")}
    with pytest.raises(OfficialCheckpointError, match="not a pickled network"):
        from_official(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_unexpected_module_is_never_imported(tmp_path: Path) -> None:
    name = "hubmodels_evil_module_xyz"
    payload = b"\x80\x04c" + name.encode() + b"\nrun\n)R."  # GLOBAL hubmodels_evil_module_xyz.run; call it
    (tmp_path / "network-snapshot-000000.pkl").write_bytes(payload)
    data = load_pickle_data(tmp_path / "network-snapshot-000000.pkl")
    assert type(data).origin == (name, "run") and name not in sys.modules
    with pytest.raises(OfficialCheckpointError, match="not a stylegan2-ada network pickle"):
        from_official(tmp_path / "network-snapshot-000000.pkl")
    assert name not in sys.modules


def test_corrupt_files_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "cut.pkl").write_bytes(b"\x80\x04\x95\x10\x00")
    with pytest.raises(CheckpointFileError, match="not a readable pickle"):
        from_official(tmp_path / "cut.pkl")
    with pytest.raises(FileNotFoundError):
        from_official(tmp_path / "absent.pkl")
