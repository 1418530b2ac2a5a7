"""What `zone-explorer import` accepts: a whole-database dump, checked in full before anything is written.

:func:`check_dump` reads every study, trial and row of a ``zone-explorer-dump/1`` document and returns them typed
(datetimes parsed, trials built as Optuna's ``FrozenTrial``), or raises :class:`TransferError` at the first problem,
naming its place in the dump (``tables.ze_jobs[3].n_trials``, ``studies[0].trials[7].state``) and the rule. It
checks:

* every cell against its column: type, null, a string's length (:data:`~zone_explorer.core.limits.MAX_IMPORTED_TEXT`
  where the column declares none), integers within 32 bits, floats finite;
* every study's trials: at most :func:`~zone_explorer.core.limits.max_imported_study_trials` per study, counted
  before any is built, each valid as Optuna would store it;
* every job as a submitted job is checked (:meth:`JobSpec.parse`: ``n_trials``, ``epochs`` and ``seeds`` within
  the caps of :mod:`zone_explorer.core.limits`, a valid space, a known sampler and pruner) and its status;
* the statuses, outcomes and verdicts of claims and contributions; a contribution's config (plain values), curve,
  seeds and epochs within their caps; a contributed task's name and metric range; tokens' scopes;
* that the parts agree: primary and unique keys are unique, each job's study is in the dump, each claim's job is,
  and a claim's trial number is a trial of that job's study.

Tokens are left out unless asked for (``with_tokens``): whoever wrote the dump knows their secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import sqlalchemy as sa

from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import (
    CONTRIBUTED_TASK_NAME,
    INT32_MAX,
    MAX_CONTRIBUTED_EPOCHS,
    MAX_CURVE,
    MAX_IMPORTED_TEXT,
    MAX_SEEDS,
    max_imported_study_trials,
)
from zone_explorer.core.statuses import ClaimStatus, ContributionStatus, JobStatus, Outcome, Verdict
from zone_explorer.engine.jobs import JobSpec, JobSpecError
from zone_explorer.store.models import Base
from zone_explorer.store.tokens import SCOPES

__all__ = ["FORMAT", "TOKENS_TABLE", "CheckedDump", "CheckedStudy", "TransferError", "check_dump"]

FORMAT = "zone-explorer-dump/1"
#: the table left out unless ``with_tokens``
TOKENS_TABLE = "ze_api_tokens"
#: Optuna's limit on a study's name and an attribute's key (its columns are VARCHAR(512))
_OPTUNA_NAME = 512
_INT32_MIN = -(2**31)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class TransferError(FieldError):
    """A dump that cannot be imported; ``field`` says where (a path in the dump)."""


@dataclass
class CheckedStudy:
    name: str
    directions: list[optuna.study.StudyDirection]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    #: in number order, numbered 0, 1, 2, ...
    trials: list[optuna.trial.FrozenTrial]


@dataclass
class CheckedDump:
    """A dump ready to write: its studies, and our tables' rows typed for SQLAlchemy (in dependency order)."""

    studies: list[CheckedStudy]
    tables: dict[str, list[dict[str, Any]]]
    #: rows left out, by table (tokens, unless asked for)
    skipped: dict[str, int] = field(default_factory=dict)


def _fail(path: str, rule: str) -> TransferError:
    return TransferError(path, rule)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be a JSON object, got {type(value).__name__}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"must be a JSON list, got {type(value).__name__}")
    return value


