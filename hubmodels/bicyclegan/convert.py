"""Official BicycleGAN checkpoints -> hubmodels (the ``checkpoint_filter_fn`` of this family).

The official code (junyanz/BicycleGAN ``models/base_model.py``) saves one bare state dict per network,
``<epoch>_net_<NAME>.pth`` for ``G``, ``E``, ``D``, ``D2`` (the released models: ``<name>_net_G.pth`` and
``<name>_net_E.pth``, stored as ``pretrained_models/<name>/latest_net_{G,E}.pth``). Our parameter names are the
official ones, so the mapping is a prefix (``generator.`` / ``encoder.``) plus two quirks of old files:

* files written by PyTorch <= 0.3 (the released ones were trained with it) may carry ``running_mean`` /
  ``running_var`` buffers of InstanceNorm layers, which have none today: they are dropped, as the official
  ``load_networks`` does;
* BatchNorm ``num_batches_tracked`` counters (absent before PyTorch 0.4, unused in eval) are filled with 0.

The configuration is read from the tensor shapes (where ``z`` enters, depth, widths, ``nz``, the upsampling,
encoder kind and depth, norm where the layout shows it); the image size, resize size and direction of a
released model come from its named configuration, which is recognised from the file name
(``facades_net_G.pth``, ``pretrained_models/facades/latest_net_G.pth``) or given with ``config=``.
"""
from __future__ import annotations

import argparse
import pickle
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor, nn

from .configs import NAMED_CONFIGS, RELEASED
from .networks import MultiscaleDiscriminator, encoder_input_size

if TYPE_CHECKING:  # the model class is passed in: importing it here would make a cycle
    from .model import BicycleGAN

__all__ = [
    "OfficialCheckpointError", "load_official", "net_kind", "infer_generator", "infer_encoder",
    "infer_discriminator", "infer_config", "clean_state", "check_keys", "release_from_path", "from_official",
    "discriminator_from_official",
    "MODEL_ARGS", "ARCH_ARGS",
]

# constructor arguments of BicycleGAN read from the shapes (ARCH_ARGS) or only from a configuration
ARCH_ARGS = ("input_nc", "output_nc", "nz", "ngf", "nef", "num_downs", "where_add", "norm", "upsample", "encoder",
             "encoder_depth")
MODEL_ARGS = (*ARCH_ARGS, "nl", "use_dropout", "img_size", "load_size", "direction")
_STALE_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


class OfficialCheckpointError(ValueError):
    """An official checkpoint that cannot be converted; the message names the file and what did not match."""


# ---------------------------------------------------------------------------------------------
# reading files


def _strip_module(state: Mapping) -> dict:
    return {(k[len("module."):] if isinstance(k, str) and k.startswith("module.") else k): v for k, v in state.items()}


