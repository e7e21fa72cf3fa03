"""StyleGAN / StyleGAN2 benchmark paths at 256 px, the released StyleGAN2 FFHQ-256 and StyleGAN LSUN-256
configurations, with random weights (He-like: the equalised-lr layers already scale their N(0, 1) weights):

* ``generate``: one image from a seed's ws (psi 0.7, const noise);
* ``generate_x4``: the Space's default request, four seeds in one batch; its "image" is the request.

The StyleGAN2 official runner imports ``training/networks.py`` from a NVlabs/stylegan2-ada-pytorch checkout the
user fetched (never vendored), builds its ``Generator`` from our model's config and loads *our* weights into it
(ada's key names are ours with ``mapping_network``/``synthesis_network`` renamed, see :mod:`.convert_v2`).
It runs ``G.synthesis(ws, noise_mode="const", force_fp32=True)``: without a GPU, ada's custom ops fall back to
their reference implementations, and ``force_fp32`` is what a CPU user must pass (ada's fp16 blocks are a CUDA
feature; our model keeps them fp32 off CUDA too). On CUDA it runs ada as shipped (its plugins compile if a
toolchain is present, else ada falls back itself) with the same ``force_fp32`` so both compute fp32.
"""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from ..bench import BenchCase
from .model_v1 import NAMED_CONFIGS_V1, StyleGAN
from .model_v2 import NAMED_CONFIGS_V2, StyleGAN2

CONFIGS: dict[str, tuple[type, dict[str, Any]]] = {
    "stylegan2_256": (StyleGAN2, NAMED_CONFIGS_V2["stylegan2_ffhq_256"]["config"]),
    "stylegan_256": (StyleGAN, {k: v for k, v in NAMED_CONFIGS_V1["stylegan_bedrooms_256"].items()
                                if k != "description"}),
}
QUICK_CONFIGS: dict[str, tuple[type, dict[str, Any]]] = {
    "stylegan2_tiny_32": (StyleGAN2, dict(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2,
                                          channel_base=256, channel_max=32, num_fp16_res=0, conv_clamp=None)),
    "stylegan_tiny_32": (StyleGAN, dict(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, fmaps_base=256,
                                        fmaps_max=32)),
}
SEEDS_PER_REQUEST = 4


def make_inputs(model: Any, batch: int) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        ws = model.mapping(model.seed_z(list(range(batch))), model.class_vector(0, batch) if model.c_dim else None,
                           truncation_psi=0.7)
    return {"ws": ws}


def make_request_inputs(model: Any, batch: int) -> dict[str, torch.Tensor]:
    """``batch`` requests of the Space's default: SEEDS_PER_REQUEST seeds each, psi 0.7."""
    return make_inputs(model, batch * SEEDS_PER_REQUEST)


def run_generate(model: Any, inputs: dict) -> torch.Tensor:
    return model.synthesis(inputs["ws"], noise_mode="const").clamp(-1, 1)


def load_official_networks(checkout: Path):
    """ada's ``training.networks`` module from a local checkout (its ``torch_utils``/``dnnlib`` beside it)."""
    if not (checkout / "training" / "networks.py").is_file() or not (checkout / "torch_utils").is_dir():
        raise FileNotFoundError(f"{checkout} is not a NVlabs/stylegan2-ada-pytorch checkout "
                                "(training/networks.py, torch_utils/ missing)")
    sys.path.insert(0, str(checkout))
    try:
        for name in [m for m in sys.modules if m.split(".")[0] in ("training", "torch_utils", "dnnlib")]:
            sys.modules.pop(name)  # another checkout's modules of the same names must not be reused
        return importlib.import_module("training.networks")
    finally:
        sys.path.remove(str(checkout))


def official_generator(model: StyleGAN2, checkout: Path) -> torch.nn.Module:
    """ada's Generator at our configuration, holding our weights."""
    networks = load_official_networks(checkout)
    cfg, syn = model.config, model.synthesis_network
    G = networks.Generator(
        z_dim=model.z_dim, c_dim=model.c_dim, w_dim=model.w_dim, img_resolution=model.img_resolution,
        img_channels=syn.img_channels,
        mapping_kwargs=dict(num_layers=cfg["mapping_layers"], lr_multiplier=float(cfg["mapping_lr_multiplier"])),
        synthesis_kwargs=dict(channel_base=cfg["channel_base"], channel_max=cfg["channel_max"],
                              num_fp16_res=cfg["num_fp16_res"], conv_clamp=cfg["conv_clamp"],
                              resample_filter=list(cfg["resample_filter"] or [1, 3, 3, 1])))
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith("discriminator.")}
    state = {re.sub(r"^(mapping|synthesis)_network\.", r"\1.", k): v for k, v in ours.items()}
    missing, unexpected = G.load_state_dict(state, strict=False)
    # ada's resample filters are buffers we rebuild from the taps (non-persistent here): nothing else may differ
    missing = [k for k in missing if not k.endswith("resample_filter")]
    if missing or unexpected:
        raise RuntimeError(f"ada Generator does not take our weights: missing {missing}, unexpected {unexpected}")
    return G.to(model.device).eval().requires_grad_(False)


def official_runner(model: Any, checkout: Path) -> Callable[[dict], torch.Tensor]:
    if not isinstance(model, StyleGAN2):
        raise ValueError("the official runner covers StyleGAN2 (ada); StyleGAN v1 is TensorFlow-only upstream")
    G = official_generator(model, checkout)

    def run(inputs: dict) -> torch.Tensor:
        return G.synthesis(inputs["ws"], noise_mode="const", force_fp32=True).clamp(-1, 1)

    return run


def cases(args: Any) -> list[BenchCase]:
    configs = QUICK_CONFIGS if getattr(args, "quick", False) else CONFIGS
    if getattr(args, "configs", None):
        known = {**CONFIGS, **QUICK_CONFIGS}
        unknown = set(args.configs) - set(known)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(known)}")
        configs = {k: v for k, v in known.items() if k in args.configs}
    out = []
    for cname, (cls, config) in configs.items():
        def build(cls=cls, config=config) -> Any:
            torch.manual_seed(0)
            return cls(**{k: v for k, v in config.items() if not k.startswith("d_")}).eval()

        official = official_runner if cls is StyleGAN2 else None
        if not getattr(args, "paths", None) or "generate" in args.paths:
            out.append(BenchCase(f"stylegan/{cname}/generate", build, make_inputs, run_generate, official=official))
        if not getattr(args, "paths", None) or "generate_x4" in args.paths:
            out.append(BenchCase(f"stylegan/{cname}/generate_x4", build, make_request_inputs, run_generate,
                                 official=official, notes=f"{SEEDS_PER_REQUEST} seeds per request"))
    return out
