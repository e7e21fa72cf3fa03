"""Train SemanticStyleGAN (Shi et al., CVPR 2022) from scratch on SynthFaces (images with their part masks) or an
image + mask folder.

    python -m train.semantic_stylegan --image-size 64 --depth-prior --steps 4200 --out runs/ssg64 \\
        --publish hubmodels/semantic-stylegan-synthfaces
    python -m train.semantic_stylegan --data path/to/celebamask ...       # images/ + masks/ (class-id PNGs), same stems
    python -m train.semantic_stylegan --out runs/x --resume               # continue, bit-identical
    python -m train.semantic_stylegan --out runs/x --publish-only hubmodels/x   # publish the EMA generator

The objective and optimisation follow the official ``train.py`` (seasonSH/SemanticStyleGAN), whose defaults are
this script's (``--size``, the widths and ``--batch`` excepted: CPU-sized here). Each iteration, in the official
order:

* D main: the dual-branch discriminator scores (image, mask) pairs: reals with their mask one-hot, scaled to
  [-1, 1] (``MaskDataset``), fakes with the generator's final segmentation logits; non-saturating logistic loss;
* D reg (lazy, every ``d_reg_every`` = 16 steps, from step 0): R1 on the reals, one gradient penalty per branch,
  ``(r1_img / 2 * |dD/dimg|^2 + r1_seg / 2 * |dD/dmask|^2) * d_reg_every`` (r1_img 10, r1_seg 1000);
* G main: non-saturating loss plus ``lambda_mask`` (100) times the mask regularisation, the mean squared
  difference between the coarse mask (2 m - 1 at ``coarse_size``) and the final segmentation logits average-pooled
  to that size: the render net may refine the fused layout but not redraw it;
* G reg (lazy, every ``g_reg_every`` = 4 steps): path-length regularisation on batch / ``path_batch_shrink`` (2),
  weight ``path_regularize`` (0.5) x ``g_reg_every``, decay 0.01, the Jacobian taken with respect to the *expanded*
  latent (one code per local-generator layer) of a no-gradient mapping pass, image branch only;
* style mixing with probability ``mixing`` (0.3): per sample and per class, (shape, texture) codes from (w1, w1),
  (w1, w2) or (w2, w2), the shared coarse codes from w1 (:meth:`SemanticGenerator.mixing_latent`);
* Adam(lr 0.002, betas (0, 0.99)) with lr x r and betas ^ r, r = every / (every + 1), for both nets (the official
  applies it whatever the interval); per-pixel noise drawn afresh; G_ema <- lerp(G, G_ema, 0.5 ** (32 / 10000))
  every step, parameters only, no ramp.

Not used: the official ``--aug`` (albumentations shift-scale-rotate; ``--mirror`` gives its flips only), the
Inception FID of its checkpoints, mixed precision by default. Every random draw of step k (batch, flips, latents,
mixing picks, noise maps, path-length noise) comes from a generator seeded by (seed, k, process), so a resumed
run is bit-identical to one that never stopped. Run folders, resuming, checkpoints and publishing are
:mod:`train.loop`'s.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hubmodels.metrics import mask_r2
from train import loop
from train import stylegan as _stylegan_train
from train.common import step_generator
from train.loop import STREAM_EVAL, CardText, Data, Networks, RunReport, StepContext

MODULE = "train.semantic_stylegan"
DESCRIPTION = __doc__.split("\n\n")[0]
SYNTHFACES = "synthfaces"
SYNTHFACES_DOMAINS = ("cat", "dog", "fox")
# Held-out SynthFaces come from their own stream seed, so they never coincide with training faces.
SYNTHFACES_VAL_SEED_OFFSET = 1_000_003
# Classes the official treats as possibly transparent (CelebAMask-HQ's glasses and earring, --transparent_dims 10 12):
# a class of that name is transparent unless --transparent-dims says otherwise.
TRANSPARENT_NAMES = ("glasses", "earring")
# The official EMA: accumulate(g_ema, g, 0.5 ** (32 / (10 * 1000))), a 10 kimg half-life at 32 images per step.
OFFICIAL_EMA_DECAY = 0.5 ** (32 / (10 * 1000))
LOCKED_ARGS = ("data", "domains", "classes", "n_train", "n_val", "data_seed", "mirror", "image_size", "style_dim",
               "n_mlp", "channel_multiplier", "channel_base", "channel_max", "local_layers", "base_layers",
               "depth_layers", "local_channel", "coarse_channel", "coarse_size", "min_feat_size", "residual_refine",
               "detach_texture", "depth_prior", "depth_warmup", "transparent_dims", "r1_img", "r1_seg", "lambda_mask",
               "path_regularize",
               "path_batch_shrink", "d_reg_every", "g_reg_every", "mixing", "lr", "ema_decay")
LOSS_KEYS = ("G/loss", "G/mask", "D/loss_fake", "D/loss_real", "D/r1_img", "D/r1_seg", "G/path", "path_length",
             "scores/real", "scores/fake")
THUMB = _stylegan_train.THUMB  # side of the colour thumbnails the Fréchet figure compares
__all__ = ["LOSS_KEYS", "FAMILY", "SemanticStyleGANFamily", "MaskPool", "TrainGenerator", "build_parser",
           "parse_args", "train", "publish_run", "main", "load_pools", "sample_batch", "real_mask_input",
           "train_step", "seed_grid", "evaluate", "frechet_distance", "model_config", "lazy_ratio", "class_areas",
           "init_depth_prior", "class_frequency_map", "depth_warmup"]


# =============================================================================================
# data


@dataclass
class MaskPool:
    """Images and their class-id masks in memory (uint8: a 64 px SynthFaces set of 10000 faces is 150 MB, not 500)."""

    images: Tensor  # (N, 3, H, W) uint8
    masks: Tensor  # (N, H, W) uint8 class ids
    classes: list[str]
    palette: list[list[int]]
    name: str
    held_out: bool = True

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def image_batch(self, idx: Tensor) -> Tensor:
        # the same arithmetic as hubmodels.data.layouts.pil_to_tensor: x / 127.5 - 1
        return self.images[idx].float().div_(127.5).sub_(1.0)


def _synthfaces_pool(n: int, size: int, seed: int, domains: Sequence[str]) -> tuple[Tensor, Tensor]:
    from hubmodels.data.synthfaces import SynthFaces

    ds = SynthFaces(n, size=size, seed=seed, domains=domains)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    masks = torch.empty(n, size, size, dtype=torch.uint8)
    for i in range(n):
        face = ds.face(i)
        images[i] = torch.from_numpy(np.array(face.image, dtype=np.uint8)).permute(2, 0, 1)
        masks[i] = torch.from_numpy(face.mask.astype(np.uint8))
    return images, masks


def _folder_pool(ds, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
    items = [ds[int(i)] for i in indices]
    # MaskFolder gives [-1, 1] floats of uint8 pixels: back to uint8 exactly (round, not truncate)
    images = torch.stack([((it["image"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8) for it in items])
    masks = torch.stack([it["mask"].to(torch.uint8) for it in items])
    return images, masks


def folder_classes(args: argparse.Namespace, ds) -> list[str]:
    """The folder's classes: --classes, else its palette.json, else background + class_k up to the largest id."""
    if args.classes:
        return list(args.classes)
    if ds.classes:
        return list(ds.classes)
    top = 0
    for i in range(len(ds)):
        top = max(top, int(ds[i]["mask"].max()))
    return ["background"] + [f"class_{k}" for k in range(1, top + 1)]


