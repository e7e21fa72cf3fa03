"""Official StyleGAN2 checkpoints -> :class:`~.model_v2.StyleGAN2` (this family's ``checkpoint_filter_fn``).

Formats read:

* **ada network pickles** (``ffhq.pkl``, ``network-snapshot-*.pkl``; NVlabs/stylegan2-ada-pytorch): a plain
  pickle of ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}`` whose networks are "persistent
  objects" carrying the source code of ``training/networks.py``. Unpickling them normally *executes* that
  source; here :func:`hubmodels.checkpoints.load_pickle_data` turns every class and function into an inert
  record, and we read the modules' ``_parameters``/``_buffers``/``_modules`` and ``_init_kwargs`` from it.
  No code from the file is imported or run.
* **ada state dicts** in safetensors with ``class_name``/``init_kwargs`` metadata (the reference cases' form).
* **rosinality** ``.pt`` (``torch.save`` of ``{'g_ema', 'd', 'g', 'args', ...}`` from ``train.py``, or
  ``{'g_ema', 'latent_avg'}`` from ``convert_weight.py``), read with ``torch.load(weights_only=True)``. The
  author's ``550000.pt`` predates the ``noises`` buffers and has no ``latent_avg``: both are made here
  deterministically (seeded), with a warning.

Our key layout is ada's with ``mapping``/``synthesis`` renamed ``mapping_network``/``synthesis_network`` and the
discriminator under ``discriminator.``; the fixed FIR kernels are not stored (they follow from the config),
so the converter checks the official ones instead of copying them.
"""
from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor

from ..checkpoints import CheckpointFileError, PickledObject, load_pickle_data, load_torch_file
from .networks_v2 import channels_for, setup_filter

if TYPE_CHECKING:
    from .model_v2 import StyleGAN2

__all__ = ["OfficialCheckpointError", "OfficialNetworks", "load_official", "ada_to_ours", "rosinality_to_ours",
           "config_from_ada", "config_from_rosinality", "check_shapes", "from_official", "NOISE_SEED", "W_AVG_SAMPLES"]

NOISE_SEED = 0  # seed of the const noise maps made for rosinality files that lack them
W_AVG_SAMPLES = 4096  # z samples averaged for w_avg when a rosinality file has no latent_avg (as mean_latent)
_PERSISTENT = ("torch_utils.persistence", "_reconstruct_persistent_obj")


class OfficialCheckpointError(ValueError):
    """An official checkpoint that cannot be converted; the message names the file and what did not match."""


class OfficialNetworks:
    """What an official file holds, in its own key names: generator (EMA) and discriminator state dicts."""

    def __init__(self, fmt: str, g: dict[str, Tensor], d: dict[str, Tensor] | None = None, *,
                 g_kwargs: dict | None = None, d_kwargs: dict | None = None, latent_avg: Tensor | None = None,
                 args: dict | None = None, source: str = "<object>") -> None:
        self.format, self.g, self.d = fmt, g, d
        self.g_kwargs, self.d_kwargs = g_kwargs, d_kwargs
        self.latent_avg, self.args, self.source = latent_avg, args, source


# -----------------------------------------------------------------------------------------------------------
# reading


def _plain(value: Any) -> Any:
    """init_kwargs as plain JSON-like data (dnnlib.EasyDict records and numpy scalars included)."""
    if isinstance(value, PickledObject):
        if isinstance(value.state, dict) and not value.args:
            return _plain(value.state)
        raise OfficialCheckpointError(f"unexpected object {value!r} in the network's init_kwargs")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, Tensor):  # numpy scalar
        return value.item()
    return value


def _module_state(obj: Any, where: str) -> dict:
    """The ``__dict__`` a pickled nn.Module carried: a persistent object's ``meta['state']``, else BUILD state."""
    if isinstance(obj, PickledObject):
        if type(obj).origin == _PERSISTENT and obj.args and isinstance(obj.args[0], Mapping):
            meta = obj.args[0]
            if meta.get("type") != "class" or not isinstance(meta.get("state"), Mapping):
                raise OfficialCheckpointError(f"{where}: persistent object of type {meta.get('type')!r}, "
                                              "expected a network class")
            return dict(meta["state"])
        if isinstance(obj.state, Mapping):
            return dict(obj.state)
    raise OfficialCheckpointError(f"{where}: {obj!r} is not a pickled network (no module state)")


