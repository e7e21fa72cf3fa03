"""Parity plugin for StarGAN cases: the official files through our converter, every check through our model.

Checks, matched by name and else by their official call:

* ``G_train_mode_official`` (``G.train(); G(x, c)``): what the official ``Solver.test`` computes. Run through the
  inference API's own path, :meth:`StarGAN.generate`, which normalises each image with its own statistics
  (in eval mode, without the official train mode's in-place update of the running averages);
* ``G_eval_mode`` (``G.eval(); G(x, c)``): the stored running averages (``normalization="running"``), which
  proves the converter mapped those buffers;
* ``D`` (``out_src, out_cls = D(x)``): both discriminator heads;
* ``e2e_solver_test`` / ``e2e_solver_test_multi`` (``Solver.test()`` / ``test_multi()``): the official
  ``x_concat`` (input, then every single-attribute edit of ``create_labels``; joint models add every class of
  the second dataset), through :meth:`StarGAN.edit_concat`, the tensor behind ``model.edit_grid``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .convert import config_from_official_args, from_official, load_official
from .model import StarGAN

__all__ = ["load_case", "run_check"]


@dataclass
class CaseState:
    model: StarGAN
    case: str


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official G (and D) with our converter; the configuration from the manifest's
    official options where it gives them, else from the tensor shapes."""
    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    if "file" not in spec:
        raise ValueError(f"{case_dir}/manifest.json: official_checkpoint has no 'file'")
    files = [case_dir / spec["file"], *(case_dir / f for f in spec.get("additional_files", []))]
    states = [(load_official(f), str(f)) for f in files]
    from .convert import is_discriminator

    gens = [s for s in states if not is_discriminator(s[0])]
    discs = [s for s in states if is_discriminator(s[0])]
    if not gens:
        raise ValueError(f"{case_dir}: none of {[f.name for f in files]} is a StarGAN generator")
    official = manifest.get("official_config") or {}
    config = config_from_official_args(official) if official else None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a G-only case: the image size assumption is the manifest's concern
        model = from_official(gens[0][0], discs[0][0] if discs else None, config=config, cls=StarGAN)
    model.float().eval()
    return CaseState(model=model, case=manifest.get("case", case_dir.name))


def _need(args: dict[str, Tensor], check: str, *names: str) -> list[Tensor]:
    missing = [n for n in names if n not in args]
    if missing:
        raise KeyError(f"check {check!r} needs input(s) {missing}; the manifest gives {sorted(args)}")
    return [args[n] for n in names]


def _single(check: dict, value: Tensor) -> dict[str, Tensor]:
    outputs = list(check.get("outputs", {}))
    if len(outputs) != 1:
        raise ValueError(f"check {check.get('name')!r} computes one tensor but asks for outputs {outputs}")
    return {outputs[0]: value}


def _run_g_official(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    x, c = _need(a, check["name"], "x", "c")
    return _single(check, state.model.generate(x, c))


def _run_g_eval(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    x, c = _need(a, check["name"], "x", "c")
    model = state.model
    model.normalization = "running"
    try:
        with torch.inference_mode():
            out = model.generator.eval()(x, c)
    finally:
        model.normalization = "instance"
    return _single(check, out)


def _run_d(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    if not state.model.has_discriminator:
        raise ValueError(f"check {check['name']!r} needs the discriminator, but the case holds no -D.ckpt "
                         "(official_checkpoint.additional_files)")
    (x,) = _need(a, check["name"], "x")
    out_src, out_cls = state.model.discriminator(x)
    available = {"out_src": out_src, "out_cls": out_cls}
    wanted = list(check.get("outputs", {}))
    unknown = [k for k in wanted if k not in available]
    if unknown:
        raise KeyError(f"check {check['name']!r} asks for {unknown}; D computes out_src and out_cls")
    return {k: available[k] for k in wanted}


def _run_e2e(state: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    x_real, c_org = _need(a, check["name"], "x_real", "c_org")
    model = state.model
    source = c_org if model.label_types[0] == "multi" else None
    return _single(check, model.edit_concat(x_real, source))


Runner = Callable[[CaseState, dict, dict[str, Tensor]], dict[str, Tensor]]

_BY_NAME: list[tuple[str, Runner]] = [
    (r"e2e", _run_e2e),
    (r"G_train|G_official", _run_g_official),
    (r"G_eval", _run_g_eval),
    (r"D$|D_|discriminator", _run_d),
]
_BY_CALL: list[tuple[str, Runner]] = [
    (r"\.test(_multi)?\(\)", _run_e2e),
    (r"G\.eval\(\)", _run_g_eval),
    (r"G\.train\(\)|\bG\(", _run_g_official),
    (r"\bD\(", _run_d),
]


def _dispatch(check: dict) -> Runner:
    name, call = check.get("name", ""), check.get("call", "")
    for pattern, runner in _BY_NAME:
        if re.match(pattern, name):
            return runner
    for pattern, runner in _BY_CALL:
        if re.search(pattern, call):
            return runner
    raise NotImplementedError(f"StarGAN parity: unknown check {name!r} (call: {call!r})")


def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Any]:
    """Run one manifest check through our model; returns exactly the check's output names."""
    runner = _dispatch(check)
    args = {k: v.float() if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.inference_mode():
        return runner(state, check, args)
