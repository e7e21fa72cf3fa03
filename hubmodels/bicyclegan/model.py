"""BicycleGAN: the hub model (generator G + encoder E) and its named configurations."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import Tensor, nn

from ..hub import HubModel
from ..nn.swap import FusedInstanceNorm2d
from .configs import NAMED_CONFIGS
from .convert import from_official
from .inference import BicycleGANInference
from .networks import ENCODERS, NONLINEARITIES, NORMS, UPSAMPLES, WHERE_ADD, UnetGenerator, build_encoder

__all__ = ["BicycleGAN", "NAMED_CONFIGS", "CITATION"]

CITATION = """@inproceedings{zhu2017multimodal,
  title     = {Toward Multimodal Image-to-Image Translation},
  author    = {Zhu, Jun-Yan and Zhang, Richard and Pathak, Deepak and Darrell, Trevor and Efros, Alexei A and
               Wang, Oliver and Shechtman, Eli},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2017}
}"""


def _positive_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _choice(name: str, value: Any, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


class BicycleGAN(
    BicycleGANInference,
    HubModel,
    family="bicyclegan",
    license="bsd-2-clause",
    pipeline_tag="image-to-image",
    paper_url="https://arxiv.org/abs/1711.11586",
    repo_url="https://github.com/junyanz/BicycleGAN",
    tags=["bicyclegan", "image-to-image", "multimodal", "gan"],
    citation=CITATION,
):
    """BicycleGAN inference networks: the U-Net generator ``generator(x, z)`` and the encoder
    ``encoder(y) -> (mu, logvar)`` (None for models without one, e.g. ``nz=0`` pix2pix-style generators).

    Architecture arguments (the official options): ``input_nc`` / ``output_nc`` channels, ``nz`` latent size,
    ``ngf`` / ``nef`` widths, ``num_downs`` U-Net levels (``unet_256``: 8), ``where_add`` (``"all"``: z enters every
    level, ``"input"``: only the image), ``norm`` (``instance``, ``batch``, ``none``), ``nl`` (up-path activation),
    ``upsample`` (``basic``: transposed conv, ``bilinear``), ``use_dropout`` (training only), ``encoder``
    (``"resnet"``, ``"conv"`` or None) with ``encoder_depth`` blocks / layers (``resnet_256``: 5).
    Test-time input arguments: ``img_size`` (the crop), ``load_size`` (the resize before it; default
    ``img_size``) and ``direction`` (which half of an ``A|B`` dataset image is the input). The inference
    methods (``sample``, ``encode``, ``style_transfer``, ``interpolate``, ``photo_to_edges``, ...) come from
    :class:`~.inference.BicycleGANInference`. The discriminators are training-only networks and not part of it.
    """

    # Exact rewrite swapped in by optimize_for_inference: instance norm as one fused pass.
    inference_swaps = {nn.InstanceNorm2d: FusedInstanceNorm2d}

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        nz: int = 8,
        ngf: int = 64,
        nef: int = 64,
        num_downs: int = 8,
        where_add: str = "all",
        norm: str = "instance",
        nl: str = "relu",
        upsample: str = "basic",
        use_dropout: bool = False,
        encoder: str | None = "resnet",
        encoder_depth: int = 5,
        img_size: int = 256,
        load_size: int | None = None,
        direction: str = "AtoB",
    ):
        super().__init__()
        for name, value in (("input_nc", input_nc), ("output_nc", output_nc), ("ngf", ngf), ("nef", nef),
                            ("encoder_depth", encoder_depth)):
            _positive_int(name, value)
        _positive_int("nz", nz, 0)
        _positive_int("num_downs", num_downs, 5)
        _choice("where_add", where_add, WHERE_ADD)
        _choice("norm", norm, NORMS)
        _choice("nl", nl, NONLINEARITIES)
        _choice("upsample", upsample, UPSAMPLES)
        _choice("direction", direction, ("AtoB", "BtoA"))
        if encoder is not None:
            _choice("encoder", encoder, ENCODERS)
        if not isinstance(use_dropout, bool):
            raise ValueError(f"use_dropout must be true or false, got {use_dropout!r}")
        if nz == 0 and where_add != "input":
            raise ValueError("nz=0 (a deterministic pix2pix-style generator) takes where_add='input', as the official "
                             "define_G forces")
        if nz == 0 and encoder is not None:
            raise ValueError("nz=0 models have no latent code to encode: pass encoder=None")
        _positive_int("img_size", img_size, 8)
        if img_size % 2 ** num_downs:
            raise ValueError(f"img_size must be a multiple of 2**num_downs = {2 ** num_downs} (the U-Net halves it "
                             f"{num_downs} times), got {img_size}")
        load_size = img_size if load_size is None else _positive_int("load_size", load_size, 8)
        if load_size < img_size:
            raise ValueError(f"load_size ({load_size}) must be >= img_size ({img_size}): the input is resized to "
                             "load_size, then cropped to img_size")
        self.input_nc, self.output_nc, self.nz = input_nc, output_nc, nz
        self.img_size, self.load_size, self.direction = img_size, load_size, direction
        self.generator = UnetGenerator(input_nc, output_nc, nz, num_downs, ngf, norm=norm, nl=nl,
                                       use_dropout=use_dropout, upsample=upsample, where_add=where_add)
        self.encoder = build_encoder(encoder, output_nc, nz, nef, encoder_depth, norm) if encoder else None

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """``G(x, z)``: inputs (N, input_nc, H, W) in [-1, 1], codes (N, nz) (none when ``nz == 0``)."""
        return self.generator(x, z)

    def usage_snippet(self, repo_id: str) -> str:
        lines = [f"import hubmodels\n\nmodel = hubmodels.load({repo_id!r})"]
        if self.nz == 0:
            lines.append('image = model.sample("input.png", num_samples=1)[0]  # deterministic (nz=0)')
        else:
            lines.append('images = model.sample("input.png", num_samples=4, seed=0)  # list of PIL images')
            if self.encoder is not None:
                lines.append('styled = model.style_transfer("input.png", "example_output.png")  # style of an example')
            if self.input_nc == 1:
                lines.append('from_photo = model.sample("photo.jpg", num_samples=4, from_photo=True)  # edges first')
        return "\n".join(lines)

    @classmethod
    def from_official(cls, generator: str | Path | Mapping, encoder: str | Path | Mapping | None = None, *,
                      config: str | dict | None = None) -> "BicycleGAN":
        """Load the official ``*_net_G.pth`` (and ``*_net_E.pth``) files; see :func:`.convert.from_official`."""
        return from_official(generator, encoder, config=config, cls=cls)
