"""Train StarGAN (Choi et al., CVPR 2018) on SynthFaces attributes, a CelebA-style folder, or jointly on two
datasets with the mask vector.

    python -m train.stargan --data synthfaces --image-size 64 --steps 2000 --out runs/stargan \\
        --publish hubmodels/stargan-synthfaces
    python -m train.stargan --data synthfaces --data2 synthfaces-domains ...   # joint mode (mask vector)
    python -m train.stargan --data path/to/celeba --selected-attrs Black_Hair Blond_Hair Brown_Hair Male Young \\
        --image-size 128 --crop-size 178 --g-conv-dim 64 --d-conv-dim 64 --g-repeat-num 6 --d-repeat-num 6 ...
    python -m train.stargan --out runs/stargan --resume                    # continue, bit-identical
    python -m train.stargan --out runs/stargan --publish-only hubmodels/x  # publish the latest checkpoint

The objective and optimisation follow the official yunjey/stargan solver: WGAN-GP (critic loss
``-D(x) + D(G(x, c))`` and gradient penalty ``(||grad D(x_hat)|| - 1)^2`` on random interpolates,
lambda_gp 10), domain classification of real images (D) and of translations (G) (lambda_cls 1;
binary cross-entropy summed over attributes for attribute datasets, softmax cross-entropy for class
datasets) and L1 reconstruction ``|x - G(G(x, c_trg), c_org)|`` (lambda_rec 10); targets are the labels
of the batch shuffled; one generator update per n_critic (5) discriminator updates; Adam(lr 1e-4,
betas (0.5, 0.999)); learning rates decayed over the last num_iters_decay iterations. In joint mode
every iteration trains on each dataset in turn, the label vector being ``[labels 1, labels 2, mask]``
with the other dataset's part zero and the discriminator's classification restricted to the batch's
dataset (official ``train_multi``).

Every random draw of step k (batch, flips, target shuffles, interpolation weights) comes from a
generator seeded by (seed, k, process), so a resumed run is bit-identical to one that never stopped.
Run folders, resuming, checkpoints and publishing are :mod:`train.loop`'s; this file holds StarGAN's.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train import loop
from train.loop import CardText, Data, Networks, RunReport, StepContext

MODULE = "train.stargan"
DESCRIPTION = __doc__.split("\n\n")[0]
SYNTHFACES = "synthfaces"
SYNTHFACES_DOMAINS = "synthfaces-domains"
# Held-out SynthFaces come from their own stream seed, so they never coincide with training faces.
SYNTHFACES_VAL_SEED_OFFSET = 1_000_003
SYNTHFACES_DATA2_SEED_OFFSET = 17  # the second (domains) dataset draws other faces than the first
EDIT_FACES = 200  # held-out faces behind the card's edit_* figures
LOCKED_ARGS = ("data", "data2", "selected_attrs", "exclusive", "domains2", "n_train", "data_seed", "crop_size",
               "hflip", "image_size", "g_conv_dim", "d_conv_dim", "g_repeat_num", "d_repeat_num", "lambda_cls",
               "lambda_rec", "lambda_gp", "lambda_id", "lambda_cls_jac", "instance_noise", "d_cls_warmup", "n_critic",
               "g_lr", "d_lr", "beta1", "beta2", "lr_decay", "lr_update_step", "ema_beta")
LOSS_KEYS = ("D/loss_real", "D/loss_fake", "D/loss_cls", "D/loss_gp", "G/loss_fake", "G/loss_rec", "G/loss_cls",
             "G/loss_id", "D/cls_jac", "D/warmup_cls")
__all__ = ["LOSS_KEYS", "FAMILY", "StarGANFamily", "LabelPool", "build_parser", "parse_args", "train", "publish_run",
           "main", "load_pools", "sample_batch", "train_step", "gradient_penalty", "classification_loss", "evaluate"]


# =============================================================================================
# data


@dataclass
class LabelPool:
    """Images with their labels: binary attributes (``kind="multi"``, float (N, n)) or a class (``"single"``,
    int64 (N,))."""

    images: Tensor | None  # (N, 3, H, W) in [-1, 1] when held in memory
    dataset: Any  # read item by item when not in memory
    labels: Tensor
    names: list[str]
    kind: str
    name: str
    held_out: bool = True
    synthfaces: tuple[int, int] | None = None  # (stream seed, first index) of SynthFaces pools

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def get(self, idx: Tensor) -> Tensor:
        if self.images is not None:
            return self.images[idx]
        return torch.stack([self.dataset[int(i)]["image"] for i in idx])

    def onehot(self, labels: Tensor) -> Tensor:
        """Labels as the generator's float vector: attributes as they are, a class as its one-hot."""
        return labels.float() if self.kind == "multi" else F.one_hot(labels, len(self.names)).float()


def _in_memory(dataset, n: int, cache_bytes: int = 2 << 30) -> Tensor | None:
    first = dataset[0]["image"]
    if n * first.numel() * 4 > cache_bytes:
        return None
    return torch.stack([first] + [dataset[i]["image"] for i in range(1, n)])


def _synthfaces_attributes(args, n: int, seed: int, held_out: bool) -> LabelPool:
    from hubmodels.data.synthfaces import SynthFaces, attributes_of, sample_params

    ds = SynthFaces(n, size=args.image_size, seed=seed)
    labels = torch.tensor([[float(attributes_of(sample_params(seed, i))[a]) for a in args.selected_attrs]
                           for i in range(n)])
    return LabelPool(_in_memory(ds, n), ds, labels, list(args.selected_attrs), "multi", SYNTHFACES, held_out,
                     (seed, 0))


def _synthfaces_domains(args, n: int, seed: int, held_out: bool) -> LabelPool:
    from hubmodels.data.synthfaces import SynthFaces

    ds = SynthFaces(n, size=args.image_size, seed=seed, domains=args.domains2)
    labels = torch.arange(n) % len(args.domains2)
    return LabelPool(_in_memory(ds, n), ds, labels, list(args.domains2), "single", SYNTHFACES_DOMAINS, held_out,
                     (seed, 0))


