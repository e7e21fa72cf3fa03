"""The hubmodels dashboard: several models on the same inputs, side by side.

    streamlit run demos/dashboard.py            # or `make demo`, which starts it with every Space

Modes:

* **Translate an image**: one input (an upload or a SynthFaces example) through every selected
  image-conditioned model, one column per model, one sample per shared seed;
* **Generate**: the same seeds and truncation through every selected generator;
* **Official vs ours**: a parity case folder (``python -m hubmodels parity``'s format) shown as the official
  outputs recorded in it beside ours on the same inputs, with a per-pixel error map.

Every model of the local hub is listed with its family, size, licence and card metrics, and any Hub id or
folder can be added. What a family shows comes from its spec (``FamilySpec.translate`` / ``generate``): the
dashboard names no family. Models load with ``dtype="auto"`` (the fastest path this machine measures within
PSNR 40 dB of fp32; ``HUBMODELS_DTYPE`` overrides it); each is warmed up once, so the time shown is a warm
call on this machine.
"""
from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from hubmodels import registry  # noqa: E402
from hubmodels.__main__ import local_models  # noqa: E402
from hubmodels.hub import HubModel, ModelNotFoundError, load, local_hub_dir, resolve  # noqa: E402
from hubmodels.images import ImageInputError, load_image  # noqa: E402

MODES = ("Translate an image", "Generate", "Official vs ours")
TASK = {"Translate an image": "translate", "Generate": "generate"}
MAX_SEEDS = 8
REFERENCE = ROOT.parent / "shared" / "reference"
TILE = 128  # px: every output is shown (and put in the download grid) at this size


# ---------------------------------------------------------------------------------------------
# models


def card_info(model_id: str) -> dict[str, Any]:
    """Family, licence and metrics of a model from its folder, without loading the weights."""
    info: dict[str, Any] = {"id": model_id, "family": "?", "license": "?", "metrics": {}, "size_mb": None}
    try:
        _, folder, _ = resolve(model_id)
    except (ModelNotFoundError, ValueError):
        return info
    if folder is None:
        return info
    weights = folder / "model.safetensors"
    info["size_mb"] = round(weights.stat().st_size / 2**20, 2) if weights.is_file() else None
    try:
        info["family"] = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("family", "?")
        info["metrics"] = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    card = folder / "README.md"
    if card.is_file():
        from huggingface_hub import ModelCard

        try:
            info["license"] = ModelCard.load(card).data.license or "?"
        except Exception:  # noqa: BLE001 - a malformed card must not hide the model
            pass
    return info