def load_pools(args: argparse.Namespace, with_train: bool = True) -> tuple[MaskPool | None, MaskPool]:
    """(training pool, metrics pool). The metrics pool holds 2 * n_val pairs: the first half is the reference of the
    Fréchet and class-area figures, the second a real sample scored against it (the figures' floor)."""
    n_val = 2 * args.n_val
    if args.data == SYNTHFACES:
        from hubmodels.data.synthfaces import MASK_CLASSES, MASK_PALETTE

        classes, palette = list(MASK_CLASSES), [list(c) for c in MASK_PALETTE]
        vi, vm = _synthfaces_pool(n_val, args.image_size, args.data_seed + SYNTHFACES_VAL_SEED_OFFSET, args.domains)
        val = MaskPool(vi, vm, classes, palette, SYNTHFACES, True)
        if not with_train:
            return None, val
        ti, tm = _synthfaces_pool(args.n_train, args.image_size, args.data_seed, args.domains)
        return MaskPool(ti, tm, classes, palette, SYNTHFACES), val
    from hubmodels.data.layouts import open_layout
    from hubmodels.semantic_stylegan.model import default_palette

    root = Path(args.data)
    name = root.name or root.resolve().name
    ds = open_layout("masks", root, args.image_size)
    classes = folder_classes(args, ds)
    ds.num_classes = len(classes)  # ids past the class list are refused with the file's name
    palette = [list(c) for c in ds.palette] if ds.palette and len(ds.palette) == len(classes) \
        else default_palette(len(classes))
    # a folder has no held-out split: the figures use a fixed spread of training pairs (the card says so)
    pick = torch.linspace(0, len(ds) - 1, min(n_val, len(ds))).round().long().tolist()
    val = MaskPool(*_folder_pool(ds, pick), classes, palette, name, held_out=False)
    if not with_train:
        return None, val
    return MaskPool(*_folder_pool(ds, range(len(ds))), classes, palette, name), val


def sample_batch(pool: MaskPool, batch_size: int, g: torch.Generator, mirror: bool) -> tuple[Tensor, Tensor]:
    """(images in [-1, 1], class ids) drawn uniformly with replacement (a batch is a pure function of the step),
    image and mask x-flipped together with probability 1/2 under ``--mirror``."""
    idx = torch.randint(len(pool), (batch_size,), generator=g)
    flips = torch.rand(batch_size, generator=g) < 0.5  # drawn either way: the stream does not depend on --mirror
    x, m = pool.image_batch(idx), pool.masks[idx].long()
    if mirror:
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
        m = torch.where(flips[:, None, None], m.flip(-1), m)
    return x, m


def real_mask_input(mask: Tensor, seg_dim: int) -> Tensor:
    """Class ids (N, H, W) -> the discriminator's real mask input: one-hot (N, C, H, W) * 2 - 1 (the official
    MaskDataset), in the [-1, 1] range the generator's coarse mask 2 m - 1 also lives in."""
    return F.one_hot(mask, seg_dim).permute(0, 3, 1, 2).float() * 2 - 1


# =============================================================================================
# networks


def _pow2_sizes(top: int) -> list[int]:
    return [2 ** i for i in range(2, int(math.log2(top)) + 1)]


