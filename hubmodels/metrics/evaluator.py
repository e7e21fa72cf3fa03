"""The SynthFaces evaluator: one small network that reads a SynthFaces picture the way the renderer wrote it.

It answers three questions about an image (any size; resized to its own 64 px):

* which domain (head shape) it shows: ``domain_logits`` over :data:`~hubmodels.data.synthfaces.DOMAINS`;
* which attributes it has: ``attribute_logits``, one independent logit per
  :data:`~hubmodels.data.synthfaces.ATTRIBUTES`;
* where each part is: ``mask_logits`` over :data:`~hubmodels.data.synthfaces.MASK_CLASSES`, per pixel.

Its pooled backbone features are the feature space of ``fd_synthfaces``/``kid_synthfaces``, and its multi-scale
feature maps that of the ``diversity_synthfaces`` distance (see :mod:`hubmodels.metrics.diversity`). The
backbone is a timm ResNet-10-T at reduced width, trained from scratch on procedurally rendered faces by
``python -m hubmodels.metrics.train_evaluator`` (no pretrained weights anywhere): its numbers mean "as judged by
a network that learnt SynthFaces", which is what a hub of SynthFaces demo models can compare on.

It is a :class:`~hubmodels.hub.HubModel` (safetensors, model card, ``hubmodels.load``) but not a family of
the product: it is not in the family registry, it only declares ``family=`` because that is what registers an
architecture for ``hubmodels.load``'s dispatch.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.synthfaces import ATTRIBUTES, DOMAINS, MASK_CLASSES
from ..hub import HubModel

__all__ = ["SynthFacesEvaluator", "EVALUATOR_ID", "EVALUATOR_FAMILY", "SynthFacesFeatures", "load_evaluator"]

EVALUATOR_ID = "hubmodels/synthfaces-evaluator"
EVALUATOR_FAMILY = "synthfaces_evaluator"


class SynthFacesEvaluator(
    HubModel,
    family=EVALUATOR_FAMILY,
    license="mit",
    pipeline_tag="image-classification",
    tags=["evaluator", "synthfaces", "image-classification", "image-segmentation"],
):
    """Domain classifier, attribute classifiers and part segmenter for SynthFaces, on one timm backbone.

    ``channels``: the four stage widths of the timm ResNet (``None``: timm's default); a light FPN-style
    decoder (``decoder_dim`` channels) predicts the mask at stride 2 from every backbone level; the heads and
    FD/KID read the last ``pooled_levels`` levels, pooled and concatenated.
    """

    def __init__(self, backbone: str = "resnet10t", channels: list[int] | None = None, img_size: int = 64,
                 domains: list[str] | None = None, attributes: list[str] | None = None,
                 mask_classes: list[str] | None = None, decoder_dim: int = 32, pooled_levels: int = 3) -> None:
        super().__init__()
        import timm

        self.img_size = int(img_size)
        self.domains = list(domains if domains is not None else DOMAINS)
        self.attributes = list(attributes if attributes is not None else ATTRIBUTES)
        self.mask_classes = list(mask_classes if mask_classes is not None else MASK_CLASSES)
        extra = {"channels": tuple(channels)} if channels else {}
        # pretrained=False: the project trains it from scratch, nothing is downloaded
        self.backbone = timm.create_model(backbone, pretrained=False, features_only=True, **extra)
        chs = self.backbone.feature_info.channels()
        # the heads read the last three levels pooled: glasses and an open mouth are a few pixels at 64 px, and
        # the stride-32 map alone (2 x 2 positions) blurs them away
        if not 1 <= pooled_levels <= len(chs):
            raise ValueError(f"pooled_levels must be in [1, {len(chs)}], got {pooled_levels}")
        self.pooled_levels = int(pooled_levels)
        self.num_features = sum(chs[-pooled_levels:])  # what torchmetrics reads to size its statistics
        self.domain_head = nn.Linear(self.num_features, len(self.domains))
        self.attribute_head = nn.Linear(self.num_features, len(self.attributes))
        self.lateral = nn.ModuleList(nn.Conv2d(c, decoder_dim, 1) for c in chs)
        self.mask_head = nn.Sequential(nn.Conv2d(decoder_dim, decoder_dim, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(decoder_dim, len(self.mask_classes), 1))

    # ---- networks -------------------------------------------------------------------------

    def prepare(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) in [-1, 1] at any size -> the evaluator's input (its size, its device, fp32)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"need RGB images (N, 3, H, W) in [-1, 1], got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32)
        if x.shape[-2:] != (self.img_size, self.img_size):
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x.clamp(-1, 1)

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        return self.backbone(self.prepare(images))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Logits of every head, plus the pooled features (``features``) the distances use."""
        maps = self.feature_maps(images)
        pooled = self._pool(maps)
        top = self.lateral[-1](maps[-1])
        for lateral, fmap in zip(reversed(self.lateral[:-1]), reversed(maps[:-1])):  # top-down: coarse to fine
            top = lateral(fmap) + F.interpolate(top, size=fmap.shape[-2:], mode="bilinear", align_corners=False)
        masks = F.interpolate(self.mask_head(top), size=(self.img_size, self.img_size), mode="bilinear",
                              align_corners=False)
        return {"domain_logits": self.domain_head(pooled), "attribute_logits": self.attribute_head(pooled),
                "mask_logits": masks, "features": pooled}

    def _pool(self, maps: list[Tensor]) -> Tensor:
        return torch.cat([m.mean((2, 3)) for m in maps[-self.pooled_levels:]], 1)

    # ---- what the metrics ask -------------------------------------------------------------

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """(N, D) pooled backbone features: the space of ``fd_synthfaces`` and ``kid_synthfaces``."""
        return self._pool(self.feature_maps(images)).float()

    @torch.no_grad()
    def predict(self, images: Tensor, *, batch_size: int = 64) -> dict[str, Tensor]:
        """Hard predictions: ``domain`` (N,) index, ``attributes`` (N, A) bool, ``mask`` (N, S, S) class ids at the
        evaluator's size, and the ``features`` (N, D)."""
        outs: dict[str, list[Tensor]] = {"domain": [], "attributes": [], "mask": [], "features": []}
        for i in range(0, images.shape[0], batch_size):
            o = self(images[i:i + batch_size])
            outs["domain"].append(o["domain_logits"].argmax(1).cpu())
            outs["attributes"].append((o["attribute_logits"] > 0).cpu())
            outs["mask"].append(o["mask_logits"].argmax(1).cpu())
            outs["features"].append(o["features"].float().cpu())
        return {k: torch.cat(v) for k, v in outs.items()}

    def domain_index(self, domain: str) -> int:
        if domain not in self.domains:
            raise ValueError(f"the evaluator knows the domains {self.domains}, not {domain!r}")
        return self.domains.index(domain)

    def attribute_index(self, attribute: str) -> int:
        if attribute not in self.attributes:
            raise ValueError(f"the evaluator knows the attributes {self.attributes}, not {attribute!r}")
        return self.attributes.index(attribute)

    def usage_snippet(self, repo_id: str) -> str:
        return (f"import hubmodels\nfrom hubmodels.metrics.evaluator import SynthFacesEvaluator\n\n"
                f"evaluator = SynthFacesEvaluator.from_pretrained({repo_id!r})\n"
                "pred = evaluator.predict(images)  # images: (N, 3, H, W) in [-1, 1]; domain, attributes, mask, "
                "features")


class SynthFacesFeatures(nn.Module):
    """The evaluator as a feature extractor for :mod:`~hubmodels.metrics.distributions` (``fd_synthfaces``)."""

    name = "synthfaces"
    label = "SynthFaces evaluator features (pooled last three backbone levels of hubmodels/synthfaces-evaluator)"

    def __init__(self, evaluator: SynthFacesEvaluator) -> None:
        super().__init__()
        self.evaluator = evaluator
        self.num_features = evaluator.num_features

    def forward(self, images: Tensor) -> Tensor:
        return self.evaluator.features(images)


def load_evaluator(model_id: str = EVALUATOR_ID, **kwargs: Any) -> SynthFacesEvaluator:
    """The published evaluator (local hub first, like every model id)."""
    return SynthFacesEvaluator.from_pretrained(model_id, **kwargs).eval()
