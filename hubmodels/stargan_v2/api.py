"""StarGAN v2 inference: latent-guided and reference-guided translation, style interpolation.

Two lines for a user::

    model = hubmodels.load("hubmodels/stargan-v2-synthfaces")
    images = model.latent_guided("cat.png", "dog", num_samples=4, seed=0)

Inputs are anything ``hubmodels.images.load_image`` accepts (path, PIL, numpy, tensor) or a list of them,
preprocessed like the official test loader (resize to ``img_size``, range [-1, 1]). Latent codes are drawn
per sample from ``torch.Generator().manual_seed(seed + k)``, so a sample's result depends only on its seed,
not on batch size or device.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from PIL import Image
from torch import Tensor

from ..images import get_policy, preprocess, to_pil

if TYPE_CHECKING:
    from .model import StarGANv2

MAX_SAMPLES = 64  # per source image; beyond this a request is almost certainly a mistake
AVG_STYLE_LATENTS = 10000  # as the official translate_using_latent


def _is_batch(images: Any) -> bool:
    return isinstance(images, (list, tuple))


def prepare(model: "StarGANv2", images: Any) -> Tensor:
    """(N, 3, S, S) in [-1, 1] on the model's device, from any accepted image input(s)."""
    batch = list(images) if _is_batch(images) else [images]
    if not batch:
        raise ValueError("no images given")
    return preprocess(batch, get_policy("stargan_v2", size=model.img_size), device=model.device)


