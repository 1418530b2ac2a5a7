"""The compare page's data: one task across optimizers (best-so-far curves, final metrics, best configs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optimizers.registry import REGISTRY
from server.services.zone_answers import ZoneAnswers
from server.views.snippets import constructor_call
from zone_explorer.contrib import describe_task
from zone_explorer.engine.job_zones import ZoneRequestError
from zone_explorer.engine.jobs import list_jobs
from zone_explorer.store.models import Job
from zone_explorer.store.trials import load_trials

__all__ = ["compare_task"]

MAX_CURVE_POINTS = 400
MAX_VALUES = 1000
MAX_JOBS = 500


def _best_so_far(values: np.ndarray, direction: str) -> np.ndarray:
    return np.maximum.accumulate(values) if direction == "maximize" else np.minimum.accumulate(values)


def _series(url: str, jobs: list[Job], direction: str, seed: int) -> dict[str, Any]:
    rows: list[tuple[float, float]] = []  # (completion time, value); a trial without one comes last
    for job in jobs:
        for r in load_trials(url, job.study_name, states=("COMPLETE",), with_attrs=False):
            if r.value is not None and math.isfinite(r.value):
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


def compare_task(url: str, answers: ZoneAnswers, task: str) -> dict[str, Any]:
    """Per optimizer with jobs on ``task``: its best-so-far curve over finished trials (in completion order), a
    sample of its final metrics, and its best configurations (explored and contributed)."""
    meta = describe_task(url, task)
    optimizers = []
    for i, name in enumerate(REGISTRY):
        jobs, total = list_jobs(url, task=task, optimizer=name, limit=MAX_JOBS)
        if not total:
            continue
        series = _series(url, jobs, meta["direction"], seed=i)
        best, note = _best_configs(answers, task, name)
        optimizers.append({"optimizer": name, "jobs": total, **series, "best_configs": best, "best_note": note})
    return {"task": meta, "optimizers": optimizers}
