"""Official SemanticStyleGAN checkpoints -> :class:`SemanticStyleGAN`.

The official ``train.py`` (and ``train_adaptation.py``) saves ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim',
'args'}``, ``args`` being the ``argparse.Namespace`` of its options (the released 1.0.0 files) or, in files
re-saved for safe loading, the plain ``vars(args)`` dict. Files are read with
:func:`hubmodels.checkpoints.load_torch_file` (``weights_only=True`` with ``Namespace`` allowed).

Our parameter names are the official ones under ``generator.`` / ``discriminator.``; the only keys we do not
keep are the constant FIR kernels (``*.kernel``: blur and upsample filters), which are checked to be the
standard [1, 3, 3, 1] filter. Render-net widths are read from the tensors, so a file trained with other
widths than StyleGAN2's defaults (``channels``) still loads.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ..checkpoints import load_torch_file, strip_prefix
from .networks import BLUR, default_channels, setup_filter

__all__ = ["from_official", "config_from_args", "convert_state_dict", "read_official", "OfficialCheckpointError"]

# official option -> our constructor argument
ARG_NAMES = {"size": "size", "latent": "style_dim", "n_mlp": "n_mlp", "channel_multiplier": "channel_multiplier",
             "seg_dim": "seg_dim", "local_layers": "local_layers", "base_layers": "base_layers",
             "depth_layers": "depth_layers", "local_channel": "local_channel", "coarse_channel": "coarse_channel",
             "coarse_size": "coarse_size", "min_feat_size": "min_feat_size", "residual_refine": "residual_refine",
             "detach_texture": "detach_texture", "transparent_dims": "transparent_dims"}
# train.py's defaults, for options an older file may not record (latent / n_mlp are hard-coded there)
TRAIN_DEFAULTS = {"latent": 512, "n_mlp": 8, "channel_multiplier": 2, "seg_dim": 13, "local_layers": 10,
                  "base_layers": 2, "depth_layers": 6, "local_channel": 64, "coarse_channel": 512,
                  "coarse_size": 64, "min_feat_size": 16, "residual_refine": False, "detach_texture": False,
                  "transparent_dims": [10, 12]}


class OfficialCheckpointError(ValueError):
    """An official checkpoint that does not match the architecture it claims (keys and shapes named)."""


def read_official(source: str | Path | Mapping | Any) -> dict[str, Any]:
    """The checkpoint dict from a path or an already-loaded object (DataParallel prefixes removed)."""
    if isinstance(source, (str, Path)):
        source = load_torch_file(source)
    if not isinstance(source, Mapping):
        raise OfficialCheckpointError(f"an official SemanticStyleGAN checkpoint is a dict with 'g_ema' and 'args', "
                                      f"got {type(source).__name__}")
    return strip_prefix(dict(source))


def config_from_args(args: Any) -> dict[str, Any]:
    """Our constructor arguments from the checkpoint's ``args`` (Namespace or dict)."""
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if not isinstance(args, Mapping):
        raise OfficialCheckpointError(f"checkpoint 'args' must be the training options (Namespace or dict), got "
                                      f"{type(args).__name__}")
    if "size" not in args:
        raise OfficialCheckpointError("checkpoint 'args' has no 'size': not a SemanticStyleGAN train.py checkpoint")
    config = {}
    for official, ours in ARG_NAMES.items():
        value = args.get(official, TRAIN_DEFAULTS.get(official))
        if official == "transparent_dims":
            value = [int(v) for v in (value or [])]
        elif official in ("residual_refine", "detach_texture"):
            value = bool(value)
        else:
            value = int(value)
        config[ours] = value
    return config


def _widths(g: Mapping[str, Tensor], d: Mapping[str, Tensor] | None, config: dict[str, Any]) -> dict[int, int]:
    """Per-resolution widths as the tensors have them (render-net convs; discriminator image trunk)."""
    widths: dict[int, int] = {}
    size, min_size = config["size"], config["min_feat_size"]
    for i in range(int(math.log2(size)) - int(math.log2(min_size))):
        w = g.get(f"render_net.convs.{2 * i}.weight")
        if w is not None:
            widths[min_size * 2 ** (i + 1)] = int(w.shape[0])
    if d is not None:
        first = d.get("convs_img.0.0.weight")
        if first is not None:
            widths[size] = int(first.shape[0])
        for j, log in enumerate(range(int(math.log2(size)), 2, -1), start=1):
            w = d.get(f"convs_img.{j}.conv2.1.weight")
            if w is not None:
                widths[2 ** (log - 1)] = int(w.shape[0])
    return widths


