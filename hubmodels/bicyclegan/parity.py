"""Parity plugin for BicycleGAN cases (bicycle_gan and the repository's pix2pix), through the model's own API.

The checks of the reference manifests reproduce the official calls: ``netG(real_A, z)``, ``netE(real_B)``,
training's reparameterised ``encode``, ``netD`` / ``netD2`` (one patch map per scale), ``get_z_random``,
``test.py``'s loop (the encoded result from the encoder's mean, then one output per random code), the aligned
dataset's preprocessing, and pix2pix's ``model.test()``. Generator and encoder run through the inference methods
(``generate``, ``encode_tensor``, ``official_latents``), so the checks cover what a user runs.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .aligned import aligned_pair
from .convert import discriminator_from_official, load_official, net_kind
from .inference import reparameterize
from .model import BicycleGAN

__all__ = ["load_case", "run_check", "test_loop"]


@dataclass
class CaseState:
    model: BicycleGAN
    # a ModuleDict, so the parity framework moves it with the model (GPU checks)
    discriminators: torch.nn.ModuleDict = field(default_factory=torch.nn.ModuleDict)
    n_samples: int = 5
    no_encode: bool = False
    official: dict[str, Any] = field(default_factory=dict)
    case: str = ""


def _token(value: Any) -> Any:
    """A manifest value such as ``"relu (G up-path only; ...)"`` -> ``"relu"``; non-strings unchanged."""
    if isinstance(value, str):
        words = re.findall(r"[A-Za-z0-9_]+", value)
        return words[0] if words else value
    return value


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        token = _token(value).lower()
        if token in ("true", "yes", "always"):
            return True
        if token in ("false", "no", "never"):
            return False
    return default


def _files(case_dir: Path, spec: dict) -> dict[str, Path]:
    """{'G', 'E', 'D', 'D2'} -> file, from ``files_by_net`` or by reading each file's keys."""
    by_net = spec.get("files_by_net")
    if isinstance(by_net, dict) and by_net:
        return {net: case_dir / name for net, name in by_net.items()}
    names = spec.get("file")
    names = [names] if isinstance(names, str) else list(names or [])
    out: dict[str, Path] = {}
    for name in names:
        path = case_dir / name
        kind = net_kind(load_official(path))
        if kind == "D" and Path(name).stem.endswith("_net_D2"):
            kind = "D2"
        out.setdefault(kind, path)
    return out


