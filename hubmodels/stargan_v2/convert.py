"""Official StarGAN v2 checkpoints -> hubmodels (the ``checkpoint_filter_fn`` of this family).

Official files (clovaai/stargan-v2, ``core/checkpoint.py``):

* ``{step:06d}_nets_ema.ckpt``: ``{'generator', 'mapping_network', 'style_encoder'[, 'fan']}`` state dicts;
  this is what was released (CelebA-HQ and AFHQ, 100000 steps).
* ``{step:06d}_nets.ckpt``: the training networks, the only place holding the ``'discriminator'``.
* ``wing.ckpt``: ``{'state_dict': FAN weights, ...}``; the official loader takes only the keys FAN has.

Quirks of the released files handled here: the CelebA-HQ generator lacks ``hpf.filter`` (the file predates
the commit that made it a buffer; it is rebuilt from ``w_hpf``), keys may carry DataParallel's ``module.``
prefix, and ``w_hpf`` is not stored anywhere (it is read from the generator's depth).

Our parameter names are the official ones, so the mapping itself is the identity.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor, nn

from ..checkpoints import CheckpointFileError, load_torch_file
from .configs import NAMED_CONFIGS
from .fan import FAN
from .networks import Discriminator, HighPass

if TYPE_CHECKING:  # the model class is passed in: importing it here would make a cycle
    from .model import StarGANv2

__all__ = [
    "OfficialCheckpointError",
    "load_official",
    "convert_state_dicts",
    "fan_state_from_wing",
    "infer_config",
    "from_official",
    "discriminator_from_official",
]

NETS_EMA_KEYS = ("generator", "mapping_network", "style_encoder")
MODEL_ARGS = ("img_size", "style_dim", "latent_dim", "num_domains", "max_conv_dim", "w_hpf", "dim_in", "hidden_dim")
DISCRIMINATOR_ARGS = ("img_size", "num_domains", "max_conv_dim", "dim_in")


class OfficialCheckpointError(ValueError):
    """An official checkpoint that cannot be converted; the message names the file and what did not match."""


# ---------------------------------------------------------------------------------------------
# reading files


def _strip_module_prefix(obj: Any) -> Any:
    """Drop DataParallel's ``module.`` from every key, at every nesting level."""
    if not isinstance(obj, Mapping):
        return obj
    prefix = "module."
    return {
        (key[len(prefix):] if isinstance(key, str) and key.startswith(prefix) else key): _strip_module_prefix(value)
        for key, value in obj.items()
    }


def load_official(path: str | Path) -> dict:
    """Read an official ``.ckpt`` safely (tensors and plain containers only) and strip ``module.`` prefixes."""
    try:
        obj = load_torch_file(path)
    except CheckpointFileError as err:
        raise OfficialCheckpointError(str(err)) from None
    if not isinstance(obj, Mapping):
        raise OfficialCheckpointError(f"{path} holds a {type(obj).__name__}, expected a dict of state dicts")
    return _strip_module_prefix(obj)


def _as_checkpoint(source: str | Path | Mapping) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        return _strip_module_prefix(source), "checkpoint"
    return load_official(source), str(source)


# ---------------------------------------------------------------------------------------------
# state dicts


def _fan_template() -> dict[str, torch.Size]:
    with torch.device("meta"):
        return {k: v.shape for k, v in FAN().state_dict().items()}


def fan_state_from_wing(wing: Mapping) -> dict[str, Tensor]:
    """FAN weights from a ``wing.ckpt`` dict (``{'state_dict': ...}``, or a bare state dict).

    Like the official loader, keys FAN does not have (other hourglass stacks, optimizer state) are
    ignored. BatchNorm ``num_batches_tracked`` counters (absent from files written by old PyTorch,
    unused in eval mode) are filled with 0; any other missing weight is an error later.
    """
    state = wing.get("state_dict", wing) if isinstance(wing, Mapping) else None
    if not isinstance(state, Mapping):
        raise OfficialCheckpointError("the wing checkpoint has no 'state_dict' with the FAN weights")
    state = _strip_module_prefix(state)
    template = _fan_template()
    out = {k: v for k, v in state.items() if k in template and isinstance(v, Tensor)}
    if not out:
        raise OfficialCheckpointError(
            "the wing checkpoint holds no FAN weight "
            "(expected keys such as 'conv1.conv.weight', 'm0.b1_4.conv1.weight')"
        )
    for key, shape in template.items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = torch.zeros(shape, dtype=torch.long)
    return out


