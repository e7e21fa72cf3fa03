"""Deploy a Space, or the dashboard, to the Hugging Face Hub, with the library bundled.

    python -m demos.deploy <space> --repo me/my-space                 # a family's Gradio Space
    python -m demos.deploy dashboard --repo me/hubmodels-dashboard    # the dashboard, as a Docker Space
    python -m demos.deploy <space|dashboard> --dry-run --out DIR      # build the exact upload, offline

The folder that is uploaded carries a copy of the ``hubmodels`` package as it is in this checkout and the
local-hub models it serves, so the deployed app runs exactly this code, never a moving branch. ``--dry-run``
builds that same folder and lists it without any network access. Pushing needs a token (``HF_TOKEN`` or
``hf auth login``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "spaces"))

import bundle  # noqa: E402  (spaces/bundle.py)

DASHBOARD = "dashboard"
DASHBOARD_PORT = 8501
# What the dashboard image installs; torch's CPU wheels keep it small (Spaces' free hardware has no GPU).
DASHBOARD_PACKAGES = ("torch", "torchvision", "huggingface_hub", "safetensors", "pillow", "numpy", "jinja2",
                      "streamlit")


def _pinned(package: str) -> str:
    try:
        return f"{package}=={metadata.version(package).split('+')[0]}"
    except metadata.PackageNotFoundError:
        return package


def _dashboard_readme(models: list[str]) -> str:
    listed = "".join(f"  - {m}\n" for m in models) or "  []\n"
    return f"""---
title: hubmodels dashboard
emoji: 🖼️
colorFrom: indigo
colorTo: yellow
sdk: docker
app_port: {DASHBOARD_PORT}
pinned: false
license: apache-2.0
short_description: Compare image-synthesis GANs side by side
models:
{listed}tags:
  - hubmodels
  - gan
---
# hubmodels dashboard

Several image-synthesis GANs on the same inputs, side by side: outputs, inference time and card metrics.
Built by `python -m demos.deploy dashboard` from the hubmodels repository; the library and the models are
bundled in this Space.
"""


DOCKERFILE = f"""FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY . .
ENV HUBMODELS_HUB=/app/hub HF_HUB_OFFLINE=1
EXPOSE {DASHBOARD_PORT}
CMD ["streamlit", "run", "dashboard.py", "--server.port={DASHBOARD_PORT}", "--server.address=0.0.0.0", \\
     "--server.headless=true", "--browser.gatherUsageStats=false"]
"""


def build_dashboard(out: Path, *, force: bool = False, hub: Path | None = None) -> dict:
    """The dashboard as a Docker Space folder: Dockerfile, README (YAML header), pinned requirements, the app,
    a copy of hubmodels and every local-hub model."""
    from hubmodels.hub import local_hub_dir

    out = out.resolve()
    bundle._prepare_out(out, force)
    hub = hub or local_hub_dir()
    shutil.copy2(ROOT / "demos" / "dashboard.py", out / "dashboard.py")
    shutil.copytree(ROOT / "hubmodels", out / "hubmodels", ignore=bundle._IGNORE)
    models = []
    for folder in sorted(p for p in hub.iterdir() if (p / "config.json").is_file()) if hub.is_dir() else []:
        shutil.copytree(folder, out / "hub" / folder.name, ignore=shutil.ignore_patterns(".*"))
        models.append(f"hubmodels/{folder.name}")
    (out / "requirements.txt").write_text("\n".join(_pinned(p) for p in DASHBOARD_PACKAGES) + "\n")
    (out / "Dockerfile").write_text(DOCKERFILE)
    (out / "README.md").write_text(_dashboard_readme(models))
    (out / ".gitattributes").write_text(bundle.GITATTRIBUTES)
    (out / bundle.MARKER).write_text(json.dumps({"space": DASHBOARD, "models": models}, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"out": str(out), "space": DASHBOARD, "models": models, "bytes": size, "sdk": "docker"}


def build(target: str, out: Path, *, force: bool = False, hub: Path | None = None) -> dict:
    if target == DASHBOARD:
        return build_dashboard(out, force=force, hub=hub)
    info = bundle.bundle(target, out, force=force, hub=hub)
    return {**info, "sdk": "gradio"}


def push(info: dict, repo: str, *, private: bool = False, token: str | None = None) -> str:
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise RuntimeError("pushing needs a Hugging Face token: set HF_TOKEN or run `hf auth login` "
                           "(or use --dry-run to build the folder offline)")
    api = HfApi(token=token)
    api.create_repo(repo, repo_type="space", space_sdk=info["sdk"], private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=info["out"], repo_id=repo, repo_type="space",
                               commit_message=f"Deploy {info['space']} from hubmodels",
                               ignore_patterns=[bundle.MARKER])
    return str(getattr(commit, "commit_url", commit))


def main(argv: list[str] | None = None) -> int:
    targets = [*bundle.available_spaces(), DASHBOARD]
    parser = argparse.ArgumentParser(prog="python -m demos.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help=f"what to deploy: {', '.join(targets)}")
    parser.add_argument("--repo", help="the Space's id on the Hub, e.g. me/my-space (required unless --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="build the folder and list it; no network")
    parser.add_argument("--out", type=Path, help="build folder (default: build/deploy-<target>)")
    parser.add_argument("--force", action="store_true", help="replace an earlier build in --out")
    parser.add_argument("--hub", type=Path, help="local hub to take models from (default: $HUBMODELS_HUB or hub/)")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.target not in targets:
        parser.error(f"unknown target {args.target!r}; choose one of {', '.join(targets)}")
    if not args.dry_run and not args.repo:
        parser.error("--repo is required to push (or pass --dry-run)")
    out = args.out or ROOT / "build" / f"deploy-{args.target}"
    try:
        info = build(args.target, out, force=args.force or args.out is None, hub=args.hub)
    except bundle.BundleError as err:
        print(f"deploy: {err}", file=sys.stderr)
        return 2
    files = sorted(str(p.relative_to(info["out"])) for p in Path(info["out"]).rglob("*") if p.is_file())
    print(f"built {info['space']} ({info['sdk']} Space) in {info['out']}: {len(files)} files, "
          f"{info['bytes'] / 2**20:.1f} MiB; models: {', '.join(info['models']) or 'none'}")
    if args.dry_run:
        for name in files:
            print(f"  {name}")
        print("dry run: nothing uploaded")
        return 0
    try:
        print(f"pushed: {push(info, args.repo, private=args.private)}")
    except RuntimeError as err:
        print(f"deploy: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
