"""Write a deployable Hugging Face Space folder for one of our Spaces.

    python spaces/bundle.py <space> --out build/space-<space>      # e.g. the Space folder spaces/<space>/
    hf upload <user>/<space-name> build/space-<space> . --repo-type space

The folder holds the Space's own files (app.py, README.md with the Spaces YAML header,
requirements.txt), ``common.py``, a copy of the ``hubmodels`` package (no tests, no caches) and the
local-hub model folders the Space lists, under ``hub/``, where the bundled library looks first. The
app finds all of them beside itself, so it runs on Hugging Face unchanged.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

SPACES_DIR = Path(__file__).resolve().parent
ROOT = SPACES_DIR.parent
MARKER = ".hubmodels-bundle"
# Large binaries go through Git LFS (Hugging Face refuses them in plain git).
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.png", "*.jpg", "*.jpeg", "*.webp", "*.gif",
))
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "tests", "test_*.py", "*.egg-info", ".*")


class BundleError(RuntimeError):
    pass


def available_spaces() -> list[str]:
    """Spaces of the registered families that have an app."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from hubmodels.registry import families

    return sorted(spec.space for spec in families() if (SPACES_DIR / spec.space / "app.py").is_file())


def space_families(space: str) -> tuple[str, ...]:
    """The model families a Space serves, from the spec of the family that owns it (gradio not needed)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from hubmodels.registry import UnknownFamilyError, space_spec

    try:
        return space_spec(space).converter_families
    except UnknownFamilyError as err:
        raise BundleError(str(err)) from err


def _hub_dir() -> Path:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from hubmodels.hub import local_hub_dir

    return local_hub_dir()


def hub_models(families: tuple[str, ...], hub: Path) -> dict[str, Path]:
    """Local-hub folders of ``families``: folder name -> path (read from config.json, torch not needed)."""
    found = {}
    if not hub.is_dir():
        return found
    for folder in sorted(p for p in hub.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("family") in families:
            found[folder.name] = folder
    return found


def _folder_name(model_id: str) -> str:
    parts = model_id.strip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    return parts[1] if parts[0] == "hubmodels" else f"{parts[0]}--{parts[1]}"


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise BundleError(f"{out} is not empty and was not written by spaces/bundle.py; choose another --out")
        if not force:
            raise BundleError(f"{out} holds an earlier bundle; pass --force to replace it")
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def bundle(space: str, out: str | Path, *, models: list[str] | None = None, include_models: bool = True,
           force: bool = False, hub: str | Path | None = None) -> dict:
    """Write the Space folder; returns what went in (files, models, size)."""
    src = SPACES_DIR / space
    if not (src / "app.py").is_file():
        raise BundleError(
            f"no Space {space!r}: {src / 'app.py'} does not exist; Spaces: {', '.join(available_spaces())}"
        )
    for required in ("README.md", "requirements.txt"):
        if not (src / required).is_file():
            raise BundleError(f"{src / required} is missing: a Space needs it on Hugging Face")
    hub_dir = Path(hub) if hub is not None else _hub_dir()
    offered = hub_models(space_families(space), hub_dir) if include_models else {}
    if models:
        wanted = {_folder_name(m): m for m in models}
        unknown = [m for name, m in wanted.items() if name not in offered]
        if unknown:
            raise BundleError(f"not in the local hub {hub_dir} as {space} models: {', '.join(unknown)}; "
                              f"available: {', '.join(offered) or 'none'}")
        offered = {name: offered[name] for name in wanted}

    out = Path(out).resolve()
    if out == ROOT or (ROOT in out.parents and out.parts[len(ROOT.parts)] in ("hubmodels", "spaces", "hub")):
        raise BundleError(f"--out {out} is inside the sources; choose a build folder")
    _prepare_out(out, force)

    for item in sorted(src.iterdir()):
        if item.name == "__pycache__" or item.suffix == ".pyc":
            continue
        if item.is_dir():
            shutil.copytree(item, out / item.name, ignore=_IGNORE)
        else:
            shutil.copy2(item, out / item.name)
    shutil.copy2(SPACES_DIR / "common.py", out / "common.py")
    shutil.copytree(ROOT / "hubmodels", out / "hubmodels", ignore=_IGNORE)
    for name, folder in offered.items():
        shutil.copytree(folder, out / "hub" / name, ignore=shutil.ignore_patterns(".*"), symlinks=False)
    (out / ".gitattributes").write_text(GITATTRIBUTES)
    (out / MARKER).write_text(json.dumps({"space": space, "models": sorted(offered)}, indent=2) + "\n")

    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"out": str(out), "space": space, "models": [f"hubmodels/{n}" for n in offered], "bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("space", help=f"Space folder name ({', '.join(available_spaces()) or 'none yet'})")
    parser.add_argument("--out", required=True,
                        help="folder to write (empty, new, or an earlier bundle with --force)")
    parser.add_argument("--model", action="append", dest="models", metavar="ID",
                        help="bundle only this local-hub model (repeatable; default: every model the Space lists)")
    parser.add_argument("--no-models", action="store_true",
                        help="bundle no weights (the Space then loads the Hub ids in its env variable)")
    parser.add_argument("--hub", help="local hub folder to take models from (default: $HUBMODELS_HUB or hub/)")
    parser.add_argument("--force", action="store_true", help="replace an earlier bundle in --out")
    args = parser.parse_args(argv)
    try:
        info = bundle(args.space, args.out, models=args.models, include_models=not args.no_models,
                      force=args.force, hub=args.hub)
    except BundleError as err:
        print(f"bundle: {err}", file=sys.stderr)
        return 2
    print(f"wrote Space {info['space']} to {info['out']} ({info['bytes'] / 2**20:.1f} MiB)")
    print(f"  models: {', '.join(info['models']) or 'none (set the Space env variable to Hub ids)'}")
    print(f"  deploy: hf upload <user>/<space-name> {info['out']} . --repo-type space")
    return 0


if __name__ == "__main__":
    sys.exit(main())
