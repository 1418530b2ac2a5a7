"""A real uvicorn serving the app on loopback, as `zone-explorer serve` would: the one server starter of the tests
(web pages, tests/server's live fixtures) and of benchmarks/pages_zone.py.

The server binds port 0 and the kernel picks a free port; we read it from uvicorn's "Uvicorn running on" line.
A port is never picked here, released, then bound by the server: another process could take it in between.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests import ROOT

__all__ = ["serve", "start_server", "stop_server"]

#: uvicorn's startup line, logged at INFO once the app has started and the socket listens
_RUNNING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


def start_server(cmd: list[str], env: dict[str, str], log: Path, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start a server that listens on port 0 and logs uvicorn's startup line; return it and its base URL once
    /healthz answers. Its output goes to ``log`` (a file: a pipe nobody reads could fill and stall it)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + timeout
    base = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-4000:]}")
            if base is None and (running := _RUNNING.search(log.read_text())):
                base = running.group(1)
            if base is not None and _healthy(base):
                return proc, base
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s: {log.read_text()[-4000:]}")
    except BaseException:
        stop_server(proc)
        raise


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def serve(db_url: str, log: Path, *, workers: int = 0) -> tuple[subprocess.Popen, str]:
    """The app on ``db_url`` (migrated already) with ``workers`` embedded workers and no rate limit."""
    env = {
        "ZONE_EXPLORER_DATABASE_URL": db_url,
        "ZONE_EXPLORER_WORKERS": str(workers),
        "ZONE_EXPLORER_RATE_LIMIT": "0",
        "ZONE_EXPLORER_MIGRATE": "false",
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app", "--host", "127.0.0.1", "--port", "0"]
    # INFO for uvicorn's startup line (it names the port); no access log: the log file stays small
    return start_server([*cmd, "--log-level", "info", "--no-access-log"], env, log)
