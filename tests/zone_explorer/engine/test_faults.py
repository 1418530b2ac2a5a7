"""Tests that break things on purpose; each ends by checking that nothing was lost or duplicated."""

from __future__ import annotations

import datetime as dt
import glob
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from tests import ROOT
from zone_explorer.core.spaces import Space
from zone_explorer.engine.jobs import JobSpec, cancel_job, create_job, get_job
from zone_explorer.engine.studies import storage_for
from zone_explorer.engine.worker import Worker, WorkerSettings, reap_lost_claims
from zone_explorer.store.db import get_engine, session_scope
from zone_explorer.store.models import TrialClaim, utcnow
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import register_task
from zone_explorer.tasks.noisy_quadratic import NoisyQuadraticTask

FINISHED = ("complete", "pruned", "diverged", "invalid", "error")
#: trials long enough that a worker is caught inside one (40 epochs of the noisy quadratic)
LONG_TRIALS = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 40, "sampler": "random", "sampler_seed": 1}


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


def _holds_no_lock(url: str, claim_id: int, trial_id: int) -> bool:
    """Whether a writer could go ahead now: the SQLite write lock, or on PostgreSQL the rows the reaper updates
    (the claim and its Optuna trial), are free. A worker stopped inside a heartbeat or a report would hold them."""
    try:
        with get_engine(url).connect() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("PRAGMA busy_timeout=500")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.select(TrialClaim.id).where(TrialClaim.id == claim_id).with_for_update(nowait=True))
                conn.execute(sa.text("SELECT 1 FROM trials WHERE trial_id = :t FOR UPDATE NOWAIT"), {"t": trial_id})
            conn.rollback()
        return True
    except OperationalError:
        return False


def _work(url: str, job_id: str, name: str) -> None:
    """A worker process of :class:`_Forked`: the job's trials until none is left, on short heartbeats."""
    settings = WorkerSettings(heartbeat_interval=0.3, grace_period=2.0, poll_interval=0.1)
    Worker(url, name=name, settings=settings).run(job_id=job_id, exit_when_idle=True)


class _Forked:
    """A worker process forked from a server that has imported torch and the engine once: it starts in a fraction
    of a second (a fresh interpreter takes seconds), so a test can kill many. Speaks ``subprocess.Popen``'s
    few words that the helpers here use."""

    _context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch imports it at a process's first optimizer, which costs seconds per process otherwise
    _context.set_forkserver_preload(
        ["torch", "torch._dynamo", "zone_explorer.engine.worker", "tests.zone_explorer.engine.test_faults"]
    )

    def __init__(self, url: str, job_id: str, name: str) -> None:
        self.name = name
        self.process = self._context.Process(target=_work, args=(url, job_id, name), daemon=True)
        self.process.start()

    def poll(self) -> int | None:
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)  # started, so it has a pid

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.process.join(timeout)
        return f"worker {self.name} exited with {self.process.exitcode}", None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(30)


