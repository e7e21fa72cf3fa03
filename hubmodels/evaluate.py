"""``python -m hubmodels.evaluate <model id>``: the hub's metrics for one model, computed the same way for all.

    python -m hubmodels.evaluate hubmodels/<name> --n 200 --write

The model's family says how it is evaluated (its spec's ``evaluate``); the judge (the SynthFaces evaluator,
the FD/KID feature extractor, the diversity distance) is chosen here once (:func:`hubmodels.metrics.suite.make_judge`).
The results are ``metrics.json`` and a model card whose YAML carries them as ``model-index`` results, with a
table saying what each number measures, on how many inputs, and with which extractor: written into ``--out``,
or with ``--write`` into the model's own folder, where the card's Files table (sha256) is rewritten so that
the folder still verifies on load. The weights file is never touched.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from . import registry
from .hub import (CARD_INFO_NAME, CARD_NAME, CONFIG_NAME, METRICS_NAME, SAMPLE_NAME, WEIGHTS_NAME, HubModel,
                  file_sha256, local_name, resolve, verify_folder)

__all__ = ["EvaluationReport", "evaluate_model", "write_results", "model_index", "main", "SUPPORTED_DATASETS"]

SUPPORTED_DATASETS = ("synthfaces",)  # the datasets the judge knows; an official dataset needs its own evaluator
DEFAULT_N = 200
EVALUATION_KEY = "evaluation"  # card.json: the record of the last evaluation (n, seed, extractor, descriptions)


@dataclass
class EvaluationReport:
    model_id: str
    family: str
    dataset: str
    n: int
    seed: int
    scores: dict[str, Any]  # name -> hubmodels.metrics.suite.Score
    judge: dict[str, str]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    command: str = ""

    @property
    def values(self) -> dict[str, float]:
        return {k: float(s.value) for k, s in self.scores.items()}

    def record(self) -> dict[str, Any]:
        """What card.json keeps about this evaluation."""
        return {"n": self.n, "seed": self.seed, "dataset": self.dataset, **self.judge, "notes": self.notes,
                "seconds": round(self.seconds, 1), "command": self.command, "date": time.strftime("%Y-%m-%d"),
                "metrics": {k: {"value": float(s.value), "description": s.description} for k, s in self.scores.items()}}


def _dataset_of(model: HubModel, dataset: str | None) -> str:
    named = [d.lower() for d in (model.card.datasets or [])]
    if dataset is None:
        if not named:
            raise ValueError("the model card names no dataset; say which one with --dataset "
                             f"({', '.join(SUPPORTED_DATASETS)})")
        known = [d for d in named if d in SUPPORTED_DATASETS]
        if not known:
            raise ValueError(f"the model card names the dataset(s) {', '.join(named)}; evaluation knows "
                             f"{', '.join(SUPPORTED_DATASETS)} only (an official dataset needs its own evaluator)")
        dataset = known[0]
    if dataset.lower() not in SUPPORTED_DATASETS:
        raise ValueError(f"unknown evaluation dataset {dataset!r}; known: {', '.join(SUPPORTED_DATASETS)}")
    return dataset.lower()


def evaluate_model(model: HubModel, *, model_id: str = "", n: int = DEFAULT_N, seed: int = 0,
                   extractor: str = "auto", inception_weights: str | None = None, diversity: str = "auto",
                   evaluator: Any = None, dataset: str | None = None, progress: bool = False) -> EvaluationReport:
    """Run the model's family evaluation (its spec's ``evaluate``) on ``n`` held-out inputs of stream ``seed``."""
    from .metrics.evaluator import load_evaluator
    from .metrics.suite import make_judge

    spec = registry.family_spec(model.family)
    if spec.evaluate is None:
        raise ValueError(f"the {spec.title} family has no evaluate in its spec: nothing to measure")
    dataset = _dataset_of(model, dataset)
    net = evaluator if evaluator is not None else load_evaluator()
    judge = make_judge(net, extractor=extractor, inception_weights=inception_weights, lpips=diversity,
                       show_progress=progress)
    start = time.perf_counter()
    with torch.inference_mode():
        scores = dict(spec.evaluate(model, judge, n, seed))
    return EvaluationReport(model_id=model_id or model.architecture, family=spec.name, dataset=dataset, n=n,
                            seed=seed, scores=scores, judge=judge.describe(), notes=list(judge.notes),
                            seconds=time.perf_counter() - start)


def _pretty(name: str, report: EvaluationReport) -> str:
    """The metric's name for people: "FID"/"KID" only for Inception features (see metrics.distributions)."""
    if name in ("fid", "kid"):
        return name.upper()
    if name.startswith(("fd_", "kid_")):
        kind = "Fréchet distance" if name.startswith("fd_") else "KID"
        return f"{kind} ({report.judge['extractor_label'].split(' (')[0]})"
    return name


def model_index(report: EvaluationReport, repo_id: str, pipeline_tag: str | None) -> list:
    """The card's ``model-index`` results (huggingface_hub ``EvalResult``), one per metric."""
    from huggingface_hub import EvalResult

    return [EvalResult(task_type=pipeline_tag or "image-to-image", dataset_type=report.dataset,
                       dataset_name=f"SynthFaces (held-out, {report.n} inputs)", dataset_split="validation",
                       metric_type=name, metric_value=float(score.value), metric_name=_pretty(name, report),
                       metric_args={"n": report.n, "seed": report.seed, "extractor": report.judge["extractor"],
                                    "distance": report.judge["distance"]})
            for name, score in report.scores.items()]


