"""Command trials: a worker launches the user's command once per trial, in its own process group, and records
how it ended (result, crash, timeout, cancel), with its log."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from zone_explorer.core.statuses import ClaimStatus, JobStatus, Outcome
from zone_explorer.engine.external_trials import trial_log
from zone_explorer.engine.jobs import JobSpec, cancel_job, create_job, get_job
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import TrialClaim
from zone_explorer.tasks.external import ExternalTaskError, add_command_task

SCRIPTS = Path(__file__).parent / "scripts"


def _workers(url: str, job_id: str, n: int) -> list[threading.Thread]:
    """``n`` workers on the job, each in a thread of this process (the commands are processes of their own)."""
    settings = WorkerSettings(poll_interval=0.05, heartbeat_interval=0.5)
    threads = [
        threading.Thread(target=Worker(url, settings=settings).run, kwargs={"job_id": job_id, "exit_when_idle": True})
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    return threads


def _claims(url: str, job_id: str) -> list[TrialClaim]:
    with session_scope(url) as s:
        return list(
            s.scalars(sa.select(TrialClaim).where(TrialClaim.job_id == job_id).order_by(TrialClaim.trial_number))
        )


def _job(url: str, name: str, n: int):
    spec = JobSpec.parse({"task": name, "optimizer": "fsgdm", "n_trials": n, "sampler": "random", "sampler_seed": 3})
    return create_job(url, spec)[0]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_run_exactly_n_with_crash_and_timeout_failed_and_every_log_stored(sqlite_url, tmp_path) -> None:
    url = init_db(sqlite_url)
    command = f"{sys.executable} {SCRIPTS / 'plain_trial.py'} {tmp_path}"
    add_command_task(url, "plain-cmd", command, "val_acc", "maximize", timeout_s=4)
    job = _job(url, "plain-cmd", 4)
    for t in _workers(url, job.id, 2):
        t.join(timeout=120)
    claims = _claims(url, job.id)
    assert [c.status for c in claims] == [ClaimStatus.DONE] * 4 and get_job(url, job.id).status == JobStatus.COMPLETED
    by_number = {c.trial_number: c for c in claims}
    assert {c.outcome for n, c in by_number.items() if n not in (1, 2)} == {Outcome.COMPLETE}
    crashed, hung = by_number[1], by_number[2]
    assert crashed.outcome == Outcome.ERROR and "exited with code 1" in crashed.reason
    assert "boom: this trial crashes on purpose" in crashed.reason  # the tail of its log
    assert hung.outcome == Outcome.ERROR and "timed out after 4 s" in hung.reason
    assert _gone(int((tmp_path / "hang.pid").read_text()))  # the timeout killed its process group
    for number in range(4):
        text, truncated = trial_log(url, job.id, number)
        assert f"trial {number} with" in text and not truncated
    assert "val_acc=" in trial_log(url, job.id, 0)[0]


def test_cancel_stops_every_command_at_its_next_report(sqlite_url, tmp_path) -> None:
    url = init_db(sqlite_url)
    add_command_task(url, "sdk-loop", f"{sys.executable} {SCRIPTS / 'sdk_loop.py'} {tmp_path}", "val_acc", "maximize")
    job = _job(url, "sdk-loop", 4)
    threads = _workers(url, job.id, 2)
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"{n}.epoch").exists() for n in (0, 1)):  # both children are training
        assert time.monotonic() < deadline, "the commands did not start"
        time.sleep(0.05)
    cancel_job(url, job.id)
    seen = {n: int((tmp_path / f"{n}.epoch").read_text()) for n in (0, 1)}  # read after the cancel committed
    for t in threads:
        t.join(timeout=120)
    for n in (0, 1):
        assert _gone(int((tmp_path / f"{n}.pid").read_text()))
        assert int((tmp_path / f"{n}.epoch").read_text()) <= seen[n] + 1  # it stopped at its next report
    claims = _claims(url, job.id)
    assert len(claims) == 2 and {c.status for c in claims} == {ClaimStatus.CANCELLED}
    assert get_job(url, job.id).status == JobStatus.CANCELLED


def test_command_task_validation_names_the_field(sqlite_url) -> None:
    url = init_db(sqlite_url)
    for kwargs, field in (
        ({"name": "Bad Name"}, "name"),
        ({"command": "  "}, "command"),
        ({"metric": ""}, "metric"),
        ({"direction": "up"}, "direction"),
        ({"timeout_s": 0}, "timeout"),
        ({"name": "digits-cnn"}, "name"),  # a built-in task keeps its name
    ):
        args = {"name": "t", "command": "python3 x.py", "metric": "m", "direction": "maximize", **kwargs}
        with pytest.raises(ExternalTaskError) as info:
            add_command_task(
                url, args.pop("name"), args.pop("command"), args.pop("metric"), args.pop("direction"), **args
            )
        assert info.value.field == field
    add_command_task(url, "twice", "python3 x.py", "m", "maximize")
    with pytest.raises(ExternalTaskError, match="already registered"):
        add_command_task(url, "twice", "python3 y.py", "m", "maximize")
