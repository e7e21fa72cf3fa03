"""StarGAN v2 on the hub's common metrics (the spec's ``evaluate``; see :mod:`hubmodels.metrics.suite`).

As in the paper's latent-guided evaluation: every held-out source face is translated into every *other* domain
with random styles (``mapping_network(z, y)``), and the outputs are judged by the SynthFaces evaluator:

* ``domain_accuracy`` (and per target domain): the evaluator's domain classifier agrees with the target domain;
* FD/KID (named after the extractor) of the translations against held-out real faces of the same domains;
* ``diversity_<distance>``: mean pairwise distance between the translations of one source into one domain.
"""
from __future__ import annotations

import torch

from ..metrics.suite import Judge, Score, held_out_faces

__all__ = ["evaluate", "STYLES"]

STYLES = 3  # random styles per (source, target domain): pairs for the diversity score


@torch.no_grad()
def evaluate(model, judge: Judge, n: int, seed: int) -> dict[str, Score]:
    """Translate ``n`` held-out faces (validation range of stream ``seed``) into every other domain."""
    unknown = [d for d in model.domains if d not in judge.net.domains]
    if unknown:
        raise ValueError(f"the model's domains {model.domains} are not all SynthFaces domains {judge.net.domains}")
    if n < 2:
        raise ValueError(f"need at least 2 faces, got n={n}")
    model.eval()
    size, nd = model.img_size, model.num_domains
    sources = held_out_faces(n, seed=seed, size=size)
    g = torch.Generator().manual_seed(seed)
    outs, targets = [], []
    for i in judge.track(range(n), "translating"):
        src_domain = sources["domain"][i]
        x = sources["image"][i:i + 1].to(model.device, model.dtype)
        for d, domain in enumerate(model.domains):
            if domain == src_domain and nd > 1:
                continue
            z = torch.randn(STYLES, model.latent_dim, generator=g).to(model.device, model.dtype)
            y = torch.full((STYLES,), d, dtype=torch.long, device=model.device)
            s = model.mapping_network(z, y)
            outs.append(model(x.expand(STYLES, -1, -1, -1), s).float().cpu())
            targets.append(domain)
    out = torch.stack(outs)  # (T, STYLES, 3, H, W)
    pred = judge.net.predict(out[:, 0])["domain"]
    want = torch.tensor([judge.net.domain_index(t) for t in targets])
    scores = {"domain_accuracy": Score(round(float((pred == want).float().mean()), 4),
                                       f"share of translations ({len(targets)}: each held-out face into every other "
                                       "domain, one random style) that the SynthFaces evaluator classifies as the "
                                       "target domain; higher is better")}
    for domain in model.domains:
        sel = torch.tensor([t == domain for t in targets])
        if sel.any():
            scores[f"domain_accuracy_{domain}"] = Score(round(float((pred[sel] == want[sel]).float().mean()), 4),
                                                        f"domain_accuracy of translations into {domain}")
    # real faces in the same mix of domains as the translations, from faces the sources do not use
    real = torch.cat([held_out_faces(targets.count(d), seed=seed, size=size, offset=n + k * len(targets),
                                     domain=d)["image"] for k, d in enumerate(model.domains) if d in targets])
    scores.update(judge.distribution_scores(real, out[:, 0], "latent-guided translations"))
    scores.update(judge.diversity_score(out, f"{STYLES} latent-guided translations of one face into one domain"))
    return scores
