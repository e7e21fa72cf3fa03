"""Parity plugin for SemanticStyleGAN cases (seasonSH/SemanticStyleGAN).

``load_case`` converts the case's official ``.pt`` (``g_ema`` with ``d``; the training generator ``g`` on
demand); ``run_check`` reads each check's official call and runs the same computation through our model:

* ``g_ema.style(z)`` (with ``.mean(0)``, or a ``reshape`` of a W+ batch), ``g_ema.expand_latents(wplus)``;
* the sub-networks: ``make_coords`` + ``pos_embed``, ``local_nets[i](x, latent)``, ``composite(..., mask=)``,
  ``render_net(feat, ..., skip_seg=2*seg_soft-1)``;
* the full generator ``g_ema([code], input_is_latent=, truncation=, truncation_latent=, noise=[...],
  randomize_noise=False, composition_mask=, return_all= / return_coarse=)`` and the training ``g(...)``;
* ``visualize.utils.tensor2image`` / ``tensor2seg`` (our ``image_array`` / ``colorize``);
* the discriminator: ``d.convs_img(img)``, ``d.convs_seg(seg)``, ``d(img[, seg])``.

A code named in the call but not given as an input (``w_comp``) is built as the visualisation scripts build
it from the matching ``z_*`` input: ``psi * style(z) + (1 - psi) * mean_latent`` (psi from the check's
notes, else the scripts' default 0.7).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .convert import from_official, read_official
from .model import SemanticStyleGAN

__all__ = ["load_case", "run_check"]


@dataclass
class CaseState:
    model: SemanticStyleGAN
    source: Path
    batch: int
    case: str
    extra: dict[str, SemanticStyleGAN] = field(default_factory=dict)

    def train_generator(self) -> SemanticStyleGAN:
        if "g" not in self.extra:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.extra["g"] = from_official(self.source, weights="g", with_discriminator=False).float().eval()
            self.extra["g"].to(self.model.device, self.model.dtype)
        return self.extra["g"]


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official checkpoint; the batch N of calls that take no tensor is that of ``in_z``."""
    from safetensors import safe_open

    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    if "file" not in spec:
        raise ValueError(f"{case_dir}/manifest.json: official_checkpoint has no 'file'")
    source = case_dir / spec["file"]
    ckpt = read_official(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = from_official(ckpt)
    batch = 1
    with safe_open(str(case_dir / manifest.get("tensors", "tensors.safetensors")), framework="pt") as handle:
        names = sorted(k for k in handle.keys() if k.startswith("in_"))
        first = "in_z" if "in_z" in names else (names[0] if names else None)
        if first is not None:
            batch = int(handle.get_slice(first).get_shape()[0])
    return CaseState(model=model.float().eval(), source=source, batch=batch,
                     case=manifest.get("case", case_dir.name))


# -----------------------------------------------------------------------------------------------------------
# reading the official call


def _kw(call: str, name: str) -> str | None:
    m = re.search(rf"\b{name}\s*=\s*([^,)\s]+)", call)
    return m.group(1).strip("'\"") if m else None


def _need(args: dict[str, Tensor], check: dict, *names: str) -> list[Tensor]:
    missing = [n for n in names if n not in args]
    if missing:
        raise KeyError(f"check {check['name']!r} needs input(s) {missing}; the manifest gives {sorted(args)}")
    return [args[n] for n in names]


def _outputs(check: dict, **values: Any) -> dict[str, Tensor]:
    wanted = list(check.get("outputs", {}))
    unknown = [w for w in wanted if w not in values]
    if unknown:
        raise KeyError(f"check {check['name']!r} asks for {unknown}; computed {sorted(values)}")
    out = {}
    for w in wanted:
        v = values[w]
        out[w] = torch.stack(v) if isinstance(v, (list, tuple)) else v
    return out


def _script_psi(check: dict) -> float:
    m = re.search(r"(\d*\.\d+)\s*\*\s*style\(", check.get("notes", ""))
    return float(m.group(1)) if m else 0.7


def _code(state: CaseState, check: dict, a: dict[str, Tensor], expr: str) -> Tensor:
    """The tensor an argument expression names: an input, or ``w_X`` built from ``z_X``, with ``.repeat(K,1)``."""
    m = re.fullmatch(r"(\w+)(?:\.repeat\((\w+)\s*,\s*1\))?", expr.strip())
    if not m:
        raise ValueError(f"check {check['name']!r}: cannot read the code expression {expr!r}")
    name, rep = m.groups()
    if name in a:
        code = a[name]
    elif name.startswith("w_") and f"z_{name[2:]}" in a:
        (mean,) = _need(a, check, "mean_latent")
        psi = _script_psi(check)
        code = psi * state.model.mapping(a[f"z_{name[2:]}"]) + (1 - psi) * mean
    else:
        raise KeyError(f"check {check['name']!r} needs {name!r}; the manifest gives {sorted(a)}")
    if rep is not None:
        k = a[rep].reshape(-1)[0] if rep in a else None
        if k is None:  # K = rows of the composition mask the call passes
            mask_name = _kw(check["call"], "composition_mask")
            k = a[mask_name].shape[0] if mask_name in a else int(rep)
        code = code.repeat(int(k), *([1] * (code.ndim - 1)))
    return code


def _split_args(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def _generator_call(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    call = check["call"]
    m = re.search(r"\b(g_ema|g)\(\[([^\]]*)\]", call)
    model = state.model if m.group(1) == "g_ema" else state.train_generator()
    codes = [c for c in _split_args(m.group(2)) if c.strip()]
    styles = [_code(state, check, a, c) for c in codes]
    if len(styles) == 1:
        latent = styles[0]
    else:  # a list of per-slot (N, D) codes: stacked into W+ (two codes would be training-time mixing)
        if len(styles) == 2:
            raise ValueError(f"check {check['name']!r}: two codes means random style mixing, not comparable")
        latent = torch.stack(styles, 1)
    if "input_is_latent=True" not in call:
        latent = model.mapping(latent) if latent.ndim == 2 else \
            model.mapping(latent.reshape(-1, latent.shape[-1])).reshape(latent.shape)
    psi = _kw(call, "truncation")
    if psi is not None and float(psi) < 1:
        tl = _kw(call, "truncation_latent")
        (mean,) = _need(a, check, tl)
        latent = model.truncate(latent, mean, float(psi))
    noise = None
    if "noise=[" in call:
        keys = sorted((k for k in a if re.fullmatch(r"noise_\d+", k)), key=lambda k: int(k[6:]))
        noise = [a[k] for k in keys]
    elif "randomize_noise=False" not in call:
        raise ValueError(f"check {check['name']!r}: random noise (randomize_noise=True) cannot be compared")
    mask_name = _kw(call, "composition_mask")
    mask = _need(a, check, mask_name)[0] if mask_name not in (None, "None") else None
    out = model.synthesis(latent, noise_mode="const", noise=noise, composition_mask=mask)
    return _outputs(check, rgb=out["rgb"], seg=out["seg"], seg_coarse=out["seg_coarse"], depths=out["depths"],
                    latent=out["latent"])


def _postprocess(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    values = {}
    for stmt in check["call"].split(";"):
        m = re.match(r"\s*(\w+)\s*=\s*[\w.]*(tensor2image|tensor2seg)\((\w+)\)", stmt)
        if not m:
            raise ValueError(f"check {check['name']!r}: unrecognised post-processing {stmt.strip()!r}")
        out, fn, arg = m.groups()
        (x,) = _need(a, check, arg)
        arr = state.model.image_array(x) if fn == "tensor2image" else state.model.colorize(x)
        values[out] = torch.from_numpy(arr.astype("float32"))
    return _outputs(check, **values)


def _subnetwork(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    gen, call = state.model.generator, check["call"]
    if ".make_coords(" in call:
        coords = gen.make_coords(state.batch, gen.coarse_size, gen.coarse_size, state.model.device)
        return _outputs(check, coords=coords, x=gen.pos_embed(coords))
    if ".local_nets[" in call:
        x, latent = _need(a, check, "x", "latent_expanded")
        feats, depths = [], []
        for k, net in enumerate(gen.local_nets):
            f, d = net(x, latent[:, k * gen.local_layers:(k + 1) * gen.local_layers])
            feats.append(f)
            depths.append(d)
        return _outputs(check, local_feats=feats, local_depths=depths)
    if ".composite(" in call:
        feats, depths = _need(a, check, "local_feats", "local_depths")
        mask_name = _kw(call, "mask")
        mask = _need(a, check, mask_name)[0] if mask_name not in (None, "None") else None
        feat, seg = gen.composite(list(feats.unbind(0)), list(depths.unbind(0)), mask=mask)
        return _outputs(check, feat=feat, seg_soft=seg)
    if ".render_net(" in call:
        (feat,) = _need(a, check, "feat")
        skip = _kw(call, "skip_seg")
        skip_seg = None
        if skip not in (None, "None"):
            m = re.fullmatch(r"2\*(\w+)-1", skip.replace(" ", ""))
            skip_seg = 2 * _need(a, check, m.group(1) if m else skip)[0] - 1 if m else _need(a, check, skip)[0]
        if "randomize_noise=False" not in call:
            raise ValueError(f"check {check['name']!r}: random noise cannot be compared")
        rgb, seg = gen.render_net(feat, noise_mode="const", skip_seg=skip_seg)
        return _outputs(check, rgb=rgb, seg=seg)
    if ".expand_latents(" in call:
        (w,) = _need(a, check, "wplus")
        return _outputs(check, latent_expanded=state.model.expand_latents(w))
    if ".style(" in call:
        m = re.search(r"\.style\((\w+)", call)
        (z,) = _need(a, check, m.group(1))
        w = state.model.mapping(z.reshape(-1, z.shape[-1])).reshape(z.shape)
        if re.search(r"\.style\([^)]*\)\s*\.mean\(0\)", call):
            w = w.mean(0)
        return _outputs(check, **{check_out: w for check_out in check.get("outputs", {})})
    raise ValueError(f"check {check['name']!r}: unrecognised call {call!r}")


def _discriminator(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    d, call = state.model.discriminator, check["call"]
    if d is None:
        raise ValueError(f"check {check['name']!r}: the case's checkpoint holds no discriminator 'd'")
    if ".convs_img(" in call or ".convs_seg(" in call:
        values = {}
        for branch in ("convs_img", "convs_seg"):
            m = re.search(rf"\.{branch}\((\w+)\)", call)
            if m:
                values[branch] = getattr(d, branch)(_need(a, check, m.group(1))[0])
        return _outputs(check, **values)
    m = re.match(r"\s*\w+\s*=\s*d\(([^)]*)\)", call)
    names = [n.strip() for n in m.group(1).split(",") if n.strip()]
    tensors = _need(a, check, *names)
    return _outputs(check, out=state.model.discriminate(*tensors))


def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Any]:
    """One manifest check through our model; returns the check's named outputs."""
    call = check["call"]
    with torch.no_grad():
        if "tensor2image" in call or "tensor2seg" in call:
            return _postprocess(state, check, inputs)
        if re.search(r"\bd(\.convs_\w+)?\(", call):
            return _discriminator(state, check, inputs)
        if re.search(r"\b(g_ema|g)\(\[", call):
            return _generator_call(state, check, inputs)
        return _subnetwork(state, check, inputs)
