"""StarGAN inference: the methods a user calls on a :class:`~hubmodels.stargan.StarGAN`.

Two lines for a user::

    model = hubmodels.load("hubmodels/stargan-synthfaces")
    edited = model.translate("cat.png", {"golden_fur": 1, "glasses": 1})

Targets are given by label name. For binary attributes (``"multi"`` labels, CelebA-style) the target names
the attributes to set (1/True) or clear (0/False) and every other attribute keeps the source image's value;
members of an exclusive group (hair or fur colours) are one at a time: setting one clears the others, and
setting two at once is an error. For class labels (``"single"``, RaFD-style) the target is one class name.
A joint model (two datasets, mask vector) translates with one dataset's labels at a time, found from the
names (or ``dataset=``); the other dataset's part of the label vector is zero and the mask vector names the
dataset, as in the official ``test_multi``.

The source's own attributes come from ``source=`` (a dict of names, a list of dicts, or a 0/1 tensor),
and where not given, from the discriminator's classifier (``model.classify``), which a model converted with
its ``-D.ckpt`` or trained here carries.

Images are anything ``hubmodels.images.load_image`` accepts (path, PIL, numpy, tensor) or a list of them,
preprocessed as the official test loader: centre crop ``crop_size`` (the model's; None: the largest centred
square), bilinear resize to ``image_size``, range [-1, 1]. The generator normalises each image with its own
instance statistics, exactly as the official test code (which never calls ``G.eval()``), so an output depends
only on its own input, never on the batch, and nothing in the model changes when it runs.
"""
from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from ..images import Preprocess, image_grid, preprocess, to_pil
from ..inference_paths import default_chunk
from .configs import PREPROCESS

__all__ = ["StarGANInference", "KEEP"]

KEEP = "model"  # crop_size=KEEP: the model's own crop
# Images per generator pass on a CPU, as pixels: the full-resolution activations of larger chunks leave the caches.
# Measured on a 2-core EPYC, one thread, 20 images of the CelebA 128 px generator: chunks of 20 took 4.95-5.14 s,
# of 16 4.69-4.78, of 8 4.47-4.58, of 4 4.35-4.41, of 2 4.21-4.24.
CPU_CHUNK_PIXELS = 2 * 128 * 128


def _is_batch(images: Any) -> bool:
    return isinstance(images, (list, tuple))


def _binary(name: str, value: Any) -> int:
    if isinstance(value, (bool, numbers.Integral)) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        if int(value) in (0, 1):
            return int(value)
    if isinstance(value, Tensor) and value.numel() == 1:
        return _binary(name, value.item())
    raise ValueError(f"label {name!r} must be 0/1 or False/True, got {value!r}")