def _require_nets(ckpt: Mapping, where: str) -> None:
    missing = [k for k in NETS_EMA_KEYS if k not in ckpt]
    if missing:
        raise OfficialCheckpointError(
            f"{where} is not a StarGAN v2 nets checkpoint: missing {missing} (found keys: {sorted(ckpt)}); "
            "expected {step:06d}_nets_ema.ckpt with 'generator', 'mapping_network', 'style_encoder'"
        )


def _high_pass_filter(w_hpf: float) -> Tensor:
    return HighPass(w_hpf).filter.clone()


def convert_state_dicts(
    ckpt: Mapping,
    *,
    fan_state: Mapping | None = None,
    discriminator: bool = False,
    w_hpf: float | None = None,
) -> dict[str, dict[str, Tensor]]:
    """Official checkpoint dict -> our per-network state dicts.

    Returns ``{'generator', 'mapping_network', 'style_encoder'[, 'fan'][, 'discriminator']}``.
    ``fan_state`` (e.g. from :func:`fan_state_from_wing`) takes precedence over a ``'fan'`` entry in the file.
    ``w_hpf`` (read from the file when None) rebuilds the generator's ``hpf.filter`` when the file lacks it.
    With ``discriminator=True`` only the discriminator is converted (from a ``{step}_nets.ckpt``).
    """
    ckpt = _strip_module_prefix(ckpt)
    if discriminator:
        if "discriminator" not in ckpt:
            raise OfficialCheckpointError(
                "this checkpoint has no 'discriminator': it is only in the training file {step:06d}_nets.ckpt, "
                f"never in *_nets_ema.ckpt nor in the released files (found keys: {sorted(ckpt)})"
            )
        return {"discriminator": dict(ckpt["discriminator"])}
    _require_nets(ckpt, "checkpoint")
    out = {name: dict(ckpt[name]) for name in NETS_EMA_KEYS}
    if w_hpf is None:
        w_hpf = infer_config(ckpt)["w_hpf"]
    if w_hpf > 0 and "hpf.filter" not in out["generator"]:
        # released CelebA-HQ file: written before the filter became a buffer
        out["generator"]["hpf.filter"] = _high_pass_filter(w_hpf)
    if fan_state is not None:
        out["fan"] = dict(fan_state)
    elif "fan" in ckpt:
        out["fan"] = dict(ckpt["fan"])
    return out


# ---------------------------------------------------------------------------------------------
# configuration from shapes


def _indices(state: Mapping, pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := regex.fullmatch(k))})


def _shape(state: Mapping, key: str, where: str) -> tuple[int, ...]:
    if key not in state:
        raise OfficialCheckpointError(f"{where} has no {key!r}: not a StarGAN v2 checkpoint of the expected layout")
    return tuple(state[key].shape)


def _trunk_config(state: Mapping, prefix: str, where: str) -> dict[str, int]:
    """img_size / dim_in / widest channel of a style-encoder or discriminator trunk (conv, ResBlks to 4x4)."""
    blocks = _indices(state, rf"{prefix}\.(\d+)\.conv1\.weight")
    if not blocks:
        raise OfficialCheckpointError(f"{where} has no residual blocks ({prefix}.<i>.conv1.weight)")
    widths = [_shape(state, f"{prefix}.{i}.conv2.weight", where)[0] for i in blocks]
    return {
        "img_size": 2 ** (len(blocks) + 2),
        "dim_in": _shape(state, f"{prefix}.0.weight", where)[0],
        "widest": max(widths),
    }


def _infer_discriminator(state: Mapping, where: str = "discriminator") -> dict[str, int]:
    trunk = _trunk_config(state, "main", where)
    last = max(_indices(state, r"main\.(\d+)\.weight"))
    return {
        "img_size": trunk["img_size"],
        "num_domains": _shape(state, f"main.{last}.weight", where)[0],
        "max_conv_dim": trunk["widest"],
        "dim_in": trunk["dim_in"],
    }


