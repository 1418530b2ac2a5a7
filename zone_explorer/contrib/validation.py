"""Checking a contribution: its task (registered, or a new one described once), its optimizer and complete config,
its value, curve, budget, seeds and source. Every error names the path of the offending value."""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.orm import Session

from optimizers.registry import OptimizerSpec, get_optimizer
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import (
    CONTRIBUTED_TASK_NAME,
    INT32_MAX,
    MAX_CONTRIBUTED_EPOCHS,
    MAX_CURVE,
    MAX_LONG_TEXT,
    MAX_METRIC_NAME,
    MAX_NAME,
    MAX_NOTES,
    MAX_SEEDS,
    MAX_SHORT_TEXT,
)
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import REPARAMETRIZATIONS, default_space
from zone_explorer.core.statuses import ContributionStatus
from zone_explorer.engine.jobs import run_length
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import ContributedTask, Contribution
from zone_explorer.tasks import get_task, task_names

__all__ = [
    "CONTRIBUTED_FLOAT_MAX",
    "CONTRIBUTED_LOG_MIN",
    "ContributionError",
    "METRIC_RANGE_FIELDS",
    "NEW_TASK_FIELDS",
    "TaskBook",
    "TaskContext",
    "bounds_text",
    "contribution_bounds",
    "fingerprint",
    "is_lookup_name",
    "parse_contribution",
    "required_hyperparameters",
    "task_contexts",
]

_TASK_NAME = re.compile(CONTRIBUTED_TASK_NAME)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_FIELDS = ("task", "optimizer", "config", "value", "curve", "budget", "seeds", "hardware", "software", "source")
#: what describes a new task (its ``name`` and the rest)
NEW_TASK_FIELDS = ("name", "dataset", "model", "metric", "direction", "description")
#: a new task's metric range (optional numbers; a missing end is unbounded): values outside are refused
METRIC_RANGE_FIELDS = ("metric_low", "metric_high")
#: the finite bounds of a contributed hyperparameter, within its registry domain: no run used a value beyond them,
#: and one that did (``c_scaling = 1e-300``, ``lr = 1e308``) would stretch every zone's axes. Log-scaled ones (learning
#: rates, ``c_scaling``, ``eps``) lie in [1e-20, 1e6], the others in [-1e6, 1e6], integers fit 32 bits.
CONTRIBUTED_FLOAT_MAX = 1e6
CONTRIBUTED_LOG_MIN = 1e-20


class ContributionError(FieldError):
    """An invalid contribution or request; ``field`` is the path of the offending value (``config.lr``)."""


def is_lookup_name(name: Any, max_len: int = MAX_NAME) -> bool:
    """Whether a name can be looked up at all (PostgreSQL refuses NUL; neither backend takes lone surrogates)."""
    if not isinstance(name, str) or len(name) > max_len or "\x00" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---- small validators (every message names the field) ----------------------------------------------------------
@overload
def _text(value: Any, where: str, max_len: int, *, required: Literal[True]) -> str: ...
@overload
def _text(value: Any, where: str, max_len: int, *, required: bool = False) -> str | None: ...
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
    #: the metric's valid range (infinite ends: unbounded)
    metric_low: float = -math.inf
    metric_high: float = math.inf

    @classmethod
    def of_row(cls, row: ContributedTask) -> TaskContext:
        low, high = row.metric_low, row.metric_high
        return cls(
            row.name,
            False,
            row.metric,
            row.direction,
            metric_low=-math.inf if low is None else low,
            metric_high=math.inf if high is None else high,
        )

    @classmethod
    def of_registered(cls, name: str) -> TaskContext:
        t = get_task(name)
        return cls(t.name, True, t.metric, t.direction, t.default_epochs, *t.metric_range)

    def range_text(self) -> str:
        """The range in words: ``[0, 1]``, ``>= 0``, ``<= 5`` or ``any finite number``."""
        low, high = self.metric_low, self.metric_high
        if math.isinf(low) and math.isinf(high):
            return "any finite number"
        if math.isinf(high):
            return f">= {low:g}"
        if math.isinf(low):
            return f"<= {high:g}"
        return f"in [{low:g}, {high:g}]"

    def check(self, value: float, where: str) -> float:
        """``value`` if it lies in the metric's range, else an error naming ``where`` and the range."""
        if not self.metric_low <= value <= self.metric_high:
            raise ContributionError(
                where, f"must be {self.range_text()} ({self.metric} of task {self.name}), got {value!r}"
            )
        return value


