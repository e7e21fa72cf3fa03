"""GPU checks: every local-hub model and every public parity case on CUDA in fp32, fp16 and bf16 against CPU
fp32, and every family's ``sample`` on the GPU. Skipped without CUDA.

On the lent GPU machine (torch and huggingface_hub, no gradio, no pytest needed)::

    make test-gpu          # = python tests/test_gpu.py, from the repository root

Each line printed is one comparison: max abs error against CPU fp32 and the PSNR over the reference's range.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
REFERENCE = Path(os.environ.get("HUBMODELS_REFERENCE", ROOT.parent / "shared" / "reference"))
HALF = {"fp16": torch.float16, "bf16": torch.bfloat16}
# Half precision keeps ~3 significant digits; through a few dozen layers outputs stay within about 1% of
# their range (PSNR ~40 dB). 30 dB leaves room for deep stacks and still fails on any real defect
# (a wrong layer or overflow gives < 15 dB or non-finite values).
HALF_PSNR_DB = 30.0

try:
    import pytest

    pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
except ImportError:  # the GPU machine may have no pytest: __main__ below runs the same checks
    pytest = None


def psnr(ours: torch.Tensor, ref: torch.Tensor) -> float:
    ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
    span = float(ref.max() - ref.min()) or 1.0
    mse = float(((ours - ref) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(span**2 / mse)


def local_models() -> list[Path]:
    hub = ROOT / "hub"
    return sorted(p for p in hub.iterdir() if (p / "config.json").is_file()) if hub.is_dir() else []


def parity_cases() -> list[Path]:
    from hubmodels import registry

    known = set(registry.converter_families())
    cases = []
    for manifest in sorted(REFERENCE.glob("*/manifest.json")) if REFERENCE.is_dir() else []:
        if json.loads(manifest.read_text()).get("family") in known:
            cases.append(manifest.parent)
    return cases


def check_parity_case(case: Path, log=print) -> None:
    from hubmodels.parity import run_case

    report = run_case(case, device="cuda")
    log(f"{case.name} cuda fp32: {report.summary()}")
    assert report.ok, [r for r in report.results if not r.passed]
    reference = run_case(case)  # CPU fp32, ours: half precision is judged against it
    for name, dtype in HALF.items():
        half = run_case(case, device="cuda", dtype=dtype)
        for check, outs in half.outputs.items():
            for out, value in outs.items():
                ref = reference.outputs[check][out]
                db = psnr(value, ref)
                log(f"{case.name} cuda {name} {check}/{out}: PSNR {db:.1f} dB, max abs err "
                    f"{(value - ref).abs().max().item():.3g}")
                assert torch.isfinite(value).all() and db >= HALF_PSNR_DB, (case.name, name, check, out, db)


def check_local_model(folder: Path, log=print) -> None:
    import hubmodels
    from hubmodels import registry

    cpu = hubmodels.load(str(folder))
    spec = registry.family_spec(cpu.family)
    ref = torch.from_numpy(__import__("numpy").asarray(spec.sample(cpu, 0))).float()
    for name, dtype in {"fp32": None, **HALF}.items():
        gpu = hubmodels.load(str(folder), device="cuda", dtype=dtype)
        assert gpu.device.type == "cuda"
        img = torch.from_numpy(__import__("numpy").asarray(spec.sample(gpu, 0))).float()
        db = psnr(img, ref)
        log(f"{folder.name} cuda {name} sample: PSNR {db:.1f} dB vs CPU fp32")
        assert db >= (40.0 if dtype is None else HALF_PSNR_DB), (folder.name, name, db)
    auto = hubmodels.load(str(folder), device="cuda", dtype="auto")
    img = torch.from_numpy(__import__("numpy").asarray(spec.sample(auto, 0))).float()
    log(f"{folder.name} cuda auto sample: PSNR {psnr(img, ref):.1f} dB vs CPU fp32; paths chosen: "
        f"{auto.inference_choices}")


def check_family_samples(log=print) -> None:
    from hubmodels import registry

    for spec in registry.families():
        torch.manual_seed(0)
        model = spec.model_classes[0](**spec.test_config).eval().to("cuda")
        image = spec.sample(model, 0)
        log(f"{spec.name} sample on cuda: {image.size}")


if pytest is not None:
    @pytest.mark.parametrize("case", parity_cases(), ids=lambda p: p.name)
    def test_parity_case_on_gpu(case):
        check_parity_case(case)

    @pytest.mark.parametrize("folder", local_models(), ids=lambda p: p.name)
    def test_local_model_on_gpu(folder):
        check_local_model(folder)

    def test_family_samples_on_gpu():
        check_family_samples()


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        sys.exit(0)
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}")
    failures = 0
    jobs = [(f"parity {c.name}", lambda c=c: check_parity_case(c)) for c in parity_cases()]
    jobs += [(f"model {f.name}", lambda f=f: check_local_model(f)) for f in local_models()]
    jobs += [("family samples", check_family_samples)]
    for label, job in jobs:
        try:
            job()
            print(f"ok   {label}")
        except Exception as err:  # noqa: BLE001 - report every failure, then exit non-zero
            failures += 1
            print(f"FAIL {label}: {type(err).__name__}: {err}")
    print(f"{len(jobs) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)
