"""Tests that break things on purpose; each ends by checking that nothing was lost or duplicated."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import ROOT
from zone_explorer.engine.jobs import JobSpec, create_job, get_job
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import TrialClaim
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import register_task
from zone_explorer.tasks.noisy_quadratic import NoisyQuadraticTask

FINISHED = ("complete", "pruned", "diverged", "invalid", "error")


def _spawn_worker(url: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", "worker", "--db", url, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _exactly(url: str, job_id: str, n: int, ended: str = "completed") -> list:
    job = get_job(url, job_id)
    assert job.status == ended, job.status
    trials = load_trials(url, job.study_name)
    finished = [t for t in trials if t.attrs.get("outcome") in FINISHED]
    assert len(finished) == n, [(t.number, t.state, t.attrs.get("outcome"), t.attrs.get("fail_reason")) for t in trials]
    with session_scope(url) as s:
        done = s.scalars(
            sa.select(TrialClaim.optuna_trial_id).where(TrialClaim.job_id == job_id, TrialClaim.status == "done")
        ).all()
    assert len(done) == len(set(done)) == n
    return finished


@pytest.mark.slow
def test_worker_without_a_task_fails_its_trials_with_the_reason_and_serves_other_jobs(sqlite_url: str) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    register_task(NoisyQuadraticTask(name="lab-only-quadratic", epochs=1), replace=True)  # this process only
    foreign, _ = create_job(url, JobSpec.parse({"task": "lab-only-quadratic", "optimizer": "sgd", "n_trials": 2}))
    ours, _ = create_job(
        url, JobSpec.parse({"task": "noisy-quadratic", "optimizer": "sgd", "n_trials": 2, "epochs": 1})
    )
    worker = _spawn_worker(url, "--exit-when-idle")
    out = worker.communicate(timeout=300)[0]
    assert worker.returncode == 0, out
    for t in _exactly(url, foreign.id, 2, ended="failed"):
        assert t.attrs["outcome"] == "error" and "unknown task 'lab-only-quadratic'" in t.attrs["fail_reason"]
    # no trial produced a result: the job failed, and says why
    assert get_job(url, foreign.id).error.startswith("all 2 trials raised an error; the last: could not set up task")
    assert all(t.attrs["outcome"] == "complete" for t in _exactly(url, ours.id, 2))


def _pg_ctl(action: str) -> None:
    versions = [Path(p).name for p in glob.glob("/etc/postgresql/*")]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", action], check=True, timeout=120)


def _pg_up(timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(not glob.glob("/etc/postgresql/*"), reason="needs the machine's own PostgreSQL cluster to restart")
def test_postgres_restart_mid_job_workers_reconnect_and_nothing_duplicates(pg_url: str) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(pg_url)
    job, _ = create_job(
        url,
        JobSpec.parse(
            {"task": "noisy-quadratic", "optimizer": "fsgdm", "n_trials": 6, "epochs": 15, "sampler": "random"}
        ),
    )
    workers = [
        _spawn_worker(url, "--job", job.id, "--exit-when-idle", "--heartbeat", "0.5", "--grace", "5") for _ in range(2)
    ]
    deadline = time.time() + 120
    while time.time() < deadline:
        with session_scope(url) as s:
            started = s.scalar(
                sa.select(sa.func.count())
                .select_from(TrialClaim)
                .where(TrialClaim.job_id == job.id, TrialClaim.optuna_trial_id.is_not(None))
            )
        if started >= 2:
            break
        time.sleep(0.2)
    try:
        _pg_ctl("stop")
        time.sleep(2)
    finally:
        _pg_ctl("start")
        _pg_up()
    outs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outs
    assert any("database unavailable" in o for o in outs), "the workers should have seen the outage"
    _exactly(url, job.id, 6)