def load_official(path: str | Path) -> dict[str, Tensor]:
    """Read an official ``*_net_X.pth`` safely (``torch.load(weights_only=True)``): a bare state dict."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        needs = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if needs:
            raise OfficialCheckpointError(
                f"{path} cannot be loaded safely: it pickles the Python object {needs.group(1)}, which needs code "
                "to rebuild. hubmodels only reads checkpoints made of tensors and plain containers "
                "(torch.load(weights_only=True)); re-save the network as a state dict: "
                "torch.save(net.state_dict(), path)") from None
        raise OfficialCheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another format): {err}") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise OfficialCheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another format): {err}") from None
    return _as_state(obj, str(path))


def _as_state(obj: Any, where: str) -> dict[str, Tensor]:
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise OfficialCheckpointError(
            f"{where} is not a BicycleGAN network file: expected a bare state dict of tensors, as the official "
            f"save_networks writes (*_net_G.pth, *_net_E.pth), got {type(obj).__name__}")
    return _strip_module(obj)


def _source(source: str | Path | Mapping) -> tuple[dict[str, Tensor], str]:
    if isinstance(source, Mapping):
        return _as_state(source, "state dict"), "state dict"
    return load_official(source), str(source)


def net_kind(state: Mapping[str, Tensor]) -> str:
    """Which official network a state dict is: ``G``, ``E`` or ``D`` (D and D2 look alike)."""
    keys = set(state)
    if "model.down.0.weight" in keys or "model.model.0.weight" in keys:
        return "G"
    if "fc.0.weight" in keys and "conv.0.weight" in keys:
        return "E"
    if "model.0.weight" in keys or "model_0.0.weight" in keys:
        return "D"
    sample = ", ".join(sorted(keys)[:4])
    raise OfficialCheckpointError(
        f"not a BicycleGAN network: its keys ({sample}, ...) are neither a generator's (model.down.0.weight / "
        "model.model.0.weight), an encoder's (conv.0.weight, fc.0.weight) nor a discriminator's (model_0.0.weight)")


# ---------------------------------------------------------------------------------------------
# configuration from shapes


def _shape(state: Mapping[str, Tensor], key: str, where: str) -> tuple[int, ...]:
    if key not in state:
        raise OfficialCheckpointError(f"{where} has no {key!r}: not the layout of the official network")
    return tuple(state[key].shape)


def _is_norm_weight(state: Mapping[str, Tensor], key: str) -> bool:
    return key in state and state[key].dim() == 1


def infer_generator(state: Mapping[str, Tensor], where: str = "generator") -> dict[str, Any]:
    """input_nc + nz, output_nc, ngf, num_downs, where_add, upsample (and nz, norm when the layout shows them)."""
    out: dict[str, Any] = {}
    if "model.down.0.weight" in state:  # G_Unet_add_all: model[.submodule]*.{down,up}.*
        out["where_add"] = "all"
        depth = 1
        while f"model.{'submodule.' * depth}down.1.weight" in state:
            depth += 1
        out["num_downs"] = depth
        ngf, in_first = _shape(state, "model.down.0.weight", where)[:2]
        if depth > 1:
            out["nz"] = _shape(state, "model.submodule.down.1.weight", where)[1] - ngf
            out["input_nc"] = in_first - out["nz"]
        if _is_norm_weight(state, "model.submodule.down.2.weight"):
            out["norm"] = "batch"
        up = "model.up."
        out["ngf"] = ngf
        out["in_total"] = in_first
    elif "model.model.0.weight" in state:  # G_Unet_add_input: model(.model.<i>)*
        out["where_add"] = "input"
        depth = max(k.count("model.") for k in state if k.endswith("weight")) - 1
        out["num_downs"] = depth
        ngf, in_first = _shape(state, "model.model.0.weight", where)[:2]
        out["ngf"], out["in_total"] = ngf, in_first
        # the second level's Sequential: [LReLU, conv, (norm), submodule, ...]: the submodule's index shows the norm
        sub = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.model\.1\.model\.(\d+)\.model\.", k))})
        if sub:
            out["norm"] = ("batch" if _is_norm_weight(state, "model.model.1.model.2.weight") else "instance") \
                if sub[0] == 3 else "none"
        up = "model.model."
    else:
        raise OfficialCheckpointError(f"{where} is not a BicycleGAN generator (no model.down.0.weight / "
                                      "model.model.0.weight)")
    # the outermost up path: [act, ConvTranspose 4x4] (basic) or [act, Upsample, pad, Conv 3x3] (bilinear)
    offset = 2 if out["where_add"] == "input" else 0  # add_input: [conv, submodule, act, up...]
    basic, bilinear = f"{up}{1 + offset}.weight", f"{up}{3 + offset}.weight"
    if basic in state and state[basic].dim() == 4 and state[basic].shape[-1] == 4:
        out["upsample"], out["output_nc"] = "basic", state[basic].shape[1]
    elif bilinear in state and state[bilinear].dim() == 4 and state[bilinear].shape[-1] == 3:
        out["upsample"], out["output_nc"] = "bilinear", state[bilinear].shape[0]
    else:
        raise OfficialCheckpointError(f"{where}: cannot find the outermost upsampling layer ({basic} or {bilinear})")
    return out


def infer_encoder(state: Mapping[str, Tensor], where: str = "encoder") -> dict[str, Any]:
    """encoder kind and depth, nef, nz, its input channels (the output domain's) and its norm."""
    nef, in_nc = _shape(state, "conv.0.weight", where)[:2]
    nz = _shape(state, "fc.0.weight", where)[0]
    if "fcVar.0.weight" not in state:
        raise OfficialCheckpointError(f"{where} has no fcVar: BicycleGAN encoders are VAE-like (fc -> mu, fcVar -> "
                                      "logvar); this looks like a plain regression encoder")
    out: dict[str, Any] = {"nef": nef, "nz": nz, "output_nc": in_nc}
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"conv\.(\d+)\.shortcut\.1\.weight$", k))})
    if blocks:
        out["encoder"], out["encoder_depth"] = "resnet", len(blocks) + 1
        if _is_norm_weight(state, "conv.1.conv.0.weight"):
            out["norm"] = "batch"
        elif "conv.1.conv.2.weight" in state:
            out["norm"] = "instance"
        elif "conv.1.conv.1.weight" in state:
            out["norm"] = "none"
    else:
        convs = sorted(int(m.group(1)) for k, v in state.items()
                       if (m := re.match(r"conv\.(\d+)\.weight$", k)) and v.dim() == 4)
        out["encoder"], out["encoder_depth"] = "conv", len(convs)
        if any(_is_norm_weight(state, f"conv.{i + 1}.weight") for i in convs):
            out["norm"] = "batch"
        elif len(convs) >= 3:
            out["norm"] = "instance" if convs[2] - convs[1] == 3 else "none"
    return out


