"""SemanticStyleGAN inference: generation with class maps, and region-wise editing of the latent.

Two lines for a user::

    model = hubmodels.load("hubmodels/semantic-stylegan-synthfaces")
    sample = model.generate(7)[0]           # .image, .classes (H x W class ids), .mask (coloured), .overlay
    edited = model.edit(7, ["hair"], source=123, part="texture")[0]   # seed 7 with seed 123's hair colour

:class:`SemanticStyleGANInference` is a mixin holding no weights; it relies on the model's ``style_dim``,
``n_latent``, ``seg_dim``, ``class_names``, ``palette``, ``generator`` (``base_layers``, ``local_layers``,
``depth_layers``), ``mapping(z)``, ``synthesis(latent, noise_mode=, composition_mask=)``.

* Seeds: the official scripts draw ``z = torch.randn(n, style_dim)`` from torch's global generator and
  truncate in W as ``psi * w + (1 - psi) * mean_latent`` with ``mean_latent`` the mean of ``style`` over
  10000 such draws (``visualize/generate.py``, default psi 0.7). Seed ``s`` here is
  ``torch.randn(1, style_dim, generator=torch.Generator().manual_seed(s))`` (what ``torch.manual_seed(s)``
  followed by the script's draw of one sample gives on CPU); ``mean_latent`` uses 10000 draws from seed
  :data:`MEAN_LATENT_SEED`, computed once per model.
* A *latent* is an int seed (mapped, then truncated), a W vector ``[style_dim]`` or a W+ code
  ``[n_latent, style_dim]`` (used as given).
* W+ layout (:meth:`latent_layout`): rows ``0 .. base_layers-1`` are the coarse codes shared by all
  foreground classes; class k's *shape* code is row ``base_layers + 2k`` and its *texture* code row
  ``base_layers + 2k + 1``. Replacing a class's texture code leaves every pseudo-depth map, hence the
  coarse layout, unchanged; replacing its shape code moves that class's region.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ["SemanticStyleGANInference", "SemanticSample", "MAX_SEED", "MAX_IMAGES", "MEAN_LATENT_SEED",
           "PARTS", "check_seed"]

MAX_SEED = 2**32 - 1
MAX_IMAGES = 64
MEAN_LATENT_SEED = 0
MEAN_LATENT_SAMPLES = 10000  # the scripts' --truncation_mean
PARTS = ("shape", "texture", "both")
COARSE = "coarse"  # pseudo-region: the base_layers codes shared by every foreground class
NOISE_MODES = ("const", "random", "none")


def check_seed(value: Any, name: str = "seed") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= MAX_SEED:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_SEED}, got {value!r}")
    return int(value)


def _check_psi(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not -2.0 <= value <= 2.0:
        raise ValueError(f"truncation_psi must be a number between -2 and 2 (1: none, 0.7: the official default), "
                         f"got {value!r}")
    return float(value)


@dataclass
class SemanticSample:
    """One generated picture: the image, its class map (H x W ids into ``class_names``), the class map in the
    palette's colours, and the image with that map blended over it."""

    image: Image.Image
    classes: np.ndarray
    mask: Image.Image
    overlay: Image.Image


