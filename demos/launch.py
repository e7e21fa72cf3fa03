"""Start the whole hub on localhost: an index page, every Space in spaces/, and the dashboard.

    python -m demos.launch [--host 127.0.0.1] [--port 7860] [--only SPACE ...] [--no-dashboard]

The index page lists the local hub's models and links to each running Space. Ctrl-C stops everything.
"""
from __future__ import annotations

import argparse
import html
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hubmodels.__main__ import local_models  # noqa: E402
from hubmodels.hub import local_hub_dir  # noqa: E402
from hubmodels.registry import families  # noqa: E402


def discover_spaces(only: list[str] | None = None) -> list[Path]:
    """The app of every registered family's Space (``--only``: just these Space names)."""
    apps = [spec.space_dir / "app.py" for spec in families()]
    return [a for a in apps if a.is_file() and (not only or a.parent.name in only)]


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def next_free_port(host: str, start: int, taken: set[int]) -> int:
    port = start
    while port in taken or not port_free(host, port):
        port += 1
    taken.add(port)
    return port


def index_html(services: list[tuple[str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m['id'])}</td><td>{html.escape(m['family'])}</td>"
        f"<td>{html.escape(m['architecture'])}</td><td>{m['size_mb']:.2f} MB</td></tr>"
        for m in local_models()
    ) or "<tr><td colspan=4>no models published yet</td></tr>"
    links = "".join(f'<li><a href="{html.escape(u)}">{html.escape(n)}</a> {html.escape(u)}</li>' for n, u in services)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>hubmodels</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}td,th{{padding:.3rem .8rem;text-align:left}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>hubmodels</h1><p>Image-synthesis GANs you can try, load, compare and train.</p>
<h2>Spaces and dashboard</h2><ul>{links or '<li>no Spaces yet</li>'}</ul>
<h2>Local hub</h2><p><code>{html.escape(str(local_hub_dir()))}</code></p>
<table><tr><th>model id</th><th>family</th><th>architecture</th><th>weights</th></tr>{rows}</table>
<p>Load one with <code>hubmodels.load("hubmodels/&lt;name&gt;")</code>.</p></body></html>"""


def serve_index(host: str, port: int, services: list[tuple[str, str]]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            body = index_html(services).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860, help="index page port; Spaces take the next free ones")
    parser.add_argument("--only", nargs="*", help="Space folder names to start (default: all)")
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--exit-after", type=float, default=0, help="stop after this many seconds (for tests)")
    args = parser.parse_args(argv)
    known = [spec.space for spec in families()]
    unknown = sorted(set(args.only or ()) - set(known))
    if unknown:
        parser.error(f"--only: unknown Space(s) {', '.join(unknown)}; Spaces: {', '.join(known)}")

    taken: set[int] = set()
    index_port = next_free_port(args.host, args.port, taken)
    services: list[tuple[str, str]] = []
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for app in discover_spaces(args.only):
        port = next_free_port(args.host, index_port + 1, taken)
        space_env = {**env, "GRADIO_SERVER_NAME": args.host, "GRADIO_SERVER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, str(app)], cwd=str(app.parent), env=space_env))
        services.append((f"Space {app.parent.name}", f"http://{args.host}:{port}/"))
    dashboard = ROOT / "demos" / "dashboard.py"
    if dashboard.is_file() and not args.no_dashboard:
        port = next_free_port(args.host, 8501, taken)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(dashboard), "--server.port", str(port),
             "--server.address", args.host, "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=str(ROOT), env=env))
        services.append(("Dashboard", f"http://{args.host}:{port}/"))
    server = serve_index(args.host, index_port, services)

    print(f"hubmodels index: http://{args.host}:{index_port}/", flush=True)
    for name, url in services:
        print(f"  {name}: {url}", flush=True)
    print("Ctrl-C to stop.", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        deadline = time.monotonic() + args.exit_after if args.exit_after else None
        while not stop.is_set():
            if deadline and time.monotonic() > deadline:
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