def model_metrics(model_id: str, model: HubModel) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's ``metrics.json`` (what ``python -m hubmodels.evaluate --write`` and training write) and the
    record of its last evaluation in ``card.json`` (inputs, extractor); the loaded card's metrics when the
    model has no local folder."""
    metrics, evaluation = dict(model.card.metrics), {}
    try:
        _, folder, _ = resolve(model_id)
    except (ModelNotFoundError, ValueError):
        folder = None
    if folder is not None:
        try:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        try:
            evaluation = json.loads((folder / "card.json").read_text(encoding="utf-8")).get("evaluation") or {}
        except (OSError, ValueError, AttributeError):
            evaluation = {}
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}, evaluation


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_model(model_id: str, stamp: float | None) -> HubModel:
    """One loaded model per id and weights file version (``stamp``: a republished folder reloads)."""
    return load(model_id, dtype=os.environ.get("HUBMODELS_DTYPE", "").strip() or "auto")


def get_model(model_id: str) -> HubModel:
    try:
        _, folder, _ = resolve(model_id)
        stamp = (folder / "model.safetensors").stat().st_mtime if folder is not None else None
    except (ModelNotFoundError, ValueError, OSError):
        stamp = None
    return cached_model(model_id, stamp)


def task_of(family: str) -> set[str]:
    try:
        spec = registry.family_spec(family)
    except registry.UnknownFamilyError:
        return set()
    return {task for task in ("translate", "generate") if getattr(spec, task) is not None}


def run_model(model_id: str, task: str, image: Image.Image | None, seeds: list[int],
              psi: float) -> dict[str, Any]:
    """Outputs and warm timing of one model; errors are returned, not raised, so other columns still show."""
    row: dict[str, Any] = {"model": model_id, "outputs": [], "error": None}
    try:
        model = get_model(model_id)
        spec = registry.family_spec(model.family)
        fn = getattr(spec, task)
        if fn is None:
            raise ValueError(f"{spec.title} models cannot {task}")
        call = (lambda: fn(model, image, seeds)) if task == "translate" else (lambda: fn(model, seeds, psi))
        warm = st.session_state.setdefault("warm", set())
        key = (model_id, task, image.size if image is not None else None, len(seeds))
        if key not in warm:  # the first call may measure inference paths (dtype="auto"): not a fair time
            call()
            warm.add(key)
        start = time.perf_counter()
        row["outputs"] = call()
        row["ms"] = (time.perf_counter() - start) * 1e3
        row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
        row["path"] = model.inference_path
        row["family"] = spec.title
        row["metrics"], row["evaluation"] = model_metrics(model_id, model)
    except (ValueError, OSError, ModelNotFoundError) as err:
        row["error"] = f"{type(err).__name__}: {err}"
    return row


# ---------------------------------------------------------------------------------------------
# images


def tile(img: Image.Image) -> Image.Image:
    return img.convert("RGB").resize((TILE, TILE), Image.Resampling.LANCZOS)


def comparison_grid(rows: list[dict[str, Any]], source: Image.Image | None) -> Image.Image:
    """One PNG: a column per model (its id on top), its outputs below; the input first when there is one."""
    columns: list[tuple[str, list[Image.Image]]] = []
    if source is not None:
        columns.append(("input", [source]))
    columns += [(r["model"], [img for _, img in r["outputs"]]) for r in rows if r["outputs"]]
    height = max((len(imgs) for _, imgs in columns), default=1)
    pad, head = 4, 18
    grid = Image.new("RGB", (len(columns) * (TILE + pad) + pad, head + height * (TILE + pad) + pad), "white")
    draw = ImageDraw.Draw(grid)
    for c, (name, imgs) in enumerate(columns):
        x = pad + c * (TILE + pad)
        draw.text((x, 3), name[-22:], fill="black")
        for r, img in enumerate(imgs):
            grid.paste(tile(img), (x, head + pad + r * (TILE + pad)))
    return grid


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def example_images() -> dict[str, Image.Image]:
    from hubmodels.data.synthfaces import DOMAINS, VAL_INDEX_OFFSET, render_face

    return {f"SynthFaces {d} #{i}": render_face(0, VAL_INDEX_OFFSET + i, size=128, domain=d).image
            for i, d in enumerate(DOMAINS)}


def error_map(ours, official) -> Image.Image:
    """|ours - official| of one image, scaled so the largest error is white."""
    diff = (ours - official).abs().amax(0)
    diff = diff / diff.max().clamp_min(1e-12)
    return Image.fromarray((diff * 255).byte().numpy(), "L")


def as_picture(t) -> Image.Image:
    from hubmodels.images import to_pil

    return to_pil(t.float().clamp(-1, 1) if t.min() < 0 else t.float() * 2 - 1)[0]


# ---------------------------------------------------------------------------------------------
# page


def sidebar() -> tuple[str, list[str], list[int], float]:
    st.sidebar.title("hubmodels")
    mode = st.sidebar.radio("Mode", MODES, key="mode")
    if mode == MODES[2]:
        return mode, [], [], 1.0
    rows = [card_info(r["id"]) for r in local_models()]
    extra = st.sidebar.text_input("Add models (Hub ids or folders, comma-separated)", key="extra")
    rows += [card_info(x.strip()) for x in extra.split(",") if x.strip()]
    wanted = TASK[mode]
    offered = [r["id"] for r in rows if wanted in task_of(r["family"]) or r["family"] == "?"]
    # one selection per mode: switching modes must not carry one mode's models into the other's list
    chosen = st.sidebar.multiselect("Models", offered, default=offered[:4], key=f"models-{wanted}")
    first = int(st.sidebar.number_input("First seed", 0, 2**31 - 1, 0, key="seed"))
    count = int(st.sidebar.number_input("Samples per model", 1, MAX_SEEDS, 2, key="count"))
    psi = float(st.sidebar.slider("Truncation psi", 0.0, 1.0, 1.0, key="psi")) if wanted == "generate" else 1.0
    st.sidebar.caption(f"Local hub: {local_hub_dir()} ({len(rows)} models)")
    with st.sidebar.expander("Models in the hub"):
        st.dataframe([{"model": r["id"], "family": r["family"], "size (MB)": r["size_mb"], "license": r["license"],
                       "metrics": len(r["metrics"])} for r in rows], hide_index=True)
    return mode, chosen, list(range(first, first + count)), psi


def input_image() -> Image.Image | None:
    examples = example_images()
    upload = st.file_uploader("Input image", type=["png", "jpg", "jpeg", "webp", "bmp"], key="upload")
    if upload is not None:
        try:
            return load_image(upload.getvalue(), name="uploaded image")
        except ImageInputError as err:
            st.error(str(err))
            return None
    name = st.selectbox("...or a SynthFaces example (held out from training)", list(examples), key="example")
    return examples[name]


def _offered_any(task: str) -> bool:
    return any(task in task_of(card_info(r["id"])["family"]) for r in local_models())


def compare(mode: str, models: list[str], seeds: list[int], psi: float) -> None:
    task = TASK[mode]
    image = input_image() if task == "translate" else None
    if task == "translate" and image is None:
        return
    if not models:
        st.info(f"No model selected. The local hub has no model that can {task}"
                if not st.session_state.get(f"models-{task}") and not _offered_any(task)
                else "Select models in the sidebar.")
        return
    if image is not None:
        st.image(image, caption="input", width=TILE)
    if not st.button("Run", type="primary", key="run"):
        return
    progress = st.progress(0.0, text="running...")
    rows = []
    for k, model_id in enumerate(models):
        progress.progress(k / len(models), text=f"{model_id}...")
        rows.append(run_model(model_id, task, image, seeds, psi))
    progress.progress(1.0, text="done")
    show(rows, image)


def show(rows: list[dict[str, Any]], image: Image.Image | None) -> None:
    columns = st.columns(len(rows))
    for col, row in zip(columns, rows):
        with col:
            st.markdown(f"**{row['model']}**")
            if row["error"]:
                st.error(row["error"])
                continue
            st.caption(f"{row['family']} · {row['ms']:.0f} ms · {row['params_m']:.2f} M params · path "
                       f"{row['path']}")
            for caption, img in row["outputs"]:
                st.image(img, caption=caption, width=TILE)
    ok = [r for r in rows if not r["error"]]
    if not ok:
        return
    table = []
    for r in ok:
        table.append({"model": r["model"], "time (ms)": round(r["ms"], 1), "params (M)": round(r["params_m"], 3),
                      **{k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))}})
    st.subheader("Time and metrics")
    st.dataframe(table, hide_index=True)
    st.bar_chart({r["model"]: r["ms"] for r in ok}, x_label="model", y_label="ms per call (warm)")
    metrics_table(ok)
    shared = sorted(set.intersection(*(set(r["metrics"]) for r in ok))) if len(ok) > 1 else []
    if shared:
        metric = st.selectbox("Compare a card metric", shared, key="metric")
        st.bar_chart({r["model"]: r["metrics"][metric] for r in ok}, y_label=metric)
    st.download_button("Download the comparison (PNG)", png_bytes(comparison_grid(ok, image)),
                       file_name="hubmodels-comparison.png", mime="image/png", key="download")


def metrics_table(rows: list[dict[str, Any]]) -> None:
    """Every selected model's metrics.json, one row per metric and one column per model (blank: not measured),
    with how each model's evaluation was run: numbers from other extractors or sizes do not compare."""
    names = sorted(set().union(*(r["metrics"] for r in rows)))
    if not names:
        return
    st.subheader("Metrics (metrics.json)")
    st.dataframe([{"metric": m, **{r["model"]: r["metrics"].get(m) for r in rows}} for m in names], hide_index=True)
    for r in rows:
        ev = r.get("evaluation") or {}
        if ev:
            st.caption(f"{r['model']}: `python -m hubmodels.evaluate` on {ev.get('n')} held-out {ev.get('dataset')} "
                       f"inputs (seed {ev.get('seed')}), features {ev.get('extractor_label', ev.get('extractor'))}, "
                       f"diversity {ev.get('distance_label', ev.get('distance'))}, {ev.get('date', '')}")