def _check_kernels(state: Mapping[str, Tensor], where: str) -> dict[str, Tensor]:
    """Drop the constant FIR kernels after checking each is the standard low-pass (any gain)."""
    ref = setup_filter(BLUR)
    kept, odd = {}, []
    for key, value in state.items():
        if key.endswith(".kernel"):
            if value.is_meta:  # shape-only checks of full-size files
                if value.shape != ref.shape:
                    odd.append(key)
                continue
            if value.shape != ref.shape or not torch.allclose(value.float() / value.float().sum(), ref, atol=1e-6):
                odd.append(key)
            continue
        kept[key] = value
    if odd:
        raise OfficialCheckpointError(f"{where}: FIR kernel(s) {odd[:4]}{'...' if len(odd) > 4 else ''} are not the "
                                      f"[1, 3, 3, 1] filter this implementation uses")
    return kept


def convert_state_dict(model: torch.nn.Module, g: Mapping[str, Tensor], d: Mapping[str, Tensor] | None,
                       *, where: str = "checkpoint") -> dict[str, Tensor]:
    """Official g (and d) state dicts -> ours, with one error naming every mismatch."""
    ours = {f"generator.{k}": v for k, v in _check_kernels(g, f"{where} generator").items()}
    if d is not None:
        ours.update({f"discriminator.{k}": v for k, v in _check_kernels(d, f"{where} d").items()})
    expected = model.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(set(ours) - set(expected))
    shapes = [f"{k}: file {list(ours[k].shape)} vs model {list(expected[k].shape)}"
              for k in sorted(set(ours) & set(expected)) if ours[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_strip(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_strip(unexpected)}")
        if shapes:
            parts.append("wrong shapes: " + "; ".join(_strip(shapes)))
        raise OfficialCheckpointError(f"{where} does not match the SemanticStyleGAN architecture of its args: "
                                      + " | ".join(parts))
    return {k: v.to(expected[k].dtype) for k, v in ours.items()}


def _strip(keys: list[str]) -> list[str]:
    return [k.replace("generator.", "", 1).replace("discriminator.", "d.", 1) for k in keys]


def from_official(source: str | Path | Mapping | Any, *, config: str | None = None, weights: str = "g_ema",
                  with_discriminator: bool | None = None, cls: type | None = None, **overrides: Any):
    """Build and load a :class:`SemanticStyleGAN` from an official checkpoint (see the class method)."""
    from .model import NAMED_CONFIGS, SemanticStyleGAN

    cls = cls or SemanticStyleGAN
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    if weights not in ("g_ema", "g"):
        raise ValueError(f"weights must be 'g_ema' (the EMA generator the official scripts sample) or 'g', "
                         f"got {weights!r}")
    ckpt = read_official(source)
    if weights not in ckpt:
        raise OfficialCheckpointError(f"{where} has no {weights!r} entry (keys: {sorted(ckpt)})")
    g = ckpt[weights]
    d = ckpt.get("d")
    if with_discriminator is False:
        d = None
    elif with_discriminator and d is None:
        raise OfficialCheckpointError(f"{where} holds no discriminator 'd' (keys: {sorted(ckpt)})")
    if config is not None:
        if config not in NAMED_CONFIGS:
            raise ValueError(f"unknown configuration {config!r}; known: {', '.join(NAMED_CONFIGS)}")
        kwargs = dict(NAMED_CONFIGS[config]["config"])
        if "args" in ckpt:
            from_args = config_from_args(ckpt["args"])
            diff = {k: (from_args[k], kwargs[k]) for k in from_args if k in kwargs and from_args[k] != kwargs[k]}
            if diff:
                raise OfficialCheckpointError(f"{where}: its args differ from {config!r}: "
                                              + ", ".join(f"{k}={a!r} (config {b!r})" for k, (a, b) in diff.items()))
    elif "args" in ckpt:
        kwargs = config_from_args(ckpt["args"])
    else:
        raise OfficialCheckpointError(f"{where} has no 'args' (training options); pass config= naming one of "
                                      f"the released configurations")
    widths = _widths(g, d, kwargs)
    defaults = default_channels(kwargs.get("channel_multiplier", 2))
    custom = {str(r): c for r, c in sorted(widths.items()) if defaults.get(r) != c}
    if custom:
        kwargs["channels"] = custom
    kwargs.update(overrides)
    model = cls(**kwargs, with_discriminator=d is not None)
    state = convert_state_dict(model, g, d, where=where)
    model.load_state_dict(state, strict=True)
    model.card.how_made = (f"Converted from the official SemanticStyleGAN checkpoint ({Path(where).name}, "
                           f"'{weights}'{' + d' if d is not None else ''}) with hubmodels' converter.")
    return model.eval()
