"""BicycleGAN benchmark paths at the released sizes (edges2shoes 256 px, maps 512 px).

``sample_x4`` is a Space request: one input, four random codes; its "image" is the request. ``style_transfer``
encodes a reference and generates with its code.

The official runner imports ``models/networks.py`` from a checkout the user fetched (never vendored), builds the
official ``G_Unet_add_all`` / ``E_ResNet`` at the same configuration and loads *our* weights into them (our
parameter names are the official ones), so both sides compute on identical weights.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Callable

import torch

from ..bench import BenchCase
from .configs import NAMED_CONFIGS
from .model import BicycleGAN

CONFIGS: dict[str, dict[str, Any]] = {
    "edges2shoes_256": NAMED_CONFIGS["bicyclegan_edges2shoes_256"],
    "maps_512": NAMED_CONFIGS["bicyclegan_maps_512"],
}
QUICK_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny_64": dict(input_nc=1, output_nc=3, nz=8, ngf=16, nef=16, num_downs=6, encoder="resnet", encoder_depth=3,
                    img_size=64),
}
SAMPLES_PER_INPUT = 4  # the Space's default gallery


def _args(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "description"}


def build_model(config: dict[str, Any], seed: int = 0) -> BicycleGAN:
    """Random weights (He init: the official 0.02-gain Xavier init would give near-constant outputs)."""
    torch.manual_seed(seed)
    model = BicycleGAN(**_args(config))
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, a=0.2)
            torch.nn.init.zeros_(module.bias)
    return model.eval()


def make_inputs(model: BicycleGAN, batch: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(batch)
    s = model.img_size
    inputs = {
        "x": (torch.rand(batch, model.input_nc, s, s, generator=g) * 2 - 1).to(model.device),
        "z": torch.randn(batch, model.nz, generator=g).to(model.device),
        "z_multi": torch.randn(SAMPLES_PER_INPUT, model.nz, generator=g).to(model.device),
    }
    if model.encoder is not None:
        e = model.encoder_size
        inputs["ref"] = (torch.rand(batch, model.output_nc, e, e, generator=g) * 2 - 1).to(model.device)
    return inputs


def run_sample(model: BicycleGAN, inputs: dict) -> torch.Tensor:
    return model.generate(inputs["x"], inputs["z"], batch_size=inputs["x"].shape[0])


def run_sample_multi(model: BicycleGAN, inputs: dict) -> torch.Tensor:
    """A Space request: each input with SAMPLES_PER_INPUT random codes."""
    return model._per_input(inputs["x"], inputs["z_multi"], SAMPLES_PER_INPUT).flatten(0, 1)


def run_style_transfer(model: BicycleGAN, inputs: dict) -> torch.Tensor:
    mu, _ = model.encode_tensor(inputs["ref"])
    return model.generate(inputs["x"], mu, batch_size=inputs["x"].shape[0])


# ---- the official implementation, from a user's checkout -------------------------------------------


def load_official_networks(checkout: Path):
    path = checkout / "models" / "networks.py"
    if not path.is_file():
        raise FileNotFoundError(f"{checkout} is not a junyanz/BicycleGAN checkout (models/networks.py missing)")
    spec = importlib.util.spec_from_file_location("bicyclegan_official_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_runner(path: str) -> Callable[[BicycleGAN, Path], Callable[[dict], torch.Tensor]]:
    def factory(model: BicycleGAN, checkout: Path) -> Callable[[dict], torch.Tensor]:
        net = load_official_networks(checkout)
        cfg = model.config
        norm = net.get_norm_layer(cfg["norm"])
        nl = net.get_non_linearity(cfg["nl"])
        cls = net.G_Unet_add_all if cfg["where_add"] == "all" else net.G_Unet_add_input
        G = cls(cfg["input_nc"], cfg["output_nc"], cfg["nz"], cfg["num_downs"], cfg["ngf"], norm_layer=norm,
                nl_layer=nl, use_dropout=False, upsample=cfg["upsample"])
        G.load_state_dict(model.generator.state_dict())
        G = G.eval().to(model.device)
        E = None
        if model.encoder is not None:
            lrelu = functools.partial(torch.nn.LeakyReLU, negative_slope=0.2, inplace=True)
            if cfg["encoder"] == "resnet":
                E = net.E_ResNet(cfg["output_nc"], cfg["nz"], cfg["nef"], n_blocks=cfg["encoder_depth"],
                                 norm_layer=norm, nl_layer=lrelu, vaeLike=True)
            else:
                E = net.E_NLayers(cfg["output_nc"], cfg["nz"], cfg["nef"], n_layers=cfg["encoder_depth"],
                                  norm_layer=norm, nl_layer=lrelu, vaeLike=True)
            E.load_state_dict(model.encoder.state_dict())
            E = E.eval().to(model.device)

        def run(inputs: dict) -> torch.Tensor:
            x = inputs["x"]
            if path == "sample_x4":  # as test.py: G once per code
                outs = [G(x, inputs["z_multi"][k:k + 1].expand(x.shape[0], -1)) for k in range(SAMPLES_PER_INPUT)]
                return torch.stack(outs, 1).flatten(0, 1)
            if path == "style_transfer":
                mu, _ = E(inputs["ref"])
                return G(x, mu)
            return G(x, inputs["z"])

        return run

    return factory


def cases(args: Any) -> list[BenchCase]:
    configs = QUICK_CONFIGS if getattr(args, "quick", False) else CONFIGS
    if getattr(args, "configs", None):
        unknown = set(args.configs) - set(CONFIGS) - set(QUICK_CONFIGS)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; "
                             f"known: {sorted(CONFIGS) + sorted(QUICK_CONFIGS)}")
        configs = {k: v for k, v in {**CONFIGS, **QUICK_CONFIGS}.items() if k in args.configs}
    paths = {"sample": run_sample, "sample_x4": run_sample_multi, "style_transfer": run_style_transfer}
    if getattr(args, "paths", None):
        paths = {k: v for k, v in paths.items() if k in args.paths}
    out = []
    for cname, config in configs.items():
        cache: dict[str, BicycleGAN] = {}

        def build(config=config, cache=cache) -> BicycleGAN:
            if "model" not in cache:
                cache["model"] = build_model(config)
            fresh = BicycleGAN(**_args(config))  # a copy per mode: modes change memory format / dtype in place
            fresh.load_state_dict(cache["model"].state_dict())
            return fresh.eval()

        for pname, fn in paths.items():
            official = official_runner(pname) if cname in CONFIGS else None
            out.append(BenchCase(f"bicyclegan/{cname}/{pname}", build, make_inputs, fn, official))
    return out
