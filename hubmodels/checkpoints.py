"""Reading untrusted checkpoint files as data, never as code.

* :func:`load_torch_file`: official ``.pt/.ckpt/.pth`` files through ``torch.load(weights_only=True)``, with
  an explicit list of harmless classes a released file may need (``argparse.Namespace``); a file that needs
  any other class is refused with an error that names it.
* :func:`load_pickle_data`: plain pickles that embed classes (NVlabs' network pickles) through a restricted
  unpickler. Tensors and a short list of containers are rebuilt; every other class or function named in the
  file becomes a :class:`PickledObject` that records its name, arguments and state and is never called, so a
  pickle whose ``__reduce__`` runs ``os.system`` runs nothing, and source code embedded in it stays a string.
  The caller (a converter) reads the weights out of that inert tree.

Both raise :class:`CheckpointFileError` (a ``ValueError``) naming the file and what was wrong.
"""
from __future__ import annotations

import argparse
import codecs
import collections
import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

import torch

__all__ = ["CheckpointFileError", "PickledObject", "load_torch_file", "load_pickle_data", "strip_prefix"]

# Classes a released research checkpoint commonly pickles that cannot run code when rebuilt.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read safely; the message names the file and the reason."""


def load_torch_file(path: str | Path, *, safe_globals: Iterable[type] = SAFE_GLOBALS) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with ``safe_globals`` allowed and readable errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        needs = re.search(r"(?:Unsupported global|unsupported GLOBAL)[^\w]*(?:GLOBAL )?([\w.]+)", str(err))
        if needs:
            raise CheckpointFileError(
                f"{path} cannot be loaded safely: it pickles the Python object {needs.group(1)}, which needs code "
                "to rebuild, and hubmodels never runs code from a checkpoint. It reads files made of tensors and "
                "plain containers (torch.load(weights_only=True)); re-save it as state dicts, e.g. "
                "torch.save({name: net.state_dict() for name, net in nets.items()}, path)"
            ) from None
        raise CheckpointFileError(f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another "
                                  f"format): {_first_line(err)}") from None
    except Exception as err:  # noqa: BLE001 - a damaged file fails in many ways (KeyError, struct.error, ...)
        raise CheckpointFileError(f"{path} is not a readable PyTorch checkpoint (truncated, corrupt or another "
                                  f"format): {_first_line(err)}") from None


def strip_prefix(obj: Any, prefix: str = "module.") -> Any:
    """Drop ``prefix`` (DataParallel's ``module.``) from every key of nested mappings."""
    if not isinstance(obj, dict):
        return obj
    return {(k[len(prefix):] if isinstance(k, str) and k.startswith(prefix) else k): strip_prefix(v, prefix)
            for k, v in obj.items()}


def _first_line(err: BaseException) -> str:
    text = str(err).split("WeightsUnpickler error:", 1)[-1].strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)


# ---------------------------------------------------------------------------------------------
# restricted unpickling


class PickledObject:
    """What a class or function named in a pickle becomes: its name, and what the pickle gave it.

    The unpickler hands out one subclass per name (``type(obj).origin`` is ``(module, name)``); calling it
    (REDUCE), creating it (NEWOBJ) or restoring its state (BUILD) only records ``args``, ``kwargs`` and
    ``state``. Nothing of the original class or function is imported or run.
    """

    origin: tuple[str, str] = ("?", "?")

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickledObject":
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # the record was made in __new__
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<pickled {'.'.join(self.origin)}>"


_STUBS: dict[tuple[str, str], type] = {}


def _stub(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STUBS:
        _STUBS[key] = type(name, (PickledObject,), {"origin": key, "__module__": f"{__name__}.pickled"})
    return _STUBS[key]


def _storage_from_bytes(data: bytes) -> Any:
    # pickled tensors of legacy files carry a nested torch.save blob: read it with the same guarantees
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


# The globals rebuilt as themselves: containers and tensor reconstruction, nothing that can reach the OS.
_REBUILT: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch", "Size"): torch.Size,
    # stylegan2-ada pickles: dnnlib's attribute-access dict subclass (init_kwargs, training_set_kwargs) is
    # filled by SETITEMS, which an inert record cannot take; as a plain dict it loses nothing.
    ("dnnlib.util", "EasyDict"): dict,
    # numpy arrays pickled with protocol <= 2 carry their raw bytes as a latin-1 str re-encoded on load;
    # codecs.encode only turns a str into bytes.
    ("_codecs", "encode"): codecs.encode,
}
for _dtype in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"):
    _REBUILT[("torch", f"{_dtype}Storage")] = getattr(torch, f"{_dtype}Storage")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _REBUILT:
            return _REBUILT[(module, name)]
        numpy_fn = _numpy_global(module, name)
        return numpy_fn if numpy_fn is not None else _stub(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids belong to torch.save files: read those with load_torch_file")


# numpy arrays and scalars rebuild through these, which only build arrays from bytes.
_NUMPY = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
          ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
          ("numpy._core.multiarray", "scalar")}


def _numpy_global(module: str, name: str) -> Any:
    if (module, name) not in _NUMPY:
        return None
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # the other numpy major version's module path
        return None


def load_pickle_data(path: str | Path) -> Any:
    """Unpickle ``path`` without running any of its code (see the module docstring); returns the inert tree."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if zipfile.is_zipfile(path):
        raise CheckpointFileError(f"{path} is a torch.save archive, not a plain pickle: read it with load_torch_file")
    try:
        with open(path, "rb") as handle:
            return _RestrictedUnpickler(handle).load()
    except Exception as err:  # noqa: BLE001 - nothing in the file ran; any failure means "cannot read it"
        raise CheckpointFileError(f"{path} is not a readable pickle (truncated, corrupt or another format): "
                                  f"{type(err).__name__}: {err}") from None
