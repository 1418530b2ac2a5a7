"""The home page's data: the tasks x optimizers grid (which cells have results), recent jobs and contributions."""

from __future__ import annotations

from typing import Any

from optimizers.registry import REGISTRY
from server.views.jobs import job_public
from zone_explorer.contrib import list_contributions, list_tasks
from zone_explorer.engine.jobs import list_jobs

__all__ = ["home_view"]


def home_view(url: str, *, recent: int = 8) -> dict[str, Any]:
    """The grid's rows (one per task) with, per optimizer, how many jobs and contributions it has; the cells
    with results get their numbers in the browser from the zone summary API (cached, and cheap once computed)."""
    tasks = list_tasks(url)
    rows = []
    for task in tasks:
        cells = []
        for name in REGISTRY:
            _, n_jobs = list_jobs(url, task=task["name"], optimizer=name, limit=1)
            _, n_contributed = list_contributions(url, task=task["name"], optimizer=name, limit=1)
            cells.append({"optimizer": name, "jobs": n_jobs, "contributions": n_contributed})
        rows.append({"task": task, "cells": cells})
    jobs, total_jobs = list_jobs(url, limit=recent)
    contributions, total_contributions = list_contributions(url, limit=recent)
    return {
        "rows": rows,
        "optimizers": list(REGISTRY),
        "recent_jobs": [job_public(j) for j in jobs],
        "total_jobs": total_jobs,
        "recent_contributions": contributions,
        "total_contributions": total_contributions,
    }
