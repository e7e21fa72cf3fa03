"""Official StyleGAN (v1) checkpoints -> :class:`~.model_v1.StyleGAN`.

Two formats:

* genforce's converted files (``stylegan_ffhq1024.pth``, ...): ``torch.save({'generator': ...,
  'discriminator': ..., 'generator_smooth': ...})`` of state dicts, read with ``torch.load(weights_only=True)``.
  ``generator_smooth`` (the official Gs, the moving average) is the generator we load.
* the original NVlabs TensorFlow pickles (``karras2019stylegan-ffhq-1024x1024.pkl``, ...): a tuple
  ``(G, D, Gs)`` of ``dnnlib.tflib.Network`` states. Unpickling them normally would ``exec`` the network
  source embedded in each state (``build_module_src``); we read them with
  :func:`hubmodels.checkpoints.load_pickle_data`, which turns every class into an inert record, and take only
  the ``variables`` (TF name, numpy array) lists, renamed to genforce's layout with genforce's rules (conv
  weights ``[k, k, in, out] -> [out, in, k, k]``, dense / StyleMod weights transposed, the rest as is).

Both end in genforce's layout, which maps onto our module names by :func:`genforce_to_ours`. Errors name every
missing, unexpected or wrongly shaped key.
"""
from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from ..checkpoints import PickledObject, load_pickle_data, load_torch_file
from .networks_v1 import blur_kernel, channels_at

__all__ = ["OfficialCheckpointError", "load_official", "tf_to_genforce", "genforce_to_ours",
           "config_from_official", "infer_config", "from_official"]


class OfficialCheckpointError(ValueError):
    """An official checkpoint that does not fit the StyleGAN (v1) classes; the message says what and where."""


# ---------------------------------------------------------------------------------------------
# reading files


