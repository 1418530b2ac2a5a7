"""Shared pieces of the REST benchmarks: a throw-away database, a 10,000-trial study, servers as subprocesses.

The benchmark process is the load generator; every server runs in its own process on loopback.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402

from zone_explorer.core.zone_constant import zone_constant  # noqa: E402
from zone_explorer.engine.jobs import JobSpec, create_job  # noqa: E402
from zone_explorer.engine.studies import storage_for  # noqa: E402
from zone_explorer.store.db import get_engine, init_db, session_scope  # noqa: E402
from zone_explorer.store.models import Job  # noqa: E402

PG_ADMIN_URL = os.environ.get("ZONE_EXPLORER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def database(backend: str) -> Iterator[str]:
    """A new, migrated database: a SQLite file in a temporary directory, or a PostgreSQL database dropped after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield init_db(f"sqlite:///{tmp}/bench.db")
        return
    import psycopg

    name = f"ze_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield init_db(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    finally:
        get_engine.cache_clear()
        storage_for.cache_clear()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_study(url: str, n: int, seed: int = 0) -> Job:
    """A completed FSGDM job on digits-cnn whose study holds ``n`` trials written through Optuna's storage API
    (``add_trials``), each with its full config as a user attribute, like the worker writes it. The metric peaks
    along K = v(1 + 1/c) = 31."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    job, _ = create_job(url, JobSpec.parse({"task": "digits-cnn", "optimizer": "fsgdm", "n_trials": n}))
    study = optuna.load_study(study_name=job.study_name, storage=_bulk_storage(url))
    rng = np.random.default_rng(seed)
    dists = {
        "c_scaling": FloatDistribution(0.005, 2.0, log=True),
        "v_coefficient": FloatDistribution(0.05, 50.0, log=True),
    }
    trials = []
    for _ in range(n):
        c = math.exp(rng.uniform(math.log(0.005), math.log(2.0)))
        v = math.exp(rng.uniform(math.log(0.05), math.log(50.0)))
        acc = 0.98 - 0.2 * math.log10(zone_constant(c, v) / 31) ** 2 + rng.normal(0, 0.005)
        config = {"lr": 0.01, "weight_decay": 5e-4, "c_scaling": c, "v_coefficient": v, "n_stages": 10, "sigma": 460}
        trials.append(
            optuna.trial.create_trial(
                params={"c_scaling": c, "v_coefficient": v},
                distributions=dists,
                value=acc,
                user_attrs={"config": config, "outcome": "complete"},
            )
        )
    study.add_trials(trials)
    with session_scope(url) as s:
        s.get(Job, job.id).status = "completed"
    return job


def _bulk_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage with durability relaxed for the setup only (add_trials commits once per trial)."""
    import sqlalchemy as sa

    storage = optuna.storages.RDBStorage(url)
    statement = "PRAGMA synchronous=OFF" if url.startswith("sqlite") else "SET synchronous_commit TO OFF"

    def relax(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(statement)
        cur.close()

    sa.event.listen(storage.engine, "connect", relax)
    storage.engine.dispose()  # connections opened before the listener would keep the default
    return storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(
    cmd: list[str], port: int, env: dict[str, str] | None = None, ready: str = "/healthz", cpus: set[int] | None = None
) -> Iterator[str]:
    """Run a server subprocess until the block ends; yields its base URL once ``ready`` answers 200.

    Its output goes to a file, never to an unread pipe (a full pipe would block the server mid-benchmark)."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{cmd[0]} exited: {log.read()[-2000:]}")
            try:
                if httpx.get(base + ready, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd} not ready")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def zone_explorer_server(url: str, port: int, **env: str) -> list[str]:
    """The command and environment of our API (no embedded workers: only requests are measured)."""
    return [
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
        "--no-access-log",
    ]


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in samples_s)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, max(0, math.ceil(p / 100 * len(ms)) - 1))]

    return {"n": len(ms), "p50": pct(50), "p95": pct(95), "p99": pct(99), "mean": statistics.fmean(ms), "max": ms[-1]}


def fmt(stats: dict[str, float]) -> str:
    return (
        f"p50 {stats['p50']:8.1f} ms  p95 {stats['p95']:8.1f} ms  p99 {stats['p99']:8.1f} ms  "
        f"mean {stats['mean']:8.1f} ms  (n={stats['n']})"
    )
