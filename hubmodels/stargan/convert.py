"""Official StarGAN checkpoints -> hubmodels (the ``checkpoint_filter_fn`` of this family).

Official files (yunjey/stargan ``solver.py``): ``Solver.train`` saves ``torch.save(self.G.state_dict(),
'{iters}-G.ckpt')`` and ``torch.save(self.D.state_dict(), '{iters}-D.ckpt')``: bare state dicts, keys
``main.N.*`` (G), ``main.N.*``, ``conv1.weight``, ``conv2.weight`` (D). The released CelebA models
(``download.sh pretrained-celeba-128x128`` / ``-256x256``) are ``200000-G.ckpt`` and ``200000-D.ckpt``.

What the converter handles:

* the configuration is not stored: ``conv_dim``, the label channels and ``repeat_num`` come from G's shapes,
  ``image_size``, ``d_conv_dim``, ``d_repeat_num`` and the class count from D's; a joint (``--dataset Both``)
  model is recognised by G taking two more label channels (the mask vector) than D classifies. What shapes
  cannot tell (attribute names, how c_dim + c2_dim split, image size without D) comes from ``config=``
  (a named configuration, our arguments, or the official ``main.py`` options) or from the released
  configuration with those sizes;
* the released files were written by PyTorch 0.3 (``model.py`` history: "Set track_running_stats=True in
  InstanceNorm2d for pretrained model (pytorch 0.3)"): legacy-format pickles without the instance norms'
  ``num_batches_tracked`` counters, which are filled with 0 here (they are never used at inference);
* DataParallel's ``module.`` prefixes are dropped; files needing code to unpickle are refused.

Our parameter names are the official ones: apart from those fixes the mapping is the identity.
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

from .configs import CELEBA_ATTRIBUTES, NAMED_CONFIGS, RAFD_EXPRESSIONS

if TYPE_CHECKING:  # the model class is passed in: importing it here would make a cycle
    from .model import StarGAN

__all__ = ["OfficialCheckpointError", "load_official", "infer_generator", "infer_discriminator",
           "config_from_official_args", "from_official", "MODEL_ARGS"]

MODEL_ARGS = ("image_size", "c_dim", "c2_dim", "conv_dim", "repeat_num", "d_conv_dim", "d_repeat_num",
              "with_discriminator", "attributes", "attributes2", "datasets", "label_types", "exclusive_groups",
              "crop_size")
DEFAULT_IMAGE_SIZE = 128  # main.py --image_size default: what a G-only file is assumed to be


class OfficialCheckpointError(ValueError):
    """An official checkpoint that cannot be converted; the message names the file and what did not match."""


# ---------------------------------------------------------------------------------------------
# reading files


def _strip_module_prefix(state: Mapping) -> dict:
    prefix = "module."
    return {(k[len(prefix):] if isinstance(k, str) and k.startswith(prefix) else k): v for k, v in state.items()}


def load_official(path: str | Path) -> dict[str, Tensor]:
    """Read an official ``{iters}-G.ckpt`` / ``-D.ckpt`` safely (tensors only) as a plain state dict."""
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
                "to rebuild. hubmodels reads only checkpoints made of tensors (torch.load(weights_only=True)), as "
                "the official Solver writes them: torch.save(G.state_dict(), '{iters}-G.ckpt')") from None
        raise OfficialCheckpointError(f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another "
                                      f"format): {str(err).strip().splitlines()[-1] if str(err) else err}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise OfficialCheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another format): {err}") from None
    return _as_state(obj, str(path))


def _as_state(obj: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(obj, Mapping):
        raise OfficialCheckpointError(f"{where} holds a {type(obj).__name__}, expected a state dict "
                                      "(torch.save(G.state_dict(), ...))")
    state = _strip_module_prefix(obj)
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise OfficialCheckpointError(f"{where} is not a bare state dict: entries {bad[:5]} are not tensors "
                                      f"(keys found: {sorted(map(str, state))[:8]})")
    return state


def _as_checkpoint(source: str | Path | Mapping, what: str) -> tuple[dict[str, Tensor], str]:
    if isinstance(source, Mapping):
        return _as_state(source, what), what
    return load_official(source), str(source)


def is_discriminator(state: Mapping[str, Tensor]) -> bool:
    return "conv1.weight" in state and "conv2.weight" in state


# ---------------------------------------------------------------------------------------------
# configuration from shapes


def _shape(state: Mapping[str, Tensor], key: str, where: str) -> tuple[int, ...]:
    if key not in state:
        raise OfficialCheckpointError(f"{where} has no {key!r}: not a StarGAN checkpoint of the official layout")
    return tuple(state[key].shape)


def infer_generator(state: Mapping[str, Tensor], where: str = "generator") -> dict[str, int]:
    """``conv_dim``, label channels and ``repeat_num`` of an official G state dict."""
    if is_discriminator(state):
        raise OfficialCheckpointError(f"{where} is a discriminator ({{iters}}-D.ckpt: it has conv1/conv2 heads); "
                                      "give the generator {iters}-G.ckpt first")
    shape = _shape(state, "main.0.weight", where)
    if len(shape) != 4 or shape[2:] != (7, 7) or shape[1] < 4:
        raise OfficialCheckpointError(f"{where}: main.0.weight has shape {list(shape)}; a StarGAN generator "
                                      "starts with a 7x7 conv over 3 + label channels")
    blocks = {int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.main\.0\.weight", k))}
    return {"conv_dim": shape[0], "labels": shape[1] - 3, "repeat_num": len(blocks)}


def infer_discriminator(state: Mapping[str, Tensor], where: str = "discriminator") -> dict[str, int]:
    """``image_size``, ``d_conv_dim``, ``d_repeat_num`` and the class count of an official D state dict."""
    if not is_discriminator(state):
        raise OfficialCheckpointError(f"{where} is not a StarGAN discriminator (no conv1/conv2 heads): "
                                      "give {iters}-D.ckpt")
    convs = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.weight", k)))
    if not convs:
        raise OfficialCheckpointError(f"{where} has no main.<i>.weight convs")
    cls_shape = _shape(state, "conv2.weight", where)
    repeat = len(convs)
    return {"image_size": cls_shape[-1] * 2 ** repeat, "d_conv_dim": _shape(state, "main.0.weight", where)[0],
            "d_repeat_num": repeat, "classes": cls_shape[0]}


def config_from_official_args(args: Mapping[str, Any] | argparse.Namespace) -> dict[str, Any]:
    """Our constructor arguments from the official ``main.py`` options (what the manifests' official_config
    and an official run's ``config`` hold): dataset, c_dim, c2_dim, image_size, g/d_conv_dim, g/d_repeat_num,
    selected_attrs, celeba/rafd_crop_size."""
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    out: dict[str, Any] = {}
    for ours, theirs in (("image_size", "image_size"), ("conv_dim", "g_conv_dim"), ("repeat_num", "g_repeat_num"),
                         ("d_conv_dim", "d_conv_dim"), ("d_repeat_num", "d_repeat_num"), ("c_dim", "c_dim")):
        if args.get(theirs) is not None:
            out[ours] = int(args[theirs])
    dataset = args.get("dataset")
    if dataset is None:
        return out
    if dataset not in ("CelebA", "RaFD", "Both"):
        raise ValueError(f"unknown official dataset {dataset!r}; the official code knows CelebA, RaFD and Both")
    attrs = args.get("selected_attrs")
    if dataset == "RaFD":
        out.update(datasets=["RaFD"], label_types=["single"], c2_dim=0)
        if args.get("rafd_crop_size") is not None:
            out["crop_size"] = int(args["rafd_crop_size"])
        if out.get("c_dim") == len(RAFD_EXPRESSIONS):
            out["attributes"] = list(RAFD_EXPRESSIONS)
        return out
    if attrs is not None:
        out["attributes"] = list(attrs)
    if args.get("celeba_crop_size") is not None:
        out["crop_size"] = int(args["celeba_crop_size"])
    if dataset == "CelebA":
        out.update(datasets=["CelebA"], label_types=["multi"], c2_dim=0)
    else:
        c2 = int(args.get("c2_dim") or 8)
        out.update(datasets=["CelebA", "RaFD"], label_types=["multi", "single"], c2_dim=c2)
        if c2 == len(RAFD_EXPRESSIONS):
            out["attributes2"] = list(RAFD_EXPRESSIONS)
    if "attributes" in out and out.get("c_dim") is not None and len(out["attributes"]) != out["c_dim"]:
        raise ValueError(f"selected_attrs has {len(out['attributes'])} names but c_dim is {out['c_dim']}")
    return out


def _resolve_config(config: str | Mapping[str, Any] | argparse.Namespace | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, str):
        if config not in NAMED_CONFIGS:
            raise ValueError(f"unknown StarGAN configuration {config!r}; known: {', '.join(NAMED_CONFIGS)}")
        return {k: v for k, v in NAMED_CONFIGS[config].items() if k != "description"}
    if isinstance(config, argparse.Namespace):
        config = vars(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a configuration name or a dict, got {type(config).__name__}")
    official = {"dataset", "g_conv_dim", "g_repeat_num", "selected_attrs", "celeba_crop_size", "rafd_crop_size"}
    ours = {k: v for k, v in config.items() if k in MODEL_ARGS}
    if official & set(config):
        return {**config_from_official_args(config), **ours}
    unknown = sorted(set(config) - set(MODEL_ARGS) - {"description"})
    if unknown:
        raise ValueError(f"unknown StarGAN configuration field(s) {unknown}; accepted: {', '.join(MODEL_ARGS)} "
                         "or the official main.py options (dataset, c_dim, c2_dim, g_conv_dim, ...)")
    return ours


def _released_names(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Label names etc. of the released configuration with the same label sizes, for files given bare."""
    for cfg in NAMED_CONFIGS.values():
        if cfg["c_dim"] == kwargs["c_dim"] and cfg.get("c2_dim", 0) == kwargs.get("c2_dim", 0):
            return {k: cfg[k] for k in ("attributes", "attributes2", "datasets", "label_types", "crop_size")
                    if k in cfg}
    return {}


def _fill_num_batches_tracked(state: dict[str, Tensor], template: Mapping[str, Tensor]) -> list[str]:
    """Files written by PyTorch < 0.4.1 (the released ones) lack the norms' counters: fill them with 0."""
    filled = []
    for key, value in template.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
            filled.append(key)
    return filled


def _fill_running_stats(state: dict[str, Tensor], template: Mapping[str, Tensor], where: str) -> None:
    """A generator saved without running statistics (track_running_stats=False) still translates exactly
    (inference uses each image's own statistics); give it neutral ones, with a warning."""
    missing = [k for k in template if k.endswith(("running_mean", "running_var")) and k not in state]
    if not missing or len(missing) != sum(k.endswith(("running_mean", "running_var")) for k in template):
        return
    for key in missing:
        state[key] = torch.zeros_like(template[key]) if key.endswith("mean") else torch.ones_like(template[key])
    warnings.warn(f"{where} has no instance-norm running statistics (saved with track_running_stats=False): "
                  "filled with mean 0 / variance 1. Translation is unaffected (it uses each image's own "
                  "statistics, as the official test); only normalization='running' would be meaningless.",
                  stacklevel=4)


def check_keys(model: nn.Module, state: Mapping[str, Tensor], where: str, hint: str = "") -> None:
    """One error naming every missing, unexpected and wrongly shaped key (strict loading, readable)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
                   for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if not (missing or unexpected or wrong):
        return
    lines = [f"{where} does not match {type(model).__name__}:"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            shown = items[:20] + ([f"... ({len(items) - 20} more)"] if len(items) > 20 else [])
            lines.append(f"  {len(items)} {label}: " + ", ".join(shown))
    if hint:
        lines.append(hint)
    raise OfficialCheckpointError("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# loading into our classes


def from_official(generator: str | Path | Mapping, discriminator: str | Path | Mapping | None = None, *,
                  config: str | Mapping[str, Any] | argparse.Namespace | None = None, cls: type["StarGAN"],
                  **overrides: Any) -> "StarGAN":
    """Official ``{iters}-G.ckpt`` [+ ``{iters}-D.ckpt``] -> ``cls`` (:class:`StarGAN`); see the module doc."""
    g_state, g_where = _as_checkpoint(generator, "generator")
    d_state, d_where = _as_checkpoint(discriminator, "discriminator") if discriminator is not None else (None, "")
    if d_state is not None and is_discriminator(g_state) and not is_discriminator(d_state):  # the other way round
        (g_state, g_where), (d_state, d_where) = (d_state, d_where), (g_state, g_where)
    g_cfg = infer_generator(g_state, g_where)
    d_cfg = infer_discriminator(d_state, d_where) if d_state is not None else None
    given = {**_resolve_config(config), **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(overrides) - set(MODEL_ARGS))
    if unknown:
        raise TypeError(f"unknown StarGAN argument(s) {unknown}; accepted: {', '.join(MODEL_ARGS)}")

    kwargs: dict[str, Any] = {"conv_dim": g_cfg["conv_dim"], "repeat_num": g_cfg["repeat_num"],
                              "with_discriminator": d_state is not None}
    labels = g_cfg["labels"]
    if d_cfg is not None:
        kwargs.update(image_size=d_cfg["image_size"], d_conv_dim=d_cfg["d_conv_dim"],
                      d_repeat_num=d_cfg["d_repeat_num"])
        if labels == d_cfg["classes"] + 2:  # the mask vector: a joint model
            if "c_dim" in given and "c2_dim" not in given:
                given["c2_dim"] = d_cfg["classes"] - given["c_dim"]
            if "c_dim" not in given and "c2_dim" not in given:
                if d_cfg["classes"] != len(CELEBA_ATTRIBUTES) + len(RAFD_EXPRESSIONS):
                    raise OfficialCheckpointError(
                        f"{g_where} is a joint (--dataset Both) model with {d_cfg['classes']} labels in all, but how "
                        "they split between the two datasets is not stored: pass config={'c_dim': ..., 'c2_dim': ...}"
                        " (or the official options: dataset='Both', c_dim, c2_dim, selected_attrs)")
                given.update(c_dim=len(CELEBA_ATTRIBUTES), c2_dim=len(RAFD_EXPRESSIONS))
        elif labels != d_cfg["classes"]:
            raise OfficialCheckpointError(
                f"{g_where} takes {labels} label channels but {d_where} classifies {d_cfg['classes']}: they are "
                "not one model's generator and discriminator (a joint model's G takes 2 more: the mask vector)")
    else:
        kwargs["image_size"] = DEFAULT_IMAGE_SIZE
    c2 = int(given.get("c2_dim", 0) or 0)
    kwargs["c_dim"] = labels - c2 - 2 if c2 > 0 else labels
    kwargs["c2_dim"] = c2
    if "c_dim" in given and given["c_dim"] != kwargs["c_dim"]:
        raise OfficialCheckpointError(
            f"{g_where} takes {labels} label channels, which does not fit c_dim={given['c_dim']}"
            + (f", c2_dim={c2} (+2 mask)" if c2 else "") + " from the configuration")
    named_sizes = {k: v for k, v in given.items() if k in ("image_size", "d_conv_dim", "d_repeat_num",
                                                           "conv_dim", "repeat_num")}
    if d_cfg is None and "image_size" not in given:
        warnings.warn(f"{g_where}: the generator does not store the image size and no discriminator was given: "
                      f"assuming the official default {DEFAULT_IMAGE_SIZE} (pass config='stargan_celeba_256' or "
                      "image_size=... for another)", stacklevel=3)
    for key, value in named_sizes.items():
        if key in ("conv_dim", "repeat_num") and value != kwargs[key]:
            raise OfficialCheckpointError(f"{g_where} has {key}={kwargs[key]} but the configuration says {value}")
    kwargs.update({k: v for k, v in given.items() if k not in ("c_dim", "c2_dim")})
    for key, value in _released_names(kwargs).items():
        kwargs.setdefault(key, value)
    if d_state is None:
        kwargs["with_discriminator"] = False

    model = cls(**kwargs)
    state = {f"generator.{k}": v for k, v in g_state.items()}
    if d_state is not None:
        state.update({f"discriminator.{k}": v for k, v in d_state.items()})
    template = model.state_dict()
    filled = _fill_num_batches_tracked(state, template)
    _fill_running_stats(state, template, g_where)
    hint = "" if config is not None else "(configuration read from the tensor shapes; pass config=... to set it)"
    check_keys(model, state, g_where + (f" + {d_where}" if d_state is not None else ""), hint)
    model.load_state_dict(state, strict=True)
    names = ", ".join(Path(w).name for w in (g_where, d_where) if w)
    model.card.how_made = (
        f"Converted from the official StarGAN checkpoint(s) `{names}` "
        "([yunjey/stargan](https://github.com/yunjey/stargan)) with hubmodels' converter"
        + (" (instance-norm `num_batches_tracked` counters, absent from PyTorch 0.3 files, filled with 0)"
           if filled else "")
        + "; outputs match the official test code to float32 precision.")
    return model.eval()
