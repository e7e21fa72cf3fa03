"""Train StarGAN v2 (Choi et al., CVPR 2020) on SynthFaces or any per-domain image folder.

    python -m train.stargan_v2 --data synthfaces --img-size 64 --steps 2000 --batch-size 8 \\
        --out runs/stargan-v2-synthfaces --publish hubmodels/stargan-v2-synthfaces
    accelerate launch --cpu --num_processes 2 -m train.stargan_v2 ...      # data parallel
    python -m train.stargan_v2 --out runs/x --resume                          # continue the latest checkpoint
    python -m train.stargan_v2 --init-from runs/x --out runs/y ...            # fine-tune run x, new schedule
    python -m train.stargan_v2 --out runs/x --publish-only hubmodels/x        # publish the EMA nets

The objective and optimisation follow the official clovaai/stargan-v2 solver: per iteration two
discriminator updates (latent- and reference-guided fakes; non-saturating loss + R1 on reals) and
two generator updates (adversarial + style reconstruction - diversity-sensitive + cycle
consistency; the latent branch also steps the mapping network and style encoder, the reference
branch only the generator), then an EMA of G, F and E, then the linear decay of lambda_ds.
Adam(betas=(0, 0.99), weight_decay=1e-4), lr 1e-4 and 1e-6 for the mapping network, He init.

Every random draw of step k on process r comes from a generator seeded by (seed, k, r), so a run
resumed from a checkpoint is bit-identical to one that never stopped. Run folders, resuming,
checkpoints and publishing are :mod:`train.loop`'s; this file holds what is StarGAN v2's.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train import loop
from train.common import ema_beta, step_generator
from train.loop import STREAM_EVAL, STREAM_SAMPLES, CardText, Data, Networks, RunReport, StepContext

MODULE = "train.stargan_v2"
DESCRIPTION = __doc__.split("\n\n")[0]
SYNTHFACES = "synthfaces"
SYNTHFACES_DOMAINS = ("cat", "dog", "fox")
# Held-out SynthFaces come from their own stream seed, so they never coincide with training faces.
SYNTHFACES_VAL_SEED_OFFSET = 1_000_003
# Options that must not change when resuming (they change the result); the harness adds --seed,
# --batch-size and --init-from.
LOCKED_ARGS = ("data", "img_size", "dim_in", "max_conv_dim", "style_dim", "latent_dim", "hidden_dim", "w_hpf",
               "domains", "n_train", "data_seed", "lr", "f_lr", "beta1", "beta2", "weight_decay", "ema_beta",
               "ema_warmup", "lambda_reg", "lambda_sty", "lambda_cyc", "lambda_ds", "ds_iter", "randcrop_prob",
               "hflip")
LOSS_KEYS = ("D/latent_real", "D/latent_fake", "D/latent_reg", "D/ref_real", "D/ref_fake", "D/ref_reg",
             "G/latent_adv", "G/latent_sty", "G/latent_ds", "G/latent_cyc",
             "G/ref_adv", "G/ref_sty", "G/ref_ds", "G/ref_cyc")
__all__ = ["LOSS_KEYS", "FAMILY", "StarGANv2Family", "build_parser", "parse_args", "train", "publish_run", "main",
           "load_pools", "sample_inputs", "build_networks", "train_step", "latent_grid", "evaluate"]


# =============================================================================================
# data


@dataclass
class DomainPool:
    """Images of every domain, with per-domain index tables for balanced sampling."""

    images: Tensor | None  # (N, 3, H, W) in [-1, 1] when held in memory
    dataset: Any  # the Dataset, read item by item when the images are not in memory
    labels: Tensor  # (N,) int64
    domains: list[str]
    table: Tensor  # (num_domains, max_count) indices of each domain's images (padded)
    counts: Tensor  # (num_domains,)
    name: str
    held_out: bool = True

    def __len__(self) -> int:
        return int(self.labels.numel())

    def get(self, idx: Tensor) -> Tensor:
        if self.images is not None:
            return self.images[idx]
        return torch.stack([self.dataset[int(i)]["image"] for i in idx])


def _make_pool(dataset, labels: Tensor, domains: list[str], name: str, held_out: bool,
               cache_bytes: int = 2 << 30) -> DomainPool:
    counts = torch.bincount(labels, minlength=len(domains))
    if (counts == 0).any():
        empty = [domains[i] for i in range(len(domains)) if counts[i] == 0]
        raise ValueError(f"{name}: no images for domain(s) {empty}")
    table = torch.zeros(len(domains), int(counts.max()), dtype=torch.long)
    for k in range(len(domains)):
        idx = (labels == k).nonzero().flatten()
        table[k, : idx.numel()] = idx
    images = None
    first = dataset[0]["image"]
    if len(labels) * first.numel() * 4 <= cache_bytes:
        images = torch.stack([first] + [dataset[i]["image"] for i in range(1, len(labels))])
    return DomainPool(images, dataset, labels, domains, table, counts, name, held_out)


def load_pools(args: argparse.Namespace, with_train: bool = True) -> tuple[DomainPool | None, DomainPool]:
    """(training pool, held-out pool) for ``--data``; the training pool is None when not ``with_train``."""
    if args.data == SYNTHFACES:
        from hubmodels.data.synthfaces import SynthFaces

        nd = len(args.domains)
        lab = lambda n: torch.arange(n) % nd  # noqa: E731 - SynthFaces item i has domain i % len(domains)
        val = SynthFaces(args.n_val, size=args.img_size, seed=args.data_seed + SYNTHFACES_VAL_SEED_OFFSET,
                         domains=args.domains)
        val_pool = _make_pool(val, lab(len(val)), list(args.domains), SYNTHFACES, True)
        if not with_train:
            return None, val_pool
        train = SynthFaces(args.n_train, size=args.img_size, seed=args.data_seed, domains=args.domains)
        return _make_pool(train, lab(len(train)), list(args.domains), SYNTHFACES, True), val_pool
    from hubmodels.data.layouts import open_layout

    root = Path(args.data)
    train = open_layout("domains", root, args.img_size, domains=args.domains)
    domains = list(train.domains)
    name = root.name if root.name not in ("train", "") else root.resolve().parent.name
    if (root / "val").is_dir() and (root / "train").is_dir():
        val = open_layout("domains", root, args.img_size, split="val", domains=domains)
        held_out = True
    else:  # no held-out split: the grids and metrics use training images (the card says so)
        val, held_out = train, False
    val_labels = torch.tensor(val.labels, dtype=torch.long)
    # a few images per domain are enough for grids and cheap metrics
    per = max(1, args.n_val // len(domains))
    keep = torch.cat([(val_labels == k).nonzero().flatten()[:per] for k in range(len(domains))])
    val_subset = torch.utils.data.Subset(val, keep.tolist())
    val_pool = _make_pool(val_subset, val_labels[keep], domains, name, held_out)
    if not with_train:
        return None, val_pool
    return _make_pool(train, torch.tensor(train.labels, dtype=torch.long), domains, name, True), val_pool


def _random_resized_crop(img: Tensor, u: Tensor) -> Tensor:
    """RandomResizedCrop(scale=(0.8, 1), ratio=(0.9, 1.1)) driven by 4 uniforms, back to the input size."""
    _, h, w = img.shape
    area = h * w * (0.8 + 0.2 * float(u[0]))
    ratio = math.exp(math.log(0.9) + (math.log(1.1) - math.log(0.9)) * float(u[1]))
    cw = min(w, max(1, round(math.sqrt(area * ratio))))
    ch = min(h, max(1, round(math.sqrt(area / ratio))))
    top = min(h - ch, int(float(u[2]) * (h - ch + 1)))
    left = min(w - cw, int(float(u[3]) * (w - cw + 1)))
    crop = img[None, :, top: top + ch, left: left + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]


def augment(x: Tensor, g: torch.Generator, randcrop_prob: float, hflip: bool) -> Tensor:
    """The official training transform (random resized crop with probability p, random h-flip)."""
    u = torch.rand(x.size(0), 6, generator=g, dtype=torch.float64)  # fixed draw count: stream stays aligned
    out = []
    for k in range(x.size(0)):
        img = x[k]
        if u[k, 0] < randcrop_prob:
            img = _random_resized_crop(img, u[k, 1:5])
        if hflip and u[k, 5] < 0.5:
            img = img.flip(-1)
        out.append(img)
    return torch.stack(out)


def _pick(pool: DomainPool, y: Tensor, g: torch.Generator) -> Tensor:
    counts = pool.counts[y]
    r = (torch.rand(y.numel(), generator=g, dtype=torch.float64) * counts).long().clamp(max=counts - 1)
    return pool.table[y, r]


def sample_inputs(pool: DomainPool, batch_size: int, latent_dim: int, g: torch.Generator,
                  randcrop_prob: float = 0.5, hflip: bool = True) -> dict[str, Tensor]:
    """One iteration's inputs, like the official fetcher: domain-balanced sources; a target domain per
    sample with two reference images of it (x_ref, x_ref2) and two latent codes (z_trg, z_trg2)."""
    nd = len(pool.domains)
    y_src = torch.randint(nd, (batch_size,), generator=g)
    i_src = _pick(pool, y_src, g)
    y_trg = torch.randint(nd, (batch_size,), generator=g)
    i_ref, i_ref2 = _pick(pool, y_trg, g), _pick(pool, y_trg, g)
    z_trg = torch.randn(batch_size, latent_dim, generator=g)
    z_trg2 = torch.randn(batch_size, latent_dim, generator=g)
    return dict(
        x_src=augment(pool.get(i_src), g, randcrop_prob, hflip), y_src=y_src,
        x_ref=augment(pool.get(i_ref), g, randcrop_prob, hflip),
        x_ref2=augment(pool.get(i_ref2), g, randcrop_prob, hflip), y_trg=y_trg,
        z_trg=z_trg, z_trg2=z_trg2,
    )


# =============================================================================================
# networks and losses


def model_config(args: argparse.Namespace, domains: list[str]) -> dict[str, Any]:
    return dict(img_size=args.img_size, style_dim=args.style_dim, latent_dim=args.latent_dim,
                num_domains=len(domains), max_conv_dim=args.max_conv_dim, w_hpf=args.w_hpf, dim_in=args.dim_in,
                hidden_dim=args.hidden_dim, domains=list(domains))


def he_init(module: nn.Module) -> None:
    """Kaiming-normal (fan_in, ReLU gain) weights and zero biases for every conv and linear layer."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def build_networks(args: argparse.Namespace, domains: list[str]):
    """(training StarGANv2 [G, F, E], Discriminator, EMA StarGANv2), He-initialised from ``--seed``.

    The EMA copy starts from the He-initialised weights. (The official code copies the nets
    before He init, so its EMA starts from PyTorch's default init; after its 100k iterations
    that residue is 0.999**100000 ~ 0, but in a short run it would linger.)
    """
    from hubmodels.stargan_v2 import Discriminator, StarGANv2

    torch.manual_seed(args.seed)
    cfg = model_config(args, domains)
    model = StarGANv2(**cfg)
    disc = Discriminator(args.img_size, len(domains), args.max_conv_dim, dim_in=args.dim_in)
    for net in (model.generator, model.mapping_network, model.style_encoder, disc):
        net.apply(he_init)
    if args.w_hpf > 0:
        from hubmodels.stargan_v2.convert import fan_state_from_wing, load_official

        model.fan.load_state_dict(fan_state_from_wing(load_official(args.wing)), strict=True)
        model.fan.eval().requires_grad_(False)
    ema = copy.deepcopy(model).requires_grad_(False)
    return model, disc, ema


