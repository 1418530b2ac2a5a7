"""A real uvicorn serving the app on a free loopback port, as `zone-explorer serve` would (used by the web tests and
benchmarks/pages_zone.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests import ROOT

__all__ = ["free_port", "serve", "start_server", "stop_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    cmd: list[str], env: dict[str, str], port: int, log: Path, timeout: float = 60.0
) -> tuple[subprocess.Popen, str]:
    """Start the server, its output going to ``log`` (a file: a pipe nobody reads could fill and stall it)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"server at {base} not ready after {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def serve(db_url: str, log: Path, *, workers: int = 0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        "ZONE_EXPLORER_DATABASE_URL": db_url,
        "ZONE_EXPLORER_WORKERS": str(workers),
        "ZONE_EXPLORER_RATE_LIMIT": "0",
        "ZONE_EXPLORER_MIGRATE": "false",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "server.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return start_server(cmd, env, port, log)
