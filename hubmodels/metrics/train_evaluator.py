"""Train the SynthFaces evaluator from scratch on rendered faces, measure it on held-out ones, publish it.

    python -m hubmodels.metrics.train_evaluator --out runs/synthfaces-evaluator \\
        --publish hubmodels/synthfaces-evaluator --threads 1

A few minutes on one CPU core at 64 px. Training faces come from their own SynthFaces stream
(:data:`TRAIN_SEED`), held-out ones from the validation index range (``VAL_INDEX_OFFSET``) of another stream
(:data:`HELDOUT_SEED`), so neither overlaps the faces the demo models trained on nor each other. The
held-out accuracy (domain, each attribute, segmentation mIoU) goes into the card's metrics.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.layouts import pil_to_tensor
from ..data.synthfaces import ATTRIBUTES, DOMAINS, MASK_CLASSES, VAL_INDEX_OFFSET, colorize_mask, render_face
from .evaluator import EVALUATOR_ID, SynthFacesEvaluator
from .masks import mean_iou

__all__ = ["TRAIN_SEED", "HELDOUT_SEED", "render_set", "held_out_accuracy", "main"]

TRAIN_SEED = 17  # a stream of its own: not the demo models' training stream (0)
HELDOUT_SEED = 1_700_017  # the evaluator's held-out faces: validation range of yet another stream
DEFAULT_CHANNELS = [32, 64, 128, 256]  # half of ResNet-10-T's widths: 1.3 M parameters, 2.5 MB in fp16


def render_set(seed: int, n: int, size: int = 64, offset: int = 0) -> dict[str, Tensor]:
    """Faces ``offset .. offset + n`` of stream ``seed`` as tensors: image, domain, attributes, mask."""
    faces = [render_face(seed, offset + i, size) for i in range(n)]
    return {
        "image": torch.stack([pil_to_tensor(f.image) for f in faces]),
        "domain": torch.tensor([DOMAINS.index(f.domain) for f in faces]),
        "attributes": torch.tensor([[float(f.attributes[a]) for a in ATTRIBUTES] for f in faces]),
        "mask": torch.stack([torch.from_numpy(f.mask.astype(np.int64)) for f in faces]),
    }


def _augment(x: Tensor, mask: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Flips, noise and blur: generated images are noisier and softer than renders, colours are kept (they
    are attributes)."""
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mask = torch.where(flip[:, None, None], mask.flip(-1), mask)
    blur = torch.rand(x.shape[0], generator=g) < 0.3
    soft = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    x = torch.where(blur[:, None, None, None], soft, x)
    sigma = torch.rand(x.shape[0], 1, 1, 1, generator=g) * 0.08
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1), mask


def class_weights(masks: Tensor, num_classes: int) -> Tensor:
    """Per-class weights ~ 1/sqrt(pixel frequency), mean 1: small parts (nose, glasses) are a few pixels each
    and plain cross-entropy would let the background and head decide everything."""
    freq = torch.bincount(masks.flatten(), minlength=num_classes).float().clamp_min(1) / masks.numel()
    w = freq.rsqrt()
    return w / w.mean()


def _loss(out: dict[str, Tensor], batch: dict[str, Tensor], weights: Tensor) -> tuple[Tensor, dict[str, float]]:
    parts = {
        "domain": F.cross_entropy(out["domain_logits"], batch["domain"]),
        "attributes": 2 * F.binary_cross_entropy_with_logits(out["attribute_logits"], batch["attributes"]),
        "mask": F.cross_entropy(out["mask_logits"], batch["mask"], weight=weights),
    }
    return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}


@torch.no_grad()
def held_out_accuracy(model: SynthFacesEvaluator, data: dict[str, Tensor]) -> dict[str, float]:
    """Domain accuracy, per-attribute accuracy and segmentation mIoU / pixel accuracy on ``data``."""
    model.eval()
    pred = model.predict(data["image"])
    metrics = {"domain_accuracy": float((pred["domain"] == data["domain"]).float().mean())}
    for k, name in enumerate(model.attributes):
        metrics[f"attr_{name}_accuracy"] = float((pred["attributes"][:, k] == data["attributes"][:, k].bool())
                                                 .float().mean())
    metrics["attribute_accuracy_mean"] = float(np.mean([metrics[f"attr_{a}_accuracy"] for a in model.attributes]))
    seg = mean_iou(pred["mask"], data["mask"], len(model.mask_classes))
    metrics["segmentation_miou"] = float(seg["miou"])
    metrics["segmentation_pixel_accuracy"] = float(seg["pixel_accuracy"])
    for name, iou in zip(model.mask_classes, seg["iou"]):
        if iou is not None:
            metrics[f"iou_{name}"] = float(iou)
    return {k: round(v, 4) for k, v in metrics.items()}


