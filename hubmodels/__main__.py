"""Command line: ``python -m hubmodels {list,configs,families,convert,parity,bench}``."""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

from . import registry
from .hub import CONFIG_NAME, WEIGHTS_NAME, HubModelError, local_hub_dir, parse_device


def local_models(hub_dir: Path | None = None) -> list[dict]:
    """Every model folder in the local hub, with what its config.json says."""
    root = hub_dir or local_hub_dir()
    rows = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        config_path = folder / CONFIG_NAME
        if not config_path.is_file():
            continue
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        weights = folder / WEIGHTS_NAME
        rows.append({
            "id": f"hubmodels/{folder.name}",
            "path": str(folder),
            "family": config.get("family", "?"),
            "architecture": config.get("architecture", "?"),
            "size_mb": round(weights.stat().st_size / 2**20, 2) if weights.is_file() else 0.0,
        })
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    rows = local_models(Path(args.hub) if args.hub else None)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    root = Path(args.hub) if args.hub else local_hub_dir()
    if not rows:
        print(f"no models in the local hub {root}")
        return 0
    print(f"local hub {root}:")
    for r in rows:
        print(f"  {r['id']:<40} {r['family']:<18} {r['architecture']:<16} {r['size_mb']:>7.2f} MB")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    for cfg in registry.list_configs():
        print(f"  {cfg.name:<32} {cfg.model_class.__name__:<16} {cfg.description}")
        print(f"  {'':<32} official weights: {cfg.weights}")
    return 0


def cmd_families(args: argparse.Namespace) -> int:
    for spec in registry.families():
        print(f"  {spec.name:<20} {spec.title:<20} converters: {', '.join(spec.converter_families)}; "
              f"Space: spaces/{spec.space}/; training: python -m {spec.training}")
    for module, error in registry.spec_errors().items():
        print(f"  {module}: does not load ({error})", file=sys.stderr)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    for f in args.files:
        if not Path(f).is_file():
            print(f"error: {f} does not exist", file=sys.stderr)
            return 2
    spec = registry.family_spec(args.family)
    try:
        model = spec.convert(args.family, [Path(f) for f in args.files], args.config)
    except (HubModelError, ValueError, KeyError, RuntimeError) as err:
        print(f"error: cannot convert {', '.join(map(str, args.files))}: {err}", file=sys.stderr)
        return 1
    command = "python -m hubmodels convert " + " ".join([args.family, *map(str, args.files)]) + f" --out {args.out}"
    if not model.card.command:
        model.card.command = command
    if not model.card.how_made:
        model.card.how_made = (f"Converted from the official {args.family} release "
                               f"({', '.join(Path(f).name for f in args.files)}) with the hubmodels converter.")
    model.save_pretrained(args.out, storage_dtype=args.storage_dtype)
    print(f"wrote {args.out} ({type(model).__name__})")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from .parity import CaseError, run_case

    only = (lambda name: any(fnmatch.fnmatch(name, p) for p in args.check)) if args.check else None
    all_ok = True
    for case in args.cases:
        print(f"parity {Path(case).name}:")
        try:
            report = run_case(case, only=only, log=print, device=parse_device(args.device))
        except (CaseError, registry.UnknownFamilyError) as err:
            print(f"error: {err}", file=sys.stderr)
            all_ok = False
            continue
        print(report.summary())
        all_ok &= report.ok
    return 0 if all_ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubmodels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="models in the local hub")
    p.add_argument("--hub", help="another local hub folder (default: $HUBMODELS_HUB or the repository's hub/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("configs", help="named configurations of the released models and where their weights are")
    p.set_defaults(func=cmd_configs)

    p = sub.add_parser("families", help="registered families: converters, Space, training module")
    p.set_defaults(func=cmd_families)

    p = sub.add_parser("convert", help="official checkpoint file(s) -> a hubmodels folder")
    p.add_argument("family", choices=registry.converter_families())
    p.add_argument("files", nargs="+", help="official checkpoint file(s), in the family's order")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--config", help="named configuration when it cannot be read from the file")
    p.add_argument("--storage-dtype", choices=["float32", "float16", "bfloat16"], default=None)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("parity", help="check our outputs against an official reference case")
    p.add_argument("cases", nargs="+", help="case folder(s) with manifest.json")
    p.add_argument("--check", action="append", help="only checks matching this glob (repeatable)")
    p.add_argument("--device", default="cpu", help="run our side on cpu, cuda or cuda:N (fp32; the official "
                   "outputs were computed on CPU)")
    p.set_defaults(func=cmd_parity)

    p = sub.add_parser("bench", help="same as python -m hubmodels.bench ...", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except registry.UnknownFamilyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