class StarGANInference:
    """Attribute translation, the single-attribute edit grid, the classifier, and the pieces they use."""

    # ---- input ---------------------------------------------------------------------------------

    def preprocessing(self, crop_size: int | None | str = KEEP) -> Preprocess:
        """The official test pipeline at this model's size (``crop_size`` overrides the model's crop)."""
        crop = self.crop_size if crop_size == KEEP else crop_size
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise ValueError(f"crop_size must be a positive integer or None (largest centred square), got {crop!r}")
        return Preprocess(size=self.image_size, resize=PREPROCESS.resize, crop_size=crop,
                          interpolation=PREPROCESS.interpolation)

    def prepare(self, images: Any, *, crop_size: int | None | str = KEEP) -> Tensor:
        """(N, 3, S, S) in [-1, 1] on the model's device, from any accepted image input(s)."""
        batch = list(images) if _is_batch(images) else [images]
        if not batch:
            raise ValueError("no images given")
        return preprocess(batch, self.preprocessing(crop_size), device=self.device)

    # ---- labels --------------------------------------------------------------------------------

    def dataset_index(self, dataset: int | str) -> int:
        """Index of a dataset given by name (``"CelebA"``) or index."""
        if isinstance(dataset, str):
            if dataset not in self.datasets:
                raise ValueError(f"unknown dataset {dataset!r}; this model's datasets: {self.datasets}")
            return self.datasets.index(dataset)
        if isinstance(dataset, bool) or not isinstance(dataset, numbers.Integral) \
                or not 0 <= int(dataset) < len(self.datasets):
            raise ValueError(f"dataset {dataset!r} is out of range: give a name in {self.datasets} or an index "
                             f"0..{len(self.datasets) - 1}")
        return int(dataset)

    def _dataset_of(self, names: Sequence[str], dataset: int | str | None) -> int:
        known = {n: k for k, labels in enumerate(self.label_sets) for n in labels}
        unknown = [n for n in names if n not in known]
        if unknown:
            listing = "; ".join(f"{d}: {', '.join(l)}" for d, l in zip(self.datasets, self.label_sets))
            raise ValueError(f"unknown label(s) {unknown}; this model's labels are {listing}")
        found = sorted({known[n] for n in names})
        if dataset is not None:
            k = self.dataset_index(dataset)
            if found and found != [k]:
                raise ValueError(f"labels {list(names)} are not all labels of dataset {self.datasets[k]!r} "
                                 f"({', '.join(self.label_sets[k])})")
            return k
        if len(found) > 1:
            raise ValueError(
                f"a joint model translates with one dataset's labels at a time (the mask vector names it): "
                f"{[n for n in names if known[n] == 0]} are {self.datasets[0]} labels, "
                f"{[n for n in names if known[n] == 1]} are {self.datasets[1]} labels")
        return found[0] if found else 0

    def condition(self, labels: Tensor, dataset: int | str = 0) -> Tensor:
        """The generator's label vector (N, label_dim) from one dataset's labels (N, n).

        Single-dataset models: the labels themselves. Joint models: ``[labels, zeros(c2_dim), 1, 0]`` for the
        first dataset and ``[zeros(c_dim), labels, 0, 1]`` for the second (official ``test_multi``).
        """
        k = self.dataset_index(dataset)
        width = len(self.label_sets[k])
        if labels.dim() != 2 or labels.size(1) != width:
            raise ValueError(f"{self.datasets[k]} labels must have shape (N, {width}), got {tuple(labels.shape)}")
        labels = labels.float()
        if not self.joint:
            return labels
        n = labels.size(0)
        zeros = [torch.zeros(n, d, device=labels.device) for d in (self.c_dim, self.c2_dim)]
        mask = torch.zeros(n, 2, device=labels.device)
        mask[:, k] = 1
        parts = [labels, zeros[1]] if k == 0 else [zeros[0], labels]
        return torch.cat(parts + [mask], dim=1)

    def create_labels(self, c_org: Tensor | None, dataset: int | str = 0, n: int | None = None) -> list[Tensor]:
        """The official ``Solver.create_labels``: one target label set per label of ``dataset``.

        Binary attributes: an exclusive-group member (a hair colour) is set and the rest of its group cleared,
        any other attribute is flipped; ``c_org`` (N, c_dim) holds the source's attributes. Class labels: the
        one-hot of each class (``c_org`` is not needed; ``n`` gives the batch size).
        """
        k = self.dataset_index(dataset)
        names = self.label_sets[k]
        if self.label_types[k] == "single":
            if n is None:
                if c_org is None:
                    raise ValueError("give c_org or n (the number of images)")
                n = c_org.size(0)
            device = c_org.device if c_org is not None else self.device
            return [torch.eye(len(names), device=device)[i].expand(n, -1).clone() for i in range(len(names))]
        if c_org is None or c_org.dim() != 2 or c_org.size(1) != len(names):
            raise ValueError(f"create_labels needs the source's {self.datasets[k]} attributes c_org of shape "
                             f"(N, {len(names)})")
        groups = {a: [names.index(m) for m in g] for g in self.exclusive_groups for a in g} if k == 0 else {}
        out = []
        for i, name in enumerate(names):
            c_trg = c_org.clone().float()
            if name in groups:
                c_trg[:, groups[name]] = 0
                c_trg[:, i] = 1
            else:
                c_trg[:, i] = (c_trg[:, i] == 0).float()
            out.append(c_trg)
        return out

    def _edit_captions(self, c_org: Tensor | None, dataset: int) -> list[list[str]]:
        """Per edit of :meth:`create_labels`, a caption per image ("golden_fur", "+glasses", "-open_mouth")."""
        names = self.label_sets[dataset]
        if self.label_types[dataset] == "single" or c_org is None:
            n = 1 if c_org is None else c_org.size(0)
            return [[name] * n for name in names]
        grouped = {a for g in self.exclusive_groups for a in g} if dataset == 0 else set()
        return [[name if name in grouped else ("-" if bool(c_org[j, i] > 0.5) else "+") + name
                 for j in range(c_org.size(0))] for i, name in enumerate(names)]

    # ---- the discriminator's classifier ------------------------------------------------------------

    def _require_discriminator(self, why: str) -> None:
        if not self.has_discriminator:
            raise ValueError(f"{why}: this model has no discriminator (it was converted without its -D.ckpt or "
                             "saved without it), so the source's labels cannot be read from the image; pass "
                             "source={name: 0 or 1, ...} with every attribute")

    def class_logits(self, x: Tensor, *, batch_size: int = 16) -> Tensor:
        """The discriminator's class logits (N, c_dim + c2_dim) of preprocessed images, float32."""
        self._require_discriminator("class_logits")

        def run() -> Tensor:
            outs = []
            with torch.inference_mode(), self.autocast():
                for i in range(0, x.shape[0], batch_size):
                    outs.append(self.discriminator(x[i:i + batch_size].to(self.device, self.dtype))[1].float())
            return torch.cat(outs)

        return self.run_inference(("classify", tuple(x.shape)), run)

    def _probabilities(self, logits: Tensor) -> list[Tensor]:
        probs, start = [], 0
        for names, kind in zip(self.label_sets, self.label_types):
            part = logits[:, start:start + len(names)]
            probs.append(torch.sigmoid(part) if kind == "multi" else torch.softmax(part, dim=1))
            start += len(names)
        return probs

    def estimate_labels(self, x: Tensor, dataset: int | str = 0) -> Tensor:
        """0/1 labels (N, n) of ``dataset`` read from preprocessed images by the discriminator's classifier.

        Binary attributes: probability > 0.5, and at most one member of an exclusive group (the likeliest).
        Class labels: the one-hot of the likeliest class.
        """
        k = self.dataset_index(dataset)
        p = self._probabilities(self.class_logits(x))[k]
        if self.label_types[k] == "single":
            return torch.nn.functional.one_hot(p.argmax(1), p.size(1)).float()
        labels = (p > 0.5).float()
        names = self.label_sets[k]
        for group in self.exclusive_groups if k == 0 else []:
            idx = torch.tensor([names.index(a) for a in group], device=p.device)
            sub = p[:, idx]
            best = sub.argmax(1)
            chosen = torch.zeros_like(sub)
            chosen[torch.arange(sub.size(0), device=p.device), best] = (sub.max(1).values > 0.5).float()
            labels[:, idx] = chosen
        return labels

    def classify(self, images: Any, *, crop_size: int | None | str = KEEP) -> Any:
        """Label probabilities read from image(s) by the discriminator: ``{name: probability}`` per image.

        Binary attributes get independent probabilities (sigmoid), class labels a distribution (softmax); a
        joint model gives both datasets' labels. A list of images in gives a list of dicts.
        """
        x = self.prepare(images, crop_size=crop_size)
        probs = torch.cat(self._probabilities(self.class_logits(x)), dim=1).cpu()
        names = [n for labels in self.label_sets for n in labels]
        out = [{n: round(float(p), 6) for n, p in zip(names, row)} for row in probs]
        return out if _is_batch(images) else out[0]

    # ---- source and target labels -------------------------------------------------------------------

    def source_labels(self, x: Tensor, source: Any = None, dataset: int | str = 0) -> Tensor:
        """The source images' labels of ``dataset`` as a float (N, n) tensor of 0/1.

        ``source``: None (all from the discriminator), a dict ``{name: 0/1}`` for every image (names not given
        come from the discriminator), a list of such dicts (one per image), or a tensor (N, n) / (n,).
        """
        k = self.dataset_index(dataset)
        names, n = self.label_sets[k], x.size(0)
        if isinstance(source, Tensor):
            c = source.detach().to(self.device, torch.float32)
            c = c.expand(n, -1) if c.dim() == 1 else c
            if c.shape != (n, len(names)):
                raise ValueError(f"source labels must have shape ({n}, {len(names)}) for {n} image(s), "
                                 f"got {tuple(source.shape)}")
            return c.clone()
        dicts = source if isinstance(source, (list, tuple)) else [source or {}] * n
        if len(dicts) != n:
            raise ValueError(f"got {len(dicts)} source label sets for {n} image(s)")
        if not all(isinstance(d, Mapping) for d in dicts):
            raise ValueError("source must be a dict {name: 0 or 1}, a list of such dicts (one per image) or a tensor")
        for d in dicts:
            self._dataset_of(list(d), k)  # unknown names / names of the other dataset
        missing = sorted({a for d in dicts for a in names if a not in d}, key=names.index)
        if missing:
            self._require_discriminator(f"the source's {', '.join(missing)} are not given")
            c = self.estimate_labels(x, k)
        else:
            c = torch.zeros(n, len(names), device=self.device)
        for j, d in enumerate(dicts):
            for name, value in d.items():
                c[j, names.index(name)] = float(_binary(name, value))
        return c

    def target_labels(self, target: Any, c_src: Tensor | None, dataset: int) -> Tensor:
        """One dataset's target labels (N, n): the source's, changed as ``target`` says (see the module doc)."""
        names, kind = self.label_sets[dataset], self.label_types[dataset]
        wanted = {name: _binary(name, v) for name, v in target.items()}
        if kind == "single":
            on = [n for n, v in wanted.items() if v == 1]
            if len(on) != 1 or len(wanted) != 1:
                raise ValueError(f"{self.datasets[dataset]} labels are one class at a time: give one class name "
                                 f"(one of {', '.join(names)}), got {target!r}")
            size = 1 if c_src is None else c_src.size(0)
            return torch.eye(len(names), device=self.device)[names.index(on[0])].expand(size, -1).clone()
        groups = {a: g for g in (self.exclusive_groups if dataset == 0 else []) for a in g}
        for group in {tuple(g) for g in groups.values()}:
            on = [a for a in group if wanted.get(a) == 1]
            if len(on) > 1:
                raise ValueError(f"{' and '.join(on)} are mutually exclusive (one of {', '.join(group)} at a time): "
                                 "set one of them")
        c = c_src.clone()
        for name, value in wanted.items():
            if value == 1 and name in groups:
                for other in groups[name]:
                    c[:, names.index(other)] = 0
            c[:, names.index(name)] = float(value)
        return c

    # ---- the generator -----------------------------------------------------------------------------

    def generate(self, x: Tensor, c: Tensor, *, batch_size: int | None = None) -> Tensor:
        """``G(x, c)`` on preprocessed images in chunks, float32 out. ``c``: (N, label_dim), see :meth:`condition`.

        ``batch_size``: images per forward pass (default: 16 on a GPU; on a CPU as many as make
        ``2 * 128 * 128`` pixels, see ``CPU_CHUNK_PIXELS``)."""
        if batch_size is None:
            batch_size = default_chunk(self.device, x, CPU_CHUNK_PIXELS)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if x.dim() != 4 or x.size(1) != 3:
            raise ValueError(f"x must be (N, 3, H, W) images in [-1, 1], got shape {tuple(x.shape)}")
        if c.dim() != 2 or c.shape != (x.size(0), self.label_dim):
            raise ValueError(f"c must have shape ({x.size(0)}, {self.label_dim}) (the generator's label vector), "
                             f"got {tuple(c.shape)}")

        def run() -> Tensor:
            outs = []
            with torch.inference_mode(), self.autocast():
                for i in range(0, x.shape[0], batch_size):
                    xi = x[i:i + batch_size].to(self.device, self.dtype)
                    ci = c[i:i + batch_size].to(self.device, self.dtype)
                    outs.append(self.generator(xi, ci).float())
            return torch.cat(outs)

        if self.generator.training:  # inference never updates the running averages
            self.generator.eval()
            try:
                return self.run_inference(("generate", tuple(x.shape), self.label_dim), run)
            finally:
                self.generator.train()
        return self.run_inference(("generate", tuple(x.shape), self.label_dim), run)

    def edit_targets(self, x: Tensor, source: Any = None) -> tuple[list[Tensor], list[list[str]]]:
        """Every single-label edit of the official test as generator label vectors, with a caption per image.

        First dataset: :meth:`create_labels` from the source's labels; joint models then add every class of the
        second dataset (``test_multi``).
        """
        n = x.size(0)
        c_org = self.source_labels(x, source, 0) if self.label_types[0] == "multi" else None
        conditions, captions = [], []
        for k in range(len(self.datasets)):
            org = c_org if k == 0 else None
            conditions += [self.condition(c, k) for c in self.create_labels(org, k, n=n)]
            captions += self._edit_captions(org, k) if org is not None else [[name] * n for name in self.label_sets[k]]
        return conditions, captions

    def edit_concat(self, x: Tensor, source: Any = None) -> Tensor:
        """The official test's ``x_concat``: ``cat([x] + [G(x, c_trg) for every single edit], dim=3)``."""
        conditions, _ = self.edit_targets(x, source)
        outs = self.generate(x.repeat(len(conditions), 1, 1, 1), torch.cat(conditions))
        return torch.cat([x.float(), *outs.split(x.size(0))], dim=3)

    # ---- what a user calls ---------------------------------------------------------------------

    def translate(self, images: Any, target: Mapping[str, Any] | str, *, source: Any = None,
                  dataset: int | str | None = None, crop_size: int | None | str = KEEP, output: str = "pil") -> Any:
        """Translate image(s) to the labels ``target`` names, e.g. ``{"golden_fur": 1, "glasses": 1}``.

        Binary attributes not named keep the source's values (``source=``, else read by the discriminator);
        setting one member of an exclusive group clears the others. A class label is given by name
        (``"happy"`` or ``{"happy": 1}``). One image in: one PIL image; a list in: a list.
        ``output="tensor"``: the (N, 3, S, S) tensor in [-1, 1].
        """
        if isinstance(target, str):
            target = {target: 1}
        if not isinstance(target, Mapping):
            raise ValueError(f"target must be a dict {{label name: 0 or 1}} or a class name, got {target!r}")
        if not target:
            raise ValueError("target names no label: give e.g. {" + repr(self.attributes[0]) + ": 1}")
        _check_output(output)
        k = self._dataset_of(list(target), dataset)
        x = self.prepare(images, crop_size=crop_size)
        c_src = None
        if self.label_types[k] == "multi":
            named = {n for n in target}
            rest = [a for a in self.label_sets[k] if a not in named]
            # a grouped attribute set to 1 decides its whole group: its group mates need no source value
            for group in self.exclusive_groups if k == 0 else []:
                if any(_binary(a, target[a]) == 1 for a in group if a in target):
                    rest = [a for a in rest if a not in group]
            c_src = (self.source_labels(x, source, k) if rest else
                     torch.zeros(x.size(0), len(self.label_sets[k]), device=self.device))
        c_trg = self.target_labels(target, c_src, k)
        if c_trg.size(0) != x.size(0):
            c_trg = c_trg.expand(x.size(0), -1)
        out = self.generate(x, self.condition(c_trg, k))
        if output == "tensor":
            return out
        images_out = to_pil(out)
        return images_out if _is_batch(images) else images_out[0]

    def single_edits(self, images: Any, *, source: Any = None, crop_size: int | None | str = KEEP,
                     output: str = "pil") -> Any:
        """Every single-attribute edit of image(s) (the columns of :meth:`edit_grid`), with captions.

        One image in: a list of ``(caption, image)``, the first the input itself; captions say the change
        (``"golden_fur"`` for a set colour, ``"+glasses"`` / ``"-glasses"`` for a flipped attribute, a class name
        for class labels). A list in: one such list per image. ``output="tensor"``: (N, 1 + edits, 3, S, S).
        """
        _check_output(output)
        x = self.prepare(images, crop_size=crop_size)
        conditions, captions = self.edit_targets(x, source)
        outs = self.generate(x.repeat(len(conditions), 1, 1, 1), torch.cat(conditions))
        stacked = torch.stack([x.float(), *outs.split(x.size(0))], dim=1)  # (N, 1 + E, 3, S, S)
        if output == "tensor":
            return stacked
        result = []
        for j in range(x.size(0)):
            pics = to_pil(stacked[j])
            result.append([("input", pics[0])] + [(captions[e][j], pics[e + 1]) for e in range(len(conditions))])
        return result if _is_batch(images) else result[0]

    def edit_grid(self, images: Any, *, source: Any = None, crop_size: int | None | str = KEEP,
                  output: str = "pil", padding: int = 0) -> Any:
        """The paper's figure: per image a row with the input and every single-attribute edit.

        ``output="pil"``: one image (rows stacked; ``padding`` pixels between cells, 0 as the official
        ``save_image(..., padding=0)``); ``"tensor"``: the official test's ``x_concat`` (N, 3, S, S * (1 + edits)).
        Columns follow :meth:`edit_labels`.
        """
        _check_output(output)
        x = self.prepare(images, crop_size=crop_size)
        if output == "tensor":
            return self.edit_concat(x, source)
        conditions, _ = self.edit_targets(x, source)
        outs = self.generate(x.repeat(len(conditions), 1, 1, 1), torch.cat(conditions))
        cells = torch.stack([x.float(), *outs.split(x.size(0))], dim=1).flatten(0, 1)
        return image_grid(to_pil(cells), nrow=1 + len(conditions), padding=padding)

    def edit_labels(self) -> list[str]:
        """Column titles of :meth:`edit_grid`: ``input``, then each edited label (flipped or set)."""
        return ["input"] + [n for labels in self.label_sets for n in labels]


def _check_output(output: str) -> None:
    if output not in ("pil", "tensor"):
        raise ValueError(f"output must be 'pil' or 'tensor', got {output!r}")

