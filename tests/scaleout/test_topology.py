"""The docker-compose topology for real, without containers: the machine's PostgreSQL, one API process
(`zone-explorer serve --workers 0`) and three `zone-explorer worker` processes on loopback. Each test ends by
checking that nothing was lost or duplicated."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from tests import ROOT
from zone_explorer.cli.client import ZoneExplorerClient
from zone_explorer.store.db import get_engine, init_db
from zone_explorer.store.tokens import create_token

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JOB = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 3, "sampler": "random", "n_trials": 9}


def _cli(*args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=pass_fds,
    )


class Topology:
    def __init__(self, url: str) -> None:
        self.url = url
        # The test holds the API's listening socket and hands it to each API process (serve --fd): a restarted
        # API serves on the same port, and no other program can take the port in between.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        _, self.token = create_token(url, "scale-out test", "submit,contribute,admin")

    def start_api(self) -> None:
        fd = self.listener.fileno()
        self.api = _cli(
            "serve", "--workers", "0", "--fd", str(fd), "--db", self.url, "--log-level", "warning", pass_fds=(fd,)
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.api.poll() is not None:
                raise AssertionError(f"the API exited: {self.api.stdout.read()}")
            time.sleep(0.3)
        raise AssertionError("the API did not become ready")

    def stop_api(self) -> None:
        if self.api is not None and self.api.poll() is None:
            self.api.send_signal(signal.SIGTERM)
            self.api.wait(timeout=30)

    def start_workers(self, n: int) -> None:
        self.workers += [_cli("worker", "--db", self.url, "--heartbeat", "0.5", "--grace", "5") for _ in range(n)]

    def client(self) -> ZoneExplorerClient:
        return ZoneExplorerClient(self.base, self.token, timeout=60)

    def close(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
        self.stop_api()
        self.listener.close()


@pytest.fixture
def topology(pg_url: str) -> Iterator[Topology]:
    t = Topology(init_db(pg_url))
    t.start_api()
    try:
        yield t
    finally:
        t.close()


def _count(url: str, sql: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def _assert_exact(url: str, job_id: str, n: int) -> None:
    assert _count(url, f"SELECT count(*) FROM ze_trial_claims WHERE job_id = '{job_id}' AND status = 'done'") == n
    assert (
        _count(
            url,
            f"SELECT count(DISTINCT optuna_trial_id) FROM ze_trial_claims WHERE job_id = '{job_id}' "
            "AND status = 'done'",
        )
        == n
    )


def test_api_and_three_workers_finish_jobs_exactly(topology: Topology) -> None:
    topology.start_workers(3)
    with topology.client() as c:
        jobs = [c.submit({**JOB, "sampler_seed": i}) for i in range(2)]
        for job in jobs:
            c.wait(job["id"], timeout=300)
        for job in jobs:
            detail = c.job(job["id"])
            assert detail["status"] == "completed"
            _assert_exact(topology.url, job["id"], 9)
        workers = _count(topology.url, "SELECT count(DISTINCT worker) FROM ze_trial_claims")
        assert workers >= 2, "the trials should have been spread over the workers"
        zone = c.zone("noisy-quadratic", "fsgdm")
        assert zone  # the API reads what the workers wrote
    # trials are batch work: the workers yield the CPU to the API they share the machine with
    api_nice = os.getpriority(os.PRIO_PROCESS, topology.api.pid)
    assert [os.getpriority(os.PRIO_PROCESS, w.pid) for w in topology.workers] == [min(api_nice + 10, 19)] * 3


def test_api_restart_mid_job_loses_nothing(topology: Topology) -> None:
    topology.start_workers(3)
    with topology.client() as c:
        job = c.submit({**JOB, "epochs": 8})
        deadline = time.time() + 120
        while c.job(job["id"])["progress"]["finished"] < 1 and time.time() < deadline:
            time.sleep(0.3)
    topology.stop_api()
    topology.start_api()
    with topology.client() as c:  # a client's next requests succeed against the new process
        assert c.job(job["id"])["id"] == job["id"]
        c.wait(job["id"], timeout=300)
    _assert_exact(topology.url, job["id"], 9)


def test_concurrent_contributions_and_submissions_are_each_stored_once(topology: Topology) -> None:
    base = {
        "task": "noisy-quadratic",
        "optimizer": "fsgdm",
        "budget": {"epochs": 3},
        "seeds": [0],
        "source": {"notes": "scale-out test"},
    }

    def contribute(i: int) -> str:
        with topology.client() as c:
            return c.contribute(
                {
                    **base,
                    "config": {"c_scaling": 0.01 + i / 1000, "v_coefficient": 1.0, "lr": 0.01, "weight_decay": 5e-4},
                    "value": 0.1 + i / 100,
                }
            )["id"]

    def submit(i: int) -> str:
        with topology.client() as c:
            return c.submit({**JOB, "n_trials": 1, "sampler_seed": i}, idempotency_key=f"scale-{i}")["id"]

    with cf.ThreadPoolExecutor(max_workers=20) as pool:
        contributed = list(pool.map(contribute, range(50)))
        submitted = list(pool.map(submit, range(20)))
        # the same 20 submissions again, concurrently: the idempotency keys return the first jobs
        again = list(pool.map(submit, range(20)))
    assert len(set(contributed)) == 50 and len(set(submitted)) == 20 and again == submitted
    assert _count(topology.url, "SELECT count(*) FROM ze_contributions") == 50
    assert _count(topology.url, "SELECT count(*) FROM ze_jobs") == 20
    assert _count(topology.url, "SELECT count(*) FROM studies") == 20