def _sample_picture(model: SynthFacesEvaluator, data: dict[str, Tensor], n: int = 6):
    """Rows: held-out faces, their true part masks, the evaluator's masks (with its domain guess as caption)."""
    from ..images import image_grid, to_pil

    with torch.no_grad():
        pred = model.predict(data["image"][:n])
    row_img = to_pil(data["image"][:n])
    row_true = [colorize_mask(m.numpy()) for m in data["mask"][:n]]
    row_pred = [colorize_mask(m.numpy()) for m in pred["mask"]]
    return image_grid(row_img + row_true + row_pred, nrow=n)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hubmodels.metrics.train_evaluator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the trained model (save_pretrained) and log.json")
    p.add_argument("--publish", default=None, help=f"also publish into the local hub under this id ({EVALUATOR_ID})")
    p.add_argument("--hub-dir", default=None, help="the local hub folder to publish into (default: $HUBMODELS_HUB "
                   "or the repository's hub/)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--n-train", type=int, default=6000, help="training faces (rendered once, kept in memory)")
    p.add_argument("--n-val", type=int, default=600, help="held-out faces for the card's accuracy")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--channels", type=int, nargs=4, default=DEFAULT_CHANNELS)
    p.add_argument("--decoder-dim", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train = render_set(TRAIN_SEED, args.n_train, args.img_size)
    val = render_set(HELDOUT_SEED, args.n_val, args.img_size, offset=VAL_INDEX_OFFSET)
    print(f"rendered {args.n_train} training and {args.n_val} held-out faces in {time.time() - t0:.0f} s", flush=True)

    model = SynthFacesEvaluator(channels=list(args.channels), img_size=args.img_size, decoder_dim=args.decoder_dim,
                                domains=list(DOMAINS), attributes=list(ATTRIBUTES), mask_classes=list(MASK_CLASSES))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warmup = max(1, args.steps // 20)
    # cosine decay after a short warm-up: a from-scratch network at a high rate needs both
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    g = torch.Generator().manual_seed(args.seed)
    weights = class_weights(train["mask"], len(MASK_CLASSES))
    log = []
    t_train = time.time()
    model.train()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, args.n_train, (args.batch_size,), generator=g)
        x, mask = _augment(train["image"][idx], train["mask"][idx], g)
        batch = {"domain": train["domain"][idx], "attributes": train["attributes"][idx], "mask": mask}
        loss, parts = _loss(model(x), batch, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps:
            log.append({"step": step, "loss": round(float(loss.detach()), 4), **{k: round(v, 4) for k, v in parts.items()}})
            print(f"step {step}/{args.steps} loss {float(loss.detach()):.3f} " +
                  " ".join(f"{k} {v:.3f}" for k, v in parts.items()) + f" ({time.time() - t_train:.0f} s)", flush=True)
    train_s = time.time() - t_train
    model.eval()
    metrics = held_out_accuracy(model, val)
    print(json.dumps(metrics, indent=1), flush=True)

    command = "python -m hubmodels.metrics.train_evaluator " + " ".join(shlex.quote(a) for a in
                                                                          (argv if argv is not None else sys.argv[1:]))
    params = sum(p.numel() for p in model.parameters())
    model.card.title = "SynthFaces evaluator (64 px)"
    model.card.description = (
        "The network behind hubmodels' SynthFaces metrics: a timm ResNet-10-T backbone at half width "
        f"(stages {list(args.channels)}, {params / 1e6:.2f} M parameters) trained from scratch, with a domain "
        f"classifier ({', '.join(DOMAINS)}), one binary classifier per attribute ({', '.join(ATTRIBUTES)}) and a "
        f"light FPN-style decoder segmenting the parts ({', '.join(MASK_CLASSES)}). Its pooled backbone features "
        "are the feature space of `fd_synthfaces` / `kid_synthfaces` (a Fréchet distance in *these* features, "
        "not FID, and not comparable with published FIDs), and its classifiers score translations, edits and "
        "masks (`python -m hubmodels.evaluate`). Inputs of any size are resized to 64 px; images in [-1, 1].")
    model.card.datasets = ["synthfaces"]
    model.card.metrics = metrics
    model.card.how_made = (
        f"Trained from scratch (no pretrained weights) for {args.steps} steps of batch {args.batch_size} on "
        f"{args.n_train} SynthFaces renders (stream {TRAIN_SEED}, faces 0..{args.n_train - 1}; random flips, blur "
        "and noise, colours untouched since they are attributes), AdamW with a cosine schedule. Losses: "
        "cross-entropy (domain), binary cross-entropy (attributes, weight 2), per-pixel cross-entropy (parts, "
        "classes weighted by 1/sqrt(pixel frequency)). The metrics "
        f"are on {args.n_val} held-out faces (stream {HELDOUT_SEED}, validation index range): accuracy of the "
        "domain and of each attribute, and the segmentation's mean IoU over the part classes.")
    model.card.command = command
    model.card.training = {"steps": args.steps, "batch size": args.batch_size, "training faces": args.n_train,
                           "held-out faces": args.n_val, "wall time (s)": round(train_s),
                           "threads": args.threads, "parameters": params}
    model.card.sample_image = _sample_picture(model, val)
    model.card.sample_caption = ("Held-out faces (top), their true part masks (middle) and the evaluator's "
                                 "segmentation (bottom).")
    model.save_pretrained(out / "model", storage_dtype="float16")
    (out / "log.json").write_text(json.dumps({"log": log, "metrics": metrics, "train_s": train_s}, indent=1) + "\n")
    if args.publish:
        where = model.publish(args.publish, hub_dir=args.hub_dir, storage_dtype="float16")
        print(f"published {args.publish} -> {where}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
