"""The job page's live bundle: progress, optimization history, intermediate curves and the job's zone map."""

from __future__ import annotations

import math
from typing import Any

from server.schemas import JOB_COLUMNS
from zone_explorer.contrib import NotFound
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES
from zone_explorer.engine.job_zones import ZoneRequestError, job_zone_summary
from zone_explorer.engine.jobs import job_detail
from zone_explorer.store.models import Job
from zone_explorer.store.trials import intermediate_values, load_trials
from zone_explorer.tasks import get_task

__all__ = ["job_live", "job_public"]

#: history points sent at most (every trial's best-so-far is still exact at the points sent)
MAX_HISTORY = 2000
#: trials whose per-epoch curves are sent (the latest ones), and the study size above which curves are skipped
MAX_CURVES = 40
CURVES_UP_TO = 5000
#: trials in the "Latest trials" table
LATEST = 8


def job_public(job: Job) -> dict[str, Any]:
    """A job as the pages show it: the REST answer's columns but ``owner`` (a token id), with ISO dates."""
    out = {k: getattr(job, k) for k in JOB_COLUMNS if k != "owner"}
    for k in ("created_at", "updated_at"):
        out[k] = out[k].isoformat() if out[k] else None
    return out


def _history(records: list, direction: str) -> dict[str, Any]:
    done = [r for r in records if r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)]
    numbers = [r.number for r in done]
    values = [r.value for r in done]
    best: list[float] = []
    for v in values:
        best.append(v if not best else (max(best[-1], v) if direction == "maximize" else min(best[-1], v)))
    stride = max(1, math.ceil(len(done) / MAX_HISTORY))
    keep = list(range(0, len(done), stride))
    if done and keep[-1] != len(done) - 1:
        keep.append(len(done) - 1)
    states: dict[str, int] = {}
    for r in records:
        states[r.state] = states.get(r.state, 0) + 1
    return {
        "number": [numbers[i] for i in keep],
        "value": [values[i] for i in keep],
        "best": [best[i] for i in keep],
        "n_complete": len(done),
        "states": states,
        "sampled": stride > 1,
    }


def _zone(url: str, job: Job) -> tuple[dict[str, Any] | None, str | None]:
    try:
        summary = job_zone_summary(url, job.id, with_importance=False)
    except ZoneRequestError as err:
        return None, err.message
    a = summary["analysis"]
    return {
        "x": summary["x"],
        "y": summary["y"],
        "metric": summary["metric"],
        "direction": summary["direction"],
        "zone_map": a["zone_map"],
        "zone": a["zone"],
        "k": a["k"],
        "warnings": a["warnings"],
        "reference_K": summary["reference_K"],
        "n_trials": a["n_trials"],
    }, None


def job_live(url: str, job_id: str, *, zone_for: int | None = None) -> dict[str, Any]:
    """Everything the job page redraws on a poll. The zone map is recomputed only when the number of complete
    trials differs from ``zone_for`` (what the page already shows)."""
    found = job_detail(url, job_id)
    if found is None:
        raise NotFound("job_id", f"job {job_id!r} not found")
    job, progress = found[0], found[1].to_dict()
    task = get_task(job.task)
    records = load_trials(url, job.study_name, with_attrs=False)
    history = _history(records, task.direction)
    curves = {}
    if len(records) <= CURVES_UP_TO:
        inter = intermediate_values(url, job.study_name)
        for number in sorted(inter)[-MAX_CURVES:]:
            curves[str(number)] = [
                [step, value] for step, value in inter[number] if value is not None and math.isfinite(value)
            ]
    # the latest few with their attributes (where each ran), read for those rows only
    recent = load_trials(url, job.study_name, limit=LATEST, offset=max(0, len(records) - LATEST))
    latest = [
        {
            "number": r.number,
            "state": r.state,
            "value": r.value,
            "params": r.params,
            "environment": r.attrs.get("environment"),
        }
        for r in recent[::-1]
    ]
    out: dict[str, Any] = {
        "job": job_public(job),
        "active": job.status in ACTIVE_JOB_STATUSES,
        "metric": task.metric,
        "direction": task.direction,
        "progress": progress,
        "history": history,
        "curves": curves,
        "latest": latest,
        "zone": None,
        "zone_error": None,
        "zone_for": history["n_complete"],
        "zone_unchanged": False,
    }
    if zone_for is not None and zone_for == history["n_complete"]:
        out["zone_unchanged"] = True
    else:
        out["zone"], out["zone_error"] = _zone(url, job)
    return out
