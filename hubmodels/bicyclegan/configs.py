"""The configurations of BicycleGAN's released models, their official test-time inputs, and where their weights are.

Released: ``http://efrosgans.eecs.berkeley.edu/BicycleGAN//models/<name>_net_G.pth`` and ``<name>_net_E.pth`` for
``edges2shoes``, ``edges2handbags``, ``night2day``, ``facades`` and ``maps`` (junyanz/BicycleGAN
``pretrained_models/download_model.sh <name>`` stores them as ``pretrained_models/<name>/latest_net_{G,E}.pth``).
All five are the repository defaults: ``G_Unet_add_all`` (``unet_256``, ``where_add=all``, ``ngf=64``, ``nz=8``),
``E_ResNet`` (``resnet_256``, ``nef=64``), instance norm, ReLU up-path, transposed-conv upsampling. They differ in
the input channels and in the test scripts' flags (``scripts/test_<name>.sh``):

==============  ========  =========  =========  ====  ===========================================
model           input_nc  direction  load/crop  nz    test flags
==============  ========  =========  =========  ====  ===========================================
edges2shoes     1         AtoB       256/256    8
edges2handbags  1         AtoB       256/256    8
night2day       3         AtoB       286/256    8     ``--aspect_ratio 1.4`` (display only)
facades         3         BtoA       286/256    8
maps            3         BtoA       512/512    8     ``--no_encode`` (E's 8x8 pool needs 256 px)
==============  ========  =========  =========  ====  ===========================================
"""
from __future__ import annotations

from typing import Any

from ..images import Preprocess

__all__ = ["NAMED_CONFIGS", "OFFICIAL_WEIGHTS", "PREPROCESS", "POLICIES", "RELEASED", "model_policy"]

# The official test loader (data/aligned_dataset.py + base_dataset.get_transform with the test scripts' flags:
# preprocess resize_and_crop, --no_flip): [Grayscale(1) for 1-channel sides] -> Resize([load, load], BICUBIC)
# -> crop -> ToTensor -> Normalize(0.5, 0.5). The official crop position is random (python `random`; its
# --center_crop flag is never read); the inference API takes the centre, so results are reproducible.
PREPROCESS = Preprocess(size=256, resize="resize_center_crop", load_size=286, interpolation="bicubic")
POLICIES: dict[str, Preprocess] = {
    "bicyclegan": PREPROCESS,  # night2day, facades
    "bicyclegan_256": Preprocess(size=256, resize="resize_center_crop", load_size=256, interpolation="bicubic"),
    "bicyclegan_edges": Preprocess(size=256, resize="resize_center_crop", load_size=256, interpolation="bicubic",
                                   grayscale=True),  # edges2shoes, edges2handbags (input_nc=1)
    "bicyclegan_maps": Preprocess(size=512, resize="resize_center_crop", load_size=512, interpolation="bicubic"),
}


def model_policy(img_size: int, load_size: int, channels: int) -> Preprocess:
    """The official test-time pipeline of one side (input or output domain) of a model."""
    return Preprocess(size=img_size, resize="resize_center_crop", load_size=load_size, interpolation="bicubic",
                      grayscale=channels == 1)


_RELEASED_ARCH: dict[str, Any] = dict(
    output_nc=3, nz=8, ngf=64, nef=64, num_downs=8, where_add="all", norm="instance", nl="relu",
    upsample="basic", encoder="resnet", encoder_depth=5,
)

# Constructor arguments of the released models (download_model.sh + scripts/test_<name>.sh).
NAMED_CONFIGS: dict[str, dict[str, Any]] = {
    "bicyclegan_edges2shoes_256": dict(
        description="edges2shoes: 1-channel edge map -> shoe photo, 256x256 (AtoB)",
        input_nc=1, img_size=256, load_size=256, direction="AtoB", **_RELEASED_ARCH),
    "bicyclegan_edges2handbags_256": dict(
        description="edges2handbags: 1-channel edge map -> handbag photo, 256x256 (AtoB)",
        input_nc=1, img_size=256, load_size=256, direction="AtoB", **_RELEASED_ARCH),
    "bicyclegan_night2day_256": dict(
        description="night2day: night photo -> day photo, 256x256 from 286 (AtoB)",
        input_nc=3, img_size=256, load_size=286, direction="AtoB", **_RELEASED_ARCH),
    "bicyclegan_facades_256": dict(
        description="facades: label map -> facade photo, 256x256 from 286 (BtoA)",
        input_nc=3, img_size=256, load_size=286, direction="BtoA", **_RELEASED_ARCH),
    "bicyclegan_maps_512": dict(
        description="maps: map -> aerial photo, 512x512 (BtoA); the encoder takes 256x256 references",
        input_nc=3, img_size=512, load_size=512, direction="BtoA", **_RELEASED_ARCH),
}

# the release names of download_model.sh, by configuration
RELEASED: dict[str, str] = {
    "bicyclegan_edges2shoes_256": "edges2shoes",
    "bicyclegan_edges2handbags_256": "edges2handbags",
    "bicyclegan_night2day_256": "night2day",
    "bicyclegan_facades_256": "facades",
    "bicyclegan_maps_512": "maps",
}

_URL = "http://efrosgans.eecs.berkeley.edu/BicycleGAN//models/"
OFFICIAL_WEIGHTS: dict[str, str] = {
    name: (f"{_URL}{release}_net_G.pth and {release}_net_E.pth (junyanz/BicycleGAN pretrained_models/"
           f"download_model.sh {release} -> pretrained_models/{release}/latest_net_G.pth, latest_net_E.pth)")
    for name, release in RELEASED.items()
}
