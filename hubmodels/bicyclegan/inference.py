"""BicycleGAN inference: the methods a user calls on a :class:`~hubmodels.bicyclegan.BicycleGAN`.

Two lines for a user::

    model = hubmodels.load("hubmodels/bicyclegan-synthfaces")
    images = model.sample("sketch.png", num_samples=4, seed=0)     # four colourings of one sketch

:class:`BicycleGANInference` is a mixin: it holds no weights and imports nothing of the model class. It expects
the networks ``generator`` and ``encoder`` (None for models without one) and the attributes ``nz``,
``input_nc``, ``output_nc``, ``img_size``, ``load_size``, ``direction``.

* Inputs are anything :func:`hubmodels.images.load_image` accepts (path, PIL, numpy, tensor) or a list of them,
  preprocessed like the official test loader: [grayscale for 1-channel sides], bicubic resize to
  ``load_size``, crop ``img_size`` (the centre; the official crop position is random), range [-1, 1].
* Random codes: sample ``k`` of a call with ``seed`` uses ``z = randn(nz)`` from
  ``torch.Generator().manual_seed(seed + k)``, so an image depends on its seed only, not on the batch or device.
  :meth:`official_latents` draws like the official ``test.py`` instead (one ``randn(n, nz)`` after
  ``torch.manual_seed(seed)``).
* Encoding (:meth:`encode`): the encoder's mean, as ``test.py`` (``sample=True`` draws ``mu + eps * std`` like
  training). References are output-domain images at the encoder's input size (``encoder_size``; for the
  released maps model 256 px while its generator runs at 512).
* :meth:`photo_to_edges` turns a photo into the kind of line drawing the edge models were trained on;
  ``sample(photo, from_photo=True)`` does it on the way in.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from PIL import Image
from torch import Tensor

from ..images import Preprocess, get_policy, preprocess, split_pair, to_pil
from ..inference_paths import default_chunk
from .configs import model_policy
from .edges import photo_to_edges

__all__ = ["BicycleGANInference", "MAX_SAMPLES", "check_count", "reparameterize"]

MAX_SAMPLES = 64  # per input image; beyond this a request is almost certainly a mistake
# Images per forward pass on a CPU, as pixels: the U-Net's full-resolution activations of larger chunks leave the
# caches. Measured on a 2-core EPYC, one thread, 16 edges2shoes images at 256 px: chunks of 16 took 3.1-3.2 s,
# of 4 2.7-2.9 s, of 2 2.65-2.85 s, of 1 3.0-3.1 s.
CPU_CHUNK_PIXELS = 4 * 256 * 256


def _is_batch(images: Any) -> bool:
    return isinstance(images, (list, tuple))


def check_count(name: str, value: Any, low: int = 1, high: int = MAX_SAMPLES) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _check_seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """``z = mu + eps * exp(logvar / 2)``: a draw from the encoder's Gaussian (training's ``encode``)."""
    return mu + eps * torch.exp(0.5 * logvar)


def _format(out: Tensor, *, batch: bool, output: str) -> Any:
    """(N, K, C, H, W) -> N lists of K PIL images (just the list when one input was given), or the tensor."""
    if output == "tensor":
        return out
    if output != "pil":
        raise ValueError(f"output must be 'pil' or 'tensor', got {output!r}")
    per_input = [to_pil(o) for o in out]
    return per_input if batch else per_input[0]


class BicycleGANInference:
    """Diverse samples, style transfer from a reference, walks in z, photo-to-edges, and their pieces."""

    # ---- preprocessing ---------------------------------------------------------------------------

    @property
    def input_policy(self) -> Preprocess:
        """The official test-time pipeline of the generator's input (size, channels)."""
        return model_policy(self.img_size, self.load_size, self.input_nc)

    @property
    def encoder_size(self) -> int | None:
        """The reference size the encoder takes (None without an encoder)."""
        return None if self.encoder is None else self.encoder.input_size

    @property
    def reference_policy(self) -> Preprocess:
        """Output-domain images for the encoder: the official pipeline, at the encoder's input size."""
        policy = model_policy(self.img_size, self.load_size, self.output_nc)
        size = self.encoder_size
        return policy if size is None or size == self.img_size else get_policy(policy, size)

    def prepare(self, images: Any, *, from_photo: bool = False) -> Tensor:
        """(N, input_nc, S, S) in [-1, 1] on the model's device, from any accepted image input(s).

        ``from_photo=True``: the inputs are photos; each is first turned into a line drawing
        (:meth:`photo_to_edges`), for models whose input is an edge map.
        """
        batch = list(images) if _is_batch(images) else [images]
        if not batch:
            raise ValueError("no input images given")
        if from_photo:
            if self.input_nc != 1:
                raise ValueError(f"from_photo turns photos into edge maps, the input of edge-map models (input_nc=1); "
                                 f"this model takes {self.input_nc}-channel images: pass them as they are")
            batch = [self.photo_to_edges(im) for im in batch]
        return preprocess(batch, self.input_policy, device=self.device)

    def prepare_reference(self, references: Any) -> Tensor:
        """(N, output_nc, S_E, S_E) in [-1, 1]: output-domain images ready for the encoder."""
        batch = list(references) if _is_batch(references) else [references]
        if not batch:
            raise ValueError("no reference images given")
        return preprocess(batch, self.reference_policy, device=self.device)

    def photo_to_edges(self, photo: Any, **kwargs: Any) -> Image.Image:
        """A photo as a black-on-white line drawing at the size the model reads its input
        (``load_size``, then the usual centre crop), for edge-map models; see :func:`.edges.photo_to_edges`."""
        from ..images import load_image

        img = load_image(photo, name="photo")
        # the geometry the input goes through anyway (square resize), done first so lines stay ~1 px wide
        return photo_to_edges(img, self.load_size, **kwargs)

    def split_pair(self, image: Any) -> tuple[Image.Image, Image.Image]:
        """A side-by-side ``A | B`` dataset image -> (input, target) in this model's direction (official
        ``AlignedDataset`` + ``set_input``)."""
        return split_pair(image, self.direction)

    # ---- codes -----------------------------------------------------------------------------------

    def _require_z(self, what: str) -> None:
        if self.nz == 0:
            raise ValueError(f"{what} needs latent codes, but this model is deterministic (nz=0, pix2pix-style): "
                             "it has one output per input; call sample(image, num_samples=1) or translate(image)")

    def latent_codes(self, seeds: int | Sequence[int]) -> Tensor:
        """One ``z ~ N(0, I)`` per seed, (len(seeds), nz), from ``torch.Generator().manual_seed(seed)``."""
        self._require_z("latent_codes")
        seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        zs = [torch.randn(self.nz, generator=torch.Generator().manual_seed(_check_seed("seed", s))) for s in seeds]
        return torch.stack(zs).to(self.device)

    def official_latents(self, seed: int, count: int) -> Tensor:
        """The official ``test.py`` draw: ``torch.manual_seed(seed); z_samples = randn(count, nz)`` (CPU), without
        touching the global generator. ``count`` is ``n_samples + 1``; row 0 is unused when encoding."""
        self._require_z("official_latents")
        g = torch.Generator().manual_seed(_check_seed("seed", seed))
        return torch.randn(count, self.nz, generator=g).to(self.device)

    def encode_tensor(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of output-domain images ``x`` in [-1, 1] at the encoder's size. Float32 out."""
        if self.encoder is None:
            raise ValueError("this model has no encoder (converted without *_net_E.pth, or nz=0): it cannot encode "
                             "a reference image; use random codes (sample) instead")

        def run() -> tuple[Tensor, Tensor]:
            with torch.inference_mode(), self.autocast():
                mu, logvar = self.encoder(x.to(self.device, self.dtype))
                return mu.float(), logvar.float()

        return self.run_inference(("encoder", tuple(x.shape)), run)

    def encode(self, references: Any, *, sample: bool = False, seed: int = 0) -> Tensor:
        """Latent codes (N, nz) of reference image(s) of the output domain: the encoder's mean (``test.py``), or
        with ``sample=True`` a draw ``mu + eps * exp(logvar / 2)`` (training's ``encode``; eps from ``seed + i``)."""
        mu, logvar = self.encode_tensor(self.prepare_reference(references))
        if not sample:
            return mu
        eps = torch.stack([torch.randn(self.nz, generator=torch.Generator().manual_seed(_check_seed("seed", seed) + i))
                           for i in range(mu.shape[0])]).to(mu.device)
        return reparameterize(mu, logvar, eps)

    # ---- generation on tensors -------------------------------------------------------------------

    def generate(self, x: Tensor, z: Tensor | None = None, *, batch_size: int | None = None) -> Tensor:
        """``G(x[i], z[i])`` for inputs in [-1, 1] (one code for all when ``z`` has one row). Float32 out.

        ``batch_size``: images per forward pass (default: 16 on a GPU; on a CPU as many as make
        ``4 * 256 * 256`` pixels, see ``CPU_CHUNK_PIXELS``)."""
        n = x.shape[0]
        if batch_size is None:
            batch_size = default_chunk(self.device, x, CPU_CHUNK_PIXELS)
        check_count("batch_size", batch_size, 1, 1 << 30)
        if self.nz > 0:
            if z is None:
                raise ValueError(f"this model takes a latent code per image: z of shape ({n}, {self.nz})")
            z = torch.as_tensor(z, dtype=torch.float32)
            if z.dim() == 1:
                z = z[None]
            if z.dim() != 2 or z.shape[1] != self.nz or z.shape[0] not in (1, n):
                raise ValueError(f"z must have shape ({n}, {self.nz}) or (1, {self.nz}), got {tuple(z.shape)}")
            z = z.to(self.device).expand(n, -1)
        elif z is not None and z.numel() > 0:
            raise ValueError("this model is deterministic (nz=0) and takes no latent code")

        def run() -> Tensor:
            outs = []
            with torch.inference_mode(), self.autocast():
                for i in range(0, n, batch_size):
                    xi = x[i:i + batch_size].to(self.device, self.dtype)
                    zi = None if self.nz == 0 else z[i:i + batch_size].to(self.dtype)
                    outs.append(self.generator(xi, zi).float())
            return torch.cat(outs)

        return self.run_inference(("generator", tuple(x.shape)), run)

    def _per_input(self, x: Tensor, z: Tensor | None, k: int) -> Tensor:
        """Each input ``x[i]`` with each of the ``k`` codes: (N, k, C, H, W)."""
        n = x.shape[0]
        xs = x.repeat_interleave(k, 0)
        zs = None if z is None else z.repeat(n, 1)
        out = self.generate(xs, zs)
        return out.view(n, k, *out.shape[1:])

    # ---- what a user calls ---------------------------------------------------------------------------

    def sample(self, images: Any, num_samples: int = 4, seed: int = 0, *, from_photo: bool = False,
               output: str = "pil") -> Any:
        """``num_samples`` diverse outputs per input, with random codes from seeds ``seed, seed+1, ...``.

        One image in: a list of ``num_samples`` PIL images. A list in: one such list per image.
        ``output="tensor"`` gives the (N, num_samples, C, S, S) tensor in [-1, 1]. A deterministic model
        (``nz=0``) takes ``num_samples=1``. ``from_photo=True`` first turns photos into line drawings.
        """
        check_count("num_samples", num_samples)
        _check_seed("seed", seed)
        x = self.prepare(images, from_photo=from_photo)
        if self.nz == 0:
            if num_samples != 1:
                self._require_z(f"num_samples={num_samples}")
            z = None
        else:
            z = self.latent_codes([seed + k for k in range(num_samples)])
        return _format(self._per_input(x, z, num_samples), batch=_is_batch(images), output=output)

    def translate(self, images: Any, z: Tensor | None = None, *, from_photo: bool = False, output: str = "pil") -> Any:
        """Outputs for given latent code(s): ``z`` (K, nz) gives K outputs per input (nz=0 models: ``z=None``).

        One image in: a list of K PIL images; a list in: one list per image.
        """
        x = self.prepare(images, from_photo=from_photo)
        if self.nz == 0:
            if z is not None:
                self._require_z("translate with a code")
            codes, k = None, 1
        else:
            if z is None:
                raise ValueError(f"translate needs latent codes z of shape (K, {self.nz}) (from latent_codes or "
                                 "encode), or use sample() for random ones")
            codes = torch.as_tensor(z, dtype=torch.float32)
            codes = codes[None] if codes.dim() == 1 else codes
            if codes.dim() != 2 or codes.shape[1] != self.nz:
                raise ValueError(f"z must have shape (K, {self.nz}), got {tuple(codes.shape)}")
            codes, k = codes.to(self.device), codes.shape[0]
        return _format(self._per_input(x, codes, k), batch=_is_batch(images), output=output)

    def style_transfer(self, images: Any, reference: Any, *, from_photo: bool = False, output: str = "pil") -> Any:
        """The input(s) drawn in the style of ``reference`` (an output-domain image; or a list, one output each):
        ``G(x, mu(E(reference)))``, the official ``test.py``'s "encoded" result.

        One input and one reference: one PIL image. Lists: per input, a list with one output per reference.
        """
        z = self.encode(reference)
        out = self.translate(images, z, from_photo=from_photo, output="tensor")
        if output == "tensor":
            return out
        result = _format(out, batch=_is_batch(images), output=output)
        if _is_batch(reference):
            return result
        return [r[0] for r in result] if _is_batch(images) else result[0]

    def interpolate(self, image: Any, *, seed_a: int = 0, seed_b: int = 1, steps: int = 5,
                    z_a: Tensor | None = None, z_b: Tensor | None = None, reference_a: Any = None,
                    reference_b: Any = None, from_photo: bool = False, output: str = "pil") -> Any:
        """Outputs along the straight line in z between two codes, ends included.

        Each end is a given code (``z_a``), else the code of a reference image (``reference_a``), else the random
        code of a seed (``seed_a``, the same as ``sample(..., seed=seed_a)``'s first sample).
        """
        check_count("steps", steps, 2, MAX_SAMPLES)
        self._require_z("interpolate")
        x = self.prepare(image, from_photo=from_photo)
        if x.shape[0] != 1:
            raise ValueError("interpolate takes one input image")

        def end(z: Tensor | None, reference: Any, seed: int, name: str) -> Tensor:
            if z is not None:
                z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
                if z.numel() != self.nz:
                    raise ValueError(f"{name} must hold {self.nz} numbers, got shape {tuple(z.shape)}")
                return z.to(self.device)
            if reference is not None:
                return self.encode(reference)[0]
            return self.latent_codes([seed])[0]

        a = end(z_a, reference_a, seed_a, "z_a")
        b = end(z_b, reference_b, seed_b, "z_b")
        t = torch.linspace(0, 1, steps, device=a.device)[:, None]
        z = torch.lerp(a[None], b[None], t)
        out = self._per_input(x, z, steps)
        return out[0] if output == "tensor" else _format(out, batch=False, output=output)