def _walk(obj: Any, prefix: str, out: dict[str, Tensor], where: str) -> None:
    state = _module_state(obj, where)
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None:
                continue
            if not isinstance(value, Tensor):
                raise OfficialCheckpointError(f"{where}: {prefix}{name} is {type(value).__name__}, not a tensor")
            if name in (state.get("_non_persistent_buffers_set") or ()):
                continue
            out[prefix + name] = value.detach().clone()
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            _walk(child, f"{prefix}{name}.", out, where)


def _ada_network(obj: Any, where: str) -> tuple[dict[str, Tensor], dict]:
    out: dict[str, Tensor] = {}
    _walk(obj, "", out, where)
    kwargs = _plain(_module_state(obj, where).get("_init_kwargs") or {})
    return out, kwargs


def _from_ada_pickle(data: Any, source: str) -> OfficialNetworks:
    if isinstance(data, tuple) and len(data) == 3:
        raise OfficialCheckpointError(
            f"{source} is a TensorFlow-era StyleGAN2 pickle (G, D, Gs of dnnlib.tflib): its variables need "
            "TensorFlow names translated; use the stylegan2-ada-pytorch release of the same network (e.g. "
            "pretrained/ffhq.pkl for stylegan2-ffhq-config-f.pkl) or rosinality's convert_weight.py output")
    if not isinstance(data, Mapping) or "G_ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise OfficialCheckpointError(f"{source} is not a stylegan2-ada network pickle: expected a dict with "
                                      f"'G_ema' (and 'D'), found {keys}")
    g, g_kwargs = _ada_network(data["G_ema"], f"{source}['G_ema']")
    d = d_kwargs = None
    if data.get("D") is not None:
        d, d_kwargs = _ada_network(data["D"], f"{source}['D']")
    return OfficialNetworks("ada", g, d, g_kwargs=g_kwargs, d_kwargs=d_kwargs, source=source)


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # noqa: BLE001
        raise OfficialCheckpointError(f"{path} is not a readable safetensors file: {err}") from None
    try:
        kwargs = json.loads(meta["init_kwargs"]) if "init_kwargs" in meta else None
    except ValueError as err:
        raise OfficialCheckpointError(f"{path}: metadata init_kwargs is not JSON: {err}") from None
    return tensors, {"class_name": meta.get("class_name", ""), "init_kwargs": kwargs}


def _is_ada_d(state: Mapping[str, Any]) -> bool:
    return any(k.startswith("b4.") for k in state) and not any(k.startswith("synthesis.") for k in state)


def _is_rosinality(data: Any) -> bool:
    return isinstance(data, Mapping) and ("g_ema" in data or "style.1.weight" in data)


def _from_rosinality(data: Mapping, source: str) -> OfficialNetworks:
    g = data["g_ema"] if "g_ema" in data else data
    d = data.get("d") if "g_ema" in data else None
    args = data.get("args")
    if args is not None and not isinstance(args, Mapping):
        args = vars(args) if hasattr(args, "__dict__") else None
    latent = data.get("latent_avg")
    return OfficialNetworks("rosinality", dict(g), dict(d) if d is not None else None,
                            latent_avg=latent if isinstance(latent, Tensor) else None, args=args, source=source)


