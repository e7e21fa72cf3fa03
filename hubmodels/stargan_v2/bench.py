"""StarGAN v2 benchmark paths: latent- and reference-guided translation at the released 256 px sizes.

``latent_guided_x4`` is a Space request: one source in four random styles; its "image" is the request.

The official runner imports ``core/model.py`` and ``core/wing.py`` from a checkout the user fetched
(never vendored), builds the official networks at the same configuration and loads *our* weights into them
(our parameter names are the official ones), so both sides compute on identical weights.
"""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any, Callable

import torch

from ..bench import BenchCase
from .configs import NAMED_CONFIGS
from .model import StarGANv2

CONFIGS: dict[str, dict[str, Any]] = {
    "afhq_256": NAMED_CONFIGS["stargan_v2_afhq_256"],
    "celebahq_256": NAMED_CONFIGS["stargan_v2_celebahq_256"],
}
STYLES_PER_SOURCE = 4  # the Space's default gallery: one source, four random styles
QUICK_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny_64": dict(img_size=64, num_domains=3, w_hpf=0, latent_dim=16, style_dim=32, hidden_dim=64, dim_in=16,
                    max_conv_dim=64),
}


def build_model(config: dict[str, Any], seed: int = 0) -> StarGANv2:
    """Random weights with He init (as the official code), so outputs are not degenerate."""
    torch.manual_seed(seed)
    model = StarGANv2(**{k: v for k, v in config.items() if k != "description"})
    for name, module in model.named_modules():
        if name.startswith("fan"):
            continue  # keep FAN's default init: its masks stay non-trivial
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    return model.eval()


def make_inputs(model: StarGANv2, batch: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(batch)
    size = model.img_size
    return {
        "x": (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(model.device),
        "x_ref": (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(model.device),
        "z": torch.randn(batch, model.latent_dim, generator=g).to(model.device),
        "y": (torch.arange(batch) % model.num_domains).to(model.device),
        # STYLES_PER_SOURCE codes per source, source-major, for the one-source-many-styles path
        "z_multi": torch.randn(batch * STYLES_PER_SOURCE, model.latent_dim, generator=g).to(model.device),
    }


def run_latent(model: StarGANv2, inputs: dict) -> torch.Tensor:
    s = model.mapping_network(inputs["z"], inputs["y"])
    return model.translate(inputs["x"], s, batch_size=inputs["x"].shape[0])


def run_latent_multi(model: StarGANv2, inputs: dict) -> torch.Tensor:
    """A Space request: each source in STYLES_PER_SOURCE random styles (the encoder runs once per source)."""
    y = inputs["y"].repeat_interleave(STYLES_PER_SOURCE)
    s = model.mapping_network(inputs["z_multi"], y)
    return model.translate_styles(inputs["x"], s, batch_size=max(16, STYLES_PER_SOURCE))


def run_reference(model: StarGANv2, inputs: dict) -> torch.Tensor:
    s = model.style_encoder(inputs["x_ref"], inputs["y"])
    return model.translate(inputs["x"], s, batch_size=inputs["x"].shape[0])


# ---- the official implementation, from a user's checkout -------------------------------------------


def _stub_optional_imports() -> None:
    """core/wing.py imports cv2, skimage and munch at module level for face alignment only."""
    if "munch" not in sys.modules and importlib.util.find_spec("munch") is None:
        munch = types.ModuleType("munch")

        class Munch(dict):
            __getattr__ = dict.get

            def __setattr__(self, key: str, value: Any) -> None:
                self[key] = value

        munch.Munch = Munch
        sys.modules["munch"] = munch
    for top, subs in (("cv2", ()), ("skimage", ("filters",))):
        if top in sys.modules or importlib.util.find_spec(top) is not None:
            continue
        module = types.ModuleType(top)
        sys.modules[top] = module
        for sub in subs:
            child = types.ModuleType(f"{top}.{sub}")
            child.gaussian = None
            setattr(module, sub, child)
            sys.modules[f"{top}.{sub}"] = child


def load_official_modules(checkout: Path):
    if not (checkout / "core" / "model.py").is_file():
        raise FileNotFoundError(f"{checkout} is not a clovaai/stargan-v2 checkout (core/model.py missing)")
    _stub_optional_imports()
    sys.path.insert(0, str(checkout))
    try:
        model_mod = importlib.import_module("core.model")
        wing_mod = importlib.import_module("core.wing")
    finally:
        sys.path.remove(str(checkout))
    return model_mod, wing_mod


def official_runner(path: str) -> Callable[[StarGANv2, Path], Callable[[dict], torch.Tensor]]:
    def factory(model: StarGANv2, checkout: Path) -> Callable[[dict], torch.Tensor]:
        core_model, core_wing = load_official_modules(checkout)
        cfg = model.config
        G = core_model.Generator(cfg["img_size"], cfg["style_dim"], w_hpf=cfg["w_hpf"])
        F = core_model.MappingNetwork(cfg["latent_dim"], cfg["style_dim"], cfg["num_domains"])
        E = core_model.StyleEncoder(cfg["img_size"], cfg["style_dim"], cfg["num_domains"])
        G.load_state_dict(model.generator.state_dict())
        F.load_state_dict(model.mapping_network.state_dict())
        E.load_state_dict(model.style_encoder.state_dict())
        nets = [G.eval().to(model.device), F.eval().to(model.device), E.eval().to(model.device)]
        fan = None
        if cfg["w_hpf"] > 0:
            fan = core_wing.FAN(fname_pretrained=None).eval()
            fan.load_state_dict(model.fan.state_dict())
            fan = fan.to(model.device)

        def run(inputs: dict) -> torch.Tensor:
            x = inputs["x"]
            masks = fan.get_heatmap(x) if fan is not None else None
            if path == "latent_guided_x4":  # as the official translate_using_latent: G once per style
                z = inputs["z_multi"].view(x.shape[0], STYLES_PER_SOURCE, -1)
                outs = [nets[0](x, nets[1](z[:, k], inputs["y"]), masks=masks) for k in range(STYLES_PER_SOURCE)]
                return torch.stack(outs, 1).flatten(0, 1)
            if path == "latent_guided":
                s = nets[1](inputs["z"], inputs["y"])
            else:
                s = nets[2](inputs["x_ref"], inputs["y"])
            return nets[0](x, s, masks=masks)

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
    paths = {"latent_guided": run_latent, "reference_guided": run_reference, "latent_guided_x4": run_latent_multi}
    if getattr(args, "paths", None):
        paths = {k: v for k, v in paths.items() if k in args.paths}
    out = []
    for cname, config in configs.items():
        cache: dict[str, StarGANv2] = {}

        def build(config=config, cache=cache) -> StarGANv2:
            if "model" not in cache:
                cache["model"] = build_model(config)
            # a copy per mode: modes change memory format and compute dtype in place
            fresh = StarGANv2(**{k: v for k, v in config.items() if k != "description"})
            fresh.load_state_dict(cache["model"].state_dict())
            return fresh.eval()

        for pname, fn in paths.items():
            official = official_runner(pname) if cname in CONFIGS else None
            out.append(BenchCase(f"stargan_v2/{cname}/{pname}", build, make_inputs, fn, official))
    return out
