"""StarGAN's released configurations, where their official weights come from, and the test-time preprocessing."""
from __future__ import annotations

from typing import Any

from ..images import Preprocess

__all__ = ["NAMED_CONFIGS", "OFFICIAL_WEIGHTS", "PREPROCESS", "PREPROCESS_RAFD", "CELEBA_ATTRIBUTES",
           "RAFD_EXPRESSIONS", "OFFICIAL_HAIR_COLOURS"]

# yunjey/stargan data_loader.py get_loader(mode='test'): CenterCrop(crop_size) on the PIL image ->
# Resize(image_size) (bilinear) -> ToTensor -> Normalize(0.5, 0.5). crop 178 for CelebA (its 178x218 aligned
# faces), 256 for RaFD (main.py defaults); a model's own crop_size and image_size override these.
PREPROCESS = Preprocess(size=128, resize="center_crop_resize", crop_size=178, interpolation="bilinear")
PREPROCESS_RAFD = Preprocess(size=128, resize="center_crop_resize", crop_size=256, interpolation="bilinear")

CELEBA_ATTRIBUTES = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]  # main.py --selected_attrs default
# RaFD's eight expressions, in torchvision ImageFolder order (class folders sorted by name), which is the
# label order the official RaFD loader gives.
RAFD_EXPRESSIONS = ["angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised"]
# Solver.create_labels: the attributes that are "set one, clear the others" instead of flipped.
OFFICIAL_HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

_FULL = dict(conv_dim=64, repeat_num=6, d_conv_dim=64, d_repeat_num=6)  # main.py defaults

NAMED_CONFIGS: dict[str, dict[str, Any]] = {
    "stargan_celeba_128": dict(
        description="CelebA 128x128, 5 attributes (Black_Hair Blond_Hair Brown_Hair Male Young): released",
        image_size=128, c_dim=5, attributes=CELEBA_ATTRIBUTES, datasets=["CelebA"], label_types=["multi"],
        crop_size=178, **_FULL,
    ),
    "stargan_celeba_256": dict(
        description="CelebA 256x256, 5 attributes: released (main.py defaults at image_size 256)",
        image_size=256, c_dim=5, attributes=CELEBA_ATTRIBUTES, datasets=["CelebA"], label_types=["multi"],
        crop_size=178, **_FULL,
    ),
    "stargan_rafd_128": dict(
        description="RaFD 128x128, 8 expressions (README command; no weights released)",
        image_size=128, c_dim=8, attributes=RAFD_EXPRESSIONS, datasets=["RaFD"], label_types=["single"],
        crop_size=256, **_FULL,
    ),
    "stargan_celeba_rafd_256": dict(
        description="joint CelebA (5 attributes) + RaFD (8 expressions) with the mask vector, 256x256 "
                    "(README command; no weights released)",
        image_size=256, c_dim=5, c2_dim=8, attributes=CELEBA_ATTRIBUTES, attributes2=RAFD_EXPRESSIONS,
        datasets=["CelebA", "RaFD"], label_types=["multi", "single"], crop_size=178, **_FULL,
    ),
}

OFFICIAL_WEIGHTS: dict[str, str] = {
    "stargan_celeba_128": "yunjey/stargan `bash download.sh pretrained-celeba-128x128` -> "
                          "stargan_celeba_128/models/200000-G.ckpt (+ 200000-D.ckpt)",
    "stargan_celeba_256": "yunjey/stargan `bash download.sh pretrained-celeba-256x256` -> "
                          "stargan_celeba_256/models/200000-G.ckpt (+ 200000-D.ckpt)",
    "stargan_rafd_128": "not released: train with the official `python main.py --mode train --dataset RaFD "
                        "--image_size 128 --c_dim 8` (or `python -m train.stargan`), then convert "
                        "{iters}-G.ckpt (+ {iters}-D.ckpt)",
    "stargan_celeba_rafd_256": "not released: train with the official `python main.py --mode train --dataset Both "
                               "--image_size 256 --c_dim 5 --c2_dim 8`, then convert {iters}-G.ckpt "
                               "(+ {iters}-D.ckpt) with --config stargan_celeba_rafd_256",
}
