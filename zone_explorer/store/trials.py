"""Fast reads of a study's trials straight from Optuna's tables (one query per table, no per-trial objects).

``optuna.Study.get_trials`` builds a FrozenTrial with deep copies for every trial, which takes seconds for
10,000 trials; zone maps and exports need only numbers and the stored config, so they read the tables.
The schema read here (studies, study_directions, trials, trial_values, trial_params, trial_user_attributes,
trial_intermediate_values) is Optuna's RDB schema, stable across Optuna 3 to 5.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from zone_explorer.store.db import get_engine, normalize_url

__all__ = ["TrialRecord", "best_trial", "load_results", "load_trials"]

_studies = sa.table("studies", sa.column("study_id"), sa.column("study_name"))
_directions = sa.table("study_directions", sa.column("study_id"), sa.column("direction"), sa.column("objective"))
_trials = sa.table(
    "trials",
    sa.column("trial_id"),
    sa.column("number"),
    sa.column("study_id"),
    sa.column("state"),
    sa.column("datetime_start", sa.DateTime),
    sa.column("datetime_complete", sa.DateTime),
)
_values = sa.table("trial_values", sa.column("trial_id"), sa.column("objective"), sa.column("value", sa.Float))
_params = sa.table(
    "trial_params",
    sa.column("trial_id"),
    sa.column("param_name"),
    sa.column("param_value"),
    sa.column("distribution_json"),
)
_attrs = sa.table("trial_user_attributes", sa.column("trial_id"), sa.column("key"), sa.column("value_json"))
_inter = sa.table(
    "trial_intermediate_values", sa.column("trial_id"), sa.column("step"), sa.column("intermediate_value")
)

# PostgreSQL stores the state as an enum type; compare it as text on every backend.
_STATE = sa.cast(_trials.c.state, sa.String(16))
_ATTRS = ("config", "outcome", "fail_reason", "seed_values", "value_std", "retry_of")


@dataclass
class TrialRecord:
    number: int
    trial_id: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: float | None
    params: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    datetime_start: Any = None
    datetime_complete: Any = None

    @property
    def config(self) -> dict[str, Any]:
        return self.attrs.get("config") or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "params": self.params,
            "config": self.config,
            "outcome": self.attrs.get("outcome"),
            "reason": self.attrs.get("fail_reason"),
            "seed_values": self.attrs.get("seed_values"),
            "value_std": self.attrs.get("value_std"),
            "datetime_start": _iso(self.datetime_start),
            "datetime_complete": _iso(self.datetime_complete),
        }


def _iso(t: Any) -> str | None:
    return t.isoformat() if t is not None else None


def _study_id(conn: sa.Connection, study_name: str) -> int | None:
    return conn.scalar(sa.select(_studies.c.study_id).where(_studies.c.study_name == study_name))


def _decode_param(value: float, distribution_json: str) -> Any:
    dist = json.loads(distribution_json)
    if dist.get("name") == "CategoricalDistribution":
        return dist["attributes"]["choices"][int(value)]
    if dist.get("name") == "IntDistribution":
        return int(value)
    return value


def load_trials(
    url: str,
    study_name: str,
    *,
    states: Iterable[str] | None = None,
    with_attrs: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[TrialRecord]:
    """The study's trials ordered by number, with values, params and our user attributes."""
    with get_engine(normalize_url(url)).connect() as conn:
        sid = _study_id(conn, study_name)
        if sid is None:
            return []
        q = (
            sa.select(
                _trials.c.trial_id,
                _trials.c.number,
                _STATE.label("state"),
                _trials.c.datetime_start,
                _trials.c.datetime_complete,
            )
            .where(_trials.c.study_id == sid)
            .order_by(_trials.c.number)
        )
        if states:
            q = q.where(_STATE.in_(list(states)))
        if limit is not None:
            q = q.limit(limit).offset(offset)
        rows = conn.execute(q).all()
        records = {
            r.trial_id: TrialRecord(
                r.number,
                r.trial_id,
                str(r.state).split(".")[-1],
                None,
                datetime_start=r.datetime_start,
                datetime_complete=r.datetime_complete,
            )
            for r in rows
        }
        if not records:
            return []
        ids = sa.select(_trials.c.trial_id).where(_trials.c.study_id == sid)
        if limit is not None or states:
            ids = list(records)
        for tid, value in conn.execute(
            sa.select(_values.c.trial_id, _values.c.value).where(_values.c.trial_id.in_(ids), _values.c.objective == 0)
        ):
            if tid in records:
                records[tid].value = value
        for tid, name, value, dist in conn.execute(
            sa.select(
                _params.c.trial_id, _params.c.param_name, _params.c.param_value, _params.c.distribution_json
            ).where(_params.c.trial_id.in_(ids))
        ):
            if tid in records:
                records[tid].params[name] = _decode_param(value, dist)
        if with_attrs:
            for tid, key, value_json in conn.execute(
                sa.select(_attrs.c.trial_id, _attrs.c.key, _attrs.c.value_json).where(
                    _attrs.c.trial_id.in_(ids), _attrs.c.key.in_(_ATTRS)
                )
            ):
                if tid in records:
                    records[tid].attrs[key] = json.loads(value_json)
    return sorted(records.values(), key=lambda r: r.number)


