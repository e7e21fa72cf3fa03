"""StarGAN on the hub's common metrics (the spec's ``evaluate``; see :mod:`hubmodels.metrics.suite`).

Every held-out face gets the official test's single-attribute edits (:meth:`StarGAN.create_labels`: a fur
colour set, glasses or mouth flipped), from its true labels, and the SynthFaces evaluator's attribute
classifiers read the edits:

* ``attribute_accuracy`` (and ``attribute_accuracy_<name>``): the edited attribute reads as its target value;
* ``attribute_exact_match``: every attribute of the target label set reads right (the edit, and nothing else
  changed that the classifiers see);
* FD/KID (named after the extractor) of the edits against held-out real faces.
"""
from __future__ import annotations

import torch

from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model, judge: Judge, n: int, seed: int, batch_size: int = 16) -> dict[str, Score]:
    """Edit ``n`` held-out faces (validation range of stream ``seed``) one attribute at a time."""
    names = list(model.label_sets[0])
    if model.label_types[0] != "multi" or not set(names) <= set(judge.net.attributes):
        raise ValueError(f"evaluation needs a model of SynthFaces attributes ({', '.join(judge.net.attributes)}); "
                         f"this one has {names}")
    if n < 2:
        raise ValueError(f"need at least 2 faces, got n={n}")
    model.eval()
    faces = held_out_faces(n, seed=seed, size=model.image_size)
    cols = [judge.net.attribute_index(a) for a in names]
    hits: dict[str, list[bool]] = {a: [] for a in names}
    exact: list[bool] = []
    edits = []
    for i in judge.track(range(0, n, batch_size), "editing"):
        x = faces["image"][i:i + batch_size]
        c_org = torch.tensor([[float(attrs[a]) for a in names] for attrs in faces["attributes"][i:i + batch_size]])
        for k, c_trg in enumerate(model.create_labels(c_org, 0)):
            out = model.generate(x, model.condition(c_trg, 0), batch_size=batch_size).cpu()
            read = judge.net.predict(out)["attributes"][:, cols]
            want = c_trg.bool()
            hits[names[k]] += (read[:, k] == want[:, k]).tolist()
            exact += (read == want).all(1).tolist()
            edits.append(out)
    mean = lambda v: round(sum(v) / max(len(v), 1), 4)  # noqa: E731
    scores = {"attribute_accuracy": Score(mean([h for v in hits.values() for h in v]),
                                          f"share of single-attribute edits ({len(exact)}: {n} held-out faces x "
                                          f"{len(names)} edits) whose edited attribute the SynthFaces evaluator "
                                          "reads as the target value; higher is better"),
              "attribute_exact_match": Score(mean(exact), "share of edits where every attribute reads as the "
                                                          "target label set (the edit, and no other change); "
                                                          "higher is better")}
    for a, v in hits.items():
        scores[f"attribute_accuracy_{a}"] = Score(mean(v), f"attribute_accuracy of the edit of {a}")
    real = held_out_faces(n, seed=seed, size=model.image_size, offset=n)["image"]
    scores.update(judge.distribution_scores(real, torch.cat(edits), "single-attribute edits"))
    return scores