def infer_discriminator(state: Mapping[str, Tensor], where: str = "discriminator") -> dict[str, Any]:
    """input_nc, ndf, n_layers, num_D and norm of a ``D_NLayersMulti`` state dict."""
    if "model.0.weight" in state:
        num_d, first = 1, "model"
    else:
        num_d = len({m.group(1) for k in state if (m := re.match(r"model_(\d+)\.", k))})
        first = "model_0"
        if num_d == 0:
            raise OfficialCheckpointError(f"{where} is not a BicycleGAN discriminator (no model.* / model_0.*)")
    ndf, in_nc = _shape(state, f"{first}.0.weight", where)[:2]
    convs = sorted(int(m.group(1)) for k, v in state.items()
                   if (m := re.match(rf"{first}\.(\d+)\.weight$", k)) and v.dim() == 4)
    norm = "batch" if any(_is_norm_weight(state, f"{first}.{i + 1}.weight") for i in convs) else (
        "instance" if len(convs) >= 3 and convs[2] - convs[1] == 3 else "none")
    return {"input_nc": in_nc, "ndf": ndf, "n_layers": len(convs) - 2, "num_D": num_d, "norm": norm}


def infer_config(generator: Mapping[str, Tensor], encoder: Mapping[str, Tensor] | None = None) -> dict[str, Any]:
    """BicycleGAN architecture arguments from the official G (and E) state dicts."""
    g = infer_generator(generator)
    e = infer_encoder(encoder) if encoder is not None else None
    cfg: dict[str, Any] = {k: g[k] for k in ("ngf", "num_downs", "where_add", "upsample", "output_nc")}
    nz = g.get("nz")
    if e is not None:
        if nz is not None and nz != e["nz"]:
            raise OfficialCheckpointError(f"the generator takes nz={nz} but the encoder makes nz={e['nz']}: "
                                          "not the G and E of one model")
        if e["output_nc"] != g["output_nc"]:
            raise OfficialCheckpointError(f"the generator makes {g['output_nc']}-channel images but the encoder takes "
                                          f"{e['output_nc']} channels: not the G and E of one model")
        nz = e["nz"]
        cfg.update(nef=e["nef"], encoder=e["encoder"], encoder_depth=e["encoder_depth"])
    else:
        cfg.update(encoder=None)
        if nz is None:
            nz = 0  # where_add='input' without E: a pix2pix generator (BicycleGAN models ship their E)
    cfg["nz"] = nz
    cfg["input_nc"] = g.get("input_nc", g["in_total"] - nz)
    if cfg["input_nc"] < 1:
        raise OfficialCheckpointError(f"the generator's first conv takes {g['in_total']} channels, fewer than nz={nz}")
    norm = (e or {}).get("norm") or g.get("norm")
    cfg["norm"] = norm or "instance"  # instance and none leave no keys; the official default is instance
    return cfg


