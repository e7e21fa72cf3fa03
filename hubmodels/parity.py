"""Parity against the official implementations (DESIGN.md contract 5).

A case folder holds the official checkpoint(s), ``tensors.safetensors`` (inputs and official outputs) and
``manifest.json`` listing the checks. This module is family-agnostic: it reads the case, asks the plugin
of the family the manifest names (``FamilySpec.parity``, found through :mod:`hubmodels.registry`) to
convert the checkpoint and to run each check, and compares.

A plugin (:class:`hubmodels.family.ParityPlugin`) provides::

    load_case(case_dir: Path, manifest: dict) -> object
    run_check(state: object, check: dict, inputs: dict[str, Tensor]) -> dict[str, Tensor]
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import registry


@dataclass
class CheckResult:
    name: str
    passed: bool
    max_abs_err: float = math.nan
    detail: str = ""
    seconds: float = 0.0


@dataclass
class CaseReport:
    case: str
    family: str
    results: list[CheckResult] = field(default_factory=list)
    outputs: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # check -> our outputs (CPU fp32)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total

    @property
    def max_abs_err(self) -> float:
        errs = [r.max_abs_err for r in self.results if not math.isnan(r.max_abs_err)]
        return max(errs) if errs else math.nan

    def summary(self) -> str:
        return (f"parity {self.case}: {self.passed}/{self.total} checks passed, "
                f"max abs err {self.max_abs_err:.3g}")


class CaseError(ValueError):
    """The case folder itself is unusable (missing manifest, tensors, unknown family)."""


def read_case(case_dir: str | Path) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    case_dir = Path(case_dir)
    manifest_path = case_dir / "manifest.json"
    if not manifest_path.is_file():
        raise CaseError(f"{case_dir} is not a parity case: {manifest_path.name} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CaseError(f"{manifest_path} is not valid JSON: {err}") from err
    for key in ("family", "checks"):
        if key not in manifest:
            raise CaseError(f"{manifest_path} has no {key!r} field")
    tensors_path = case_dir / manifest.get("tensors", "tensors.safetensors")
    if not tensors_path.is_file():
        raise CaseError(f"{case_dir}: {tensors_path.name} (inputs and official outputs) is missing")
    return case_dir, manifest, load_file(str(tensors_path))


def compare(ours: torch.Tensor, official: torch.Tensor, atol: float, rtol: float) -> tuple[bool, float, str]:
    """allclose semantics (|a - b| <= atol + rtol * |b|), plus the max abs error for the report."""
    ours = torch.as_tensor(ours).detach().to("cpu", torch.float64)
    official = official.detach().to("cpu", torch.float64)
    if ours.shape != official.shape:
        return False, math.inf, f"shape {list(ours.shape)} != official {list(official.shape)}"
    if ours.numel() == 0:
        return True, 0.0, ""
    diff = (ours - official).abs()
    finite = torch.isfinite(ours).all().item()
    err = diff.max().item() if finite else math.inf
    ok = finite and bool((diff <= atol + rtol * official.abs()).all().item())
    return ok, err, "" if finite else "non-finite values"


def _place(state: Any, device: torch.device, dtype: torch.dtype) -> None:
    """Move the networks a plugin's state holds (its attributes that are modules) to device and dtype."""
    for value in vars(state).values() if hasattr(state, "__dict__") else ():
        if isinstance(value, torch.nn.Module):
            value.to(device=device, dtype=dtype)


def _input(t: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)


def run_case(case_dir: str | Path, *, only: Callable[[str], bool] | None = None,
             log: Callable[[str], None] | None = None, device: str | torch.device = "cpu",
             dtype: torch.dtype = torch.float32) -> CaseReport:
    """Run every check of a case. ``device``/``dtype`` other than CPU fp32 run our side there (the GPU
    checks); the manifest's tolerances are for fp32, so half precision is judged by the caller."""
    case_dir, manifest, tensors = read_case(case_dir)
    family = manifest["family"]
    plugin = registry.family_spec(family).parity
    report = CaseReport(case=manifest.get("case", case_dir.name), family=family)
    state = plugin.load_case(case_dir, manifest)
    device = torch.device(device)
    if device.type != "cpu" or dtype != torch.float32:
        _place(state, device, dtype)
    for check in manifest["checks"]:
        name = check.get("name", "?")
        if only is not None and not only(name):
            continue
        start = time.perf_counter()
        try:
            inputs = {arg: _input(tensors[key], device, dtype) for arg, key in check.get("inputs", {}).items()}
            with torch.inference_mode():
                outputs = plugin.run_check(state, check, inputs)
            report.outputs[name] = {k: torch.as_tensor(v).detach().float().cpu() for k, v in outputs.items()}
            result = _grade(name, check, outputs, tensors)
        except Exception as err:  # a failing check is reported, not fatal: the other checks still run
            result = CheckResult(name, False, math.nan, f"{type(err).__name__}: {err}")
        result.seconds = time.perf_counter() - start
        report.results.append(result)
        if log is not None:
            log(format_result(result))
    return report


def _grade(name: str, check: dict, outputs: dict, tensors: dict[str, torch.Tensor]) -> CheckResult:
    atol, rtol = float(check.get("atol", 1e-5)), float(check.get("rtol", 1e-5))
    passed, worst, details = True, 0.0, []
    for out_name, key in check.get("outputs", {}).items():
        if out_name not in outputs:
            return CheckResult(name, False, math.nan, f"plugin returned no {out_name!r}")
        ok, err, why = compare(outputs[out_name], tensors[key], atol, rtol)
        passed &= ok
        worst = max(worst, err)
        if not ok:
            details.append(f"{out_name}: {why or f'max abs err {err:.3g} > atol {atol:g} + rtol {rtol:g}'}")
    return CheckResult(name, passed, worst, "; ".join(details))


def format_result(r: CheckResult) -> str:
    status = "ok  " if r.passed else "FAIL"
    tail = f"  ({r.detail})" if r.detail else ""
    return f"  {status} {r.name:<40} max abs err {r.max_abs_err:.3g}{tail}"
