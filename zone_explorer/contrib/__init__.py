"""Contributed results: validation, storage, verification by rerun, and the merged zone views they appear in.

The OpenML idea: a result is comparable only with its context. A contribution therefore names

* a **task**: a registered one by name, or a new one described by ``name``, ``dataset``, ``model``, ``metric``,
  ``direction`` and ``description`` (stored once; later results name it by string);
* an **optimizer** and its **config**. The hyperparameters of the optimizer's default search space (its searched
  axes and its fixed values, see :func:`required_hyperparameters`) are required; every other one is filled in,
  the run-length ones (FSGDM's ``sigma``/``n_stages``, AutoSGM's ``tau``/``spe``) from the task and the epochs
  as the engine does for its own trials, the rest with the registry defaults. The full config is stored
  (``given`` keeps the names the contributor gave), validated by the registry's domains like any searched one;
* the finite metric **value** (in the task's metric and direction), optionally the learning **curve**, the
  **budget** (``epochs``, ``steps``; epochs default to the task's for a registered task), the **seeds**,
  **hardware** and **software**, and a **source** (``doi``, ``url`` and/or ``notes``; at least one).

**Verification.** A contribution to a registered task can be rerun: :func:`request_verification` queues a
1-trial job whose space fixes every hyperparameter to the contributed config, on the contribution's seeds
(default ``[0]``) and epochs. When that job has finished, the next read records the measured value and a
verdict (no daemon): ``verified`` when ``|measured - claimed| <= max(VERIFY_ATOL, VERIFY_RTOL * |claimed|,
VERIFY_STD_FACTOR * seed std)``, else ``disputed`` (also when the rerun diverged); ``unverified`` when
the job was cancelled or failed (its trial raised an error; a new request queues a new job).

Contributions appear in the zone views (:mod:`server.services.zone_answers`) beside the explored trials.
"""

from __future__ import annotations

import csv
import io
import math
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from optimizers.registry import REGISTRY, get_optimizer
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import MAX_SEEDS
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import REPARAMETRIZATIONS, default_space
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, JobStatus, Outcome
from zone_explorer.engine.jobs import JobSpec, JobSpecError, create_job, get_job, run_length
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import ContributedTask, Contribution, Job, utcnow
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import get_task, task_names

__all__ = [
    "ContributionError",
    "NotFound",
    "TaskContext",
    "VERIFY_ATOL",
    "VERIFY_RTOL",
    "VERIFY_STD_FACTOR",
    "add_contributions",
    "add_csv",
    "contribution_to_dict",
    "contributions_generation",
    "describe_optimizer",
    "describe_task",
    "get_contribution",
    "is_lookup_name",
    "list_contributions",
    "list_optimizers",
    "list_tasks",
    "request_verification",
    "required_hyperparameters",
    "resolve_verdicts",
    "rows_from_csv",
    "task_contexts",
    "verdict_for",
    "withdraw_contribution",
]

VERIFY_RTOL = 0.05
VERIFY_ATOL = 0.01
VERIFY_STD_FACTOR = 2.0
MAX_CURVE = 10_000
MAX_CONTRIBUTED_EPOCHS = 100_000
INT32_MAX = 2**31 - 1
_TASK_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_FIELDS = ("task", "optimizer", "config", "value", "curve", "budget", "seeds", "hardware", "software", "source")
_NEW_TASK_FIELDS = ("name", "dataset", "model", "metric", "direction", "description")


class ContributionError(FieldError):
    """An invalid contribution or request; ``field`` is the path of the offending value (``config.lr``)."""


