"""StarGAN v2 inference: the methods a user calls on a :class:`~hubmodels.stargan_v2.StarGANv2`.

Two lines for a user::

    model = hubmodels.load("hubmodels/stargan-v2-synthfaces")
    images = model.latent_guided("cat.png", "dog", num_samples=4, seed=0)

:class:`StarGANv2Inference` is a mixin: it holds no weights and imports nothing of the model class, so
``StarGANv2`` inherits it without an import cycle. It expects the networks ``generator``,
``mapping_network``, ``style_encoder`` (and ``fan`` for high-pass models) and the attributes
``img_size``, ``latent_dim``, ``num_domains``, ``domains``, ``w_hpf``.

Inputs are anything ``hubmodels.images.load_image`` accepts (path, PIL, numpy, tensor) or a list of them,
preprocessed like the official test loader (resize to ``img_size``, range [-1, 1]). Latent codes are drawn
per sample from ``torch.Generator().manual_seed(seed + k)``, so a sample's result depends only on its seed,
not on batch size or device.

High-pass models (``w_hpf > 0``, CelebA-HQ) take face masks: from FAN when the model carries it, else the
caller passes ``masks=(mask_full, mask_inner)`` (each (N, 1, H, W) in [0, 1], as FAN's ``get_heatmap``).
"""
from __future__ import annotations

import operator
from typing import Any, Sequence

import torch
from PIL import Image
from torch import Tensor

from ..images import get_policy, preprocess, to_pil
from .configs import PREPROCESS

__all__ = ["StarGANv2Inference", "MAX_SAMPLES", "AVG_STYLE_LATENTS", "Masks"]

MAX_SAMPLES = 64  # per source image; beyond this a request is almost certainly a mistake
AVG_STYLE_LATENTS = 10000  # as the official translate_using_latent
Masks = tuple[Tensor, Tensor]


def _is_batch(images: Any) -> bool:
    return isinstance(images, (list, tuple))


def check_count(name: str, value: Any, low: int = 1, high: int = MAX_SAMPLES) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def check_psi(psi: Any) -> float:
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 <= float(psi) <= 2.0:
        raise ValueError(f"psi (truncation) must be a number from 0 to 2 (1: no truncation), got {psi!r}")
    return float(psi)


def _format(out: Tensor, *, batch: bool, output: str) -> Any:
    if output == "tensor":
        return out
    if output != "pil":
        raise ValueError(f"output must be 'pil' or 'tensor', got {output!r}")
    per_source: list[list[Image.Image]] = [to_pil(o) for o in out]
    return per_source if batch else per_source[0]


def _weights_stamp(module: torch.nn.Module) -> tuple:
    # In-place loads (load_state_dict) bump _version; .to() moves storage (data_ptr): either makes
    # a cached value computed from the old weights stale.
    return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in module.parameters())