def model_config(args: argparse.Namespace, classes: Sequence[str], palette: Sequence[Sequence[int]]) -> dict[str, Any]:
    """The published model's constructor arguments (official option names)."""
    channels = None
    if args.channel_base is not None:
        # widths of the render net and discriminator at every resolution from 4 px to the image
        channels = {str(r): max(1, min(args.channel_base // r, args.channel_max)) for r in _pow2_sizes(args.image_size)}
    transparent = args.transparent_dims
    if transparent is None:  # not given: the classes the official treats as transparent, by name
        transparent = [k for k, c in enumerate(classes) if c in TRANSPARENT_NAMES]
    elif any(not 0 < k < len(classes) for k in transparent):
        raise ValueError(f"--transparent-dims must be class indices from 1 to {len(classes) - 1}, got {transparent}")
    return dict(size=args.image_size, style_dim=args.style_dim, n_mlp=args.n_mlp,
                channel_multiplier=args.channel_multiplier, seg_dim=len(classes), local_layers=args.local_layers,
                base_layers=args.base_layers, depth_layers=args.depth_layers, local_channel=args.local_channel,
                coarse_channel=args.coarse_channel, coarse_size=args.coarse_size, min_feat_size=args.min_feat_size,
                residual_refine=args.residual_refine, detach_texture=args.detach_texture,
                transparent_dims=list(transparent), channels=channels, class_names=list(classes),
                palette=[list(c) for c in palette])


def class_areas(masks: Tensor, num_classes: int) -> Tensor:
    """Share of the pixels of each class over a pool of class-id masks."""
    counts = torch.bincount(masks.reshape(-1).long(), minlength=num_classes)[:num_classes].double()
    return counts / counts.sum()


def init_depth_prior(generator: nn.Module, areas: Tensor, floor: float = 1e-4) -> None:
    """Start every class at its share of the training masks: depth bias log(p_k / p_background).

    With zero biases the softmax hands each of the seg_dim classes 1/seg_dim of every pixel at step 0, eight
    times a nose's share; the discriminator's first verdict is then "too much nose everywhere", and the quickest
    answer, a large negative depth bias, saturates the softmax, whose gradient p (1 - p) then never brings the
    class back (seen on SynthFaces: nose depth -39, mouth and markings never drawn). Starting at the prior leaves
    the discriminator nothing to say about areas, only about where each class goes. The background's depth is
    the fixed 0 every other depth is measured against.
    """
    p = areas.clamp_min(floor)
    with torch.no_grad():
        for k, net in enumerate(generator.local_nets):
            if net.to_depth is not None:
                net.to_depth.bias.fill_(float(torch.log(p[k] / p[0])))


def class_frequency_map(masks: Tensor, num_classes: int, size: int, mirror: bool = False,
                        chunk: int = 512) -> Tensor:
    """[C, size, size]: at each pixel of the coarse grid, the share of the pool's masks showing each class (masks
    area-pooled to ``size``; x-symmetrised under ``mirror``, as the training batches are). Sums to 1 per pixel."""
    total = torch.zeros(num_classes, size, size, dtype=torch.float64)
    for i in range(0, masks.shape[0], chunk):
        one_hot = F.one_hot(masks[i:i + chunk].long(), num_classes).permute(0, 3, 1, 2).float()
        total += F.adaptive_avg_pool2d(one_hot, size).sum(0).double()
    freq = total / masks.shape[0]
    if mirror:
        freq = (freq + freq.flip(-1)) / 2
    return freq.float()


def _coarse_marginal(generator: nn.Module, z: Tensor) -> Tensor:
    """The batch-mean coarse segmentation softmax_k(d_k) [C, cs, cs] of latents z (no mixing)."""
    w = generator.style(z)
    latent = generator.expand_latents(w.unsqueeze(1).expand(-1, generator.n_latent, -1))
    _, depths = generator.local_outputs(latent)
    return F.softmax(torch.cat(depths, 1).float(), 1).mean(0)


def depth_warmup(generator: nn.Module, freq: Tensor, steps: int, batch_size: int, lr: float, seed: int) -> float:
    """Fit the batch-mean coarse segmentation of random latents to the masks' class frequency map ``freq``.

    Not in the official code (``--depth-warmup STEPS``, off by default). Why: a class wins a pixel of the
    composition only once its pseudo-depth beats every other there, and at step 0 nothing says where the parts
    go. A small class starts with a share p of every pixel and the softmax hands its depth a gradient scaled
    by p (1 - p); on SynthFaces at 64 px the eyes (1.4% of the pixels, at most 39% of any one pixel over the
    data) never won a pixel in a 2-hour run, and were drawn by the head instead. After the warm-up each class
    starts where the data puts it, with shares up to its frequency there. The loss is the cross-entropy of
    the batch *mean* against the map, not of each sample: each sample stays free to draw its own layout, only
    the population matches the data's marginal. Own Adam (the training's optimiser state starts as without the
    warm-up) and own random stream. Returns the final KL divergence (0: the marginal matches the map).
    """
    g = torch.Generator().manual_seed(seed + 7919)
    entropy = -(freq * torch.log(freq.clamp_min(1e-12))).sum(0).mean()
    was_training = generator.training
    generator.train()
    opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.0, 0.99))
    kl = torch.zeros(())
    for _ in range(steps):
        z = torch.randn(batch_size, generator.style_dim, generator=g)
        p = _coarse_marginal(generator, z)
        loss = -(freq * torch.log(p + 1e-8)).sum(0).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        kl = loss.detach() - entropy
    generator.zero_grad(set_to_none=True)
    generator.train(was_training)
    return float(kl)


def lazy_ratio(every: int) -> float:
    """The official's Adam adjustment for lazy regularisation: lr x r, betas ^ r with r = every / (every + 1), so the
    main and regulariser updates together keep the optimiser's time constants. Applied for any interval (the
    official regularises in a separate update even every step)."""
    return every / (every + 1)


def adam(params, args: argparse.Namespace, every: int) -> torch.optim.Adam:
    r = lazy_ratio(every)
    return torch.optim.Adam(params, lr=args.lr * r, betas=(0.0 ** r, 0.99 ** r))


class TrainGenerator(nn.Module):
    """The trained generator as one module whose ``forward`` runs every generator pass of a step, so that a
    data-parallel wrapper sees (and synchronises) them; its parameters are the generator's, in its order, so the
    EMA generator averages it directly. The published model keeps the bare :class:`SemanticGenerator`."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z1: Tensor, z2: Tensor, mix: bool, g: torch.Generator, noise: Sequence[Tensor], *,
                latent_grad: bool = False, ddp_touch: bool = False) -> dict[str, Any]:
        """Mapping, style mixing (``mix``: per-class picks from ``g``; else w1 everywhere), synthesis with the given
        noise maps. ``latent_grad``: the official path-length pass, the mapping without gradient and the expanded
        latent a leaf that requires one (returned as ``latent``). ``ddp_touch`` adds a zero-weighted use of the
        mapping output (``touch``) so a data-parallel wrapper finds every parameter used."""
        gen = self.generator
        with torch.set_grad_enabled(torch.is_grad_enabled() and not latent_grad):
            w1 = gen.style(z1)
            w2 = gen.style(z2) if mix else w1
        wplus = gen.mixing_latent(w1, w2, g) if mix else w1.unsqueeze(1).repeat(1, gen.n_latent, 1)
        latent = gen.expand_latents(wplus)
        if latent_grad:
            # an fp32 leaf: under mixed precision the mapping's output is half, and the data-parallel wrapper's
            # fp32 conversion of the outputs would hand back a copy of a half leaf, not the tensor the graph used
            latent = latent.detach().float().requires_grad_(True)
        out = dict(gen.synthesize(latent, noise=list(noise)))
        out["latent"] = latent
        if ddp_touch:
            out["touch"] = 0 * gen.style(z1[:1]).sum()
        return out


def _noise_maps(shapes: Sequence[tuple[int, int, int]], n: int, g: torch.Generator, device) -> list[Tensor]:
    # drawn on the CPU from the step's generator: training is the same on every device and resumes exactly
    return [torch.randn((n, *s), generator=g).to(device) for s in shapes]


def _set_trainable(modules: Sequence[nn.Module], flag: bool) -> None:
    # the phase's own net takes gradients, the other is frozen (the official requires_grad toggling)
    for m in modules:
        m.requires_grad_(flag)


# =============================================================================================
# the training step


def train_step(ctx: StepContext, g: torch.Generator) -> dict[str, float]:
    """One official iteration: D main, D reg (R1 per branch), G main (+ mask loss), G reg (path length)."""
    args, acc, device = ctx.args, ctx.accelerator, ctx.device
    G, D = ctx.nets["generator"], ctx.nets["discriminator"]
    opt_G, opt_D = ctx.optimizers["generator"], ctx.optimizers["discriminator"]
    pool: MaskPool = ctx.data.train
    ema = ctx.ema
    n, seg_dim, shapes = args.batch_size, ema.seg_dim, ema.noise_shapes()
    ddp = acc.num_processes > 1
    step = ctx.step
    losses: dict[str, float] = {}
    for m in (G, D):
        m.train()

    real_img, real_ids = sample_batch(pool, n, g, args.mirror)
    real_img, real_seg = real_img.to(device), real_mask_input(real_ids, seg_dim).to(device)

    def draw(batch: int) -> tuple[Tensor, Tensor, bool, list[Tensor]]:
        # the official mixing_noise: two latents with probability `mixing`; both drawn either way (a fixed stream)
        mix = float(torch.rand((), generator=g)) < args.mixing
        z = torch.randn(2, batch, args.style_dim, generator=g).to(device)
        return z[0], z[1], mix, _noise_maps(shapes, batch, g, device)

    # ---- D main
    _set_trainable((G,), False)
    _set_trainable((D,), True)
    z1, z2, mix, noise = draw(n)
    opt_D.zero_grad(set_to_none=True)
    with acc.autocast():
        fake = G(z1, z2, mix, g, noise)
        fake_logits = D(fake["rgb"].detach(), fake["seg"].detach()).float()
        real_logits = D(real_img, real_seg).float()
        loss_fake, loss_real = F.softplus(fake_logits).mean(), F.softplus(-real_logits).mean()
    acc.backward(loss_fake + loss_real)
    opt_D.step()
    losses.update({"D/loss_fake": loss_fake.item(), "D/loss_real": loss_real.item(),
                   "scores/real": real_logits.mean().item(), "scores/fake": fake_logits.mean().item()})

    # ---- D reg: R1 on both branches of the same reals, each with its own weight, scaled by the interval
    if step % args.d_reg_every == 0 and (args.r1_img > 0 or args.r1_seg > 0):
        opt_D.zero_grad(set_to_none=True)
        x, s = real_img.detach().requires_grad_(True), real_seg.detach().requires_grad_(True)
        with acc.autocast():
            logits = D(x, s).float()
        grad_img, grad_seg = torch.autograd.grad(outputs=[logits.sum()], inputs=[x, s], create_graph=True)
        # per sample: squared gradient summed over pixels and channels; then the batch mean
        pen_img = grad_img.float().square().flatten(1).sum(1).mean()
        pen_seg = grad_seg.float().square().flatten(1).sum(1).mean()
        loss_r1 = (args.r1_img / 2 * pen_img + args.r1_seg / 2 * pen_seg) * args.d_reg_every
        acc.backward(loss_r1 + 0 * logits[0, 0])
        opt_D.step()
        losses.update({"D/r1_img": pen_img.item(), "D/r1_seg": pen_seg.item()})
        ctx.state["r1_steps"] += 1

    # ---- G main: non-saturating loss + lambda_mask * the coarse / final mask agreement
    _set_trainable((G,), True)
    _set_trainable((D,), False)
    z1, z2, mix, noise = draw(n)
    opt_G.zero_grad(set_to_none=True)
    with acc.autocast():
        fake = G(z1, z2, mix, g, noise)
        logits = D(fake["rgb"], fake["seg"]).float()
        loss_G = F.softplus(-logits).mean()
        coarse = fake["seg_coarse"].float()
        mask_loss = (coarse - F.adaptive_avg_pool2d(fake["seg"].float(), coarse.shape[2:])).square().mean()
    acc.backward(loss_G + args.lambda_mask * mask_loss)
    opt_G.step()
    losses.update({"G/loss": loss_G.item(), "G/mask": mask_loss.item()})

    # ---- G reg: path length w.r.t. the expanded latent, on a shrunk batch, scaled by the interval
    if args.path_regularize > 0 and step % args.g_reg_every == 0:
        m = max(1, n // args.path_batch_shrink)
        z1, z2, mix, noise = draw(m)
        opt_G.zero_grad(set_to_none=True)
        with acc.autocast():
            out = G(z1, z2, mix, g, noise, latent_grad=True, ddp_touch=ddp)
        img, latent = out["rgb"].float(), out["latent"]
        # unit-variance image-space directions y: the penalty measures |J^T y| per latent row
        pl_noise = torch.randn(img.shape, generator=g).to(device) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad(outputs=[(img * pl_noise).sum()], inputs=[latent], create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        mean = torch.tensor(ctx.state["mean_path_length"], dtype=torch.float32, device=device)
        path_mean = mean + 0.01 * (lengths.mean() - mean)  # the official decay; the penalty sees its gradient
        penalty = (lengths - path_mean).square().mean()
        ctx.state["mean_path_length"] = float(path_mean.detach())
        weighted = args.path_regularize * args.g_reg_every * penalty
        # the zero-weighted outputs keep the whole synthesis graph in the backward pass (data parallelism)
        weighted = weighted + 0 * out["rgb"][0, 0, 0, 0].float() + 0 * out["seg"][0, 0, 0, 0].float()
        if ddp:
            weighted = weighted + out["touch"]
        acc.backward(weighted)
        opt_G.step()
        losses.update({"G/path": penalty.item(), "path_length": lengths.mean().item()})
        ctx.state["path_steps"] += 1
    _set_trainable((G, D), True)
    return losses


# =============================================================================================
# samples and metrics (EMA generator)


def _colour(model: nn.Module, seg: Tensor) -> Tensor:
    """Segmentation logits -> the palette's colours as an image in [-1, 1]."""
    rgb = torch.from_numpy(model.colorize(seg)).permute(0, 3, 1, 2).float()
    return rgb / 127.5 - 1


@torch.no_grad()
def seed_grid(model: nn.Module, seeds: Sequence[int], psi: float) -> tuple[Tensor, int]:
    """Fixed seeds (the model's seed convention, :meth:`latents`), four rows: images at truncation_psi 1, their
    coloured class maps, the images at ``psi``, their class maps; stored ('const') noise."""
    model.eval()
    rows = []
    for truncation_psi in (1.0, psi):
        w = model.latents(list(seeds), truncation_psi=truncation_psi)
        out = model.synthesis(w, noise_mode="const")
        rows += [out["rgb"].float().cpu().clamp(-1, 1), _colour(model, out["seg"].float().cpu())]
    return torch.cat(rows), len(seeds)


# The thumbnail Fréchet distance and the consecutive-pair L1 are train.stylegan's (the same figures on both
# cards); mask_r2 is hubmodels.metrics'.
_thumbs, frechet_distance, _pair_l1 = _stylegan_train._thumbs, _stylegan_train.frechet_distance, _stylegan_train._pair_l1


def _mask_r2(images: Tensor, masks: Tensor, num_classes: int) -> Tensor:
    return mask_r2(images, masks, num_classes)


def _class_areas(masks: Tensor, num_classes: int) -> Tensor:
    return F.one_hot(masks.long().flatten(1), num_classes).double().mean((0, 1))


@torch.no_grad()
def evaluate(model: nn.Module, val: MaskPool, seed: int, batch_size: int = 64) -> dict[str, float]:
    """Cheap figures of the EMA generator against the metrics pool (never called FID: no Inception features):

    * ``fd_thumb`` / ``fd_thumb_real``: Fréchet distance between 8x8 colour thumbnails of n_val generated
      images (truncation_psi 1) / of a second real set, and n_val real images;
    * ``diversity_l1`` / ``diversity_l1_real``: mean |x_i - x_j| between independent generated / real images;
    * ``mask_r2`` / ``mask_r2_real``: how much of each image's variance its own mask's regions explain, for the
      generated pairs (argmax of the final segmentation) and for real pairs: the generated mask should explain
      the generated image about as well as a real mask explains its image;
    * ``class_area_l1`` / ``class_area_l1_real``: L1 distance between the mean class-area fractions of the
      generated / second real masks and those of the reference masks (are the parts drawn at their sizes?).
    """
    model.eval()
    device = model.device
    n = len(val) // 2
    ref, other = val.image_batch(torch.arange(n)), val.image_batch(torch.arange(n, 2 * n))
    ref_m, other_m = val.masks[:n].long(), val.masks[n: 2 * n].long()
    k = model.seg_dim
    g = step_generator(seed, 0, 0, STREAM_EVAL)
    z = torch.randn(n, model.style_dim, generator=g)
    imgs, masks = [], []
    for start in range(0, n, batch_size):
        out = model.synthesis(model.mapping(z[start: start + batch_size].to(device)), noise_mode="const")
        imgs.append(out["rgb"].float().cpu().clamp(-1, 1))
        masks.append(out["seg"].float().argmax(1).cpu())
    fake, fake_m = torch.cat(imgs), torch.cat(masks)
    ref_t, ref_areas = _thumbs(ref), _class_areas(ref_m, k)
    return {"fd_thumb": round(frechet_distance(_thumbs(fake), ref_t), 4),
            "fd_thumb_real": round(frechet_distance(_thumbs(other), ref_t), 4),
            "diversity_l1": round(_pair_l1(fake), 4),
            "diversity_l1_real": round(_pair_l1(ref), 4),
            "mask_r2": round(float(_mask_r2(fake, fake_m, k).mean()), 4),
            "mask_r2_real": round(float(_mask_r2(ref, ref_m, k).mean()), 4),
            "class_area_l1": round(float((_class_areas(fake_m, k) - ref_areas).abs().sum()), 4),
            "class_area_l1_real": round(float((_class_areas(other_m, k) - ref_areas).abs().sum()), 4)}


def verdict(m: Mapping[str, float]) -> str:
    """What the model does well and what it does not, from its figures (one or two sentences)."""
    if "fd_thumb" not in m:
        return ""
    fd, floor = m["fd_thumb"], m["fd_thumb_real"]
    ratio = fd / max(floor, 1e-8)
    if ratio < 2:
        look = "Its colours and coarse layout match real images about as well as a second real sample does"
    elif ratio < 10:
        look = f"Its colours and coarse layout are close to the data's but not there (`fd_thumb` {fd:.2f} against {floor:.2f})"
    else:
        look = f"Its images are still far from the data in colour and layout (`fd_thumb` {fd:.2f} against {floor:.2f})"
    div, div_real = m["diversity_l1"], m["diversity_l1_real"]
    look += (f", with little variety (`diversity_l1` {div:.2f} against {div_real:.2f}: partial mode collapse)"
             if div < 0.5 * div_real else f", with a variety close to the data's (`diversity_l1` {div:.2f} against {div_real:.2f})")
    r2, r2_real = m["mask_r2"], m["mask_r2_real"]
    area, area_real = m["class_area_l1"], m["class_area_l1_real"]
    if r2 >= 0.8 * r2_real:
        masks = f"its masks explain its images about as well as real masks do (`mask_r2` {r2:.2f} against {r2_real:.2f})"
    else:
        masks = f"its masks explain its images less well than real masks do (`mask_r2` {r2:.2f} against {r2_real:.2f})"
    masks += (f" and give the parts their real sizes (`class_area_l1` {area:.2f} against {area_real:.2f})"
              if area <= 3 * area_real + 0.05 else
              f" but draw the parts at the wrong sizes (`class_area_l1` {area:.2f} against {area_real:.2f})")
    return f"{look}; {masks}. Fine detail is not measured: look at the samples."


# =============================================================================================
# the family


class SemanticStyleGANFamily(loop.Family):
    """SemanticStyleGAN's part of the training script; :mod:`train.loop` runs it."""

    module = MODULE
    name = "semantic_stylegan"
    description = DESCRIPTION
    defaults = dict(steps=3000, batch_size=4, seed=0, sample_every=500, ckpt_every=500, log_every=50, keep=2)
    locked = LOCKED_ARGS
    loss_keys = LOSS_KEYS

    @property
    def model_class(self) -> type:
        from hubmodels.semantic_stylegan.model import SemanticStyleGAN

        return SemanticStyleGAN

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        d = p.add_argument_group("data")
        d.add_argument("--data", default=SYNTHFACES,
                       help="'synthfaces' (procedural faces with part masks, rendered in memory) or a folder with "
                            "images/ and masks/ (class-id PNGs, same file stems; CelebAMask-HQ style)")
        d.add_argument("--classes", nargs="+", default=None,
                       help="a folder's class names, background first (default: its palette.json, else class_k)")
        d.add_argument("--domains", nargs="+", default=None, help="SynthFaces domains (default: cat dog fox)")
        d.add_argument("--n-train", type=int, default=10000, help="SynthFaces training pairs")
        d.add_argument("--n-val", type=int, default=256, help="pairs per set for the metrics (two sets are rendered)")
        d.add_argument("--data-seed", type=int, default=0, help="SynthFaces stream")
        d.add_argument("--mirror", action="store_true",
                       help="random x-flips of image and mask together (the flips of the official --aug)")
        d.add_argument("--grid-seeds", type=int, default=8, help="columns (fixed seeds) of the sample grid")
        d.add_argument("--grid-psi", type=float, default=0.7, help="truncation_psi of the grid's lower rows")

        m = p.add_argument_group("model (official: --size 256/512, --latent 512, n_mlp 8, channel_multiplier 2, "
                                 "local_channel 64, coarse_channel 512, coarse_size 64, min_feat_size 16)")
        m.add_argument("--image-size", type=int, default=32, help="the official --size")
        m.add_argument("--style-dim", type=int, default=64, help="z and w width (official --latent 512)")
        m.add_argument("--n-mlp", type=int, default=8, help="mapping layers")
        m.add_argument("--channel-multiplier", type=int, default=2, help="official widths multiplier (with --channel-base 0)")
        m.add_argument("--channel-base", type=int, default=2048,
                       help="render-net and discriminator widths min(channel_base // res, channel_max); "
                            "0 = the official widths (512 up to 32 px, then 256 * channel_multiplier ...)")
        m.add_argument("--channel-max", type=int, default=128)
        m.add_argument("--local-layers", type=int, default=10, help="layers of each local generator")
        m.add_argument("--base-layers", type=int, default=2, help="layers driven by the shared coarse codes")
        m.add_argument("--depth-layers", type=int, default=6, help="layers before the pseudo-depth head (shape)")
        m.add_argument("--local-channel", type=int, default=32, help="local generator width (official 64)")
        m.add_argument("--coarse-channel", type=int, default=64, help="fused feature width (official 512)")
        m.add_argument("--coarse-size", type=int, default=None,
                       help="size of the fused feature map and coarse mask (default: image_size / 2 below 128 px, "
                            "else / 4; official 64)")
        m.add_argument("--min-feat-size", type=int, default=None,
                       help="render-net start (default: coarse_size / 4, the official 64 -> 16 ratio)")
        m.add_argument("--residual-refine", action=argparse.BooleanOptionalAction, default=True,
                       help="refine the coarse mask residually (the released models and the README's command)")
        m.add_argument("--detach-texture", action="store_true", help="texture layers cannot move the shape")
        m.add_argument("--depth-prior", action="store_true",
                       help="initialise each class's pseudo-depth bias to log(its area / the background's) in the "
                            "training masks, so small classes are not pushed out of the composition in the first "
                            "steps (not in the official code, whose biases start at 0)")
        m.add_argument("--depth-warmup", type=int, default=0, metavar="STEPS",
                       help="before the first step, fit the mean coarse segmentation of random latents to the "
                            "training masks' per-pixel class frequencies for STEPS batches, so each class starts "
                            "where the data puts it (not in the official code; 0 = off)")
        m.add_argument("--transparent-dims", type=int, nargs="*", default=None,
                       help="indices of transparent classes (default: those named glasses or earring, as the "
                            "official 10 12 for CelebAMask-HQ)")

        o = p.add_argument_group("objective and optimiser (defaults: the official train.py's)")
        o.add_argument("--r1-img", type=float, default=10.0, help="R1 weight of the image branch")
        o.add_argument("--r1-seg", type=float, default=1000.0, help="R1 weight of the mask branch")
        o.add_argument("--lambda-mask", type=float, default=100.0,
                       help="weight of the coarse / final mask agreement loss")
        o.add_argument("--path-regularize", type=float, default=0.5, help="path-length weight")
        o.add_argument("--path-batch-shrink", type=int, default=2, help="path-length batch = batch // this")
        o.add_argument("--d-reg-every", type=int, default=16, help="steps between R1 updates")
        o.add_argument("--g-reg-every", type=int, default=4, help="steps between path-length updates")
        o.add_argument("--mixing", type=float, default=0.3, help="style-mixing probability")
        o.add_argument("--lr", type=float, default=0.002, help="Adam lr (before the lazy-regularisation adjustment)")
        o.add_argument("--ema-decay", type=float, default=OFFICIAL_EMA_DECAY,
                       help="EMA decay per step (official 0.5 ** (32 / 10000): 10 kimg half-life at 32 images)")

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        size = args.image_size
        if size & (size - 1) or size < 8:
            error(f"--image-size must be a power of 2 >= 8, got {size}")
        if args.coarse_size is None:
            args.coarse_size = size // 2 if size < 128 else size // 4
        if args.min_feat_size is None:
            args.min_feat_size = max(1, args.coarse_size // 4)
        if args.channel_base == 0:
            args.channel_base = None
        for name in ("style_dim", "n_mlp", "channel_multiplier", "local_layers", "depth_layers", "local_channel",
                     "coarse_channel", "path_batch_shrink", "d_reg_every", "g_reg_every", "n_val", "grid_seeds"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.channel_base is not None and (args.channel_base < 1 or args.channel_max < 1):
            error("--channel-base and --channel-max must be >= 1 (--channel-base 0: the official widths)")
        if args.base_layers < 0 or args.base_layers > args.depth_layers or args.depth_layers > args.local_layers:
            error(f"need 0 <= --base-layers <= --depth-layers <= --local-layers, got {args.base_layers}, "
                  f"{args.depth_layers}, {args.local_layers}")
        if args.coarse_size & (args.coarse_size - 1) or not args.min_feat_size < args.coarse_size < size:
            error(f"need --min-feat-size < --coarse-size < --image-size, powers of 2; got {args.min_feat_size}, "
                  f"{args.coarse_size}, {size}")
        for name in ("r1_img", "r1_seg", "lambda_mask", "path_regularize"):
            if getattr(args, name) < 0:
                error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
        if args.lr <= 0:
            error(f"--lr must be > 0, got {args.lr}")
        if args.depth_warmup < 0:
            error(f"--depth-warmup is a number of batches, 0 (off) or more; got {args.depth_warmup}")
        for name in ("mixing", "ema_decay"):
            if not 0.0 <= getattr(args, name) <= 1.0:
                error(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(args, name)}")
        if args.data == SYNTHFACES:
            from hubmodels.data.synthfaces import MASK_CLASSES

            domains = args.domains or list(SYNTHFACES_DOMAINS)
            bad = [x for x in domains if x not in SYNTHFACES_DOMAINS]
            if bad or len(set(domains)) != len(domains):
                error(f"--domains must be distinct SynthFaces domains ({', '.join(SYNTHFACES_DOMAINS)}), got {domains}")
            if args.n_train < 2:
                error(f"--n-train must be >= 2, got {args.n_train}")
            if args.classes:
                error("--classes names a folder's classes; SynthFaces has its own: " + ", ".join(MASK_CLASSES))
            args.domains = list(domains)
            classes = list(MASK_CLASSES)
        else:
            if not Path(args.data).is_dir():
                error(f"--data {args.data!r}: no such folder. Accepted: 'synthfaces', or a folder with images/ and "
                      "masks/ (class-id PNGs matched by file stem)")
            classes = list(args.classes) if args.classes else None
        if args.transparent_dims is not None and classes is not None \
                and any(not 0 < k < len(classes) for k in args.transparent_dims):
            error(f"--transparent-dims must be class indices from 1 to {len(classes) - 1}, got {args.transparent_dims}")

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        pool, val = load_pools(args, with_train=train)
        summary = "" if pool is None else (
            f"{len(pool)} training image + mask pairs of {pool.name} at {args.image_size}px, {len(pool.classes)} "
            f"classes ({', '.join(pool.classes)}); {len(val)} for metrics{'' if val.held_out else ' (NOT held out)'}")
        return Data(pool, val, (pool or val).name, val.held_out, summary)

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        from hubmodels.semantic_stylegan.model import SemanticStyleGAN

        pool = data.train
        cfg = model_config(args, pool.classes, pool.palette)
        torch.manual_seed(args.seed)  # the networks initialise themselves (equalised lr: N(0, 1) weights)
        full = SemanticStyleGAN(**cfg, with_discriminator=True)
        if args.depth_prior:
            init_depth_prior(full.generator, class_areas(pool.masks, len(pool.classes)))
        if args.depth_warmup > 0:
            # on the CPU, before the nets move: every process computes the same warmed-up generator (and a resumed
            # run then loads its checkpoint over it, so the result is the same as a run that never stopped)
            freq = class_frequency_map(pool.masks, len(pool.classes), args.coarse_size, args.mirror)
            kl = depth_warmup(full.generator, freq, args.depth_warmup, args.batch_size, args.lr, args.seed)
            if int(os.environ.get("RANK", "0")) == 0:
                print(f"--depth-warmup: {args.depth_warmup} batches, KL of the mean coarse segmentation to the "
                      f"masks' class frequencies {kl:.4f}", flush=True)
        ema = SemanticStyleGAN(**cfg)
        # the official g_ema starts as a copy of G (accumulate(g_ema, g, 0))
        ema.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("discriminator.")})
        ema.requires_grad_(False).eval()
        gen = TrainGenerator(full.generator)
        nets = {"generator": gen, "discriminator": full.discriminator}
        optims = {"generator": adam(gen.parameters(), args, args.g_reg_every),
                  "discriminator": adam(full.discriminator.parameters(), args, args.d_reg_every)}
        decay = float(args.ema_decay)
        return Networks(nets, optims, ema, {"generator": "generator"}, lambda t: decay, cfg)

    def initial_state(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"mean_path_length": 0.0, "path_steps": 0, "r1_steps": 0}

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        return train_step(ctx, generator)

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        return (f"G {losses['G/loss']:.3f} mask {losses['G/mask']:.4f} "
                f"D {losses['D/loss_fake'] + losses['D/loss_real']:.3f} "
                f"real {losses['scores/real']:+.2f} fake {losses['scores/fake']:+.2f} "
                f"pl_mean {state['mean_path_length']:.3f}")

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        return seed_grid(ema, range(args.grid_seeds), args.grid_psi)

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        return evaluate(ema, data.val, args.seed)

    def card(self, report: RunReport) -> CardText:
        meta, args, val, m = report.meta, report.args, report.data.val, report.metrics
        cfg = meta["config"]
        synth = args.data == SYNTHFACES
        size = cfg["size"]
        classes = ", ".join(cfg["class_names"])
        transparent = ", ".join(cfg["class_names"][k] for k in cfg["transparent_dims"]) or "none"
        what = (f"SynthFaces (procedural cartoon animal faces with part masks: {', '.join(args.domains)}; "
                f"{args.n_train} training pairs)" if synth else f"the image + mask folder `{val.name}`")
        widths = (f"style_dim {cfg['style_dim']}, {cfg['n_mlp']} mapping layers, {cfg['seg_dim']} local generators of "
                  f"{cfg['local_layers']} layers x {cfg['local_channel']} ch (base {cfg['base_layers']}, depth "
                  f"{cfg['depth_layers']}), coarse {cfg['coarse_size']} px x {cfg['coarse_channel']} ch, render net "
                  f"from {cfg['min_feat_size']} px, widths "
                  + (f"min({args.channel_base} // res, {args.channel_max})" if cfg["channels"] else
                     f"official (channel_multiplier {cfg['channel_multiplier']})"))
        objective = (f"non-saturating logistic loss on (image, mask) pairs scored by the dual-branch discriminator; "
                     f"R1 per branch (r1_img {args.r1_img:g}, r1_seg {args.r1_seg:g}; lazy: every {args.d_reg_every} "
                     f"steps, loss x {args.d_reg_every}); mask regularisation lambda_mask {args.lambda_mask:g} "
                     f"(coarse mask vs pooled final segmentation); path length (path_regularize "
                     f"{args.path_regularize:g}, batch / {args.path_batch_shrink}, every {args.g_reg_every} steps, "
                     f"w.r.t. the expanded latent); per-class style mixing (mixing {args.mixing:g})")
        return CardText(
            title=f"SemanticStyleGAN trained on {'SynthFaces' if synth else val.name} ({size} px)",
            description=(
                f"A SemanticStyleGAN (Shi et al., CVPR 2022) trained from scratch by hubmodels: it draws new "
                f"{size}x{size} images together with their segmentation into {cfg['seg_dim']} classes ({classes}), "
                f"each class from its own local generator with its own shape and texture codes, so regions can be "
                f"edited one at a time (`model.edit(seed, ['eyes'], other_seed, part='texture')`). Small "
                f"configuration, {meta['step']} iterations: a demonstration of the training pipeline, not a "
                f"replacement for the official CelebAMask-HQ weights. {verdict(m)}"),
            intro=(f"Trained from scratch with `python -m {MODULE}` (hubmodels' implementation of the "
                   f"seasonSH/SemanticStyleGAN train.py objective) on {what} at {args.image_size}x{args.image_size}, "
                   f"real masks one-hot in [-1, 1]; transparent classes: {transparent}. Not used: the official "
                   "shift-scale-rotate augmentation" + (" (x-flips only)" if args.mirror else "")
                   + ", its Inception FID, mixed precision."),
            caption=(f"EMA generator after {meta['step']} steps, fixed seeds 0-{args.grid_seeds - 1} per column: "
                     f"images and their class maps (argmax of the segmentation, in the palette's colours) at "
                     f"truncation_psi 1, then at truncation_psi {args.grid_psi:g}; stored noise."),
            datasets=[SYNTHFACES if synth else val.name],
            details=[
                f"architecture: {widths}; residual_refine {cfg['residual_refine']}, "
                f"detach_texture {cfg['detach_texture']}"
                + ("; pseudo-depth biases initialised to log(class area / background area) of the training masks "
                   "(`--depth-prior`, not in the official code)" if args.depth_prior else "")
                + (f"; before the first step, {args.depth_warmup} batches fitted the mean coarse segmentation of "
                   "random latents to the training masks' per-pixel class frequencies (`--depth-warmup`, not in the "
                   "official code)" if getattr(args, "depth_warmup", 0) else ""),
                f"objective: {objective}",
                f"Adam lr {args.lr:g}, betas (0, 0.99), both adjusted for lazy regularisation as the official "
                "(lr x r, betas ^ r, r = every / (every + 1)); equalised learning rate (mapping lr multiplier 0.01)",
                f"these weights are the EMA of the generator (decay {args.ema_decay:.6g} per step, no ramp, as the "
                "official); the discriminator is not published",
            ],
            notes=["`fd_thumb` is a Fréchet distance between Gaussians fitted to 8x8 colour thumbnails of generated "
                   "and real images (not FID: no Inception features; colour and coarse layout only); `_real` "
                   "figures are the same measure for a second real set, what a perfect generator would score. "
                   "`diversity_l1`: mean |x_i - x_j| between independent images in [-1, 1]. `mask_r2`: the share "
                   "of an image's pixel variance explained by its own mask's regions (generated image with its "
                   "generated mask; real image with its real mask). `class_area_l1`: L1 distance between mean "
                   "class-area fractions of the masks and those of the real reference masks"],
            training={
                "architecture": widths,
                "image size": size,
                "classes": classes,
                "optimizer": f"Adam lr {args.lr:g}, betas (0, 0.99)",
                "regularisation": f"r1_img {args.r1_img:g} / r1_seg {args.r1_seg:g} every {args.d_reg_every}, "
                                  f"lambda_mask {args.lambda_mask:g}, path_regularize {args.path_regularize:g} every "
                                  f"{args.g_reg_every}, mixing {args.mixing:g}",
                "EMA": f"decay {args.ema_decay:.6g} per step",
            },
        )

    def options_summary(self, args: Mapping[str, Any]) -> str:
        return (f"lr {args['lr']}, r1_img {args['r1_img']}, r1_seg {args['r1_seg']}, lambda_mask {args['lambda_mask']}, "
                f"batch {args['batch_size']}")


FAMILY = SemanticStyleGANFamily()


def build_parser() -> argparse.ArgumentParser:
    return loop.build_parser(FAMILY)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; every problem exits with a message that says what is accepted."""
    return loop.parse_args(FAMILY, argv)


def train(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Train (or continue) the run in ``args.out``; returns the run folder."""
    return loop.train(FAMILY, args, argv)


def publish_run(out: str | os.PathLike, repo_id: str, hub_dir: str | os.PathLike | None = None) -> str:
    """Publish the EMA generator of the latest checkpoint of run ``out`` with a full model card; returns the folder."""
    return loop.publish_run(FAMILY, out, repo_id, hub_dir)


def main(argv: Sequence[str] | None = None) -> int:
    return loop.main(FAMILY, argv)


if __name__ == "__main__":
    sys.exit(main())
