"""Train BicycleGAN (Zhu et al., NeurIPS 2017) and the baselines it compares, on SynthFaces or any A|B folder.

    python -m train.bicyclegan --data synthfaces --img-size 64 --steps 4000 \\
        --out runs/bicyclegan-synthfaces --publish hubmodels/bicyclegan-synthfaces
    python -m train.bicyclegan --variant cvae ...        # cVAE-GAN only (B -> z -> B), no latent regression
    python -m train.bicyclegan --variant clr ...         # cLR-GAN only (z -> B -> z)
    python -m train.bicyclegan --variant pix2pix ...     # deterministic baseline (nz=0, conditional D)
    python -m train.bicyclegan --data path/to/edges2shoes --img-size 256 --load-size 256 --input-nc 1 ...
    python -m train.bicyclegan --out runs/x --resume                          # continue, bit-identical
    python -m train.bicyclegan --out runs/x --publish-only hubmodels/x        # publish the latest checkpoint

The objective and optimisation follow the official junyanz/BicycleGAN ``models/bicycle_gan_model.py`` and
options: each batch is split in two halves. The first half's real B is encoded (``z = mu + eps * std``) and
``G(A, z)`` must rebuild it (L1, ``lambda_L1 = 10``), with a KL term (``lambda_kl = 0.01``) and a GAN term from
discriminator D (cVAE-GAN). The first half's A also gets a random ``z``: ``G(A, z)`` must fool D2 and the encoder
must recover ``z`` from it (latent L1, ``lambda_z = 0.5``, which updates G only: the encoder is held fixed for
it, as the official code does) (cLR-GAN). D and D2 (least squares GAN, multi-scale PatchGANs) see the first and
second half's real B. Adam lr 2e-4, betas (0.5, 0.999); constant then linear decay to 0; Xavier init with gain
0.02; dropout in the generator (the official training scripts' ``--use_dropout``).

Variants (``--variant``): ``bicycle`` (the above), ``cvae`` (D2 and the latent L1 off), ``clr`` (D, image L1 and
KL off; the latent L1 then trains the encoder too, else it would never learn), ``pix2pix`` (the repository's
pix2pix: ``nz = 0``, one conditional discriminator on ``cat(A, B)``, vanilla GAN loss, D loss halved, L1 weight
``lambda_L1``; the repository's intended 100 is set under a misspelt option name and never applies).

Every random draw of step k on process r comes from a generator seeded by (seed, k, r), so a resumed run is
bit-identical to one that never stopped. Run folders, resuming, checkpoints and publishing are
:mod:`train.loop`'s; this file holds what is BicycleGAN's.
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
from train.common import step_generator
from train.loop import STREAM_SAMPLES, CardText, Data, Networks, RunReport, StepContext

MODULE = "train.bicyclegan"
DESCRIPTION = __doc__.split("\n\n")[0]
SYNTHFACES = "synthfaces"
SYNTHFACES_VAL_SEED_OFFSET = 1_000_003  # held-out faces come from their own stream (never trained on)
VARIANTS = ("bicycle", "cvae", "clr", "pix2pix")
LOCKED_ARGS = ("data", "n_train", "data_seed", "img_size", "load_size", "direction", "flip", "input_nc", "output_nc",
               "variant", "nz", "ngf", "nef", "ndf", "num_downs", "where_add", "norm", "nl", "upsample", "use_dropout",
               "encoder", "encoder_depth", "num_ds", "d_layers", "conditional_d", "gan_mode", "lambda_l1",
               "lambda_gan", "lambda_gan2", "lambda_z", "lambda_kl", "use_same_d", "lr", "beta1", "beta2",
               "init_type", "init_gain", "ema_beta")
LOSS_KEYS = ("G_GAN", "G_GAN2", "G_L1", "kl", "z_L1", "D", "D2")
__all__ = ["FAMILY", "BicycleGANFamily", "LOSS_KEYS", "VARIANTS", "PairPool", "load_pools", "sample_batch",
           "build_networks", "init_weights", "gan_loss", "bicycle_step", "pix2pix_step", "lr_factor", "evaluate",
           "build_parser", "parse_args", "train", "publish_run", "main"]


# =============================================================================================
# data


@dataclass
class PairPool:
    """Aligned (A, B) pairs at ``load_size``; crops of ``img_size`` (and flips) are drawn per batch."""

    A: Tensor | None  # (N, input_nc, L, L) in [-1, 1] when in memory
    B: Tensor | None  # (N, output_nc, L, L)
    files: list[Path] | None  # side-by-side A|B files read per item otherwise
    masks: Tensor | None  # (N, L, L) SynthFaces part masks (for the outline metric), else None
    name: str
    held_out: bool = True
    args: Any = None

    def __len__(self) -> int:
        return int(self.A.shape[0]) if self.A is not None else len(self.files)

    def get(self, idx: Tensor, crops: Tensor | None = None, flips: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(A, B) of items ``idx``, cropped at ``crops`` ((n, 2) x, y) and flipped where ``flips``."""
        if self.A is not None:
            a, b = self.A[idx], self.B[idx]
            size = self.args.img_size
            if a.shape[-1] != size:
                crops = torch.zeros(len(idx), 2, dtype=torch.long) if crops is None else crops
                a = torch.stack([t[:, y:y + size, x:x + size] for t, (x, y) in zip(a, crops.tolist())])
                b = torch.stack([t[:, y:y + size, x:x + size] for t, (x, y) in zip(b, crops.tolist())])
        else:
            from hubmodels.bicyclegan.aligned import AlignedParams, aligned_pair

            a_list, b_list = [], []
            off = (self.args.load_size - self.args.img_size) // 2
            for k, i in enumerate(idx.tolist()):
                x, y = crops[k].tolist() if crops is not None else (off, off)
                item = aligned_pair(self.files[i], load_size=self.args.load_size, crop_size=self.args.img_size,
                                    input_nc=self.args.input_nc, output_nc=self.args.output_nc,
                                    direction=self.args.direction, params=AlignedParams((x, y), False))
                a_t, b_t = (item["B"], item["A"]) if self.args.direction == "BtoA" else (item["A"], item["B"])
                a_list.append(a_t)
                b_list.append(b_t)
            a, b = torch.stack(a_list), torch.stack(b_list)
        if flips is not None and bool(flips.any()):
            a, b = a.clone(), b.clone()
            a[flips], b[flips] = a[flips].flip(-1), b[flips].flip(-1)
        return a, b


