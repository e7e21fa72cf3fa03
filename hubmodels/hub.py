"""HubModel: the base every family class derives from.

Hub I/O (config capture from ``__init__``, push, download) is ``huggingface_hub.PyTorchModelHubMixin``'s;
this module adds what the mixin leaves loose: strict and validated loading (the mixin loads with
``strict=False`` and silently ignores unknown config fields), family/architecture dispatch, id resolution
against the embedded local hub, a real model card with its sample image and metrics, device/dtype
placement, and safetensors only (never pickle).
"""
from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Hashable, Mapping

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from torch import nn

from . import inference_paths as _paths
from . import registry

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
SAMPLE_NAME = "sample.png"
METRICS_NAME = "metrics.json"
CARD_INFO_NAME = "card.json"
# Keys that config.json carries beside the constructor arguments.
RESERVED_CONFIG_KEYS = ("family", "architecture")
DEFAULT_ORG = "hubmodels"
REPO_ROOT = Path(__file__).resolve().parents[1]

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}


class HubModelError(ValueError):
    """A model folder or file that cannot be loaded as it is: the message names the file and the mismatch."""


class ModelNotFoundError(FileNotFoundError):
    """No model under that id in any place we looked."""


# ---------------------------------------------------------------------------------------------
# id resolution (DESIGN.md contract 2)


def local_hub_dir() -> Path:
    """The embedded local hub: ``$HUBMODELS_HUB`` when set, else the repository's ``hub/``."""
    env = os.environ.get("HUBMODELS_HUB")
    return Path(env).expanduser() if env else REPO_ROOT / "hub"


def local_name(repo_id: str) -> str:
    """Folder name of a repo id inside the local hub: ``hubmodels/x`` -> ``x``, ``org/x`` -> ``org--x``."""
    parts = repo_id.strip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"invalid model id {repo_id!r}: expected 'name' or 'org/name'")
    org, name = parts
    return name if org == DEFAULT_ORG else f"{org}--{name}"


def _looks_like_path(model_id: str) -> bool:
    return model_id.startswith((".", "/", "~")) or os.sep in model_id.replace("/", "", 1) or model_id.count("/") > 1


def resolve(model_id: str | os.PathLike) -> tuple[str, Path | None, list[str]]:
    """Map a user-facing id to (what to load, local folder or None, places looked).

    A filesystem path always wins; then the local hub; then the id goes to the Hugging Face Hub.
    """
    text = str(model_id)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path), path, [str(path)]
    if isinstance(model_id, os.PathLike) or _looks_like_path(text):
        raise ModelNotFoundError(f"no model folder at {path} (the path does not exist or is not a folder)")
    looked = []
    candidate = local_hub_dir() / local_name(text)
    looked.append(f"local hub {candidate}")
    if candidate.is_dir():
        return str(candidate), candidate, looked
    return text, None, looked


# ---------------------------------------------------------------------------------------------
# dtype / device


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).lower().replace("torch.", "")
    if key not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; accepted: float32/fp32, float16/fp16, bfloat16/bf16")
    return _DTYPES[key]


def parse_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unsupported device {device!r}; accepted: 'cpu', 'cuda', 'cuda:N', 'auto'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available here; use 'cpu' or 'auto'")
    return device


# ---------------------------------------------------------------------------------------------
# safetensors, strictly


