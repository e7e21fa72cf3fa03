"""How well a StarGAN edits SynthFaces attributes: the edit happens, and little else changes.

SynthFaces renders a face from its parameters (:func:`hubmodels.data.synthfaces.sample_params`), so the same
face can be rendered again with one attribute changed (:func:`with_attributes`): that render is the ground
truth of the edit. For every held-out face and every single-attribute edit of the official test
(:meth:`StarGAN.create_labels`: a fur colour set, glasses or mouth flipped), with ``src`` the face, ``gt`` its
edited render, ``rec = G(src, c_src)`` the model's rendering of the face with its own labels and ``out`` its
translation (all in [-1, 1]):

* the edit region ``R`` is where ``src`` and ``gt`` differ (more than 0.15 summed over RGB, grown by a pixel);
* ``edit_<attribute>``: how much of the needed change the model made, the projection of its change
  ``out - rec`` on the needed change ``gt - src`` inside ``R``: ``sum_R (out - rec)(gt - src) / sum_R (gt - src)^2``.
  1 is the ground truth's change, 0 no change, negative a change the other way. Measuring the change against
  ``rec`` rather than ``src`` keeps it apart from how well the model reproduces faces at all;
* ``rest_l1``: mean ``|out - rec|`` outside ``R``: what the edit changed that it should not have (0 ideally);
* ``identity_l1``: mean ``|rec - src|``: how well the model reproduces a face asked to keep its labels.

Glasses put on a face may be any of SynthFaces' frames (five colours, round or square; a face without glasses
does not say which): the ground truth is the one of those ten renders nearest to the model's change, with its
own region for the figure and for ``rest_l1``.
Fur colours are re-rendered at the middle of that colour's range in SynthFaces, and the colours derived from the
fur (muzzle, ears, markings) are recomputed with the face's own mixing weights; the background is kept. A
model's fur shade may be right and still differ from that middle shade, so fur edits score below 1 even when
they are clearly right; compare with the glasses/mouth figures and with the sample grid.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["FUR_RGB", "with_attributes", "synthfaces_edits", "EDIT_THRESHOLD"]

# the middle of each attribute colour's range in synthfaces._sample_fur
FUR_HSV = {"black": (0.08, 0.075, 0.13), "golden": (0.12, 0.65, 0.885), "brown": (0.07, 0.675, 0.41)}
FUR_ATTRIBUTES = {"black_fur": "black", "golden_fur": "golden", "brown_fur": "brown"}
EDIT_THRESHOLD = 0.15  # summed |src - gt| over RGB in [-1, 1] units that marks a pixel as part of the edit
_CREAM, _EAR_DARK, _EAR_PINK = [250, 245, 235], [20, 14, 10], [240, 160, 170]
_LIGHT_MARK, _DARK_MARK = [235, 235, 230], [25, 18, 12]


def _weight(old_fur: list[int], mixed: list[int], towards: list[int]) -> float:
    """The t of ``mixed = mix(old_fur, towards, t)`` (least squares), clamped to [0, 1]."""
    d = [b - a for a, b in zip(old_fur, towards)]
    m = [c - a for a, c in zip(old_fur, mixed)]
    norm = sum(v * v for v in d)
    return 0.0 if norm == 0 else min(1.0, max(0.0, sum(a * b for a, b in zip(d, m)) / norm))


def _fur_colour(name: str) -> list[int]:
    from ..data.synthfaces import _hsv

    return _hsv(*FUR_HSV[name])


def with_attributes(params: dict, **changes: Any) -> dict:
    """``params`` (of :func:`~hubmodels.data.synthfaces.sample_params`) with SynthFaces attributes changed.

    ``black_fur=1`` / ``golden_fur=1`` / ``brown_fur=1`` recolour the fur (one colour at a time; 0 is not a
    colour and is refused), ``glasses`` and ``open_mouth`` take 0/1. Pose, shape, eyes, background stay.
    """
    from ..data.synthfaces import _luma, _mix

    p = copy.deepcopy(params)
    for name, value in changes.items():
        value = bool(value)
        if name in FUR_ATTRIBUTES:
            if not value:
                raise ValueError(f"{name}=0 does not say which colour the fur becomes: set another fur colour")
            old, new = p["fur_rgb"], _fur_colour(FUR_ATTRIBUTES[name])
            t_muzzle = _weight(old, p["muzzle_rgb"], _CREAM)
            t_ear = _weight(old, p["ear_rgb"], _EAR_DARK)
            t_inner = _weight(old, p["inner_ear_rgb"], _EAR_PINK)
            old_mark = _LIGHT_MARK if _luma(old) < 0.35 else _DARK_MARK
            t_mark = _weight(old, p["marking_rgb"], old_mark)
            new_mark = _LIGHT_MARK if _luma(new) < 0.35 else _DARK_MARK
            p.update(fur=FUR_ATTRIBUTES[name], fur_rgb=new, muzzle_rgb=_mix(new, _CREAM, t_muzzle),
                     ear_rgb=_mix(new, _EAR_DARK, t_ear), inner_ear_rgb=_mix(new, _EAR_PINK, t_inner),
                     marking_rgb=_mix(new, new_mark, t_mark))
        elif name in ("glasses", "open_mouth"):
            p[name] = value
        else:
            raise ValueError(f"unknown SynthFaces attribute {name!r}; accepted: "
                             f"{', '.join([*FUR_ATTRIBUTES, 'glasses', 'open_mouth'])}")
    return p


def _to_tensor(img) -> torch.Tensor:
    from ..data.layouts import pil_to_tensor

    return pil_to_tensor(img)


def _frames(params: dict, change: dict) -> list[dict]:
    """The glasses a ground truth may wear: the face's own frame, or, when the edit puts glasses on, every frame
    SynthFaces draws (nothing in a face without glasses says which colour and shape its frame would have)."""
    from ..data.synthfaces import GLASSES_RGB, GLASSES_SHAPES

    if not change.get("glasses"):
        return [{}]
    return [{"glasses_rgb": list(rgb), "glasses_shape": shape} for rgb in GLASSES_RGB for shape in GLASSES_SHAPES]


@torch.no_grad()
def synthfaces_edits(model, *, seed: int, n: int = 24, index_offset: int = 0) -> dict[str, float]:
    """Edit figures (see the module doc) of ``model`` on faces ``index_offset .. + n`` of SynthFaces stream
    ``seed`` (a held-out stream), rendered at the model's size. The model's attributes must be SynthFaces
    attributes (a subset, any order)."""
    from ..data.synthfaces import ATTRIBUTES, render_params, sample_params

    names = list(model.attributes)
    if not set(names) <= set(ATTRIBUTES) or model.label_types[0] != "multi":
        raise ValueError(f"synthfaces_edits needs a model of SynthFaces attributes ({', '.join(ATTRIBUTES)}), "
                         f"this one has {names}")
    size = model.image_size
    sums: dict[str, list[float]] = {a: [] for a in names}
    rest, identity = [], []
    for i in range(n):
        params = sample_params(seed, index_offset + i)
        face = render_params(params, size)
        src = _to_tensor(face.image)[None].to(model.device)
        c_org = torch.tensor([[float(face.attributes[a]) for a in names]], device=model.device)
        targets = model.create_labels(c_org, 0)
        outs = model.generate(src.repeat(len(targets) + 1, 1, 1, 1),
                              torch.cat([model.condition(c, 0) for c in [c_org, *targets]])).cpu()
        src, rec = src.cpu()[0], outs[0]
        identity.append((rec - src).abs().mean().item())
        for k, (name, c_trg) in enumerate(zip(names, targets)):
            change = {a: int(c_trg[0, names.index(a)].item()) for a in names
                      if int(c_trg[0, names.index(a)].item()) != int(face.attributes[a])}
            if not change:  # e.g. setting the fur colour the face already has
                continue
            fur_on = {a: v for a, v in change.items() if a in FUR_ATTRIBUTES and v}
            kept = {a: v for a, v in change.items() if a not in FUR_ATTRIBUTES}
            edited, change_made = with_attributes(params, **fur_on, **kept), outs[k + 1] - rec
            best = None
            for frame in _frames(params, change):
                gt = _to_tensor(render_params({**edited, **frame}, size).image)
                region = ((src - gt).abs().sum(0, keepdim=True) > EDIT_THRESHOLD).float()
                region = F.max_pool2d(region[None], 3, 1, 1)[0] > 0
                if not region.any():
                    continue
                # the frame the model drew, if any, is the one whose render is nearest to its change
                miss = (change_made - (gt - src)).square().sum().item()
                if best is None or miss < best[0]:
                    best = (miss, gt, region)
            if best is None:
                continue
            _, gt, region = best
            need, made = (gt - src) * region, change_made * region
            sums[name].append(((made * need).sum() / need.square().sum()).item())
            outside = ~region.expand_as(src)
            if outside.any():
                rest.append(change_made.abs()[outside].mean().item())
    metrics = {f"edit_{a}": round(sum(v) / len(v), 4) for a, v in sums.items() if v}
    if metrics:
        metrics["edit_mean"] = round(sum(metrics.values()) / len(metrics), 4)
    metrics["rest_l1"] = round(sum(rest) / max(len(rest), 1), 5)
    metrics["identity_l1"] = round(sum(identity) / max(len(identity), 1), 5)
    return metrics
