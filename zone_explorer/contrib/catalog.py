"""The catalog: tasks (registered ones, then those contributors described) and optimizers with their domains,
default search spaces and what a contribution must give."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from optimizers.registry import REGISTRY, get_optimizer
from zone_explorer.contrib.validation import contribution_bounds, is_lookup_name, required_hyperparameters
from zone_explorer.core.errors import NotFound
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import default_space
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import ContributedTask
from zone_explorer.tasks import get_task, task_names
from zone_explorer.tasks.external import CommandTask, list_command_tasks

__all__ = ["describe_optimizer", "describe_task", "list_optimizers", "list_tasks"]


def _registered_task(name: str) -> dict[str, Any]:
    task = get_task(name)
    d = task.describe()
    kind = "command" if isinstance(task, CommandTask) else "builtin" if d["source"] == "builtin" else "plugin"
    return {**d, "kind": kind, "verifiable": True}


def _contributed_task(row: ContributedTask) -> dict[str, Any]:
    return {
        "name": row.name,
        "description": row.description,
        "metric": row.metric,
        "direction": row.direction,
        "default_epochs": None,
        "steps_per_epoch": None,
        "dataset": row.dataset,
        "model": row.model,
        "metric_range": [row.metric_low, row.metric_high],
        "source": "contributed",
        "kind": "contributed",
        "verifiable": False,
    }


def list_tasks(url: str) -> list[dict[str, Any]]:
    """Registered tasks (built-in, plug-ins and the command tasks an admin stored, also those this process has not
    run yet), then the tasks contributors described."""
    with session_scope(url) as s:
        contributed = list(s.scalars(sa.select(ContributedTask).order_by(ContributedTask.name)))
    registered = sorted({*task_names(), *(t.name for t in list_command_tasks(url))})
    return [_registered_task(n) for n in registered] + [_contributed_task(r) for r in contributed]


def describe_task(url: str, name: str) -> dict[str, Any]:
    if not is_lookup_name(name):
        raise NotFound("task", f"unknown task {name!r}")
    if name in task_names():
        return _registered_task(name)
    with session_scope(url) as s:
        row = s.get(ContributedTask, name) if len(name) <= 64 else None
    if row is None:
        raise NotFound("task", f"unknown task {name!r} (registered: {', '.join(task_names())})")
    return _contributed_task(row)


def describe_optimizer(name: str) -> dict[str, Any]:
    try:
        spec = get_optimizer(name)
    except ValueError as err:
        raise NotFound("optimizer", str(err).split(": ", 1)[-1]) from None
    return {
        **spec.to_dict(),
        "default_space": default_space(spec.name).to_dict(),
        "contribution_required": required_hyperparameters(spec.name),
        "contribution_bounds": {k: list(v) for k, v in contribution_bounds(spec.name).items()},
        "natural_axes": list(get_profile(spec.name).natural_axes),
    }


def list_optimizers() -> list[dict[str, Any]]:
    return [describe_optimizer(n) for n in REGISTRY]
