"""SemanticStyleGAN benchmark paths: ``generate`` (image and mask from one latent) at the released 512 px
configuration, random weights; ``region_edit`` renders a sample and its edit (the Space's region request)."""
from __future__ import annotations

from typing import Any

import torch

from ..bench import BenchCase
from .model import NAMED_CONFIGS, SemanticStyleGAN

CONFIGS: dict[str, dict[str, Any]] = {"celebamaskhq_512": NAMED_CONFIGS["semantic_stylegan_celebamaskhq_512"]["config"]}
QUICK_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny_16": dict(size=16, style_dim=8, n_mlp=2, seg_dim=3, local_layers=3, base_layers=1, depth_layers=2,
                    local_channel=8, coarse_channel=8, coarse_size=8, min_feat_size=4,
                    channels={"4": 8, "8": 8, "16": 4}, transparent_dims=[2]),
}


def make_inputs(model: SemanticStyleGAN, batch: int) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {"wplus": model.latents(list(range(batch)), truncation_psi=0.7)}


def run_generate(model: SemanticStyleGAN, inputs: dict) -> torch.Tensor:
    return model.synthesis(inputs["wplus"], noise_mode="const")["rgb"].clamp(-1, 1)


def run_region_edit(model: SemanticStyleGAN, inputs: dict) -> torch.Tensor:
    base = inputs["wplus"]
    edited = torch.stack([model.edit_latent(w, model.class_names[1], 12345, part="both") for w in base])
    return model.synthesis(torch.cat([base, edited]), noise_mode="const")["rgb"].clamp(-1, 1)


def cases(args: Any) -> list[BenchCase]:
    configs = QUICK_CONFIGS if getattr(args, "quick", False) else CONFIGS
    if getattr(args, "configs", None):
        known = {**CONFIGS, **QUICK_CONFIGS}
        unknown = set(args.configs) - set(known)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(known)}")
        configs = {k: v for k, v in known.items() if k in args.configs}
    paths = {"generate": run_generate, "region_edit": run_region_edit}
    if getattr(args, "paths", None):
        paths = {k: v for k, v in paths.items() if k in args.paths}
    out = []
    for cname, config in configs.items():
        def build(config=config) -> SemanticStyleGAN:
            torch.manual_seed(0)
            return SemanticStyleGAN(**config).eval()

        for pname, fn in paths.items():
            out.append(BenchCase(f"semantic_stylegan/{cname}/{pname}", build, make_inputs, fn))
    return out
