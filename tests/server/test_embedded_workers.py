"""The worker processes `zone-explorer serve` starts beside the API, and how it looks after them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.workers import EmbeddedWorkers, assign_devices
from tests import ROOT
from tests.server.conftest import SyncASGITransport, app_settings
from zone_explorer.core.errors import FieldError
from zone_explorer.store.db import init_db


def _until(what: str, check: Callable[[], object], timeout: float = 60) -> object:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def test_embedded_workers_run_at_lower_priority_and_stop_with_the_server(sqlite_url: str) -> None:
    workers = EmbeddedWorkers(init_db(sqlite_url), 2, nice=7).start()
    try:
        expected = min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)
        deadline = time.monotonic() + 60
        while [os.getpriority(os.PRIO_PROCESS, p.pid) for p in workers.processes] != [expected] * 2:
            assert all(p.is_alive() for p in workers.processes), "a worker process died"
            assert time.monotonic() < deadline, "the workers never lowered their priority"
            time.sleep(0.1)
    finally:
        processes = list(workers.processes)
        workers.stop()
    assert not any(p.is_alive() for p in processes)


def test_embedded_workers_take_the_devices_in_turn(sqlite_url: str) -> None:
    assert assign_devices(5, ("cuda:0", "cuda:1")) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert assign_devices(2, ("cpu",)) == ["cpu", "cpu"]
    # a device list that cannot work stops the app before it touches the database
    with pytest.raises(FieldError) as err:
        create_app(app_settings(sqlite_url, workers=2, devices="cpu,tpu"))
    assert err.value.field == "ZONE_EXPLORER_DEVICES" and "unknown device 'tpu'" in err.value.message
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_readyz_reports_the_workers_and_is_503_while_one_is_dead(sqlite_url: str) -> None:
    url = init_db(sqlite_url)
    app = create_app(app_settings(url))
    # started as the app's lifespan starts them, with a restart delay long enough that the dead one stays dead
    workers = EmbeddedWorkers(url, 2, restart_backoff_s=600).start()
    app.state.embedded_workers = workers
    try:
        with httpx.Client(transport=SyncASGITransport(app), base_url="http://testserver") as api:
            ready = api.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["workers"] == {"expected": 2, "alive": 2}
            os.kill(workers.processes[0].pid, signal.SIGKILL)
            r = _until("/readyz to see the dead worker", lambda: (r := api.get("/readyz")).status_code == 503 and r)
    finally:
        workers.stop()
    assert r.json() == {
        "error": "unavailable",
        "detail": "1 of 2 embedded workers alive (the server restarts the others)",
        "field": "workers",
    }


@pytest.mark.postgres
def test_readyz_is_503_when_the_database_does_not_accept_writes(pg_url: str) -> None:
    url = init_db(pg_url)
    # every transaction of this server's sessions is read-only, as on a replica or a database set read-only
    read_only = f"{url}?options=-c%20default_transaction_read_only%3Don"
    app = create_app(app_settings(read_only, migrate=False))
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://testserver") as api:
        r = api.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["field"] == "database"
    assert r.json()["detail"].startswith("database does not accept writes: ") and "read-only" in r.json()["detail"]


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    """A process's command line, or "" once it has ended (a killed worker can vanish between two reads of /proc)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits for its parent


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_serve_restarts_a_killed_worker_and_its_workers_die_with_it(sqlite_url: str) -> None:
    url = init_db(sqlite_url)
    serve = subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", "serve", "--port", "0", "--workers", "2", "--db", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def workers() -> set[int]:
            return {pid for pid in _children(serve.pid) if "spawn_main" in _cmdline(pid)}

        first = _until("two embedded workers", lambda: len(w := workers()) == 2 and w)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        # a new worker takes its place; the other one runs on
        second = _until("the killed worker's replacement", lambda: len(w := workers() - {killed}) == 2 and w)
        assert (first - {killed}) < second
        everyone = _children(serve.pid)  # the workers, and multiprocessing's helper process
        serve.kill()
        out = serve.communicate(timeout=30)[0]
        _until("the workers to end with their server", lambda: not any(_running(pid) for pid in everyone), timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(30)
    assert "embedded worker 0 " in out or "embedded worker 1 " in out, out
    assert "died with exit code -9; restarting it in 1 s" in out, out