def infer_config(ckpt: Mapping) -> dict[str, Any]:
    """StarGANv2 constructor arguments read from an official checkpoint's tensor shapes.

    ``w_hpf`` is not stored in the official files: a high-pass generator has one more down/up level
    than ``img_size`` calls for, which together with the style encoder's depth (which gives
    ``img_size``) tells it apart; its value comes from ``hpf.filter`` when present, else the official 1.
    """
    ckpt = _strip_module_prefix(ckpt)
    _require_nets(ckpt, "checkpoint")
    generator, mapping, encoder = (ckpt[k] for k in NETS_EMA_KEYS)

    domains = _indices(mapping, r"unshared\.(\d+)\.0\.weight")
    if not domains:
        raise OfficialCheckpointError("mapping_network has no per-domain branches (unshared.<i>.*)")
    hidden_dim, latent_dim = _shape(mapping, "shared.0.weight", "mapping_network")
    last = max(_indices(mapping, rf"unshared\.{domains[0]}\.(\d+)\.weight"))
    style_dim = _shape(mapping, f"unshared.{domains[0]}.{last}.weight", "mapping_network")[0]

    trunk = _trunk_config(encoder, "shared", "style_encoder")
    img_size = trunk["img_size"]
    dim_in = _shape(generator, "from_rgb.weight", "generator")[0]
    encode = _indices(generator, r"encode\.(\d+)\.conv1\.weight")
    num_down = len(encode) - 2  # the last two encoder blocks are the bottleneck
    plain_down = int(math.log2(img_size)) - 4
    if num_down == plain_down + 1:
        has_hpf = True
    elif num_down == plain_down:
        has_hpf = False
    else:
        raise OfficialCheckpointError(
            f"generator has {len(encode)} encoder blocks, which fits neither w_hpf=0 ({plain_down + 2}) nor "
            f"w_hpf>0 ({plain_down + 3}) at img_size={img_size} (read from the style encoder)"
        )
    w_hpf = 0.0
    if has_hpf:
        w_hpf = 1.0
        filt = generator.get("hpf.filter")
        if filt is not None and filt.shape == (3, 3) and float(filt[1, 1]) != 0:
            w_hpf = 8.0 / float(filt[1, 1])
    elif "fan" in ckpt or "hpf.filter" in generator:
        warnings.warn(
            "the checkpoint carries FAN / high-pass weights but its generator has no high-pass level: "
            "building w_hpf=0 and ignoring them",
            stacklevel=2,
        )

    widths = [_shape(generator, f"encode.{i}.conv2.weight", "generator")[0] for i in encode]
    widest = max([trunk["widest"], *widths])
    if "discriminator" in ckpt:
        widest = max(widest, _infer_discriminator(ckpt["discriminator"])["max_conv_dim"])
    if trunk["dim_in"] != dim_in:
        raise OfficialCheckpointError(
            f"generator and style encoder disagree on dim_in ({dim_in} vs {trunk['dim_in']}); "
            "this converter supports one width for both, as the official build_model"
        )
    return {
        "img_size": img_size,
        "style_dim": style_dim,
        "latent_dim": latent_dim,
        "num_domains": len(domains),
        "max_conv_dim": widest,
        "w_hpf": w_hpf,
        "dim_in": dim_in,
        "hidden_dim": hidden_dim,
    }


# ---------------------------------------------------------------------------------------------
# loading into our classes


def _resolve_config(config: str | Mapping | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, str):
        if config not in NAMED_CONFIGS:
            raise ValueError(f"unknown StarGAN v2 configuration {config!r}; known: {', '.join(NAMED_CONFIGS)}")
        config = NAMED_CONFIGS[config]
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a configuration name or a dict, got {type(config).__name__}")
    return {k: v for k, v in config.items() if k in allowed}


def _released_domains(kwargs: Mapping[str, Any]) -> list[str]:
    """Domain names of the released configuration with exactly these sizes, else domain0, domain1, ..."""
    for cfg in NAMED_CONFIGS.values():
        if all(cfg.get(k) == kwargs.get(k) for k in MODEL_ARGS):
            return list(cfg["domains"])
    return [f"domain{i}" for i in range(kwargs["num_domains"])]