def _test_count(root: Path) -> int:
    """StarGAN's held-out split: the first 2000 shuffled rows of CelebA; a tenth of a folder under 4000 images."""
    from hubmodels.data.layouts import read_attribute_file

    attr = next((root / n for n in ("list_attr_celeba.txt", "list_attr_celeba.csv") if (root / n).is_file()), None)
    rows = len(read_attribute_file(attr)[1]) if attr is not None else 20000
    return 2000 if rows > 4000 else max(1, rows // 10)


def _folder_attributes(args, split: str, limit: int | None) -> LabelPool:
    from hubmodels.data.layouts import open_layout

    root = Path(args.data)
    ds = open_layout("attributes", root, args.image_size, selected_attrs=args.selected_attrs, split=split,
                     crop_size=args.crop_size, skip_missing=True, test_count=_test_count(root))
    if limit is not None and len(ds) > limit:
        ds = torch.utils.data.Subset(ds, list(range(limit)))
        labels = ds.dataset.labels[:limit]
        names = ds.dataset.selected_attrs
    else:
        labels, names = ds.labels, ds.selected_attrs
    return LabelPool(_in_memory(ds, len(labels)), ds, labels, list(names), "multi", root.name, split == "test")


def _folder_domains(args, split: str, limit: int | None) -> LabelPool:
    from hubmodels.data.layouts import open_layout

    root = Path(args.data2)
    ds = open_layout("domains", root, args.image_size, split=split, domains=args.domains2)
    labels = torch.tensor(ds.labels, dtype=torch.long)
    if limit is not None and len(ds) > limit:
        keep = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:limit].sort().values
        ds, labels = torch.utils.data.Subset(ds, keep.tolist()), labels[keep]
    names = list(ds.dataset.domains if isinstance(ds, torch.utils.data.Subset) else ds.domains)
    return LabelPool(_in_memory(ds, len(labels)), ds, labels, names, "single", root.name,
                     (root / "val").is_dir() and split == "val")


def load_pools(args: argparse.Namespace, with_train: bool = True) -> tuple[list[LabelPool] | None, list[LabelPool]]:
    """(training pools, held-out pools): one per dataset (two in joint mode)."""
    train, val = [], []
    if args.data == SYNTHFACES:
        seed = args.data_seed
        val.append(_synthfaces_attributes(args, args.n_val, seed + SYNTHFACES_VAL_SEED_OFFSET, True))
        if with_train:
            train.append(_synthfaces_attributes(args, args.n_train, seed, True))
    else:
        val.append(_folder_attributes(args, "test", args.n_val))  # StarGAN's split: the first 2000 shuffled rows
        if with_train:
            train.append(_folder_attributes(args, "train", None))
    if args.data2 == SYNTHFACES_DOMAINS:
        seed = args.data_seed + SYNTHFACES_DATA2_SEED_OFFSET
        val.append(_synthfaces_domains(args, args.n_val, seed + SYNTHFACES_VAL_SEED_OFFSET, True))
        if with_train:
            train.append(_synthfaces_domains(args, args.n_train, seed, True))
    elif args.data2 is not None:
        root = Path(args.data2)
        val.append(_folder_domains(args, "val" if (root / "val").is_dir() else "train", args.n_val))
        if with_train:
            train.append(_folder_domains(args, "train", None))
    return (train if with_train else None), val


class TrainPools:
    """The training pools of a run (one per dataset); ``len`` counts their images, for the checkpoints and card."""

    def __init__(self, pools: Sequence[LabelPool]):
        self.pools = list(pools)

    def __len__(self) -> int:
        return sum(len(p) for p in self.pools)

    def __iter__(self):
        return iter(self.pools)

    def __getitem__(self, k: int) -> LabelPool:
        return self.pools[k]


def sample_batch(pool: LabelPool, batch_size: int, g: torch.Generator, hflip: bool = True) -> tuple[Tensor, Tensor]:
    """A batch drawn uniformly with replacement, each image flipped with probability 1/2 (the official
    RandomHorizontalFlip), with its labels."""
    idx = torch.randint(len(pool), (batch_size,), generator=g)
    flips = torch.rand(batch_size, generator=g) < 0.5
    x = pool.get(idx)
    if hflip:
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    return x, pool.labels[idx]


# =============================================================================================
# losses and the training step


def classification_loss(logit: Tensor, target: Tensor, kind: str) -> Tensor:
    """Official Solver.classification_loss: summed binary cross-entropy over attributes averaged over the batch
    (CelebA), or softmax cross-entropy of the class (RaFD)."""
    if kind == "multi":
        return F.binary_cross_entropy_with_logits(logit, target.float(), reduction="sum") / logit.size(0)
    return F.cross_entropy(logit, target)


