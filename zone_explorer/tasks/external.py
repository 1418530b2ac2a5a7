"""External tasks: a trial that is the user's own training code, not a built-in model.

Two kinds, both stored in ``ze_external_tasks`` so that every process that reaches the database knows them:

- a **command task** is a command line a worker launches once per trial, in its own process group, with the trial
  in the environment (:data:`TRIAL_ENV`); the script reads it with ``ze.trial()``. Only an admin
  (``zone-explorer tasks add-command``) or a local ``zone-explorer run --command`` registers one: a REST client
  names a registered task, it never sends a command line.
- a **function task** is a Python function ``train(trial)`` that ``ze.explore`` runs in its own processes; the row
  keeps its metric and direction for the zone pages.

The trial channel between a worker and the script it launched (one concept, one place: both sides use the
functions below):

- the worker puts a JSON object in :data:`TRIAL_ENV`: ``optimizer``, ``space``, ``values`` (the sampled values),
  ``run_length`` (the job's), ``metric``, ``direction``, ``job``, ``number``, ``device``, ``results`` and
  ``verdicts`` (two file paths) and ``worker_pid``;
- the script appends JSON lines to ``results``: ``{"seq": n, "epoch": e, "value": v}`` for a report,
  ``{"config": {...}}`` when it builds its optimizer, ``{"final": v}`` for its result;
- after each report the worker answers in ``verdicts`` (replaced atomically) with ``"<seq> continue"``,
  ``"<seq> prune"`` or ``"<seq> stop"`` (the job was cancelled): the script waits for that answer, so a cancel or a
  prune takes effect at the next report, within one epoch;
- a script that does not use the SDK may print ``<metric>=<value>`` lines on stdout instead: the last one is the
  trial's result (no intermediate values, no pruning).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import CONTRIBUTED_TASK_NAME, MAX_LONG_TEXT, MAX_METRIC_NAME
from zone_explorer.tasks.base import DIRECTIONS, Task, TaskRun, add_task_resolver

__all__ = [
    "MAX_TIMEOUT",
    "TRIAL_ENV",
    "CommandTask",
    "ExternalTask",
    "ExternalTaskError",
    "FunctionTask",
    "add_command_task",
    "check_external",
    "external_task",
    "foreign_function_tasks",
    "function_task_name",
    "list_command_tasks",
    "read_results",
    "save_function_task",
    "watch_database",
]

#: the environment variable that carries a command trial to the script
TRIAL_ENV = "ZONE_EXPLORER_TRIAL"
#: a command trial's time limit, in seconds, at most (a day)
MAX_TIMEOUT = 86_400.0
_NAME = re.compile(CONTRIBUTED_TASK_NAME)


class ExternalTaskError(FieldError):
    """A command or function task that cannot be registered; ``field`` names the argument."""


class ExternalTask(Task):
    """A task whose trial runs the user's code. Its run length comes from the user's own numbers, given to
    ``trial.optimizer(params, steps_per_epoch=..., epochs=...)``; the one derived at submission (from one step
    per epoch) only checks the space."""

    kind: str
    dataset = "the user's own"
    model = "the user's own"

    def __init__(self, name: str, metric: str, direction: str, *, epochs: int = 1) -> None:
        self.name, self.metric = name, metric
        self.direction = direction  # type: ignore[assignment]  # checked by check_external
        self.default_epochs = epochs

    def steps_per_epoch(self) -> int:
        return 1

    def setup(self, seed: int) -> TaskRun:
        raise TypeError(f"task {self.name!r} runs the user's own code; it has no model to set up")


class CommandTask(ExternalTask):
    """A command line launched once per trial (see the module docstring)."""

    kind = "command"

    def __init__(
        self,
        name: str,
        command: str,
        metric: str,
        direction: str,
        *,
        timeout_s: float | None = None,
        cwd: str | None = None,
    ) -> None:
        super().__init__(name, metric, direction)
        self.command, self.timeout_s, self.cwd = command, timeout_s, cwd
        # not the command line itself: the catalog is public, and a command line can hold paths and arguments
        # that are the database owner's business (``zone-explorer tasks commands`` shows it to them)
        self.description = "a command registered on this database, run by a worker once per trial"


class FunctionTask(ExternalTask):
    """A Python function ``train(trial)`` run by ``ze.explore``; ``train`` is None where only its metric and
    direction are known (a process that reads the zone of an earlier exploration)."""

    kind = "function"

    def __init__(self, name: str, target: str, metric: str, direction: str, train: Any = None) -> None:
        super().__init__(name, metric, direction)
        self.target, self.train = target, train
        self.description = f"Python function {target}"


def check_external(name: str, metric: str, direction: str, timeout_s: float | None = None) -> None:
    """Raise :class:`ExternalTaskError` naming the field unless the task's fields follow the rules."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ExternalTaskError("name", f"must match {CONTRIBUTED_TASK_NAME} (lower case, digits, . _ -), got {name!r}")
    if not isinstance(metric, str) or not metric.strip() or len(metric) > MAX_METRIC_NAME:
        raise ExternalTaskError("metric", f"must be a non-empty string of at most {MAX_METRIC_NAME} characters")
    if direction not in DIRECTIONS:
        raise ExternalTaskError("direction", f"must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if timeout_s is not None and (
        isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= MAX_TIMEOUT
    ):
        raise ExternalTaskError("timeout", f"must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {timeout_s!r}")


