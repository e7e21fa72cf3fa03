"""SemanticStyleGAN benchmark paths at the released 512 px configuration, random weights:

* ``generate``: image and mask from one latent (psi 0.7, const noise);
* ``region_edit``: a sample and one edit of it;
* ``edit_request``: the Space's default ``/edit_regions`` request (base seed, the default region's texture from
  ``EDIT_VARIATIONS`` new seeds, psi 0.7), computed as one batch: the original once plus the edits. The Space's
  loop calls ``model.edit`` per new seed and so renders the original ``EDIT_VARIATIONS`` times; the batch
  renders the same images (each is batch-independent), once each. Its "image" is the request.

The official runner imports ``models`` from a seasonSH/SemanticStyleGAN checkout the user fetched (never
vendored), builds the network with the official ``make_model`` from our config and loads *our* generator
weights (our parameter names are the official ones; the official FIR-kernel buffers are its own constants).
It calls the generator as the official scripts do on W+ codes: ``G([w], input_is_latent=True,
randomize_noise=False)`` (truncation is already in our latents).

Without CUDA, the checkout's ``models/op`` package would still try to compile its CUDA extensions at import
time (``torch.utils.cpp_extension.load`` at module level) although its ``upfirdn2d`` and ``fused_leaky_relu``
run their pure-PyTorch reference code for CPU tensors and never touch the extension. On a CPU-only machine
the runner therefore imports the checkout with ``cpp_extension.load`` replaced, for the duration of that import
only, by a stub (any use of the extension would raise), which is what a CPU user of the official code has to
do; on CUDA the checkout is imported untouched.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ..bench import BenchCase
from .model import NAMED_CONFIGS, SemanticStyleGAN

CONFIGS: dict[str, dict[str, Any]] = {"celebamaskhq_512": NAMED_CONFIGS["semantic_stylegan_celebamaskhq_512"]["config"]}
# the released architecture at 256 px (selectable with --configs): the Space request on one CPU thread
EXTRA_CONFIGS: dict[str, dict[str, Any]] = {"celebamaskhq_256": {**CONFIGS["celebamaskhq_512"], "size": 256}}
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


EDIT_BASE_SEED = 0
EDIT_FIRST_SEED = 100  # the Space's default new seed
EDIT_VARIATIONS = 4  # the Space's default variations
EDIT_PART = "texture"  # the Space's default part


def edit_region(model: SemanticStyleGAN) -> str:
    """The Space's default region: hair when the model has it, else the first foreground class."""
    return "hair" if "hair" in model.class_names else model.class_names[min(1, len(model.class_names) - 1)]


def make_request_inputs(model: SemanticStyleGAN, batch: int) -> dict[str, torch.Tensor]:
    """``batch`` edit requests: base latents [batch, L, D] and their edits [batch * EDIT_VARIATIONS, L, D]."""
    region = edit_region(model)
    bases, edits = [], []
    with torch.no_grad():
        for b in range(batch):
            seed = EDIT_BASE_SEED + b
            bases.append(model.latents([seed], truncation_psi=0.7)[0])
            for v in range(EDIT_VARIATIONS):
                edits.append(model.edit_latent(seed, region, EDIT_FIRST_SEED + v, part=EDIT_PART,
                                               truncation_psi=0.7))
    return {"wplus": torch.stack(bases), "edited": torch.stack(edits)}


def run_edit_request(model: SemanticStyleGAN, inputs: dict) -> torch.Tensor:
    """Originals then edits, one batch."""
    return model.synthesis(torch.cat([inputs["wplus"], inputs["edited"]]), noise_mode="const")["rgb"].clamp(-1, 1)


def run_region_edit(model: SemanticStyleGAN, inputs: dict) -> torch.Tensor:
    base = inputs["wplus"]
    edited = torch.stack([model.edit_latent(w, model.class_names[1], 12345, part="both") for w in base])
    return model.synthesis(torch.cat([base, edited]), noise_mode="const")["rgb"].clamp(-1, 1)


@contextlib.contextmanager
def _cpu_import_of_official_ops() -> Iterator[None]:
    """Stub ``torch.utils.cpp_extension.load`` while the checkout's ``models`` imports (CPU-only machines)."""
    if torch.cuda.is_available():
        yield
        return
    from torch.utils import cpp_extension

    class _NoExtension:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("the official CUDA extension is not built on this CPU-only machine")

    original = cpp_extension.load
    cpp_extension.load = lambda *args, **kwargs: _NoExtension()
    try:
        yield
    finally:
        cpp_extension.load = original


