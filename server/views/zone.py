"""The zone page's data: the merged zone view with copy-ready constructor calls, and one point's details."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from server.services.zone_answers import ZoneAnswers, ZoneFilters
from server.views.snippets import constructor_call
from zone_explorer.contrib import get_contribution
from zone_explorer.core.errors import NotFound
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES
from zone_explorer.engine.jobs import get_job
from zone_explorer.store.db import read_scope
from zone_explorer.store.models import Job
from zone_explorer.store.trials import load_trials

__all__ = ["point_details", "running_jobs", "zone_bundle"]


def running_jobs(url: str, task: str, optimizer: str) -> int:
    """How many jobs of the task+optimizer are queued or running: while any is, the zone page polls its zone.

    Read on every request (never cached with the zone): a job's status moves without changing the data version."""
    query = (
        sa.select(sa.func.count())
        .select_from(Job)
        .where(Job.task == task, Job.optimizer == optimizer, Job.status.in_(ACTIVE_JOB_STATUSES))
    )
    with read_scope(url) as conn:
        return int(conn.scalar(query) or 0)


def zone_bundle(
    answers: ZoneAnswers,
    task: str,
    optimizer: str,
    *,
    x: str | None = None,
    y: str | None = None,
    top_q: float | None = None,
    delta: float | None = None,
    grid_size: int = 60,
    filters: ZoneFilters = ZoneFilters(),
) -> tuple[bytes, str]:
    """``({"zone": <the API's zone view>, "snippets": [...], "running_jobs": n}, data version)`` as JSON bytes.

    The zone is the app's cached answer (already serialised); the snippets are the Python constructor calls
    of its best configurations, in the same order; ``running_jobs`` (:func:`running_jobs`) is read fresh.
    """
    result = answers.view(task, optimizer, x=x, y=y, top_q=top_q, delta=delta, grid_size=grid_size, filters=filters)
    best = result.data["analysis"]["best_configs"]
    snippets = [constructor_call(optimizer, row.get("config") or row.get("params") or {}) for row in best]
    running = running_jobs(answers.url, task, optimizer)
    body = (
        b'{"running_jobs":'
        + str(running).encode()
        + b',"snippets":'
        + json.dumps(snippets).encode()
        + b',"zone":'
        + result.json_bytes
        + b"}"
    )
    return body, result.version


def point_details(url: str, task: str, optimizer: str, point_id: str) -> dict[str, Any]:
    """Configuration, metric, seeds and source of one point of a zone map (``<job id>/<trial number>`` for an
    explored trial, ``contribution/<id>`` for a contributed result)."""
    kind, _, rest = point_id.partition("/")
    if kind == "contribution":
        c = get_contribution(url, rest)
        if c["task"] != task or c["optimizer"] != optimizer:
            raise NotFound("id", f"contribution {rest!r} is not a result of {optimizer} on {task}")
        return {
            "id": point_id,
            "origin": c["origin"],
            "value": c["value"],
            "config": c["config"],
            "given": c["given"],
            "seeds": c["seeds"],
            "seed_values": None,
            "budget": c["budget"],
            "hardware": c["hardware"],
            "software": c["software"],
            "verification": c["verification"],
            "source": {"kind": "contribution", "contribution": c["id"], **c["source"]},
        }
    job = get_job(url, kind) if kind and rest.isdigit() else None
    if job is None or job.task != task or job.optimizer != optimizer:
        raise NotFound("id", f"no point {point_id!r} in the zone of {optimizer} on {task}")
    number = int(rest)
    rows = load_trials(url, job.study_name, limit=1, offset=number)  # trial numbers run 0..n-1 in a study
    trial = next((r for r in rows if r.number == number), None)
    if trial is None:
        raise NotFound("id", f"job {job.id} has no trial {number}")
    return {
        "id": point_id,
        "origin": "explored",
        "value": trial.value,
        "config": trial.config,
        "given": None,
        "seeds": list(job.seeds),
        "seed_values": trial.attrs.get("seed_values"),
        "value_std": trial.attrs.get("value_std"),
        "budget": {"epochs": job.epochs, "steps": None},
        "source": {"kind": "job", "job": job.id, "trial": number, "sampler": job.sampler},
    }