def parity_view() -> None:
    from hubmodels.parity import CaseError, read_case, run_case

    cases = sorted(p.parent for p in REFERENCE.glob("*/manifest.json")) if REFERENCE.is_dir() else []
    known = set(registry.converter_families())
    cases = [c for c in cases if json.loads((c / "manifest.json").read_text()).get("family") in known]
    typed = st.text_input("Parity case folder", key="case_path",
                          placeholder="a folder with manifest.json, tensors.safetensors and the official files")
    case = Path(typed) if typed else (st.selectbox("...or a reference case", cases, format_func=lambda p: p.name,
                                                   key="case") if cases else None)
    if case is None:
        st.info("No parity case found: give a case folder.")
        return
    if not st.button("Compare", type="primary", key="compare"):
        return
    try:
        with st.spinner(f"converting {case.name} and running its checks..."):
            report = run_case(case)
            _, manifest, tensors = read_case(case)
    except (CaseError, registry.UnknownFamilyError, OSError, ValueError) as err:
        st.error(str(err))
        return
    st.markdown(f"**{report.summary()}**")
    st.dataframe([{"check": r.name, "passed": r.passed, "max abs err": r.max_abs_err, "detail": r.detail}
                  for r in report.results], hide_index=True)
    for check in manifest["checks"]:
        ours = report.outputs.get(check["name"], {})
        for out, key in check.get("outputs", {}).items():
            official = tensors[key].float()
            if out not in ours or official.dim() != 4 or official.shape[1] not in (1, 3):
                continue  # images only
            err = (ours[out] - official).abs().max().item()
            st.markdown(f"`{check['name']}` / `{out}`: max abs err {err:.3g}")
            cols = st.columns(3)
            cols[0].image(as_picture(official[:1]), caption="official", width=TILE)
            cols[1].image(as_picture(ours[out][:1]), caption="ours", width=TILE)
            cols[2].image(error_map(ours[out][0], official[0]), caption=f"|error| (white = {err:.2g})", width=TILE)


def main() -> None:
    st.set_page_config(page_title="hubmodels dashboard", layout="wide")
    mode, models, seeds, psi = sidebar()
    st.title(mode)
    if mode == MODES[2]:
        parity_view()
    else:
        compare(mode, models, seeds, psi)


if __name__ == "__main__":  # streamlit runs the file as __main__; importing it (tests) draws nothing
    main()