def _synthfaces_pool(n: int, seed: int, args: argparse.Namespace, name: str) -> PairPool:
    import numpy as np

    from hubmodels.data.layouts import pil_to_tensor
    from hubmodels.data.synthfaces import render_face

    a, b, masks = [], [], []
    for i in range(n):
        face = render_face(seed, i, size=args.load_size)
        a.append(pil_to_tensor(face.edges))
        b.append(pil_to_tensor(face.image))
        masks.append(torch.from_numpy(face.mask.astype(np.int64)))
    return PairPool(torch.stack(a), torch.stack(b), None, torch.stack(masks), name, True, args)


def load_pools(args: argparse.Namespace, with_train: bool = True) -> tuple[PairPool | None, PairPool]:
    """(training pool, held-out pool) for ``--data``; the training pool is None when not ``with_train``."""
    if args.data == SYNTHFACES:
        val = _synthfaces_pool(args.n_val, args.data_seed + SYNTHFACES_VAL_SEED_OFFSET, args, SYNTHFACES)
        train = _synthfaces_pool(args.n_train, args.data_seed, args, SYNTHFACES) if with_train else None
        return train, val
    from hubmodels.data.layouts import IMAGE_EXTENSIONS

    root = Path(args.data)

    def files(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    train_dir = root / "train" if (root / "train").is_dir() else root
    val_dir = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    name = root.name if root.name not in ("train", "") else root.resolve().parent.name
    train_files = files(train_dir)
    if not train_files:
        raise SystemExit(f"error: no A|B images under {train_dir}")
    val_files, held_out = (files(val_dir), True) if val_dir is not None else ([], False)
    if not val_files:
        val_files, held_out = train_files, False
    val = PairPool(None, None, val_files[: args.n_val], None, name, held_out, args)
    return (PairPool(None, None, train_files, None, name, True, args) if with_train else None), val


def sample_batch(pool: PairPool, batch_size: int, g: torch.Generator, flip: bool) -> tuple[Tensor, Tensor]:
    """One step's pairs: indices, crop positions and flip coins all from ``g`` (a fixed number of draws)."""
    idx = torch.randint(len(pool), (batch_size,), generator=g)
    margin = pool.args.load_size - pool.args.img_size
    crops = torch.randint(margin + 1, (batch_size, 2), generator=g)
    coins = torch.rand(batch_size, generator=g) < 0.5
    return pool.get(idx, crops, coins if flip else None)


# =============================================================================================
# networks, losses


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    nz = 0 if args.variant == "pix2pix" else args.nz
    return dict(input_nc=args.input_nc, output_nc=args.output_nc, nz=nz, ngf=args.ngf, nef=args.nef,
                num_downs=args.num_downs, where_add="input" if nz == 0 else args.where_add, norm=args.norm,
                nl=args.nl, upsample=args.upsample, use_dropout=args.use_dropout,
                encoder=None if nz == 0 else args.encoder, encoder_depth=args.encoder_depth, img_size=args.img_size,
                load_size=args.load_size, direction=args.direction)


def init_weights(net: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> None:
    """The official init: conv / linear weights (normal, xavier, kaiming or orthogonal; ``gain`` scales all but
    kaiming) and zero biases; BatchNorm weights N(1, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"unknown init type {init_type!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def build_networks(args: argparse.Namespace):
    """(training BicycleGAN [G, E], D or None, D2 or None, published copy), initialised from ``--seed``."""
    from hubmodels.bicyclegan import BicycleGAN, MultiscaleDiscriminator

    torch.manual_seed(args.seed)
    model = BicycleGAN(**model_config(args))
    if args.variant == "pix2pix":
        d_in = args.input_nc + args.output_nc  # always conditional
    else:
        d_in = args.input_nc + args.output_nc if args.conditional_d else args.output_nc
    D = D2 = None
    if args.variant == "pix2pix" or args.lambda_gan > 0:
        D = MultiscaleDiscriminator(d_in, args.ndf, args.d_layers, args.norm, args.num_ds)
    if args.variant != "pix2pix" and args.lambda_gan2 > 0 and not args.use_same_d:
        D2 = MultiscaleDiscriminator(d_in, args.ndf, args.d_layers, args.norm, args.num_ds)
    if args.use_same_d and D is None and args.lambda_gan2 > 0:
        D = MultiscaleDiscriminator(d_in, args.ndf, args.d_layers, args.norm, args.num_ds)
    for net in (model.generator, D, D2, model.encoder):  # the official construction order
        if net is not None:
            init_weights(net, args.init_type, args.init_gain)
    ema = copy.deepcopy(model).requires_grad_(False)
    return model, D, D2, ema


def gan_loss(preds: Sequence[Tensor], real: bool, mode: str) -> Tensor:
    """The official GANLoss: least squares (``lsgan``) or logistic (``vanilla``) against 1/0, summed over scales.

    With one scale the official discriminator returns a tensor, and GANLoss iterates over it, i.e. over the
    batch: the loss is then the sum of per-image means. Both are reproduced.
    """
    terms = list(preds[0]) if len(preds) == 1 else list(preds)
    total = preds[0].new_zeros(())
    for p in terms:
        target = torch.full_like(p, 1.0 if real else 0.0)
        total = total + (F.mse_loss(p, target) if mode == "lsgan" else F.binary_cross_entropy_with_logits(p, target))
    return total


def _requires_grad(nets: Sequence[nn.Module | None], flag: bool) -> None:
    for net in nets:
        if net is not None:
            net.requires_grad_(flag)


def _frozen_call(module: nn.Module, x: Tensor):
    """``module(x)`` with its parameters detached: gradients reach ``x`` but not the module (the official
    ``set_requires_grad(netE, False)`` around the latent loss's backward)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return torch.func.functional_call(module, params, (x,))


def bicycle_step(nets: Mapping[str, nn.Module | None], optims: Mapping[str, torch.optim.Optimizer], accelerator,
                 A: Tensor, B: Tensor, args: argparse.Namespace, g: torch.Generator,
                 encoder_unwrapped: nn.Module) -> dict[str, float]:
    """One official BicycleGAN iteration (``optimize_parameters``): forward, update G and E, update D and D2."""
    G, E, D, D2 = nets["generator"], nets["encoder"], nets.get("D"), nets.get("D2")
    half = A.shape[0] // 2
    A1, B1, A2, B2 = A[:half], B[:half], A[half:], B[half:]
    eps = torch.randn(half, args.nz, generator=g).to(A.device)
    z_random = torch.randn(half, args.nz, generator=g).to(A.device)
    # forward
    mu, logvar = E(B1)
    z_encoded = mu + eps * torch.exp(0.5 * logvar)
    fake_encoded = G(A1, z_encoded)
    fake_random = G(A1, z_random)  # official: the random branch also uses the first half's A
    if args.conditional_d:
        fake_data_enc, real_data_enc = torch.cat([A1, fake_encoded], 1), torch.cat([A1, B1], 1)
        fake_data_rand, real_data_rand = torch.cat([A1, fake_random], 1), torch.cat([A2, B2], 1)
    else:
        fake_data_enc, real_data_enc, fake_data_rand, real_data_rand = fake_encoded, B1, fake_random, B2
    D_rand = D if args.use_same_d else D2

    # update G and E
    _requires_grad([D, D2], False)
    for name in ("generator", "encoder"):
        optims[name].zero_grad(set_to_none=True)
    zero = A.new_zeros(())
    loss_gan = args.lambda_gan * gan_loss(D(fake_data_enc), True, args.gan_mode) if args.lambda_gan > 0 else zero
    loss_gan2 = args.lambda_gan2 * gan_loss(D_rand(fake_data_rand), True, args.gan_mode) \
        if args.lambda_gan2 > 0 else zero
    loss_kl = torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) * (-0.5 * args.lambda_kl) if args.lambda_kl > 0 else zero
    loss_l1 = args.lambda_l1 * (fake_encoded - B1).abs().mean() if args.lambda_l1 > 0 else zero
    loss_z = zero
    if args.lambda_z > 0:
        # BicycleGAN updates G alone with the latent loss; cLR-GAN alone has no other signal for E
        mu2 = E(fake_random)[0] if args.variant == "clr" else _frozen_call(encoder_unwrapped, fake_random)[0]
        loss_z = args.lambda_z * (mu2 - z_random).abs().mean()
    accelerator.backward(loss_gan + loss_gan2 + loss_kl + loss_l1 + loss_z)
    optims["encoder"].step()
    optims["generator"].step()

    # update D (encoded pairs) and D2 (random pairs)
    _requires_grad([D, D2], True)
    losses = {"G_GAN": loss_gan.item(), "G_GAN2": loss_gan2.item(), "G_L1": loss_l1.item(), "kl": loss_kl.item(),
              "z_L1": loss_z.item()}

    def d_loss(net: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return gan_loss(net(fake.detach()), False, args.gan_mode) + gan_loss(net(real), True, args.gan_mode)

    if args.lambda_gan > 0 or (args.use_same_d and args.lambda_gan2 > 0):
        optims["D"].zero_grad(set_to_none=True)
        total = zero
        if args.lambda_gan > 0:
            loss_d = d_loss(D, real_data_enc, fake_data_enc)
            losses["D"] = loss_d.item()
            total = total + loss_d
        if args.use_same_d and args.lambda_gan2 > 0:
            loss_d2 = d_loss(D, real_data_rand, fake_data_rand)
            losses["D2"] = loss_d2.item()
            total = total + loss_d2
        accelerator.backward(total)
        optims["D"].step()
    if args.lambda_gan2 > 0 and not args.use_same_d:
        optims["D2"].zero_grad(set_to_none=True)
        loss_d2 = d_loss(D2, real_data_rand, fake_data_rand)
        accelerator.backward(loss_d2)
        optims["D2"].step()
        losses["D2"] = loss_d2.item()
    return losses


def pix2pix_step(nets: Mapping[str, nn.Module | None], optims: Mapping[str, torch.optim.Optimizer], accelerator,
                 A: Tensor, B: Tensor, args: argparse.Namespace) -> dict[str, float]:
    """One iteration of the repository's pix2pix (``pix2pix_model.py``): D on cat(A, B), then G."""
    G, D = nets["generator"], nets["D"]
    fake = G(A)
    _requires_grad([D], True)
    optims["D"].zero_grad(set_to_none=True)
    loss_d = 0.5 * (gan_loss(D(torch.cat([A, fake.detach()], 1)), False, args.gan_mode)
                    + gan_loss(D(torch.cat([A, B], 1)), True, args.gan_mode))
    accelerator.backward(loss_d)
    optims["D"].step()
    _requires_grad([D], False)
    optims["generator"].zero_grad(set_to_none=True)
    loss_gan = gan_loss(D(torch.cat([A, fake], 1)), True, args.gan_mode)
    loss_l1 = args.lambda_l1 * (fake - B).abs().mean()
    accelerator.backward(loss_gan + loss_l1)
    optims["generator"].step()
    return {"G_GAN": loss_gan.item(), "G_L1": loss_l1.item(), "D": loss_d.item()}


def lr_factor(step: int, niter: int, niter_decay: int) -> float:
    """The official 'linear' policy per iteration: 1 for the first ``niter`` steps, then linearly down to
    ``1 / (niter_decay + 1)`` over the next ``niter_decay`` (0 after them). ``step`` is 0-based."""
    return max(0.0, 1.0 - max(0, step + 1 - niter) / float(niter_decay + 1))


# =============================================================================================
# samples and metrics


def grid_inputs(pool: PairPool, args: argparse.Namespace, device) -> tuple[Tensor, Tensor, Tensor | None]:
    n = min(args.grid_rows, len(pool))
    idx = torch.arange(n)
    off = (args.load_size - args.img_size) // 2
    A, B = pool.get(idx, torch.full((n, 2), off, dtype=torch.long))
    z = None
    if args.variant != "pix2pix":
        g = step_generator(args.seed, 0, 0, STREAM_SAMPLES)
        z = torch.randn(args.samples, args.nz, generator=g)
    return A.to(device), B.to(device), None if z is None else z.to(device)


def _rgb(x: Tensor) -> Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def sample_grid(model, A: Tensor, B: Tensor, z: Tensor | None) -> tuple[Tensor, int]:
    """Rows: inputs; columns: input, ground truth, [the ground truth's encoded style,] one output per code."""
    model.eval()
    cols = [_rgb(A), _rgb(B)]
    if z is None:
        cols.append(model.generator(A))
    else:
        if model.encoder is not None:
            cols.append(model.generator(A, model.encoder(B)[0]))
        for zk in z:
            cols.append(model.generator(A, zk.expand(A.shape[0], -1)))
    return torch.stack(cols, 1).flatten(0, 1), len(cols)


@torch.no_grad()
def evaluate(model, pool: PairPool, seed: int, samples: int = 4, batch_size: int = 16) -> dict[str, float]:
    """Held-out figures of a model (see :func:`hubmodels.bicyclegan.metrics.diversity_and_outline`)."""
    from hubmodels.bicyclegan.metrics import evaluate_pairs

    off = (pool.args.load_size - pool.args.img_size) // 2
    idx = torch.arange(len(pool))
    A, B = pool.get(idx, torch.full((len(idx), 2), off, dtype=torch.long))
    masks = None
    if pool.masks is not None:
        s = pool.args.img_size
        masks = pool.masks[:, off:off + s, off:off + s]
    return evaluate_pairs(model, A, B, masks, seed=seed, samples=samples, batch_size=batch_size)


# =============================================================================================
# the family


class BicycleGANFamily(loop.Family):
    """BicycleGAN's part of the training script; :mod:`train.loop` runs it."""

    module = MODULE
    name = "bicyclegan"
    description = DESCRIPTION
    defaults = dict(steps=2000, batch_size=8, seed=0, sample_every=250, ckpt_every=250, log_every=25, keep=2)
    locked = LOCKED_ARGS
    # the schedule's length defaults from --steps, which a resumed session may change
    from_checkpoint = ("niter", "niter_decay")
    loss_keys = LOSS_KEYS

    @property
    def model_class(self) -> type:
        from hubmodels.bicyclegan import BicycleGAN

        return BicycleGAN

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        d = p.add_argument_group("data")
        d.add_argument("--data", default=SYNTHFACES,
                       help="'synthfaces' (sketch -> face, rendered in memory) or a folder of side-by-side A|B "
                            "images (root/[train|val/]*.png, the pix2pix / edges2shoes layout)")
        d.add_argument("--n-train", type=int, default=3000, help="SynthFaces training pairs")
        d.add_argument("--n-val", type=int, default=48, help="held-out pairs for the sample grid and the metrics")
        d.add_argument("--data-seed", type=int, default=0, help="SynthFaces stream")
        d.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="which half is the input")
        d.add_argument("--load-size", type=int, default=None,
                       help="resize to this, then crop --img-size at a random position (default: --img-size)")
        d.add_argument("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
        d.add_argument("--input-nc", type=int, default=None, help="input channels (default: 1 for SynthFaces "
                       "sketches, else 3)")
        d.add_argument("--output-nc", type=int, default=3)
        d.add_argument("--samples", type=int, default=4, help="random codes per input in grids and metrics")
        d.add_argument("--grid-rows", type=int, default=6, help="inputs in the sample grids")

        m = p.add_argument_group("model")
        m.add_argument("--variant", choices=VARIANTS, default="bicycle",
                       help="bicycle: both cycles; cvae: cVAE-GAN only; clr: cLR-GAN only; pix2pix: nz=0 baseline")
        m.add_argument("--img-size", type=int, default=64)
        m.add_argument("--nz", type=int, default=8)
        m.add_argument("--ngf", type=int, default=64)
        m.add_argument("--nef", type=int, default=64)
        m.add_argument("--ndf", type=int, default=64)
        m.add_argument("--num-downs", type=int, default=None, help="U-Net levels (default: log2(img-size), a 1x1 "
                       "bottleneck; official unet_256: 8)")
        m.add_argument("--where-add", choices=("all", "input"), default="all")
        m.add_argument("--norm", choices=("instance", "batch", "none"), default=None,
                       help="default: instance (bicycle, cvae, clr), batch (pix2pix)")
        m.add_argument("--nl", choices=("relu", "lrelu", "elu"), default="relu")
        m.add_argument("--upsample", choices=("basic", "bilinear"), default="basic")
        m.add_argument("--no-dropout", dest="use_dropout", action="store_false",
                       help="no dropout in the generator (the official scripts train with --use_dropout)")
        m.add_argument("--encoder", choices=("resnet", "conv"), default="resnet")
        m.add_argument("--encoder-depth", type=int, default=None,
                       help="encoder blocks / layers (default: log2(img-size) - 3, so it ends at 8x8)")
        m.add_argument("--num-ds", type=int, default=2, help="discriminator scales")
        m.add_argument("--d-layers", type=int, default=3, help="PatchGAN layers (basic_256_multi: 3, _128_: 2)")
        m.add_argument("--conditional-d", action="store_true", help="D sees cat(A, B) (always for pix2pix)")

        o = p.add_argument_group("objective and optimiser (official defaults)")
        o.add_argument("--gan-mode", choices=("lsgan", "vanilla"), default=None,
                       help="default: lsgan (bicycle, cvae, clr), vanilla (pix2pix)")
        o.add_argument("--lambda-l1", type=float, default=None, help="image L1 weight (10)")
        o.add_argument("--lambda-gan", type=float, default=None, help="D's GAN weight, encoded branch (1)")
        o.add_argument("--lambda-gan2", type=float, default=None, help="D2's GAN weight, random branch (1)")
        o.add_argument("--lambda-z", type=float, default=None, help="latent L1 weight (0.5)")
        o.add_argument("--lambda-kl", type=float, default=None, help="KL weight (0.01)")
        o.add_argument("--use-same-d", action="store_true", help="one discriminator for both branches")
        o.add_argument("--lr", type=float, default=2e-4)
        o.add_argument("--beta1", type=float, default=0.5)
        o.add_argument("--beta2", type=float, default=0.999)
        o.add_argument("--niter", type=int, default=None, help="steps at the initial lr (default: half of --steps)")
        o.add_argument("--niter-decay", type=int, default=None,
                       help="steps of linear decay to 0 after them (default: the rest of --steps)")
        o.add_argument("--init-type", choices=("normal", "xavier", "kaiming", "orthogonal"), default="xavier")
        o.add_argument("--init-gain", type=float, default=0.02)
        o.add_argument("--ema-beta", type=float, default=0.0,
                       help="EMA of G and E for the published model (0: the trained nets themselves, as official)")

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        """Validate BicycleGAN's options and fill the defaults that derive from others."""
        v = args.variant
        if args.img_size < 32 or args.img_size & (args.img_size - 1):
            error(f"--img-size must be a power of 2 >= 32, got {args.img_size}")
        args.load_size = args.img_size if args.load_size is None else args.load_size
        if args.load_size < args.img_size:
            error(f"--load-size ({args.load_size}) must be >= --img-size ({args.img_size})")
        if args.input_nc is None:
            args.input_nc = 1 if args.data == SYNTHFACES else 3
        if args.data == SYNTHFACES and args.input_nc != 1:
            error("SynthFaces sketches are 1-channel: --input-nc must be 1 with --data synthfaces")
        if args.data != SYNTHFACES and not Path(args.data).is_dir():
            error(f"--data {args.data!r}: no such folder. Accepted: 'synthfaces', or a folder of side-by-side A|B "
                  "images (root/[train|val/]*.png)")
        levels = int(math.log2(args.img_size))
        args.num_downs = levels if args.num_downs is None else args.num_downs
        low = 6 if (args.where_add == "all" and v != "pix2pix") else 5
        if not low <= args.num_downs <= levels:
            error(f"--num-downs must be from {low} to log2(--img-size) = {levels}, got {args.num_downs}")
        args.encoder_depth = levels - 3 if args.encoder_depth is None else args.encoder_depth
        if 8 * 2 ** args.encoder_depth != args.img_size:
            error(f"--encoder-depth {args.encoder_depth} makes an encoder for {8 * 2 ** args.encoder_depth} px "
                  f"images; for --img-size {args.img_size} use {levels - 3}")
        for name in ("nz", "ngf", "nef", "ndf", "num_ds", "d_layers", "n_val", "samples", "grid_rows", "n_train"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if v != "pix2pix" and args.batch_size % 2:
            error(f"--batch-size must be even: BicycleGAN splits each batch into an encoded and a random half, "
                  f"got {args.batch_size}")
        if not 0.0 <= args.ema_beta < 1.0:
            error(f"--ema-beta must be in [0, 1), got {args.ema_beta}")
        args.norm = args.norm or ("batch" if v == "pix2pix" else "instance")
        args.gan_mode = args.gan_mode or ("vanilla" if v == "pix2pix" else "lsgan")
        defaults = {"bicycle": dict(lambda_l1=10.0, lambda_gan=1.0, lambda_gan2=1.0, lambda_z=0.5, lambda_kl=0.01),
                    "cvae": dict(lambda_l1=10.0, lambda_gan=1.0, lambda_gan2=0.0, lambda_z=0.0, lambda_kl=0.01),
                    "clr": dict(lambda_l1=0.0, lambda_gan=0.0, lambda_gan2=1.0, lambda_z=0.5, lambda_kl=0.0),
                    "pix2pix": dict(lambda_l1=10.0, lambda_gan=1.0, lambda_gan2=0.0, lambda_z=0.0, lambda_kl=0.0)}[v]
        for key, value in defaults.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
            if getattr(args, key) < 0:
                error(f"--{key.replace('_', '-')} must be >= 0, got {getattr(args, key)}")
        if v == "pix2pix":
            for key in ("lambda_gan2", "lambda_z", "lambda_kl"):
                if getattr(args, key) > 0:
                    error(f"--{key.replace('_', '-')} has no meaning for --variant pix2pix (nz=0: no z, no D2)")
        elif args.lambda_gan == 0 and args.lambda_gan2 == 0:
            error("at least one of --lambda-gan / --lambda-gan2 must be > 0 (a GAN needs a discriminator)")
        args.niter = args.steps // 2 if args.niter is None else args.niter
        args.niter_decay = args.steps - args.niter if args.niter_decay is None else args.niter_decay
        if args.niter < 0 or args.niter_decay < 0:
            error(f"--niter and --niter-decay must be >= 0, got {args.niter} and {args.niter_decay}")

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        pool, val = load_pools(args, with_train=train)
        summary = "" if pool is None else (
            f"{len(pool)} training pairs ({pool.name}, {args.direction}) at {args.load_size}px -> {args.img_size}px "
            f"crops, {len(val)} for samples/metrics{'' if val.held_out else ' (NOT held out: no val/ split)'}")
        return Data(pool, val, (pool or val).name, val.held_out, summary)

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        model, D, D2, ema = build_networks(args)
        nets: dict[str, nn.Module] = {"generator": model.generator}
        if model.encoder is not None:
            nets["encoder"] = model.encoder
        if D is not None:
            nets["D"] = D
        if D2 is not None:
            nets["D2"] = D2
        optims = {n: torch.optim.Adam(m.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
                  for n, m in nets.items()}
        ema_of = {n: n for n in ("generator", "encoder") if n in nets}
        beta = args.ema_beta
        return Networks(nets, optims, ema, ema_of, lambda t: beta, model_config(args))

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        args = ctx.args
        factor = lr_factor(ctx.step, args.niter, args.niter_decay)
        for opt in ctx.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = args.lr * factor
        A, B = sample_batch(ctx.data.train, args.batch_size, generator, args.flip)
        A, B = A.to(ctx.device), B.to(ctx.device)
        for net in ctx.nets.values():
            net.train()
        if args.variant == "pix2pix":
            return pix2pix_step(ctx.nets, ctx.optimizers, ctx.accelerator, A, B, args)
        encoder = ctx.accelerator.unwrap_model(ctx.nets["encoder"])
        return bicycle_step(ctx.nets, ctx.optimizers, ctx.accelerator, A, B, args, generator, encoder)

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        keys = [k for k in ("G_GAN", "G_GAN2", "G_L1", "z_L1", "kl", "D", "D2") if k in losses]
        return " ".join(f"{k} {losses[k]:.3f}" for k in keys)

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        A, B, z = grid_inputs(data.val, args, ema.device)
        return sample_grid(ema, A, B, z)

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        return evaluate(ema, data.val, args.seed, samples=args.samples)

    def card(self, report: RunReport) -> CardText:
        """BicycleGAN's words on the card: the harness adds the commands, sessions, wall time and hardware."""
        meta, args, val, metrics = report.meta, report.args, report.data.val, report.metrics
        cfg = meta["config"]
        synth = args.data == SYNTHFACES
        dataset = SYNTHFACES if synth else val.name
        data = (f"SynthFaces sketch -> face pairs ({args.n_train} training pairs; the input is the face's clean "
                f"outline sketch, `render_face(...).edges`, the target its picture)" if synth
                else f"the A|B folder `{val.name}` ({args.direction})")
        variant = {"bicycle": "BicycleGAN (cVAE-GAN + cLR-GAN)", "cvae": "cVAE-GAN (the encoded cycle only)",
                   "clr": "cLR-GAN (the latent-regression cycle only)",
                   "pix2pix": "the deterministic pix2pix baseline (nz=0)"}[args.variant]
        size = cfg["img_size"]
        notes = [
            "`diversity_l1`: mean absolute difference (images in [-1, 1]) between the outputs of one input for "
            f"{args.samples} random codes, averaged over every pair and input (0: the code is ignored)",
            "`recon_l1`: |G(A, E(B)) - B| with the encoder's mean (how well the encoded style is rebuilt); "
            "`sample_l1`: the same for random codes; `z_recon_l1`: |E(G(A, z)) - z| (latent recovery)",
        ]
        if synth:
            notes.append(
                "outline: edges are detected in every output (the Canny-style detector of "
                "`hubmodels.bicyclegan.edges`) and compared with the input sketch with a one-pixel tolerance "
                "(`outline_f1`; `outline_f1_shuffled` against another face's sketch is the chance level, "
                "`real_outline_f1` the ground-truth pictures' score); `mask_r2` is the share of an output's "
                "pixel variance that the face's part mask explains (`real_mask_r2` for the ground truth, "
                "`mask_r2_shuffled` against another face's mask)")
        good, bad = _strengths(args, metrics)
        chain = report.lineage
        made = "fine-tuned" if chain else "trained from scratch"
        steps = f"{meta['step']} iterations" + "".join(f" after {p['step']} of `{p['run']}`" for p in chain)
        return CardText(
            title=f"BicycleGAN trained on {'SynthFaces sketches' if synth else dataset} ({size} px)",
            description=(
                f"A {variant} {made} by hubmodels on {'SynthFaces' if synth else dataset}: it turns "
                f"{'a line sketch of a cartoon animal face into a coloured face' if synth else 'an A image into a B image'}"
                + ("" if args.variant == "pix2pix" else
                   f", with a latent code of {cfg['nz']} numbers choosing the colouring (random codes give "
                   "different outputs for one input; the encoder takes the code of an example image)")
                + f". Small configuration (ngf {cfg['ngf']}, nef {cfg['nef']}, {cfg['num_downs']} U-Net levels), "
                f"{steps}: a demonstration of the training pipeline, not a replacement for the official "
                "edges2shoes / edges2handbags weights.\n\n"
                + (f"**What it does well:** {good or 'nothing yet.'}\n\n**What it does not:** {bad}" if bad else "")),
            intro=(f"{made.capitalize()} with `python -m {MODULE}` (hubmodels' implementation of the official "
                   f"junyanz/BicycleGAN objective, variant `{args.variant}`) on {data} at {size}x{size}."),
            caption=(f"{'Held-out' if val.held_out else 'Training'} inputs after {steps}. Each row: the "
                     "input sketch, the ground truth, " + ("the output" if args.variant == "pix2pix" else
                                                          "the output with the ground truth's encoded code, then "
                                                          f"{args.samples} random codes (the same in every row)")
                     + "."),
            datasets=[dataset],
            details=[
                f"objective: {_objective(args)}",
                f"Adam lr {args.lr}, betas ({args.beta1}, {args.beta2}); lr constant for {args.niter} steps, then "
                f"linear decay to 0 over {args.niter_decay}; {args.init_type} init (gain {args.init_gain}); "
                f"{'dropout in G; ' if args.use_dropout else ''}{args.norm} norm; "
                f"{args.num_ds}-scale PatchGAN discriminators ({args.d_layers} layers, ndf {args.ndf})"
                + ("" if args.ema_beta == 0 else f"; these weights are the EMA (beta {args.ema_beta}) of G and E"),
            ],
            notes=notes,
            training={"image size": size, "variant": args.variant,
                      "optimizer": f"Adam lr {args.lr}, betas ({args.beta1}, {args.beta2}), "
                                   f"{args.niter} + {args.niter_decay} linear decay",
                      "lambdas": _lambdas(args)},
        )

    def options_summary(self, args: Mapping[str, Any]) -> str:
        return f"variant {args['variant']}, lr {args['lr']}, {_lambdas(argparse.Namespace(**args))}"


def _lambdas(args: argparse.Namespace) -> str:
    if args.variant == "pix2pix":
        return f"L1 {args.lambda_l1}, GAN {args.lambda_gan} ({args.gan_mode})"
    return (f"L1 {args.lambda_l1}, GAN {args.lambda_gan}, GAN2 {args.lambda_gan2}, z {args.lambda_z}, "
            f"kl {args.lambda_kl} ({args.gan_mode})")


def _objective(args: argparse.Namespace) -> str:
    if args.variant == "pix2pix":
        return (f"conditional GAN on cat(A, B) ({args.gan_mode}, D loss halved) + {args.lambda_l1} x L1; nz = 0")
    parts = []
    if args.lambda_gan > 0:
        parts.append(f"GAN on G(A, E(B)) with D ({args.lambda_gan})")
    if args.lambda_l1 > 0:
        parts.append(f"{args.lambda_l1} x L1 |G(A, E(B)) - B|")
    if args.lambda_kl > 0:
        parts.append(f"{args.lambda_kl} x KL(E(B) || N(0, I))")
    if args.lambda_gan2 > 0:
        parts.append(f"GAN on G(A, z) with {'D' if args.use_same_d else 'D2'} ({args.lambda_gan2})")
    if args.lambda_z > 0:
        parts.append(f"{args.lambda_z} x latent L1 |E(G(A, z)) - z| "
                     f"({'updating G and E' if args.variant == 'clr' else 'updating G only'})")
    return "; ".join(parts) + f"; {args.gan_mode} GAN loss"


def _strengths(args: argparse.Namespace, m: Mapping[str, float]) -> tuple[str, str]:
    """Plain sentences from the measured figures (empty when the run has no outline metrics)."""
    if "outline_f1" not in m:
        return "", ""
    good, bad = [], []
    f1, shuffled, real = m["outline_f1"], m.get("outline_f1_shuffled", 0.0), m.get("real_outline_f1", 1.0)
    outline = (f"edge F1 against the input sketch {f1:.2f}, against another face's sketch {shuffled:.2f}, "
               f"ground-truth pictures {real:.2f}")
    (good if f1 - shuffled > 0.05 else bad).append(
        ("the outputs follow the input sketch" if f1 - shuffled > 0.05 else "the outputs do not follow the sketch")
        + f" ({outline})")
    if args.variant != "pix2pix":
        div = m.get("diversity_l1", 0.0)
        (good if div > 0.05 else bad).append(
            (f"different random codes give clearly different colourings of one sketch" if div > 0.05 else
             "the random code barely changes the output") + f" (mean difference {div:.2f} on the [-1, 1] scale)")
        if "recon_l1" in m:
            recon, rand = m["recon_l1"], m.get("sample_l1", float("nan"))
            (good if recon < 0.9 * rand else bad).append(
                ("the encoder carries an example's colouring over" if recon < 0.9 * rand else
                 "the encoder does not carry an example's colouring over")
                + f" (L1 to the example {recon:.2f} with its encoded code, {rand:.2f} with random codes)")
    bad.append("at 64 px and a few thousand CPU steps the pictures are soft and speckled: fine markings (stripes, "
               "spots), textured backgrounds and small parts such as pupils and glasses are blurred or wrong, colours "
               "come from the training distribution only, and sketches unlike SynthFaces (other objects, thick or "
               "sketchy strokes) give poor results")
    return "; ".join(good) + ("." if good else ""), "; ".join(bad) + "."


FAMILY = BicycleGANFamily()


def build_parser() -> argparse.ArgumentParser:
    return loop.build_parser(FAMILY)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; every problem exits with a message that says what is accepted."""
    return loop.parse_args(FAMILY, argv)


def train(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Train (or continue) the run in ``args.out``; returns the run folder."""
    return loop.train(FAMILY, args, argv)


def publish_run(out: str | os.PathLike, repo_id: str, hub_dir: str | os.PathLike | None = None) -> str:
    """Publish the latest checkpoint's G and E with a full model card; returns the folder."""
    return loop.publish_run(FAMILY, out, repo_id, hub_dir)


def main(argv: Sequence[str] | None = None) -> int:
    return loop.main(FAMILY, argv)


if __name__ == "__main__":
    sys.exit(main())
