"""StarGAN: the hub model (generator [+ discriminator]) with its label sets, and its official conversion."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from ..hub import HubModel
from .configs import OFFICIAL_HAIR_COLOURS
from .fast import INFERENCE_SWAPS
from .inference import StarGANInference
from .networks import NORMALIZATIONS, Discriminator, Generator

__all__ = ["StarGAN", "CITATION", "LABEL_TYPES"]

CITATION = """@inproceedings{choi2018stargan,
  title     = {StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation},
  author    = {Choi, Yunjey and Choi, Minje and Kim, Munyoung and Ha, Jung-Woo and Kim, Sunghun and Choo, Jaegul},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2018}
}"""

# "multi": independent binary attributes (CelebA: sigmoid / binary cross-entropy, several may be on);
# "single": one class out of several (RaFD expressions: softmax cross-entropy, a one-hot label).
LABEL_TYPES = ("multi", "single")


def _positive_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _names(name: str, value: Any, count: int) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings, got {value!r}")
    if len(value) != count:
        raise ValueError(f"{name} has {len(value)} names but the model has {count} labels there: {list(value)}")
    return list(value)


class StarGAN(
    StarGANInference,
    HubModel,
    family="stargan",
    license="mit",
    pipeline_tag="image-to-image",
    paper_url="https://arxiv.org/abs/1711.09020",
    repo_url="https://github.com/yunjey/stargan",
    tags=["stargan", "image-to-image", "gan", "attribute-editing"],
    citation=CITATION,
):
    """StarGAN (Choi et al., CVPR 2018): one generator translating an image to any target label vector.

    ``generator(x, c)`` takes images in [-1, 1] and a label vector per image; ``discriminator(x)`` (present when
    ``with_discriminator``) returns the PatchGAN real/fake map and the class logits, which the inference API
    also uses to read the source image's own labels.

    Labels. ``attributes`` names the ``c_dim`` labels of the (first) dataset, of type ``label_types[0]``:
    ``"multi"`` (independent binary attributes, CelebA) or ``"single"`` (one class, RaFD).
    ``exclusive_groups`` are attributes that are set one at a time (hair or fur colours); by default the
    official rule, CelebA's hair colours. **Joint mode** (``c2_dim > 0``): a second dataset with ``c2_dim``
    labels named ``attributes2`` (default type ``"single"``); the generator then takes ``c_dim + c2_dim + 2``
    label channels, ``[labels of dataset 1, labels of dataset 2, mask vector]``, where the mask vector says
    which dataset's labels are given ([1, 0] or [0, 1]) and the other dataset's part is zero; the
    discriminator classifies ``c_dim + c2_dim``. ``datasets`` names the dataset(s).

    ``crop_size``: the official test pipeline's centre crop before resizing to ``image_size`` (178 for
    CelebA's 178x218 aligned faces, 256 for RaFD); None crops the largest centred square.
    ``conv_dim``/``repeat_num`` size the generator, ``d_conv_dim``/``d_repeat_num`` the discriminator
    (``image_size`` must be divisible by ``2**d_repeat_num`` and by 4).

    Inference normalises each image with its own instance-norm statistics, as the official test code does
    (it never calls ``G.eval()``); ``model.normalization = "running"`` switches to the stored running averages
    (see :mod:`.networks`). The inference methods (``translate``, ``edit_grid``, ``single_edits``,
    ``classify``, ``generate``, ...) come from :class:`~.inference.StarGANInference`.
    """

    inference_swaps = INFERENCE_SWAPS

    def __init__(
        self,
        image_size: int = 128,
        c_dim: int = 5,
        c2_dim: int = 0,
        conv_dim: int = 64,
        repeat_num: int = 6,
        d_conv_dim: int = 64,
        d_repeat_num: int = 6,
        with_discriminator: bool = True,
        attributes: list[str] | None = None,
        attributes2: list[str] | None = None,
        datasets: list[str] | None = None,
        label_types: list[str] | None = None,
        exclusive_groups: list[list[str]] | None = None,
        crop_size: int | None = 178,
    ):
        super().__init__()
        _positive_int("c_dim", c_dim)
        _positive_int("c2_dim", c2_dim, 0)
        for name, value in (("conv_dim", conv_dim), ("repeat_num", repeat_num), ("d_conv_dim", d_conv_dim),
                            ("d_repeat_num", d_repeat_num)):
            _positive_int(name, value, 0 if name == "repeat_num" else 1)
        _positive_int("image_size", image_size, 8)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (the generator down-samples twice), got {image_size}")
        if not isinstance(with_discriminator, bool):
            raise ValueError(f"with_discriminator must be true or false, got {with_discriminator!r}")
        if with_discriminator and image_size % (2 ** d_repeat_num):
            raise ValueError(f"image_size {image_size} must be divisible by 2**d_repeat_num = {2 ** d_repeat_num} "
                             "(the discriminator's classifier kernel is image_size / 2**d_repeat_num)")
        if crop_size is not None:
            _positive_int("crop_size", crop_size)
        joint = c2_dim > 0
        n_sets = 2 if joint else 1
        if datasets is None:
            datasets = ["CelebA", "RaFD"] if joint else ["CelebA"]
        datasets = _names("datasets", datasets, n_sets)
        if len(set(datasets)) != n_sets:
            raise ValueError(f"dataset names must differ, got {datasets}")
        if label_types is None:
            label_types = ["multi", "single"][:n_sets]
        if not isinstance(label_types, (list, tuple)) or len(label_types) != n_sets \
                or any(t not in LABEL_TYPES for t in label_types):
            raise ValueError(f"label_types must be a list of {n_sets} of {LABEL_TYPES} (one per dataset), "
                             f"got {label_types!r}")
        attributes = _names("attributes", attributes if attributes is not None
                            else [f"label{i}" for i in range(c_dim)], c_dim)
        if joint:
            attributes2 = _names("attributes2", attributes2 if attributes2 is not None
                                 else [f"label{c_dim + i}" for i in range(c2_dim)], c2_dim)
        elif attributes2 not in (None, []):
            raise ValueError("attributes2 names the second dataset's labels of a joint model: set c2_dim > 0")
        else:
            attributes2 = []
        every = attributes + attributes2
        if len(set(every)) != len(every):
            raise ValueError(f"label names must be unique across the datasets (a target names its dataset): {every}")
        if exclusive_groups is not None:
            if not isinstance(exclusive_groups, (list, tuple)) or not all(
                    isinstance(g, (list, tuple)) and g and all(isinstance(n, str) for n in g)
                    for g in exclusive_groups):
                raise ValueError(f"exclusive_groups must be a list of lists of attribute names, "
                                 f"got {exclusive_groups!r}")
            for group in exclusive_groups:
                unknown = [n for n in group if n not in attributes]
                if unknown:
                    raise ValueError(f"exclusive group {list(group)} names {unknown}, not attributes of "
                                     f"{datasets[0]} ({attributes})")
            if label_types[0] != "multi":
                raise ValueError("exclusive_groups are for 'multi' (binary attribute) labels; 'single' labels are "
                                 "one class at a time already")
            flat = [n for g in exclusive_groups for n in g]
            if len(set(flat)) != len(flat):
                raise ValueError(f"an attribute can be in one exclusive group only: {exclusive_groups}")

        self.image_size = image_size
        self.c_dim, self.c2_dim = c_dim, c2_dim
        self.attributes, self.attributes2 = list(attributes), list(attributes2)
        self.datasets = list(datasets)
        self.label_types = list(label_types)
        self.crop_size = crop_size
        self._exclusive = exclusive_groups
        self.generator = Generator(conv_dim, self.label_dim, repeat_num)
        if with_discriminator:
            self.discriminator = Discriminator(image_size, d_conv_dim, c_dim + c2_dim, d_repeat_num)

    # ---- labels -------------------------------------------------------------------------------

    @property
    def joint(self) -> bool:
        """Two datasets with the mask vector (the official ``--dataset Both``)."""
        return self.c2_dim > 0

    @property
    def label_dim(self) -> int:
        """The generator's label channels: c_dim, or c_dim + c2_dim + 2 in joint mode."""
        return self.c_dim + self.c2_dim + 2 if self.joint else self.c_dim

    @property
    def label_sets(self) -> list[list[str]]:
        """The label names of each dataset."""
        return [self.attributes, self.attributes2] if self.joint else [self.attributes]

    @property
    def exclusive_groups(self) -> list[list[str]]:
        """Attributes set one at a time; default: the official create_labels rule (CelebA's hair colours)."""
        if self._exclusive is not None:
            return [list(g) for g in self._exclusive]
        if self.label_types[0] != "multi":
            return []
        hair = [a for a in self.attributes if a in OFFICIAL_HAIR_COLOURS]
        return [hair] if hair else []

    @property
    def has_discriminator(self) -> bool:
        return getattr(self, "discriminator", None) is not None

    # ---- normalisation ------------------------------------------------------------------------

    @property
    def normalization(self) -> str:
        """How the generator's instance norms normalise outside training: ``"instance"`` (default, the
        official test outputs) or ``"running"`` (the stored running averages, PyTorch eval semantics)."""
        modes = {n.normalization for n in self.generator.norms()}
        return modes.pop() if len(modes) == 1 else "mixed"

    @normalization.setter
    def normalization(self, value: str) -> None:
        if value not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {value!r}")
        self.generator.set_normalization(value)

    # ---- hub ----------------------------------------------------------------------------------

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """``G(x, c)``: images (N, 3, H, W) in [-1, 1] translated to label vectors c (N, label_dim)."""
        return self.generator(x, c)

    def usage_snippet(self, repo_id: str) -> str:
        if self.label_types[0] == "multi":
            group = next(iter(self.exclusive_groups), [])
            target = {group[-1] if group else self.attributes[0]: 1}
            if len(self.attributes) > len(group) + 0:
                other = next((a for a in self.attributes if a not in group), None)
                if other is not None:
                    target[other] = 1
        else:
            target = {self.attributes[-1]: 1}
        return (f"import hubmodels\n\nmodel = hubmodels.load({repo_id!r})\n"
                f"edited = model.translate(\"face.png\", {target!r})  # PIL image; other labels kept\n"
                f"grid = model.edit_grid(\"face.png\")  # input + every single-attribute edit, as in the paper")

    @classmethod
    def from_official(cls, generator: str | Path | Mapping, discriminator: str | Path | Mapping | None = None, *,
                      config: str | Mapping[str, Any] | None = None, **overrides: Any) -> "StarGAN":
        """Load an official ``{iters}-G.ckpt`` (and optionally ``{iters}-D.ckpt``).

        ``config``: a named configuration (``"stargan_celeba_128"``, ``"stargan_celeba_rafd_256"``, ...), a
        dict of our constructor arguments, or the official ``main.py`` options (``dataset``, ``c_dim``,
        ``c2_dim``, ``image_size``, ``g_conv_dim``, ``selected_attrs``, ...; an ``argparse.Namespace`` works
        too). What it does not give is read from the tensor shapes; keyword ``overrides`` (e.g.
        ``attributes=[...]``) win over both.
        """
        from .convert import from_official

        return from_official(generator, discriminator, config=config, cls=cls, **overrides)