# ---------------------------------------------------------------------------------------------
# state dicts


def clean_state(module: nn.Module, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop InstanceNorm running statistics of pre-0.4 files; fill BatchNorm counters those files lack."""
    modules = dict(module.named_modules())
    expected = module.state_dict()
    out = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if key not in expected and leaf in _STALE_NORM_BUFFERS and isinstance(modules.get(prefix), nn.InstanceNorm2d):
            continue  # a PyTorch <= 0.3 InstanceNorm buffer: InstanceNorm has no state now (official load_networks)
        out[key] = value
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = torch.zeros_like(value, device="cpu")
    return out


def check_keys(module: nn.Module, state: Mapping[str, Tensor], where: str, hint: str = "") -> None:
    """One error naming every missing, unexpected and wrongly shaped key."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
                   for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if not (missing or unexpected or wrong):
        return
    lines = [f"{where} does not match {type(module).__name__}:"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            shown = items[:20] + ([f"... ({len(items) - 20} more)"] if len(items) > 20 else [])
            lines.append(f"  {len(items)} {label}: " + ", ".join(shown))
    if hint:
        lines.append(hint)
    raise OfficialCheckpointError("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# loading into our classes


def _named(config: str | Mapping | None) -> tuple[str | None, dict[str, Any]]:
    if config is None:
        return None, {}
    if isinstance(config, str):
        if config not in NAMED_CONFIGS:
            raise ValueError(f"unknown BicycleGAN configuration {config!r}; known: {', '.join(NAMED_CONFIGS)}")
        return config, {k: v for k, v in NAMED_CONFIGS[config].items() if k != "description"}
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a configuration name or a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(MODEL_ARGS))
    if unknown:
        raise ValueError(f"unknown BicycleGAN argument(s) {unknown}; accepted: {', '.join(MODEL_ARGS)}")
    return None, dict(config)


def release_from_path(*paths: str) -> str | None:
    """The named configuration a released file's name or folder names (``facades_net_G.pth``,
    ``pretrained_models/maps/latest_net_G.pth``), if exactly one does."""
    found = set()
    for path in paths:
        p = Path(path)
        words = {p.stem.split("_net_")[0], p.parent.name}
        found |= {name for name, release in RELEASED.items() if release in words}
    return found.pop() if len(found) == 1 else None


def _matches(named: Mapping[str, Any], inferred: Mapping[str, Any]) -> bool:
    return all(named.get(k) == v for k, v in inferred.items() if k in ARCH_ARGS and v is not None)


def from_official(generator: str | Path | Mapping, encoder: str | Path | Mapping | None = None, *,
                  config: str | Mapping | None = None, cls: type["BicycleGAN"]) -> "BicycleGAN":
    """Load an official ``*_net_G.pth`` (and ``*_net_E.pth``) into ``cls`` (:class:`BicycleGAN`).

    ``config``: a named configuration (``"bicyclegan_facades_256"``) or a dict of constructor arguments; it
    overrides what the shapes say and sets what they cannot (``img_size``, ``load_size``, ``direction``,
    ``nl``). Without it, a released file is recognised by its name (``facades_net_G.pth`` or
    ``pretrained_models/facades/``); other files get ``img_size`` from the encoder's input size (or
    ``2**num_downs``), no extra resize, direction AtoB. The two files may be given in either order.
    """
    g_state, g_where = _source(generator)
    e_state, e_where = _source(encoder) if encoder is not None else (None, "")
    if net_kind(g_state) == "E" and e_state is not None and net_kind(e_state) == "G":
        (g_state, g_where), (e_state, e_where) = (e_state, e_where), (g_state, g_where)
    for state, where, want in ((g_state, g_where, "G"), (e_state, e_where, "E")):
        if state is None:
            continue
        kind = net_kind(state)
        if kind != want:
            label = {"G": "generator (*_net_G.pth)", "E": "encoder (*_net_E.pth)", "D": "discriminator"}
            raise OfficialCheckpointError(
                f"{where} is a {label[kind]} file where the {label[want]} was expected; BicycleGAN inference "
                "needs G and, for encoding references, E (discriminators are not released and not needed)")
    name, overrides = _named(config)
    if name is None and config is None:
        name = release_from_path(g_where, e_where) if not isinstance(generator, Mapping) else None
        if name is not None:
            _, overrides = _named(name)
    try:
        inferred = infer_config(g_state, e_state)
    except OfficialCheckpointError:
        if not all(k in overrides for k in ARCH_ARGS):
            raise
        inferred = {}
    if name is not None and not _matches(overrides, inferred) and config is None:
        # the file name suggested a release, but the shapes are those of another model
        name, overrides = None, {}
    if e_state is None and overrides.get("encoder") is not None:
        overrides["encoder"] = None  # a G-only conversion (e.g. maps without E): sample, no encode()
    kwargs = {**inferred, **overrides}
    if not name and "img_size" not in kwargs:
        depth = kwargs.get("encoder_depth")
        kwargs["img_size"] = encoder_input_size(kwargs["encoder"], depth) if kwargs.get("encoder") else \
            2 ** kwargs["num_downs"]
    model = cls(**{k: v for k, v in kwargs.items() if k in MODEL_ARGS})
    state = {f"generator.{k}": v for k, v in g_state.items()}
    if e_state is not None:
        state.update({f"encoder.{k}": v for k, v in e_state.items()})
    state = clean_state(model, state)
    hint = "" if name or config else "(configuration read from the file's shapes; pass config=... to set it)"
    check_keys(model, state, " + ".join(w for w in (g_where, e_where) if w), hint=hint)
    model.load_state_dict(state, strict=True)
    files = ", ".join(f"`{Path(w).name}`" for w in (g_where, e_where) if w and w != "state dict")
    model.card.how_made = (
        f"Converted from the official BicycleGAN release {files} "
        f"([junyanz/BicycleGAN](https://github.com/junyanz/BicycleGAN)) with hubmodels' converter"
        f"{f' (configuration `{name}`)' if name else ''}; outputs match the official code to float32 precision.")
    if e_state is None and kwargs.get("nz", 0) > 0:
        warnings.warn(f"{g_where}: converted without the encoder (*_net_E.pth): the model samples random codes, but "
                      "cannot encode a reference image's style", stacklevel=3)
    return model.eval()


def discriminator_from_official(source: str | Path | Mapping, **config: Any) -> MultiscaleDiscriminator:
    """A training-time discriminator (``*_net_D.pth`` / ``*_net_D2.pth``; not part of the releases).

    ``config`` (``input_nc``, ``ndf``, ``n_layers``, ``num_D``, ``norm``) overrides what the shapes say.
    """
    state, where = _source(source)
    if net_kind(state) != "D":
        raise OfficialCheckpointError(f"{where} is not a discriminator file (*_net_D.pth / *_net_D2.pth)")
    allowed = ("input_nc", "ndf", "n_layers", "num_D", "norm")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise TypeError(f"unknown discriminator argument(s) {unknown}; accepted: {', '.join(allowed)}")
    kwargs = {**infer_discriminator(state, where), **config}
    disc = MultiscaleDiscriminator(**kwargs)
    state = clean_state(disc, state)
    check_keys(disc, state, where)
    disc.load_state_dict(state, strict=True)
    return disc.eval()
