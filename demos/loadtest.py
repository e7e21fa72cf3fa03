"""Load test of one Space on this machine: concurrent gradio_client users for a bounded time, loopback only.

    python -m demos.loadtest <space> [--clients 20] [--seconds 60] [--port 7990]

Starts ``spaces/<space>/app.py`` on 127.0.0.1, then ``--clients`` threads each send the Space's own load-test
request (its ``/example_request`` endpoint: an endpoint and its arguments, file inputs as ``{"file": path}``) in a loop until the
time is up, and reports requests, failures, latency percentiles and the server's resident memory at start,
after a warm-up, and at the end. It never sends traffic anywhere but the loopback address.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


@contextlib.contextmanager
def serve_space(app: Path, port: int, env: dict | None = None,
                seconds: float = 180) -> Iterator[subprocess.Popen]:
    """``app`` served on 127.0.0.1:``port`` for the block, terminated after it; ``RuntimeError`` (saying why)
    if the process exits or does not answer within ``seconds``."""
    from demos.launch import wait_ready

    server_env = {**os.environ, **(env or {}), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                  "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, str(app)], cwd=app.parent, env=server_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        why = wait_ready(f"http://127.0.0.1:{port}/", server, seconds)
        if why:
            raise RuntimeError(f"the Space {why}")
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def typical_request(client: Any) -> tuple[str, list]:
    """The Space's own typical request (its ``/example_request``): the endpoint and its arguments, file inputs
    ready to send."""
    from gradio_client import handle_file

    request = client.predict(api_name="/example_request")
    args = [handle_file(a["file"]) if isinstance(a, dict) and "file" in a else a for a in request["args"]]
    return request["api_name"], args


def run(space: str, *, clients: int, seconds: float, port: int, env: dict | None = None) -> dict:
    from gradio_client import Client

    app = ROOT / "spaces" / space / "app.py"
    if not app.is_file():
        raise FileNotFoundError(f"no Space {space!r} ({app} does not exist)")
    url = f"http://127.0.0.1:{port}/"
    with serve_space(app, port, env) as server:
        rss_start = _rss_mb(server.pid)
        probe = Client(url, verbose=False)
        api_name, args = typical_request(probe)
        probe.predict(*args, api_name=api_name)  # warm-up: models load, paths are chosen
        rss_warm = _rss_mb(server.pid)
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def user() -> None:
            client = Client(url, verbose=False)
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    client.predict(*args, api_name=api_name)
                    with lock:
                        latencies.append(time.perf_counter() - start)
                except Exception as err:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        failures.append(f"{type(err).__name__}: {err}")

        threads = [threading.Thread(target=user, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        series = []  # (seconds since start, RSS MB): flat in the second half means no per-request growth
        begun = time.monotonic()
        while any(t.is_alive() for t in threads) and time.monotonic() < stop + 600:
            series.append((round(time.monotonic() - begun, 1), round(_rss_mb(server.pid), 1)))
            time.sleep(min(5.0, max(0.5, seconds / 12)))
        for t in threads:
            t.join(timeout=1)
        rss_end = _rss_mb(server.pid)
        alive = server.poll() is None
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan"))
    return {"space": space, "endpoint": api_name, "clients": clients, "seconds": seconds,
            "requests": len(lat) + len(failures), "ok": len(lat), "failed": len(failures),
            "failures": sorted(set(failures))[:5], "latency_p50_s": round(pct(0.5), 3),
            "latency_p95_s": round(pct(0.95), 3), "latency_max_s": round(lat[-1], 3) if lat else None,
            "mean_s": round(statistics.mean(lat), 3) if lat else None,
            "rss_start_mb": round(rss_start, 1), "rss_after_warmup_mb": round(rss_warm, 1),
            "rss_end_mb": round(rss_end, 1), "rss_series_mb": series,
            "rss_second_half_growth_mb": round(series[-1][1] - series[len(series) // 2][1], 1) if series else None,
            "server_alive": alive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demos.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("space")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=7990)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be 1..64 and --seconds 1..600 (a bounded test)")
    result = run(args.space, clients=args.clients, seconds=args.seconds, port=args.port)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["failed"] == 0 and result["server_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
