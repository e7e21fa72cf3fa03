"""Parity plugin for StarGAN v2 cases, plus the official sample routines the end-to-end checks exercise.

``latent_guided``, ``reference_guided`` and ``translate_and_reconstruct`` compute the same tensors as
the official ``core/utils.py`` sample functions (before ``save_image``), through the model's own
inference methods (``model.translate``, ``model.mean_style``), so the checks cover what a user runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .convert import (
    DISCRIMINATOR_ARGS,
    MODEL_ARGS,
    _discriminator_from_checkpoint,
    _model_from_checkpoint,
    fan_state_from_wing,
    load_official,
)
from .model import StarGANv2
from .networks import Discriminator

__all__ = ["load_case", "run_check", "latent_guided", "reference_guided", "translate_and_reconstruct",
           "average_style"]

NUM_AVERAGE_STYLES = 10000  # latent codes the official code averages for the truncation centre


# ---------------------------------------------------------------------------------------------
# inference routines (official core/utils.py semantics)


def average_style(model: StarGANv2, y: int, z_many: Tensor | None = None,
                  num: int = NUM_AVERAGE_STYLES, generator: torch.Generator | None = None) -> Tensor:
    """Mean style of domain ``y`` over many latent codes: the centre of the truncation trick, (1, style_dim)."""
    if z_many is None:
        z_many = torch.randn(num, model.latent_dim, generator=generator)
    return model.mean_style(int(y), z_many)


@torch.no_grad()
def latent_guided(model: StarGANv2, x_src: Tensor, y_trg_list: list[Tensor], z_trg_list: Tensor | list[Tensor],
                  z_many: Tensor | None = None, psi: float = 1.0, masks=None) -> tuple[Tensor, Tensor]:
    """Latent-guided synthesis (official ``translate_using_latent``), through the inference API's path.

    For each target label batch ``y_trg`` and each latent batch ``z_trg``: ``s = lerp(s_avg, F(z_trg, y_trg), psi)``
    with ``s_avg`` the average style of domain ``y_trg[0]``, then ``G(x_src, s)``.
    Returns ``x_concat = cat([x_src, fakes...])`` and the average styles, (len(y_trg_list), style_dim).
    ``z_many`` replaces the official internal draw of 10000 codes (the same codes for every domain).
    """
    n = x_src.size(0)
    masks = model.get_masks(x_src) if masks is None else masks
    rows, averages = [x_src], []
    for y_trg in y_trg_list:
        s_avg = average_style(model, int(y_trg[0]), z_many)
        averages.append(s_avg)
        for z_trg in z_trg_list:
            s_trg = torch.lerp(s_avg.expand(n, -1), model.mapping_network(z_trg, y_trg), psi)
            rows.append(model.translate(x_src, s_trg, masks=masks, batch_size=n))
    return torch.cat(rows, dim=0), torch.cat(averages, dim=0)


@torch.no_grad()
def reference_guided(model: StarGANv2, x_src: Tensor, x_ref: Tensor, y_ref: Tensor,
                     masks=None) -> tuple[Tensor, Tensor]:
    """Reference-guided synthesis grid (official ``translate_using_reference``).

    Returns ``x_concat`` ((N_ref + 1) * (N + 1) images: a white corner, the sources, then per reference
    the reference followed by every source in its style) and the reference styles ``s_ref``.
    """
    n = x_src.size(0)
    masks = model.get_masks(x_src) if masks is None else masks
    s_ref = model.style_encoder(x_ref, y_ref)
    rows = [torch.ones_like(x_src[:1]), x_src]
    for i in range(x_ref.size(0)):
        rows += [x_ref[i:i + 1], model.translate(x_src, s_ref[i:i + 1].expand(n, -1), masks=masks, batch_size=n)]
    return torch.cat(rows, dim=0), s_ref


@torch.no_grad()
def translate_and_reconstruct(model: StarGANv2, x_src: Tensor, y_src: Tensor, x_ref: Tensor,
                              y_ref: Tensor) -> Tensor:
    """Cycle consistency grid (official ``translate_and_reconstruct``): cat([x_src, x_ref, x_fake, x_rec])."""
    n = x_src.size(0)
    x_fake = model.translate(x_src, model.style_encoder(x_ref, y_ref), batch_size=n)
    x_rec = model.translate(x_fake, model.style_encoder(x_src, y_src), batch_size=n)
    return torch.cat([x_src, x_ref, x_fake, x_rec], dim=0)


# ---------------------------------------------------------------------------------------------
# the plugin


@dataclass
class CaseState:
    model: StarGANv2
    discriminator: Discriminator | None
    case: str


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official files with our converter (config from the manifest, else inferred)."""
    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    if "file" not in spec:
        raise ValueError(f"{case_dir}/manifest.json: official_checkpoint has no 'file'")
    official = manifest.get("official_config") or {}
    model_cfg = {k: official[k] for k in MODEL_ARGS if official.get(k) is not None}
    disc_cfg = {k: official[k] for k in DISCRIMINATOR_ARGS if official.get(k) is not None}

    fan_state = None
    disc_ckpts = []
    wing_path = official.get("wing_path")
    extra_files = list(spec.get("additional_files", []))
    if isinstance(wing_path, str) and (case_dir / wing_path).is_file() and wing_path not in extra_files:
        extra_files.append(wing_path)
    for name in extra_files:
        extra = load_official(case_dir / name)
        if "discriminator" in extra:
            disc_ckpts.append((extra, str(case_dir / name)))
        elif "state_dict" in extra:  # a wing.ckpt
            fan_state = fan_state_from_wing(extra)

    main_file = case_dir / spec["file"]
    ckpt = load_official(main_file)
    model = _model_from_checkpoint(ckpt, str(main_file), fan_state=fan_state, config=model_cfg or None, cls=StarGANv2)
    discriminator = None
    if disc_ckpts:
        extra, where = disc_ckpts[0]
        discriminator = _discriminator_from_checkpoint(extra, where, **disc_cfg)
    elif "discriminator" in ckpt:
        discriminator = _discriminator_from_checkpoint(ckpt, str(main_file), **disc_cfg)
    model.float().eval()
    return CaseState(model=model, discriminator=discriminator, case=manifest.get("case", case_dir.name))


