"""Mask R^2 and the SynthFaces pose figures: they must separate aligned from misaligned layouts."""
from __future__ import annotations

import pytest
import torch

from hubmodels.data.layouts import pil_to_tensor
from hubmodels.data.synthfaces import MASK_CLASSES, render_face
from hubmodels.metrics import mask_r2, pose_alignment_gap


def _faces(n: int, domain: str, size: int = 64, seed: int = 3):
    faces = [render_face(seed, i, size, domain) for i in range(n)]
    images = torch.stack([pil_to_tensor(f.image) for f in faces])
    masks = torch.stack([torch.from_numpy(f.mask.astype("int64")) for f in faces])
    return images, masks


def test_piecewise_constant_image_is_fully_explained_by_its_mask():
    g = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 5, (3, 16, 16), generator=g)
    colours = torch.rand(3, 3, 5, generator=g)
    images = torch.stack([colours[i][:, masks[i]] for i in range(3)])  # (3, 3, 16, 16)
    assert torch.allclose(mask_r2(images, masks), torch.ones(3), atol=1e-6)
    # the same images against another image's mask explain much less
    assert (mask_r2(images, masks.roll(1, 0)) < 0.5).all()


def test_noise_is_not_explained_and_constant_image_is():
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(2, 3, 32, 32, generator=g)
    masks = torch.randint(0, 8, (2, 32, 32), generator=g)
    assert (mask_r2(noise, masks, 8) < 0.02).all()
    assert torch.equal(mask_r2(torch.zeros(2, 3, 32, 32), masks), torch.ones(2))


def test_synthfaces_renders_follow_their_own_masks_not_others():
    images, masks = _faces(8, "fox")
    r = pose_alignment_gap(images, masks, masks.roll(1, 0), len(MASK_CLASSES))
    assert r["matched"] > 0.6 and r["gap"] > 0.2, r
    # a shifted copy of the image no longer lines up with its own mask
    shifted = images.roll(6, dims=-1)
    assert mask_r2(shifted, masks, len(MASK_CLASSES)).mean() < r["matched"] - 0.2


@pytest.mark.parametrize("images, masks, match", [
    (torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 8), "integer class ids"),
    (torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long), "one size"),
    (torch.zeros(3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long), "one size"),
    (torch.zeros(1, 3, 8, 8), -torch.ones(1, 8, 8, dtype=torch.long), ">= 0"),
])
def test_bad_inputs_are_refused(images, masks, match):
    with pytest.raises(ValueError, match=match):
        mask_r2(images, masks)


class _FakeTranslator:
    """The interface synthfaces_pose_follow uses, with a chosen rule for the output."""

    domains, img_size, latent_dim, device, dtype = ["cat", "dog", "fox"], 32, 4, torch.device("cpu"), torch.float32

    def __init__(self, rule):
        self.rule = rule

    def eval(self):
        return self

    def mapping_network(self, z, y):
        return z

    def __call__(self, x, s):
        return self.rule(x)


@pytest.mark.parametrize("rule, low, high", [
    (lambda x: x, 0.3, 1.0),  # keeps the pose, but also the source's shape: 0.4-0.6
    (lambda x: torch.zeros_like(x) + x.mean(0, keepdim=True), -1e-6, 1e-6),  # one image whatever the pose
    (lambda x: x.flip(0), -1.0, -0.3),  # the other pose
])
def test_pose_follow_scores_one_for_kept_pose_zero_for_ignored(rule, low, high):
    from hubmodels.stargan_v2.metrics import synthfaces_pose_follow

    r = synthfaces_pose_follow(_FakeTranslator(rule), seed=3, n=3)
    assert set(r) == {"follow_tilt", "follow_shift", "follow_scale"}
    for key, value in r.items():
        assert low <= value <= high, (key, r)
