"""Parity plugin for StyleGAN (v1) cases (genforce's StyleGANGenerator / StyleGANDiscriminator as official).

Checks are recognised by their official call (names only break ties), so unseen cases of the same format work:

* ``G.mapping(z)['w']`` -> ``mapping_network(z[, c])``;
* ``G.truncation(w, psi, layers)`` -> :meth:`StyleGAN.truncate`;
* ``G.synthesis(wp, randomize_noise=False)['image']`` -> ``synthesis(ws, noise_mode="const")``;
* ``G(z, trunc_psi=..., trunc_layers=..., randomize_noise=False)['image']`` -> ``model(z, ...)``;
* style mixing (``wp[:, k:] = ...``; the crossover from the ``mix_cutoff`` input) -> outputs ``wp`` and ``img``;
* ``D(img)`` -> ``discriminator(img[, c])``.

Truncation arguments are read from the call (keyword or positional); ``randomize_noise=True`` cannot be
compared and is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .convert_v1 import from_official
from .model_v1 import StyleGAN

__all__ = ["load_case", "run_check"]


@dataclass
class CaseState:
    model: StyleGAN
    case: str


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official checkpoint with our converter (configuration from the manifest's
    ``official_config`` where given, else from the shapes)."""
    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    if "file" not in spec:
        raise ValueError(f"{case_dir}/manifest.json: official_checkpoint has no 'file'")
    official = manifest.get("official_config") or {}
    config = {k: v for k, v in official.items() if k in ("StyleGANGenerator", "StyleGANDiscriminator")} or None
    needs_d = any(_kind(c) == "discriminator" for c in manifest.get("checks", []))
    model = from_official(case_dir / spec["file"], config=config, with_discriminator=True if needs_d else None)
    return CaseState(model=model, case=manifest.get("case", case_dir.name))


def _top_args(text: str, start: int) -> list[str]:
    """Top-level comma-separated arguments of the call whose '(' is at ``start``."""
    depth, args, cur = 0, [], ""
    for ch in text[start:]:
        if ch in "([{":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return [a for a in args if a]
        elif ch == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    raise ValueError(f"unbalanced call: {text!r}")


def _truncation(call: str) -> tuple[float, int | None]:
    """(psi, cutoff) of the first truncation in ``call``; (1, None) when it has none."""
    kw_psi = re.search(r"trunc(?:ation)?_psi\s*=\s*([-\d.eE]+|None)", call)
    kw_layers = re.search(r"trunc(?:_layers|ation_cutoff)\s*=\s*(\d+|None)", call)
    psi, layers = (kw_psi[1] if kw_psi else None), (kw_layers[1] if kw_layers else None)
    m = re.search(r"\.truncation\(", call)
    if m and (psi is None or layers is None):
        args = [a for a in _top_args(call, m.end() - 1)[1:] if "=" not in a]
        psi = psi or (args[0] if args else None)
        layers = layers or (args[1] if len(args) > 1 else None)
    psi_v = 1.0 if psi in (None, "None") else float(psi)
    layers_v = None if layers in (None, "None") else int(layers)
    # genforce: no truncation unless psi < 1 and layers > 0 (layers None means none, unlike our API)
    if layers_v is None or layers_v == 0:
        return 1.0, None
    return psi_v, layers_v


def _kind(check: dict) -> str:
    call = check.get("call", "").replace(" ", "")
    if re.search(r"(^|[^\w.])D\(", call):
        return "discriminator"
    if re.search(r"wp\[:,\w*:\]=", call):
        return "style_mixing"
    if "G.synthesis(" in call:
        return "synthesis"
    if re.search(r"(^|[^\w.])G\(", call):
        return "generator_full"
    if "G.truncation(" in call:
        return "truncation"
    if "G.mapping(" in call:
        return "mapping"
    name = check.get("name", "")
    if name in ("mapping", "truncation", "synthesis", "generator_full", "style_mixing"):
        return name
    if name.startswith("discriminator"):
        return "discriminator"
    raise ValueError(f"check {name!r}: cannot tell what the official call {check.get('call')!r} computes")


def _label(inputs: dict[str, Tensor]) -> Tensor | None:
    return next((inputs[k] for k in ("label", "c", "labels") if k in inputs), None)


def _one(check: dict, value: Tensor) -> dict[str, Tensor]:
    (name,) = check["outputs"]
    return {name: value}


@torch.no_grad()
def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    model = state.model
    kind = _kind(check)
    call = check.get("call", "")
    if "randomize_noise=True" in call.replace(" ", ""):
        raise ValueError(f"check {check['name']!r}: random noise cannot be compared with the official outputs")
    c = _label(inputs)
    if kind == "mapping":
        return _one(check, model.mapping_network(inputs["z"], c).float())
    if kind == "truncation":
        psi, cutoff = _truncation(call)
        w = next(v for k, v in inputs.items() if k.startswith("w"))
        return _one(check, model.truncate(w, psi, cutoff).float())
    if kind == "synthesis":
        ws = next(v for k, v in inputs.items() if k.startswith("w"))
        return _one(check, model.synthesis(ws, noise_mode="const").float())
    if kind == "generator_full":
        psi, cutoff = _truncation(call)
        return _one(check, model(inputs["z"], c, truncation_psi=psi, truncation_cutoff=cutoff,
                                 noise_mode="const").float())
    if kind == "style_mixing":
        psi, cutoff = _truncation(call)
        if "mix_cutoff" in inputs:
            k = int(inputs["mix_cutoff"].reshape(-1)[0])
        else:
            k = int(re.search(r"wp\[:,\s*(\d+):\]", call)[1])
        ws = model.mapping(inputs["z"], c, truncation_psi=psi, truncation_cutoff=cutoff)
        ws2 = model.mapping(inputs["z2"], c, truncation_psi=psi, truncation_cutoff=cutoff)
        ws = torch.cat([ws[:, :k], ws2[:, k:]], dim=1)
        img = model.synthesis(ws, noise_mode="const")
        out = {}
        for name in check["outputs"]:
            out[name] = (ws if name.startswith("w") else img).float()
        return out
    if kind == "discriminator":
        if not model.has_discriminator:
            raise ValueError(f"check {check['name']!r} needs the discriminator, absent from the checkpoint")
        img = next(v for k, v in inputs.items() if k.startswith(("img", "image", "x")))
        return _one(check, model.discriminator(img, c).float())
    raise AssertionError(kind)