def model_config(official: dict) -> dict[str, Any]:
    """The BicycleGAN arguments a manifest's ``official_config`` states plainly (the rest come from the shapes)."""
    cfg: dict[str, Any] = {}
    for key in ("input_nc", "output_nc", "nz", "ngf", "nef"):
        value = _int(official.get(key))
        if value is not None:
            cfg[key] = value
    for key, allowed in (("norm", ("instance", "batch", "none")), ("nl", ("relu", "lrelu", "elu")),
                         ("upsample", ("basic", "bilinear")), ("where_add", ("all", "input")),
                         ("direction", ("AtoB", "BtoA"))):
        value = _token(official.get(key))
        if value in allowed:
            cfg[key] = value
    size = official.get("image_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1] and _int(size[0]):
        cfg["img_size"] = int(size[0])
    if cfg.get("nz") == 0:
        cfg["where_add"] = "input"  # define_G forces it for nz=0
    return cfg


def load_case(case_dir: Path, manifest: dict) -> CaseState:
    """Convert the case's official files with our converter (plain settings from the manifest, the rest inferred)."""
    case_dir = Path(case_dir)
    spec = manifest.get("official_checkpoint", {})
    files = _files(case_dir, spec)
    if "G" not in files:
        raise ValueError(f"{case_dir}/manifest.json: no generator file (*_net_G.pth) among the case's files")
    official = manifest.get("official_config") or {}
    config = model_config(official)
    model = BicycleGAN.from_official(files["G"], files.get("E"), config=config)
    discs = torch.nn.ModuleDict()
    for net in ("D", "D2"):
        if net in files:
            d_cfg = {"norm": config["norm"]} if "norm" in config else {}
            discs[net] = discriminator_from_official(files[net], **d_cfg)
    n_samples = _int(official.get("n_samples"))
    return CaseState(model=model.float().eval(), discriminators=discs,
                     n_samples=5 if n_samples is None else n_samples,  # TestOptions' default
                     no_encode=_bool(official.get("no_encode")), official=official,
                     case=manifest.get("case", case_dir.name))


# ---------------------------------------------------------------------------------------------
# official routines, through the model's API


@torch.no_grad()
def test_loop(model: BicycleGAN, real_A: Tensor, real_B: Tensor | None, z_samples: Tensor,
              encode: bool = True) -> tuple[Tensor, Tensor | None]:
    """``test.py`` for one input: output 0 from the encoder's mean of ``real_B`` (or from ``z_samples[0]`` with
    ``encode=False``), output k from ``z_samples[k]``. Returns (fake_B_all (n+1, C, H, W), encoded z or None)."""
    z = z_samples.clone()
    encoded = None
    if encode:
        encoded, _ = model.encode_tensor(real_B)
        z[0] = encoded[0]
    return model.generate(real_A.expand(z.shape[0], -1, -1, -1), z), encoded


# ---------------------------------------------------------------------------------------------
# the plugin


def _need(a: dict[str, Tensor], check: str, *names: str) -> list[Tensor]:
    missing = [n for n in names if n not in a]
    if missing:
        raise KeyError(f"check {check!r} needs input(s) {missing}; the manifest gives {sorted(a)}")
    return [a[n] for n in names]


def _pick(check: dict, available: dict[str, Tensor]) -> dict[str, Tensor]:
    wanted = list(check.get("outputs", {}))
    unknown = [k for k in wanted if k not in available]
    if unknown:
        raise KeyError(f"check {check.get('name')!r} asks for {unknown}; this check computes {sorted(available)}")
    return {k: available[k] for k in wanted}


def _single(check: dict, value: Tensor) -> dict[str, Tensor]:
    outputs = list(check.get("outputs", {}))
    if len(outputs) != 1:
        raise ValueError(f"check {check.get('name')!r} computes one tensor but asks for outputs {outputs}")
    return {outputs[0]: value}


def _run_generator(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    x = a.get("x", a.get("real_A"))
    if x is None:
        raise KeyError(f"check {check['name']!r} needs the generator's input x (or real_A); the manifest gives "
                       f"{sorted(a)}")
    z = a.get("z")
    return _single(check, s.model.generate(x, z, batch_size=max(1, x.shape[0])))


def _run_encoder(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    (x,) = _need(a, check["name"], "x")
    mu, logvar = s.model.encode_tensor(x)
    return _pick(check, {"mu": mu, "logvar": logvar})


def _run_reparameterised(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    x, eps = _need(a, check["name"], "x", "eps")
    mu, logvar = s.model.encode_tensor(x)
    z = reparameterize(mu, logvar, eps)
    return _pick(check, {"z": z, "mu": mu, "logvar": logvar})


def _discriminator(net: str) -> Callable[[CaseState, dict, dict[str, Tensor]], dict[str, Tensor]]:
    def run(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
        if net not in s.discriminators:
            raise ValueError(f"check {check['name']!r} needs {net}, but the case has no *_net_{net}.pth")
        (x,) = _need(a, check["name"], "x")
        outs = s.discriminators[net](x)
        return _pick(check, {f"out_{i}": o for i, o in enumerate(outs)})

    return run


def _run_z_random(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    (seed,) = _need(a, check["name"], "seed")
    return _single(check, s.model.official_latents(int(seed.reshape(-1)[0]), s.n_samples + 1))


def _run_test_loop(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    real_A, real_B, z_samples = _need(a, check["name"], "real_A", "real_B", "z_samples")
    fakes, encoded = test_loop(s.model, real_A, real_B, z_samples, encode=not s.no_encode)
    available = {"fake_B_all": fakes}
    if encoded is not None:
        available["encoded_z"] = encoded
    return _pick(check, available)


def _run_preprocess(s: CaseState, check: dict, a: dict[str, Tensor]) -> dict[str, Tensor]:
    import numpy as np

    ab, seed = _need(a, check["name"], "AB_image_HWC_uint8_values", "python_random_seed")
    pre = s.official.get("preprocess_check") or {}
    load, crop = _int(pre.get("load_size")), _int(pre.get("crop_size"))
    if load is None or crop is None:
        raise ValueError(f"check {check['name']!r}: official_config.preprocess_check gives no load_size/crop_size")
    if _token(pre.get("preprocess", "resize_and_crop")) != "resize_and_crop":
        raise NotImplementedError(f"preprocess {pre.get('preprocess')!r}: only resize_and_crop (the official "
                                  "default and the test scripts') is implemented")
    image = ab.detach().cpu().round().clamp(0, 255).to(torch.uint8).numpy()
    item = aligned_pair(np.ascontiguousarray(image), load_size=load, crop_size=crop,
                        input_nc=s.model.input_nc, output_nc=s.model.output_nc, direction=s.model.direction,
                        rng=random.Random(int(seed.reshape(-1)[0])), flip=not _bool(pre.get("no_flip"), True))
    pos = torch.tensor(item["params"].crop_pos, dtype=torch.int64)
    return _pick(check, {"A": item["A"], "B": item["B"], "crop_pos_xy": pos})


Runner = Callable[[CaseState, dict, dict[str, Tensor]], dict[str, Tensor]]

# Matched by the check's name first (the manifests' names are stable), then by its official call.
_BY_NAME: list[tuple[str, Runner]] = [
    (r"G_forward|generator", _run_generator),
    (r"E_encode|encode_reparam", _run_reparameterised),
    (r"E_forward|encoder", _run_encoder),
    (r"D2_forward", _discriminator("D2")),
    (r"D_forward", _discriminator("D")),
    (r"get_z_random", _run_z_random),
    (r"test_py_loop|test_loop", _run_test_loop),
    (r"preprocess_aligned|preprocess", _run_preprocess),
    (r"model_test", _run_generator),
]
_BY_CALL: list[tuple[str, Runner]] = [
    (r"AlignedDataset", _run_preprocess),
    (r"model\.test\(z_samples", _run_test_loop),
    (r"get_z_random", _run_z_random),
    (r"model\.encode\(", _run_reparameterised),
    (r"netE\(", _run_encoder),
    (r"netD2\(", _discriminator("D2")),
    (r"netD\(", _discriminator("D")),
    (r"netG\(|model\.test\(\)", _run_generator),
]


def _dispatch(check: dict) -> Runner:
    name, call = check.get("name", ""), check.get("call", "")
    for pattern, runner in _BY_NAME:
        if re.match(pattern, name):
            return runner
    for pattern, runner in _BY_CALL:
        if re.search(pattern, call):
            return runner
    raise NotImplementedError(f"BicycleGAN parity: unknown check {name!r} (call: {call!r})")


def run_check(state: CaseState, check: dict, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Run one manifest check through our model; returns exactly the check's output names."""
    runner = _dispatch(check)
    args = {k: (v.float() if v.is_floating_point() else v) for k, v in inputs.items()}
    with torch.inference_mode():
        return runner(state, check, args)