def load_results(url: str, study_name: str) -> list[TrialRecord]:
    """The complete trials' numbers, values and configs only: what a zone needs, in one query."""
    config = _attrs.alias("config_attr")
    with get_engine(normalize_url(url)).connect() as conn:
        sid = _study_id(conn, study_name)
        if sid is None:
            return []
        rows = conn.execute(
            sa.select(_trials.c.number, _trials.c.trial_id, _values.c.value, config.c.value_json)
            .join(_values, sa.and_(_values.c.trial_id == _trials.c.trial_id, _values.c.objective == 0))
            .outerjoin(config, sa.and_(config.c.trial_id == _trials.c.trial_id, config.c.key == "config"))
            .where(_trials.c.study_id == sid, _STATE == "COMPLETE")
            .order_by(_trials.c.number)
        ).all()
    loads = json.loads
    return [
        TrialRecord(number, tid, "COMPLETE", value, attrs={"config": loads(cfg)} if cfg else {})
        for number, tid, value, cfg in rows
    ]


def intermediate_values(url: str, study_name: str) -> dict[int, list[tuple[int, float]]]:
    """Per trial number, its reported (epoch, value) pairs."""
    with get_engine(normalize_url(url)).connect() as conn:
        sid = _study_id(conn, study_name)
        rows = conn.execute(
            sa.select(_trials.c.number, _inter.c.step, _inter.c.intermediate_value)
            .join(_trials, _trials.c.trial_id == _inter.c.trial_id)
            .where(_trials.c.study_id == sid)
            .order_by(_trials.c.number, _inter.c.step)
        ).all()
    out: dict[int, list[tuple[int, float]]] = {}
    for number, step, value in rows:
        out.setdefault(number, []).append((step, value))
    return out


def _best_trial_query() -> sa.Select:
    config = _attrs.alias("config_attr")
    maximize = sa.cast(_directions.c.direction, sa.String(16)) == "MAXIMIZE"
    return (
        sa.select(_values.c.value, config.c.value_json)
        .select_from(
            _trials.join(_studies, _studies.c.study_id == _trials.c.study_id)
            .join(_directions, sa.and_(_directions.c.study_id == _trials.c.study_id, _directions.c.objective == 0))
            .join(_values, sa.and_(_values.c.trial_id == _trials.c.trial_id, _values.c.objective == 0))
            .outerjoin(config, sa.and_(config.c.trial_id == _trials.c.trial_id, config.c.key == "config"))
        )
        # an infinite value is stored as NULL (with its type beside it): never the best
        .where(_studies.c.study_name == sa.bindparam("study_name"), _STATE == "COMPLETE", _values.c.value.is_not(None))
        .order_by(sa.case((maximize, -_values.c.value), else_=_values.c.value), _trials.c.number)
        .limit(1)
    )


#: built once: a job's status page asks for the best trial on every poll
_BEST_TRIAL = _best_trial_query()


def best_trial(conn: sa.Connection, study_name: str) -> tuple[float | None, dict[str, Any] | None]:
    """The best complete trial's value and config, in one query on ``conn`` (the study's direction included)."""
    row = conn.execute(_BEST_TRIAL, {"study_name": study_name}).first()
    if row is None:
        return None, None
    value = row.value if math.isfinite(row.value) else None
    return value, json.loads(row.value_json) if row.value_json else None
