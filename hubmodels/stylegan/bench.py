"""StyleGAN / StyleGAN2 benchmark paths: ``generate`` (one image from a seed, the Space's default request is
``generate_x4``: four seeds) at 256 px, the released StyleGAN2 FFHQ-256 and StyleGAN LSUN-256 configurations,
with random weights (He-like: the equalised-lr layers already scale their N(0, 1) weights)."""
from __future__ import annotations

from typing import Any

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


def run_generate(model: Any, inputs: dict) -> torch.Tensor:
    return model.synthesis(inputs["ws"], noise_mode="const").clamp(-1, 1)


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

        if not getattr(args, "paths", None) or "generate" in args.paths:
            out.append(BenchCase(f"stylegan/{cname}/generate", build, make_inputs, run_generate))
    return out
