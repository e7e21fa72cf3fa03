"""`--mixed-precision bf16` trains every family: a few steps of each training script, with every regulariser on
a short cadence, finish with finite losses and a checkpoint (SemanticStyleGAN's path-length pass once lost its
latent to the mixed-precision wrapper's fp32 conversion of the outputs)."""
from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

from train.common import Checkpointer

from tests import (test_train_bicyclegan, test_train_semantic_stylegan, test_train_stargan, test_train_stargan_v2,
                   test_train_stylegan)

CASES = {
    "stargan": ("train.stargan", test_train_stargan.TINY),
    "stargan_v2": ("train.stargan_v2", test_train_stargan_v2.TINY),
    "bicyclegan": ("train.bicyclegan", test_train_bicyclegan.TINY),
    "stylegan2": ("train.stylegan", [*test_train_stylegan.TINY, *test_train_stylegan.CADENCE]),
    "stylegan": ("train.stylegan", [*test_train_stylegan.TINY, *test_train_stylegan.CADENCE, "--arch", "stylegan"]),
    "semantic_stylegan": ("train.semantic_stylegan",
                          [*test_train_semantic_stylegan.TINY, *test_train_semantic_stylegan.CADENCE,
                           "--g-reg-every", "1"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bf16_mixed_precision_trains(case: str, tmp_path: Path) -> None:
    module, tiny = CASES[case]
    out = tmp_path / "run"
    assert importlib.import_module(module).main([*tiny, "--out", str(out), "--steps", "4",
                                                 "--mixed-precision", "bf16"]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["step"] == 4
    losses = [(row["step"], k, v) for row in rows for k, v in row.items() if isinstance(v, float)]
    assert losses and all(math.isfinite(v) for _, _, v in losses), losses
    assert any((out / "checkpoints").iterdir())


def test_one_process_trains_runs_with_different_precisions_in_turn(tmp_path: Path) -> None:
    """accelerate keeps one state per process; a notebook (or this suite) training an fp32 run and then a bf16 one
    must get the second precision, not an error."""
    module, tiny = CASES["stargan"]
    main = importlib.import_module(module).main
    for k, precision in enumerate(("no", "bf16", "no")):
        out = tmp_path / f"run{k}"
        assert main([*tiny, "--out", str(out), "--steps", "1", "--mixed-precision", precision]) == 0
        _, meta = Checkpointer(out / "checkpoints").load()
        assert [session["mixed_precision"] for session in meta["sessions"]] == [precision]
