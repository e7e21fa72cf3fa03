"""What a sketch-to-image model is asked to do, measured: diverse outputs that respect the outline.

:func:`evaluate_pairs` scores a model on aligned (input, target) pairs:

* ``diversity_l1``: mean absolute difference between the outputs of one input for different random codes
  (images in [-1, 1]; 0 when the code is ignored), averaged over every pair of codes and every input;
* ``sample_l1`` (random codes) and ``recon_l1`` (the target's own encoded code) against the target;
  ``z_recon_l1``: ``|mu(E(G(A, z))) - z|``, how well the encoder reads back the code (latent recovery);
* for line-drawing inputs, the outline: edges detected in each output (:func:`.edges.detect_edges`) against the
  input's lines, F1 with a one-pixel tolerance (``outline_f1``), beside the same score against another input's
  lines (``outline_f1_shuffled``, the chance level) and the targets' own score (``real_outline_f1``, the ceiling);
* with part masks (SynthFaces), :func:`hubmodels.metrics.mask_r2` of the outputs against their own masks
  (``mask_r2``), against other inputs' masks (``mask_r2_shuffled``) and the targets' (``real_mask_r2``).

:func:`synthfaces_figures` renders held-out SynthFaces sketches and runs it.
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..metrics import mask_r2
from .edges import detect_edges, edge_agreement, sketch_lines

__all__ = ["pairwise_l1", "outline_f1", "evaluate_pairs", "synthfaces_figures", "SYNTHFACES_VAL_SEED"]

SYNTHFACES_VAL_SEED = 1_000_003  # train.bicyclegan's held-out SynthFaces stream


def pairwise_l1(outputs: Tensor) -> Tensor:
    """(N, K, C, H, W) outputs of N inputs for K codes -> (N,) mean |a - b| over the K(K-1)/2 pairs."""
    n, k = outputs.shape[:2]
    if k < 2:
        return outputs.new_zeros(n)
    pairs = [(outputs[:, i] - outputs[:, j]).abs().flatten(1).mean(1) for i, j in itertools.combinations(range(k), 2)]
    return torch.stack(pairs, 1).mean(1)


def outline_f1(images: Tensor, sketches: Tensor) -> Tensor:
    """(N,) F1 of the edges detected in ``images`` ([-1, 1]) against the lines of ``sketches`` ([-1, 1])."""
    found = detect_edges((images.float().clamp(-1, 1) + 1) / 2)
    return edge_agreement(found, sketch_lines(sketches))["f1"]


@torch.no_grad()
def evaluate_pairs(model, A: Tensor, B: Tensor, masks: Tensor | None = None, *, seed: int = 0, samples: int = 4,
                   batch_size: int = 16) -> dict[str, float]:
    """Held-out figures of a BicycleGAN on inputs ``A`` and targets ``B`` (both in [-1, 1])."""
    model.eval()
    device = model.device
    n = A.shape[0]
    g = torch.Generator().manual_seed(seed)
    outs, recon, zrec = [], [], []
    for i in range(0, n, batch_size):
        a, b = A[i:i + batch_size].to(device), B[i:i + batch_size].to(device)
        m = a.shape[0]
        if model.nz == 0:
            outs.append(model.generator(a)[:, None].float().cpu())
            continue
        z = torch.randn(m, samples, model.nz, generator=g).to(device)
        fakes = torch.stack([model.generator(a, z[:, k]) for k in range(samples)], 1)
        outs.append(fakes.float().cpu())
        if model.encoder is not None and model.encoder_size == b.shape[-1]:
            recon.append((model.generator(a, model.encoder(b)[0]) - b).abs().flatten(1).mean(1).cpu())
            zrec.append((model.encoder(fakes.flatten(0, 1))[0] - z.flatten(0, 1)).abs().mean(1).view(m, -1)
                        .mean(1).cpu())
    out = torch.cat(outs)  # (N, K, C, H, W)
    k = out.shape[1]
    flat = out.flatten(0, 1)
    metrics = {
        "diversity_l1": float(pairwise_l1(out).mean()) if k > 1 else 0.0,
        "sample_l1": float((out - B[:, None].cpu()).abs().mean()),
    }
    if recon:
        metrics["recon_l1"] = float(torch.cat(recon).mean())
        metrics["z_recon_l1"] = float(torch.cat(zrec).mean())
    if A.shape[1] == 1 and n > 1:  # line drawings in: do the outputs follow them?
        sketches = A.cpu().repeat_interleave(k, 0)
        shuffled = A.cpu().roll(1, 0).repeat_interleave(k, 0)
        metrics["outline_f1"] = float(outline_f1(flat, sketches).mean())
        metrics["outline_f1_shuffled"] = float(outline_f1(flat, shuffled).mean())
        metrics["real_outline_f1"] = float(outline_f1(B.cpu(), A.cpu()).mean())
    if masks is not None and n > 1:
        own = masks.cpu().repeat_interleave(k, 0)
        other = masks.cpu().roll(1, 0).repeat_interleave(k, 0)
        metrics["mask_r2"] = float(mask_r2(flat, own).mean())
        metrics["mask_r2_shuffled"] = float(mask_r2(flat, other).mean())
        metrics["real_mask_r2"] = float(mask_r2(B.cpu().float(), masks.cpu()).mean())
    return {key: round(value, 5) for key, value in metrics.items()}


def synthfaces_figures(model, *, n: int = 24, seed: int = SYNTHFACES_VAL_SEED, code_seed: int = 0,
                       samples: int = 4) -> dict[str, float]:
    """:func:`evaluate_pairs` on ``n`` SynthFaces (sketch, face) pairs of stream ``seed`` at the model's size."""
    import numpy as np

    from ..data.layouts import pil_to_tensor
    from ..data.synthfaces import render_face

    faces = [render_face(seed, i, size=model.img_size) for i in range(n)]
    A = torch.stack([pil_to_tensor(f.edges) for f in faces])
    B = torch.stack([pil_to_tensor(f.image) for f in faces])
    masks = torch.stack([torch.from_numpy(f.mask.astype(np.int64)) for f in faces])
    return evaluate_pairs(model, A, B, masks, seed=code_seed, samples=samples)
