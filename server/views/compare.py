"""The compare page's data: one task across optimizers (best-so-far curves, final metrics, best configs).

By default every optimizer with a job on the task is one series. A selection narrows that: ``optimizers`` (names,
e.g. a :data:`PRESETS` entry such as signum vs adam-tied vs adam) keeps those optimizers, in that order, and shows
the ones without a job yet as empty series to submit; ``jobs`` makes each named job its own series, labelled by
its fixed values, which is how two settings of one optimizer (AutoSGM's numerators) sit side by side.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optimizers.registry import REGISTRY, SECRET_SAUCE, get_optimizer
from server.services.zone_answers import ZoneAnswers
from server.views.snippets import constructor_call
from zone_explorer.contrib import describe_task
from zone_explorer.core.errors import FieldError, NotFound
from zone_explorer.engine.job_zones import ZoneRequestError
from zone_explorer.engine.jobs import get_job, list_jobs, resolve_job_id
from zone_explorer.store.models import Job
from zone_explorer.store.trials import TrialRecord, load_trials

__all__ = ["MAX_COMPARED_JOBS", "PRESETS", "compare_task", "parse_selection"]

MAX_CURVE_POINTS = 400
MAX_VALUES = 1000
MAX_JOBS = 500
#: jobs one comparison may name (``?jobs=``): each is a series, read in full
MAX_COMPARED_JOBS = 24

#: named selections of optimizers the compare page links to
PRESETS: dict[str, dict[str, Any]] = {
    "secret-sauce": {
        "title": "Adam's secret sauce",
        "optimizers": ["signum", "adam-tied", "adam"],
        "description": "signed momentum vs Adam with beta1 = beta2 vs Adam",
        "reference": SECRET_SAUCE,
    },
}


def _names(text: str, field: str, cap: int) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if len(names) > cap:
        raise FieldError(field, f"at most {cap} comma-separated names, got {len(names)}")
    return names


def parse_selection(url: str, optimizers: str = "", jobs: str = "") -> tuple[list[str] | None, list[str] | None]:
    """The ``optimizers`` and ``jobs`` query values (comma-separated; job ids may be unique prefixes) checked:
    ``(names or None, full job ids or None)``. A :class:`FieldError` names the field for an unknown optimizer, a
    job that does not exist, or too many; both at once is refused (a series is either an optimizer or a job)."""
    if optimizers.strip(" ,") and jobs.strip(" ,"):
        raise FieldError("jobs", "give optimizers or jobs, not both")
    chosen = None
    if optimizers.strip(" ,"):
        chosen = []
        for name in _names(optimizers, "optimizers", len(REGISTRY)):
            try:
                chosen.append(get_optimizer(name).name)
            except ValueError as err:
                raise FieldError("optimizers", str(err).split(": ", 1)[-1]) from None
    ids = None
    if jobs.strip(" ,"):
        try:
            ids = [resolve_job_id(url, typed, "jobs") for typed in _names(jobs, "jobs", MAX_COMPARED_JOBS)]
        except NotFound as err:
            raise FieldError("jobs", err.message) from None
    return chosen, ids


def _best_so_far(values: np.ndarray, direction: str) -> np.ndarray:
    return np.maximum.accumulate(values) if direction == "maximize" else np.minimum.accumulate(values)


def _finished(url: str, jobs: list[Job], *, with_attrs: bool = False) -> list[TrialRecord]:
    return [
        r
        for job in jobs
        for r in load_trials(url, job.study_name, states=("COMPLETE",), with_attrs=with_attrs)
        if r.value is not None and math.isfinite(r.value)
    ]


def _series(records: list[TrialRecord], direction: str, seed: int) -> dict[str, Any]:
    rows: list[tuple[float, float]] = []  # (completion time, value); a trial without one comes last
    for r in records:
        assert r.value is not None  # _finished keeps finite values only
        done = r.datetime_complete
        rows.append((done.timestamp() if done is not None else math.inf, r.value))
    if not rows:
        return {"n": 0, "curve": {"x": [], "y": []}, "values": [], "best": None, "sampled": False}
    rows.sort(key=lambda t: t[0])
    values = np.array([v for _, v in rows], dtype=float)
    best = _best_so_far(values, direction)
    idx = np.unique(
        np.r_[np.linspace(0, values.size - 1, min(values.size, MAX_CURVE_POINTS)).astype(int), values.size - 1]
    )
    sample = values
    if values.size > MAX_VALUES:
        sample = np.random.default_rng(seed).choice(values, MAX_VALUES, replace=False)
    return {
        "n": int(values.size),
        "curve": {"x": (idx + 1).tolist(), "y": best[idx].tolist()},
        "values": sample.tolist(),
        "best": float(best[-1]),
        "sampled": values.size > MAX_VALUES,
    }


def _best_configs(
    answers: ZoneAnswers, task: str, optimizer: str, k: int = 3
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        summary = answers.summary(task, optimizer).data
    except ZoneRequestError as err:
        return [], err.message
    out = []
    for row in summary["best_configs"][:k]:
        config = row.get("config") or row.get("params") or {}
        out.append(
            {
                "rank": row["rank"],
                "id": row["id"],
                "origin": row["origin"],
                "value": row["value"],
                "params": row["params"],
                "snippet": constructor_call(optimizer, config),
            }
        )
    return out, None


def _fixed_values(job: Job) -> dict[str, Any]:
    """What sets a job apart from another of its optimizer: the values its space fixes, and its
    reparametrisation."""
    space = job.space or {}
    fixed = {
        name: spec["value"]
        for name, spec in sorted((space.get("params") or {}).items())
        if isinstance(spec, dict) and spec.get("type") == "fixed"
    }
    if space.get("reparametrization"):
        fixed["reparametrization"] = space["reparametrization"]
    return fixed


def _job_best_configs(job: Job, records: list[TrialRecord], direction: str, k: int = 3) -> list[dict[str, Any]]:
    ranked = sorted(records, key=lambda r: r.value or 0.0, reverse=direction == "maximize")[:k]
    return [
        {
            "rank": i + 1,
            "id": f"{job.id}/{r.number}",
            "origin": "explored",
            "value": r.value,
            "params": r.params,
            "snippet": constructor_call(job.optimizer, r.config or r.params),
        }
        for i, r in enumerate(ranked)
    ]


def _job_series(url: str, jobs: list[Job], direction: str) -> list[dict[str, Any]]:
    out = []
    for i, job in enumerate(jobs):
        fixed = _fixed_values(job)
        label = f"{job.optimizer} {job.id[:8]}" + (
            " · " + ", ".join(f"{k}={v}" for k, v in fixed.items()) if fixed else ""
        )
        records = _finished(url, [job], with_attrs=True)
        out.append(
            {
                "optimizer": job.optimizer,
                "label": label,
                "job": job.id,
                "fixed": fixed,
                "jobs": 1,
                **_series(records, direction, seed=i),
                "best_configs": _job_best_configs(job, records, direction),
                "best_note": None if records else "No finished trials yet.",
            }
        )
    return out


def compare_task(
    url: str,
    answers: ZoneAnswers,
    task: str,
    optimizers: list[str] | None = None,
    jobs: list[str] | None = None,
) -> dict[str, Any]:
    """Per optimizer with jobs on ``task`` (or per optimizer of ``optimizers``, or per job of ``jobs``, as
    :func:`parse_selection` returns them): its best-so-far curve over finished trials (in completion order), a
    sample of its final metrics, and its best configurations (explored and contributed)."""
    meta = describe_task(url, task)
    selection = {"optimizers": optimizers, "jobs": jobs}
    if jobs is not None:
        loaded = [job for job in (get_job(url, j) for j in jobs) if job is not None]
        elsewhere = [job.id for job in loaded if job.task != task]
        if elsewhere or len(loaded) < len(jobs):
            raise FieldError("jobs", f"job(s) {', '.join(elsewhere) or '?'} are not jobs on {task!r}")
        return {"task": meta, "selection": selection, "optimizers": _job_series(url, loaded, meta["direction"])}
    series = []
    for i, name in enumerate(optimizers if optimizers is not None else REGISTRY):
        found, total = list_jobs(url, task=task, optimizer=name, limit=MAX_JOBS)
        if not total and optimizers is None:
            continue
        data = _series(_finished(url, found), meta["direction"], seed=i)
        if total:
            best, note = _best_configs(answers, task, name)
        else:  # asked for by name: an empty series says what to submit
            best, note = [], f"No {name} job on {task} yet: submit one to compare."
        series.append(
            {"optimizer": name, "label": name, "jobs": total, **data, "best_configs": best, "best_note": note}
        )
    return {"task": meta, "selection": selection, "optimizers": series}