def adv_loss(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def r1_reg(d_out: Tensor, x_in: Tensor) -> Tensor:
    """Zero-centred gradient penalty on reals: 0.5 * E[ ||grad_x D(x)||^2 ] (double backward)."""
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=True)
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean()


@dataclass
class Nets:
    generator: nn.Module
    mapping_network: nn.Module
    style_encoder: nn.Module
    discriminator: nn.Module
    fan: nn.Module | None = None

    def masks(self, x: Tensor):
        return self.fan.get_heatmap(x) if self.fan is not None else None


def compute_d_loss(nets: Nets, x_real: Tensor, y_org: Tensor, y_trg: Tensor, *, lambda_reg: float,
                   z_trg: Tensor | None = None, x_ref: Tensor | None = None, masks=None):
    if (z_trg is None) == (x_ref is None):
        raise ValueError("give exactly one of z_trg (latent-guided) or x_ref (reference-guided)")
    x_real = x_real.detach().requires_grad_(True)
    out = nets.discriminator(x_real, y_org)
    loss_real = adv_loss(out, 1.0)
    loss_reg = r1_reg(out, x_real)
    with torch.no_grad():
        s_trg = nets.mapping_network(z_trg, y_trg) if z_trg is not None else nets.style_encoder(x_ref, y_trg)
        x_fake = nets.generator(x_real, s_trg, masks=masks)
    out = nets.discriminator(x_fake, y_trg)
    loss_fake = adv_loss(out, 0.0)
    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, dict(real=loss_real.item(), fake=loss_fake.item(), reg=loss_reg.item())


