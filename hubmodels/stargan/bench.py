"""StarGAN benchmark paths at the released sizes (CelebA 128 and 256 px, 5 attributes).

* ``translate``: one image to one target label vector (``G(x, c)``);
* ``edit_grid``: a Space request, every single-attribute edit of one image (5 outputs per image, the
  official ``test`` loop); its "image" is the request.

The official runner imports ``model.py`` from a checkout the user fetched (never vendored), builds the
official ``Generator`` at the same size and loads *our* weights into it (the parameter names are the official
ones), then runs it in train mode, as the official ``Solver.test`` does.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from ..bench import BenchCase
from .configs import NAMED_CONFIGS
from .model import StarGAN

CONFIGS: dict[str, dict[str, Any]] = {
    "celeba_128": NAMED_CONFIGS["stargan_celeba_128"],
    "celeba_256": NAMED_CONFIGS["stargan_celeba_256"],
}
QUICK_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny_64": dict(image_size=64, c_dim=5, conv_dim=16, repeat_num=2, d_conv_dim=16, d_repeat_num=4,
                    attributes=["a", "b", "c", "d", "e"]),
}


def _kwargs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "description"}


def build_model(config: dict[str, Any], seed: int = 0) -> StarGAN:
    """Random weights (PyTorch's default init, as the official build_model), affine norms perturbed."""
    torch.manual_seed(seed)
    model = StarGAN(**_kwargs(config))
    with torch.no_grad():
        for m in model.generator.norms():
            m.weight.add_(0.1 * torch.randn_like(m.weight))
            m.bias.add_(0.1 * torch.randn_like(m.bias))
    return model.eval()


def make_inputs(model: StarGAN, batch: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(batch)
    size = model.image_size
    x = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    c = (torch.rand(batch, model.c_dim, generator=g) > 0.5).float()
    return {"x": x.to(model.device), "c": c.to(model.device)}


def run_translate(model: StarGAN, inputs: dict) -> torch.Tensor:
    return model.generate(inputs["x"], model.condition(inputs["c"]), batch_size=inputs["x"].shape[0])


def run_edit_grid(model: StarGAN, inputs: dict) -> torch.Tensor:
    """Every single-attribute edit of each image (create_labels), as the Space's grid."""
    return model.edit_concat(inputs["x"], inputs["c"])


def load_official_model(checkout: Path):
    if not (checkout / "model.py").is_file() or not (checkout / "solver.py").is_file():
        raise FileNotFoundError(f"{checkout} is not a yunjey/stargan checkout (model.py, solver.py missing)")
    sys.path.insert(0, str(checkout))
    try:
        sys.modules.pop("model", None)
        return importlib.import_module("model")
    finally:
        sys.path.remove(str(checkout))


def official_runner(path: str) -> Callable[[StarGAN, Path], Callable[[dict], torch.Tensor]]:
    def factory(model: StarGAN, checkout: Path) -> Callable[[dict], torch.Tensor]:
        official = load_official_model(checkout)
        cfg = model.config
        G = official.Generator(cfg["conv_dim"], model.label_dim, cfg["repeat_num"])
        G.load_state_dict(model.generator.state_dict())
        G = G.to(model.device).train()  # Solver.test never calls G.eval()

        def run(inputs: dict) -> torch.Tensor:
            x, c_org = inputs["x"], inputs["c"]
            if path == "translate":
                return G(x, c_org)
            outs = [x]
            for c_trg in model.create_labels(c_org):  # the official create_labels (checked by parity)
                outs.append(G(x, c_trg))
            return torch.cat(outs, dim=3)

        return run

    return factory


def cases(args: Any) -> list[BenchCase]:
    configs = QUICK_CONFIGS if getattr(args, "quick", False) else CONFIGS
    if getattr(args, "configs", None):
        known = {**CONFIGS, **QUICK_CONFIGS}
        unknown = set(args.configs) - set(known)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(known)}")
        configs = {k: v for k, v in known.items() if k in args.configs}
    paths = {"translate": run_translate, "edit_grid": run_edit_grid}
    if getattr(args, "paths", None):
        paths = {k: v for k, v in paths.items() if k in args.paths}
    out = []
    for cname, config in configs.items():
        cache: dict[str, StarGAN] = {}

        def build(config=config, cache=cache) -> StarGAN:
            if "model" not in cache:
                cache["model"] = build_model(config)
            fresh = StarGAN(**_kwargs(config))  # a copy per mode: modes change memory format in place
            fresh.load_state_dict(cache["model"].state_dict())
            return fresh.eval()

        for pname, fn in paths.items():
            official = official_runner(pname) if cname in CONFIGS else None
            out.append(BenchCase(f"stargan/{cname}/{pname}", build, make_inputs, fn, official))
    return out