def load_official_models(checkout: Path):
    """The checkout's ``models`` package (``make_model``)."""
    if not (checkout / "models" / "semantic_stylegan.py").is_file():
        raise FileNotFoundError(f"{checkout} is not a seasonSH/SemanticStyleGAN checkout "
                                "(models/semantic_stylegan.py missing)")
    sys.path.insert(0, str(checkout))
    try:
        for name in [m for m in sys.modules if m.split(".")[0] == "models"]:
            sys.modules.pop(name)
        with _cpu_import_of_official_ops():
            return importlib.import_module("models")
    finally:
        sys.path.remove(str(checkout))


def official_generator(model: SemanticStyleGAN, checkout: Path) -> torch.nn.Module:
    """The official generator from ``make_model`` at our configuration, holding our weights."""
    models = load_official_models(checkout)
    cfg = model.config
    args = argparse.Namespace(
        size=cfg["size"], latent=cfg["style_dim"], n_mlp=cfg["n_mlp"], channel_multiplier=cfg["channel_multiplier"],
        seg_dim=cfg["seg_dim"], local_layers=cfg["local_layers"], local_channel=cfg["local_channel"],
        base_layers=cfg["base_layers"], depth_layers=cfg["depth_layers"], coarse_size=cfg["coarse_size"],
        coarse_channel=cfg["coarse_channel"], min_feat_size=cfg["min_feat_size"],
        residual_refine=cfg["residual_refine"], detach_texture=cfg.get("detach_texture", False),
        transparent_dims=list(cfg["transparent_dims"]))
    with contextlib.redirect_stdout(io.StringIO()):  # the official constructor prints its latent counts
        G = models.make_model(args, verbose=False)
    ours = {k[len("generator."):]: v for k, v in model.state_dict().items() if k.startswith("generator.")}
    missing, unexpected = G.load_state_dict(ours, strict=False)
    missing = [k for k in missing if not k.endswith(".kernel")]  # the official FIR constants
    if missing or unexpected:
        raise RuntimeError(f"official generator does not take our weights: missing {missing[:8]}, "
                           f"unexpected {unexpected[:8]}")
    return G.to(model.device).eval().requires_grad_(False)


def official_runner(path: str) -> Callable[[SemanticStyleGAN, Path], Callable[[dict], torch.Tensor]]:
    def factory(model: SemanticStyleGAN, checkout: Path) -> Callable[[dict], torch.Tensor]:
        G = official_generator(model, checkout)

        def render(w: torch.Tensor) -> torch.Tensor:
            return G([w], input_is_latent=True, randomize_noise=False)[0].clamp(-1, 1)

        def run(inputs: dict) -> torch.Tensor:
            base = inputs["wplus"]
            if path == "generate":
                return render(base)
            if path == "region_edit":
                edited = torch.stack([model.edit_latent(w, model.class_names[1], 12345, part="both") for w in base])
                return render(torch.cat([base, edited]))
            return render(torch.cat([base, inputs["edited"]]))

        return run

    return factory


def cases(args: Any) -> list[BenchCase]:
    configs = QUICK_CONFIGS if getattr(args, "quick", False) else CONFIGS
    if getattr(args, "configs", None):
        known = {**CONFIGS, **EXTRA_CONFIGS, **QUICK_CONFIGS}
        unknown = set(args.configs) - set(known)
        if unknown:
            raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(known)}")
        configs = {k: v for k, v in known.items() if k in args.configs}
    paths = {"generate": (run_generate, make_inputs), "region_edit": (run_region_edit, make_inputs),
             "edit_request": (run_edit_request, make_request_inputs)}
    if getattr(args, "paths", None):
        paths = {k: v for k, v in paths.items() if k in args.paths}
    out = []
    for cname, config in configs.items():
        def build(config=config) -> SemanticStyleGAN:
            torch.manual_seed(0)
            return SemanticStyleGAN(**config).eval()

        for pname, (fn, inputs) in paths.items():
            # the official network takes its widths from channel_multiplier: configs that set them differ
            official = official_runner(pname) if "channels" not in config else None
            out.append(BenchCase(f"semantic_stylegan/{cname}/{pname}", build, inputs, fn, official=official))
    return out