class SemanticStyleGANInference:
    """Generation, class maps and region-wise latent editing for a compositional generator."""

    # ---- latents ----------------------------------------------------------------------------------------

    def seed_z(self, seeds: Sequence[int]) -> Tensor:
        """z of each seed, [N, style_dim] float32 on the model's device (see the module notes)."""
        z = [torch.randn(1, self.style_dim, generator=torch.Generator().manual_seed(check_seed(s))) for s in seeds]
        return torch.cat(z).to(self.device)

    @torch.no_grad()
    def mean_latent(self) -> Tensor:
        """The truncation centre: mean of ``style(z)`` over 10000 draws (fixed seed), [style_dim] float32."""
        key = (str(self.device), self.dtype, self._weights_version())
        cached = self.__dict__.get("_mean_latent")
        if cached is None or cached[0] != key:
            g = torch.Generator().manual_seed(MEAN_LATENT_SEED)
            z = torch.randn(MEAN_LATENT_SAMPLES, self.style_dim, generator=g).to(self.device)
            self.__dict__["_mean_latent"] = (key, self.mapping(z).float().mean(0))
        return self.__dict__["_mean_latent"][1]

    def _weights_version(self) -> tuple[int, ...]:
        # in-place updates (training, load_state_dict) bump the tensors' version counters
        return tuple(p._version for p in self.mapping_network.parameters())

    @torch.no_grad()
    def latents(self, items: Sequence[Any], *, truncation_psi: float = 0.7) -> Tensor:
        """W+ codes [N, n_latent, style_dim] of seeds (mapped, truncated as generate.py) or given latents."""
        psi = _check_psi(truncation_psi)
        out: list[Tensor | None] = [None] * len(items)
        seeds = [(i, s) for i, s in enumerate(items) if not isinstance(s, Tensor)]
        if seeds:
            # one seed at a time: a seed's code does not depend on what else is in the batch (matmul
            # blocking can change the last bits with the batch size)
            w = torch.cat([self.mapping(self.seed_z([s])).float() for _, s in seeds])
            if psi != 1:
                mean = self.mean_latent()
                w = psi * w + (1 - psi) * mean.unsqueeze(0)
            for k, (i, _) in enumerate(seeds):
                out[i] = w[k].unsqueeze(0).repeat(self.n_latent, 1)
        for i, item in enumerate(items):
            if isinstance(item, Tensor):
                t = item.detach().to(self.device, torch.float32)
                if t.shape in ((self.style_dim,), (1, self.style_dim)):
                    t = t.reshape(1, -1).repeat(self.n_latent, 1)
                if t.ndim == 3 and t.shape[0] == 1:
                    t = t[0]
                if t.shape != (self.n_latent, self.style_dim):
                    raise ValueError(f"a latent must be a seed, a W vector [{self.style_dim}] or a W+ code "
                                     f"[{self.n_latent}, {self.style_dim}]; got a tensor of shape {list(item.shape)}")
                if not torch.isfinite(t).all():
                    raise ValueError("a latent holds NaN or infinite values")
                out[i] = t
        return torch.stack(out)

    def latent_layout(self) -> dict[str, Any]:
        """Which W+ rows drive what: ``coarse`` (shared by the foreground classes' first layers) and, per class
        name, its ``shape`` and ``texture`` rows; ``expanded`` gives each class's slice of the expanded latent
        (one code per local-generator layer) and which of those layers are shape and texture layers."""
        gen = self.generator
        b, L, dl = gen.base_layers, gen.local_layers, gen.depth_layers
        regions = {name: {"shape": b + 2 * k, "texture": b + 2 * k + 1} for k, name in enumerate(self.class_names)}
        expanded = {name: {"rows": [k * L, (k + 1) * L], "shape_layers": [0, dl], "texture_layers": [dl, L],
                           "coarse_layers": [0, b] if k > 0 else [0, 0]}
                    for k, name in enumerate(self.class_names)}
        return {"n_latent": self.n_latent, "coarse": list(range(b)), "regions": regions, "expanded": expanded}

    def _region_ids(self, regions: str | Sequence[str]) -> list[int]:
        if isinstance(regions, str):
            regions = [regions]
        if not isinstance(regions, (list, tuple)) or not regions:
            raise ValueError(f"regions must be a non-empty list of class names, got {regions!r}")
        ids = []
        for r in regions:
            if r == COARSE and COARSE not in self.class_names:
                ids.append(-1)
                continue
            if r not in self.class_names:
                raise ValueError(f"unknown region {r!r}; this model's regions: {', '.join(self.class_names)} "
                                 f"(and {COARSE!r}, the codes shared by all foreground classes)")
            ids.append(self.class_names.index(r))
        return sorted(set(ids))

    def _rows(self, regions: str | Sequence[str], part: str) -> list[int]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        b = self.generator.base_layers
        rows = []
        for k in self._region_ids(regions):
            if k < 0:  # the shared coarse codes drive the layout: they are shape codes
                if part == "texture":
                    raise ValueError(f"the {COARSE!r} codes shape every foreground region's layout and have no "
                                     "texture part: use part='shape' or 'both' for them")
                rows.extend(range(b))
                continue
            if part in ("shape", "both"):
                rows.append(b + 2 * k)
            if part in ("texture", "both"):
                rows.append(b + 2 * k + 1)
        return rows

    @torch.no_grad()
    def edit_latent(self, latent: Any, regions: str | Sequence[str], source: Any, *, part: str = "both",
                    truncation_psi: float = 0.7) -> Tensor:
        """W+ [n_latent, D] of ``latent`` with the ``part`` code(s) of ``regions`` taken from ``source``
        (a seed: resampling; or another latent: copying). The region ``"coarse"`` names the shared coarse
        codes (rows ``0 .. base_layers-1``)."""
        rows = self._rows(regions, part)
        base, src = self.latents([latent, source], truncation_psi=truncation_psi)
        out = base.clone()
        out[rows] = src[rows]
        return out

    # ---- synthesis --------------------------------------------------------------------------------------

    def synthesize(self, wplus: Tensor, *, noise_mode: str = "const", seeds: Sequence[int] | None = None,
                   composition_mask: Tensor | None = None) -> dict[str, Tensor]:
        """W+ [N, n_latent, D] -> ``rgb`` [N, 3, H, W] clamped to [-1, 1], ``seg`` logits [N, C, H, W] and
        ``seg_coarse`` [N, C, cs, cs], under the chosen inference path. ``noise_mode="random"`` draws image
        k's noise from ``torch.Generator().manual_seed(seeds[k])`` (on the CPU: the same maps everywhere)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
        noise = None
        if noise_mode == "random":
            seeds = list(range(len(wplus))) if seeds is None else list(seeds)
            maps = []
            for s in seeds:
                g = torch.Generator().manual_seed(check_seed(s))
                maps.append([torch.randn((1, *shape), generator=g) for shape in self.noise_shapes()])
            noise = [torch.cat(layer).to(self.device) for layer in zip(*maps)]

        def run() -> dict[str, Tensor]:
            with torch.inference_mode(), self.autocast():
                out = self.synthesis(wplus, noise_mode="const" if noise is not None else noise_mode, noise=noise,
                                     composition_mask=composition_mask)
            return {"rgb": out["rgb"].float().clamp(-1, 1), "seg": out["seg"].float(),
                    "seg_coarse": out["seg_coarse"].float()}

        key = ("synthesis", tuple(wplus.shape), noise_mode, composition_mask is not None)
        return self.run_inference(key, run)

    # ---- post-processing (visualize/utils.py) ---------------------------------------------------------------

    @staticmethod
    def image_array(rgb: Tensor) -> np.ndarray:
        """[N, 3, H, W] in ~[-1, 1] -> uint8 [N, H, W, 3]: clamp, * 127.5 + 127.5, truncate (tensor2image)."""
        x = rgb.detach().float().cpu().clamp(-1, 1).permute(0, 2, 3, 1).numpy()
        return (x * 127.5 + 127.5).astype(np.uint8)

    @staticmethod
    def class_map(seg: Tensor) -> np.ndarray:
        """Segmentation logits [N, C, H, W] -> class ids [N, H, W] (argmax; first class on ties)."""
        return seg.detach().float().argmax(1).cpu().numpy().astype(np.int64)

    def colorize(self, seg: Tensor | np.ndarray) -> np.ndarray:
        """Logits [N, C, H, W] (or class ids [N, H, W]) -> uint8 [N, H, W, 3] in the palette (tensor2seg)."""
        ids = self.class_map(seg) if isinstance(seg, Tensor) else np.asarray(seg)
        palette = np.asarray(self.palette, dtype=np.uint8)
        return palette[ids]

    def _samples(self, out: dict[str, Tensor], alpha: float = 0.5) -> list[SemanticSample]:
        images, ids = self.image_array(out["rgb"]), self.class_map(out["seg"])
        colours = self.colorize(ids)
        samples = []
        for img, cls, col in zip(images, ids, colours):
            blend = (img.astype(np.float32) * (1 - alpha) + col.astype(np.float32) * alpha).round().astype(np.uint8)
            samples.append(SemanticSample(Image.fromarray(img), cls.astype(np.uint8), Image.fromarray(col),
                                          Image.fromarray(blend)))
        return samples

    # ---- user API -------------------------------------------------------------------------------------------

    @staticmethod
    def _seeds(seeds: Any) -> list[int]:
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            seeds = [seeds]
        if not isinstance(seeds, (list, tuple, range)) or not seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
        if len(seeds) > MAX_IMAGES:
            raise ValueError(f"at most {MAX_IMAGES} seeds per call, got {len(seeds)}")
        return [check_seed(s) for s in seeds]

    def generate(self, seeds: int | Sequence[int], truncation_psi: float = 0.7,
                 noise_mode: str = "const") -> list[SemanticSample]:
        """One :class:`SemanticSample` per seed (generate.py's defaults: psi 0.7, fixed noise)."""
        seeds = self._seeds(seeds)
        out = self.synthesize(self.latents(seeds, truncation_psi=truncation_psi), noise_mode=noise_mode, seeds=seeds)
        return self._samples(out)

    def edit(self, latent: Any, regions: str | Sequence[str], source: Any, *, part: str = "both",
             truncation_psi: float = 0.7, noise_mode: str = "const") -> list[SemanticSample]:
        """[original, edited]: ``latent`` (a seed or W/W+ code) before and after taking the ``part``
        (``"shape"``, ``"texture"`` or ``"both"``) code(s) of ``regions`` (class names) from ``source``
        (a seed: resample; a latent: copy from that sample)."""
        if not isinstance(latent, Tensor):
            check_seed(latent, "latent")
        if not isinstance(source, Tensor):
            check_seed(source, "source")
        edited = self.edit_latent(latent, regions, source, part=part, truncation_psi=truncation_psi)
        base = self.latents([latent], truncation_psi=truncation_psi)[0]
        return self._samples(self.synthesize(torch.stack([base, edited]), noise_mode=noise_mode))

    def edit_variations(self, latent: Any, regions: str | Sequence[str], sources: Sequence[Any], *,
                        part: str = "both", truncation_psi: float = 0.7,
                        noise_mode: str = "const") -> list[SemanticSample]:
        """[original, edit from sources[0], edit from sources[1], ...]: the images ``edit(latent, regions, s)``
        gives for each source (the same images with the default fixed noise), rendered as one batch with the
        original once, not once per source; the local generators of the regions left alone then run once for
        the whole batch (their codes are the same). ``noise_mode="random"`` draws image k's noise from seed k."""
        if not isinstance(latent, Tensor):
            check_seed(latent, "latent")
        sources = list(sources)
        if not 1 <= len(sources) < MAX_IMAGES:
            raise ValueError(f"sources must list 1 to {MAX_IMAGES - 1} seeds or latents, got {len(sources)}")
        for s in sources:
            if not isinstance(s, Tensor):
                check_seed(s, "source")
        edited = [self.edit_latent(latent, regions, s, part=part, truncation_psi=truncation_psi) for s in sources]
        base = self.latents([latent], truncation_psi=truncation_psi)[0]
        return self._samples(self.synthesize(torch.stack([base, *edited]), noise_mode=noise_mode))

    def interpolate_region(self, latent: Any, regions: str | Sequence[str], target: Any, steps: int = 8, *,
                           part: str = "both", truncation_psi: float = 0.7,
                           noise_mode: str = "const") -> list[SemanticSample]:
        """``steps`` frames moving the ``part`` code(s) of ``regions`` linearly from ``latent``'s to
        ``target``'s (a seed or latent); every other code stays ``latent``'s (the paper's local
        interpolation)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_IMAGES:
            raise ValueError(f"steps must be an integer from 2 to {MAX_IMAGES}, got {steps!r}")
        rows = self._rows(regions, part)
        base, tgt = self.latents([latent, target], truncation_psi=truncation_psi)
        t = torch.linspace(0, 1, steps, device=base.device).view(-1, 1, 1)
        frames = base.unsqueeze(0).repeat(steps, 1, 1)
        frames[:, rows] = base[rows] + t * (tgt[rows] - base[rows])
        return self._samples(self.synthesize(frames, noise_mode=noise_mode))

    def components(self, latent: Any, *, truncation_psi: float = 0.7,
                   noise_mode: str = "const") -> list[tuple[str, SemanticSample]]:
        """The paper's component figure (generate_components.py): the background alone, then each class
        added in turn; ``(class name added, sample)`` pairs."""
        w = self.latents([latent], truncation_psi=truncation_psi)
        k = self.seg_dim
        mask = torch.tril(torch.ones(k, k, device=self.device))  # row r: classes 0..r
        out = self.synthesize(w.repeat(k, 1, 1), noise_mode=noise_mode, composition_mask=mask)
        return list(zip(self.class_names, self._samples(out)))