def compute_g_loss(nets: Nets, x_real: Tensor, y_org: Tensor, y_trg: Tensor, *, lambda_sty: float,
                   lambda_ds: float, lambda_cyc: float, z_trgs: tuple[Tensor, Tensor] | None = None,
                   x_refs: tuple[Tensor, Tensor] | None = None, masks=None):
    if (z_trgs is None) == (x_refs is None):
        raise ValueError("give exactly one of z_trgs (latent-guided) or x_refs (reference-guided)")

    def style(k: int) -> Tensor:
        if z_trgs is not None:
            return nets.mapping_network(z_trgs[k], y_trg)
        return nets.style_encoder(x_refs[k], y_trg)

    s_trg = style(0)
    x_fake = nets.generator(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(nets.discriminator(x_fake, y_trg), 1.0)
    # the style encoder must recover the style the generator was given
    loss_sty = (nets.style_encoder(x_fake, y_trg) - s_trg).abs().mean()
    # diversity: two styles of one domain must give different images (maximised, hence the minus)
    x_fake2 = nets.generator(x_real, style(1), masks=masks).detach()
    loss_ds = (x_fake - x_fake2).abs().mean()
    # cycle: translating back with the source's own style must give the source
    s_org = nets.style_encoder(x_real, y_org)
    x_rec = nets.generator(x_fake, s_org, masks=nets.masks(x_fake))
    loss_cyc = (x_rec - x_real).abs().mean()
    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    return loss, dict(adv=loss_adv.item(), sty=loss_sty.item(), ds=loss_ds.item(), cyc=loss_cyc.item())


def train_step(nets: Nets, optims: dict[str, torch.optim.Optimizer], accelerator, inputs: dict[str, Tensor],
               args: argparse.Namespace, lambda_ds: float) -> dict[str, float]:
    """One official iteration: D(latent), D(reference), G(latent; steps G, F, E), G(reference; steps G)."""
    x_real, y_org, y_trg = inputs["x_src"], inputs["y_src"], inputs["y_trg"]
    masks = nets.masks(x_real)
    losses: dict[str, float] = {}

    def update(loss: Tensor, names: Sequence[str]) -> None:
        for opt in optims.values():  # every net's grads go, as in the official _reset_grad
            opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        for n in names:
            optims[n].step()

    for branch, kw in (("latent", dict(z_trg=inputs["z_trg"])), ("ref", dict(x_ref=inputs["x_ref"]))):
        loss, parts = compute_d_loss(nets, x_real, y_org, y_trg, lambda_reg=args.lambda_reg, masks=masks, **kw)
        update(loss, ["discriminator"])
        losses.update({f"D/{branch}_{k}": v for k, v in parts.items()})
    for branch, kw, names in (
        ("latent", dict(z_trgs=(inputs["z_trg"], inputs["z_trg2"])), ["generator", "mapping_network", "style_encoder"]),
        ("ref", dict(x_refs=(inputs["x_ref"], inputs["x_ref2"])), ["generator"]),
    ):
        loss, parts = compute_g_loss(nets, x_real, y_org, y_trg, lambda_sty=args.lambda_sty, lambda_ds=lambda_ds,
                                     lambda_cyc=args.lambda_cyc, masks=masks, **kw)
        update(loss, names)
        losses.update({f"G/{branch}_{k}": v for k, v in parts.items()})
    return losses


# =============================================================================================
# samples and metrics (EMA nets, held-out images)


def sample_sources(pool: DomainPool, per_domain: int = 2) -> Tensor:
    """The first ``per_domain`` images of each domain of the pool (fixed across the run)."""
    idx = torch.cat([pool.table[k, : min(per_domain, int(pool.counts[k]))] for k in range(len(pool.domains))])
    return pool.get(idx)


@torch.no_grad()
def latent_grid(ema, x_src: Tensor, z: Tensor) -> Tensor:
    """Rows: sources; columns: the source, then for each domain one output per latent code in ``z``."""
    ema.eval()
    n = x_src.size(0)
    masks = ema.get_masks(x_src)
    cols = [x_src]
    for d in range(ema.num_domains):
        y = torch.full((n,), d, dtype=torch.long, device=x_src.device)
        for zj in z:
            s = ema.mapping_network(zj.expand(n, -1), y)
            cols.append(ema.generator(x_src, s, masks=masks))
    return torch.stack(cols, dim=1).flatten(0, 1)  # row-major: source 0's row first


def grid_inputs(pool: DomainPool, args: argparse.Namespace, device) -> tuple[Tensor, Tensor]:
    x_src = sample_sources(pool).to(device)
    z = torch.randn(args.styles, 1, args.latent_dim, generator=step_generator(args.seed, 0, 0, STREAM_SAMPLES))
    return x_src, z.to(device)


@torch.no_grad()
def evaluate(ema, pool: DomainPool, seed: int, batch_size: int = 16) -> dict[str, float]:
    """Cheap offline quality figures on held-out images, every source to every domain:

    * diversity_l1: mean |G(x, F(z1)) - G(x, F(z2))| (higher: styles matter; DS loss's quantity),
    * cycle_l1: mean |G(G(x, F(z)), E(x)) - x| (lower: the source survives the round trip),
    * style_recon_l1: mean |E(G(x, s)) - s| (lower: the output carries the style it was given),
    * change_l1: mean |G(x, F(z)) - x| (how much a translation changes the image),
    * on SynthFaces, the pose figures of :func:`hubmodels.stargan_v2.metrics.synthfaces_pose`
      (pose_gap > 0: the outputs follow the source's layout; real_pose_gap is the data's ceiling) and
      :func:`~hubmodels.stargan_v2.metrics.synthfaces_pose_follow` (follow_tilt/shift/scale: the share of a
      change of the source's pose that the outputs reproduce, 1 for the ground truth).
    """
    ema.eval()
    device = ema.device
    g = step_generator(seed, 0, 0, STREAM_EVAL)
    sums = dict(diversity_l1=0.0, cycle_l1=0.0, style_recon_l1=0.0, change_l1=0.0)
    count = 0
    for start in range(0, len(pool), batch_size):
        idx = torch.arange(start, min(len(pool), start + batch_size))
        x, y = pool.get(idx).to(device), pool.labels[idx].to(device)
        masks = ema.get_masks(x)
        s_org = ema.style_encoder(x, y)
        for d in range(ema.num_domains):
            t = torch.full_like(y, d)
            z1 = torch.randn(x.size(0), ema.latent_dim, generator=g).to(device)
            z2 = torch.randn(x.size(0), ema.latent_dim, generator=g).to(device)
            s1, s2 = ema.mapping_network(z1, t), ema.mapping_network(z2, t)
            f1, f2 = ema.generator(x, s1, masks=masks), ema.generator(x, s2, masks=masks)
            rec = ema.generator(f1, s_org, masks=ema.get_masks(f1))
            w = x.size(0)
            sums["diversity_l1"] += (f1 - f2).abs().mean().item() * w
            sums["cycle_l1"] += (rec - x).abs().mean().item() * w
            sums["style_recon_l1"] += (ema.style_encoder(f1, t) - s1).abs().mean().item() * w
            sums["change_l1"] += (f1 - x).abs().mean().item() * w
            count += w
    metrics = {k: round(v / max(count, 1), 5) for k, v in sums.items()}
    from hubmodels.data.synthfaces import SynthFaces

    if isinstance(pool.dataset, SynthFaces) and list(pool.dataset.domains) == list(ema.domains):
        from hubmodels.stargan_v2.metrics import synthfaces_pose, synthfaces_pose_follow

        metrics.update(synthfaces_pose(ema, seed=pool.dataset.seed, n=len(pool), style_seed=seed))
        metrics.update(synthfaces_pose_follow(ema, seed=pool.dataset.seed, n=min(len(pool), 12), style_seed=seed))
    return metrics


# =============================================================================================
# the family


class StarGANv2Family(loop.Family):
    """StarGAN v2's part of the training script; :mod:`train.loop` runs it."""

    module = MODULE
    name = "stargan-v2"
    description = DESCRIPTION
    defaults = dict(steps=2000, batch_size=8, seed=777, sample_every=250, ckpt_every=250, log_every=25, keep=2)
    locked = LOCKED_ARGS
    # lambda_ds and ds_iter default from --w-hpf and --steps, which a resumed session may change
    from_checkpoint = ("lambda_ds", "ds_iter", "domains")
    loss_keys = LOSS_KEYS

    @property
    def model_class(self) -> type:
        from hubmodels.stargan_v2 import StarGANv2

        return StarGANv2

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        d = p.add_argument_group("data")
        d.add_argument("--data", default=SYNTHFACES,
                       help="'synthfaces' (procedural, rendered in memory) or a folder root/[train/]<domain>/*.png")
        d.add_argument("--domains", nargs="+", default=None,
                       help="domains to use (default: cat dog fox for SynthFaces, every subfolder for a folder)")
        d.add_argument("--n-train", type=int, default=3000, help="SynthFaces training images (all domains together)")
        d.add_argument("--n-val", type=int, default=48, help="held-out images for the sample grid and the metrics")
        d.add_argument("--data-seed", type=int, default=0, help="SynthFaces stream")
        d.add_argument("--randcrop-prob", type=float, default=0.5,
                       help="probability of a random resized crop (official)")
        d.add_argument("--no-hflip", dest="hflip", action="store_false", help="disable random horizontal flips")
        d.add_argument("--styles", type=int, default=3, help="styles per domain in the sample grids")

        m = p.add_argument_group("model")
        m.add_argument("--img-size", type=int, default=64)
        m.add_argument("--dim-in", type=int, default=32)
        m.add_argument("--max-conv-dim", type=int, default=128)
        m.add_argument("--style-dim", type=int, default=32)
        m.add_argument("--latent-dim", type=int, default=16)
        m.add_argument("--hidden-dim", type=int, default=128)
        m.add_argument("--w-hpf", type=float, default=0.0, help="high-pass face skips (needs --wing)")
        m.add_argument("--wing", default=None, help="official wing.ckpt (FAN face masks) when --w-hpf > 0")

        o = p.add_argument_group("objective and optimiser (official defaults)")
        o.add_argument("--lambda-reg", type=float, default=1.0, help="R1 weight")
        o.add_argument("--lambda-sty", type=float, default=1.0, help="style reconstruction weight")
        o.add_argument("--lambda-cyc", type=float, default=1.0, help="cycle consistency weight")
        o.add_argument("--lambda-ds", type=float, default=None,
                       help="initial diversity-sensitive weight (official: 2 for AFHQ-like w_hpf=0, 1 for CelebA-HQ)")
        o.add_argument("--ds-iter", type=int, default=None,
                       help="steps over which lambda_ds decays to 0 (default: --steps)")
        o.add_argument("--lr", type=float, default=1e-4)
        o.add_argument("--f-lr", type=float, default=1e-6, help="mapping network learning rate")
        o.add_argument("--beta1", type=float, default=0.0)
        o.add_argument("--beta2", type=float, default=0.99)
        o.add_argument("--weight-decay", type=float, default=1e-4)
        o.add_argument("--ema-beta", type=float, default=0.999)
        o.add_argument("--ema-warmup", action="store_true",
                       help="ramp the EMA decay as (1+t)/(10+t) up to --ema-beta (useful for short runs)")

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        """Validate StarGAN v2's options and fill the defaults that derive from others (lambda_ds, ds_iter)."""
        if args.img_size & (args.img_size - 1) or args.img_size < (16 if args.w_hpf > 0 else 32):
            error(f"--img-size must be a power of 2 (>= 32, or >= 16 with --w-hpf > 0), got {args.img_size}")
        for name in ("dim_in", "max_conv_dim", "style_dim", "latent_dim", "hidden_dim", "n_val", "styles"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.ds_iter is not None and args.ds_iter < 1:
            error(f"--ds-iter must be >= 1, got {args.ds_iter}")
        if not 0.0 <= args.randcrop_prob <= 1.0:
            error(f"--randcrop-prob must be in [0, 1], got {args.randcrop_prob}")
        if not 0.0 <= args.ema_beta < 1.0:
            error(f"--ema-beta must be in [0, 1), got {args.ema_beta}")
        if args.w_hpf < 0:
            error(f"--w-hpf must be >= 0, got {args.w_hpf}")
        if args.w_hpf > 0 and not args.publish_only and (args.wing is None or not Path(args.wing).is_file()):
            error("--w-hpf > 0 uses FAN face masks: pass --wing path/to/wing.ckpt (the official FAN weights)")
        if args.data == SYNTHFACES:
            domains = args.domains or list(SYNTHFACES_DOMAINS)
            bad = [x for x in domains if x not in SYNTHFACES_DOMAINS]
            if bad:
                error(f"--domains {bad} are not SynthFaces domains; accepted: {', '.join(SYNTHFACES_DOMAINS)}")
            if args.n_train < len(domains):
                error(f"--n-train must be at least the number of domains ({len(domains)}), got {args.n_train}")
        else:
            if not Path(args.data).is_dir():
                error(f"--data {args.data!r}: no such folder. Accepted: 'synthfaces', or a folder holding one "
                      f"subfolder of images per domain (root/<domain>/*.png, optionally under root/train/)")
            domains = args.domains
        if domains is not None and len(domains) < 2:
            error(f"StarGAN v2 translates between domains: give at least 2, got {domains}")
        if domains is not None and len(set(domains)) != len(domains):
            error(f"--domains must be distinct, got {domains}")
        args.domains = list(domains) if domains is not None else None
        if args.lambda_ds is None:  # official README: AFHQ (no FAN) uses 2, CelebA-HQ (FAN) uses 1
            args.lambda_ds = 1.0 if args.w_hpf > 0 else 2.0
        if args.ds_iter is None:
            args.ds_iter = args.steps

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        pool, val = load_pools(args, with_train=train)
        if args.domains is None:  # a folder's domains are its subfolders
            args.domains = list(val.domains)
        summary = "" if pool is None else (
            f"{len(pool)} training images ({pool.name}: {', '.join(pool.domains)}; {pool.counts.tolist()} per "
            f"domain) at {args.img_size}px, {len(val)} for samples/metrics"
            f"{'' if val.held_out else ' (NOT held out: no val/ split)'}")
        return Data(pool, val, (pool or val).name, val.held_out, summary)

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        model, disc, ema = build_networks(args, data.train.domains)
        nets = {"generator": model.generator, "mapping_network": model.mapping_network,
                "style_encoder": model.style_encoder, "discriminator": disc}
        opt_kw = dict(betas=(args.beta1, args.beta2), weight_decay=args.weight_decay)
        optims = {n: torch.optim.Adam(m.parameters(), lr=args.f_lr if n == "mapping_network" else args.lr, **opt_kw)
                  for n, m in nets.items()}
        return Networks(nets, optims, ema, {n: n for n in ("generator", "mapping_network", "style_encoder")},
                        lambda t: ema_beta(t, args.ema_beta, args.ema_warmup), model_config(args, data.train.domains),
                        frozen={"fan": model.fan} if args.w_hpf > 0 else {})

    def initial_state(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"lambda_ds": args.lambda_ds}

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        args, lambda_ds = ctx.args, ctx.state["lambda_ds"]
        inputs = sample_inputs(ctx.data.train, args.batch_size, args.latent_dim, generator, args.randcrop_prob,
                               args.hflip)
        inputs = {k: v.to(ctx.device) for k, v in inputs.items()}
        nets = Nets(**ctx.nets, fan=ctx.frozen.get("fan"))
        losses = train_step(nets, ctx.optimizers, ctx.accelerator, inputs, args, lambda_ds)
        if lambda_ds > 0:  # linear decay of the diversity weight, to 0 at ds_iter (official)
            ctx.state["lambda_ds"] = max(0.0, lambda_ds - args.lambda_ds / args.ds_iter)
        return losses

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        return (f"D {losses['D/latent_real'] + losses['D/latent_fake']:.2f} R1 {losses['D/latent_reg']:.3f} "
                f"Gadv {losses['G/latent_adv']:.2f} sty {losses['G/latent_sty']:.3f} ds {losses['G/latent_ds']:.3f} "
                f"cyc {losses['G/latent_cyc']:.3f} lds {state['lambda_ds']:.3f}")

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        x_src, z = grid_inputs(data.val, args, ema.device)
        return latent_grid(ema, x_src, z), 1 + ema.num_domains * args.styles

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        return evaluate(ema, data.val, args.seed)

    def card(self, report: RunReport) -> CardText:
        """StarGAN v2's words on the card: the harness adds the commands, sessions, lineage, wall time and hardware."""
        meta, args, val, chain = report.meta, report.args, report.data.val, report.lineage
        cfg = meta["config"]
        domains = ", ".join(cfg["domains"])
        dataset = SYNTHFACES if args.data == SYNTHFACES else val.name
        data = (f"SynthFaces (procedural cartoon animal faces, {args.n_train} training images, domains {domains})"
                if args.data == SYNTHFACES else f"the per-domain image folder `{val.name}` (domains {domains})")
        notes = []
        if args.data == SYNTHFACES:
            notes.append("pose metrics: each output is scored (mask R^2: the share of its pixel variance that the "
                         "regions of a segmentation explain) against the source face rendered in the target domain "
                         "(`pose_r2`) and against another face's mask (`pose_r2_shuffled`); `pose_gap` is the "
                         "difference, 0 for outputs that ignore the source's pose, and `real_pose_gap` is that "
                         "difference for the ground-truth renders (the ceiling); `follow_tilt`, `follow_shift` and "
                         "`follow_scale` render each held-out face at two far-apart tilts (positions, sizes), "
                         "translate both and give the outputs' margin for their own pose's mask over the other's, as "
                         "a share of the ground truth's margin (1: they follow the change like real faces; 0: they "
                         "ignore it)")
        return CardText(
            title=f"StarGAN v2 trained on {'SynthFaces' if dataset == SYNTHFACES else dataset} ({cfg['img_size']} px)",
            description=(
                f"A StarGAN v2 (Choi et al., CVPR 2020) {'fine-tuned' if chain else 'trained from scratch'} by "
                f"hubmodels on {dataset}: it translates an image into any of its domains ({domains}), with the style "
                f"taken from a random latent code (mapping network) or from a reference image (style encoder). "
                f"Small configuration (dim_in {cfg['dim_in']}, max_conv_dim {cfg['max_conv_dim']}, "
                f"style_dim {cfg['style_dim']}), "
                f"{meta['step']} iterations" + "".join(f" after {p['step']} of `{p['run']}`" for p in chain) + ": a "
                f"demonstration of the training pipeline, not a replacement for the official AFHQ/CelebA-HQ weights."),
            intro=(f"{'Fine-tuned' if chain else 'Trained from scratch'} with `python -m {MODULE}` (hubmodels' own "
                   f"implementation of the official clovaai/stargan-v2 solver) on {data} at "
                   f"{args.img_size}x{args.img_size}."),
            caption=(f"Latent-guided translations of {'held-out ' if val.held_out else ''}images after {meta['step']} "
                     f"steps: each row is a source (first column) followed by {args.styles} random styles for each "
                     f"domain ({domains}), EMA generator."),
            datasets=[dataset],
            details=[
                f"objective: adversarial (non-saturating) + R1 (lambda_reg={args.lambda_reg}), style reconstruction "
                f"(lambda_sty={args.lambda_sty}), diversity-sensitive (lambda_ds={args.lambda_ds} decaying "
                f"linearly to 0 over {args.ds_iter} steps), cycle consistency (lambda_cyc={args.lambda_cyc}); "
                f"latent- and reference-guided branches",
                f"Adam lr {args.lr} (mapping network {args.f_lr}), betas ({args.beta1}, {args.beta2}), weight decay "
                f"{args.weight_decay}; He init; these weights are the EMA (beta {args.ema_beta}"
                f"{', warm-up (1+t)/(10+t)' if args.ema_warmup else ''}) of G, F and E",
            ],
            notes=notes,
            training={
                "image size": cfg["img_size"],
                "optimizer": f"Adam lr {args.lr} (F: {args.f_lr}), betas ({args.beta1}, {args.beta2}), "
                             f"wd {args.weight_decay}",
                "EMA": f"{args.ema_beta}{' with warm-up' if args.ema_warmup else ''}",
                "lambdas": f"reg {args.lambda_reg}, sty {args.lambda_sty}, ds {args.lambda_ds} -> 0 over "
                           f"{args.ds_iter}, cyc {args.lambda_cyc}",
            },
        )

    def options_summary(self, args: Mapping[str, Any]) -> str:
        return (f"lr {args['lr']}, lambda_ds {args['lambda_ds']} over {args['ds_iter']} steps, "
                f"lambda_cyc {args['lambda_cyc']}")


FAMILY = StarGANv2Family()


def build_parser() -> argparse.ArgumentParser:
    return loop.build_parser(FAMILY)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; every problem exits with a message that says what is accepted."""
    return loop.parse_args(FAMILY, argv)


def train(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Train (or continue) the run in ``args.out``; returns the run folder."""
    return loop.train(FAMILY, args, argv)


def publish_run(out: str | os.PathLike, repo_id: str, hub_dir: str | os.PathLike | None = None) -> str:
    """Publish the EMA nets of the latest checkpoint of run ``out`` with a full model card; returns the folder."""
    return loop.publish_run(FAMILY, out, repo_id, hub_dir)


def main(argv: Sequence[str] | None = None) -> int:
    return loop.main(FAMILY, argv)


if __name__ == "__main__":
    sys.exit(main())
