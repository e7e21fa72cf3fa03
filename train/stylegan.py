"""Train StyleGAN2 (Karras et al., CVPR 2020) or StyleGAN (v1, CVPR 2019) from scratch on SynthFaces or an image folder.

    python -m train.stylegan --image-size 32 --steps 4000 --batch-size 16 --out runs/stylegan2-synthfaces \\
        --publish hubmodels/stylegan2-synthfaces
    python -m train.stylegan --arch stylegan ...                           # StyleGAN v1 networks
    python -m train.stylegan --cond ...                                    # class-conditional (cat/dog/fox)
    python -m train.stylegan --data path/to/images ...                     # an FFHQ-style folder (--cond: root/<class>/)
    python -m train.stylegan --out runs/x --resume                         # continue, bit-identical
    python -m train.stylegan --out runs/x --publish-only hubmodels/x       # publish the EMA generator

The objective and optimisation follow NVlabs/stylegan2-ada-pytorch (``training/loss.py``,
``training/training_loop.py``, the ``auto`` configuration of ``train.py``) without ADA augmentation and
without mixed precision: the non-saturating logistic loss; R1 on reals (``r1_gamma``, auto default
0.0002 * res^2 / batch) applied lazily every ``d_reg_interval`` (16) steps with its loss multiplied by the
interval; path-length regularisation every ``g_reg_interval`` (4) steps (``pl_weight`` 2, ``pl_decay``
0.01, on batch / ``pl_batch_shrink``); style mixing with probability ``style_mixing_prob`` (0.9) at a
random cutoff; Adam(lr 0.0025, betas (0, 0.99), eps 1e-8) with lr and betas adjusted for lazy
regularisation (lr * r, beta ** r, r = interval / (interval + 1)); per-pixel noise drawn afresh in
training; an EMA of G with half-life ``ema_kimg`` = batch * 10 / 32 thousand images, ramped up as
``min(ema_nimg, 0.05 * images seen)``; one mapping average ``w_avg`` tracked as the networks do it.

``--arch stylegan`` trains StyleGAN v1's networks in the same loop with the v1 defaults where they differ
(NVlabs/stylegan and genforce): R1 (gamma 10) every step, no path-length term, Adam lr 0.001, EMA
half-life 10 kimg without ramp, 8 mapping layers; mixing regularisation 0.9 as in v2. No progressive
growing (both architectures are trained at full resolution from the start).

Every random draw of step k (batch, flips, latents, labels, mixing cutoffs, noise maps, path-length noise)
comes from a generator seeded by (seed, k, process), so a resumed run is bit-identical to one that never
stopped. Run folders, resuming, checkpoints and publishing are :mod:`train.loop`'s.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NoReturn, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train import loop
from train.common import step_generator
from train.loop import STREAM_EVAL, CardText, Data, Networks, RunReport, StepContext

MODULE = "train.stylegan"
DESCRIPTION = __doc__.split("\n\n")[0]
SYNTHFACES = "synthfaces"
SYNTHFACES_DOMAINS = ("cat", "dog", "fox")
# Held-out SynthFaces come from their own stream seed, so they never coincide with training faces.
SYNTHFACES_VAL_SEED_OFFSET = 1_000_003
ARCHS = ("stylegan2", "stylegan")
LOCKED_ARGS = ("arch", "data", "domains", "cond", "n_train", "n_val", "data_seed", "mirror", "image_size",
               "channel_base", "channel_max", "z_dim", "w_dim", "mapping_layers", "mbstd_group", "r1_gamma",
               "d_reg_interval", "g_reg_interval", "pl_weight", "pl_decay", "pl_batch_shrink", "style_mixing_prob",
               "lr", "beta1", "beta2", "eps", "ema_kimg", "ema_rampup")
LOSS_KEYS = ("G/loss", "D/loss_fake", "D/loss_real", "D/r1_penalty", "G/pl_penalty", "scores/real", "scores/fake",
             "pl_length")
THUMB = 8  # side of the colour thumbnails the Fréchet figure compares
__all__ = ["LOSS_KEYS", "FAMILY", "StyleGANFamily", "ImagePool", "build_model", "build_parser", "parse_args",
           "train", "publish_run", "main", "load_pools", "sample_batch", "run_generator", "train_step",
           "ema_beta_at", "seed_grid", "evaluate", "frechet_distance"]


# =============================================================================================
# data


@dataclass
class ImagePool:
    """Images in memory with their class (0 for unconditional data)."""

    images: Tensor  # (N, 3, H, W) in [-1, 1]
    labels: Tensor  # (N,) int64
    classes: list[str]
    name: str
    held_out: bool = True

    def __len__(self) -> int:
        return int(self.labels.numel())


def _stack(dataset, indices: Sequence[int]) -> Tensor:
    return torch.stack([dataset[int(i)]["image"] for i in indices])


def load_pools(args: argparse.Namespace, with_train: bool = True) -> tuple[ImagePool | None, ImagePool]:
    """(training pool, held-out pool). The held-out pool holds 2 * n_val images: the first half is the reference
    of the Fréchet figure, the second a real sample scored against it (the figure's floor at this sample size)."""
    n_val = 2 * args.n_val
    if args.data == SYNTHFACES:
        from hubmodels.data.synthfaces import SynthFaces

        domains = list(args.domains)
        classes = domains if args.cond else [SYNTHFACES]
        labels = (lambda n: torch.arange(n) % len(domains)) if args.cond else (lambda n: torch.zeros(n, dtype=torch.long))
        val_ds = SynthFaces(n_val, size=args.image_size, seed=args.data_seed + SYNTHFACES_VAL_SEED_OFFSET,
                            domains=domains)
        val = ImagePool(_stack(val_ds, range(n_val)), labels(n_val), classes, SYNTHFACES, True)
        if not with_train:
            return None, val
        train_ds = SynthFaces(args.n_train, size=args.image_size, seed=args.data_seed, domains=domains)
        return ImagePool(_stack(train_ds, range(args.n_train)), labels(args.n_train), classes, SYNTHFACES), val
    from hubmodels.data.layouts import open_layout

    root = Path(args.data)
    name = root.name or root.resolve().name
    if args.cond:
        ds = open_layout("domains", root, args.image_size, domains=args.domains)
        classes, all_labels = list(ds.domains), torch.tensor(ds.labels, dtype=torch.long)
    else:
        ds = open_layout("images", root, args.image_size)
        classes, all_labels = [name], torch.zeros(len(ds), dtype=torch.long)
    # a folder has no held-out split: the figures use a fixed spread of training images (the card says so)
    pick = torch.linspace(0, len(ds) - 1, min(n_val, len(ds))).round().long().tolist()
    val = ImagePool(_stack(ds, pick), all_labels[pick], classes, name, held_out=False)
    if not with_train:
        return None, val
    return ImagePool(_stack(ds, range(len(ds))), all_labels, classes, name), val


def sample_batch(pool: ImagePool, batch_size: int, g: torch.Generator, mirror: bool) -> tuple[Tensor, Tensor]:
    """Reals drawn uniformly with replacement (the official infinite sampler shuffles; with replacement keeps a
    batch a pure function of the step), x-flipped with probability 1/2 under ``--mirror``."""
    idx = torch.randint(len(pool), (batch_size,), generator=g)
    flips = torch.rand(batch_size, generator=g) < 0.5  # drawn either way: the stream does not depend on --mirror
    x = pool.images[idx]
    if mirror:
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    return x, pool.labels[idx]


# =============================================================================================
# networks


def build_model(**config: Any) -> nn.Module:
    """The hub model a config describes: StyleGAN v1's constructor takes ``fmaps_base``, StyleGAN2's
    ``channel_base``. (The family publishes either, so ``model_class`` is this dispatcher.)"""
    if "fmaps_base" in config:
        from hubmodels.stylegan.model_v1 import StyleGAN

        return StyleGAN(**config)
    from hubmodels.stylegan.model_v2 import StyleGAN2

    return StyleGAN2(**config)


def model_config(args: argparse.Namespace, c_dim: int) -> dict[str, Any]:
    common = dict(z_dim=args.z_dim, w_dim=args.w_dim, c_dim=c_dim, img_resolution=args.image_size, img_channels=3,
                  mapping_layers=args.mapping_layers)
    if args.arch == "stylegan":
        return dict(common, mapping_fmaps=args.w_dim, fmaps_base=args.channel_base, fmaps_max=args.channel_max,
                    mbstd_group_size=args.mbstd_group)
    return dict(common, channel_base=args.channel_base, channel_max=args.channel_max, d_mbstd_group_size=args.mbstd_group)


def lazy_ratio(interval: int) -> float:
    """Lazy regularisation runs the regulariser every ``interval`` steps; the official scales Adam's lr and betas
    by interval / (interval + 1) so the combined updates keep the optimiser's time constants."""
    return interval / (interval + 1) if interval > 1 else 1.0


def adam(params, args: argparse.Namespace, interval: int) -> torch.optim.Adam:
    r = lazy_ratio(interval)
    return torch.optim.Adam(params, lr=args.lr * r, betas=(args.beta1 ** r, args.beta2 ** r), eps=args.eps)


def ema_beta_at(step: int, batch_total: int, ema_kimg: float, ema_rampup: float) -> float:
    """EMA decay after step ``step`` (0-based): half-life ``ema_kimg`` thousand images, capped at ``ema_rampup`` times
    the images seen before this step (0 disables the ramp). Step 0 gives 0: the average starts at G."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup > 0:
        ema_nimg = min(ema_nimg, step * batch_total * ema_rampup)
    return 0.5 ** (batch_total / max(ema_nimg, 1e-8))


# =============================================================================================
# the training step


def _to_ws(w: Tensor, num_ws: int) -> Tensor:
    # v1's mapping network returns one w per sample; v2's already broadcasts to num_ws rows
    return w if w.ndim == 3 else w.unsqueeze(1).repeat(1, num_ws, 1)


@contextlib.contextmanager
def _w_avg_kept(mapping: nn.Module) -> Iterator[None]:
    """The mixing branch's mapping pass must not move the tracked average (official skip_w_avg_update): both of
    our mapping networks update it on every training-mode pass, so restore it afterwards."""
    saved = mapping.w_avg.clone()
    try:
        yield
    finally:
        mapping.w_avg.copy_(saved)


def _noise_maps(shapes: Sequence[tuple[int, int, int]], n: int, g: torch.Generator, device) -> list[Tensor]:
    # drawn on the CPU from the step's generator, so training is the same on every device and resumes exactly
    return [torch.randn((n, *s), generator=g).to(device) for s in shapes]


def run_generator(mapping: nn.Module, synthesis: nn.Module, mapping_module: nn.Module, z: Tensor, c: Tensor | None,
                  g: torch.Generator, *, num_ws: int, style_mixing_prob: float,
                  noise_shapes: Sequence[tuple[int, int, int]]) -> tuple[Tensor, Tensor]:
    """G(z, c) as the official training computes it: mapping (updating w_avg), style mixing with probability
    ``style_mixing_prob`` from a cutoff uniform in [1, num_ws), random per-pixel noise. Returns (images, ws)."""
    device = z.device
    ws = _to_ws(mapping(z, c), num_ws)
    cutoff = int(torch.randint(1, max(num_ws, 2), (), generator=g)) if num_ws > 1 else num_ws
    mix = float(torch.rand((), generator=g)) < style_mixing_prob
    z2 = torch.randn(z.shape, generator=g).to(device)
    if mix and cutoff < num_ws:
        with _w_avg_kept(mapping_module):
            ws2 = _to_ws(mapping(z2, c), num_ws)
        ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    img = synthesis(ws, noise=_noise_maps(noise_shapes, z.shape[0], g, device))
    return img, ws


def _set_trainable(modules: Sequence[nn.Module], flag: bool) -> None:
    # the phase's own nets take gradients, the others are frozen (the official requires_grad_ toggling)
    for m in modules:
        m.requires_grad_(flag)


def _finite_step(opt: torch.optim.Optimizer, modules: Sequence[nn.Module]) -> None:
    # the official replaces non-finite gradient entries before each update (nan -> 0, +-inf -> +-1e5)
    for m in modules:
        for p in m.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
    opt.step()


def train_step(ctx: StepContext, g: torch.Generator) -> dict[str, float]:
    """One official iteration: G main [+ path length], D main [+ R1], each regulariser on its own cadence."""
    args, acc, device = ctx.args, ctx.accelerator, ctx.device
    G_map, G_syn, D = ctx.nets["mapping_network"], ctx.nets["synthesis_network"], ctx.nets["discriminator"]
    opt_G, opt_D = ctx.optimizers["generator"], ctx.optimizers["discriminator"]
    mapping_module = acc.unwrap_model(G_map)
    pool: ImagePool = ctx.data.train
    ema = ctx.ema
    num_ws, c_dim, n = ema.num_ws, ema.c_dim, args.batch_size
    shapes = ema.noise_shapes()
    for m in (G_map, G_syn, D):
        m.train()

    real, real_labels = sample_batch(pool, n, g, args.mirror)
    real = real.to(device)
    # one latent batch per phase (G main, G reg, D main, D reg) and labels drawn from the training set, as the official
    zs = torch.randn(4, n, args.z_dim, generator=g).to(device)
    gen_labels = pool.labels[torch.randint(len(pool), (4, n), generator=g)]

    def onehot(labels: Tensor) -> Tensor | None:
        return F.one_hot(labels, c_dim).float().to(device) if c_dim > 0 else None

    real_c, gen_cs = onehot(real_labels), [onehot(gen_labels[k]) for k in range(4)]
    gen = dict(num_ws=num_ws, style_mixing_prob=args.style_mixing_prob, noise_shapes=shapes)
    losses: dict[str, float] = {}
    step = ctx.step
    g_lazy, d_lazy = args.g_reg_interval > 1, args.d_reg_interval > 1
    do_pl = args.pl_weight > 0 and step % args.g_reg_interval == 0
    do_r1 = args.r1_gamma > 0 and step % args.d_reg_interval == 0

    def path_length(z: Tensor, c: Tensor | None, gain: float) -> None:
        m = max(1, z.shape[0] // args.pl_batch_shrink)
        with acc.autocast():
            img, ws = run_generator(G_map, G_syn, mapping_module, z[:m], None if c is None else c[:m], g, **gen)
        # unit-variance image-space noise: the penalty measures |J_w^T y| for random directions y
        pl_noise = torch.randn(img.shape, generator=g).to(device) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad(outputs=[(img.float() * pl_noise).sum()], inputs=[ws], create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        pl_mean = torch.tensor(ctx.state["pl_mean"], dtype=torch.float32, device=device).lerp(lengths.mean(),
                                                                                            args.pl_decay)
        ctx.state["pl_mean"] = float(pl_mean.detach())
        penalty = (lengths - pl_mean).square()  # not detached: the official lets the running mean carry gradient
        # the img[:, 0, 0, 0] * 0 term keeps the whole synthesis graph in the backward pass (DDP needs every param)
        acc.backward((img[:, 0, 0, 0].float() * 0 + penalty * args.pl_weight).mean() * gain)
        losses["G/pl_penalty"] = penalty.mean().item()
        losses["pl_length"] = lengths.mean().item()
        ctx.state["pl_steps"] += 1

    def r1(x: Tensor, c: Tensor | None, logits: Tensor) -> Tensor:
        (grads,) = torch.autograd.grad(outputs=[logits.sum()], inputs=[x], create_graph=True)
        penalty = grads.square().sum([1, 2, 3])
        losses["D/r1_penalty"] = penalty.mean().item()
        ctx.state["r1_steps"] += 1
        return penalty * (args.r1_gamma / 2)

    # ---- G main (and the path length term in the same update when it is not lazy)
    _set_trainable((G_map, G_syn), True)
    _set_trainable((D,), False)
    opt_G.zero_grad(set_to_none=True)
    with acc.autocast():
        img, _ = run_generator(G_map, G_syn, mapping_module, zs[0], gen_cs[0], g, **gen)
        logits = D(img, gen_cs[0]).float()
        loss_G = F.softplus(-logits)  # -log sigmoid(D(G(z)))
    acc.backward(loss_G.mean())
    losses["G/loss"] = loss_G.mean().item()
    losses["scores/fake"] = logits.mean().item()
    if not g_lazy and do_pl:
        path_length(zs[0], gen_cs[0], 1.0)
    _finite_step(opt_G, (G_map, G_syn))
    # ---- G reg (lazy): its own latents, loss scaled by the interval
    if g_lazy and do_pl:
        opt_G.zero_grad(set_to_none=True)
        path_length(zs[1], gen_cs[1], float(args.g_reg_interval))
        _finite_step(opt_G, (G_map, G_syn))

    # ---- D main (and R1 in the same update when it is not lazy)
    _set_trainable((G_map, G_syn), False)
    _set_trainable((D,), True)
    opt_D.zero_grad(set_to_none=True)
    with acc.autocast():
        # G runs with gradients enabled but frozen parameters: no graph is kept, and the mapping network still
        # tracks w_avg in this pass, as the official Dmain phase does
        fake, _ = run_generator(G_map, G_syn, mapping_module, zs[2], gen_cs[2], g, **gen)
        fake_logits = D(fake.detach(), gen_cs[2]).float()
        x = real.detach().requires_grad_(not d_lazy and do_r1)
        real_logits = D(x, real_c).float()
        loss_D = F.softplus(fake_logits) + F.softplus(-real_logits)  # -log(1 - sigmoid(fake)) - log sigmoid(real)
        if not d_lazy and do_r1:
            loss_D = loss_D + r1(x, real_c, real_logits)
    acc.backward(loss_D.mean())
    losses["D/loss_fake"] = F.softplus(fake_logits).mean().item()
    losses["D/loss_real"] = F.softplus(-real_logits).mean().item()
    losses["scores/real"] = real_logits.mean().item()
    _finite_step(opt_D, (D,))
    # ---- D reg (lazy): R1 on the same reals, loss scaled by the interval
    if d_lazy and do_r1:
        opt_D.zero_grad(set_to_none=True)
        with acc.autocast():
            x = real.detach().requires_grad_(True)
            real_logits = D(x, real_c).float()
            loss_r1 = real_logits * 0 + r1(x, real_c, real_logits)
        acc.backward(loss_r1.mean() * args.d_reg_interval)
        _finite_step(opt_D, (D,))
    _set_trainable((G_map, G_syn, D), True)
    return losses


# =============================================================================================
# samples and metrics (EMA generator)


def _grid_z(seeds: Sequence[int], z_dim: int) -> Tensor:
    # one generator per seed: seed s always gives the same z, whatever the grid (and a user can redraw it)
    return torch.cat([torch.randn(1, z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def seed_grid(model: nn.Module, seeds: Sequence[int], psi: float, classes: int = 0) -> tuple[Tensor, int]:
    """Rows of fixed seeds at truncation_psi 1, then the same rows at ``psi`` (deterministic 'const' noise).
    Unconditional: two rows of seeds; conditional: one row per class."""
    model.eval()
    device = model.device
    cols = len(seeds)
    rows = []
    if classes == 0:
        halves = [list(seeds), [s + cols for s in seeds]]
        conds: list[Tensor | None] = [None, None]
    else:
        halves = [list(seeds)] * classes
        conds = [F.one_hot(torch.full((cols,), k), classes).float().to(device) for k in range(classes)]
    for truncation_psi in (1.0, psi):
        for row_seeds, c in zip(halves, conds):
            ws = model.mapping(_grid_z(row_seeds, model.z_dim).to(device), c, truncation_psi=truncation_psi)
            rows.append(model.synthesis(ws, noise_mode="const"))
    return torch.cat(rows).clamp(-1, 1), cols


def _thumbs(x: Tensor) -> Tensor:
    return F.adaptive_avg_pool2d(x.float().clamp(-1, 1), THUMB).flatten(1).double()


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (N, d): |mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa Sb)^1/2).
    tr((Sa Sb)^1/2) is the sum of square roots of the eigenvalues of Sa^1/2 Sb Sa^1/2 (symmetric, so eigvalsh)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = torch.cov(a.T), torch.cov(b.T)
    ea, va = torch.linalg.eigh(sa)
    root_a = va @ torch.diag(ea.clamp(min=0).sqrt()) @ va.T
    cross = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + sa.trace() + sb.trace() - 2 * cross)


def _pair_l1(x: Tensor) -> float:
    # mean |x_i - x_{i+1}|: how different consecutive (independent) images are
    return float((x[1:] - x[:-1]).abs().mean()) if x.shape[0] > 1 else 0.0


@torch.no_grad()
def evaluate(model: nn.Module, val: ImagePool, seed: int, batch_size: int = 64) -> dict[str, float]:
    """Cheap figures of the EMA generator against held-out images (never called FID: no Inception features):

    * ``fd_thumb``: Fréchet distance between 8x8 colour thumbnails of n_val generated images (truncation_psi 1)
      and of n_val held-out images; ``fd_thumb_real``: the same for a second set of n_val held-out images, the
      figure's floor at this sample size;
    * ``diversity_l1``: mean |x_i - x_j| between independent generated images; ``diversity_l1_real``: the same for
      held-out images (a collapsed generator scores far below it);
    * ``fd_thumb_psi07``: ``fd_thumb`` at truncation_psi 0.7 (truncation trades variety for typicality).
    """
    model.eval()
    device = model.device
    n = len(val) // 2
    ref, other = val.images[:n], val.images[n: 2 * n]
    g = step_generator(seed, 0, 0, STREAM_EVAL)
    z = torch.randn(n, model.z_dim, generator=g)
    labels = val.labels[:n]  # the reference's class balance
    out: dict[str, list[Tensor]] = {"1": [], "0.7": []}
    for start in range(0, n, batch_size):
        zb = z[start: start + batch_size].to(device)
        c = F.one_hot(labels[start: start + batch_size], model.c_dim).float().to(device) if model.c_dim else None
        for psi in ("1", "0.7"):
            ws = model.mapping(zb, c, truncation_psi=float(psi))
            out[psi].append(model.synthesis(ws, noise_mode="const").float().cpu())
    fake, fake07 = torch.cat(out["1"]), torch.cat(out["0.7"])
    ref_t = _thumbs(ref)
    return {"fd_thumb": round(frechet_distance(_thumbs(fake), ref_t), 4),
            "fd_thumb_real": round(frechet_distance(_thumbs(other), ref_t), 4),
            "fd_thumb_psi07": round(frechet_distance(_thumbs(fake07), ref_t), 4),
            "diversity_l1": round(_pair_l1(fake.clamp(-1, 1)), 4),
            "diversity_l1_real": round(_pair_l1(ref), 4)}


# =============================================================================================
# the family


class StyleGANFamily(loop.Family):
    """StyleGAN / StyleGAN2's part of the training script; :mod:`train.loop` runs it."""

    module = MODULE
    name = "stylegan"
    description = DESCRIPTION
    defaults = dict(steps=4000, batch_size=16, seed=0, sample_every=500, ckpt_every=500, log_every=50, keep=2)
    locked = LOCKED_ARGS
    loss_keys = LOSS_KEYS

    @property
    def model_class(self) -> Callable[..., nn.Module]:
        return build_model

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        d = p.add_argument_group("data")
        d.add_argument("--data", default=SYNTHFACES,
                       help="'synthfaces' (procedural, rendered in memory) or a folder of images (FFHQ style; with "
                            "--cond, one subfolder per class: root/[train/]<class>/*.png)")
        d.add_argument("--cond", action="store_true",
                       help="class-conditional: the classes (SynthFaces domains, or the folder's subfolders) enter "
                            "the mapping network and the discriminator's projection as one-hot labels")
        d.add_argument("--domains", nargs="+", default=None,
                       help="SynthFaces domains to draw (default: cat dog fox), or the folder's classes with --cond")
        d.add_argument("--n-train", type=int, default=10000, help="SynthFaces training images")
        d.add_argument("--n-val", type=int, default=256,
                       help="held-out images per set for the metrics (two sets are rendered)")
        d.add_argument("--data-seed", type=int, default=0, help="SynthFaces stream")
        d.add_argument("--mirror", action="store_true", help="random x-flips of the reals (official --mirror)")
        d.add_argument("--grid-seeds", type=int, default=8, help="columns (fixed seeds) of the sample grid")
        d.add_argument("--grid-psi", type=float, default=0.7, help="truncation_psi of the grid's lower rows")

        m = p.add_argument_group("model (official at 1024 px: z/w 512, channel base 32768, max 512)")
        m.add_argument("--arch", choices=ARCHS, default="stylegan2")
        m.add_argument("--image-size", type=int, default=32)
        m.add_argument("--channel-base", type=int, default=4096,
                       help="feature maps min(channel_base // res, channel_max) (v1: fmaps_base)")
        m.add_argument("--channel-max", type=int, default=256)
        m.add_argument("--z-dim", type=int, default=128)
        m.add_argument("--w-dim", type=int, default=128)
        m.add_argument("--mapping-layers", type=int, default=None,
                       help="default: 2 for stylegan2 (ada's auto config), 8 for stylegan")
        m.add_argument("--mbstd-group", type=int, default=4, help="minibatch-stddev group size")

        o = p.add_argument_group("objective and optimiser (default: official, per --arch)")
        o.add_argument("--r1-gamma", type=float, default=None,
                       help="R1 weight (default: stylegan2 0.0002 * res^2 / batch as ada's auto config; stylegan 10)")
        o.add_argument("--d-reg-interval", type=int, default=None,
                       help="steps between R1 updates, 1 = every step in the main loss (default: 16 / stylegan 1)")
        o.add_argument("--g-reg-interval", type=int, default=None,
                       help="steps between path-length updates, 1 = in the main loss (default: 4 / stylegan 1)")
        o.add_argument("--pl-weight", type=float, default=None, help="path-length weight (default: 2 / stylegan 0)")
        o.add_argument("--pl-decay", type=float, default=0.01, help="decay of the path-length mean")
        o.add_argument("--pl-batch-shrink", type=int, default=2, help="path-length batch = batch // this")
        o.add_argument("--style-mixing-prob", type=float, default=0.9)
        o.add_argument("--lr", type=float, default=None, help="Adam lr (default: 0.0025 / stylegan 0.001)")
        o.add_argument("--beta1", type=float, default=0.0)
        o.add_argument("--beta2", type=float, default=0.99)
        o.add_argument("--eps", type=float, default=1e-8)
        o.add_argument("--ema-kimg", type=float, default=None,
                       help="EMA half-life in thousands of images (default: batch * 10 / 32 / stylegan 10)")
        o.add_argument("--ema-rampup", type=float, default=None,
                       help="EMA ramp-up (half-life <= this x images seen; 0 = off; default 0.05 / stylegan 0)")

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        v1 = args.arch == "stylegan"
        size = args.image_size
        if size & (size - 1) or size < (8 if v1 else 4):
            error(f"--image-size must be a power of 2 (>= {8 if v1 else 4}), got {size}")
        if args.channel_base // size < 1:
            error(f"--channel-base {args.channel_base} gives no feature maps at {size} px (maps are "
                  f"min(channel_base // res, channel_max)): use at least {size}")
        for name in ("channel_max", "z_dim", "w_dim", "mbstd_group", "pl_batch_shrink", "n_val", "grid_seeds"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.mapping_layers is None:
            args.mapping_layers = 8 if v1 else 2
        if args.r1_gamma is None:
            args.r1_gamma = 10.0 if v1 else 0.0002 * size ** 2 / args.batch_size
        if args.d_reg_interval is None:
            args.d_reg_interval = 1 if v1 else 16
        if args.g_reg_interval is None:
            args.g_reg_interval = 1 if v1 else 4
        if args.pl_weight is None:
            args.pl_weight = 0.0 if v1 else 2.0
        if args.lr is None:
            args.lr = 0.001 if v1 else 0.0025
        if args.ema_kimg is None:
            args.ema_kimg = 10.0 if v1 else args.batch_size * 10 / 32
        if args.ema_rampup is None:
            args.ema_rampup = 0.0 if v1 else 0.05
        for name in ("mapping_layers", "d_reg_interval", "g_reg_interval"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        for name in ("r1_gamma", "pl_weight", "ema_rampup"):
            if getattr(args, name) < 0:
                error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
        if args.ema_kimg <= 0 or args.lr <= 0:
            error("--ema-kimg and --lr must be > 0")
        for name in ("style_mixing_prob", "pl_decay", "beta1", "beta2"):
            if not 0.0 <= getattr(args, name) <= 1.0:
                error(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(args, name)}")
        group = min(args.mbstd_group, args.batch_size)
        if args.batch_size % group:
            error(f"--batch-size {args.batch_size} must be divisible by the minibatch-stddev group "
                  f"({args.mbstd_group}); change --batch-size or --mbstd-group")
        if args.data == SYNTHFACES:
            domains = args.domains or list(SYNTHFACES_DOMAINS)
            bad = [x for x in domains if x not in SYNTHFACES_DOMAINS]
            if bad:
                error(f"--domains {bad} are not SynthFaces domains; accepted: {', '.join(SYNTHFACES_DOMAINS)}")
            if len(set(domains)) != len(domains):
                error(f"--domains must be distinct, got {domains}")
            if args.cond and len(domains) < 2:
                error("--cond needs at least 2 domains (classes)")
            if args.n_train < 2:
                error(f"--n-train must be >= 2, got {args.n_train}")
            args.domains = list(domains)
        elif not Path(args.data).is_dir():
            error(f"--data {args.data!r}: no such folder. Accepted: 'synthfaces', or a folder of images "
                  "(with --cond: one subfolder per class)")

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        pool, val = load_pools(args, with_train=train)
        summary = "" if pool is None else (
            f"{len(pool)} training images of {pool.name} at {args.image_size}px"
            + (f", classes {', '.join(pool.classes)}" if args.cond else ", unconditional")
            + f"; {len(val)} for metrics{'' if val.held_out else ' (NOT held out)'}")
        return Data(pool, val, (pool or val).name, val.held_out, summary)

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        from accelerate import PartialState

        c_dim = len(data.train.classes) if args.cond else 0
        cfg = model_config(args, c_dim)
        torch.manual_seed(args.seed)  # the networks initialise themselves (equalised lr: N(0, 1) weights)
        full = build_model(**cfg, with_discriminator=True)
        ema = build_model(**cfg)
        ema.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("discriminator.")})
        ema.requires_grad_(False).eval()
        nets = {"mapping_network": full.mapping_network, "synthesis_network": full.synthesis_network,
                "discriminator": full.discriminator}
        optims = {"generator": adam([*full.mapping_network.parameters(), *full.synthesis_network.parameters()],
                                    args, args.g_reg_interval),
                  "discriminator": adam(full.discriminator.parameters(), args, args.d_reg_interval)}
        batch_total = args.batch_size * PartialState().num_processes
        return Networks(nets, optims, ema, {"mapping_network": "mapping_network",
                                            "synthesis_network": "synthesis_network"},
                        lambda t: ema_beta_at(t, batch_total, args.ema_kimg, args.ema_rampup), cfg)

    def initial_state(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"pl_mean": 0.0, "pl_steps": 0, "r1_steps": 0}

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        return train_step(ctx, generator)

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        text = (f"G {losses['G/loss']:.3f} D {losses['D/loss_fake'] + losses['D/loss_real']:.3f} "
                f"real {losses['scores/real']:+.2f} fake {losses['scores/fake']:+.2f}")
        if "D/r1_penalty" in losses:
            text += f" r1 {losses['D/r1_penalty']:.3f}"
        return text + f" pl_mean {state['pl_mean']:.3f}"

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        return seed_grid(ema, range(args.grid_seeds), args.grid_psi, ema.c_dim)

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        return evaluate(ema, data.val, args.seed)

    def card(self, report: RunReport) -> CardText:
        meta, args, val, m = report.meta, report.args, report.data.val, report.metrics
        cfg = meta["config"]
        v1 = args.arch == "stylegan"
        title_arch = "StyleGAN" if v1 else "StyleGAN2"
        synth = args.data == SYNTHFACES
        dataset = SYNTHFACES if synth else val.name
        classes = ", ".join(val.classes)
        what = (f"SynthFaces (procedural cartoon animal faces: {', '.join(args.domains)}; {args.n_train} training images)"
                if synth else f"the image folder `{val.name}`")
        cond = f"class-conditional on {classes}" if args.cond else "unconditional"
        widths = (f"z_dim {cfg['z_dim']}, w_dim {cfg['w_dim']}, {cfg['mapping_layers']} mapping layers, "
                  f"channel base {args.channel_base}, max {args.channel_max}")
        objective = (f"non-saturating logistic loss; R1 on reals (r1_gamma {args.r1_gamma:g}, "
                     + (f"lazy: every {args.d_reg_interval} steps, loss x {args.d_reg_interval}"
                        if args.d_reg_interval > 1 else "every step") + ")"
                     + (f"; path-length regularisation (pl_weight {args.pl_weight:g}, pl_decay {args.pl_decay:g}, "
                        f"batch / {args.pl_batch_shrink}, "
                        + (f"every {args.g_reg_interval} steps" if args.g_reg_interval > 1 else "every step") + ")"
                        if args.pl_weight > 0 else "; no path-length regularisation")
                     + f"; style mixing (style_mixing_prob {args.style_mixing_prob:g})")
        ramp = f", ramp-up {args.ema_rampup:g}" if args.ema_rampup > 0 else ""
        return CardText(
            title=f"{title_arch} trained on {'SynthFaces' if synth else val.name} ({cfg['img_resolution']} px)",
            description=(
                f"A {title_arch} ({'Karras, Laine, Aila, CVPR 2019' if v1 else 'Karras et al., CVPR 2020'}) trained "
                f"from scratch by hubmodels, {cond}: it draws new {cfg['img_resolution']}x{cfg['img_resolution']} "
                f"images from a random latent z (mapping_network z -> w, synthesis_network w -> image; "
                f"truncation_psi < 1 trades variety for typical images). Small configuration ({widths}), "
                f"{meta['step']} iterations: a demonstration of the training pipeline, not a replacement for the "
                f"official FFHQ/AFHQ weights. {_verdict(m)}"),
            intro=(f"Trained from scratch with `python -m {MODULE} --arch {args.arch}` (hubmodels' implementation of "
                   f"the {'NVlabs/stylegan' if v1 else 'NVlabs/stylegan2-ada-pytorch'} training objective) on {what} "
                   f"at {args.image_size}x{args.image_size}, {cond}. Not used: progressive growing, ADA augmentation, "
                   "mixed precision."),
            caption=(f"EMA generator after {meta['step']} steps, fixed seeds 0-{args.grid_seeds - 1} per column"
                     + ("" if cfg["c_dim"] else f" (and {args.grid_seeds}-{2 * args.grid_seeds - 1} in the second row)")
                     + (f"; one row per class ({classes})" if cfg["c_dim"] else "")
                     + f"; upper half truncation_psi 1, lower half truncation_psi {args.grid_psi:g}; constant noise."),
            datasets=[dataset],
            details=[
                f"objective: {objective}",
                f"Adam lr {args.lr:g}, betas ({args.beta1:g}, {args.beta2:g}), eps {args.eps:g} (lr and betas "
                "adjusted for lazy regularisation as the official: x r, ^ r with r = interval / (interval + 1)); "
                f"equalised learning rate (mapping lr multiplier 0.01)",
                f"these weights are the EMA of the generator (half-life {args.ema_kimg:g} kimg{ramp}); "
                "the discriminator is not published",
            ],
            notes=["`fd_thumb` is a Fréchet distance between Gaussians fitted to 8x8 colour thumbnails of generated "
                   "and held-out images (not FID: no Inception features; it sees colour and coarse layout, not "
                   "detail); `fd_thumb_real` is the same figure for a second held-out set (what a perfect generator "
                   "would score at this sample size); `diversity_l1` / `diversity_l1_real`: mean |x_i - x_j| between "
                   "independent generated / held-out images in [-1, 1] (far below the real value: mode collapse)"],
            training={
                "architecture": f"{title_arch}, {widths}",
                "image size": cfg["img_resolution"],
                "conditioning": cond,
                "optimizer": f"Adam lr {args.lr:g}, betas ({args.beta1:g}, {args.beta2:g})",
                "regularisation": f"r1_gamma {args.r1_gamma:g} / {args.d_reg_interval}, pl_weight {args.pl_weight:g} / "
                                  f"{args.g_reg_interval}, style_mixing_prob {args.style_mixing_prob:g}",
                "EMA": f"{args.ema_kimg:g} kimg{ramp}",
            },
        )

    def options_summary(self, args: Mapping[str, Any]) -> str:
        return (f"{args['arch']}, lr {args['lr']}, r1_gamma {args['r1_gamma']}, pl_weight {args['pl_weight']}, "
                f"batch {args['batch_size']}")


def _verdict(m: Mapping[str, float]) -> str:
    """What the model does well and what it does not, from its held-out figures."""
    if "fd_thumb" not in m:
        return ""
    parts = []
    floor, fd = m["fd_thumb_real"], m["fd_thumb"]
    ratio = fd / max(floor, 1e-8)
    if ratio < 2:
        parts.append("Its colours and coarse layout match held-out images about as well as a second real sample does")
    elif ratio < 10:
        parts.append(f"Its colours and coarse layout are close to the data's but not there (`fd_thumb` {fd:.2f} "
                     f"against {floor:.2f} for real images)")
    else:
        parts.append(f"Its images are still far from the data in colour and layout (`fd_thumb` {fd:.2f} against "
                     f"{floor:.2f} for real images)")
    div, div_real = m["diversity_l1"], m["diversity_l1_real"]
    if div < 0.5 * div_real:
        parts.append(f"and it lacks variety (`diversity_l1` {div:.2f} against {div_real:.2f}: partial mode collapse)")
    else:
        parts.append(f"with a variety close to the data's (`diversity_l1` {div:.2f} against {div_real:.2f})")
    return " ".join(parts) + ". Fine detail is not measured: look at the samples."


FAMILY = StyleGANFamily()


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