def load_official(source: str | Path | Any) -> dict[str, dict[str, Tensor]]:
    """A path or loaded object -> genforce's layout ``{'generator_smooth': sd[, 'discriminator': sd]}``."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        data = load_torch_file(path) if zipfile.is_zipfile(path) else load_pickle_data(path)
        where = str(path)
    else:
        data, where = source, "the given object"
    if isinstance(data, (tuple, list)) and data and all(isinstance(n, PickledObject) for n in data):
        return tf_to_genforce(data, where)
    if isinstance(data, Mapping):
        return _genforce_dict(data, where)
    raise OfficialCheckpointError(f"{where} is neither genforce's StyleGAN .pth (a dict of state dicts) nor an "
                                  f"NVlabs network pickle (G, D, Gs); got {type(data).__name__}")


def _genforce_dict(data: Mapping, where: str) -> dict[str, dict[str, Tensor]]:
    if "generator_smooth" in data or "generator" in data:
        gen = data.get("generator_smooth", data.get("generator"))
        out = {"generator_smooth": dict(gen)}
        if isinstance(data.get("discriminator"), Mapping):
            out["discriminator"] = dict(data["discriminator"])
        return out
    if any(isinstance(k, str) and k.startswith("mapping.") for k in data):  # a bare generator state dict
        return {"generator_smooth": dict(data)}
    raise OfficialCheckpointError(f"{where}: expected genforce's keys 'generator_smooth' (or 'generator') and "
                                  f"optionally 'discriminator'; found {sorted(map(str, data))[:8]}")


# ---------------------------------------------------------------------------------------------
# NVlabs TF pickles -> genforce layout


def _network_state(obj: Any, what: str, where: str) -> dict:
    state = getattr(obj, "state", None)
    if not isinstance(obj, PickledObject) or not isinstance(state, dict) or "variables" not in state:
        raise OfficialCheckpointError(f"{where}: {what} is not a dnnlib Network state (a dict with 'variables'); "
                                      f"got {obj!r}")
    return state


def _variables(state: dict, what: str, where: str) -> dict[str, Tensor]:
    out = {}
    try:
        for name, value in state["variables"]:
            out[str(name)] = torch.from_numpy(np.array(value, dtype=np.float32))
    except (TypeError, ValueError) as err:
        raise OfficialCheckpointError(f"{where}: the variables of {what} are not (name, array) pairs: {err}") from None
    return out


def _tf_weight(name: str, value: Tensor) -> Tensor:
    if not name.endswith("/weight") or "Noise/" in name or "LabelConcat/" in name:
        return value
    if value.ndim == 4:  # [k, k, in, out] -> [out, in, k, k], also for the fused up/down-scaling convs
        return value.permute(3, 2, 0, 1).contiguous()
    if value.ndim == 2:  # dense and StyleMod: [in, out] -> [out, in]
        return value.t().contiguous()
    return value


def _log2(r: str) -> int:
    return int(math.log2(int(r)))


def _tf_generator(net: Any, where: str) -> dict[str, Tensor]:
    state = _network_state(net, "Gs", where)
    comps = state.get("components") or {}
    if "mapping" not in comps or "synthesis" not in comps:
        raise OfficialCheckpointError(f"{where}: Gs has no 'mapping'/'synthesis' components: not a StyleGAN G_style")
    top = _variables(state, "Gs", where)
    mapping = _variables(_network_state(comps["mapping"], "G_mapping", where), "G_mapping", where)
    synth = _variables(_network_state(comps["synthesis"], "G_synthesis", where), "G_synthesis", where)
    if any("mod_weight" in n or "ModulatedConv" in n for n in synth):
        raise OfficialCheckpointError(f"{where} is a StyleGAN2 network pickle: convert it as family 'stylegan2'")
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    for name, value in top.items():
        if name == "dlatent_avg":
            out["truncation.w_avg"] = value
        elif name != "lod":  # G_style's own lod duplicates the synthesis one
            unknown.append(f"G/{name}")
    for name, value in mapping.items():
        m = re.fullmatch(r"Dense(\d+)/(weight|bias)", name)
        if m:
            out[f"mapping.dense{m[1]}.{m[2]}"] = _tf_weight(name, value)
        elif name == "LabelConcat/weight":
            out["mapping.label_weight"] = value
        else:
            unknown.append(f"G_mapping/{name}")
    sizes = [_log2(m[1]) for n in synth if (m := re.match(r"(\d+)x\1/", n))]
    final = max(sizes, default=2)
    for name, value in synth.items():
        if name == "lod":
            out["synthesis.lod"] = value
            continue
        if m := re.fullmatch(r"noise(\d+)", name):
            out[f"synthesis.layer{m[1]}.apply_noise.noise"] = value
            continue
        if m := re.fullmatch(r"ToRGB_lod(\d+)/(weight|bias)", name):
            out[f"synthesis.output{final - 2 - int(m[1])}.{m[2]}"] = _tf_weight(name, value)
            continue
        m = re.fullmatch(r"(\d+)x\1/(Const|Conv|Conv0_up|Conv1)/(const|weight|bias|Noise/weight|StyleMod/weight|"
                         r"StyleMod/bias)", name)
        if not m:
            unknown.append(f"G_synthesis/{name}")
            continue
        block = _log2(m[1]) - 2
        layer = 2 * block + (0 if m[2] in ("Const", "Conv0_up") else 1)
        leaf = {"const": "const", "weight": "weight", "bias": "bias", "Noise/weight": "apply_noise.weight",
                "StyleMod/weight": "style.weight", "StyleMod/bias": "style.bias"}[m[3]]
        out[f"synthesis.layer{layer}.{leaf}"] = _tf_weight(name, value)
    if unknown:
        raise OfficialCheckpointError(f"{where}: TF variables the StyleGAN (v1) generator does not have: "
                                      f"{', '.join(sorted(unknown))} (only the constant-input configuration is "
                                      "supported)")
    return out


def _tf_discriminator(net: Any, where: str) -> dict[str, Tensor]:
    variables = _variables(_network_state(net, "D", where), "D", where)
    lods = [int(m[1]) for n in variables if (m := re.fullmatch(r"FromRGB_lod(\d+)/weight", n))]
    if not lods:
        raise OfficialCheckpointError(f"{where}: D has no FromRGB_lod*/weight: not a StyleGAN D_basic")
    final = 2 + max(lods)
    last = final - 2  # block index of 4x4
    out: dict[str, Tensor] = {}
    unknown = []
    for name, value in variables.items():
        if name == "lod":
            out["lod"] = value
        elif m := re.fullmatch(r"FromRGB_lod(\d+)/(weight|bias)", name):
            out[f"input{m[1]}.{m[2]}"] = _tf_weight(name, value)
        elif m := re.fullmatch(r"(\d+)x\1/(Conv0|Conv1_down)/(weight|bias)", name):
            block = final - _log2(m[1])
            out[f"layer{2 * block + (m[2] == 'Conv1_down')}.{m[3]}"] = _tf_weight(name, value)
        elif m := re.fullmatch(r"4x4/(Conv|Dense0|Dense1)/(weight|bias)", name):
            out[f"layer{2 * last + {'Conv': 0, 'Dense0': 1, 'Dense1': 2}[m[1]]}.{m[2]}"] = _tf_weight(name, value)
        else:
            unknown.append(f"D/{name}")
    if unknown:
        raise OfficialCheckpointError(f"{where}: TF variables the StyleGAN (v1) discriminator does not have: "
                                      f"{', '.join(sorted(unknown))}")
    return out


def tf_to_genforce(networks: tuple | list, where: str = "the pickle") -> dict[str, dict[str, Tensor]]:
    """The inert ``(G, D, Gs)`` tree of an NVlabs pickle -> genforce's layout (Gs as generator_smooth)."""
    if len(networks) != 3:
        raise OfficialCheckpointError(f"{where}: an NVlabs StyleGAN pickle holds (G, D, Gs), got {len(networks)} "
                                      "objects")
    return {"generator_smooth": _tf_generator(networks[2], where),
            "discriminator": _tf_discriminator(networks[1], where)}