class NotFound(LookupError):
    """No such task, optimizer or contribution; ``field`` names what was looked up."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---- small validators (every message names the field) ----------------------------------------------------------
def _text(value: Any, where: str, max_len: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ContributionError(where, "required, a non-empty string")
        return None
    if not isinstance(value, str):
        raise ContributionError(where, f"must be a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise ContributionError(where, f"must be at most {max_len} characters, got {len(value)}")
    if "\x00" in value:
        raise ContributionError(where, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ContributionError(where, "must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContributionError(where, f"must be a finite number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ContributionError(where, f"must be a finite number, got {value!r}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ContributionError(where, f"must be an integer in [{low}, {high}], got {value!r}")
    return value


def _mapping(value: Any, where: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContributionError(where, f"must be an object, got {type(value).__name__}")
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            raise ContributionError(
                f"{where}.{key}" if where else str(key), f"unknown field (valid: {', '.join(allowed)})"
            )
    return value


# ---- tasks: registered or contributed ------------------------------------------------------------------------------
@dataclass
class TaskContext:
    name: str
    registered: bool
    metric: str
    direction: str
    default_epochs: int | None = None


class _TaskBook:
    """Resolves the task of each contribution in a batch; new tasks described in the batch are added once."""

    def __init__(self, session) -> None:
        self.s = session
        self.registered = set(task_names())
        self.new: dict[str, ContributedTask] = {}

    def _row(self, name: str) -> ContributedTask | None:
        return self.new.get(name) or self.s.get(ContributedTask, name)

    def resolve(self, raw: Any, where: str, owner: str | None) -> TaskContext:
        if isinstance(raw, str):
            _text(raw, where, 200, required=True)
            if raw in self.registered:
                t = get_task(raw)
                return TaskContext(t.name, True, t.metric, t.direction, t.default_epochs)
            row = self._row(raw) if len(raw) <= 64 else None
            if row is None:
                raise ContributionError(
                    where,
                    f"unknown task {raw!r} (registered: {', '.join(sorted(self.registered))}); "
                    "describe a new task as an object with " + ", ".join(_NEW_TASK_FIELDS),
                )
            return TaskContext(row.name, False, row.metric, row.direction)
        if not isinstance(raw, Mapping):
            raise ContributionError(
                where, "required: a task name, or a new task object with " + ", ".join(_NEW_TASK_FIELDS)
            )
        _mapping(raw, where, _NEW_TASK_FIELDS)
        desc = {
            k: _text(raw.get(k), f"{where}.{k}", 2000 if k == "description" else 500, required=True)
            for k in _NEW_TASK_FIELDS
        }
        if not _TASK_NAME.match(desc["name"]):
            raise ContributionError(
                f"{where}.name", "must be 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            )
        if len(desc["metric"]) > 100:
            raise ContributionError(f"{where}.metric", "must be at most 100 characters")
        if desc["direction"] not in ("maximize", "minimize"):
            raise ContributionError(
                f"{where}.direction", f"must be 'maximize' or 'minimize', got {desc['direction']!r}"
            )
        if desc["name"] in self.registered:
            raise ContributionError(
                f"{where}.name", f"{desc['name']!r} is a registered task; give its name as a string"
            )
        row = self._row(desc["name"])
        if row is None:
            row = ContributedTask(**desc, owner=owner)
            self.new[row.name] = row
        elif any(getattr(row, k) != desc[k] for k in _NEW_TASK_FIELDS):
            raise ContributionError(
                f"{where}.name",
                f"a task named {desc['name']!r} is already described differently; "
                "name it by string to add to it, or choose a new name",
            )
        return TaskContext(row.name, False, row.metric, row.direction)


def task_contexts(url: str, names: Iterable[str]) -> dict[str, TaskContext]:
    """Metric and direction of the named tasks (one query for the contributed ones)."""
    registered = set(task_names())
    out: dict[str, TaskContext] = {}
    rest = []
    for n in set(names):
        if n in registered:
            t = get_task(n)
            out[n] = TaskContext(n, True, t.metric, t.direction, t.default_epochs)
        else:
            rest.append(n)
    if rest:
        with session_scope(url) as s:
            for row in s.scalars(sa.select(ContributedTask).where(ContributedTask.name.in_(rest))):
                out[row.name] = TaskContext(row.name, False, row.metric, row.direction)
    return out


def required_hyperparameters(optimizer: str) -> list[str]:
    """The hyperparameters a contribution must give: those of the optimizer's default space (searched or fixed),
    reparametrised axes replaced by what they derive, run-length ones excluded (the engine derives them)."""
    space = default_space(optimizer)
    rp = REPARAMETRIZATIONS[space.reparametrization] if space.reparametrization else None
    skip = set(get_profile(optimizer).run_length_params)
    out: list[str] = []
    for name in space.params:
        for n in rp.replaces if rp and name in rp.axes else (name,):
            if n not in out and n not in skip:
                out.append(n)
    return out


# ---- parsing one contribution ------------------------------------------------------------------------------------
def _parse(data: Any, where: str, book: _TaskBook, owner: str | None) -> Contribution:
    p = f"{where}." if where else ""
    _mapping(data, where or "contribution", _FIELDS)
    task = book.resolve(data.get("task"), f"{p}task", owner)
    optimizer = data.get("optimizer")
    try:
        spec = get_optimizer(optimizer)
    except ValueError as err:
        raise ContributionError(f"{p}optimizer", str(err).split(": ", 1)[-1]) from None

    budget = _mapping(data.get("budget") or {}, f"{p}budget", ("epochs", "steps"))
    epochs = budget.get("epochs")
    if epochs is not None:
        epochs = _int(epochs, f"{p}budget.epochs", 1, MAX_CONTRIBUTED_EPOCHS)
    elif task.registered:
        epochs = task.default_epochs
    steps = budget.get("steps")
    if steps is not None:
        steps = _int(steps, f"{p}budget.steps", 1, INT32_MAX)

    given = data.get("config")
    if not isinstance(given, Mapping):
        raise ContributionError(f"{p}config", f"required, an object of {spec.name} hyperparameters")
    cfg: dict[str, Any] = {}
    for key, value in given.items():
        try:
            cfg[key] = spec.hyperparameter(key).validate(value)
        except (TypeError, ValueError) as err:
            raise ContributionError(f"{p}config.{key}", str(err)) from None
    required = required_hyperparameters(spec.name)
    missing = [n for n in required if n not in cfg]
    if missing:
        raise ContributionError(
            f"{p}config.{missing[0]}",
            f"required: a {spec.name} contribution gives {', '.join(required)} "
            "(its default search space); other values take their defaults",
        )
    derived = run_length(get_task(task.name), spec.name, epochs) if task.registered and epochs else {}
    try:
        full = spec.validate({**derived, **cfg})
    except (TypeError, ValueError) as err:
        raise ContributionError(f"{p}config", str(err)) from None

    value = _finite(data.get("value"), f"{p}value") if "value" in data else None
    if value is None:
        raise ContributionError(f"{p}value", f"required, the finite {task.metric} ({task.direction}d)")
    curve = data.get("curve")
    if curve is not None:
        if not isinstance(curve, list) or len(curve) > MAX_CURVE:
            raise ContributionError(
                f"{p}curve", f"must be a list of at most {MAX_CURVE} finite numbers (one per epoch or report)"
            )
        curve = [_finite(v, f"{p}curve[{i}]") for i, v in enumerate(curve)]
    seeds = data.get("seeds")
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds or len(seeds) > MAX_SEEDS:
            raise ContributionError(f"{p}seeds", f"must be a list of 1 to {MAX_SEEDS} distinct integers >= 0")
        seeds = [_int(s, f"{p}seeds[{i}]", 0, INT32_MAX) for i, s in enumerate(seeds)]
        if len(set(seeds)) != len(seeds):
            raise ContributionError(f"{p}seeds", f"must be distinct, got {seeds}")
    source = (
        _mapping(data.get("source"), f"{p}source", ("doi", "url", "notes")) if data.get("source") is not None else None
    )
    if source is None:
        raise ContributionError(f"{p}source", "required: where the result comes from, {doi, url, notes} (at least one)")
    src = {
        "doi": _text(source.get("doi"), f"{p}source.doi", 200),
        "url": _text(source.get("url"), f"{p}source.url", 2000),
        "notes": _text(source.get("notes"), f"{p}source.notes", 5000),
    }
    if src["doi"] and not _DOI.match(src["doi"]):
        raise ContributionError(f"{p}source.doi", f"must look like 10.NNNN/suffix, got {src['doi']!r}")
    if src["url"] and not re.match(r"^https?://\S+$", src["url"]):
        raise ContributionError(f"{p}source.url", "must be an http(s) URL without spaces")
    if not any(src.values()):
        raise ContributionError(f"{p}source", "give at least one of doi, url, notes")
    return Contribution(
        id=secrets.token_hex(8),
        status="active",
        task=task.name,
        optimizer=spec.name,
        config=full,
        given=list(cfg),
        value=value,
        curve=curve,
        epochs=epochs,
        steps=steps,
        seeds=seeds,
        hardware=_text(data.get("hardware"), f"{p}hardware", 500),
        software=_text(data.get("software"), f"{p}software", 500),
        source={k: v for k, v in src.items() if v},
        owner=owner,
    )


# Bumped after every committed change to contributions made by this process, so that caches of what they show
# (the zone views) can tell "nothing was written here since" without asking the database.
_generation = 0
_generation_lock = threading.Lock()


def contributions_generation() -> int:
    """How many contribution writes this process has committed (a cache key, not a count of rows)."""
    return _generation


def _written() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def add_contributions(
    url: str, items: list[Any], owner: str | None = None, *, max_items: int = 1000, prefix: str | None = "contributions"
) -> list[dict[str, Any]]:
    """Validate and store contributions atomically: one bad item stores nothing, and the error names its path
    (``contributions[3].config.lr``; without a ``prefix``, for a single contribution: ``config.lr``)."""
    where = prefix or "contribution"
    if not isinstance(items, list) or not items:
        raise ContributionError(where, "must be a non-empty list of contributions")
    if len(items) > max_items:
        raise ContributionError(where, f"at most {max_items} contributions per request, got {len(items)}")
    for attempt in range(2):
        try:
            with session_scope(url) as s:
                book = _TaskBook(s)
                rows = [
                    _parse(item, "" if prefix is None else f"{prefix}[{i}]", book, owner)
                    for i, item in enumerate(items)
                ]
                s.add_all(book.new.values())
                s.flush()  # the new tasks first: a concurrent batch describing the same task fails here
                s.add_all(rows)
            _written()
            return _dicts(url, rows)
        except IntegrityError:
            if attempt:
                raise
            # a concurrent batch described the same new task: validate once more against the stored one
    raise AssertionError("unreachable")


def add_csv(url: str, data: bytes | str, owner: str | None = None, *, max_rows: int = 1000) -> list[dict[str, Any]]:
    """Contributions from a CSV upload (see :func:`rows_from_csv`), stored atomically like a batch."""
    rows = rows_from_csv(data, max_rows=max_rows)
    try:
        return add_contributions(url, [r for _, r in rows], owner, max_items=max_rows, prefix="rows")
    except ContributionError as err:
        m = re.match(r"^rows\[(\d+)\]", err.field)
        if m is None:
            raise
        raise ContributionError(err.field, f"(CSV line {rows[int(m.group(1))][0]}) {err.message}") from None


# ---- CSV -------------------------------------------------------------------------------------------------------------
CSV_COLUMNS = (
    "task",
    "optimizer",
    "value",
    "epochs",
    "steps",
    "seeds",
    "curve",
    "hardware",
    "software",
    "source_doi",
    "source_url",
    "source_notes",
    *(f"task_{k}" for k in _NEW_TASK_FIELDS[1:]),
)


def _cell(text: str) -> Any:
    """A CSV cell as JSON would have it: bool, None, int, float, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _numbers(text: str, where: str, conv: Callable[[str], Any]) -> list:
    try:
        return [conv(v) for v in text.split(";") if v.strip()]
    except ValueError:
        raise ContributionError(where, f"must be ';'-separated numbers, got {text[:80]!r}") from None