def _text(value: Any, path: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise _fail(path, f"must be at most {max_length} characters, got {len(value)}")
    return value


def _int(value: Any, path: str, low: int = _INT32_MIN, high: int = INT32_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise _fail(path, f"must be an integer in [{low}, {high}], got {value}")
    return value


def _number(value: Any, path: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _fail(path, f"must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise _fail(path, f"must be finite, got {value}")
    return float(value)


def _datetime(value: Any, path: str) -> dt.datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _fail(path, "must be an ISO 8601 date and time such as '2026-01-31T12:00:00+00:00'")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise _fail(path, f"must be an ISO 8601 date and time, got {value!r}") from None


def _json_size(value: Any, path: str) -> None:
    try:
        size = len(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError, RecursionError):
        raise _fail(path, "must be plain JSON") from None
    if size > MAX_IMPORTED_TEXT:
        raise _fail(path, f"must be at most {MAX_IMPORTED_TEXT} characters as JSON, got {size}")


def _one_of(value: Any, path: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _fail(path, f"must be one of {', '.join(allowed)}; got {value!r}")


def _given_one_of(row: dict[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> None:
    """A column with a default or a NULL may be absent or null; when given, it must be one of ``allowed``."""
    if row.get(key) is not None:
        _one_of(row[key], f"{path}.{key}", allowed)


def _cell(column: sa.Column[Any], value: Any, path: str) -> Any:
    """``value`` checked against ``column`` and converted to what SQLAlchemy writes into it."""
    if value is None:
        if not column.nullable:
            raise _fail(path, "must not be null")
        return None
    kind = column.type
    if isinstance(kind, sa.Integer):
        return _int(value, path)
    if isinstance(kind, sa.Float):
        return _number(value, path)
    if isinstance(kind, sa.DateTime):
        return _datetime(value, path)
    if isinstance(kind, sa.String):  # Text too
        return _text(value, path, kind.length or MAX_IMPORTED_TEXT)
    if isinstance(kind, sa.JSON):
        _json_size(value, path)
        return value
    raise _fail(path, f"has a column type this release cannot import ({kind})")


# ---- rules of one row, beyond its columns' types ----------------------------------------------------------------
def _values(enum: type[Any]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _job_row(row: dict[str, Any], path: str) -> None:
    _given_one_of(row, "status", path, _values(JobStatus))
    raw = {k: row.get(k) for k in ("task", "optimizer", "space", "sampler", "pruner", "n_trials", "epochs", "seeds")}
    raw["sampler_seed"] = row.get("sampler_seed")
    try:
        JobSpec.parse(raw)
    except JobSpecError as err:
        raise _fail(f"{path}.{err.field}", err.message) from None
    if row.get("run_length") is not None:
        for key, value in _mapping(row["run_length"], f"{path}.run_length").items():
            _int(value, f"{path}.run_length.{key}", 0)


def _claim_row(row: dict[str, Any], path: str) -> None:
    _given_one_of(row, "status", path, _values(ClaimStatus))
    _given_one_of(row, "outcome", path, _values(Outcome))
    _int(row["slot"], f"{path}.slot", 0)


def _int_list(value: Any, path: str, max_items: int) -> None:
    items = _list(value, path)
    if len(items) > max_items:
        raise _fail(path, f"must have at most {max_items} items, got {len(items)}")
    for i, item in enumerate(items):
        _int(item, f"{path}[{i}]", 0)


def _contribution_row(row: dict[str, Any], path: str) -> None:
    _given_one_of(row, "status", path, _values(ContributionStatus))
    _given_one_of(row, "verdict", path, _values(Verdict))
    for name, value in _mapping(row["config"], f"{path}.config").items():
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise _fail(f"{path}.config.{name}", f"must be a number, a string or a boolean, got {type(value).__name__}")
        if isinstance(value, float):
            _number(value, f"{path}.config.{name}")
    _mapping(row["source"], f"{path}.source")
    if row.get("epochs") is not None:
        _int(row["epochs"], f"{path}.epochs", 1, MAX_CONTRIBUTED_EPOCHS)
    for i, name in enumerate(_list(row["given"], f"{path}.given")):
        _text(name, f"{path}.given[{i}]", _OPTUNA_NAME)
    if row.get("curve") is not None:
        curve = _list(row["curve"], f"{path}.curve")
        if len(curve) > MAX_CURVE:
            raise _fail(f"{path}.curve", f"must have at most {MAX_CURVE} values, got {len(curve)}")
        for i, v in enumerate(curve):
            _number(v, f"{path}.curve[{i}]")
    if row.get("seeds") is not None:
        _int_list(row["seeds"], f"{path}.seeds", MAX_SEEDS)


def _task_row(row: dict[str, Any], path: str) -> None:
    _given_one_of(row, "direction", path, ("minimize", "maximize"))
    if not re.match(CONTRIBUTED_TASK_NAME, row["name"]):
        raise _fail(f"{path}.name", "must be lower case letters, digits, '.', '_' and '-' (at most 64)")
    low, high = row.get("metric_low"), row.get("metric_high")
    if low is not None and high is not None and not low < high:
        raise _fail(f"{path}.metric_high", f"must be > metric_low ({low}), got {high}")


def _token_row(row: dict[str, Any], path: str) -> None:
    scopes = _list(row["scopes"], f"{path}.scopes")
    if not scopes:
        raise _fail(f"{path}.scopes", f"must list at least one of {', '.join(SCOPES)}")
    for i, scope in enumerate(scopes):
        _one_of(scope, f"{path}.scopes[{i}]", SCOPES)
    if not _HEX64.match(row["secret_hash"]):
        raise _fail(f"{path}.secret_hash", "must be a SHA-256 in 64 lower-case hex digits")


def _request_row(row: dict[str, Any], path: str) -> None:
    for i, cid in enumerate(_list(row["contribution_ids"], f"{path}.contribution_ids")):
        _text(cid, f"{path}.contribution_ids[{i}]", 32)
    for i, dup in enumerate(_list(row["duplicates"], f"{path}.duplicates")):
        _mapping(dup, f"{path}.duplicates[{i}]")


_ROW_RULES: dict[str, Callable[[dict[str, Any], str], None]] = {
    "ze_jobs": _job_row,
    "ze_trial_claims": _claim_row,
    "ze_contributions": _contribution_row,
    "ze_contributed_tasks": _task_row,
    TOKENS_TABLE: _token_row,
    "ze_contribution_requests": _request_row,
}


def _required(column: sa.Column[Any]) -> bool:
    """Whether a row must give the column: not null, with no default, and not an id the database assigns."""
    assigned = column.primary_key and isinstance(column.type, sa.Integer) and column.autoincrement in (True, "auto")
    return not column.nullable and column.default is None and column.server_default is None and not assigned


def _row(table: sa.Table, raw: Any, path: str) -> dict[str, Any]:
    row = _mapping(raw, path)
    out = {}
    for key, value in row.items():
        column = table.columns.get(key)
        if column is None:
            raise _fail(f"{path}.{key}", "unknown column: the dump comes from a newer release")
        out[key] = _cell(column, value, f"{path}.{key}")
    for column in table.columns:
        if column.name not in out and _required(column):
            raise _fail(f"{path}.{column.name}", "missing: every row gives it")
    rule = _ROW_RULES.get(table.name)
    if rule is not None:
        rule(out, path)
    return out


def _unique_keys(table: sa.Table) -> list[tuple[str, ...]]:
    """The column sets whose values a table keeps unique: its primary key, unique columns and constraints."""
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [(c.name,) for c in table.columns if c.unique]
    keys += [
        tuple(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint)
    ]
    return keys


def _check_unique(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for names in _unique_keys(table):
        seen: dict[tuple[Any, ...], int] = {}
        for i, row in enumerate(rows):
            key = tuple(row.get(n) for n in names)
            if any(v is None for v in key):
                continue  # NULLs never clash
            if key in seen:
                raise _fail(
                    f"tables.{table.name}[{i}].{names[0]}",
                    f"repeats ({', '.join(names)}) = {key!r} of row {seen[key]}: must be unique",
                )
            seen[key] = i


# ---- studies ------------------------------------------------------------------------------------------------------
def _attrs(value: Any, path: str) -> dict[str, Any]:
    attrs = dict(_mapping(value, path))
    for key, v in attrs.items():
        _text(key, f"{path} key", _OPTUNA_NAME)
        _json_size(v, f"{path}.{key}")
    return attrs


def _optional_datetime(value: Any, path: str) -> dt.datetime | None:
    return None if value is None else _datetime(value, path)


def _trial(raw: Any, path: str, n_objectives: int) -> optuna.trial.FrozenTrial:
    d = _mapping(raw, path)
    states = {s.name: s for s in optuna.trial.TrialState}
    _one_of(d.get("state"), f"{path}.state", tuple(states))
    state = states[d["state"]]
    values = None
    if state == optuna.trial.TrialState.COMPLETE:
        raw_values = _list(d.get("values"), f"{path}.values")
        if len(raw_values) != n_objectives:
            raise _fail(f"{path}.values", f"must have one value per direction ({n_objectives}), got {len(raw_values)}")
        values = []
        for i, v in enumerate(raw_values):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
                raise _fail(f"{path}.values[{i}]", f"must be a number, got {v!r}")
            values.append(float(v))
    params = _mapping(d.get("params"), f"{path}.params")
    raw_distributions = _mapping(d.get("distributions"), f"{path}.distributions")
    if set(params) != set(raw_distributions):
        raise _fail(f"{path}.distributions", "must name the same parameters as params")
    distributions = {}
    for name, text in raw_distributions.items():
        where = f"{path}.distributions.{name}"
        _text(name, where, _OPTUNA_NAME)
        try:
            distributions[name] = optuna.distributions.json_to_distribution(_text(text, where, MAX_IMPORTED_TEXT))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise _fail(where, "must be an Optuna distribution as JSON") from None
    intermediate = {}
    for step, v in _mapping(d.get("intermediate_values"), f"{path}.intermediate_values").items():
        where = f"{path}.intermediate_values.{step}"
        if not re.fullmatch(r"\d{1,10}", step) or int(step) > INT32_MAX:
            raise _fail(where, "a step must be an integer in [0, 2147483647]")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise _fail(where, f"must be a number, got {type(v).__name__}")
        intermediate[int(step)] = float(v)
    try:
        trial = optuna.trial.create_trial(
            state=state,
            values=values,
            params=dict(params),
            distributions=distributions,
            user_attrs=_attrs(d.get("user_attrs"), f"{path}.user_attrs"),
            system_attrs=_attrs(d.get("system_attrs"), f"{path}.system_attrs"),
            intermediate_values=intermediate,
        )
    except (ValueError, TypeError) as err:  # Optuna's own check of the trial: a value outside its distribution
        raise _fail(path, str(err)) from None
    trial.datetime_start = _optional_datetime(d.get("datetime_start"), f"{path}.datetime_start")
    trial.datetime_complete = _optional_datetime(d.get("datetime_complete"), f"{path}.datetime_complete")
    return trial


def _study(raw: Any, path: str) -> CheckedStudy:
    s = _mapping(raw, path)
    name = _text(s.get("name"), f"{path}.name", _OPTUNA_NAME)
    directions = _list(s.get("directions"), f"{path}.directions")
    if not directions:
        raise _fail(f"{path}.directions", "must name at least one direction")
    for i, d in enumerate(directions):
        _one_of(d, f"{path}.directions[{i}]", ("MINIMIZE", "MAXIMIZE"))
    raw_trials = _list(s.get("trials"), f"{path}.trials")
    most = max_imported_study_trials()
    if len(raw_trials) > most:  # before building any: each costs memory and time
        raise _fail(
            f"{path}.trials",
            f"study {name!r} has {len(raw_trials)} trials; a study may bring at most {most} "
            "(ZONE_EXPLORER_MAX_IMPORTED_TRIALS)",
        )
    trials = []
    for i, t in enumerate(raw_trials):
        number = _mapping(t, f"{path}.trials[{i}]").get("number")
        if number != i or isinstance(number, bool):
            raise _fail(f"{path}.trials[{i}].number", f"must be {i}: trials are numbered 0, 1, 2, ... in order")
        trial = _trial(t, f"{path}.trials[{i}]", len(directions))
        trial.number = i  # create_trial leaves it unset
        trials.append(trial)
    return CheckedStudy(
        name=name,
        directions=[optuna.study.StudyDirection[d] for d in directions],
        user_attrs=_attrs(s.get("user_attrs"), f"{path}.user_attrs"),
        system_attrs=_attrs(s.get("system_attrs"), f"{path}.system_attrs"),
        trials=trials,
    )


# ---- the whole dump -----------------------------------------------------------------------------------------------
def _consistent(studies: list[CheckedStudy], tables: dict[str, list[dict[str, Any]]]) -> None:
    trial_counts = {s.name: len(s.trials) for s in studies}
    study_of_job = {}
    for i, job in enumerate(tables.get("ze_jobs", [])):
        if job["study_name"] not in trial_counts:
            raise _fail(f"tables.ze_jobs[{i}].study_name", f"names study {job['study_name']!r}, which the dump lacks")
        study_of_job[job["id"]] = job["study_name"]
    for i, claim in enumerate(tables.get("ze_trial_claims", [])):
        path = f"tables.ze_trial_claims[{i}]"
        study = study_of_job.get(claim["job_id"])
        if study is None:
            raise _fail(f"{path}.job_id", f"names job {claim['job_id']!r}, which the dump lacks")
        number = claim.get("trial_number")
        if number is not None and not 0 <= number < trial_counts[study]:
            raise _fail(f"{path}.trial_number", f"names trial {number} of study {study!r}, which the dump lacks")


def check_dump(dump: Any, *, with_tokens: bool = False) -> CheckedDump:
    """The dump, checked in full (see the module's docs); raises :class:`TransferError` naming the first problem."""
    if not isinstance(dump, Mapping) or dump.get("format") != FORMAT:
        raise _fail("format", f"expected a {FORMAT!r} document from `zone-explorer export --all`")
    studies = [_study(s, f"studies[{i}]") for i, s in enumerate(_list(dump.get("studies"), "studies"))]
    names: dict[str, int] = {}
    for i, s in enumerate(studies):
        if s.name in names:
            raise _fail(f"studies[{i}].name", f"repeats the name of studies[{names[s.name]}]: must be unique")
        names[s.name] = i
    raw_tables = _mapping(dump.get("tables"), "tables")
    known = {t.name: t for t in Base.metadata.sorted_tables}
    unknown = sorted(set(raw_tables) - set(known))
    if unknown:
        raise _fail("tables", f"unknown tables {unknown}: the dump comes from a newer release")
    tables: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, int] = {}
    for name, table in known.items():
        raw_rows = _list(raw_tables.get(name, []), f"tables.{name}")
        rows = [_row(table, r, f"tables.{name}[{i}]") for i, r in enumerate(raw_rows)]
        if name == TOKENS_TABLE and not with_tokens:
            skipped[name] = len(rows)
            continue
        _check_unique(table, rows)
        tables[name] = rows
    _consistent(studies, tables)
    return CheckedDump(studies, tables, skipped)