class TaskBook:
    """Resolves the task of each contribution in a batch; new tasks described in the batch are added once."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.registered = set(task_names())
        self.new: dict[str, ContributedTask] = {}

    def _row(self, name: str) -> ContributedTask | None:
        return self.new.get(name) or self.s.get(ContributedTask, name)

    def resolve(self, raw: Any, where: str, owner: str | None) -> TaskContext:
        if isinstance(raw, str):
            _text(raw, where, MAX_NAME, required=True)
            if raw in self.registered:
                return TaskContext.of_registered(raw)
            row = self._row(raw) if len(raw) <= 64 else None
            if row is None:
                raise ContributionError(
                    where,
                    f"unknown task {raw!r} (registered: {', '.join(sorted(self.registered))}); "
                    "describe a new task as an object with " + ", ".join(NEW_TASK_FIELDS),
                )
            return TaskContext.of_row(row)
        if not isinstance(raw, Mapping):
            raise ContributionError(
                where, "required: a task name, or a new task object with " + ", ".join(NEW_TASK_FIELDS)
            )
        _mapping(raw, where, NEW_TASK_FIELDS + METRIC_RANGE_FIELDS)
        desc: dict[str, Any] = {
            k: _text(raw.get(k), f"{where}.{k}", MAX_LONG_TEXT if k == "description" else MAX_SHORT_TEXT, required=True)
            for k in NEW_TASK_FIELDS
        }
        for k in METRIC_RANGE_FIELDS:
            desc[k] = None if raw.get(k) is None else _finite(raw.get(k), f"{where}.{k}")
        if (
            desc["metric_low"] is not None
            and desc["metric_high"] is not None
            and desc["metric_low"] >= desc["metric_high"]
        ):
            raise ContributionError(
                f"{where}.metric_high", f"must be > metric_low ({desc['metric_low']!r}), got {desc['metric_high']!r}"
            )
        if not _TASK_NAME.match(desc["name"]):
            raise ContributionError(
                f"{where}.name", "must be 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            )
        if len(desc["metric"]) > MAX_METRIC_NAME:
            raise ContributionError(f"{where}.metric", f"must be at most {MAX_METRIC_NAME} characters")
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
        elif any(getattr(row, k) != desc[k] for k in NEW_TASK_FIELDS + METRIC_RANGE_FIELDS):
            raise ContributionError(
                f"{where}.name",
                f"a task named {desc['name']!r} is already described differently; "
                "name it by string to add to it, or choose a new name",
            )
        return TaskContext.of_row(row)


def task_contexts(url: str, names: Iterable[str]) -> dict[str, TaskContext]:
    """Metric and direction of the named tasks (one query for the contributed ones)."""
    registered = set(task_names())
    out: dict[str, TaskContext] = {}
    rest = []
    for n in set(names):
        if n in registered:
            out[n] = TaskContext.of_registered(n)
        else:
            rest.append(n)
    if rest:
        with session_scope(url) as s:
            for row in s.scalars(sa.select(ContributedTask).where(ContributedTask.name.in_(rest))):
                out[row.name] = TaskContext.of_row(row)
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


def contribution_bounds(optimizer: str) -> dict[str, tuple[float, float]]:
    """The finite range each numeric hyperparameter of ``optimizer`` must lie in to be contributed: its registry
    domain within :data:`CONTRIBUTED_FLOAT_MAX` (and :data:`CONTRIBUTED_LOG_MIN` for log-scaled ones)."""
    out: dict[str, tuple[float, float]] = {}
    for hp in get_optimizer(optimizer).hyperparameters:
        if hp.kind == "float":
            out[hp.name] = (
                max(hp.low, CONTRIBUTED_LOG_MIN if hp.log else -CONTRIBUTED_FLOAT_MAX),
                min(hp.high, CONTRIBUTED_FLOAT_MAX),
            )
        elif hp.kind == "int":
            out[hp.name] = (max(hp.low, -INT32_MAX), min(hp.high, INT32_MAX))
    return out


def bounds_text(low: float, high: float) -> str:
    """``[1e-20, 1e+06]``, or ``[1, 2147483647]`` for integer bounds."""
    return "[" + ", ".join(str(x) if isinstance(x, int) else f"{x:g}" for x in (low, high)) + "]"


def _check_bounds(spec: OptimizerSpec, cfg: Mapping[str, Any], p: str) -> None:
    bounds = contribution_bounds(spec.name)
    for name, value in cfg.items():
        if name in bounds and value is not None and not bounds[name][0] <= value <= bounds[name][1]:
            raise ContributionError(
                f"{p}config.{name}",
                f"must be in {bounds_text(*bounds[name])} to be contributed ({spec.name}'s domain "
                f"{spec.hyperparameter(name).domain()} within finite bounds; `zone-explorer optimizers {spec.name}` "
                f"lists them), got {value!r}",
            )


def fingerprint(c: Contribution) -> str:
    """What makes two results the same: task, optimizer, full config, budget, seeds, value and owner (SHA-256)."""
    key = [c.task, c.optimizer, c.config, c.epochs, c.steps, sorted(c.seeds or []), repr(float(c.value)), c.owner]
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---- one contribution ------------------------------------------------------------------------------------------------
def parse_contribution(data: Any, where: str, book: TaskBook, owner: str | None) -> Contribution:
    """The row for one contribution (not yet added to a session); ``where`` prefixes every error's field."""
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
    _check_bounds(spec, cfg, p)
    try:
        full = spec.validate({**derived, **cfg})
    except (TypeError, ValueError) as err:
        raise ContributionError(f"{p}config", str(err)) from None

    value = _finite(data.get("value"), f"{p}value") if "value" in data else None
    if value is None:
        raise ContributionError(f"{p}value", f"required, the finite {task.metric} ({task.direction}d)")
    task.check(value, f"{p}value")
    curve = data.get("curve")
    if curve is not None:
        if not isinstance(curve, list) or len(curve) > MAX_CURVE:
            raise ContributionError(
                f"{p}curve", f"must be a list of at most {MAX_CURVE} finite numbers (one per epoch or report)"
            )
        curve = [task.check(_finite(v, f"{p}curve[{i}]"), f"{p}curve[{i}]") for i, v in enumerate(curve)]
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
        "doi": _text(source.get("doi"), f"{p}source.doi", MAX_NAME),
        "url": _text(source.get("url"), f"{p}source.url", MAX_LONG_TEXT),
        "notes": _text(source.get("notes"), f"{p}source.notes", MAX_NOTES),
    }
    if src["doi"] and not _DOI.match(src["doi"]):
        raise ContributionError(f"{p}source.doi", f"must look like 10.NNNN/suffix, got {src['doi']!r}")
    if src["url"] and not re.match(r"^https?://\S+$", src["url"]):
        raise ContributionError(f"{p}source.url", "must be an http(s) URL without spaces")
    if not any(src.values()):
        raise ContributionError(f"{p}source", "give at least one of doi, url, notes")
    row = Contribution(
        id=secrets.token_hex(8),
        status=ContributionStatus.ACTIVE,
        task=task.name,
        optimizer=spec.name,
        config=full,
        given=list(cfg),
        value=value,
        curve=curve,
        epochs=epochs,
        steps=steps,
        seeds=seeds,
        hardware=_text(data.get("hardware"), f"{p}hardware", MAX_SHORT_TEXT),
        software=_text(data.get("software"), f"{p}software", MAX_SHORT_TEXT),
        source={k: v for k, v in src.items() if v},
        owner=owner,
    )
    row.fingerprint = fingerprint(row)
    return row
