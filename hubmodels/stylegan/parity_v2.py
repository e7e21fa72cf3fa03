"""Parity plugin for StyleGAN2 cases (stylegan2-ada-pytorch and rosinality/stylegan2-pytorch).

``load_case`` converts the case's official file(s) with :mod:`.convert_v2`; ``run_check`` reads the official
call of each check and runs the same computation through our model's public API:

* ada: ``G_ema.mapping(z, c, truncation_psi=, truncation_cutoff=)``, ``G_ema.synthesis(ws, noise_mode=)``,
  ``G_ema(z, c, ...)``, style mixing (``ws[:, k:] = ...mapping(z2, ...)[:, k:]``), ``D(img, c)``;
* rosinality: ``g_ema.style(z)``, ``g_ema([z], truncation=, truncation_latent=, randomize_noise=False)``,
  ``g_ema([w], input_is_latent=True, ...)``, ``g_ema([w_plus], input_is_latent=True, noise=[...])``,
  ``g_ema([z, z2], inject_index=, ..., return_latents=True)``, ``d(img)``.

rosinality truncates towards a ``truncation_latent`` the caller passes (``mean_latent``), written
``tl + psi * (w - tl)``; that is what we compute for those checks (our ``mapping`` truncates towards the
stored ``w_avg``, ada's way).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .convert_v2 import from_official
from .model_v2 import StyleGAN2

__all__ = ["load_case", "run_check"]


@dataclass
class CaseState:
    model: StyleGAN2
    case: str
    format: str


def _find_discriminator(case_dir: Path, skip: set[str]) -> Path | None:
    from safetensors import safe_open

    for path in sorted(case_dir.glob("*.safetensors")):
        if path.name in skip:
            continue
        with safe_open(str(path), framework="pt") as handle:
            if (handle.metadata() or {}).get("class_name", "").endswith("Discriminator"):
                return path
    return None


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official generator (and discriminator, when the case has one)."""
    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    if "file" not in spec:
        raise ValueError(f"{case_dir}/manifest.json: official_checkpoint has no 'file'")
    source = case_dir / spec["file"]
    disc = None
    if source.suffix == ".safetensors":  # ada state-dict form: D is a sibling file
        disc = _find_discriminator(case_dir, {source.name, manifest.get("tensors", "tensors.safetensors")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = from_official(source, discriminator=disc)
    fmt = "rosinality" if source.suffix in (".pt", ".pth") else "ada"
    return CaseState(model=model.float().eval(), case=manifest.get("case", case_dir.name), format=fmt)


# -----------------------------------------------------------------------------------------------------------
# reading the official call


def _kw(call: str, name: str) -> str | None:
    m = re.search(rf"\b{name}\s*=\s*([^,)\s]+)", call)
    return m.group(1).strip("'\"") if m else None


def _float(call: str, name: str) -> float | None:
    v = _kw(call, name)
    return None if v is None or v == "None" else float(v)


def _need(args: dict[str, Tensor], check: dict, *names: str) -> list[Tensor]:
    missing = [n for n in names if n not in args]
    if missing:
        raise KeyError(f"check {check['name']!r} needs input(s) {missing}; the manifest gives {sorted(args)}")
    return [args[n] for n in names]


def _outputs(check: dict, **values: Tensor) -> dict[str, Tensor]:
    wanted = list(check.get("outputs", {}))
    if len(wanted) == 1 and wanted[0] not in values:
        if len(values) != 1:
            raise KeyError(f"check {check['name']!r} asks for {wanted}; computed {sorted(values)}")
        return {wanted[0]: next(iter(values.values()))}
    unknown = [w for w in wanted if w not in values]
    if unknown:
        raise KeyError(f"check {check['name']!r} asks for {unknown}; computed {sorted(values)}")
    return {w: values[w] for w in wanted}


def _c(model: StyleGAN2, args: dict[str, Tensor]) -> Tensor | None:
    return args.get("c") if model.c_dim > 0 else None


def _noise_mode(call: str) -> str:
    return _kw(call, "noise_mode") or "const"  # generate.py's default; ada's forward default is 'random'


def _ada(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    model, call = state.model, check["call"]
    force = "force_fp32=True" in call
    if call.lstrip().startswith("D("):
        (img,) = _need(a, check, "img")
        return _outputs(check, logits=model.discriminate(img, _c(model, a), force_fp32=force))
    psi = _float(call, "truncation_psi")
    cutoff = _kw(call, "truncation_cutoff")
    trunc = dict(truncation_psi=1.0 if psi is None else psi,
                 truncation_cutoff=None if cutoff in (None, "None") else int(cutoff))
    if re.search(r"ws\[:, *\d+:\]\s*=", call):  # style mixing
        z, z2 = _need(a, check, "z", "z2")
        if "mix_cutoff" in a:
            k = int(a["mix_cutoff"].reshape(-1)[0])
        else:
            k = int(re.search(r"ws\[:, *(\d+):\]", call).group(1))
        ws = model.mapping(z, _c(model, a), **trunc)
        ws = torch.cat([ws[:, :k], model.mapping(z2, _c(model, a), **trunc)[:, k:]], dim=1)
        img = model.synthesis(ws, noise_mode=_noise_mode(call), force_fp32=force)
        return _outputs(check, ws=ws, img=img)
    if ".mapping(" in call:
        (z,) = _need(a, check, "z")
        return _outputs(check, ws=model.mapping(z, _c(model, a), **trunc))
    if ".synthesis(" in call:
        (ws,) = _need(a, check, "ws")
        return _outputs(check, img=model.synthesis(ws, noise_mode=_noise_mode(call), force_fp32=force))
    if re.match(r"\s*G(_ema)?\(", call):
        (z,) = _need(a, check, "z")
        ws = model.mapping(z, _c(model, a), **trunc)
        return _outputs(check, img=model.synthesis(ws, noise_mode=_noise_mode(call), force_fp32=force))
    raise ValueError(f"check {check['name']!r}: unrecognised ada call {call!r}")


def _rosinality(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    model, call = state.model, check["call"]
    if re.match(r"\s*d\(", call):
        (img,) = _need(a, check, "img")
        return _outputs(check, logits=model.discriminate(img))
    if ".style(" in call or ".get_latent(" in call:
        (z,) = _need(a, check, "z")
        return _outputs(check, w=model.mapping(z)[:, 0])
    if not re.match(r"\s*g(_ema)?\(\[", call):
        raise ValueError(f"check {check['name']!r}: unrecognised rosinality call {call!r}")
    latent = "input_is_latent=True" in call
    psi = _float(call, "truncation")
    noise = None
    if "noise=[" in call:
        keys = sorted((k for k in a if re.fullmatch(r"noise\[\d+\]", k)), key=lambda k: int(k[6:-1]))
        noise = [a[k] for k in keys]
    elif "randomize_noise=False" not in call:
        raise ValueError(f"check {check['name']!r}: random noise (randomize_noise=True) cannot be compared")
    names = re.match(r"\s*g(?:_ema)?\(\[([^\]]*)\]", call).group(1).replace(" ", "").split(",")
    codes = _need(a, check, *names)
    styles = []
    for code in codes:
        w = code if latent else model.mapping(code)[:, 0]
        if psi is not None and psi != 1:
            (tl,) = _need(a, check, "truncation_latent")
            w = tl + psi * (w - tl)  # rosinality's formula, towards the latent the caller passes
        styles.append(w)
    if styles[0].ndim == 3:  # w+ given per layer
        ws = styles[0]
    elif len(styles) == 1:
        ws = styles[0].unsqueeze(1).repeat(1, model.num_ws, 1)
    else:
        k = int(a["inject_index"].reshape(-1)[0]) if "inject_index" in a else int(_kw(call, "inject_index"))
        ws = torch.cat([styles[0].unsqueeze(1).repeat(1, k, 1),
                        styles[1].unsqueeze(1).repeat(1, model.num_ws - k, 1)], dim=1)
    img = model.synthesis(ws, noise_mode="const", noise=noise)
    return _outputs(check, img=img, latent=ws)


def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Any]:
    """One manifest check through our model; returns the check's named outputs."""
    with torch.no_grad():
        if state.format == "rosinality":
            return _rosinality(state, check, inputs)
        return _ada(state, check, inputs)