def _check_keys(model: nn.Module, state: Mapping[str, Tensor], where: str, hint: str = "") -> None:
    """One error naming every missing, unexpected and wrongly shaped key (strict loading, readable)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
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


def _model_from_checkpoint(
    ckpt: Mapping,
    where: str,
    *,
    fan_state: Mapping | None = None,
    config: str | Mapping | None = None,
    domains: list[str] | None = None,
    cls: type[StarGANv2],
) -> StarGANv2:
    named = config if isinstance(config, str) else None
    overrides = _resolve_config(config, MODEL_ARGS + ("domains",))
    _require_nets(ckpt, where)
    try:
        inferred = infer_config(ckpt)
    except OfficialCheckpointError:
        if not all(k in overrides for k in MODEL_ARGS):
            raise
        inferred = {}  # a complete explicit configuration needs no inference
    kwargs = {**inferred, **overrides}
    if domains is not None:
        kwargs["domains"] = list(domains)
    if kwargs.get("domains") is None:
        kwargs["domains"] = _released_domains(kwargs)
    if kwargs["domains"] is not None and len(kwargs["domains"]) != kwargs["num_domains"]:
        raise ValueError(
            f"{where} has {kwargs['num_domains']} domains but {len(kwargs['domains'])} names were given: "
            f"{kwargs['domains']}"
        )
    nets = convert_state_dicts(ckpt, fan_state=fan_state, w_hpf=float(kwargs["w_hpf"]))
    if kwargs["w_hpf"] > 0 and "fan" not in nets:
        # The generator is complete; only the face-mask network is absent, and callers can supply masks.
        warnings.warn(
            f"{where}: this model uses high-pass face masks (w_hpf={kwargs['w_hpf']}) but the checkpoint carries "
            "no FAN weights (wing.ckpt): converting without FAN, so inference needs masks=(mask_full, mask_inner) "
            "from the caller. Pass wing='path/to/wing.ckpt' (clovaai/stargan-v2 download.sh wing) to include FAN.",
            stacklevel=4,  # the caller of StarGANv2.from_official
        )
        kwargs["with_fan"] = False
    model = cls(**kwargs)
    if kwargs["w_hpf"] == 0:
        nets.pop("fan", None)
    state = {f"{net}.{key}": value for net, sd in nets.items() for key, value in sd.items()}
    hint = "" if named or overrides else "(configuration inferred from the file's shapes; pass config=... to set it)"
    _check_keys(model, state, where, hint=hint)
    model.load_state_dict(state, strict=True)
    model.card.how_made = (
        f"Converted from the official StarGAN v2 checkpoint `{Path(where).name}` "
        f"([clovaai/stargan-v2](https://github.com/clovaai/stargan-v2)) with hubmodels' converter; "
        "outputs match the official code to float32 precision."
    )
    return model.eval()


def from_official(
    nets_ema: str | Path | Mapping,
    wing: str | Path | Mapping | None = None,
    *,
    config: str | dict | None = None,
    domains: list[str] | None = None,
    cls: type[StarGANv2],
) -> StarGANv2:
    """Load an official ``{step}_nets_ema.ckpt`` into ``cls`` (:class:`StarGANv2`).

    ``wing`` (``wing.ckpt``) supplies the FAN weights when the file carries none. ``config`` (a named
    configuration such as ``"stargan_v2_celebahq_256"`` or a dict of constructor arguments) overrides
    what is read from the tensor shapes; a named configuration also brings its domain names. Without
    ``domains``, a file whose sizes are those of a released model gets that model's domain names
    (female/male, cat/dog/wild), any other ``domain0, domain1, ...``.
    Either file may also be given as the dict ``torch.load`` returned. A high-pass (CelebA-HQ-style)
    checkpoint without ``wing`` converts with a warning into a model without FAN, which then takes the
    face masks from the caller.
    """
    ckpt, where = _as_checkpoint(nets_ema)
    fan_state = fan_state_from_wing(_as_checkpoint(wing)[0]) if wing is not None else None
    return _model_from_checkpoint(ckpt, where, fan_state=fan_state, config=config, domains=domains, cls=cls)


def _discriminator_from_checkpoint(ckpt: Mapping, where: str, **config: Any) -> Discriminator:
    state = convert_state_dicts(ckpt, discriminator=True)["discriminator"]
    unknown = sorted(set(config) - set(DISCRIMINATOR_ARGS))
    if unknown:
        raise TypeError(f"unknown Discriminator argument(s) {unknown}; accepted: {list(DISCRIMINATOR_ARGS)}")
    kwargs = {**_infer_discriminator(state, f"{where}['discriminator']"), **config}
    disc = Discriminator(**kwargs)
    _check_keys(disc, state, f"{where}['discriminator']")
    disc.load_state_dict(state, strict=True)
    return disc.eval()


def discriminator_from_official(nets: str | Path | Mapping, **config: Any) -> Discriminator:
    """The discriminator of a training checkpoint ``{step}_nets.ckpt`` (not in the released files).

    ``config`` (img_size, num_domains, max_conv_dim, dim_in) overrides what is read from the shapes.
    """
    return _discriminator_from_checkpoint(*_as_checkpoint(nets), **config)
