"""The configurations of StarGAN v2's released checkpoints, and where their official weights come from."""
from __future__ import annotations

from typing import Any

from ..images import Preprocess

__all__ = ["NAMED_CONFIGS", "OFFICIAL_WEIGHTS", "PREPROCESS"]

# The official test loader (core/data_loader.py get_test_loader): Resize([s, s]) -> ToTensor ->
# Normalize(0.5, 0.5); s is the model's img_size.
PREPROCESS = Preprocess(size=256, resize="resize", interpolation="bilinear")

# Constructor arguments of the released models (clovaai/stargan-v2 download.sh).
NAMED_CONFIGS: dict[str, dict[str, Any]] = {
    "stargan_v2_celebahq_256": dict(
        description="CelebA-HQ 256x256, female/male, high-pass face-mask skips (FAN)",
        img_size=256, num_domains=2, domains=["female", "male"], w_hpf=1, latent_dim=16, style_dim=64,
        hidden_dim=512, dim_in=64, max_conv_dim=512,
    ),
    "stargan_v2_afhq_256": dict(
        description="AFHQ 256x256, cat/dog/wild",
        img_size=256, num_domains=3, domains=["cat", "dog", "wild"], w_hpf=0, latent_dim=16, style_dim=64,
        hidden_dim=512, dim_in=64, max_conv_dim=512,
    ),
}

# Where each released model's files come from (clovaai/stargan-v2 ``bash download.sh <name>``).
OFFICIAL_WEIGHTS: dict[str, str] = {
    "stargan_v2_celebahq_256": "download.sh pretrained-network-celeba-hq -> expr/checkpoints/celeba_hq/"
                               "100000_nets_ema.ckpt, plus download.sh wing -> expr/checkpoints/wing.ckpt (FAN)",
    "stargan_v2_afhq_256": "download.sh pretrained-network-afhq -> expr/checkpoints/afhq/100000_nets_ema.ckpt",
}