def _collect_inputs(inputs: dict[str, Tensor]) -> dict[str, Any]:
    """Float tensors to float32; ``name[i]`` entries become a list ``name`` ordered by i."""
    out: dict[str, Any] = {}
    indexed: dict[str, dict[int, Tensor]] = {}
    for key, value in inputs.items():
        value = value.float() if value.is_floating_point() else value.long()
        match = re.fullmatch(r"(.+)\[(\d+)\]", key)
        if match:
            indexed.setdefault(match.group(1), {})[int(match.group(2))] = value
        else:
            out[key] = value
    for name, items in indexed.items():
        if sorted(items) != list(range(len(items))):
            raise ValueError(f"inputs {name}[i] are not numbered 0..{len(items) - 1}: {sorted(items)}")
        out[name] = [items[i] for i in range(len(items))]
    return out


def _need(args: dict[str, Any], check: str, *names: str) -> list[Any]:
    missing = [n for n in names if n not in args]
    if missing:
        raise KeyError(f"check {check!r} needs input(s) {missing}; the manifest gives {sorted(args)}")
    return [args[n] for n in names]


def _parse_psi(check: dict) -> float:
    for text, pattern in ((check.get("name", ""), r"psi_?([0-9]*\.?[0-9]+)"),
                          (check.get("call", ""), r"psi\s*=\s*([0-9]*\.?[0-9]+)")):
        match = re.search(pattern, text)
        if match:
            return float(match.group(1))
    raise ValueError(f"check {check.get('name')!r}: cannot find psi in its name or call")


def _single(check: dict, value: Tensor) -> dict[str, Tensor]:
    outputs = list(check.get("outputs", {}))
    if len(outputs) != 1:
        raise ValueError(f"check {check.get('name')!r} computes one tensor but asks for outputs {outputs}")
    return {outputs[0]: value}


def _pick(check: dict, available: dict[str, Tensor]) -> dict[str, Tensor]:
    wanted = list(check.get("outputs", {}))
    unknown = [k for k in wanted if k not in available]
    if unknown:
        raise KeyError(f"check {check.get('name')!r} asks for {unknown}; this check computes {sorted(available)}")
    return {k: available[k] for k in wanted}