# ---------------------------------------------------------------------------------------------
# configuration

_GF_G = {"resolution": "img_resolution", "z_space_dim": "z_dim", "w_space_dim": "w_dim", "label_size": "c_dim",
         "mapping_layers": "mapping_layers", "mapping_fmaps": "mapping_fmaps", "mapping_lr_mul": "mapping_lr_mul",
         "image_channels": "img_channels", "fused_scale": "fused_scale", "fmaps_base": "fmaps_base",
         "fmaps_max": "fmaps_max"}
_GF_D = {"resolution": "img_resolution", "image_channels": "img_channels", "label_size": "c_dim",
         "fused_scale": "fused_scale", "fmaps_base": "d_fmaps_base", "fmaps_max": "d_fmaps_max",
         "minibatch_std_group_size": "mbstd_group_size", "minibatch_std_channels": "mbstd_num_features"}
# genforce options our classes fix at the official value
_FIXED = {"repeat_w": True, "final_tanh": False, "const_input": True, "use_wscale": True, "noise_type": "spatial"}


def _translate(kwargs: Mapping[str, Any], table: dict[str, str], what: str) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        if key in _FIXED:
            if value != _FIXED[key]:
                raise OfficialCheckpointError(f"{what}: {key}={value!r} is not supported (only the official "
                                              f"{key}={_FIXED[key]!r})")
        elif key in table:
            out[table[key]] = value
        else:
            raise OfficialCheckpointError(f"{what}: unknown option {key!r}; known: {', '.join(sorted(table))}")
    return out