def load_official(source: str | Path | Mapping | Any, discriminator: str | Path | Mapping | None = None
                  ) -> OfficialNetworks:
    """Read an official StyleGAN2 file (or an object already loaded) into :class:`OfficialNetworks`."""
    if isinstance(source, OfficialNetworks):
        nets = source
    elif isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        if path.suffix == ".safetensors":
            tensors, meta = _read_safetensors(path)
            kind = meta["class_name"]
            if _is_rosinality(tensors):
                nets = _from_rosinality(tensors, str(path))
            elif kind.endswith("Discriminator") or _is_ada_d(tensors):
                raise OfficialCheckpointError(f"{path} holds a discriminator: pass the generator file as source "
                                              "and this one as discriminator=")
            else:
                nets = OfficialNetworks("ada", tensors, g_kwargs=meta["init_kwargs"], source=str(path))
        elif path.suffix in (".pkl", ".pickle") and not zipfile.is_zipfile(path):
            nets = _from_ada_pickle(load_pickle_data(path), str(path))  # inert records, nothing runs
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch's note about pickle protocols of plain pickles
                    data = load_torch_file(path)
            except CheckpointFileError as err:
                if "not a readable PyTorch checkpoint" not in str(err) or zipfile.is_zipfile(path):
                    raise
                nets = _from_ada_pickle(load_pickle_data(path), str(path))  # a network pickle named otherwise
            else:
                if not _is_rosinality(data):
                    raise OfficialCheckpointError(f"{path} is a torch.save file without 'g_ema' (or 'style.1.weight'):"
                                                  " not a rosinality/stylegan2-pytorch checkpoint")
                nets = _from_rosinality(data, str(path))
    elif _is_rosinality(source):
        nets = _from_rosinality(source, "<object>")
    elif isinstance(source, Mapping) and "G_ema" in source:
        nets = _from_ada_pickle(source, "<object>")
    elif isinstance(source, Mapping) and any(str(k).startswith("synthesis.") for k in source):
        nets = OfficialNetworks("ada", dict(source))
    else:
        raise OfficialCheckpointError(f"cannot read {type(source).__name__} as a StyleGAN2 checkpoint: expected a "
                                      "path, an ada pickle dict (G_ema), an ada state dict or a rosinality dict")
    if discriminator is not None:
        if isinstance(discriminator, (str, Path)):
            tensors, meta = _read_safetensors(Path(discriminator).expanduser())
            nets.d, nets.d_kwargs = tensors, meta["init_kwargs"]
        else:
            nets.d = dict(discriminator)
    return nets


# -----------------------------------------------------------------------------------------------------------
# configuration


def _check_keys(where: str, kwargs: Mapping, allowed: dict[str, Any]) -> None:
    """Official options we do not implement must keep their defaults (else we would compute something else)."""
    for key, value in kwargs.items():
        if key not in allowed:
            raise OfficialCheckpointError(f"{where}: option {key}={value!r} is not supported by this converter")
        if allowed[key] is not None and value not in allowed[key]:
            raise OfficialCheckpointError(f"{where}: option {key}={value!r} is not supported "
                                          f"(supported: {allowed[key]})")


def config_from_ada(g_kwargs: Mapping, d_kwargs: Mapping | None = None) -> dict[str, Any]:
    """Our constructor arguments from ada's ``Generator``/``Discriminator`` init_kwargs."""
    g = dict(g_kwargs)
    mapping = dict(g.get("mapping_kwargs") or {})
    synth = dict(g.get("synthesis_kwargs") or {})
    w_dim = g["w_dim"]
    _check_keys("G mapping_kwargs", mapping, {"num_layers": None, "lr_multiplier": None, "w_avg_beta": None,
                                             "embed_features": [None, w_dim], "layer_features": [None, w_dim],
                                             "activation": ["lrelu"]})
    _check_keys("G synthesis_kwargs", synth, {"channel_base": None, "channel_max": None, "num_fp16_res": None,
                                              "conv_clamp": None, "architecture": ["skip"], "resample_filter": None,
                                              "fp16_channels_last": None, "use_noise": [True],
                                              "activation": ["lrelu"], "kernel_size": [3]})
    config: dict[str, Any] = dict(
        z_dim=g["z_dim"], w_dim=w_dim, c_dim=g.get("c_dim", 0), img_resolution=g["img_resolution"],
        img_channels=g.get("img_channels", 3), mapping_layers=mapping.get("num_layers", 8),
        mapping_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
        channel_base=synth.get("channel_base", 32768), channel_max=synth.get("channel_max", 512),
        num_fp16_res=synth.get("num_fp16_res", 0), conv_clamp=synth.get("conv_clamp"),
        resample_filter=list(synth.get("resample_filter", [1, 3, 3, 1])), with_discriminator=False)
    if d_kwargs is not None:
        d = dict(d_kwargs)
        _check_keys("D block_kwargs", d.get("block_kwargs") or {}, {"freeze_layers": None,
                                                                  "fp16_channels_last": None,
                                                                  "activation": ["lrelu"],
                                                                  "resample_filter": None})
        _check_keys("D epilogue_kwargs", d.get("epilogue_kwargs") or {}, {"mbstd_group_size": None,
                                                                         "mbstd_num_channels": None,
                                                                         "activation": ["lrelu"]})
        cmap = d.get("cmap_dim")
        _check_keys("D mapping_kwargs", d.get("mapping_kwargs") or {}, {
            "num_layers": None, "lr_multiplier": None, "activation": ["lrelu"],
            "embed_features": [None, cmap] if cmap is not None else [None],
            "layer_features": [None, cmap] if cmap is not None else [None]})
        d_filter = (d.get("block_kwargs") or {}).get("resample_filter")
        if d_filter is not None and list(d_filter) != config["resample_filter"]:
            raise OfficialCheckpointError(f"D resample_filter {d_filter} differs from G's {config['resample_filter']}")
        if d.get("architecture", "resnet") not in ("resnet", "orig"):
            raise OfficialCheckpointError(f"D architecture {d['architecture']!r} is not supported ('resnet', 'orig')")
        epi = d.get("epilogue_kwargs") or {}
        config.update(with_discriminator=True, d_architecture=d.get("architecture", "resnet"),
                      d_channel_base=d.get("channel_base", 32768), d_channel_max=d.get("channel_max", 512),
                      d_num_fp16_res=d.get("num_fp16_res", 0), d_conv_clamp=d.get("conv_clamp"),
                      d_mbstd_group_size=epi.get("mbstd_group_size", 4),
                      d_mbstd_num_channels=epi.get("mbstd_num_channels", 1), d_cmap_dim=d.get("cmap_dim"),
                      d_mapping_layers=(d.get("mapping_kwargs") or {}).get("num_layers", 8),
                      d_mapping_lr_multiplier=float((d.get("mapping_kwargs") or {}).get("lr_multiplier", 0.01)))
    return config