def _check_command(command: str) -> None:
    if not isinstance(command, str) or not command.strip():
        raise ExternalTaskError("command", "must be a non-empty command line")
    if len(command) > MAX_LONG_TEXT:
        raise ExternalTaskError("command", f"must be at most {MAX_LONG_TEXT} characters")


def function_task_name(module: str, qualname: str) -> str:
    """The task name of a ``ze.explore`` function: readable, within 64 characters, unique per ``module:qualname``."""
    target = f"{module}:{qualname}"
    stem = re.sub(r"[^a-z0-9._-]+", "-", qualname.lower()).strip("-._")[:40] or "train"
    return f"fn-{stem}-{hashlib.sha1(target.encode()).hexdigest()[:10]}"


# ---- the database: where every process finds the external tasks ------------------------------------------------


def _row_task(row: Any) -> ExternalTask:
    if row.kind == "command":
        return CommandTask(row.name, row.command, row.metric, row.direction, timeout_s=row.timeout_s, cwd=row.cwd)
    return FunctionTask(row.name, row.command, row.metric, row.direction)


def external_task(url: str, name: str) -> ExternalTask | None:
    """The external task ``name`` stored in the database at ``url``, or None."""
    from zone_explorer.store.db import session_scope
    from zone_explorer.store.models import ExternalTaskRow

    with session_scope(url) as s:
        row = s.get(ExternalTaskRow, name)
        return _row_task(row) if row is not None else None


def _upsert(url: str, task: ExternalTask, command: str, *, replace: bool) -> None:
    from zone_explorer.store.db import session_scope
    from zone_explorer.store.models import ExternalTaskRow

    with session_scope(url) as s:
        row = s.get(ExternalTaskRow, task.name)
        if row is not None and not replace:
            raise ExternalTaskError("name", f"a task named {task.name!r} is already registered; pass --replace")
        if row is None:
            row = ExternalTaskRow(name=task.name)
            s.add(row)
        row.kind, row.command, row.metric, row.direction = task.kind, command, task.metric, task.direction
        row.timeout_s = getattr(task, "timeout_s", None)
        row.cwd = getattr(task, "cwd", None)


def add_command_task(
    url: str,
    name: str,
    command: str,
    metric: str,
    direction: str,
    *,
    timeout_s: float | None = None,
    cwd: str | None = None,
    replace: bool = False,
) -> CommandTask:
    """Register a command task in the database (the admin's act; see the module docstring)."""
    from zone_explorer.tasks.base import get_task

    check_external(name, metric, direction, timeout_s)
    _check_command(command)
    try:
        existing = get_task(name)
    except FieldError:
        existing = None
    if existing is not None and not isinstance(existing, ExternalTask):
        raise ExternalTaskError("name", f"{name!r} is a built-in or plug-in task; choose another name")
    task = CommandTask(name, command, metric, direction, timeout_s=timeout_s, cwd=cwd)
    _upsert(url, task, command, replace=replace)
    watch_database(url)
    from zone_explorer.tasks.base import register_task

    register_task(task, replace=True)  # this process sees the new definition at once
    return task