def classifier_jacobian_penalty(logits: Tensor, x: Tensor, g: torch.Generator) -> Tensor:
    """Mean over the batch of ||d logits / d x||_F^2, estimated with one backward pass: for random signs v,
    E_v ||(d logits / d x)^T v||^2 is the squared Frobenius norm (the cross terms average out).

    Why: a classifier trained on real images only can be flipped by small perturbations, and a generator
    rewarded by it learns to add exactly those (seen on SynthFaces: the critic read glasses on nearly every
    translated face while its pixels did not move towards the face re-rendered with glasses). A small input Jacobian
    makes every change of the verdict cost a visible change of the image, and the generator's gradient
    through a smooth classifier points along the attribute itself.
    """
    v = torch.randint(0, 2, logits.shape, generator=g).to(logits) * 2 - 1
    (grad,) = torch.autograd.grad(outputs=(logits * v).sum(), inputs=x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(out: Tensor, x: Tensor) -> Tensor:
    """Official Solver.gradient_penalty: mean over the batch of (||d out / d x||_2 - 1)^2 (double backward)."""
    (dydx,) = torch.autograd.grad(outputs=out, inputs=x, grad_outputs=torch.ones_like(out), retain_graph=True,
                                  create_graph=True, only_inputs=True)
    dydx = dydx.view(dydx.size(0), -1)
    return ((torch.sqrt(torch.sum(dydx ** 2, dim=1)) - 1) ** 2).mean()


@dataclass
class Condition:
    """How one dataset's labels enter the generator and the classifier in this model."""

    k: int  # the dataset's index
    c_dim: int
    c2_dim: int
    kind: str
    names: list[str]

    @property
    def joint(self) -> bool:
        return self.c2_dim > 0

    def label_vector(self, labels: Tensor, pool: LabelPool) -> Tensor:
        c = pool.onehot(labels)
        if not self.joint:
            return c
        n = c.size(0)
        zeros = c.new_zeros(n, self.c2_dim if self.k == 0 else self.c_dim)
        mask = c.new_zeros(n, 2)
        mask[:, self.k] = 1
        return torch.cat([c, zeros, mask] if self.k == 0 else [zeros, c, mask], dim=1)

    def logits(self, out_cls: Tensor) -> Tensor:
        if not self.joint:
            return out_cls
        return out_cls[:, :self.c_dim] if self.k == 0 else out_cls[:, self.c_dim:]


def train_step(G: nn.Module, D: nn.Module, optims: Mapping[str, torch.optim.Optimizer], accelerator,
               x_real: Tensor, label_org: Tensor, pool: LabelPool, cond: Condition, g: torch.Generator,
               args: argparse.Namespace, update_g: bool) -> dict[str, float]:
    """One official iteration on one dataset's batch: a critic update, and a generator update when ``update_g``."""
    device = x_real.device
    n = x_real.size(0)
    rand_idx = torch.randperm(n, generator=g)
    alpha = torch.rand(n, 1, 1, 1, generator=g).to(device)
    label_trg = label_org[rand_idx]
    c_org, c_trg = cond.label_vector(label_org, pool), cond.label_vector(label_trg, pool)
    losses: dict[str, float] = {}

    def update(loss: Tensor, name: str) -> None:
        for opt in optims.values():  # the official reset_grad: both optimisers' grads go
            opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optims[name].step()

    # Not in the paper (default 0): the critic sees every image, real or translated, through the same Gaussian
    # noise, so fine texture that is drowned by it cannot decide a class; a translation has to draw the attribute
    # at a scale the noise leaves visible instead of flipping the classifier with a faint pattern.
    sigma = getattr(args, "instance_noise", 0.0)

    def noisy(x: Tensor) -> Tensor:
        if sigma <= 0:
            return x
        return x + sigma * torch.randn(x.shape, generator=g).to(device=x.device, dtype=x.dtype)

    # 2. the discriminator
    lambda_jac = getattr(args, "lambda_cls_jac", 0.0)
    with accelerator.autocast():
        x_seen = noisy(x_real)
        x_in = x_seen.detach().requires_grad_(True) if lambda_jac > 0 else x_seen
        out_src, out_cls = D(x_in)
        d_loss_real = -torch.mean(out_src)
        logits_real = cond.logits(out_cls).float()
        d_loss_cls = classification_loss(logits_real, label_org, cond.kind)
        if lambda_jac > 0:  # not in the paper (default 0): see classifier_jacobian_penalty
            d_loss_jac = classifier_jacobian_penalty(logits_real, x_in, g)
        with torch.no_grad():  # the official code keeps this graph and discards it: same numbers, less memory
            x_fake = noisy(G(x_real, c_trg))
        out_src, _ = D(x_fake)
        d_loss_fake = torch.mean(out_src)
        x_hat = (alpha * x_seen.detach() + (1 - alpha) * x_fake).requires_grad_(True)
        out_src, _ = D(x_hat)
        d_loss_gp = gradient_penalty(out_src.float(), x_hat)
        d_loss = d_loss_real + d_loss_fake + args.lambda_cls * d_loss_cls + args.lambda_gp * d_loss_gp
        if lambda_jac > 0:
            d_loss = d_loss + lambda_jac * d_loss_jac
    update(d_loss, "discriminator")
    losses.update({"D/loss_real": d_loss_real.item(), "D/loss_fake": d_loss_fake.item(),
                   "D/loss_cls": d_loss_cls.item(), "D/loss_gp": d_loss_gp.item()})
    if lambda_jac > 0:
        losses["D/cls_jac"] = d_loss_jac.item()

    # 3. the generator, every n_critic iterations
    if update_g:
        with accelerator.autocast():
            x_fake = G(x_real, c_trg)
            out_src, out_cls = D(noisy(x_fake))
            g_loss_fake = -torch.mean(out_src)
            g_loss_cls = classification_loss(cond.logits(out_cls).float(), label_trg, cond.kind)
            x_reconst = G(x_fake, c_org)
            g_loss_rec = torch.mean(torch.abs(x_real - x_reconst))
            g_loss = g_loss_fake + args.lambda_rec * g_loss_rec + args.lambda_cls * g_loss_cls
            lambda_id = getattr(args, "lambda_id", 0.0)
            if lambda_id > 0:  # not in the paper: G(x, c_org) = x, an option for short runs (default 0)
                g_loss_id = torch.mean(torch.abs(x_real - G(x_real, c_org)))
                g_loss = g_loss + lambda_id * g_loss_id
        update(g_loss, "generator")
        losses.update({"G/loss_fake": g_loss_fake.item(), "G/loss_rec": g_loss_rec.item(),
                       "G/loss_cls": g_loss_cls.item()})
        if lambda_id > 0:
            losses["G/loss_id"] = g_loss_id.item()
    return losses


def classifier_warmup(D: nn.Module, pools: Sequence[LabelPool], accelerator, device: torch.device,
                      args: argparse.Namespace, c_dim: int, c2_dim: int) -> dict[str, float]:
    """Train the critic's classifier alone on real images for ``args.d_cls_warmup`` batches (of each dataset).

    Not in the paper (``--d-cls-warmup``, off by default). Why: the generator is asked for an attribute only as
    clearly as the critic's classifier tells it apart, and with WGAN-GP the critic learns thin parts slowly (on
    SynthFaces at 64 px its glasses accuracy on real faces stayed at 0.78-0.82 half-way through a 2-hour run, the
    fur colours at 1.00), so the generator was never asked for glasses. The warm-up uses its own Adam, so the
    training's optimiser state starts as without it, and its own random stream, so it is a pure function of
    ``--seed``. Returns the last batch's classification loss.
    """
    g = torch.Generator().manual_seed(args.seed + 7919 + 1_000_003 * accelerator.process_index)
    opt = torch.optim.Adam(D.parameters(), args.d_lr, (args.beta1, args.beta2))
    loss = torch.zeros(())
    for _ in range(args.d_cls_warmup):
        for k, pool in enumerate(pools):
            x, labels = sample_batch(pool, args.batch_size, g, args.hflip)
            cond = Condition(k, c_dim, c2_dim, pool.kind, pool.names)
            with accelerator.autocast():
                out_src, out_cls = D(x.to(device))
                loss = classification_loss(cond.logits(out_cls).float(), labels.to(device), pool.kind)
            opt.zero_grad(set_to_none=True)
            # the real/fake head joins the graph with weight 0: DistributedDataParallel needs a gradient for every
            # parameter, and a zero one leaves that head exactly as it was (Adam's first step on a zero gradient
            # is 0, and so is every later one)
            accelerator.backward(loss + 0.0 * out_src.float().sum())
            opt.step()
    D.zero_grad(set_to_none=True)
    return {"D/warmup_cls": loss.item()}


def decayed_lr(lr0: float, current: float, done: int, args: argparse.Namespace) -> float:
    """The learning rate after step ``done`` (1-based), from ``current``.

    ``official``: yunjey/stargan's arithmetic, ``lr -= lr0 / num_iters_decay`` every ``lr_update_step`` steps
    once past ``decay_from`` (with the defaults this lowers the rate by only lr0 / lr_update_step in all);
    ``linear``: the paper's schedule, linearly to 0 at ``decay_from + num_iters_decay``, updated every
    ``lr_update_step`` steps; ``none``: constant.
    """
    if args.lr_decay == "none" or done % args.lr_update_step or done <= args.decay_from:
        return current
    if args.lr_decay == "official":
        return current - lr0 / float(args.num_iters_decay)
    return lr0 * max(0.0, 1.0 - (done - args.decay_from) / float(args.num_iters_decay))


# =============================================================================================
# samples and metrics


def _fixed_batch(pool: LabelPool, count: int) -> tuple[Tensor, Tensor]:
    idx = torch.arange(min(count, len(pool)))
    return pool.get(idx), pool.labels[idx]


@torch.no_grad()
def edit_rows(model, pools: Sequence[LabelPool], count: int = 6) -> tuple[Tensor, int]:
    """The official sample grid: for fixed held-out images of the first dataset, the image and its translation
    to every single-label edit (joint: then every class of the second dataset). (rows * cols, 3, H, W), cols."""
    model.eval()
    x, labels = _fixed_batch(pools[0], count)
    x = x.to(model.device)
    source = labels.to(model.device) if pools[0].kind == "multi" else None
    if pools[0].kind == "multi":
        grid = model.edit_concat(x, source)  # (N, 3, H, W * cols)
    else:
        grid = model.edit_concat(x, None)
    cols = grid.size(-1) // grid.size(-2)
    cells = grid.view(grid.size(0), 3, grid.size(2), cols, grid.size(2)).permute(0, 3, 1, 2, 4)
    return cells.reshape(-1, 3, grid.size(2), grid.size(2)), cols


@torch.no_grad()
def evaluate(model, pools: Sequence[LabelPool], seed: int) -> dict[str, float]:
    """Offline figures on held-out images:

    * ``cls_acc_real``: the discriminator's label accuracy on real images (every label of every dataset);
    * ``cls_acc_fake``: how often the edited label of a single-label edit reads as its target to the
      discriminator (the paper's classification measure on translations, with our own D as the classifier);
    * ``cycle_l1``: mean |G(G(x, c_trg), c_org) - x| over the single-label edits;
    * ``identity_l1``: mean |G(x, c_org) - x|;
    * on SynthFaces attributes, the edit figures of :func:`hubmodels.stargan.metrics.synthfaces_edits`
      (``edit_<attribute>``: how much of the needed change an edit made, against the face re-rendered with
      that attribute changed; ``rest_l1``: the change outside the edited region).
    """
    model.eval()
    device = model.device
    right, total, fake_right, fake_total, cyc, ident, count = 0.0, 0, 0.0, 0, 0.0, 0.0, 0
    for k, pool in enumerate(pools):
        for start in range(0, len(pool), 16):
            idx = torch.arange(start, min(len(pool), start + 16))
            x, labels = pool.get(idx).to(device), pool.labels[idx].to(device)
            logits = model.class_logits(x)
            probs = model._probabilities(logits)[k]
            if pool.kind == "multi":
                right += ((probs > 0.5).float() == labels).float().sum().item()
                total += labels.numel()
            else:
                right += (probs.argmax(1) == labels).float().sum().item()
                total += labels.numel()
            c_org = pool.onehot(labels)
            targets = model.create_labels(c_org if pool.kind == "multi" else None, k, n=x.size(0))
            ident += (model.generate(x, model.condition(c_org, k)) - x).abs().mean().item() * x.size(0)
            for i, c_trg in enumerate(targets):
                fake = model.generate(x, model.condition(c_trg, k))
                rec = model.generate(fake, model.condition(c_org, k))
                cyc += (rec - x).abs().mean().item() * x.size(0)
                p = model._probabilities(model.class_logits(fake))[k]
                if pool.kind == "multi":
                    fake_right += ((p[:, i] > 0.5).float() == c_trg[:, i]).float().sum().item()
                else:
                    fake_right += (p.argmax(1) == i).float().sum().item()
                fake_total += x.size(0)
            count += x.size(0)
    n_edits = max(fake_total, 1)
    metrics = {"cls_acc_real": round(right / max(total, 1), 4), "cls_acc_fake": round(fake_right / n_edits, 4),
               "cycle_l1": round(cyc / n_edits, 5), "identity_l1": round(ident / max(count, 1), 5)}
    first = pools[0]
    if first.synthfaces is not None and first.kind == "multi":
        from hubmodels.stargan.metrics import synthfaces_edits

        # the held-out stream's first EDIT_FACES faces (the sample grid's are among them): 24 faces, as the
        # grid, moved the glasses figure by +-0.1 from one draw to the next
        edits = synthfaces_edits(model, seed=first.synthfaces[0], n=EDIT_FACES)
        metrics.update({k: v for k, v in edits.items() if k != "identity_l1"})
    return metrics


# =============================================================================================
# the family


class StarGANFamily(loop.Family):
    """StarGAN's part of the training script; :mod:`train.loop` runs it."""

    module = MODULE
    name = "stargan"
    description = DESCRIPTION
    defaults = dict(steps=2000, batch_size=16, seed=1234, sample_every=250, ckpt_every=250, log_every=25, keep=2)
    locked = LOCKED_ARGS
    # the decay window defaults from --steps, which a resumed session may raise: it stays the first session's
    from_checkpoint = ("num_iters_decay", "decay_from")
    loss_keys = LOSS_KEYS

    @property
    def model_class(self) -> type:
        from hubmodels.stargan import StarGAN

        return StarGAN

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        d = p.add_argument_group("data")
        d.add_argument("--data", default=SYNTHFACES,
                       help="the attribute dataset: 'synthfaces' (procedural, rendered in memory) or a CelebA-style "
                            "folder (images/ + list_attr_celeba.txt)")
        d.add_argument("--selected-attrs", nargs="+", default=None,
                       help="attributes to train on (default: all five SynthFaces attributes; for a folder, the "
                            "official Black_Hair Blond_Hair Brown_Hair Male Young)")
        d.add_argument("--exclusive", nargs="+", action="append", default=None, metavar="ATTR",
                       help="attributes set one at a time (repeat for several groups; default: SynthFaces' fur "
                            "colours, or CelebA's hair colours as the official create_labels)")
        d.add_argument("--data2", default=None,
                       help="joint mode (mask vector): a second, class-labelled dataset, 'synthfaces-domains' "
                            "(cat/dog/fox) or a folder root/[train/]<class>/*.png (RaFD-style)")
        d.add_argument("--domains2", nargs="+", default=None, help="classes of --data2 (default: all)")
        d.add_argument("--n-train", type=int, default=3000, help="SynthFaces training images per dataset")
        d.add_argument("--n-val", type=int, default=24, help="held-out images for the sample grid and the metrics")
        d.add_argument("--data-seed", type=int, default=0, help="SynthFaces stream")
        d.add_argument("--crop-size", type=int, default=None,
                       help="centre crop before resizing (official: 178 for CelebA; default: none for SynthFaces, "
                            "178 for a folder)")
        d.add_argument("--no-hflip", dest="hflip", action="store_false", help="disable random horizontal flips")
        d.add_argument("--sample-images", type=int, default=6, help="rows of the sample grid")

        m = p.add_argument_group("model (official defaults: 128 px, 64, 64, 6, 6)")
        m.add_argument("--image-size", type=int, default=64)
        m.add_argument("--g-conv-dim", type=int, default=32)
        m.add_argument("--d-conv-dim", type=int, default=32)
        m.add_argument("--g-repeat-num", type=int, default=6)
        m.add_argument("--d-repeat-num", type=int, default=5)

        o = p.add_argument_group("objective and optimiser (official defaults)")
        o.add_argument("--lambda-cls", type=float, default=1.0, help="domain classification weight")
        o.add_argument("--lambda-rec", type=float, default=10.0, help="reconstruction weight")
        o.add_argument("--lambda-gp", type=float, default=10.0, help="gradient penalty weight")
        o.add_argument("--lambda-id", type=float, default=0.0,
                       help="identity weight, |G(x, c_org) - x| (not in the paper or the official code; 0 = off): "
                            "helps a short run keep what an edit should not change")
        o.add_argument("--lambda-cls-jac", type=float, default=0.0,
                       help="weight of the squared Frobenius norm of the classifier's input Jacobian on real images "
                            "(not in the paper or the official code; 0 = off): keeps the generator from flipping "
                            "the classifier with changes a person does not see")
        o.add_argument("--instance-noise", type=float, default=0.0, metavar="SIGMA",
                       help="standard deviation of Gaussian noise added to every image the critic sees, real or "
                            "translated (not in the paper or the official code; 0 = off; images span [-1, 1]): a "
                            "faint pattern cannot flip the classifier, so an edit has to draw the attribute")
        o.add_argument("--d-cls-warmup", type=int, default=0, metavar="STEPS",
                       help="before the first iteration, train the critic's classifier alone on real images for "
                            "STEPS batches (its own Adam at --d-lr; not in the paper or the official code; 0 = off): "
                            "the generator is asked for thin parts (glasses) by a critic that already sees them")
        o.add_argument("--n-critic", type=int, default=5, help="discriminator updates per generator update")
        o.add_argument("--g-lr", type=float, default=1e-4)
        o.add_argument("--d-lr", type=float, default=1e-4)
        o.add_argument("--beta1", type=float, default=0.5)
        o.add_argument("--beta2", type=float, default=0.999)
        o.add_argument("--lr-decay", choices=("official", "linear", "none"), default="official",
                       help="official: the official code's arithmetic (lr -= lr0/num_iters_decay every "
                            "lr_update_step steps, which lowers the rate by lr0/lr_update_step in all); linear: the "
                            "paper's linear decay to 0; none")
        o.add_argument("--num-iters-decay", type=int, default=None,
                       help="length of the decay (official 100000 of 200000; default: half of --steps)")
        o.add_argument("--decay-from", type=int, default=None,
                       help="the step after which the rates decay (default: --steps minus --num-iters-decay)")
        o.add_argument("--lr-update-step", type=int, default=1000, help="steps between learning-rate updates")
        o.add_argument("--ema-beta", type=float, default=0.0,
                       help="EMA of the published weights (0: the trained weights themselves, as the official code)")

    def check_args(self, args: argparse.Namespace, error: Callable[[str], NoReturn]) -> None:
        from hubmodels.data.synthfaces import ATTRIBUTES, DOMAINS

        if args.image_size < 8 or args.image_size % 4:
            error(f"--image-size must be a multiple of 4 (>= 8), got {args.image_size}")
        if args.image_size % (2 ** args.d_repeat_num):
            error(f"--image-size {args.image_size} must be divisible by 2**--d-repeat-num = {2 ** args.d_repeat_num} "
                  "(the classifier's kernel is image_size / 2**d_repeat_num)")
        for name in ("g_conv_dim", "d_conv_dim", "d_repeat_num", "n_critic", "n_val", "lr_update_step",
                     "sample_images"):
            if getattr(args, name) < 1:
                error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.g_repeat_num < 0:
            error(f"--g-repeat-num must be >= 0, got {args.g_repeat_num}")
        if not 0.0 <= args.ema_beta < 1.0:
            error(f"--ema-beta must be in [0, 1), got {args.ema_beta}")
        if not 0.0 <= args.instance_noise < 2.0:
            error(f"--instance-noise is a standard deviation on the [-1, 1] image range: it must be in [0, 2), "
                  f"got {args.instance_noise}")
        if args.d_cls_warmup < 0:
            error(f"--d-cls-warmup is a number of batches, 0 (off) or more; got {args.d_cls_warmup}")
        if args.data == SYNTHFACES:
            attrs = args.selected_attrs or list(ATTRIBUTES)
            bad = [a for a in attrs if a not in ATTRIBUTES]
            if bad:
                error(f"--selected-attrs {bad} are not SynthFaces attributes; accepted: {', '.join(ATTRIBUTES)}")
            if args.n_train < 2:
                error(f"--n-train must be >= 2, got {args.n_train}")
            if args.exclusive is None:
                fur = [a for a in ("black_fur", "golden_fur", "brown_fur") if a in attrs]
                args.exclusive = [fur] if fur else []
        else:
            if not Path(args.data).is_dir():
                error(f"--data {args.data!r}: no such folder. Accepted: 'synthfaces', or a CelebA-style folder "
                      "(images/ or img_align_celeba/ + list_attr_celeba.txt)")
            attrs = args.selected_attrs or ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
            if args.crop_size is None:
                args.crop_size = 178
            if args.exclusive is None:
                from hubmodels.stargan.configs import OFFICIAL_HAIR_COLOURS

                hair = [a for a in attrs if a in OFFICIAL_HAIR_COLOURS]
                args.exclusive = [hair] if hair else []
        if len(set(attrs)) != len(attrs):
            error(f"--selected-attrs must be distinct, got {attrs}")
        args.selected_attrs = list(attrs)
        for group in args.exclusive:
            unknown = [a for a in group if a not in attrs]
            if unknown:
                error(f"--exclusive {group}: {unknown} are not among --selected-attrs {attrs}")
        if args.data2 is not None:
            if args.data2 == SYNTHFACES_DOMAINS:
                doms = args.domains2 or list(DOMAINS)
                bad = [x for x in doms if x not in DOMAINS]
                if bad:
                    error(f"--domains2 {bad} are not SynthFaces domains; accepted: {', '.join(DOMAINS)}")
                args.domains2 = list(doms)
            elif not Path(args.data2).is_dir():
                error(f"--data2 {args.data2!r}: accepted: 'synthfaces-domains' or a folder with one subfolder of "
                      "images per class (root/[train/]<class>/*.png)")
            if args.domains2 is not None and len(args.domains2) < 2:
                error(f"--domains2 needs at least 2 classes, got {args.domains2}")
            clash = set(args.domains2 or ()) & set(attrs)
            if clash:
                error(f"label names must differ between the datasets: {sorted(clash)} are in both")
        elif args.domains2 is not None:
            error("--domains2 names the classes of --data2 (joint mode): give --data2 too")
        if args.num_iters_decay is None:
            args.num_iters_decay = max(1, args.steps // 2)
        if args.num_iters_decay < 1:
            error(f"--num-iters-decay must be >= 1, got {args.num_iters_decay}")
        if args.decay_from is None:
            args.decay_from = max(0, args.steps - args.num_iters_decay)

    def load_data(self, args: argparse.Namespace, train: bool) -> Data:
        pools, val = load_pools(args, with_train=train)
        if args.data2 is not None and args.domains2 is None:
            args.domains2 = list(val[1].names)
        summary = ""
        if pools is not None:
            parts = [f"{len(p)} training images of {p.name} ({', '.join(p.names)}; "
                     f"{'attributes' if p.kind == 'multi' else 'classes'})" for p in pools]
            summary = " + ".join(parts) + f" at {args.image_size}px, {sum(len(v) for v in val)} held out"
        names = "+".join(p.name for p in val)
        return Data(None if pools is None else TrainPools(pools), val, names, all(v.held_out for v in val), summary)

    def model_config(self, args: argparse.Namespace, val: Sequence[LabelPool]) -> dict[str, Any]:
        joint = len(val) > 1
        return dict(
            image_size=args.image_size, c_dim=len(val[0].names), c2_dim=len(val[1].names) if joint else 0,
            conv_dim=args.g_conv_dim, repeat_num=args.g_repeat_num, d_conv_dim=args.d_conv_dim,
            d_repeat_num=args.d_repeat_num, with_discriminator=True, attributes=list(val[0].names),
            attributes2=list(val[1].names) if joint else None, datasets=[p.name for p in val],
            label_types=[p.kind for p in val], exclusive_groups=[list(g) for g in args.exclusive] or None,
            crop_size=args.crop_size)

    def build(self, args: argparse.Namespace, data: Data) -> Networks:
        from hubmodels.stargan import StarGAN

        torch.manual_seed(args.seed)  # the official build_model: PyTorch's default initialisation
        cfg = self.model_config(args, data.val)
        model = StarGAN(**cfg)
        ema = copy.deepcopy(model).requires_grad_(False)
        nets = {"generator": model.generator, "discriminator": model.discriminator}
        optims = {"generator": torch.optim.Adam(model.generator.parameters(), args.g_lr, (args.beta1, args.beta2)),
                  "discriminator": torch.optim.Adam(model.discriminator.parameters(), args.d_lr,
                                                    (args.beta1, args.beta2))}
        return Networks(nets, optims, ema, {"generator": "generator", "discriminator": "discriminator"},
                        lambda t: args.ema_beta, cfg)

    def initial_state(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"g_lr": args.g_lr, "d_lr": args.d_lr}

    def step(self, ctx: StepContext, generator: torch.Generator) -> dict[str, float]:
        args, pools = ctx.args, ctx.data.train.pools
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        G.train()
        D.train()
        done = ctx.step + 1
        joint = len(pools) > 1
        c_dim, c2_dim = len(pools[0].names), len(pools[1].names) if joint else 0
        losses: dict[str, float] = {}
        if ctx.step == 0 and getattr(args, "d_cls_warmup", 0) > 0:  # before the first iteration only: a resumed
            # run never passes step 0 again, and its checkpoints hold the warmed-up critic
            losses.update(classifier_warmup(D, pools, ctx.accelerator, ctx.device, args, c_dim, c2_dim))
        for k, pool in enumerate(pools):  # train_multi: CelebA then RaFD in every iteration
            x, labels = sample_batch(pool, args.batch_size, generator, args.hflip)
            cond = Condition(k, c_dim, c2_dim, pool.kind, pool.names)
            got = train_step(G, D, ctx.optimizers, ctx.accelerator, x.to(ctx.device), labels.to(ctx.device), pool,
                             cond, generator, args, update_g=done % args.n_critic == 0)
            prefix = "" if not joint else f"{pool.name}:"
            for key, value in got.items():
                losses[key] = losses.get(key, 0.0) + value / len(pools)
                if joint:
                    losses[prefix + key] = value
        # G losses exist only on generator steps: the log averages what it is given
        for name, key in (("g_lr", "generator"), ("d_lr", "discriminator")):
            lr0 = args.g_lr if name == "g_lr" else args.d_lr
            new = decayed_lr(lr0, ctx.state[name], done, args)
            if new != ctx.state[name]:
                ctx.state[name] = new
                for group in ctx.optimizers[key].param_groups:
                    group["lr"] = new
        return losses

    def postfix(self, losses: Mapping[str, float], state: Mapping[str, Any]) -> str:
        text = (f"D real {losses['D/loss_real']:.2f} fake {losses['D/loss_fake']:.2f} "
                f"cls {losses['D/loss_cls']:.3f} gp {losses['D/loss_gp']:.3f}")
        if "G/loss_fake" in losses:
            text += (f" | G fake {losses['G/loss_fake']:.2f} rec {losses['G/loss_rec']:.3f} "
                     f"cls {losses['G/loss_cls']:.3f}")
        return text + f" | lr {state['g_lr']:.2e}"

    def sample_grid(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> tuple[Tensor, int]:
        return edit_rows(ema, data.val, args.sample_images)

    def evaluate(self, ema: nn.Module, data: Data, args: argparse.Namespace) -> dict[str, float]:
        return evaluate(ema, data.val, args.seed)

    def card(self, report: RunReport) -> CardText:
        meta, args, val = report.meta, report.args, report.data.val
        cfg = meta["config"]
        joint = cfg.get("c2_dim", 0) > 0
        synth = args.data == SYNTHFACES
        attrs = ", ".join(cfg["attributes"])
        what = (f"SynthFaces (procedural cartoon animal faces, {args.n_train} training images; attributes {attrs})"
                if synth else f"the attribute folder `{val[0].name}` (attributes {attrs})")
        if joint:
            what += (f" jointly with {'SynthFaces domains' if args.data2 == SYNTHFACES_DOMAINS else f'`{val[1].name}`'}"
                     f" (classes {', '.join(cfg['attributes2'])}) through the mask vector")
        groups = "; ".join(" / ".join(g) for g in (cfg.get("exclusive_groups") or []))
        notes = ["`cls_acc_real` / `cls_acc_fake`: the model's own discriminator reading the labels of held-out "
                 "images / of single-label edits (the latter is the paper's classification measure, with this "
                 "D as the classifier); `cycle_l1`: |G(G(x, c_trg), c_org) - x|; `identity_l1`: |G(x, c_org) - x| "
                 "(images in [-1, 1])"]
        if synth:
            notes.append(f"`edit_<attribute>` ({EDIT_FACES} held-out faces): each face is rendered again with that "
                         "attribute changed (the ground truth of the edit); the figure is how much of the needed "
                         "change the translation made, the projection of its change (from the model's own rendering "
                         "of the face, G(x, c_org)) on the needed change, inside the region where the two renders "
                         "differ (1: the re-render's change, 0: none); fur colours are re-rendered at the middle of "
                         "their range, so a right but different shade scores below 1; glasses put on a face are "
                         "compared with the nearest of SynthFaces' ten frames (five colours, round or square). "
                         "`rest_l1`: the mean change outside that region (what should not have changed)")
        verdict = _verdict(report.metrics, cfg["attributes"])
        dataset_names = [SYNTHFACES if synth else val[0].name] + (
            [SYNTHFACES_DOMAINS if args.data2 == SYNTHFACES_DOMAINS else val[1].name] if joint else [])
        return CardText(
            title=f"StarGAN trained on {'SynthFaces' if synth else val[0].name} ({cfg['image_size']} px)",
            description=(
                f"A StarGAN (Choi et al., CVPR 2018) trained from scratch by hubmodels: it changes the attributes "
                f"{attrs} of an image{' (' + groups + ': one at a time)' if groups else ''}"
                + (f", or translates it to a class of {', '.join(cfg['attributes2'])}" if joint else "")
                + f". Small configuration (G {cfg['conv_dim']} channels, {cfg['repeat_num']} residual blocks; "
                f"D {cfg['d_conv_dim']} channels, {cfg['d_repeat_num']} levels), {meta['step']} iterations: a "
                "demonstration of the training pipeline, not a replacement for the official CelebA weights."
                + (f" {verdict}" if verdict else "")),
            intro=(f"Trained from scratch with `python -m {MODULE}` (hubmodels' implementation of the official "
                   f"yunjey/stargan solver) on {what} at {args.image_size}x{args.image_size}."),
            caption=(f"Single-attribute edits of {'held-out ' if report.data.held_out else ''}images after "
                     f"{meta['step']} steps: each row is an image (first column) and its translation to each "
                     f"single-label edit ({', '.join(cfg['attributes'] + (cfg.get('attributes2') or []))}): a "
                     "colour is set, any other attribute flipped."),
            datasets=dataset_names,
            details=[
                f"objective: WGAN-GP (lambda_gp={args.lambda_gp}), domain classification of real and translated "
                f"images (lambda_cls={args.lambda_cls}), L1 reconstruction (lambda_rec={args.lambda_rec})"
                + (f", and an identity term |G(x, c_org) - x| (lambda_id={args.lambda_id}; not in the paper: it "
                   "helps a short run keep what an edit should not change)" if getattr(args, "lambda_id", 0) else "")
                + (f", and a penalty on the classifier's input Jacobian on real images ||d logits / dx||^2 "
                   f"(lambda_cls_jac={args.lambda_cls_jac}; not in the paper: it keeps the generator from flipping "
                   "the classifier with changes that do not show the attribute)"
                   if getattr(args, "lambda_cls_jac", 0) else "")
                + (f"; the critic sees every image through Gaussian noise of standard deviation "
                   f"{args.instance_noise} (not in the paper: a faint pattern cannot flip its classifier)"
                   if getattr(args, "instance_noise", 0) else "")
                + (f"; before the first iteration the critic's classifier alone was trained on real images for "
                   f"{args.d_cls_warmup} batches (not in the paper: the generator is asked for thin parts by a "
                   "critic that already sees them)" if getattr(args, "d_cls_warmup", 0) else "")
                + f"; one generator update per {args.n_critic} critic updates"
                + ("; joint mode: every iteration trains on each dataset in turn with the mask vector"
                   if joint else ""),
                f"Adam g_lr {args.g_lr}, d_lr {args.d_lr}, betas ({args.beta1}, {args.beta2}); learning rates "
                f"{_decay_text(args)}; PyTorch default initialisation (official build_model)"
                + (f"; EMA {args.ema_beta} of the weights" if args.ema_beta else "; published weights are the "
                   "trained ones (no EMA, as the official code)"),
            ],
            notes=notes,
            training={
                "image size": cfg["image_size"],
                "optimizer": f"Adam g {args.g_lr} / d {args.d_lr}, betas ({args.beta1}, {args.beta2})",
                "lr decay": _decay_text(args),
                "lambdas": f"cls {args.lambda_cls}, rec {args.lambda_rec}, gp {args.lambda_gp}"
                           + (f", id {args.lambda_id}" if getattr(args, "lambda_id", 0) else "")
                           + (f", cls_jac {args.lambda_cls_jac}" if getattr(args, "lambda_cls_jac", 0) else "")
                           + (f"; instance noise {args.instance_noise}" if getattr(args, "instance_noise", 0) else "")
                           + (f"; classifier warm-up {args.d_cls_warmup}" if getattr(args, "d_cls_warmup", 0) else "")
                           + f"; n_critic {args.n_critic}",
            },
        )

    def options_summary(self, args: Mapping[str, Any]) -> str:
        return (f"g_lr {args['g_lr']}, lr decay {args['lr_decay']} from step {args['decay_from']}, "
                f"n_critic {args['n_critic']}")


def _verdict(metrics: Mapping[str, float], attributes: Sequence[str]) -> str:
    """What the model does well and what it does not, from its held-out edit figures (SynthFaces runs)."""
    edits = {a: metrics[f"edit_{a}"] for a in attributes if f"edit_{a}" in metrics}
    if not edits:
        return ""
    good = [a for a, v in edits.items() if v >= 0.3]
    weak = [a for a, v in edits.items() if 0.1 <= v < 0.3]
    failed = [a for a, v in edits.items() if v < 0.1]
    parts = []
    if good:
        parts.append(f"It visibly makes the {', '.join(good)} edits")
    if weak:
        parts.append(f"{'only ' if good else 'It makes '}faintly the {', '.join(weak)} ones")
    if failed:
        fooled = metrics.get("cls_acc_fake", 0.0) > 0.9
        parts.append(f"{'but not' if parts else 'It does not make'} the {', '.join(failed)} ones"
                     + (" (its own discriminator reads them as made all the same: changes a person does not see)"
                        if fooled else ""))
    text = "; ".join(parts) + " (held-out `edit_*` figures below)."
    rest = metrics.get("rest_l1")
    if rest is not None and rest > 0.1:
        text += (f" Much else changes with an edit (`rest_l1` {rest:.2f} on the [-1, 1] range): the background "
                 "and the colours drift, as in SynthFaces a face's background is drawn to contrast with its fur.")
    ident = metrics.get("identity_l1")
    if ident is not None and ident > 0.1:
        text += f" Faces come out blurred and noisy (`identity_l1` {ident:.2f}): a longer or larger run would help."
    return text


def _decay_text(args: argparse.Namespace) -> str:
    if args.lr_decay == "none":
        return "constant"
    if args.lr_decay == "linear":
        return (f"decayed linearly to 0 over steps {args.decay_from}-{args.decay_from + args.num_iters_decay} "
                f"(updated every {args.lr_update_step})")
    return (f"decayed as the official code (lr -= lr0/{args.num_iters_decay} every {args.lr_update_step} steps after "
            f"step {args.decay_from})")


FAMILY = StarGANFamily()


def build_parser() -> argparse.ArgumentParser:
    return loop.build_parser(FAMILY)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate; every problem exits with a message that says what is accepted."""
    return loop.parse_args(FAMILY, argv)


def train(args: argparse.Namespace, argv: Sequence[str]) -> Path:
    """Train (or continue) the run in ``args.out``; returns the run folder."""
    return loop.train(FAMILY, args, argv)


def publish_run(out: str | os.PathLike, repo_id: str, hub_dir: str | os.PathLike | None = None) -> str:
    """Publish the latest checkpoint of run ``out`` with a full model card; returns the folder."""
    return loop.publish_run(FAMILY, out, repo_id, hub_dir)


def main(argv: Sequence[str] | None = None) -> int:
    return loop.main(FAMILY, argv)


if __name__ == "__main__":
    sys.exit(main())