def _run_mapping(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    z, y = _need(a, check["name"], "z", "y")
    return _single(check, state.model.mapping_network(z, y))


def _run_style_encoder(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    x, y = _need(a, check["name"], "x", "y")
    return _single(check, state.model.style_encoder(x, y))


def _run_generator(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    x, s = _need(a, check["name"], "x", "s")
    return _single(check, state.model.generator(x, s, masks=_masks(check, a)))


def _masks(check: dict, a: dict[str, Any]) -> tuple[Tensor, Tensor] | None:
    """Face masks the case supplies as inputs (``masks[0]``, ``masks[1]``), e.g. for a model without FAN."""
    masks = a.get("masks")
    if masks is None:
        return None
    if len(masks) != 2:
        raise ValueError(f"check {check['name']!r}: the generator takes two masks, got {len(masks)}")
    return tuple(masks)


def _run_discriminator(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    if state.discriminator is None:
        raise ValueError(f"check {check['name']!r} needs a discriminator, but no case file holds one "
                         "(official_checkpoint.additional_files should list the {step}_nets.ckpt)")
    x, y = _need(a, check["name"], "x", "y")
    return _single(check, state.discriminator(x, y))


def _fan(state: CaseState, check: dict):
    fan = getattr(state.model, "fan", None)
    if fan is None:
        raise ValueError(f"check {check['name']!r} needs FAN, but this model has w_hpf=0 (no FAN)")
    return fan


def _run_fan_raw(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    (x,) = _need(a, check["name"], "x")
    x = torch.nn.functional.interpolate(x, size=256, mode="bilinear", align_corners=False)
    return _single(check, _fan(state, check)(x * 0.5 + 0.5))


def _run_fan_masks(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    (x,) = _need(a, check["name"], "x")
    mask0, mask1 = _fan(state, check).get_heatmap(x)
    names = list(check.get("outputs", {}))
    if len(names) != 2:
        raise ValueError(f"check {check['name']!r}: get_heatmap gives two masks, the manifest asks for {names}")
    return {names[0]: mask0, names[1]: mask1}


def _run_latent(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    x_src, y_trg_list, z_trg_list = _need(a, check["name"], "x_src", "y_trg_list", "z_trg_list")
    x_concat, s_avg = latent_guided(state.model, x_src, y_trg_list, z_trg_list, a.get("z_many"), _parse_psi(check),
                                    masks=_masks(check, a))
    return _pick(check, {"x_concat": x_concat, "s_avg": s_avg})


def _run_reference(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    x_src, x_ref, y_ref = _need(a, check["name"], "x_src", "x_ref", "y_ref")
    x_concat, s_ref = reference_guided(state.model, x_src, x_ref, y_ref, masks=_masks(check, a))
    return _pick(check, {"x_concat": x_concat, "s_ref": s_ref})


def _run_cycle(state: CaseState, check: dict, a: dict[str, Any]) -> dict[str, Tensor]:
    x_src, y_src, x_ref, y_ref = _need(a, check["name"], "x_src", "y_src", "x_ref", "y_ref")
    return _pick(check, {"x_concat": translate_and_reconstruct(state.model, x_src, y_src, x_ref, y_ref)})


Runner = Callable[[CaseState, dict, dict[str, Any]], dict[str, Tensor]]

# A check is matched by its name first (the manifests' names are stable), then, for a name these tables
# do not know, by its official call (which names the official function); each table in order.
_BY_CALL: list[tuple[str, Runner]] = [
    (r"translate_using_latent", _run_latent),
    (r"translate_using_reference", _run_reference),
    (r"translate_and_reconstruct", _run_cycle),
    (r"\.get_heatmap\(", _run_fan_masks),
    (r"\bfan(\.module)?\(", _run_fan_raw),
    (r"\.mapping_network\(", _run_mapping),
    (r"\.style_encoder\(", _run_style_encoder),
    (r"\.discriminator\(", _run_discriminator),
    (r"\.generator\(", _run_generator),
]
_BY_NAME: list[tuple[str, Runner]] = [
    (r"e2e_latent", _run_latent),
    (r"e2e_reference", _run_reference),
    (r"e2e_translate_and_reconstruct|e2e_cycle", _run_cycle),
    (r"fan_forward_raw|fan_raw", _run_fan_raw),
    (r"fan_get_heatmap|fan_masks", _run_fan_masks),
    (r"mapping_network", _run_mapping),
    (r"style_encoder", _run_style_encoder),
    (r"discriminator", _run_discriminator),
    (r"generator", _run_generator),
]


def _dispatch(check: dict) -> Runner:
    name, call = check.get("name", ""), check.get("call", "")
    for pattern, runner in _BY_NAME:
        if re.match(pattern, name):
            return runner
    for pattern, runner in _BY_CALL:
        if re.search(pattern, call):
            return runner
    raise NotImplementedError(f"StarGAN v2 parity: unknown check {name!r} (call: {call!r})")


def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Run one manifest check through our model; returns exactly the check's output names."""
    runner = _dispatch(check)
    with torch.inference_mode():
        return runner(state, check, _collect_inputs(inputs))