def config_from_official(config: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Our constructor arguments from a named configuration, our own kwargs, genforce's generator kwargs,
    or a manifest's ``{"StyleGANGenerator": {...}, "StyleGANDiscriminator": {...}}``."""
    from .model_v1 import NAMED_CONFIGS_V1, StyleGAN

    if config is None:
        return {}
    if isinstance(config, str):
        if config not in NAMED_CONFIGS_V1:
            raise OfficialCheckpointError(f"unknown StyleGAN configuration {config!r}; known: "
                                          f"{', '.join(NAMED_CONFIGS_V1)}")
        return {k: v for k, v in NAMED_CONFIGS_V1[config].items() if k != "description"}
    if not isinstance(config, Mapping):
        raise OfficialCheckpointError(f"config must be a name, a dict or None, got {type(config).__name__}")
    if "StyleGANGenerator" in config or "StyleGANDiscriminator" in config:
        out = _translate(config.get("StyleGANGenerator", {}), _GF_G, "StyleGANGenerator")
        d = _translate(config.get("StyleGANDiscriminator", {}), _GF_D, "StyleGANDiscriminator")
        for key in ("img_resolution", "img_channels", "c_dim", "fused_scale"):
            if key in d and key in out and d[key] != out[key]:
                raise OfficialCheckpointError(f"generator and discriminator disagree on {key}: {out[key]!r} vs "
                                              f"{d[key]!r}; our model takes one value for both")
        return {**d, **out}
    fields = set(StyleGAN.config_fields())
    if set(config) <= fields:
        return dict(config)
    return _translate(config, _GF_G, "generator config")


def _channels_config(channels: dict[int, int], what: str) -> tuple[int, int]:
    """(fmaps_base, fmaps_max) reproducing ``channels`` {res: nf}; raise if none does."""
    top = max(channels.values())
    below = sorted(r for r, c in channels.items() if c < top)
    base = channels[below[0]] * below[0] if below else top * max(channels)
    if any(channels_at(r, base, top) != c for r, c in channels.items()):
        raise OfficialCheckpointError(f"{what}: feature maps per resolution {channels} do not follow "
                                      "min(fmaps_base // res, fmaps_max)")
    return base, top


def _shape(sd: Mapping[str, Tensor], key: str, where: str) -> tuple[int, ...]:
    if key not in sd:
        raise OfficialCheckpointError(f"{where}: missing key {key!r}")
    return tuple(sd[key].shape)


def infer_config(gen: Mapping[str, Tensor], disc: Mapping[str, Tensor] | None, *,
                 strict: bool = True) -> dict[str, Any]:
    """Constructor arguments read from the tensor shapes of genforce-layout state dicts. ``strict=False``
    leaves out feature-map counts that follow no ``(fmaps_base, fmaps_max)`` (the caller gives them, and the
    key-by-key check then names the odd tensors)."""
    where = "generator_smooth"
    dense = sorted(int(m[1]) for k in gen if (m := re.fullmatch(r"mapping\.dense(\d+)\.weight", k)))
    if not dense:
        raise OfficialCheckpointError(f"{where}: no mapping.dense*.weight: not a StyleGAN generator")
    cfg: dict[str, Any] = {"mapping_layers": len(dense), "w_dim": _shape(gen, "truncation.w_avg", where)[0]}
    d0 = _shape(gen, "mapping.dense0.weight", where)
    if "mapping.label_weight" in gen:
        cfg["c_dim"], cfg["z_dim"] = _shape(gen, "mapping.label_weight", where)
    else:
        cfg["c_dim"], cfg["z_dim"] = 0, d0[1]
    if len(dense) > 1:
        cfg["mapping_fmaps"] = d0[0]
    layers = sorted(int(m[1]) for k in gen if (m := re.fullmatch(r"synthesis\.layer(\d+)\.style\.weight", k)))
    if not layers or len(layers) % 2:
        raise OfficialCheckpointError(f"{where}: {len(layers)} synthesis layers; expected two per resolution")
    cfg["img_resolution"] = 2 ** (len(layers) // 2 + 1)
    cfg["img_channels"] = _shape(gen, "synthesis.output0.weight", where)[0]
    chans = {2 ** (b + 2): _shape(gen, f"synthesis.layer{2 * b + 1}.bias", where)[0] for b in range(len(layers) // 2)}
    try:
        cfg["fmaps_base"], cfg["fmaps_max"] = _channels_config(chans, where)
    except OfficialCheckpointError:
        if strict:
            raise
    if disc is not None:
        inputs = sorted(int(m[1]) for k in disc if (m := re.fullmatch(r"input(\d+)\.weight", k)))
        dchans = {cfg["img_resolution"] >> k: _shape(disc, f"input{k}.weight", "discriminator")[0] for k in inputs}
        try:
            base, top = _channels_config(dchans, "discriminator")
            if (base, top) != (cfg.get("fmaps_base"), cfg.get("fmaps_max")):
                cfg["d_fmaps_base"], cfg["d_fmaps_max"] = base, top
        except OfficialCheckpointError:
            if strict:
                raise
        last = len(inputs) - 1
        extra = _shape(disc, f"layer{2 * last}.weight", "discriminator")[1] - dchans[4]
        if extra == 0:
            cfg["mbstd_group_size"] = 0
        else:
            cfg["mbstd_num_features"] = extra
    return cfg


# ---------------------------------------------------------------------------------------------
# genforce layout -> ours


def _gen_key(key: str) -> str | None:
    """genforce generator key -> ours; None for keys checked and dropped (lod, blur kernels)."""
    rules = [
        (r"mapping\.dense(\d+)\.(weight|bias)", r"mapping_network.layers.\1.\2"),
        (r"mapping\.label_weight", "mapping_network.label_embedding"),
        (r"truncation\.w_avg", "mapping_network.w_avg"),
        (r"synthesis\.layer(\d+)\.(const|weight|bias)", r"synthesis_network.layers.\1.\2"),
        (r"synthesis\.layer(\d+)\.apply_noise\.weight", r"synthesis_network.layers.\1.noise_strength"),
        (r"synthesis\.layer(\d+)\.apply_noise\.noise", r"synthesis_network.layers.\1.noise_const"),
        (r"synthesis\.layer(\d+)\.style\.(weight|bias)", r"synthesis_network.layers.\1.style.\2"),
        (r"synthesis\.output(\d+)\.(weight|bias)", r"synthesis_network.to_rgb.\1.\2"),
    ]
    for pattern, repl in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    return key  # unknown: reported as unexpected


def _disc_key(key: str, last: int) -> str:
    if m := re.fullmatch(r"input(\d+)\.(weight|bias)", key):
        return f"discriminator.from_rgb.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"layer(\d+)\.(weight|bias)", key):
        i = int(m[1])
        if i < 2 * last:
            return f"discriminator.blocks.{i // 2}.{'conv0' if i % 2 == 0 else 'conv1_down'}.{m[2]}"
        name = {2 * last: "conv", 2 * last + 1: "dense0", 2 * last + 2: "dense1"}.get(i)
        if name:
            return f"discriminator.{name}.{m[2]}"
    return f"discriminator.<{key}>"


def _check_constant(key: str, value: Tensor, where: str, errors: list[str]) -> None:
    if key.endswith("lod"):
        if value.numel() != 1 or float(value.reshape(-1)[0]) != 0.0:
            errors.append(f"{where}.{key} = {value.tolist()}: a snapshot taken while growing (lod > 0); only the "
                          "final resolution (lod 0) is supported")
    elif key.endswith("blur.kernel"):
        expected = blur_kernel(value.shape[0])
        if value.shape != expected.shape or not torch.allclose(value.float(), expected):
            errors.append(f"{where}.{key}: not the [1, 2, 1] blur kernel the official uses")


def genforce_to_ours(files: Mapping[str, Mapping[str, Tensor]], model: torch.nn.Module) -> dict[str, Tensor]:
    """genforce layout -> a state dict for ``model``; one error listing every missing, unexpected and wrongly
    shaped key (with both names and shapes)."""
    errors: list[str] = []
    ours: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    sources = [("generator_smooth", files["generator_smooth"])]
    if getattr(model, "has_discriminator", False):
        if "discriminator" not in files:
            raise OfficialCheckpointError("with_discriminator=True but the checkpoint has no discriminator")
        sources.append(("discriminator", files["discriminator"]))
    for where, sd in sources:
        last = len([k for k in sd if re.fullmatch(r"input\d+\.weight", k)]) - 1
        for key, value in sd.items():
            if key.endswith("lod") or key.endswith("blur.kernel"):
                _check_constant(key, value, where, errors)
                continue
            new = _gen_key(key) if where == "generator_smooth" else _disc_key(key, last)
            ours[new], origin[new] = value, f"{where}.{key}"
    expected = model.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(origin[k] for k in set(ours) - set(expected))
    shapes = [f"{origin[k]} -> {k}: file {list(ours[k].shape)} vs model {list(expected[k].shape)}"
              for k in sorted(set(ours) & set(expected)) if ours[k].shape != expected[k].shape]
    if missing:
        errors.append(f"missing key(s) (our names; nothing in the file maps to them): {', '.join(missing)}")
    if unexpected:
        errors.append(f"unexpected key(s): {', '.join(unexpected)}")
    if shapes:
        errors.append("shape mismatch: " + "; ".join(shapes))
    if errors:
        raise OfficialCheckpointError("the checkpoint does not fit StyleGAN" + "\n  " + "\n  ".join(errors))
    return {k: ours[k] for k in expected}


def from_official(source: str | Path | Any, *, config: str | Mapping[str, Any] | None = None,
                  with_discriminator: bool | None = None, cls: type | None = None) -> Any:
    """Convert an official checkpoint (see the module docstring) to a StyleGAN in eval mode."""
    from .model_v1 import StyleGAN

    cls = cls or StyleGAN
    files = load_official(source)  # CheckpointFileError (a ValueError) for unreadable or unsafe files
    has_d = "discriminator" in files
    if with_discriminator and not has_d:
        raise OfficialCheckpointError("with_discriminator=True but the checkpoint has no discriminator")
    keep_d = has_d if with_discriminator is None else with_discriminator
    given = config_from_official(config)
    strict = not {"fmaps_base", "fmaps_max"} <= set(given)
    kwargs = infer_config(files["generator_smooth"], files.get("discriminator") if keep_d else None, strict=strict)
    for key in ("img_resolution", "z_dim", "w_dim", "c_dim", "img_channels", "mapping_layers"):
        if key in given and key in kwargs and given[key] != kwargs[key]:
            raise OfficialCheckpointError(f"config says {key}={given[key]!r} but the checkpoint's shapes say "
                                          f"{kwargs[key]!r}")
    kwargs.update(given)
    kwargs["with_discriminator"] = keep_d
    model = cls(**kwargs)
    state = genforce_to_ours(files, model)
    model.load_state_dict(state, strict=True)
    return model.eval()
