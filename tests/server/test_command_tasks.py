"""Command tasks over REST: a submit token names a task an admin registered, never a command line; a command
trial's log is served and linked from its job page."""

from __future__ import annotations

import sys

import sqlalchemy as sa

from tests.server.conftest import in_process
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import Job
from zone_explorer.tasks.external import add_command_task

JOB = {"optimizer": "fsgdm", "n_trials": 1, "sampler": "random", "sampler_seed": 1}


def _jobs(url: str) -> int:
    with session_scope(url) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Job)) or 0)


def test_a_submit_token_runs_only_registered_command_tasks_and_their_logs_are_served(sqlite_url) -> None:
    url = init_db(sqlite_url)
    with in_process(url) as svc:
        api = svc.client("submit")
        r = api.post("/api/v1/jobs", json={**JOB, "task": "noisy-quadratic", "command": "touch /tmp/owned"})
        assert r.status_code == 422 and "command" in r.text  # a command line is no field of a job
        r = api.post("/api/v1/jobs", json={**JOB, "task": "my-training"})
        assert r.status_code == 422 and r.json()["field"] == "task"  # not registered (yet)
        assert _jobs(url) == 0
        # the admin registers it while the API runs: the next request finds it
        command = f"{sys.executable} -c \"print('training...'); print('val_acc=0.75')\""
        add_command_task(url, "my-training", command, "val_acc", "maximize")
        # the catalog lists it at once, before any job of it ran in this process
        listed = {t["name"]: t for t in api.get("/api/v1/tasks").json()}
        assert listed["my-training"]["kind"] == "command" and listed["my-training"]["metric"] == "val_acc"
        assert sys.executable not in api.get("/api/v1/tasks").text  # the public catalog never shows the command line
        r = api.post("/api/v1/jobs", json={**JOB, "task": "my-training"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        Worker(url, settings=WorkerSettings(poll_interval=0.05)).run(job_id=job_id, exit_when_idle=True)
        assert api.get(f"/api/v1/jobs/{job_id}").json()["progress"]["best_value"] == 0.75
        log = api.get(f"/api/v1/jobs/{job_id}/trials/0/log")
        assert log.status_code == 200 and "training..." in log.text and "val_acc=0.75" in log.text
        assert api.get(f"/api/v1/jobs/{job_id}/trials/1/log").status_code == 404
        page = api.get(f"/jobs/{job_id}")
        assert page.status_code == 200 and f'href="/api/v1/jobs/{job_id}/trials/0/log"' in page.text
