"""Start the whole hub on localhost: an index page, every family's Space, and the dashboard.

    python -m demos.launch [--host 127.0.0.1] [--port 7860] [--only SPACE ...] [--no-dashboard]

Ports are fixed: the index on ``--port`` (7860), the Spaces on the next ports in the order the families
are registered (``hubmodels.registry.FAMILY_SPECS``: the first family's Space is on 7861), the dashboard on 8501
(``--dashboard-port``). The launcher waits until each service answers and prints its URL, or reports the one
that failed to start (its log is under ``outputs/launch/``) and keeps the others running. The index page
lists the local hub's models and links to every service. Ctrl-C (or SIGTERM) stops everything.
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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hubmodels.__main__ import local_models  # noqa: E402
from hubmodels.hub import local_hub_dir  # noqa: E402
from hubmodels.registry import families  # noqa: E402


def discover_spaces(only: list[str] | None = None) -> list[tuple[int, Path]]:
    """(port offset, app) of every registered family's Space (``--only``: just these Space names).

    The offset is the family's place in the registry, so a Space keeps its port whatever ``--only`` says.
    """
    apps = [(k + 1, spec.space_dir / "app.py") for k, spec in enumerate(families())]
    return [(k, a) for k, a in apps if a.is_file() and (not only or a.parent.name in only)]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> str | None:
    """None once ``url`` answers; else why not (the process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return f"exited with status {code}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return None
        except OSError:
            time.sleep(0.5)
    return f"did not answer within {timeout:.0f} s"


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


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
    parser.add_argument("--port", type=int, default=7860,
                        help="index page port; the Spaces take the next ones, in registry order")
    parser.add_argument("--dashboard-port", type=int, default=8501)
    parser.add_argument("--start-timeout", type=float, default=180, help="seconds to wait for each service")
    parser.add_argument("--only", nargs="*", help="Space folder names to start (default: all)")
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--exit-after", type=float, default=0, help="stop after this many seconds (for tests)")
    args = parser.parse_args(argv)
    known = [spec.space for spec in families()]
    unknown = sorted(set(args.only or ()) - set(known))
    if unknown:
        parser.error(f"--only: unknown Space(s) {', '.join(unknown)}; Spaces: {', '.join(known)}")

    if not port_free(args.host, args.port):
        parser.error(f"port {args.port} on {args.host} is in use: stop what holds it, or pass --port")
    # From here on SIGTERM means "stop everything cleanly", even while the services are still starting (a
    # supervisor may stop us as soon as it reads the "running" line, or before).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logs = ROOT / "outputs" / "launch"
    logs.mkdir(parents=True, exist_ok=True)
    services: list[tuple[str, str]] = []
    # name, url, health url, and the process (None: its fixed port is held by another program, so it
    # would never answer as itself; it is reported, not started)
    started: list[tuple[str, str, str, subprocess.Popen | None]] = []

    def launch(name: str, port: int, cmd: list[str], cwd: Path, env: dict, health: str, log_name: str) -> None:
        url = f"http://{args.host}:{port}/"
        proc = None
        if port_free(args.host, port):
            log = open(logs / f"{log_name}.log", "w")  # noqa: SIM115 - stays open while the process runs
            proc = subprocess.Popen(cmd, cwd=str(cwd), env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((name, url, url + health, proc))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for offset, app in discover_spaces(args.only):
        port = args.port + offset
        space_env = {**env, "GRADIO_SERVER_NAME": args.host, "GRADIO_SERVER_PORT": str(port)}
        launch(f"Space {app.parent.name}", port, [sys.executable, str(app)], app.parent, space_env, "",
               app.parent.name)
    dashboard = ROOT / "demos" / "dashboard.py"
    if dashboard.is_file() and not args.no_dashboard:
        launch("Dashboard", args.dashboard_port,
               [sys.executable, "-m", "streamlit", "run", str(dashboard), "--server.port", str(args.dashboard_port),
                "--server.address", args.host, "--server.headless", "true", "--browser.gatherUsageStats", "false"],
               ROOT, env, "_stcore/health", "dashboard")
    server = serve_index(args.host, args.port, services)
    print(f"hubmodels index: http://{args.host}:{args.port}/", flush=True)
    failed = 0
    for name, url, health, proc in started:
        start = time.monotonic()
        if stop.is_set():
            problem = "stopped before it was ready"
        elif proc is None:
            problem = f"port {url.rsplit(':', 1)[1].strip('/')} is in use by another program"
        else:
            problem = wait_ready(health, proc, args.start_timeout)
        if problem is None:
            services.append((name, url))
            print(f"  {name}: {url} (ready in {time.monotonic() - start:.1f} s)", flush=True)
        else:
            failed += 1
            if proc is not None:
                proc.kill()
            print(f"  {name}: FAILED to start ({problem}); logs in {logs}", flush=True)
    print(f"{len(services)} service(s) running" + (f", {failed} failed" if failed else "") + ". Ctrl-C to stop.",
          flush=True)
    procs = [proc for _, _, _, proc in started if proc is not None]

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