class ShapeOnly(torch.overrides.TorchFunctionMode):
    """Build a model on the meta device for its names and shapes alone: ``with torch.device("meta"), ShapeOnly():``.

    On meta tensors PyTorch runs many ops through Python meta kernels, and the first of them imports
    ``torch._dynamo`` and sympy: seconds of a cold ``from_pretrained`` for a template that only names shapes.
    Here random factories become ``torch.empty`` and in-place initialisers or arithmetic with a Python number
    return a tensor of the same shape without computing. Constants a constructor derives from other tensors
    (FIR filters) are built on the CPU by the families themselves. The template's state dict has the same names
    and shapes as a real build (tested for every family); no value of it is ever used.
    """

    _RANDOM = frozenset({torch.randn, torch.rand})
    _LIKE = frozenset({torch.randn_like, torch.rand_like})
    _IN_PLACE = frozenset({torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_,
                           torch.Tensor.div_, torch.Tensor.mul_, torch.Tensor.add_, torch.Tensor.sub_})
    _WITH_NUMBER = frozenset({torch.Tensor.__truediv__, torch.Tensor.__mul__, torch.Tensor.__rmul__,
                              torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.__sub__,
                              torch.Tensor.__rsub__, torch.Tensor.div, torch.Tensor.mul, torch.Tensor.add,
                              torch.Tensor.sub, torch.div, torch.mul, torch.add, torch.sub})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._RANDOM and not kwargs.get("out"):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
            if kwargs.get("device") is None or str(kwargs["device"]) == "meta":
                return torch.empty(*shape, dtype=kwargs.get("dtype"), device="meta")
        if func in self._LIKE and args[0].is_meta:  # (empty_like itself is a Python meta kernel)
            return torch.empty(args[0].shape, dtype=kwargs.get("dtype") or args[0].dtype, device="meta")
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if tensors and all(t.is_meta for t in tensors) and len(tensors) == 1 and args[0] is tensors[0]:
            numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args[1:])
            if func in self._IN_PLACE and numbers:
                return args[0]
            if func in self._WITH_NUMBER and numbers and len(args) == 2 and set(kwargs) <= {"alpha"}:
                return torch.empty(args[0].shape, dtype=args[0].dtype, device="meta")
        return func(*args, **kwargs)


def safetensors_header(file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a safetensors file, from its header alone (nothing is allocated)."""
    from safetensors import SafetensorError, safe_open

    if not file.is_file():
        raise HubModelError(f"{file} is missing: a hubmodels folder holds its weights in {WEIGHTS_NAME}")
    try:
        with safe_open(str(file), framework="pt") as handle:
            return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise HubModelError(f"{file} is not a readable safetensors file (truncated or corrupt?): {err}") from err


def check_safetensors_header(file: Path, expected: dict[str, torch.Tensor], owner: str) -> None:
    """Raise a HubModelError naming every missing, unexpected or wrongly shaped tensor of ``file``.

    ``expected`` may live on the meta device: only names and shapes are compared.
    """
    shapes = safetensors_header(file)
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(
        f"{k}: file {list(shapes[k])} vs model {list(expected[k].shape)}"
        for k in set(shapes) & set(expected)
        if shapes[k] != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrongly shaped", wrong)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items) - 8} more)" if len(items) > 8 else "")
                parts.append(f"{len(items)} {label} tensor(s): {shown}")
        raise HubModelError(f"{file} does not match {owner}: " + "; ".join(parts))


def read_safetensors_strict(file: Path, expected: dict[str, torch.Tensor], owner: str) -> dict[str, torch.Tensor]:
    """Check ``file``'s header against ``expected`` (names and shapes), then read its tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_safetensors_header(file, expected, owner)
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise HubModelError(f"{file} is not a readable safetensors file (truncated or corrupt?): {err}") from err


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The card's table of the files published beside it: | `name` | `sha256` | bytes |
_FILE_ROW = re.compile(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|", re.MULTILINE)


def verify_folder(folder: Path) -> None:
    """Check the files a model card lists against the sha256 it records (a folder changed after publishing,
    or half-copied, fails here with the file's name). Folders without the table are left as they are."""
    card = folder / CARD_NAME
    if not card.is_file():
        return
    for name, digest in _FILE_ROW.findall(card.read_text(encoding="utf-8", errors="replace")):
        path = folder / name
        if not path.is_file():
            raise HubModelError(f"{path} is missing: the model card of {folder} lists it (sha256 {digest[:12]}...)")
        if file_sha256(path) != digest:
            raise HubModelError(f"{path} does not match the sha256 its model card records: it is truncated, corrupt, "
                                "or changed after publishing. Download or publish the model again.")


# ---------------------------------------------------------------------------------------------
# model card


@dataclass
class CardInfo:
    """What the model card says beyond the class metadata. Saved as card.json beside the weights."""

    title: str = ""
    description: str = ""
    datasets: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    how_made: str = ""  # markdown: trained or converted, on what, for how long
    command: str = ""  # the exact command that made the weights
    training: dict[str, Any] = field(default_factory=dict)  # steps, wall time, hardware, ...
    sample_caption: str = ""
    base_model: str | None = None
    sample_image: Any = None  # PIL image, written as sample.png

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sample_image")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CardInfo":
        known = {f for f in cls.__dataclass_fields__ if f != "sample_image"}
        return cls(**{k: v for k, v in data.items() if k in known})


CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ description }}