def latent_codes(model: "StarGANv2", seeds: Sequence[int]) -> Tensor:
    """One z per seed, independent of batch composition."""
    zs = [torch.randn(model.latent_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(zs).to(model.device)


def mean_style(model: "StarGANv2", domain: int, z_many: Tensor) -> Tensor:
    """Mean mapping-network style of ``domain`` over the latent codes ``z_many``: (1, style_dim)."""
    y = torch.full((z_many.shape[0],), int(domain), dtype=torch.long, device=model.device)
    with torch.inference_mode(), model.autocast():
        return model.mapping_network(z_many.to(model.device, model.dtype), y).float().mean(0, keepdim=True)


def average_style(model: "StarGANv2", domain: int, *, num: int = AVG_STYLE_LATENTS, seed: int = 0) -> Tensor:
    """The truncation centre of a domain (official: mean over 10000 codes), cached per model and domain."""
    cache: dict = model.__dict__.setdefault("_avg_style_cache", {})
    key = (domain, num, seed, model.device, model.dtype)
    if key not in cache:
        z = torch.randn(num, model.latent_dim, generator=torch.Generator().manual_seed(seed))
        cache[key] = mean_style(model, domain, z)
    return cache[key]


def check_count(name: str, value: Any, low: int = 1, high: int = MAX_SAMPLES) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def check_psi(psi: Any) -> float:
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 <= float(psi) <= 2.0:
        raise ValueError(f"psi (truncation) must be a number from 0 to 2 (1: no truncation), got {psi!r}")
    return float(psi)


def style_from_latent(model: "StarGANv2", domain: int | str, seeds: int | Sequence[int], *,
                      psi: float = 1.0) -> Tensor:
    """Style codes (len(seeds), style_dim) of ``domain`` from the mapping network, truncated by ``psi``."""
    y_index = model.domain_index(domain)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    psi = check_psi(psi)
    z = latent_codes(model, seeds)
    y = torch.full((len(seeds),), y_index, dtype=torch.long, device=model.device)
    with torch.inference_mode(), model.autocast():
        s = model.mapping_network(z.to(model.dtype), y).float()
        if psi != 1.0:
            s = torch.lerp(average_style(model, y_index), s, psi)
    return s


def style_from_reference(model: "StarGANv2", references: Any, domain: int | str | Sequence[int | str]) -> Tensor:
    """Style codes of reference image(s) seen as members of ``domain`` (one domain, or one per reference)."""
    x_ref = prepare(model, references)
    domains = list(domain) if _is_batch(domain) else [domain] * x_ref.shape[0]
    if len(domains) != x_ref.shape[0]:
        raise ValueError(f"got {x_ref.shape[0]} reference images but {len(domains)} reference domains")
    y = torch.tensor([model.domain_index(d) for d in domains], dtype=torch.long, device=model.device)
    with torch.inference_mode(), model.autocast():
        return model.style_encoder(x_ref.to(model.dtype), y).float()


def translate(model: "StarGANv2", x: Tensor, s: Tensor, *, masks: tuple[Tensor, Tensor] | None = None,
              batch_size: int = 16) -> Tensor:
    """Generator on (x[i], s[i]) pairs in chunks; masks from ``x`` when the model uses them. Float32 out."""
    if x.shape[0] != s.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {s.shape[0]} style codes")
    outs = []
    with torch.inference_mode(), model.autocast():
        for i in range(0, x.shape[0], batch_size):
            xi = x[i:i + batch_size].to(model.dtype)
            mi = None
            if masks is not None:
                mi = tuple(m[i:i + batch_size] for m in masks)
            elif model.w_hpf > 0:
                mi = model.get_masks(xi)
            outs.append(model.generator(xi, s[i:i + batch_size].to(model.dtype), masks=mi).float())
    return torch.cat(outs)


def translate_styles(model: "StarGANv2", x: Tensor, s: Tensor, *, batch_size: int = 16) -> Tensor:
    """Each source ``x[i]`` with its own ``k`` styles ``s[i*k:(i+1)*k]`` (source-major). Float32 out.

    Same outputs as :func:`translate` on repeated sources, but the style-free encoder (and FAN) runs once
    per source rather than once per output: at the released sizes a source in 4 styles costs about 2.7
    single translations, not 4.
    """
    n = x.shape[0]
    if n == 0 or s.shape[0] % n:
        raise ValueError(f"{s.shape[0]} style codes do not split evenly over {n} source images")
    k = s.shape[0] // n
    gen = model.generator
    per_chunk = max(1, batch_size // k)  # sources encoded together
    outs = []
    with torch.inference_mode(), model.autocast():
        for i in range(0, n, per_chunk):
            xi = x[i:i + per_chunk].to(model.dtype)
            masks = model.get_masks(xi) if model.w_hpf > 0 else None
            content, skips = gen.encode_content(xi, masks)
            channels_last = content.dim() == 4 and content.is_contiguous(memory_format=torch.channels_last) \
                and not content.is_contiguous()
            rows = xi.shape[0] * k
            for j in range(0, rows, batch_size):
                src = torch.arange(j, min(rows, j + batch_size), device=content.device) // k

                def pick(t: Tensor) -> Tensor:
                    t = t.index_select(0, src)
                    return t.contiguous(memory_format=torch.channels_last) if channels_last else t

                out = gen.decode_styled(pick(content), {size: pick(f) for size, f in skips.items()},
                                        s[i * k + j:i * k + j + src.numel()].to(model.dtype),
                                        None if masks is None else tuple(m.index_select(0, src) for m in masks))
                outs.append(out.float())
    return torch.cat(outs)


def latent_guided(model: "StarGANv2", images: Any, target_domain: int | str, *, num_samples: int = 1,
                  seed: int = 0, psi: float = 1.0, output: str = "pil") -> Any:
    """Translate image(s) to ``target_domain`` with ``num_samples`` random styles (seeds seed..seed+n-1).

    One image in: a list of ``num_samples`` PIL images. A list in: one such list per image.
    ``output="tensor"`` returns the (N, num_samples, 3, S, S) tensor in [-1, 1] instead.
    """
    check_count("num_samples", num_samples)
    x = prepare(model, images)
    s = style_from_latent(model, target_domain, [seed + k for k in range(num_samples)], psi=psi)
    n = x.shape[0]
    out = translate_styles(model, x, s.repeat(n, 1))
    return _format(out.view(n, num_samples, *out.shape[1:]), batch=_is_batch(images), output=output)


def reference_guided(model: "StarGANv2", images: Any, reference: Any, reference_domain: int | str, *,
                     output: str = "pil") -> Any:
    """Translate image(s) into the style of ``reference`` (an image of ``reference_domain``).

    One source and one reference in: one PIL image. Lists in: for every source, a list with one output per
    reference.
    """
    x = prepare(model, images)
    s = style_from_reference(model, reference, reference_domain)
    n, k = x.shape[0], s.shape[0]
    out = translate_styles(model, x, s.repeat(n, 1))
    out = out.view(n, k, *out.shape[1:])
    if output == "tensor":
        return out
    result = _format(out, batch=_is_batch(images), output=output)
    return result if _is_batch(reference) else ([r[0] for r in result] if _is_batch(images) else result[0])


def interpolate(model: "StarGANv2", image: Any, target_domain: int | str, *, seed_a: int = 0, seed_b: int = 1,
                steps: int = 5, psi: float = 1.0, style_a: Tensor | None = None, style_b: Tensor | None = None,
                output: str = "pil") -> Any:
    """Outputs along the straight line between two style codes (from seeds, or given ``style_a``/``style_b``)."""
    check_count("steps", steps, 2, MAX_SAMPLES)
    x = prepare(model, image)
    if x.shape[0] != 1:
        raise ValueError("interpolate takes one source image")
    if style_a is None:
        style_a = style_from_latent(model, target_domain, [seed_a], psi=psi)
    if style_b is None:
        style_b = style_from_latent(model, target_domain, [seed_b], psi=psi)
    w = torch.linspace(0, 1, steps, device=model.device).unsqueeze(1)
    s = torch.lerp(style_a.reshape(1, -1).to(model.device), style_b.reshape(1, -1).to(model.device), w)
    out = translate_styles(model, x, s)
    return out if output == "tensor" else to_pil(out)


def _format(out: Tensor, *, batch: bool, output: str) -> Any:
    if output == "tensor":
        return out
    if output != "pil":
        raise ValueError(f"output must be 'pil' or 'tensor', got {output!r}")
    per_source: list[list[Image.Image]] = [to_pil(o) for o in out]
    return per_source if batch else per_source[0]