def _evaluation_section(report: EvaluationReport) -> str:
    rows = "\n".join(f"| `{k}` | {s.value} | {s.description} |" for k, s in report.scores.items())
    notes = "".join(f"\n- {n}" for n in report.notes)
    return (f"## Evaluation\n\nComputed by `python -m hubmodels.evaluate` on {report.n} held-out SynthFaces inputs "
            f"(validation index range, stream {report.seed}); features for FD/KID: {report.judge['extractor_label']}; "
            f"diversity distance: {report.judge['distance_label']}.{notes}\n\n\n"
            f"| metric | value | what it measures |\n|---|---|---|\n{rows}\n"
            + (f"\n```bash\n{report.command}\n```\n" if report.command else "") + "\n")


def write_results(model: HubModel, report: EvaluationReport, folder: Path, *, repo_id: str,
                  in_place: bool) -> None:
    """Write metrics.json, card.json and README.md (model-index + Evaluation section) into ``folder``.

    In place (``--write``), the card's Files table is recomputed from the folder's files as
    :meth:`HubModel._save_pretrained` does, so :func:`~hubmodels.hub.verify_folder` still passes; the
    weights, config and sample are left byte for byte as they are.
    """
    folder.mkdir(parents=True, exist_ok=True)
    metrics_file = folder / METRICS_NAME
    existing: dict[str, Any] = {}
    if in_place and metrics_file.is_file():
        existing = json.loads(metrics_file.read_text(encoding="utf-8"))
    merged = {**existing, **dict(model.card.metrics), **report.values}  # earlier figures stay, ours are updated
    model.card.metrics = dict(sorted(merged.items()))
    metrics_file.write_text(json.dumps(model.card.metrics, indent=2, sort_keys=True) + "\n")
    info = model.card.to_json()
    if in_place and (folder / CARD_INFO_NAME).is_file():
        info = {**json.loads((folder / CARD_INFO_NAME).read_text(encoding="utf-8")), "metrics": model.card.metrics}
    info[EVALUATION_KEY] = report.record()
    (folder / CARD_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")
    files = [{"name": name, "sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size}
             for name in (CONFIG_NAME, WEIGHTS_NAME, SAMPLE_NAME, METRICS_NAME, CARD_INFO_NAME)
             if (folder / name).is_file()]
    card = model.generate_model_card(repo_id=repo_id, files=files)
    card.data.model_name = repo_id
    card.data.eval_results = model_index(report, repo_id, card.data.pipeline_tag)
    text = card.text
    marker = "\n## Files\n" if "\n## Files\n" in text else "\n## Configuration\n"
    card.text = text.replace(marker, "\n" + _evaluation_section(report) + marker.lstrip("\n"), 1)
    card.save(folder / CARD_NAME)
    if in_place:
        verify_folder(folder)


def _print_table(report: EvaluationReport) -> None:
    width = max(len(k) for k in report.scores) if report.scores else 6
    print(f"{report.model_id}: {report.family} on {report.dataset}, n={report.n}, seed={report.seed}, "
          f"extractor={report.judge['extractor']}, distance={report.judge['distance']}, {report.seconds:.0f} s")
    for note in report.notes:
        print(f"  note: {note}")
    for name, score in report.scores.items():
        print(f"  {name:<{width}}  {score.value}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hubmodels.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model id (hubmodels/<name>, local hub first) or a model folder")
    p.add_argument("--n", type=int, default=DEFAULT_N, help="held-out inputs (faces, sketches or samples)")
    p.add_argument("--seed", type=int, default=0, help="SynthFaces stream of the held-out inputs and random codes")
    p.add_argument("--extractor", choices=("auto", "inception", "synthfaces"), default="auto",
                   help="FD/KID features: Inception-v3 (FID) when its weights file is given/found, else the "
                        "SynthFaces evaluator's (fd_synthfaces); auto picks the first available")
    p.add_argument("--inception-weights", default=None,
                   help="the FID Inception-v3 weights file (default: $HUBMODELS_INCEPTION_WEIGHTS)")
    p.add_argument("--diversity", choices=("auto", "lpips", "synthfaces"), default="auto",
                   help="diversity distance: LPIPS when its AlexNet weights are on disk, else the evaluator's")
    p.add_argument("--evaluator", default=None, help="SynthFaces evaluator id or folder "
                   "(default: hubmodels/synthfaces-evaluator)")
    p.add_argument("--dataset", default=None, help="evaluation dataset (default: the one the model card names)")
    p.add_argument("--write", action="store_true", help="write metrics.json and the card into the model's folder")
    p.add_argument("--out", default=None, help="without --write: folder for metrics.json and README.md "
                   "(default: outputs/evaluate/<name>)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .metrics.evaluator import load_evaluator

    target, folder, _ = resolve(args.model)
    if args.write and folder is None:
        print(f"error: --write needs a local model folder; {args.model!r} is not in the local hub", file=sys.stderr)
        return 2
    try:
        model = HubModel.from_pretrained(args.model)
        evaluator = load_evaluator(args.evaluator) if args.evaluator else load_evaluator()
        report = evaluate_model(model, model_id=args.model, n=args.n, seed=args.seed, extractor=args.extractor,
                                inception_weights=args.inception_weights, diversity=args.diversity,
                                evaluator=evaluator, dataset=args.dataset, progress=args.progress)
    except (ValueError, FileNotFoundError, registry.UnknownFamilyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report.command = "python -m hubmodels.evaluate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    _print_table(report)
    # a folder given by path is named by its folder, as the local hub names it
    repo_id = f"hubmodels/{folder.name}" if Path(args.model).expanduser().is_dir() else args.model
    out = folder if args.write else Path(args.out or Path("outputs") / "evaluate" / local_name(repo_id))
    write_results(model, report, out, repo_id=repo_id, in_place=args.write)
    print(f"wrote {out / METRICS_NAME} and {out / CARD_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
