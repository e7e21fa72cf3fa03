"""HubModel: save/publish/load round trips, model cards, id resolution and every bad input."""
from __future__ import annotations

import functools
import hashlib

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

import hubmodels
from hubmodels.hub import HubModel, HubModelError, ModelNotFoundError


class TinyNet(HubModel, family="tinyfam", license="mit", pipeline_tag="image-to-image",
              paper_url="https://arxiv.org/abs/0000.00000", repo_url="https://example.org/tiny",
              tags=["tiny"], citation="@misc{tiny}"):
    def __init__(self, channels: int = 4, depth: int = 2, names: list[str] | None = None):
        super().__init__()
        self.names = names or ["a", "b"]
        self.body = nn.Sequential(*[nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1) for i in range(depth)])
        self.norm = nn.BatchNorm2d(channels)
        self.head = nn.Conv2d(channels, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.norm(self.body(x))))


class OtherNet(HubModel, family="otherfam", license="mit"):
    def __init__(self, width: int = 3):
        super().__init__()
        self.lin = nn.Linear(width, width)


def make_model(seed: int = 0, **kw) -> TinyNet:
    torch.manual_seed(seed)
    model = TinyNet(**kw)
    with torch.no_grad():  # non-default running stats so a lost buffer would show
        model.norm.running_mean.uniform_(-1, 1)
        model.norm.running_var.uniform_(0.5, 2)
    model.card.datasets = ["synthfaces"]
    model.card.metrics = {"fid": 12.5}
    model.card.command = "python -m train.tiny --steps 10"
    model.card.how_made = "Trained for a test."
    model.card.sample_image = Image.new("RGB", (16, 16), (200, 30, 30))
    return model.eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def test_save_load_round_trip_by_path(tmp_path, x):
    model = make_model(channels=5, names=["cat", "dog"])
    model.save_pretrained(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert {"config.json", "model.safetensors", "README.md", "sample.png", "metrics.json"} <= set(files)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config == {"channels": 5, "depth": 2, "names": ["cat", "dog"], "family": "tinyfam", "architecture": "TinyNet"}
    loaded = TinyNet.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.names == ["cat", "dog"]
    assert torch.equal(loaded(x), model(x))
    assert loaded.card.metrics == {"fid": 12.5} and loaded.card.sample_image.size == (16, 16)


def test_model_card_metadata_and_body(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    header = card.split("---")[1]
    for line in ("library_name: hubmodels", "license: mit", "pipeline_tag: image-to-image", "- tinyfam",
                 "- synthfaces", "- fid"):
        assert line in header, line
    body = card.split("---", 2)[2]
    assert "![" in body and "(sample.png)" in body
    assert "python -m train.tiny --steps 10" in body
    assert "hubmodels.load('hubmodels/m')" in body
    assert "| fid | 12.5 |" in body and "@misc{tiny}" in body
    assert json.loads((tmp_path / "m" / "metrics.json").read_text()) == {"fid": 12.5}


def test_publish_to_local_hub_and_load_by_id(local_hub, x):
    model = make_model(seed=3)
    path = model.publish("hubmodels/tiny-demo")
    assert Path(path) == local_hub / "tiny-demo"
    assert "hubmodels/tiny-demo" in (local_hub / "tiny-demo" / "README.md").read_text()
    by_id = TinyNet.from_pretrained("hubmodels/tiny-demo")
    by_load = hubmodels.load("hubmodels/tiny-demo")
    assert type(by_load) is TinyNet
    assert torch.equal(by_id(x), model(x)) and torch.equal(by_load(x), model(x))
    # republishing replaces atomically, leaving no staging folders behind
    make_model(seed=4).publish("hubmodels/tiny-demo")
    assert [p.name for p in local_hub.iterdir()] == ["tiny-demo"]
    assert not torch.equal(TinyNet.from_pretrained("hubmodels/tiny-demo")(x), model(x))


def test_publish_fp16_storage_halves_size(local_hub, x):
    model = make_model(channels=32)
    p32 = Path(model.publish("hubmodels/t32"))
    p16 = Path(model.publish("hubmodels/t16", storage_dtype="fp16"))
    s32, s16 = (p32 / "model.safetensors").stat().st_size, (p16 / "model.safetensors").stat().st_size
    assert s16 < 0.6 * s32
    assert load_file(p16 / "model.safetensors")["head.weight"].dtype == torch.float16
    loaded = hubmodels.load("hubmodels/t16")
    assert loaded.dtype == torch.float32
    assert (loaded(x) - model(x)).abs().max() < 1e-2


@pytest.mark.parametrize("dtype,expected", [("fp16", torch.float16), ("bf16", torch.bfloat16),
                                            ("float32", torch.float32), (torch.bfloat16, torch.bfloat16)])
def test_from_pretrained_dtype(tmp_path, dtype, expected):
    make_model().save_pretrained(tmp_path / "m")
    assert hubmodels.load(tmp_path / "m", dtype=dtype, device="cpu").dtype == expected


def test_bad_dtype_and_device(tmp_path):
    make_model().save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="accepted: float32"):
        hubmodels.load(tmp_path / "m", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            hubmodels.load(tmp_path / "m", device="cuda")


def test_env_var_names_other_local_hub(tmp_path, monkeypatch):
    make_model().publish("hubmodels/elsewhere", hub_dir=tmp_path / "other")
    monkeypatch.setenv("HUBMODELS_HUB", str(tmp_path / "other"))
    assert type(hubmodels.load("hubmodels/elsewhere")) is TinyNet


def test_hub_cache_snapshot_loads_offline(tmp_path, x):
    """A Hub id (not in the local hub) resolves through the huggingface_hub cache, with no network."""
    model = make_model(seed=7)
    snapshot = tmp_path / "cache" / "models--someorg--tiny" / "snapshots" / ("a" * 40)
    model.save_pretrained(snapshot)
    (tmp_path / "cache" / "models--someorg--tiny" / "refs").mkdir()
    (tmp_path / "cache" / "models--someorg--tiny" / "refs" / "main").write_text("a" * 40)
    loaded = hubmodels.load("someorg/tiny", cache_dir=tmp_path / "cache")
    assert torch.equal(loaded(x), model(x))


def test_not_found_offline_names_where_it_looked(local_hub):
    with pytest.raises(ModelNotFoundError) as err:
        hubmodels.load("hubmodels/no-such-model")
    msg = str(err.value)
    assert str(local_hub / "no-such-model") in msg and "Hugging Face Hub" in msg


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        hubmodels.load(tmp_path / "nowhere")


def test_other_family_folder(tmp_path):
    OtherNet().save_pretrained(tmp_path / "o")
    with pytest.raises(HubModelError, match="otherfam.*not TinyNet"):
        TinyNet.from_pretrained(tmp_path / "o")
    assert type(hubmodels.load(tmp_path / "o")) is OtherNet


@pytest.fixture
def saved(tmp_path) -> Path:
    make_model().save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            config.pop(k)
        else:
            config[k] = v
    (folder / "config.json").write_text(json.dumps(config))


def test_config_unknown_field(saved):
    _edit_config(saved, dropout=0.5)
    with pytest.raises(HubModelError, match=r"config.json.*unknown field\(s\) dropout.*Accepted fields: channels"):
        TinyNet.from_pretrained(saved)


def test_config_missing_field(saved):
    _edit_config(saved, depth=None)
    with pytest.raises(HubModelError, match=r"missing field\(s\) depth"):
        TinyNet.from_pretrained(saved)


def test_config_without_family(saved):
    _edit_config(saved, family=None)
    with pytest.raises(HubModelError, match="no 'family'"):
        hubmodels.load(saved)


def test_config_not_json(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(HubModelError, match="not valid JSON"):
        hubmodels.load(saved)


def test_no_config(saved):
    (saved / "config.json").unlink()
    with pytest.raises(HubModelError, match="no config.json"):
        TinyNet.from_pretrained(saved)


def test_unknown_architecture(saved):
    _edit_config(saved, architecture="Nope")
    with pytest.raises(HubModelError, match="unknown architecture 'Nope'"):
        hubmodels.load(saved)


def test_weights_missing_tensor(saved):
    tensors = load_file(saved / "model.safetensors")
    tensors.pop("head.bias")
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(HubModelError, match=r"model.safetensors does not match TinyNet.*1 missing tensor\(s\): head.bias"):
        TinyNet.from_pretrained(saved)


def test_weights_extra_tensor(saved):
    tensors = load_file(saved / "model.safetensors")
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(HubModelError, match=r"unexpected tensor\(s\): extra.weight"):
        TinyNet.from_pretrained(saved)


def test_weights_wrong_shape(saved):
    tensors = load_file(saved / "model.safetensors")
    tensors["head.weight"] = torch.zeros(3, 5, 1, 1)
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(HubModelError, match=r"head.weight: file \[3, 5, 1, 1\] vs model \[3, 4, 1, 1\]"):
        TinyNet.from_pretrained(saved)


def test_weights_config_disagree(saved):
    _edit_config(saved, channels=6)
    with pytest.raises(HubModelError, match="wrongly shaped"):
        TinyNet.from_pretrained(saved)


def test_truncated_weights(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(HubModelError, match="model.safetensors is not a readable safetensors file"):
        TinyNet.from_pretrained(saved)


def test_card_records_every_file_and_loading_checks_them(saved):
    card = (saved / "README.md").read_text()
    for name in ("config.json", "model.safetensors", "metrics.json", "card.json"):
        row = next(line for line in card.splitlines() if line.startswith(f"| `{name}` |"))
        digest = row.split("`")[3]
        assert digest == hashlib.sha256((saved / name).read_bytes()).hexdigest(), name
    # same names and shapes, other values: only the recorded hash can tell
    tensors = load_file(saved / "model.safetensors")
    tensors["head.bias"] = tensors["head.bias"] + 1
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(HubModelError, match="model.safetensors does not match the sha256 its model card records"):
        TinyNet.from_pretrained(saved)


def test_header_is_checked_before_any_weight_is_allocated(saved, monkeypatch):
    """A file that does not fit the config is refused from its header: the model is never built for real."""
    _edit_config(saved, channels=4096)
    built = []
    monkeypatch.setattr(TinyNet, "__init__", _recording_init(TinyNet.__init__, built))
    with pytest.raises(HubModelError, match="wrongly shaped"):
        TinyNet.from_pretrained(saved)
    assert built == ["meta"]


def _recording_init(init, built):
    @functools.wraps(init)  # the config is read from the signature
    def wrapped(self, *args, **kwargs):
        built.append(torch.empty(0).device.type)
        init(self, *args, **kwargs)
    return wrapped


def test_pickle_weights_never_loaded(saved):
    """Our format never uses pickle: a folder with only pytorch_model.bin is refused, not unpickled."""
    torch.save(make_model().state_dict(), saved / "pytorch_model.bin")
    (saved / "model.safetensors").unlink()
    with pytest.raises(HubModelError, match="model.safetensors is missing"):
        TinyNet.from_pretrained(saved)


def test_invalid_values_reach_the_class(saved):
    _edit_config(saved, depth="two")
    with pytest.raises(HubModelError, match="invalid values for TinyNet"):
        TinyNet.from_pretrained(saved)


def test_push_without_token_is_refused(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(RuntimeError, match="needs a Hugging Face token"):
        make_model().publish("someone/tiny", push=True)


def test_push_to_hub_uploads_what_save_pretrained_writes(monkeypatch):
    """push_to_hub goes through the mixin: the uploaded folder holds card, sample, metrics, weights."""
    uploaded = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=True):
            return type("R", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, **kw):
            uploaded["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            uploaded["card"] = (Path(folder_path) / "README.md").read_text()
            return f"https://huggingface.co/{repo_id}/commit/x"

    monkeypatch.setattr("huggingface_hub.hub_mixin.HfApi", FakeApi)
    url = make_model().publish("someone/tiny", push=True, token="hf_fake")
    assert url.endswith("/commit/x")
    assert {"README.md", "config.json", "model.safetensors", "sample.png", "metrics.json"} <= set(uploaded["files"])
    assert "library_name: hubmodels" in uploaded["card"]


def test_default_load_is_exact_and_auto_is_on_request(tmp_path, x, monkeypatch):
    model = make_model()
    model.save_pretrained(tmp_path / "m")
    exact = TinyNet.from_pretrained(tmp_path / "m")
    assert exact.compute_dtype == torch.float32 and exact.inference_path == "fp32"
    assert exact.head.weight.is_contiguous()  # no channels-last, no autocast, no rewrites
    with torch.inference_mode():
        ref = model(x)
        with exact.autocast():
            assert torch.equal(exact(x), ref)
    auto = TinyNet.from_pretrained(tmp_path / "m", dtype="auto")
    assert auto.dtype == torch.float32  # "auto" keeps the fp32 weights and measures its paths on first use
    # a family without module swaps has no "rewrites" path; the half paths depend on the device, not asserted
    assert auto.inference_paths()[:2] == ["fp32", "fp32-channels-last"] and "rewrites" not in auto.inference_paths()
    monkeypatch.setenv("HUBMODELS_CACHE", str(tmp_path / "cache"))
    with torch.inference_mode():
        out = auto.run_inference("x", lambda: auto(x))
    assert auto.inference_choices["x"] in auto.inference_paths()
    from hubmodels.nn.fast import psnr

    assert psnr(out.float(), ref) >= 40  # whatever it chose is within the 40 dB gate
    with pytest.raises(ValueError, match="dtype='auto'"):
        TinyNet.from_pretrained(tmp_path / "m", compile=True)


def test_forced_bf16_autocast_runs(tmp_path, x):
    model = make_model().optimize_for_inference("bf16")
    assert model.compute_dtype == torch.bfloat16
    with torch.inference_mode(), model.autocast():
        out = model(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), make_model()(x), atol=5e-2, rtol=5e-2)


def test_half_precision_weights_run_under_autocast(tmp_path, x):
    make_model().save_pretrained(tmp_path / "m")
    model = hubmodels.load(tmp_path / "m", dtype="bf16")
    assert model.dtype == torch.bfloat16 and model.compute_dtype == torch.bfloat16
    with torch.inference_mode(), model.autocast():
        assert model(x.to(torch.bfloat16)).dtype == torch.bfloat16


class DeviceArgNet(HubModel, family="devicefam", license="mit"):
    def __init__(self, width: int = 2, device: object = None):
        super().__init__()
        self.lin = nn.Linear(width, width)


def test_non_json_constructor_argument_is_refused(tmp_path):
    with pytest.raises(HubModelError, match="device are not JSON-serialisable"):
        DeviceArgNet(device=torch.device("cpu")).save_pretrained(tmp_path / "d")
    DeviceArgNet().save_pretrained(tmp_path / "ok")  # None is fine


# ---------------------------------------------------------------------------------------------------------
# the shape-only template of from_pretrained


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _every_config() -> list:
    from hubmodels.registry import families

    cases = []
    for spec in families():
        for cls in spec.model_classes:
            kwargs = spec.test_config if cls is spec.model_classes[0] else None
            if kwargs is not None:
                cases.append(pytest.param(cls, dict(kwargs), id=f"{spec.name}-test"))
        for cfg in spec.configs:
            cases.append(pytest.param(cfg.model_class, dict(cfg.kwargs), id=cfg.name))
    return cases


@pytest.mark.parametrize("cls,kwargs", _every_config())
def test_shape_only_template_has_the_real_names_and_shapes(cls, kwargs):
    """ShapeOnly skips values, never shapes: its template states the same tensors as a plain meta build (which
    computes every op's output shape), for every family's tiny model and every released configuration."""
    from hubmodels.hub import ShapeOnly

    with torch.device("meta"):
        plain = cls(**kwargs)
    with torch.device("meta"), ShapeOnly():
        fast = cls(**kwargs)
    assert _shapes(fast) == _shapes(plain)


def test_shape_only_template_of_a_tiny_model_matches_a_cpu_build():
    from hubmodels.hub import ShapeOnly
    from hubmodels.registry import families

    for spec in families():
        torch.manual_seed(0)
        real = spec.model_classes[0](**spec.test_config)
        with torch.device("meta"), ShapeOnly():
            fast = spec.model_classes[0](**spec.test_config)
        assert _shapes(fast) == _shapes(real), spec.name

