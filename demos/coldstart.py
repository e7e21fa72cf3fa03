"""Cold-start figures: how long a user waits before the first answer.

    python -m demos.coldstart [--spaces NAME ...] [--json FILE]

Two measurements, each from a fresh Python process so that nothing is already imported or cached in memory:

* ``from_pretrained``: for every model folder of the local hub, the time of ``hubmodels.load(folder)`` (reading
  and verifying the safetensors file, building the model) after the imports, and the imports themselves apart;
* each Space (``spaces/<name>/app.py``, started on 127.0.0.1): seconds from the process start until the page
  answers, and until its first typical request (the Space's ``/example_request``) is answered through
  ``gradio_client``: the wait of the first user of a freshly started Space.

Only the loopback address is contacted. Timings depend on the machine and on what else runs on it: they are
reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demos.launch import discover_spaces, port_free  # noqa: E402
from demos.loadtest import serve_space, typical_request  # noqa: E402

# Runs in a fresh interpreter: prints one JSON line with the import time and the load time.
_LOAD_ONE = """
import json, sys, time
t0 = time.perf_counter()
import torch, hubmodels
t1 = time.perf_counter()
model = hubmodels.load(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "class": type(model).__name__,
                  "parameters": sum(p.numel() for p in model.parameters())}))
"""


def time_load(folder: Path, env: dict | None = None) -> dict:
    """``hubmodels.load`` of one local model folder in a fresh process: import and load seconds."""
    proc = subprocess.run([sys.executable, "-c", _LOAD_ONE, str(folder)], capture_output=True, text=True,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}, timeout=600)
    if proc.returncode != 0:
        return {"model": folder.name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"model": folder.name, "class": out["class"], "parameters": out["parameters"],
            "import_s": round(out["import_s"], 3), "from_pretrained_s": round(out["load_s"], 3)}


def time_space(app: Path, port: int, env: dict | None = None, timeout: float = 300) -> dict:
    """Start one Space and time its page and its first typical request, from the process start."""
    from gradio_client import Client

    if not port_free("127.0.0.1", port):
        return {"space": app.parent.name, "error": f"port {port} is in use"}
    start = time.perf_counter()
    try:
        with serve_space(app, port, env, timeout):
            ready = time.perf_counter() - start
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            api_name, args = typical_request(client)
            asked = time.perf_counter()
            client.predict(*args, api_name=api_name)
            answered = time.perf_counter()
            client.predict(*args, api_name=api_name)
            second = time.perf_counter() - answered
    except RuntimeError as err:
        return {"space": app.parent.name, "error": str(err)}
    return {"space": app.parent.name, "endpoint": api_name, "page_ready_s": round(ready, 2),
            "first_request_s": round(answered - asked, 2), "first_answer_after_start_s": round(answered - start, 2),
            "second_request_s": round(second, 2)}


def _table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, r.get("error", ""))) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demos.coldstart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", nargs="*", default=None,
                        help="Space folder names (default: every registered family's Space); none: skip the Spaces")
    parser.add_argument("--models", nargs="*", default=None,
                        help="local hub folder names (default: all); none: skip the loads")
    parser.add_argument("--port", type=int, default=7980, help="first port tried for the Spaces")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from hubmodels.hub import local_hub_dir

    hub = local_hub_dir()
    folders = sorted(p for p in hub.iterdir() if (p / "config.json").is_file()) if hub.is_dir() else []
    if args.models is not None:
        unknown = set(args.models) - {p.name for p in folders}
        if unknown:
            parser.error(f"no local model {', '.join(sorted(unknown))}; known: {', '.join(p.name for p in folders)}")
        folders = [p for p in folders if p.name in args.models]
    apps = [app for _, app in discover_spaces()]
    if args.spaces is not None:
        unknown = set(args.spaces) - {a.parent.name for a in apps}
        if unknown:
            parser.error(f"no Space {', '.join(sorted(unknown))}; known: {', '.join(a.parent.name for a in apps)}")
        apps = [a for a in apps if a.parent.name in args.spaces]

    loads = [time_load(folder) for folder in folders]
    spaces = [time_space(app, args.port + k) for k, app in enumerate(apps)]
    if loads:
        print(_table(loads, ["model", "class", "parameters", "import_s", "from_pretrained_s"]))
    if spaces:
        print(_table(spaces, ["space", "endpoint", "page_ready_s", "first_request_s", "first_answer_after_start_s",
                              "second_request_s"]))
    result = {"from_pretrained": loads, "spaces": spaces}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if any("error" in r for r in loads + spaces) else 0


if __name__ == "__main__":
    sys.exit(main())
