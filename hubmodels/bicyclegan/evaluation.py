"""BicycleGAN on the hub's common metrics (the spec's ``evaluate``; see :mod:`hubmodels.metrics.suite`).

Held-out SynthFaces sketches (``render_face(...).edges``, the demo models' input) go through the generator with
random codes; the target is the face's own picture:

* ``recon_l1``: ``|G(A, E(B)) - B|`` with the encoder's mean, how well the encoded style of the real picture
  is rebuilt (images in [-1, 1]; the cVAE-GAN reconstruction);
* ``diversity_<distance>``: mean pairwise distance between the outputs of one sketch for different codes;
* ``mask_miou``: the SynthFaces evaluator's part segmentation of each output against the sketch's true part
  mask (mean IoU): the output puts eyes, ears, nose where the sketch drew them;
* FD/KID (named after the extractor) of the outputs against held-out real faces.
"""
from __future__ import annotations

import torch

from ..metrics import mean_iou
from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate", "CODES"]

CODES = 3  # random codes per sketch: pairs for the diversity score


@torch.no_grad()
def evaluate(model, judge: Judge, n: int, seed: int, batch_size: int = 16) -> dict[str, Score]:
    """Run ``n`` held-out SynthFaces sketches (validation range of stream ``seed``) through the model."""
    if model.input_nc != 1 or model.output_nc != 3:
        raise ValueError("SynthFaces evaluation is sketch (1 channel) -> face (3 channels); this model maps "
                         f"{model.input_nc} -> {model.output_nc} channels")
    if n < 2:
        raise ValueError(f"need at least 2 faces, got n={n}")
    model.eval()
    size = model.img_size
    faces = held_out_faces(n, seed=seed, size=size)
    g = torch.Generator().manual_seed(seed)
    codes = CODES if model.nz > 0 else 1
    outs, recon = [], []
    for i in judge.track(range(0, n, batch_size), "sampling"):
        a = faces["edges"][i:i + batch_size].to(model.device, model.dtype)
        b = faces["image"][i:i + batch_size].to(model.device, model.dtype)
        m = a.shape[0]
        if model.nz == 0:
            outs.append(model.generator(a)[:, None].float().cpu())
            continue
        z = torch.randn(m, codes, model.nz, generator=g).to(model.device, model.dtype)
        outs.append(torch.stack([model.generator(a, z[:, k]) for k in range(codes)], 1).float().cpu())
        if model.encoder is not None and model.encoder_size == b.shape[-1]:
            recon.append((model.generator(a, model.encoder(b)[0]) - b).abs().flatten(1).mean(1).float().cpu())
    out = torch.cat(outs)  # (N, codes, 3, H, W)
    scores: dict[str, Score] = {}
    if recon:
        scores["recon_l1"] = Score(round(float(torch.cat(recon).mean()), 5),
                                   "mean |G(sketch, E(picture)) - picture| with the encoder's mean (images in "
                                   "[-1, 1]): how well the encoded style is rebuilt; lower is better")
    seg = mean_iou(judge.net.predict(out[:, 0])["mask"],
                   torch.nn.functional.interpolate(faces["mask"][:, None].float(), size=(judge.net.img_size,) * 2,
                                                   mode="nearest")[:, 0].long(), len(judge.net.mask_classes))
    scores["mask_miou"] = Score(round(float(seg["miou"]), 4),
                                "mean IoU of the SynthFaces evaluator's part segmentation of each output (one random "
                                "code) against the input sketch's true part mask; higher is better")
    if codes > 1:
        scores.update(judge.diversity_score(out, f"the outputs of one sketch for {codes} random codes"))
    real = held_out_faces(n, seed=seed, size=size, offset=n)["image"]
    scores.update(judge.distribution_scores(real, out[:, 0], "outputs for random codes"))
    return scores