def save_function_task(url: str, task: FunctionTask) -> None:
    """Store a ``ze.explore`` function's task (its metric and direction may change from one run to the next)."""
    _upsert(url, task, task.target, replace=True)
    watch_database(url)


def runnable_functions() -> list[str]:
    """The function tasks this process can run (``ze.explore`` registered them with their function)."""
    from zone_explorer.tasks.base import all_tasks

    return [t.name for t in all_tasks() if isinstance(t, FunctionTask) and t.train is not None]


def foreign_function_tasks() -> sa.Select[str]:
    """The names of the function tasks this process cannot run, as a subquery: a worker leaves their jobs to the
    ``ze.explore`` call that holds the function (a general worker on the same database would only fail them)."""
    from zone_explorer.store.models import ExternalTaskRow

    return sa.select(ExternalTaskRow.name).where(
        ExternalTaskRow.kind == "function", ExternalTaskRow.name.not_in(runnable_functions())
    )


def list_command_tasks(url: str) -> list[CommandTask]:
    from zone_explorer.store.db import session_scope
    from zone_explorer.store.models import ExternalTaskRow

    with session_scope(url) as s:
        rows = s.scalars(
            sa.select(ExternalTaskRow).where(ExternalTaskRow.kind == "command").order_by(ExternalTaskRow.name)
        ).all()
        return [t for t in map(_row_task, rows) if isinstance(t, CommandTask)]


_WATCHED: list[str] = []


def watch_database(url: str) -> None:
    """Let :func:`~zone_explorer.tasks.get_task` find the external tasks stored at ``url`` (newest URL first).

    Called by ``init_db`` and by every worker: a task an admin registers after the process started is found by its
    name on first use."""
    if url in _WATCHED:
        return
    _WATCHED.insert(0, url)
    add_task_resolver(_resolve)


def _resolve(name: str) -> Task | None:
    for url in list(_WATCHED):
        try:
            task = external_task(url, name)
        except sa.exc.SQLAlchemyError:
            continue
        if task is not None:
            return task
    return None


# ---- the trial channel (worker side: the script's side is zone_explorer.sdk.trial) ------------------------------


def read_results(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The complete JSON lines the script appended to ``path`` since ``offset``, and the new offset (a line the
    script is still writing waits for the next read)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    messages = []
    for line in chunk[:end].splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            messages.append(msg)
    return messages, offset + end


def write_verdict(path: Path, seq: int, verdict: Literal["continue", "prune", "stop"]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{seq} {verdict}")
    os.replace(tmp, path)  # atomic: the script never reads half a verdict


def stdout_values(lines: Iterator[str] | list[str], metric: str) -> list[float]:
    """The values of ``<metric>=<value>`` lines (the fallback channel of a script without the SDK)."""
    found = []
    prefix = f"{metric}="
    for line in lines:
        line = line.strip()
        if line.startswith(prefix):
            try:
                found.append(float(line[len(prefix) :]))
            except ValueError:
                continue
    return found


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def trial_payload(
    *,
    optimizer: str,
    space: Mapping[str, Any],
    values: Mapping[str, Any],
    run_length: Mapping[str, int],
    metric: str,
    direction: str,
    job: str,
    number: int,
    device: str,
    results: Path,
    verdicts: Path,
) -> str:
    """The JSON a worker puts in :data:`TRIAL_ENV` for one trial."""
    return json.dumps(
        {
            "optimizer": optimizer,
            "space": dict(space),
            "values": dict(values),
            "run_length": dict(run_length),
            "metric": metric,
            "direction": direction,
            "job": job,
            "number": number,
            "device": device,
            "results": str(results),
            "verdicts": str(verdicts),
            "worker_pid": os.getpid(),
        }
    )