def _base_and_max(channels: dict[int, int], where: str) -> tuple[int, int]:
    """channel_base/channel_max reproducing per-resolution widths (rosinality hard-codes a table)."""
    cmax = max(channels.values())
    below = [res * ch for res, ch in channels.items() if ch < cmax]
    base = below[0] if below else max(32768, cmax * max(channels))
    if any(channels_for(res, base, cmax) != ch for res, ch in channels.items()):
        raise OfficialCheckpointError(f"{where}: channel widths {channels} do not follow "
                                      "min(channel_base // res, channel_max) for any channel_base")
    return base, cmax


def config_from_rosinality(g: Mapping[str, Tensor], d: Mapping[str, Tensor] | None) -> dict[str, Any]:
    """Our constructor arguments from the shapes of a rosinality state dict (nothing else is stored)."""
    try:
        style_dim = g["style.1.weight"].shape[0]
        n_mlp = sum(1 for k in g if re.fullmatch(r"style\.\d+\.weight", k))
        n_rgb = sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        size = 2 ** (n_rgb + 2)
        channels = {4: g["conv1.conv.weight"].shape[1]}
        for j in range(n_rgb):
            channels[8 * 2 ** j] = g[f"convs.{2 * j}.conv.weight"].shape[1]
        img_channels = g["to_rgb1.conv.weight"].shape[1]
    except KeyError as err:
        raise OfficialCheckpointError(f"rosinality generator state dict lacks {err}: not a StyleGAN2 g_ema") from None
    base, cmax = _base_and_max(channels, "rosinality g_ema")
    config: dict[str, Any] = dict(z_dim=style_dim, w_dim=style_dim, c_dim=0, img_resolution=size,
                                  img_channels=img_channels, mapping_layers=n_mlp, mapping_lr_multiplier=0.01,
                                  channel_base=base, channel_max=cmax, num_fp16_res=0, conv_clamp=None,
                                  with_discriminator=False)
    if d is not None:
        try:
            dch = {4: d["final_conv.0.weight"].shape[0], size: d["convs.0.0.weight"].shape[0]}
            n_res = sum(1 for k in d if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k))
            for i in range(1, n_res + 1):
                dch[size // 2 ** (i - 1)] = d[f"convs.{i}.conv1.0.weight"].shape[0]
        except KeyError as err:
            raise OfficialCheckpointError(f"rosinality discriminator state dict lacks {err}") from None
        dbase, dmax = _base_and_max(dch, "rosinality d")
        # rosinality's Discriminator: resnet blocks, minibatch-stddev over groups of 4 with 1 feature, no clamp
        config.update(with_discriminator=True, d_architecture="resnet", d_channel_base=dbase, d_channel_max=dmax,
                      d_num_fp16_res=0, d_conv_clamp=None, d_mbstd_group_size=4, d_mbstd_num_channels=1)
    return config


# -----------------------------------------------------------------------------------------------------------
# key mapping


def _check_filter(where: str, key: str, value: Tensor, expected: Tensor) -> None:
    if tuple(value.shape) != tuple(expected.shape) or not torch.allclose(value.float(), expected, atol=1e-6):
        raise OfficialCheckpointError(f"{where}: {key} is not the FIR filter of the configuration "
                                      f"(resample_filter): got {value.flatten()[:6].tolist()}..., expected "
                                      f"{expected.flatten()[:6].tolist()}...")


def ada_to_ours(g: Mapping[str, Tensor], d: Mapping[str, Tensor] | None, taps: list[float],
                where: str = "ada") -> tuple[dict[str, Tensor], dict[str, str]]:
    """ada key names -> ours (and ours -> the official name, for error messages)."""
    f = setup_filter(taps)
    out: dict[str, Tensor] = {}
    names: dict[str, str] = {}
    for label, state in (("G", g), ("D", d or {})):
        for key, value in state.items():
            if key.endswith("resample_filter"):
                if value.device.type != "meta":
                    _check_filter(where, f"{label} {key}", value, f)
                continue
            if label == "G":
                new = re.sub(r"^mapping\.", "mapping_network.", re.sub(r"^synthesis\.", "synthesis_network.", key))
            else:
                new = "discriminator." + key
            out[new] = value
            names[new] = f"{label} {key}"

    return out, names


def rosinality_to_ours(g: Mapping[str, Tensor], d: Mapping[str, Tensor] | None, config: Mapping[str, Any],
                       where: str = "rosinality") -> tuple[dict[str, Tensor], dict[str, str], list[str]]:
    """rosinality key names and shapes -> ours. Returns (state, ours->official names, official keys left over).

    The generator computes the same function as ada's (see :mod:`.networks_v2`): the weights only lose the
    leading singleton dims rosinality keeps for broadcasting ([1, O, I, k, k] conv weights, [1, C, 4, 4]
    constant, [1, 3, 1, 1] ToRGB bias, [1, 1, H, W] noise maps, [1] noise weights).
    """
    out: dict[str, Tensor] = {}
    names: dict[str, str] = {}
    used: set[str] = set()
    up_kernel = setup_filter([1, 3, 3, 1]) * 4  # rosinality scales up-sampling kernels by factor**2

    def put(ours: str, key: str, state: Mapping[str, Tensor], fn=lambda t: t) -> None:
        names[ours] = key  # also when absent: a missing tensor is reported under the official name
        if key in state:
            out[ours] = fn(state[key])
            names[ours] = key
            used.add(key)

    def squeeze0(t: Tensor) -> Tensor:
        return t.reshape(t.shape[1:]) if t.ndim and t.shape[0] == 1 else t

    n_mlp = config["mapping_layers"]
    for i in range(n_mlp):
        put(f"mapping_network.fc{i}.weight", f"style.{i + 1}.weight", g)
        put(f"mapping_network.fc{i}.bias", f"style.{i + 1}.bias", g)
    res_list = [2 ** i for i in range(2, int(config["img_resolution"]).bit_length())]
    s = "synthesis_network"
    put(f"{s}.b4.const", "input.input", g, squeeze0)
    layers = [("b4.conv1", "conv1")]
    rgbs = [("b4.torgb", "to_rgb1")]
    for j, res in enumerate(res_list[1:]):
        layers += [(f"b{res}.conv0", f"convs.{2 * j}"), (f"b{res}.conv1", f"convs.{2 * j + 1}")]
        rgbs.append((f"b{res}.torgb", f"to_rgbs.{j}"))
    for i, (ours, theirs) in enumerate(layers):
        put(f"{s}.{ours}.weight", f"{theirs}.conv.weight", g, squeeze0)
        put(f"{s}.{ours}.affine.weight", f"{theirs}.conv.modulation.weight", g)
        put(f"{s}.{ours}.affine.bias", f"{theirs}.conv.modulation.bias", g)
        put(f"{s}.{ours}.noise_strength", f"{theirs}.noise.weight", g, lambda t: t.reshape([]))
        put(f"{s}.{ours}.bias", f"{theirs}.activate.bias", g)
        put(f"{s}.{ours}.noise_const", f"noises.noise_{i}", g, lambda t: t.reshape(t.shape[-2:]))
        if f"{theirs}.conv.blur.kernel" in g:
            used.add(f"{theirs}.conv.blur.kernel")
            if g[f"{theirs}.conv.blur.kernel"].device.type != "meta":
                _check_filter(where, f"{theirs}.conv.blur.kernel", g[f"{theirs}.conv.blur.kernel"], up_kernel)
    for ours, theirs in rgbs:
        put(f"{s}.{ours}.weight", f"{theirs}.conv.weight", g, squeeze0)
        put(f"{s}.{ours}.affine.weight", f"{theirs}.conv.modulation.weight", g)
        put(f"{s}.{ours}.affine.bias", f"{theirs}.conv.modulation.bias", g)
        put(f"{s}.{ours}.bias", f"{theirs}.bias", g, lambda t: t.reshape(-1))
        if f"{theirs}.upsample.kernel" in g:
            used.add(f"{theirs}.upsample.kernel")
            if g[f"{theirs}.upsample.kernel"].device.type != "meta":
                _check_filter(where, f"{theirs}.upsample.kernel", g[f"{theirs}.upsample.kernel"], up_kernel)
    left = [k for k in g if k not in used]
    if d is not None:
        dused: set[str] = set()
        size = config["img_resolution"]

        def dput(ours: str, key: str) -> None:
            names["discriminator." + ours] = "d " + key
            if key in d:
                out["discriminator." + ours] = d[key]
                names["discriminator." + ours] = "d " + key
                dused.add(key)

        dput(f"b{size}.fromrgb.weight", "convs.0.0.weight")
        dput(f"b{size}.fromrgb.bias", "convs.0.1.bias")
        blur = setup_filter([1, 3, 3, 1])
        for i, res in enumerate(reversed(res_list[1:]), start=1):
            dput(f"b{res}.conv0.weight", f"convs.{i}.conv1.0.weight")
            dput(f"b{res}.conv0.bias", f"convs.{i}.conv1.1.bias")
            dput(f"b{res}.conv1.weight", f"convs.{i}.conv2.1.weight")
            dput(f"b{res}.conv1.bias", f"convs.{i}.conv2.2.bias")
            dput(f"b{res}.skip.weight", f"convs.{i}.skip.1.weight")
            for k in (f"convs.{i}.conv2.0.kernel", f"convs.{i}.skip.0.kernel"):
                if k in d:
                    dused.add(k)
                    if d[k].device.type != "meta":
                        _check_filter(where, "d " + k, d[k], blur)
        for ours, theirs in (("b4.conv.weight", "final_conv.0.weight"), ("b4.conv.bias", "final_conv.1.bias"),
                             ("b4.fc.weight", "final_linear.0.weight"), ("b4.fc.bias", "final_linear.0.bias"),
                             ("b4.out.weight", "final_linear.1.weight"), ("b4.out.bias", "final_linear.1.bias")):
            dput(ours, theirs)
        left += ["d " + k for k in d if k not in dused]
    return out, names, left


# -----------------------------------------------------------------------------------------------------------
# building the model


def check_shapes(model: "StyleGAN2", state: Mapping[str, Tensor], names: Mapping[str, str], source: str,
                 allow_missing: tuple[str, ...] = ()) -> None:
    """Raise naming every missing, unexpected or wrongly shaped tensor (official names, with ours)."""
    expected = model.state_dict()
    missing = [f"{names.get(k) or _ada_name(k)} (-> {k})" for k in expected
               if k not in state and not any(re.fullmatch(p, k) for p in allow_missing)]
    unexpected = [f"{names.get(k, k)} (-> {k})" for k in state if k not in expected]
    wrong = [f"{names.get(k, k)}: file {list(v.shape)} vs model {list(expected[k].shape)}"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrongly shaped", wrong)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items) - 8} more)" if len(items) > 8 else "")
                parts.append(f"{len(items)} {label} tensor(s): {shown}")
        raise OfficialCheckpointError(f"{source} does not match StyleGAN2({model.img_resolution}px): "
                                      + "; ".join(parts))


def _ada_name(ours: str) -> str:
    """The official ada name of one of our keys (for messages)."""
    if ours.startswith("discriminator."):
        return "D " + ours[len("discriminator."):]
    return "G " + re.sub(r"^(mapping|synthesis)_network\.", r"\1.", ours)


def _load_strict(model: "StyleGAN2", state: dict[str, Tensor], names: dict[str, str], source: str,
                 allow_missing: tuple[str, ...] = ()) -> None:
    check_shapes(model, state, names, source, allow_missing)
    expected = model.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            expected[k].copy_(v.to(expected[k].dtype))


def _apply_named(config: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        return config
    from .model_v2 import NAMED_CONFIGS_V2

    if name not in NAMED_CONFIGS_V2:
        raise ValueError(f"unknown StyleGAN2 configuration {name!r}; named ones: {sorted(NAMED_CONFIGS_V2)}")
    named = NAMED_CONFIGS_V2[name]["config"]
    shape_keys = ("z_dim", "w_dim", "c_dim", "img_resolution", "img_channels", "mapping_layers", "channel_base",
                  "channel_max")
    wrong = [f"{k}: file {config.get(k)!r} vs {name} {named[k]!r}" for k in shape_keys if config.get(k) != named[k]]
    if wrong:
        raise OfficialCheckpointError(f"the checkpoint is not {name}: " + "; ".join(wrong))
    return config


def from_official(source: Any, *, config: str | None = None, discriminator: Any = None,
                  cls: type["StyleGAN2"] | None = None) -> "StyleGAN2":
    """Build a StyleGAN2 from an official file or object (see the module docstring); strict about keys."""
    if cls is None:
        from .model_v2 import StyleGAN2 as cls  # noqa: N813
    nets = load_official(source, discriminator)
    allow_missing: tuple[str, ...] = ()
    if nets.format == "ada":
        if nets.g_kwargs is None:
            raise OfficialCheckpointError(f"{nets.source}: an ada state dict needs its init_kwargs (the "
                                          "safetensors metadata or the pickle's _init_kwargs)")
        kwargs = config_from_ada(nets.g_kwargs, nets.d_kwargs if nets.d is not None else None)
        if nets.d is not None and nets.d_kwargs is None:
            raise OfficialCheckpointError(f"{nets.source}: the discriminator comes without its init_kwargs")
        state, names = ada_to_ours(nets.g, nets.d, kwargs["resample_filter"], nets.source)
    else:
        kwargs = config_from_rosinality(nets.g, nets.d)
        state, names, left = rosinality_to_ours(nets.g, nets.d, kwargs, nets.source)
        if left:
            raise OfficialCheckpointError(f"{nets.source}: {len(left)} unexpected tensor(s) in the rosinality "
                                          f"checkpoint: {', '.join(left[:8])}")
        allow_missing = (r"synthesis_network\..*\.noise_const", r"mapping_network\.w_avg")
    kwargs = _apply_named(kwargs, config)
    model = cls(**kwargs)
    _load_strict(model, state, names, nets.source, allow_missing)
    if nets.format == "rosinality":
        _fill_rosinality_gaps(model, state, nets)
    return model.float().eval()


def _fill_rosinality_gaps(model: "StyleGAN2", state: Mapping[str, Tensor], nets: OfficialNetworks) -> None:
    layers = model.synthesis_network.noise_layers()
    missing_noise = [layer for layer in layers if _noise_key(model, layer) not in state]
    if missing_noise:
        warnings.warn(f"{nets.source}: the checkpoint has no noises.noise_* buffers (older rosinality model.py, "
                      f"e.g. the released 550000.pt): noise_mode='const' uses maps drawn with torch.randn under "
                      f"seed {NOISE_SEED}, reproducible but not the author's", stacklevel=3)
        gen = torch.Generator().manual_seed(NOISE_SEED)
        with torch.no_grad():
            for layer in layers:  # all maps from one seeded stream, in layer order
                drawn = torch.randn(layer.noise_const.shape, generator=gen)
                if _noise_key(model, layer) not in state:
                    layer.noise_const.copy_(drawn)
    with torch.no_grad():
        if nets.latent_avg is not None:
            model.mapping_network.w_avg.copy_(nets.latent_avg.reshape(-1).float())
        else:
            warnings.warn(f"{nets.source}: no latent_avg in the checkpoint: w_avg (the truncation centre) is the "
                          f"mean of the mapping over {W_AVG_SAMPLES} z drawn under seed {NOISE_SEED}, as "
                          "rosinality's generate.py computes mean_latent", stacklevel=3)
            z = torch.randn(W_AVG_SAMPLES, model.z_dim, generator=torch.Generator().manual_seed(NOISE_SEED))
            model.mapping_network.w_avg.copy_(model.mapping_network(z)[:, 0].mean(0))


def _noise_key(model: "StyleGAN2", layer: Any) -> str:
    for name, module in model.named_modules():
        if module is layer:
            return f"{name}.noise_const"
    raise KeyError("layer not in model")