class StarGANv2Inference:
    """Latent- and reference-guided translation, interpolation, and the pieces they are built from."""

    # ---- pieces ------------------------------------------------------------------------------

    def domain_index(self, domain: int | str) -> int:
        """Index of a domain given by name or index."""
        if isinstance(domain, str):
            if domain not in self.domains:
                raise ValueError(f"unknown domain {domain!r}; this model knows {self.domains}")
            return self.domains.index(domain)
        try:
            index = operator.index(domain)  # ints, numpy ints, 0-d integer tensors; not floats
        except TypeError:
            index = None
        if isinstance(domain, bool) or index is None or not 0 <= index < self.num_domains:
            raise ValueError(f"domain {domain!r} is out of range: give a name in {self.domains} or an index "
                             f"0..{self.num_domains - 1}")
        return index

    def get_masks(self, x: Tensor) -> Masks | None:
        """FAN face masks for images in [-1, 1] when the generator uses high-pass skips, else None."""
        if self.w_hpf <= 0:
            return None
        fan = getattr(self, "fan", None)
        if fan is None:
            raise ValueError(
                f"this model uses high-pass face masks (w_hpf={self.w_hpf}) but was converted without the FAN "
                "weights: pass masks=(mask_full, mask_inner) (each (N, 1, H, W) in [0, 1]), or convert it again "
                "with the official wing.ckpt (from_official(nets_ema, 'wing.ckpt'))")
        return fan.get_heatmap(x)

    def prepare(self, images: Any) -> Tensor:
        """(N, 3, S, S) in [-1, 1] on the model's device, from any accepted image input(s)."""
        batch = list(images) if _is_batch(images) else [images]
        if not batch:
            raise ValueError("no images given")
        return preprocess(batch, get_policy(PREPROCESS, size=self.img_size), device=self.device)

    def latent_codes(self, seeds: Sequence[int]) -> Tensor:
        """One z per seed, independent of batch composition."""
        zs = [torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(zs).to(self.device)

    def mean_style(self, domain: int, z_many: Tensor) -> Tensor:
        """Mean mapping-network style of ``domain`` over the latent codes ``z_many``: (1, style_dim)."""
        y = torch.full((z_many.shape[0],), int(domain), dtype=torch.long, device=self.device)

        def run() -> Tensor:
            with torch.inference_mode(), self.autocast():
                return self.mapping_network(z_many.to(self.device, self.dtype), y).float().mean(0, keepdim=True)

        return self.run_inference(("mean_style", tuple(z_many.shape)), run)

    def average_style(self, domain: int | str, *, num: int = AVG_STYLE_LATENTS, seed: int = 0) -> Tensor:
        """The truncation centre of a domain (official: mean over 10000 codes).

        Cached per domain, and recomputed whenever the mapping network's weights change (a new
        ``load_state_dict``, a move to another device or dtype).
        """
        domain = self.domain_index(domain)
        stamp = _weights_stamp(self.mapping_network)
        cache = self.__dict__.get("_avg_style_cache")
        if cache is None or cache[0] != stamp:
            cache = (stamp, {})
            self.__dict__["_avg_style_cache"] = cache
        key = (domain, num, seed, self.compute_dtype)
        if key not in cache[1]:
            z = torch.randn(num, self.latent_dim, generator=torch.Generator().manual_seed(seed))
            cache[1][key] = self.mean_style(domain, z)
        return cache[1][key]

    def style_from_latent(self, domain: int | str, seeds: int | Sequence[int], *, psi: float = 1.0) -> Tensor:
        """Style codes (len(seeds), style_dim) of ``domain`` from the mapping network, truncated by ``psi``."""
        y_index = self.domain_index(domain)
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        psi = check_psi(psi)
        z = self.latent_codes(seeds)
        y = torch.full((len(seeds),), y_index, dtype=torch.long, device=self.device)

        def run() -> Tensor:
            with torch.inference_mode(), self.autocast():
                return self.mapping_network(z.to(self.dtype), y).float()

        s = self.run_inference(("mapping_network", len(seeds)), run)
        if psi != 1.0:
            s = torch.lerp(self.average_style(y_index), s, psi)
        return s

    def style_from_reference(self, references: Any, domain: int | str | Sequence[int | str]) -> Tensor:
        """Style codes of reference image(s) seen as members of ``domain`` (one domain, or one per reference)."""
        x_ref = self.prepare(references)
        domains = list(domain) if _is_batch(domain) else [domain] * x_ref.shape[0]
        if len(domains) != x_ref.shape[0]:
            raise ValueError(f"got {x_ref.shape[0]} reference images but {len(domains)} reference domains")
        y = torch.tensor([self.domain_index(d) for d in domains], dtype=torch.long, device=self.device)

        def run() -> Tensor:
            with torch.inference_mode(), self.autocast():
                return self.style_encoder(x_ref.to(self.dtype), y).float()

        return self.run_inference(("style_encoder", tuple(x_ref.shape)), run)

    def _check_masks(self, masks: Masks | None, n: int) -> Masks | None:
        if masks is None:
            return None
        if self.w_hpf <= 0:
            raise ValueError("masks are only used by high-pass models (w_hpf > 0); this model has w_hpf=0")
        if not _is_batch(masks) or len(masks) != 2 or not all(isinstance(m, Tensor) for m in masks):
            raise ValueError("masks must be a pair of tensors (mask_full, mask_inner), each (N, 1, H, W) in [0, 1]")
        for m in masks:
            if m.dim() != 4 or m.shape[0] != n or m.shape[1] != 1:
                raise ValueError(f"each mask must have shape ({n}, 1, H, W) for {n} source image(s), "
                                 f"got {tuple(m.shape)}")
        return tuple(m.to(self.device, self.dtype) for m in masks)

    # ---- translation ---------------------------------------------------------------------------

    def translate(self, x: Tensor, s: Tensor, *, masks: Masks | None = None, batch_size: int = 16) -> Tensor:
        """Generator on (x[i], s[i]) pairs in chunks; masks from ``x`` when the model uses them. Float32 out."""
        if x.shape[0] != s.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {s.shape[0]} style codes")
        masks = self._check_masks(masks, x.shape[0])

        def run() -> Tensor:
            outs = []
            with torch.inference_mode(), self.autocast():
                for i in range(0, x.shape[0], batch_size):
                    xi = x[i:i + batch_size].to(self.dtype)
                    mi = tuple(m[i:i + batch_size] for m in masks) if masks is not None else self.get_masks(xi)
                    outs.append(self.generator(xi, s[i:i + batch_size].to(self.dtype), masks=mi).float())
            return torch.cat(outs)

        return self.run_inference(("translate", tuple(x.shape), masks is not None), run)

    def translate_styles(self, x: Tensor, s: Tensor, *, masks: Masks | None = None, batch_size: int = 16) -> Tensor:
        """Each source ``x[i]`` with its own ``k`` styles ``s[i*k:(i+1)*k]`` (source-major). Float32 out.

        Same outputs as :meth:`translate` on repeated sources, but the style-free encoder (and FAN) runs once
        per source rather than once per output: at the released sizes a source in 4 styles costs about 2.7
        single translations, not 4.
        """
        n = x.shape[0]
        if n == 0 or s.shape[0] % n:
            raise ValueError(f"{s.shape[0]} style codes do not split evenly over {n} source images")
        k = s.shape[0] // n
        masks = self._check_masks(masks, n)
        gen = self.generator
        per_chunk = max(1, batch_size // k)  # sources encoded together

        def run() -> Tensor:
            outs = []
            with torch.inference_mode(), self.autocast():
                for i in range(0, n, per_chunk):
                    xi = x[i:i + per_chunk].to(self.dtype)
                    mi = tuple(m[i:i + per_chunk] for m in masks) if masks is not None else self.get_masks(xi)
                    content, skips = gen.encode_content(xi, mi)
                    channels_last = content.dim() == 4 and not content.is_contiguous() \
                        and content.is_contiguous(memory_format=torch.channels_last)
                    rows = xi.shape[0] * k
                    for j in range(0, rows, batch_size):
                        src = torch.arange(j, min(rows, j + batch_size), device=content.device) // k

                        def pick(t: Tensor) -> Tensor:
                            t = t.index_select(0, src)
                            return t.contiguous(memory_format=torch.channels_last) if channels_last else t

                        out = gen.decode_styled(pick(content), {size: pick(f) for size, f in skips.items()},
                                                s[i * k + j:i * k + j + src.numel()].to(self.dtype),
                                                None if mi is None else tuple(m.index_select(0, src) for m in mi))
                        outs.append(out.float())
            return torch.cat(outs)

        return self.run_inference(("translate_styles", tuple(x.shape), k, masks is not None), run)

    # ---- what a user calls -----------------------------------------------------------------------

    def latent_guided(self, images: Any, target_domain: int | str, *, num_samples: int = 1, seed: int = 0,
                      psi: float = 1.0, masks: Masks | None = None, output: str = "pil") -> Any:
        """Translate image(s) to ``target_domain`` with ``num_samples`` random styles (seeds seed..seed+n-1).

        One image in: a list of ``num_samples`` PIL images. A list in: one such list per image.
        ``output="tensor"`` returns the (N, num_samples, 3, S, S) tensor in [-1, 1] instead.
        """
        check_count("num_samples", num_samples)
        x = self.prepare(images)
        s = self.style_from_latent(target_domain, [seed + k for k in range(num_samples)], psi=psi)
        n = x.shape[0]
        out = self.translate_styles(x, s.repeat(n, 1), masks=masks)
        return _format(out.view(n, num_samples, *out.shape[1:]), batch=_is_batch(images), output=output)

    def reference_guided(self, images: Any, reference: Any, reference_domain: int | str, *,
                         masks: Masks | None = None, output: str = "pil") -> Any:
        """Translate image(s) into the style of ``reference`` (an image of ``reference_domain``).

        One source and one reference in: one PIL image. Lists in: for every source, a list with one output per
        reference.
        """
        x = self.prepare(images)
        s = self.style_from_reference(reference, reference_domain)
        n, k = x.shape[0], s.shape[0]
        out = self.translate_styles(x, s.repeat(n, 1), masks=masks)
        out = out.view(n, k, *out.shape[1:])
        if output == "tensor":
            return out
        result = _format(out, batch=_is_batch(images), output=output)
        return result if _is_batch(reference) else ([r[0] for r in result] if _is_batch(images) else result[0])

    def interpolate(self, image: Any, target_domain: int | str, *, seed_a: int = 0, seed_b: int = 1,
                    steps: int = 5, psi: float = 1.0, style_a: Tensor | None = None, style_b: Tensor | None = None,
                    masks: Masks | None = None, output: str = "pil") -> Any:
        """Outputs along the straight line between two style codes (from seeds, or given ``style_a``/``style_b``)."""
        check_count("steps", steps, 2, MAX_SAMPLES)
        x = self.prepare(image)
        if x.shape[0] != 1:
            raise ValueError("interpolate takes one source image")
        if style_a is None:
            style_a = self.style_from_latent(target_domain, [seed_a], psi=psi)
        if style_b is None:
            style_b = self.style_from_latent(target_domain, [seed_b], psi=psi)
        w = torch.linspace(0, 1, steps, device=self.device).unsqueeze(1)
        s = torch.lerp(style_a.reshape(1, -1).to(self.device).float(), style_b.reshape(1, -1).to(self.device).float(), w)
        out = self.translate_styles(x, s, masks=masks)
        return out if output == "tensor" else to_pil(out)
