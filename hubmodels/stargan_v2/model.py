"""StarGANv2: the hub model (generator + mapping network + style encoder [+ FAN]) and its named configurations."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from ..hub import HubModel
from .configs import NAMED_CONFIGS
from .convert import from_official
from .fan import FAN
from .fast import EAGER_CHILDREN, INFERENCE_SWAPS
from .inference import Masks, StarGANv2Inference
from .networks import Generator, MappingNetwork, StyleEncoder

__all__ = ["StarGANv2", "NAMED_CONFIGS", "CITATION"]

CITATION = """@inproceedings{choi2020starganv2,
  title     = {StarGAN v2: Diverse Image Synthesis for Multiple Domains},
  author    = {Choi, Yunjey and Uh, Youngjung and Yoo, Jaejun and Ha, Jung-Woo},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020}
}"""

def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class StarGANv2(
    StarGANv2Inference,
    HubModel,
    family="stargan_v2",
    license="cc-by-nc-4.0",
    pipeline_tag="image-to-image",
    paper_url="https://arxiv.org/abs/1912.01865",
    repo_url="https://github.com/clovaai/stargan-v2",
    tags=["stargan-v2", "image-to-image", "gan"],
    citation=CITATION,
):
    """StarGAN v2 inference networks.

    ``generator(x, s, masks)`` translates images in [-1, 1] given a style code ``s``; styles come from
    ``mapping_network(z, y)`` (latent-guided) or ``style_encoder(x_ref, y)`` (reference-guided).
    With ``w_hpf > 0`` (the CelebA-HQ model) the generator also takes face masks, from ``fan`` when
    ``with_fan`` (the default), else from the caller (``masks=``): a converted checkpoint without the FAN
    weights is still a usable generator. The inference methods (``latent_guided``, ``reference_guided``,
    ``interpolate``, ``translate``, ...) come from :class:`~.inference.StarGANv2Inference`.
    The discriminator is a training-only network and is not part of this model.
    """

    # Exact rewrites swapped in by optimize_for_inference (fused norms, polyphase upsample+conv), and the
    # child torch.compile must leave alone (FAN's data-dependent post-processing recompiles per shape).
    inference_swaps = INFERENCE_SWAPS
    inference_eager_children = EAGER_CHILDREN

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        latent_dim: int = 16,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        w_hpf: float = 0.0,
        dim_in: int | None = None,
        hidden_dim: int = 512,
        domains: list[str] | None = None,
        with_fan: bool = True,
    ):
        super().__init__()
        for name, value in (("style_dim", style_dim), ("latent_dim", latent_dim), ("num_domains", num_domains),
                            ("max_conv_dim", max_conv_dim), ("hidden_dim", hidden_dim)):
            _check_positive_int(name, value)
        if dim_in is not None:
            _check_positive_int("dim_in", dim_in)
        if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 16 or img_size & (img_size - 1):
            raise ValueError(f"img_size must be a power of two >= 16, got {img_size!r}")
        if isinstance(w_hpf, bool) or not isinstance(w_hpf, (int, float)) or w_hpf < 0:
            raise ValueError(f"w_hpf must be a number >= 0 (0: no high-pass face skips), got {w_hpf!r}")
        if w_hpf == 0 and img_size < 32:
            raise ValueError(f"img_size must be >= 32 when w_hpf == 0 (the generator needs one down level), "
                             f"got {img_size}")
        if not isinstance(with_fan, bool):
            raise ValueError(f"with_fan must be true or false, got {with_fan!r}")
        if domains is None:
            domains = [f"domain{i}" for i in range(num_domains)]
        if not isinstance(domains, (list, tuple)) or not all(isinstance(d, str) and d for d in domains):
            raise ValueError(f"domains must be a list of non-empty strings, got {domains!r}")
        if len(domains) != num_domains:
            raise ValueError(
                f"num_domains is {num_domains} but {len(domains)} domain names were given: {list(domains)}"
            )
        if len(set(domains)) != len(domains):
            raise ValueError(f"domain names must be unique, got {list(domains)}")

        self.img_size = img_size
        self.style_dim = style_dim
        self.latent_dim = latent_dim
        self.num_domains = num_domains
        self.w_hpf = w_hpf
        self.domains = list(domains)
        self.with_fan = with_fan and w_hpf > 0
        self.generator = Generator(img_size, style_dim, max_conv_dim, w_hpf=w_hpf, dim_in=dim_in)
        self.mapping_network = MappingNetwork(latent_dim, style_dim, num_domains, hidden_dim)
        self.style_encoder = StyleEncoder(img_size, style_dim, num_domains, max_conv_dim, dim_in=dim_in)
        if self.with_fan:
            self.fan = FAN()

    def forward(self, x: Tensor, s: Tensor, masks: Masks | None = None) -> Tensor:
        """Translate ``x`` (N, 3, H, W) in [-1, 1] to style ``s``; masks are computed from ``x`` when needed."""
        if masks is None:
            masks = self.get_masks(x)
        return self.generator(x, s, masks=masks)

    def usage_snippet(self, repo_id: str) -> str:
        target = self.domains[min(1, self.num_domains - 1)]
        return (f"import hubmodels\n\nmodel = hubmodels.load({repo_id!r})\n"
                f"images = model.latent_guided(\"source.png\", {target!r}, num_samples=4, seed=0)  # list of PIL images\n"
                f"styled = model.reference_guided(\"source.png\", \"reference.png\", {target!r})")

    @classmethod
    def from_official(
        cls,
        nets_ema: str | Path | Mapping,
        wing: str | Path | Mapping | None = None,
        *,
        config: str | dict | None = None,
        domains: list[str] | None = None,
    ) -> "StarGANv2":
        """Load an official ``{step}_nets_ema.ckpt`` (and, for the CelebA-HQ model, ``wing.ckpt``)."""
        return from_official(nets_ema, wing, config=config, domains=domains, cls=cls)