{% if sample_image %}![{{ sample_caption }}]({{ sample_image }})

*{{ sample_caption }}*
{% endif %}
## Usage

```bash
pip install -e .   # from the hubmodels repository
```

```python
{{ usage }}
```

## How these weights were made

{{ how_made or "No provenance recorded." }}
{% if command %}
```bash
{{ command }}
```
{% endif %}{% if training %}
| training | value |
|---|---|
{% for k, v in training.items() %}| {{ k }} | {{ v }} |
{% endfor %}{% endif %}{% if metrics %}
## Metrics

| metric | value |
|---|---|
{% for k, v in metrics.items() %}| {{ k }} | {{ v }} |
{% endfor %}{% endif %}
{% if files %}
## Files

| file | sha256 | bytes |
|---|---|---|
{% for f in files %}| `{{ f.name }}` | `{{ f.sha256 }}` | {{ f.bytes }} |
{% endfor %}{% endif %}
## Configuration

| argument | value |
|---|---|
{% for k, v in config.items() %}| `{{ k }}` | `{{ v }}` |
{% endfor %}
## Architecture

{{ architecture }} ({{ family }} family) from [{{ paper_url }}]({{ paper_url }}); official code: [{{ repo_url }}]({{ repo_url }}).
Loaded by [hubmodels](https://github.com/hubmodels/hubmodels), whose converters match the official outputs to float precision.
{% if citation %}
## Citation

```bibtex
{{ citation }}
```
{% endif %}
"""


# ---------------------------------------------------------------------------------------------
# the base class


class HubModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="hubmodels",
    tags=["hubmodels", "gan"],
    model_card_template=CARD_TEMPLATE,
):
    """Base of every hubmodels family class.

    Subclasses declare ``family=`` (the converter family name) and card metadata as class keyword
    arguments, and keep every ``__init__`` argument JSON-serialisable: it is the config.
    """

    family: ClassVar[str] = ""
    architecture: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    storage_dtype: torch.dtype | None = None  # dtype of floating tensors in model.safetensors (None: as in memory)
    _card_repo_id: str | None = None  # the repo id the card names while publishing
    # Inference paths (hubmodels.inference_paths). A family lists its exact rewrites as module swaps
    # {paper module class: fast subclass} and the children torch.compile must leave alone.
    inference_swaps: ClassVar[Mapping[type[nn.Module], type[nn.Module]]] = {}
    inference_eager_children: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, family: str | None = None, architecture: str | None = None,
                          citation: str | None = None, **kwargs: Any) -> None:
        if family is not None:
            kwargs["tags"] = sorted(set(kwargs.get("tags") or []) | {family})
        super().__init_subclass__(**kwargs)
        if family is not None:
            cls.family = family
            cls.architecture = architecture or cls.__name__
            registry.register_architecture(cls)
        if citation is not None:
            cls.citation = citation

    def __new__(cls, *args: Any, **kwargs: Any) -> "HubModel":
        instance = super().__new__(cls, *args, **kwargs)
        names = list(cls._hub_mixin_init_parameters)[1:]
        passed = {**dict(zip(names, args)), **kwargs}
        instance.__dict__["_unserialisable_args"] = [k for k, v in passed.items() if not cls._is_jsonable(v)]
        return instance

    def __init__(self) -> None:
        super().__init__()
        self.card = CardInfo()

    # ---- config ---------------------------------------------------------------------------

    @classmethod
    def config_fields(cls) -> list[str]:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments plus family/architecture: what config.json holds."""
        base = dict(self._hub_mixin_config or {})
        base = {k: base[k] for k in self.config_fields() if k in base}
        return {**base, "family": self.family, "architecture": self.architecture}

    @classmethod
    def validate_config(cls, config: Any, source: str) -> dict[str, Any]:
        """Constructor kwargs from a config.json dict, or a HubModelError naming what is wrong."""
        if not isinstance(config, dict):
            raise HubModelError(f"{source} must hold a JSON object, got {type(config).__name__}")
        family, architecture = config.get("family"), config.get("architecture")
        if family is None or architecture is None:
            raise HubModelError(
                f"{source} has no 'family'/'architecture' fields: it was not written by hubmodels "
                f"(expected e.g. family={cls.family or '<family>'!r})"
            )
        if cls.architecture and architecture != cls.architecture:
            raise HubModelError(
                f"{source} holds a {family!r} model (architecture {architecture!r}), not {cls.__name__}; "
                f"load it with hubmodels.load(...) or {architecture}.from_pretrained(...)"
            )
        fields = cls.config_fields()
        unknown = sorted(set(config) - set(fields) - set(RESERVED_CONFIG_KEYS))
        missing = sorted(set(fields) - set(config))
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown field(s) {', '.join(unknown)}")
            if missing:
                parts.append(f"missing field(s) {', '.join(missing)}")
            raise HubModelError(
                f"{source} does not describe a {cls.__name__}: " + "; ".join(parts)
                + f". Accepted fields: {', '.join(fields)}"
            )
        return {k: config[k] for k in fields}

    # ---- saving ---------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | Path, *, storage_dtype: torch.dtype | str | None = None,
                        **kwargs: Any) -> str | None:
        """Write config.json, model.safetensors, README.md (model card), sample.png, metrics.json, card.json."""
        previous = self.storage_dtype
        if storage_dtype is not None:
            self.storage_dtype = parse_dtype(storage_dtype)
        try:
            kwargs["config"] = self.config  # always ours: family/architecture included
            return super().save_pretrained(save_directory, **kwargs)
        finally:
            self.storage_dtype = previous

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_file

        dropped = sorted(set(self.__dict__.get("_unserialisable_args", ()))
                         | (set(self.config_fields()) - set(self._hub_mixin_config or {})))
        if dropped:  # the mixin silently leaves out (or defaults) arguments it cannot write as JSON
            raise HubModelError(
                f"cannot save {type(self).__name__}: constructor argument(s) {', '.join(dropped)} are not "
                "JSON-serialisable, so config.json could not rebuild the model; use plain numbers, strings, lists"
            )

        tensors: dict[str, torch.Tensor] = {}
        seen: dict[int, str] = {}
        for key, value in self.state_dict().items():
            value = value.detach()
            if self.storage_dtype is not None and value.is_floating_point():
                value = value.to(self.storage_dtype)
            # safetensors refuses aliased storage; tied tensors are rare here, so clone them.
            if value.data_ptr() in seen:
                value = value.clone()
            seen[value.data_ptr()] = key
            tensors[key] = value.to("cpu").contiguous()
        save_file(tensors, str(save_directory / WEIGHTS_NAME),
                  metadata={"format": "pt", "family": self.family, "architecture": self.architecture})
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        (save_directory / SAMPLE_NAME).unlink(missing_ok=True)  # no stale sample from an earlier save
        if self.card.sample_image is None:
            self._draw_sample()
        if self.card.sample_image is not None:
            self.card.sample_image.save(save_directory / SAMPLE_NAME)
        (save_directory / METRICS_NAME).write_text(json.dumps(self.card.metrics, indent=2, sort_keys=True) + "\n")
        (save_directory / CARD_INFO_NAME).write_text(json.dumps(self.card.to_json(), indent=2) + "\n")
        repo_id = self._card_repo_id or f"{DEFAULT_ORG}/{save_directory.name}"
        files = [{"name": name, "sha256": file_sha256(save_directory / name),
                  "bytes": (save_directory / name).stat().st_size}
                 for name in (CONFIG_NAME, WEIGHTS_NAME, SAMPLE_NAME, METRICS_NAME, CARD_INFO_NAME)
                 if (save_directory / name).is_file()]
        self.generate_model_card(repo_id=repo_id, files=files).save(save_directory / CARD_NAME)

    def _draw_sample(self) -> None:
        """Every published folder shows what its model does: the family's ``sample`` when none was given."""
        try:
            spec = registry.family_spec(self.family)
        except registry.UnknownFamilyError:  # a class outside the registered families (e.g. a test's)
            return
        with torch.inference_mode():
            self.card.sample_image = spec.sample(self, 0)
        self.card.sample_caption = self.card.sample_caption or f"{spec.title}: the family's sample, seed 0."

    def usage_snippet(self, repo_id: str) -> str:
        """Family classes override this with a two-line example of their inference API."""
        return (f"import hubmodels\n\nmodel = hubmodels.load({repo_id!r})  # "
                f"{type(self).__name__}; device='cuda', dtype='bf16' also work")

    def generate_model_card(self, *args: Any, repo_id: str | None = None, **kwargs: Any) -> ModelCard:
        info = self._hub_mixin_info
        data = info.model_card_data
        data.datasets = list(self.card.datasets) or None
        data.metrics = sorted(self.card.metrics) or None
        data.base_model = self.card.base_model
        repo_id = repo_id or f"{DEFAULT_ORG}/{type(self).__name__.lower()}"
        config = {k: v for k, v in self.config.items() if k not in RESERVED_CONFIG_KEYS}
        return ModelCard.from_template(
            card_data=data,
            template_str=info.model_card_template,
            title=self.card.title or f"{self.architecture}: {repo_id}",
            description=self.card.description or f"A {self.architecture} model for hubmodels.",
            sample_image=SAMPLE_NAME if self.card.sample_image is not None else None,
            sample_caption=self.card.sample_caption or "Samples from this model.",
            usage=self.usage_snippet(repo_id),
            how_made=self.card.how_made,
            command=self.card.command,
            training=self.card.training,
            metrics=self.card.metrics,
            config=config,
            family=self.family,
            architecture=self.architecture,
            paper_url=info.paper_url or "",
            repo_url=info.repo_url or "",
            citation=self.citation,
            **kwargs,
        )

    def publish(self, repo_id: str, *, push: bool = False, token: str | None = None,
                hub_dir: str | Path | None = None, storage_dtype: torch.dtype | str | None = None,
                private: bool | None = None) -> str:
        """Publish into the local hub (default), or push to the Hugging Face Hub when ``push=True``.

        The local folder is written beside its final place and swapped in, so a reader never sees a
        half-written model.
        """
        if push:
            from huggingface_hub import get_token

            token = token or get_token()
            if not token:
                raise RuntimeError(
                    "push=True needs a Hugging Face token: pass token=..., set HF_TOKEN or run `hf auth login`"
                )
            previous = self.storage_dtype
            self.storage_dtype = parse_dtype(storage_dtype) if storage_dtype is not None else previous
            self._card_repo_id = repo_id
            try:
                return self.push_to_hub(repo_id, config=self.config, token=token, private=private)
            finally:
                self.storage_dtype = previous
                self._card_repo_id = None
        root = Path(hub_dir).expanduser() if hub_dir is not None else local_hub_dir()
        target = root / local_name(repo_id)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
        staging.chmod(0o755)  # mkdtemp makes it private; a published model is for every user
        self._card_repo_id = repo_id  # the card names the repo id, not the staging folder
        try:
            self.save_pretrained(staging, storage_dtype=storage_dtype)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=root))
                old.rmdir()
                target.rename(old)
                staging.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                staging.rename(target)
        finally:
            self._card_repo_id = None
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return str(target)

    # ---- loading --------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, revision: str | None = None,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        force_download: bool = False, local_files_only: bool = False,
                        compile: bool = False) -> "HubModel":
        """Load ``hubmodels/<name>`` (local hub first), ``org/name`` (Hugging Face Hub) or a folder path.

        The model is placed on ``device`` (``cpu``, ``cuda``, ``auto``), in eval mode.

        ``dtype``: ``None`` or ``"float32"`` (default): exact, the paper modules in fp32, the reference
        results on every machine. ``"fp16"``/``"bf16"`` (or a ``torch.dtype``): the weights are cast to it and
        inference runs under autocast to it. ``"auto"``: fp32 weights, and the model measures its inference
        paths on this machine and keeps the fastest within PSNR 40 dB of fp32 (``optimize_for_inference``);
        ``compile=True`` adds ``torch.compile`` variants to what "auto" tries.
        """
        target, folder, looked = resolve(pretrained_model_name_or_path)
        device_ = parse_device(device)
        auto = isinstance(dtype, str) and dtype.strip().lower() == "auto"
        if compile and not auto:
            raise ValueError("compile=True adds torch.compile to the paths dtype='auto' measures; "
                             "pass dtype='auto' with it")
        try:
            dtype_ = None if auto else parse_dtype(dtype)
        except ValueError as err:
            raise ValueError(f"{err}, or 'auto' (the fastest path within PSNR 40 dB of fp32)") from None
        if not cls.architecture:  # base class: dispatch on the folder's architecture
            config = cls._read_config(target, folder, looked, revision=revision, token=token, cache_dir=cache_dir,
                                      force_download=force_download, local_files_only=local_files_only)
            source = f"{CONFIG_NAME} in {folder or target}"
            if not isinstance(config, dict) or "architecture" not in config:
                cls.validate_config(config, source)  # raises the explanatory error
            try:
                concrete = registry.architecture_class(config["architecture"])
            except registry.UnknownFamilyError as err:
                raise HubModelError(f"{source}: {err}") from err
            return concrete.from_pretrained(target, device=device, dtype=dtype, revision=revision, token=token,
                                            cache_dir=cache_dir, force_download=force_download,
                                            local_files_only=local_files_only, compile=compile)
        if folder is None:
            cls._read_config(target, folder, looked, revision=revision, token=token, cache_dir=cache_dir,
                             force_download=force_download, local_files_only=local_files_only)
        elif not (folder / CONFIG_NAME).is_file():
            raise HubModelError(f"{folder} has no {CONFIG_NAME}: it is not a hubmodels model folder")
        model = super().from_pretrained(target, revision=revision, token=token, cache_dir=cache_dir,
                                        force_download=force_download, local_files_only=local_files_only,
                                        device=device_, dtype=dtype_, looked=looked)
        if auto:
            model.optimize_for_inference("auto", compile=compile)
        return model

    @classmethod
    def _read_config(cls, target: str, folder: Path | None, looked: list[str], **hub_kwargs: Any) -> Any:
        if folder is not None:
            path = folder / CONFIG_NAME
            if not path.is_file():
                raise HubModelError(f"{folder} has no {CONFIG_NAME}: it is not a hubmodels model folder")
        else:
            path = Path(cls._download(target, CONFIG_NAME, looked, **hub_kwargs))
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise HubModelError(f"{path} is not valid JSON: {err}") from err

    @staticmethod
    def _download(repo_id: str, filename: str, looked: list[str], **hub_kwargs: Any) -> str:
        try:
            return hf_hub_download(repo_id=repo_id, filename=filename, **hub_kwargs)
        except Exception as err:  # every hub failure (offline, 404, bad id, no network) reads the same to a user
            where = "; ".join(looked + [f"Hugging Face Hub repo {repo_id!r}"])
            offline = " (offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
            raise ModelNotFoundError(
                f"model {repo_id!r} not found{offline}. Looked in: {where}. "
                f"Hub error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            ) from err

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         config: Any = None, device: torch.device | None = None, dtype: torch.dtype | None = None,
                         looked: list[str] | None = None, **_ignored: Any) -> "HubModel":
        folder = Path(model_id) if os.path.isdir(model_id) else None
        source = f"{CONFIG_NAME} in {folder or model_id}"
        if config is None:
            raise HubModelError(f"{source} is missing or unreadable: not a hubmodels model")
        kwargs = cls.validate_config(config, source)
        try:
            with torch.device("meta"), ShapeOnly():  # the file is checked before any weight is allocated
                template = cls(**kwargs)
        except (TypeError, ValueError) as err:
            raise HubModelError(f"{source} has invalid values for {cls.__name__}: {err}") from err
        if folder is not None:
            weights = folder / WEIGHTS_NAME
        else:
            weights = Path(cls._download(model_id, WEIGHTS_NAME, looked or [], revision=revision, cache_dir=cache_dir,
                                         force_download=force_download, local_files_only=local_files_only,
                                         token=token))
        owner = f"{cls.__name__} with {source}"
        check_safetensors_header(weights, template.state_dict(), owner)  # names the keys that differ
        del template
        if folder is not None:
            verify_folder(folder)  # then the bytes: the same shapes with other values are caught here
        model = cls(**kwargs)
        tensors = read_safetensors_strict(weights, model.state_dict(), owner)
        model.load_state_dict(tensors, strict=True)
        model._load_card(folder if folder is not None else weights.parent)
        model.to(device=device or torch.device("cpu"))
        if dtype is not None:
            model.to(dtype=dtype)
        return model.eval()

    def _load_card(self, folder: Path) -> None:
        info = folder / CARD_INFO_NAME
        if info.is_file():
            try:
                self.card = CardInfo.from_json(json.loads(info.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, TypeError):
                self.card = CardInfo()
        sample = folder / SAMPLE_NAME
        if sample.is_file():
            from PIL import Image

            with Image.open(sample) as img:
                self.card.sample_image = img.convert("RGB")

    # ---- inference paths (hubmodels.inference_paths) ---------------------------------------

    def optimize_for_inference(self, path: str | None = "auto", *, compile: bool = False,
                               timer: Callable[[str, Callable[[], Any], torch.device], float] | None = None
                               ) -> "HubModel":
        """Choose how inference runs: ``"auto"`` (measure), a path name (force it), or ``None`` (exact default).

        ``"auto"``: for each key passed to :meth:`run_inference` (e.g. an input shape), the model times its
        candidate paths (:meth:`inference_paths`) on this machine and keeps the fastest whose output is within
        PSNR 40 dB of fp32; choices are cached on disk per machine, model and key. ``compile=True`` adds the
        ``torch.compile`` variants. A path name (``"fp32"``, ``"fp32-channels-last"``, ``"rewrites"``,
        ``"bf16"``, ...) is applied now and used for every call, whatever its accuracy. ``timer(path, fn,
        device) -> seconds`` replaces the timer of "auto". The weights stay fp32 and keep their state-dict
        keys; every change is undone by another call (``None``: back to the paper modules, contiguous).
        """
        return _paths.optimize(self, path, compile=compile, timer=timer)

    def inference_paths(self, *, compile: bool | None = None) -> list[str]:
        """The candidate path names on this model's device, the fp32 reference first.

        ``compile``: include the ``torch.compile`` variants (default: as set by ``optimize_for_inference``).
        """
        if compile is None:
            state = _paths.state_of(self)
            compile = bool(state is not None and state.compile)
        return _paths.available_paths(self.device, rewrites=bool(self.inference_swaps), compile=compile)

    def run_inference(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (the tensor work of an inference method) under the path chosen for ``key``.

        Exact mode (not optimized): just ``fn()``. A forced path: applied, then ``fn()``. ``"auto"``: the first
        call with a new ``key`` measures the candidates (``fn`` runs several times: it must have no side
        effects) and returns the chosen path's output; later calls reuse the choice. ``fn`` returns a tensor
        (or a tuple/list/dict of them) of images in [-1, 1], the scale of the PSNR check. Calls nested
        inside ``fn`` run under the outer call's path.
        """
        return _paths.run(self, key, fn)

    @property
    def inference_path(self) -> str:
        """The path the model runs in now (``"fp32"`` when exact; with "auto", the last key's choice)."""
        state = _paths.state_of(self)
        return "fp32" if state is None else state.applied

    @property
    def inference_choices(self) -> dict[Hashable, str]:
        """Which path "auto" chose for which key (measured here or read from the on-disk cache)."""
        state = _paths.state_of(self)
        return {} if state is None else dict(state.choices)

    @property
    def inference_report(self) -> dict[Hashable, dict]:
        """Per key: the chosen path, and (when measured) each candidate's median ms and PSNR vs fp32."""
        state = _paths.state_of(self)
        return {} if state is None else dict(state.reports)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype matmuls and convolutions run in: the current path's, else the weights'."""
        state = _paths.state_of(self)
        if state is not None:
            return _paths.PATHS[state.applied].compute_dtype
        return self.dtype if self.dtype in (torch.float16, torch.bfloat16) else torch.float32

    def autocast(self):
        """The context inference runs in: autocast to the current path's dtype (or to half-precision weights).

        An optimized model in an fp32 path disables any autocast around it; an exact fp32 model changes nothing.
        """
        from .nn.fast import autocast_context

        state = _paths.state_of(self)
        if state is None:
            return autocast_context(self.device, self.compute_dtype)
        dtype = _paths.PATHS[state.applied].compute_dtype
        if dtype == torch.float32:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=dtype)

    # ---- conveniences ---------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for tensor in self.parameters():
            return tensor.dtype
        return torch.float32


def load(model_id: str | Path, **kwargs: Any) -> HubModel:
    """Load any hubmodels model; the class is chosen from the folder's config.json."""
    return HubModel.from_pretrained(model_id, **kwargs)