def rows_from_csv(data: bytes | str, *, max_rows: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    """Contributions from CSV: one per row; columns :data:`CSV_COLUMNS` plus ``config.<hyperparameter>``.

    ``seeds`` and ``curve`` are ``;``-separated; a new task is described in the ``task_*`` columns; empty cells are
    absent values. Returns ``(CSV line, contribution)`` pairs; errors name the row as ``rows[i]`` (i from 0).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ContributionError("csv", f"must be UTF-8 text: {err.reason} at byte {err.start}") from None
    if "\x00" in data:
        raise ContributionError("csv", "must not contain NUL characters")
    reader = csv.reader(io.StringIO(data, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ContributionError(
                "csv", "empty: the first line must name the columns, e.g. task,optimizer,value,config.lr"
            )
        header = [h.strip() for h in header]
        for h in header:
            if h not in CSV_COLUMNS and not (h.startswith("config.") and len(h) > 7):
                raise ContributionError(
                    "csv.header", f"unknown column {h[:80]!r} (valid: {', '.join(CSV_COLUMNS)}, config.<name>)"
                )
        if len(set(header)) != len(header):
            raise ContributionError("csv.header", "repeats a column")
        rows: list[tuple[int, dict[str, Any]]] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            i, line = len(rows), reader.line_num
            if len(rows) >= max_rows:
                raise ContributionError("csv", f"at most {max_rows} rows per upload")
            if len(cells) != len(header):
                raise ContributionError(
                    f"rows[{i}]", f"CSV line {line} has {len(cells)} fields, the header {len(header)}"
                )
            rows.append((line, _row(dict(zip(header, cells)), f"rows[{i}]")))
    except csv.Error as err:
        raise ContributionError("csv", f"malformed CSV at line {reader.line_num}: {err}") from None
    if not rows:
        raise ContributionError("csv", "has a header but no rows")
    return rows


def _row(cells: dict[str, str], where: str) -> dict[str, Any]:
    get = {k: v for k, v in cells.items() if v.strip() != ""}
    item: dict[str, Any] = {}
    if any(k.startswith("task_") for k in get):
        item["task"] = {"name": get.get("task"), **{k[5:]: v for k, v in get.items() if k.startswith("task_")}}
    elif "task" in get:
        item["task"] = get["task"]
    for k in ("optimizer", "hardware", "software"):
        if k in get:
            item[k] = get[k]
    if "value" in get:
        item["value"] = _cell(get["value"])
    budget = {k: _cell(get[k]) for k in ("epochs", "steps") if k in get}
    if budget:
        item["budget"] = budget
    if "seeds" in get:
        item["seeds"] = _numbers(get["seeds"], f"{where}.seeds", int)
    if "curve" in get:
        item["curve"] = _numbers(get["curve"], f"{where}.curve", float)
    source = {k[7:]: v for k, v in get.items() if k.startswith("source_")}
    if source:
        item["source"] = source
    item["config"] = {k[7:]: _cell(v) for k, v in get.items() if k.startswith("config.")}
    return item


# ---- reading, withdrawing ---------------------------------------------------------------------------------------------
def contribution_to_dict(c: Contribution, meta: TaskContext | None = None) -> dict[str, Any]:
    verification = None
    if c.verdict is not None:
        verification = {
            "job_id": c.verify_job_id,
            "verdict": c.verdict,
            "measured_value": c.measured_value,
            "detail": c.verdict_detail,
        }
    return {
        "id": c.id,
        "status": c.status,
        "origin": "verified" if c.verdict == "verified" else "contributed",
        "task": c.task,
        "optimizer": c.optimizer,
        "metric": meta.metric if meta else None,
        "direction": meta.direction if meta else None,
        "config": c.config,
        "given": c.given,
        "value": c.value,
        "curve": c.curve,
        "budget": {"epochs": c.epochs, "steps": c.steps},
        "seeds": c.seeds,
        "hardware": c.hardware,
        "software": c.software,
        "source": c.source,
        "owner": c.owner,
        "verification": verification,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _dicts(url: str, rows: list[Contribution]) -> list[dict[str, Any]]:
    meta = task_contexts(url, (c.task for c in rows))
    return [contribution_to_dict(c, meta.get(c.task)) for c in rows]


def is_lookup_name(name: Any, max_len: int = 200) -> bool:
    """Whether a name can be looked up at all (PostgreSQL refuses NUL; neither backend takes lone surrogates)."""
    if not isinstance(name, str) or len(name) > max_len or "\x00" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def get_contribution(url: str, contribution_id: str) -> dict[str, Any]:
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
    if c is None:
        raise NotFound("id", f"contribution {contribution_id!r} not found")
    return _dicts(url, resolve_verdicts(url, [c]))[0]


def list_contributions(
    url: str,
    *,
    task: str | None = None,
    optimizer: str | None = None,
    status: str | None = "active",
    verdict: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Contributions, newest first, with the total for pagination."""
    for name, val in (
        ("task", task),
        ("optimizer", optimizer),
        ("status", status),
        ("verdict", verdict),
        ("owner", owner),
    ):
        if val is not None and not is_lookup_name(val):
            raise ContributionError(name, "must be plain text of at most 200 characters")
    q = sa.select(Contribution)
    for col, val in (
        (Contribution.task, task),
        (Contribution.optimizer, optimizer),
        (Contribution.status, status),
        (Contribution.owner, owner),
    ):
        if val is not None:
            q = q.where(col == val)
    if verdict == "none":
        q = q.where(Contribution.verdict.is_(None))
    elif verdict is not None:
        q = q.where(Contribution.verdict == verdict)
    with session_scope(url) as s:
        total = s.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
        rows = list(s.scalars(q.order_by(Contribution.created_at.desc(), Contribution.id).limit(limit).offset(offset)))
    return _dicts(url, resolve_verdicts(url, rows)), int(total or 0)


def withdraw_contribution(
    url: str, contribution_id: str, *, may_act_for: Callable[[str | None], bool]
) -> dict[str, Any]:
    """Mark a contribution withdrawn (it leaves the zone views). ``may_act_for(owner)`` decides who may."""
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
        if c is None:
            raise NotFound("id", f"contribution {contribution_id!r} not found")
        if not may_act_for(c.owner):
            raise PermissionError(
                f"contribution {contribution_id} belongs to another token; its owner or an admin may withdraw it"
            )
        if c.status != "withdrawn":
            c.status = "withdrawn"
            c.updated_at = utcnow()
        s.flush()
        s.refresh(c)
    _written()
    return _dicts(url, [c])[0]


# ---- verification ---------------------------------------------------------------------------------------------------
def verdict_for(claimed: float, measured: float, measured_std: float | None = None) -> tuple[str, float]:
    """``(verdict, tolerance)``: verified when |measured - claimed| is within the tolerance (see module docs)."""
    tol = max(VERIFY_ATOL, VERIFY_RTOL * abs(claimed), VERIFY_STD_FACTOR * (measured_std or 0.0))
    return ("verified" if abs(measured - claimed) <= tol else "disputed"), tol


def request_verification(url: str, contribution_id: str, owner: str | None = None) -> tuple[dict[str, Any], Job, bool]:
    """Queue (or return the queued) rerun of a contribution: ``(contribution, job, created)``."""
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
    if c is None:
        raise NotFound("id", f"contribution {contribution_id!r} not found")
    if c.status != "active":
        raise ContributionError("id", f"contribution {c.id} is withdrawn")
    if c.task not in task_names():
        raise ContributionError(
            "task", f"{c.task!r} is a contributed task; only results on registered tasks can be rerun"
        )
    c = resolve_verdicts(url, [c])[0]
    if c.verify_job_id and c.verdict != "unverified":
        job = get_job(url, c.verify_job_id)
        if job is not None:
            return _dicts(url, [c])[0], job, False
    space = {"optimizer": c.optimizer, "params": {k: {"type": "fixed", "value": v} for k, v in c.config.items()}}
    raw = {
        "task": c.task,
        "optimizer": c.optimizer,
        "space": space,
        "n_trials": 1,
        "sampler": "random",
        "sampler_seed": 0,
        "seeds": c.seeds or [0],
        "epochs": c.epochs or get_task(c.task).default_epochs,
    }
    try:
        spec = JobSpec.parse(raw)
    except JobSpecError as err:
        raise ContributionError(f"verification.{err.field}", f"cannot rerun this contribution: {err.message}") from None
    # the key makes concurrent requests queue one job; a cancelled rerun is followed by a new one
    job, created = create_job(url, spec, idempotency_key=f"verify:{c.id}:{c.verify_job_id or 0}", owner=owner)
    with session_scope(url) as s:
        s.execute(
            sa.update(Contribution)
            .where(Contribution.id == c.id)
            .values(
                verify_job_id=job.id,
                verdict="pending",
                measured_value=None,
                verdict_detail=f"rerun queued as job {job.id}",
                updated_at=utcnow(),
            )
        )
        c = s.get(Contribution, c.id)
    _written()
    return _dicts(url, [c])[0], job, created


def resolve_verdicts(url: str, rows: list[Contribution]) -> list[Contribution]:
    """Record the verdict of pending contributions whose verification job has finished (lazily, on read)."""
    pending = [c for c in rows if c.verdict == "pending" and c.verify_job_id]
    if not pending:
        return rows
    with session_scope(url) as s:
        jobs = {j.id: j for j in s.scalars(sa.select(Job).where(Job.id.in_([c.verify_job_id for c in pending])))}
    changed: dict[str, Contribution] = {}
    for c in pending:
        job = jobs.get(c.verify_job_id)
        if job is not None and job.status in ACTIVE_JOB_STATUSES:
            continue
        verdict, measured, detail = _judge(url, c, job)
        with session_scope(url) as s:
            # conditional: when two readers judge at once, the first write stands
            s.execute(
                sa.update(Contribution)
                .where(
                    Contribution.id == c.id,
                    Contribution.verdict == "pending",
                    Contribution.verify_job_id == c.verify_job_id,
                )
                .values(verdict=verdict, measured_value=measured, verdict_detail=detail, updated_at=utcnow())
            )
            changed[c.id] = s.get(Contribution, c.id)
    if changed:
        _written()
    return [changed.get(c.id, c) for c in rows]


def _judge(url: str, c: Contribution, job: Job | None) -> tuple[str, float | None, str]:
    if job is None:
        return "unverified", None, f"verification job {c.verify_job_id} no longer exists; request verification again"
    if job.status != JobStatus.COMPLETED:
        return "unverified", None, f"verification job {job.id} ended {job.status}; request verification again"
    finished = [
        t
        for t in load_trials(url, job.study_name)
        if t.attrs.get("outcome") not in (None, Outcome.LOST, Outcome.CANCELLED)
    ]
    if not finished:
        return "unverified", None, f"verification job {job.id} recorded no result; request verification again"
    t = finished[-1]
    if t.state != "COMPLETE" or t.value is None or not math.isfinite(t.value):
        reason = t.attrs.get("fail_reason") or t.attrs.get("outcome")
        return "disputed", None, f"the rerun did not finish ({t.attrs.get('outcome')}: {reason})"
    verdict, tol = verdict_for(c.value, t.value, t.attrs.get("value_std"))
    rel = "<=" if verdict == "verified" else ">"
    return (
        verdict,
        float(t.value),
        (
            f"rerun measured {t.value:.6g} against the claimed {c.value:.6g}: |difference| "
            f"{abs(t.value - c.value):.3g} {rel} tolerance {tol:.3g} (max({VERIFY_ATOL:g}, "
            f"{VERIFY_RTOL:.0%} of |claim|, {VERIFY_STD_FACTOR:g} x seed std))"
        ),
    )


# ---- catalog --------------------------------------------------------------------------------------------------------
def _registered_task(name: str) -> dict[str, Any]:
    d = get_task(name).describe()
    return {**d, "kind": "builtin" if d.get("source", "builtin") == "builtin" else "plugin", "verifiable": True}


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
        "source": "contributed",
        "kind": "contributed",
        "verifiable": False,
    }


def list_tasks(url: str) -> list[dict[str, Any]]:
    """Registered tasks (built-in and plug-ins), then the tasks contributors described."""
    with session_scope(url) as s:
        contributed = list(s.scalars(sa.select(ContributedTask).order_by(ContributedTask.name)))
    return [_registered_task(n) for n in task_names()] + [_contributed_task(r) for r in contributed]


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
        "natural_axes": list(get_profile(spec.name).natural_axes),
    }


def list_optimizers() -> list[dict[str, Any]]:
    return [describe_optimizer(n) for n in REGISTRY]