def _stop_inside_a_trial(url: str, job_id: str, worker: subprocess.Popen | _Forked, name: str | None = None) -> int:
    """SIGSTOP ``worker`` while it trains a trial: its claim is running, the Optuna trial is RUNNING, has reported
    an epoch and holds no result yet, and the worker holds no database lock. Returns the claim's id (the worker
    stays stopped). ``name``: the worker's name in the database, where several workers share the job."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[0]
        worker.send_signal(signal.SIGSTOP)
        # look only now that it cannot move on: a state seen while it runs may be gone a moment later
        with session_scope(url) as s:
            q = sa.select(TrialClaim.id, TrialClaim.optuna_trial_id).where(
                TrialClaim.job_id == job_id, TrialClaim.status == "running", TrialClaim.optuna_trial_id.is_not(None)
            )
            claim = s.execute(q if name is None else q.where(TrialClaim.worker == name)).first()
        if claim is not None:
            trial = storage_for(url).get_trial(claim.optuna_trial_id)
            # an epoch reported: its configuration is sampled (a trial just asked for has none yet) and no
            # result is written, so the trial is lost with its configuration, which a retry must run again
            running = trial.state == optuna.trial.TrialState.RUNNING
            training = running and bool(trial.intermediate_values) and "outcome" not in trial.user_attrs
            if training and _holds_no_lock(url, claim.id, claim.optuna_trial_id):
                return claim.id
        worker.send_signal(signal.SIGCONT)
        time.sleep(0.05)  # a polling step: the worker's next state is what we wait for
    raise AssertionError("the worker was never caught inside a trial")


def _claim_statuses(url: str, job_id: str) -> list[str]:
    with session_scope(url) as s:
        return sorted(s.scalars(sa.select(TrialClaim.status).where(TrialClaim.job_id == job_id)))


def _lost_and_retried(url: str, job_id: str) -> object:
    """The one trial lost to a missing heartbeat; its configuration must have completed in another trial."""
    trials = load_trials(url, get_job(url, job_id).study_name)
    lost = [t for t in trials if t.attrs.get("outcome") == "lost"]
    assert len(lost) == 1 and lost[0].state == "FAIL" and "no heartbeat" in lost[0].attrs["fail_reason"], lost
    retried = [t for t in trials if t.attrs.get("outcome") == "complete" and t.params == lost[0].params]
    assert retried, "the lost configuration should have been run again"
    return lost[0]


@pytest.mark.slow
def test_sigkilled_worker_trial_is_failed_by_heartbeat_and_retried(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**LONG_TRIALS, "n_trials": 3}))
    victim = _spawn_worker(db_url, "--job", job.id, "--heartbeat", "0.3", "--grace", "2")
    try:
        _stop_inside_a_trial(db_url, job.id, victim)
    finally:
        victim.kill()  # SIGKILL, inside the trial (or, when the test failed, so that no worker is left behind)
        victim.wait(timeout=30)
    rescuer = _spawn_worker(db_url, "--job", job.id, "--heartbeat", "0.3", "--grace", "2", "--exit-when-idle")
    out = rescuer.communicate(timeout=240)[0]
    assert rescuer.returncode == 0, out
    _exactly(db_url, job.id, 3)
    _lost_and_retried(db_url, job.id)
    assert _claim_statuses(db_url, job.id) == ["done", "done", "done", "lost"]


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_sigkills_mid_trial_lose_no_configuration_and_leave_no_waiting_trial(pg_url: str) -> None:
    """Kill a worker inside a trial 20 times while another works beside it (it reaps the dead one's claim while
    a fresh worker waits for a free slot: the race that once let a new configuration take a lost one's slot),
    then let the last two finish: every lost configuration ran again, each once, and nothing is left waiting."""
    from zone_explorer.store.db import init_db

    url = init_db(pg_url)
    n, kills = 4, 20
    job, _ = create_job(url, JobSpec.parse({**LONG_TRIALS, "n_trials": n}))
    workers = [_Forked(url, job.id, f"victim-{i}") for i in range(2)]
    try:
        for i in range(kills):
            victim = workers.pop(0)  # the older one; the younger one works on meanwhile
            _stop_inside_a_trial(url, job.id, victim, victim.name)
            victim.kill()  # SIGKILL inside the trial
            workers.append(_Forked(url, job.id, f"victim-{i + 2}"))
        outs = [w.communicate(timeout=120)[0] for w in workers]
        assert [w.poll() for w in workers] == [0, 0], outs
    finally:
        for w in workers:
            if w.poll() is None:  # the test failed: leave no worker behind, stopped or not
                w.kill()
    _exactly(url, job.id, n)
    trials = {t.number: t for t in load_trials(url, get_job(url, job.id).study_name)}
    assert not [t for t in trials.values() if t.state in ("WAITING", "RUNNING")], "a trial was left behind"
    lost = [t for t in trials.values() if t.attrs.get("outcome") == "lost"]
    assert len(lost) >= kills  # each kill lost a trial (a worker reaped while alive loses one more)
    retries: dict[int, list] = {}
    for t in trials.values():
        if "retry_of" in t.attrs:
            retries.setdefault(t.attrs["retry_of"], []).append(t)
    for t in lost:
        # follow the retries of a lost configuration: each is queued once, and the last one has a result
        retry = t
        while retry.attrs.get("outcome") == "lost":
            assert len(retries.get(retry.number, [])) == 1, (retry.number, retries.get(retry.number))
            retry = retries[retry.number][0]
            assert retry.params == t.params
        assert retry.attrs["outcome"] in FINISHED, (t.number, retry.number, retry.attrs)


def test_reaper_queues_the_lost_configuration_as_it_frees_the_slot_and_a_cancel_drops_the_retry(db_url: str) -> None:
    """A dead worker's claim, built as a worker leaves it (a claim whose Optuna trial drew its configuration):
    once reaped, the slot is free and the retry already waits with that configuration, which is what the next
    trial asked for runs; a job cancelled while a retry waits leaves none waiting."""
    job, _ = create_job(db_url, JobSpec.parse({**LONG_TRIALS, "n_trials": 1}))
    study = optuna.load_study(study_name=job.study_name, storage=storage_for(db_url))
    trial = study.ask()
    config = Space.from_dict(job.space).suggest(trial)
    long_ago = utcnow() - dt.timedelta(minutes=5)
    with session_scope(db_url) as s:
        s.add(TrialClaim(job_id=job.id, slot=0, worker="gone", optuna_trial_id=trial._trial_id, heartbeat_at=long_ago))
    assert reap_lost_claims(db_url, grace_period=60) == 1
    assert reap_lost_claims(db_url, grace_period=60) == 0  # closed once
    assert _claim_statuses(db_url, job.id) == ["lost"]
    lost, retry = load_trials(db_url, job.study_name)
    assert (lost.state, lost.attrs["outcome"]) == ("FAIL", "lost") and "no heartbeat" in lost.attrs["fail_reason"]
    assert (retry.state, retry.attrs["retry_of"]) == ("WAITING", lost.number)
    again = study.ask()  # what the worker that takes the freed slot asks for
    assert again._trial_id == retry.trial_id and Space.from_dict(job.space).suggest(again) == config
    study.tell(again, 1.0)
    study.enqueue_trial(config)  # a retry queued (as the reaper does) when the job is cancelled
    cancel_job(db_url, job.id)
    left = [(t.state, t.attrs.get("outcome")) for t in load_trials(db_url, job.study_name)]
    assert left == [("FAIL", "lost"), ("COMPLETE", None), ("FAIL", "cancelled")]


@pytest.mark.slow
def test_worker_reaped_while_paused_records_no_duplicate_when_it_resumes(db_url: str) -> None:
    """SIGSTOP a worker inside a trial, let the reaper free its claim, SIGCONT it: the trial it was running stays
    lost (its late result is dropped), the retry of that configuration is the only result for it."""
    job, _ = create_job(db_url, JobSpec.parse({**LONG_TRIALS, "n_trials": 3}))
    worker = _spawn_worker(db_url, "--job", job.id, "--heartbeat", "0.3", "--grace", "60", "--exit-when-idle")
    try:
        paused = _stop_inside_a_trial(db_url, job.id, worker)
        # the reaper of another worker: its claim goes once the heartbeat is older than the grace period
        deadline = time.monotonic() + 60
        while reap_lost_claims(db_url, grace_period=1.0) == 0:
            assert time.monotonic() < deadline, "the paused worker's claim was never reaped"
            time.sleep(0.2)
        with session_scope(db_url) as s:
            assert s.get(TrialClaim, paused).status == "lost"
        worker.send_signal(signal.SIGCONT)
        out = worker.communicate(timeout=240)[0]
    finally:
        if worker.poll() is None:  # the test failed: leave no worker behind, stopped or not
            worker.kill()
            worker.wait(timeout=30)
    assert worker.returncode == 0, out
    _exactly(db_url, job.id, 3)  # three results, each from its own claim and trial: none recorded twice
    lost = _lost_and_retried(db_url, job.id)
    assert "seed_values" not in lost.attrs and lost.value is None  # the resumed worker wrote nothing to it
    assert _claim_statuses(db_url, job.id) == ["done", "done", "done", "lost"]


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
@pytest.mark.serial  # a restart would cut every other PostgreSQL test running beside it
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


def test_a_worker_dead_between_asking_for_its_trial_and_recording_it_leaves_no_trial_running(db_url: str) -> None:
    """The worker's own steps, stopped at the crash point: it claimed a slot and asked Optuna for its trial (a queued
    retry, whose configuration must not be lost a second time), then died before writing the trial's id on its
    claim. The reaper finds the unnamed running trial, fails it and queues its configuration again; the job then
    ends with exactly its trials and neither a RUNNING nor a WAITING leftover."""
    job, _ = create_job(db_url, JobSpec.parse({**LONG_TRIALS, "epochs": 2, "n_trials": 2}))
    study = optuna.load_study(study_name=job.study_name, storage=storage_for(db_url))
    config = {"c_scaling": 0.05, "v_coefficient": 0.9}
    study.enqueue_trial(config)  # a retry of an earlier lost trial waits
    dead = Worker(db_url, name="dies-after-ask")
    claimed = dead._claim(job.id)
    assert claimed is not None
    orphan = dead._load(claimed[0]).study.ask()  # ... and the process dies here: the claim names no trial
    assert orphan.params == {} and _claim_statuses(db_url, job.id) == ["running"]
    assert reap_lost_claims(db_url, grace_period=0) == 1
    trials = {t.number: t for t in load_trials(db_url, job.study_name)}
    assert (trials[orphan.number].state, trials[orphan.number].attrs["outcome"]) == ("FAIL", "lost")
    assert "died before it recorded this trial" in trials[orphan.number].attrs["fail_reason"]
    (retry,) = [t for t in trials.values() if t.state == "WAITING"]
    assert retry.attrs["retry_of"] == orphan.number
    Worker(db_url, name="survivor", settings=WorkerSettings(poll_interval=0.05)).run(job_id=job.id, exit_when_idle=True)
    finished = _exactly(db_url, job.id, 2)
    assert sum(1 for t in finished if t.attrs.get("retry_of") == orphan.number) == 1
    assert not [t for t in load_trials(db_url, job.study_name) if t.state in ("RUNNING", "WAITING")]
