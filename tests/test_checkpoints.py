"""Untrusted checkpoint files are data, never code: crafted malicious files load nothing executable."""
from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch

from hubmodels.checkpoints import CheckpointFileError, PickledObject, load_pickle_data, load_torch_file


class RunsShell:
    """A pickle payload: unpickling it would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsSource:
    """A payload that carries Python source and asks the unpickler to exec it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class Unexpected:
    """A class from a module no checkpoint should name (this test module)."""

    def __init__(self):
        self.weights = torch.ones(2)


@pytest.mark.parametrize("payload", [RunsShell, RunsSource])
def test_torch_file_that_would_run_code_is_refused(tmp_path, payload):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "trap": payload(marker)}, path)
    with pytest.raises(CheckpointFileError, match=r"cannot be loaded safely.*(system|exec).*never runs code"):
        load_torch_file(path)
    assert not marker.exists()


def test_torch_file_naming_an_unexpected_class_is_refused(tmp_path):
    path = tmp_path / "unexpected.ckpt"
    torch.save({"net": Unexpected()}, path)
    with pytest.raises(CheckpointFileError, match="Unexpected"):
        load_torch_file(path)


def test_torch_file_with_tensors_and_namespace_loads(tmp_path):
    path = tmp_path / "ok.ckpt"
    torch.save({"G": {"w": torch.arange(3.0)}, "args": argparse.Namespace(lr=1e-4), "step": 7}, path)
    data = load_torch_file(path)
    assert torch.equal(data["G"]["w"], torch.arange(3.0)) and data["args"].lr == 1e-4 and data["step"] == 7


def test_truncated_and_foreign_files_say_so(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"w": torch.randn(64, 64)}, good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointFileError, match="not a readable PyTorch checkpoint"):
        load_torch_file(cut)
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointFileError, match="not a readable PyTorch checkpoint"):
        load_torch_file(text)
    with pytest.raises(FileNotFoundError):
        load_torch_file(tmp_path / "missing.ckpt")


@pytest.mark.parametrize("payload", [RunsShell, RunsSource])
def test_plain_pickle_payloads_stay_inert(tmp_path, payload):
    marker = tmp_path / "marker"
    path = tmp_path / "network.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": payload(marker), "note": "trap"}, f, protocol=4)
    data = load_pickle_data(path)
    assert not marker.exists()
    trap = data["G_ema"]
    assert isinstance(trap, PickledObject)
    assert trap.origin[1] in ("system", "exec")
    assert str(marker) in str(trap.args)  # the command / the source is kept as a plain string, never run


def test_plain_pickle_keeps_weights_of_unknown_classes(tmp_path):
    """A network pickle (classes the loader does not know, tensors inside) becomes an inert tree whose
    tensors a converter can read."""
    path = tmp_path / "network.pkl"
    net = torch.nn.Linear(3, 2)
    with open(path, "wb") as f:
        pickle.dump({"G": Unexpected(), "layer_state": net.state_dict(), "kimg": 25000}, f, protocol=4)
    data = load_pickle_data(path)
    assert isinstance(data["G"], PickledObject) and data["G"].origin == (__name__, "Unexpected")
    assert torch.equal(data["G"].state["weights"], torch.ones(2))
    assert torch.equal(data["layer_state"]["weight"], net.weight.detach()) and data["kimg"] == 25000


def test_plain_pickle_errors(tmp_path):
    archive = tmp_path / "saved.pt"
    torch.save({"w": torch.ones(1)}, archive)
    with pytest.raises(CheckpointFileError, match="load_torch_file"):
        load_pickle_data(archive)
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps({"w": list(range(100))})[:20])
    with pytest.raises(CheckpointFileError, match="not a readable pickle"):
        load_pickle_data(broken)


def test_numpy_arrays_of_old_pickle_protocols_load(tmp_path):
    import pickle

    import numpy as np

    for protocol in (2, 4):
        path = tmp_path / f"p{protocol}.pkl"
        with open(path, "wb") as f:
            pickle.dump({"w": np.arange(5, dtype=np.float32), "n": np.int64(7)}, f, protocol=protocol)
        data = load_pickle_data(path)
        assert data["w"].tolist() == [0, 1, 2, 3, 4] and int(data["n"]) == 7
