"""StyleGAN / StyleGAN2 inference: the methods a user calls on a :class:`StyleGAN` or :class:`StyleGAN2`.

Two lines for a user::

    model = hubmodels.load("hubmodels/stylegan2-synthfaces")
    faces = model.generate([0, 1, 2], truncation_psi=0.7)          # PIL images, one per seed

:class:`StyleGANInference` is a mixin holding no weights. It relies on the generation contract both model
classes implement: ``z_dim, w_dim, c_dim, num_ws, img_resolution``, ``mapping_network.w_avg``,
``mapping(z, c, truncation_psi=, truncation_cutoff=)``, ``synthesis(ws, noise_mode=, generator=, noise=)`` and
``noise_shapes()``.

* Seeds are the official ones: ``z`` of seed ``s`` is ``np.random.RandomState(s).randn(z_dim)``, as
  stylegan2-ada's ``generate.py`` and ``style_mixing.py`` draw it, so seed 85 of a converted FFHQ model is the
  face those scripts make. ``noise_mode="random"`` draws each image's noise from ``torch.Generator``
  seeded with its seed: an image depends on its seed only, not on the batch.
* A *latent* is anything the generator can be driven by: an int seed (mapped, then truncated), a W vector
  ``[w_dim]`` or a W+ code ``[num_ws, w_dim]`` (used as given: what :meth:`project` returns). Style mixing and
  interpolation take latents, so a projected photo mixes and morphs like a seed.
* Layer groups (:meth:`layer_groups`), as the paper's Figure 3: ``coarse`` the layers at 4-8 px (pose, face
  shape), ``middle`` 16-32 px (features, hair style), ``fine`` 64 px and above (colour scheme, micro detail);
  models under 64 px split their own resolutions in three the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..images import Preprocess, get_policy, image_grid, preprocess, to_pil

__all__ = ["StyleGANInference", "Projection", "NOISE_MODES", "MAX_SEED", "MAX_IMAGES", "check_seed"]

NOISE_MODES = ("const", "random", "none")
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds below 2**32
MAX_IMAGES = 64  # per call; beyond this a request is almost certainly a mistake
# stylegan2-ada's projector: the largest centred square, Lanczos-resized to the generator's size.
PROJECTION_POLICY = Preprocess(size=1024, resize="center_crop_resize", crop_size=None, interpolation="lanczos")
GROUP_RESOLUTIONS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 20)}



def check_seed(value: Any, name: str = "seed") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= MAX_SEED:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_SEED}, got {value!r}")
    return int(value)


def _check_psi(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"truncation_psi must be a finite number (1: no truncation, 0.7: the usual), got {value!r}")
    if not -2.0 <= value <= 2.0:
        raise ValueError(f"truncation_psi must be between -2 and 2 (1: no truncation), got {value!r}")
    return float(value)


def _check_count(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


@dataclass
class Projection:
    """What :meth:`StyleGANInference.project` found: the latent (``[num_ws, w_dim]``; all rows equal
    unless ``w_plus``), the noise maps, the image they make, and the distance at each step."""

    latent: Tensor
    noise: list[Tensor]
    image: Image.Image
    target: Image.Image
    losses: list[float] = field(default_factory=list)
    distance: str = "pixels"


class StyleGANInference:
    """Generation, style mixing, interpolation and projection for a style-based generator."""

    # ---- latents ----------------------------------------------------------------------------------------

    def seed_z(self, seeds: Sequence[int]) -> Tensor:
        """The official z of each seed, [N, z_dim] float32 on the model's device."""
        z = np.stack([np.random.RandomState(check_seed(s)).randn(self.z_dim) for s in seeds])
        return torch.from_numpy(z).to(device=self.device, dtype=torch.float32)

    def class_vector(self, class_label: int | None, n: int) -> Tensor | None:
        """One-hot labels [n, c_dim] for a conditional model (None for an unconditional one)."""
        if self.c_dim == 0:
            if class_label is not None:
                raise ValueError(f"this model is unconditional: class_label must be None, got {class_label!r}")
            return None
        if isinstance(class_label, bool) or not isinstance(class_label, int) or not 0 <= class_label < self.c_dim:
            names = getattr(self, "class_names", None)
            known = f" ({', '.join(f'{i}: {c}' for i, c in enumerate(names))})" if names else ""
            raise ValueError(f"this model is class-conditional: class_label must be an integer from 0 to "
                             f"{self.c_dim - 1}{known}, got {class_label!r}")
        c = torch.zeros(n, self.c_dim, device=self.device)
        c[:, class_label] = 1
        return c

    @torch.no_grad()
    def latents(self, items: Sequence[Any], *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                class_label: int | None = None) -> Tensor:
        """W+ codes [N, num_ws, w_dim] of seeds (mapped and truncated) or given latents (used as given)."""
        psi = _check_psi(truncation_psi)
        out: list[Tensor | None] = [None] * len(items)
        seeds = [(i, s) for i, s in enumerate(items) if not isinstance(s, (Tensor, Projection))]
        if seeds:
            z = self.seed_z([s for _, s in seeds])
            ws = self.mapping(z, self.class_vector(class_label, len(seeds)), truncation_psi=psi,
                              truncation_cutoff=truncation_cutoff).float()
            for k, (i, _) in enumerate(seeds):
                out[i] = ws[k]
        items = [item.latent if isinstance(item, Projection) else item for item in items]
        for i, item in enumerate(items):
            if isinstance(item, Tensor):
                t = item.detach().to(self.device, torch.float32)
                if t.shape == (self.w_dim,) or t.shape == (1, self.w_dim):
                    t = t.reshape(1, self.w_dim).repeat(self.num_ws, 1)
                if t.ndim == 3 and t.shape[0] == 1:
                    t = t[0]
                if t.shape != (self.num_ws, self.w_dim):
                    raise ValueError(f"a latent must be a seed, a W vector [{self.w_dim}] or a W+ code "
                                     f"[{self.num_ws}, {self.w_dim}]; got a tensor of shape {list(item.shape)}")
                if not torch.isfinite(t).all():
                    raise ValueError("a latent holds NaN or infinite values")
                out[i] = t
        return torch.stack(out) if out else torch.zeros(0, self.num_ws, self.w_dim, device=self.device)

    def layer_groups(self) -> dict[str, list[int]]:
        """Layer indices of each group. From 64 px up, the paper's bands: ``coarse`` the layers at 4-8 px,
        ``middle`` 16-32 px, ``fine`` 64 px and above. A smaller model has no 64 px layer, so its resolutions
        are split in three instead (the lowest, the highest, the rest: at 32 px coarse 4, middle 8-16, fine 32),
        and every group keeps its meaning (layout, features, colour) on any size."""
        res = self._layer_resolutions()
        if self.img_resolution >= 64:
            bands = GROUP_RESOLUTIONS
        else:
            levels = sorted(set(res))
            third = max(1, round(len(levels) / 3))
            low, high = levels[third - 1], levels[len(levels) - third] if len(levels) > 1 else 1 << 20
            bands = {"coarse": (4, low), "middle": (low + 1, high - 1), "fine": (high, 1 << 20)}
        return {g: [i for i, r in enumerate(res) if lo <= r <= hi] for g, (lo, hi) in bands.items()}

    def _layer_resolutions(self) -> list[int]:
        # Both architectures give two ws per resolution from 4 px up: v1 uses ws[2k], ws[2k+1] at 4 * 2**k;
        # StyleGAN2 has conv1 at 4 px (ws[0]) and ToRGB ws[1], then conv0/conv1 at each higher resolution
        # (ws[2k-1], ws[2k]) plus the last ToRGB: index i drives 4 * 2 ** (i // 2) in both, to one layer.
        return [min(4 * 2 ** (i // 2), self.img_resolution) for i in range(self.num_ws)]

    def _styles(self, styles: str | Sequence[int]) -> list[int]:
        groups = self.layer_groups()
        if isinstance(styles, str):
            picked: list[int] = []
            for name in styles.replace("+", ",").split(","):
                name = name.strip()
                if name not in groups:
                    raise ValueError(f"unknown layer group {name!r}; accepted: coarse, middle, fine (or a list "
                                     f"of layer indices 0-{self.num_ws - 1})")
                picked += groups[name]
            return sorted(set(picked))
        layers = list(styles)
        if not layers or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_ws
                             for i in layers):
            raise ValueError(f"styles must be layer indices from 0 to {self.num_ws - 1}, got {styles!r}")
        return sorted(set(layers))

    # ---- synthesis --------------------------------------------------------------------------------------

    def synthesize(self, ws: Tensor, *, noise_mode: str = "const", seeds: Sequence[int] | None = None) -> Tensor:
        """ws [N, num_ws, w_dim] -> images [N, C, H, W] in [-1, 1] (clamped), under the chosen inference path.

        ``noise_mode="random"`` draws image k's noise from ``torch.Generator().manual_seed(seeds[k])``
        (default: seeds 0..N-1), on the CPU so the maps are the same on every device."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
        noise = None
        if noise_mode == "random":
            seeds = list(range(len(ws))) if seeds is None else list(seeds)
            maps: list[list[Tensor]] = []
            for s in seeds:
                g = torch.Generator().manual_seed(check_seed(s))
                maps.append([torch.randn((1, *shape), generator=g) for shape in self.noise_shapes()])
            noise = [torch.cat(layer).to(self.device) for layer in zip(*maps)]

        def run() -> Tensor:
            with torch.inference_mode(), self.autocast():
                img = self.synthesis(ws, noise_mode=noise_mode if noise is None else "const", noise=noise)
            return img.float().clamp(-1, 1)

        return self.run_inference(("synthesis", tuple(ws.shape), noise_mode), run)

    def generate_tensor(self, seeds: Sequence[int], *, truncation_psi: float = 1.0,
                        truncation_cutoff: int | None = None, noise_mode: str = "const",
                        class_label: int | None = None) -> Tensor:
        """Images [N, C, H, W] in [-1, 1], one per seed."""
        seeds = self._seeds(seeds)
        ws = self.latents(seeds, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          class_label=class_label)
        return self.synthesize(ws, noise_mode=noise_mode, seeds=seeds)

    def generate(self, seeds: int | Sequence[int], truncation_psi: float = 1.0, noise_mode: str = "const",
                 class_label: int | None = None, *, truncation_cutoff: int | None = None) -> list[Image.Image]:
        """One PIL image per seed (``generate.py``'s defaults: psi 1, const noise). ``truncation_cutoff``
        truncates only the first layers (StyleGAN's original trick used 8 of 18)."""
        seeds = [seeds] if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool) else seeds
        return to_pil(self.generate_tensor(seeds, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                           noise_mode=noise_mode, class_label=class_label))

    @staticmethod
    def _seeds(seeds: Any) -> list[int]:
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            seeds = [seeds]
        if not isinstance(seeds, (list, tuple, range)) or not seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
        if len(seeds) > MAX_IMAGES:
            raise ValueError(f"at most {MAX_IMAGES} seeds per call, got {len(seeds)}")
        return [check_seed(s) for s in seeds]

    # ---- style mixing -----------------------------------------------------------------------------------

    def style_mixing(self, row_latents: Sequence[Any], col_latents: Sequence[Any],
                     styles: str | Sequence[int] = "coarse", *, truncation_psi: float = 1.0,
                     noise_mode: str = "const", class_label: int | None = None,
                     padding: int = 2) -> Image.Image:
        """The paper's mixing figure (``style_mixing.py``): the first row holds the column latents' images, the
        first column the row latents'; cell (r, c) is row r's latent with the ``styles`` layers taken from
        column c. ``styles``: ``"coarse"``, ``"middle"``, ``"fine"`` (or ``"coarse+middle"``) or indices."""
        rows, cols = list(row_latents), list(col_latents)
        for name, items in (("row", rows), ("column", cols)):
            if not 1 <= len(items) <= 8:
                raise ValueError(f"style mixing takes 1 to 8 {name} latents, got {len(items)}")
        layers = self._styles(styles)
        ws = self.latents(rows + cols, truncation_psi=truncation_psi, class_label=class_label)
        row_ws, col_ws = ws[:len(rows)], ws[len(rows):]
        mixed = row_ws[:, None].repeat(1, len(cols), 1, 1)
        mixed[:, :, layers] = col_ws[None, :, layers]
        seed_of = [s if isinstance(s, (int, np.integer)) else 0 for s in rows + cols]
        all_ws = torch.cat([row_ws, col_ws, mixed.reshape(-1, self.num_ws, self.w_dim)])
        seeds = seed_of + [seed_of[r] for r in range(len(rows)) for _ in cols]
        images = to_pil(self.synthesize(all_ws, noise_mode=noise_mode, seeds=seeds))
        row_imgs, col_imgs = images[:len(rows)], images[len(rows):len(rows) + len(cols)]
        cells = images[len(rows) + len(cols):]
        blank = Image.new("RGB", row_imgs[0].size, (255, 255, 255))
        grid = [blank, *col_imgs]
        for r in range(len(rows)):
            grid += [row_imgs[r], *cells[r * len(cols):(r + 1) * len(cols)]]
        return image_grid(grid, nrow=len(cols) + 1, padding=padding)

    # ---- interpolation ----------------------------------------------------------------------------------

    def interpolate(self, start: Any, end: Any, steps: int = 8, *, truncation_psi: float = 1.0,
                    noise_mode: str = "const", class_label: int | None = None) -> list[Image.Image]:
        """``steps`` frames of a straight walk in W (W+ for projected codes) from ``start`` to ``end`` (seeds or
        latents), both ends included: the first frame is ``start``'s image, the last ``end``'s."""
        _check_count("steps", steps, 2, 240)
        ends = self.latents([start, end], truncation_psi=truncation_psi, class_label=class_label)
        t = torch.linspace(0, 1, steps, device=ends.device).view(-1, 1, 1)
        ws = torch.lerp(ends[0:1], ends[1:2], t)
        seed = start if isinstance(start, int) else 0
        frames: list[Image.Image] = []
        for chunk in ws.split(16):
            frames += to_pil(self.synthesize(chunk, noise_mode=noise_mode, seeds=[seed] * len(chunk)))
        return frames

    @staticmethod
    def save_animation(frames: Sequence[Image.Image], path: str | Path, *, fps: int = 12,
                       boomerang: bool = True) -> Path:
        """Frames to a looping GIF (``.gif``) or an MP4 (``.mp4``, needs ``imageio`` with ffmpeg).
        ``boomerang`` plays the walk back, so the loop has no jump."""
        path = Path(path)
        frames = list(frames) + (list(frames)[-2:0:-1] if boomerang else [])
        if not frames:
            raise ValueError("no frames to save")
        if path.suffix.lower() == ".gif":
            frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
        elif path.suffix.lower() == ".mp4":
            try:
                import imageio.v2 as imageio
            except ImportError as err:
                raise RuntimeError("writing MP4 needs `pip install imageio[ffmpeg]`; GIF needs nothing") from err
            imageio.mimwrite(path, [np.asarray(f) for f in frames], fps=fps)
        else:
            raise ValueError(f"unknown animation format {path.suffix!r}; accepted: .gif, .mp4")
        return path

    # ---- projection -------------------------------------------------------------------------------------

    def project(self, image: Any, steps: int = 1000, *, w_plus: bool = False, distance: str | Callable = "auto",
                seed: int = 0, w_avg_samples: int = 10000, initial_learning_rate: float = 0.1,
                initial_noise_factor: float = 0.05, lr_rampdown_length: float = 0.25,
                lr_rampup_length: float = 0.05, noise_ramp_length: float = 0.75,
                regularize_noise_weight: float = 1e5, class_label: int | None = None,
                progress: bool = True) -> Projection:
        """Find the latent that reproduces ``image`` (stylegan2-ada's ``projector.py``, its defaults).

        Optimises W (``w_plus``: one w per layer, closer fits, less editable) and the noise maps with Adam
        under a learning-rate ramp, perturbing w by a decaying fraction of the spread of W, with the noise
        autocorrelation penalty. ``distance``: ``"vgg16"`` (the LPIPS-style distance of the official projector,
        from torchvision VGG16 weights given by ``HUBMODELS_VGG16_WEIGHTS``), ``"pixels"`` (mean squared error
        on the image and on 2x and 4x downsampled copies: needs no weights, recovers generated images well,
        real photos less so), ``"auto"`` (vgg16 when its weights are there) or a callable
        ``(synth [N,3,H,W] in [-1,1], target) -> per-image distance``. Runs in fp32 whatever the inference path.
        """
        from .projection import projection_distance

        _check_count("steps", steps, 1, 10000)
        _check_count("w_avg_samples", w_avg_samples, 2, 100000)
        dist_name, dist = projection_distance(distance)
        policy = get_policy(PROJECTION_POLICY, self.img_resolution)
        target = preprocess(image, policy, device=self.device)
        if len(target) != 1:
            raise ValueError(f"project takes one image, got {len(target)}")
        target_img = to_pil(target)[0]
        if target.shape[1] != self.img_channels:
            target = target.mean(1, keepdim=True) if self.img_channels == 1 else target[:, :self.img_channels]

        was_training = self.training
        # Only the latent and the noise maps are optimised: the weights stay out of autograd, so no gradient
        # buffers pile up on a model a Space shares between users.
        frozen = [p for p in self.parameters() if p.requires_grad]
        self.eval()
        for p in frozen:
            p.requires_grad_(False)
        try:
            with torch.no_grad():
                z = torch.from_numpy(np.random.RandomState(123).randn(w_avg_samples, self.z_dim)).float()
                c = self.class_vector(class_label, w_avg_samples)
                w_samples = self.mapping(z.to(self.device), c)[:, 0].float()
                w_avg = w_samples.mean(0, keepdim=True)
                w_std = float(((w_samples - w_avg).square().sum() / w_avg_samples) ** 0.5)
            gen = torch.Generator().manual_seed(check_seed(seed))
            w_opt = (w_avg.repeat(self.num_ws, 1) if w_plus else w_avg).clone().requires_grad_(True)
            noise = [torch.randn((1, *s), generator=gen).to(self.device).requires_grad_(True)
                     for s in self.noise_shapes()]
            opt = torch.optim.Adam([w_opt, *noise], betas=(0.9, 0.999), lr=initial_learning_rate)
            losses: list[float] = []
            bar = _progress(steps, progress)
            for step in range(steps):
                t = step / steps
                w_noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2
                lr_ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
                lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
                lr_ramp *= min(1.0, t / lr_rampup_length)
                for group in opt.param_groups:
                    group["lr"] = initial_learning_rate * lr_ramp
                w_noise = torch.randn(w_opt.shape, generator=gen).to(self.device) * w_noise_scale
                ws = (w_opt + w_noise).reshape(1, -1, self.w_dim).expand(1, self.num_ws, self.w_dim)
                synth = self.synthesis(ws, noise=noise).float()
                d = dist(synth, target).sum()
                loss = d + regularize_noise_weight * _noise_regularisation(noise)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(d.item())
                with torch.no_grad():  # the official keeps each noise map at zero mean, unit variance
                    for n in noise:
                        n -= n.mean()
                        n *= n.square().mean().rsqrt()
                if bar is not None:
                    bar.set_postfix(dist=f"{losses[-1]:.4f}")
                    bar.update()
            if bar is not None:
                bar.close()
            with torch.no_grad():
                latent = w_opt.detach().reshape(-1, self.w_dim).expand(self.num_ws, self.w_dim).clone()
                noise_out = [n.detach().clone() for n in noise]
                out = self.synthesis(latent[None], noise=noise_out).float().clamp(-1, 1)
        finally:
            self.train(was_training)
            for p in frozen:
                p.requires_grad_(True)
        return Projection(latent=latent, noise=noise_out, image=to_pil(out)[0], target=target_img, losses=losses,
                          distance=dist_name)


def _noise_regularisation(noise: Sequence[Tensor]) -> Tensor:
    """Squared autocorrelation of each noise map at shift 1 in x and y, on a pyramid down to 8x8: large when
    the optimiser hides image content in the noise (the official projector's penalty)."""
    reg = noise[0].new_zeros(())
    for n in noise:
        v = n[None] if n.ndim == 3 else n
        while True:
            reg = reg + (v * torch.roll(v, 1, dims=3)).mean() ** 2 + (v * torch.roll(v, 1, dims=2)).mean() ** 2
            if v.shape[2] <= 8:
                break
            v = F.avg_pool2d(v, 2)
    return reg


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="project", unit="step")
