"""Fast reads of a study's trials straight from Optuna's tables (one query per table, no per-trial objects).

``optuna.Study.get_trials`` builds a FrozenTrial with deep copies for every trial, which takes seconds for
10,000 trials; zone maps and exports need only numbers and the stored config, so they read the tables.
The tables come from :mod:`zone_explorer.store.optuna_tables`, which checks that they are the schema read here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from zone_explorer.store.db import get_engine, normalize_url
from zone_explorer.store.optuna_tables import (
    studies,
    study_directions,
    trial_intermediate_values,
    trial_params,
    trial_user_attributes,
    trial_values,
    trials,
)

__all__ = ["TrialRecord", "best_trial", "load_results", "load_trials"]

# PostgreSQL stores the state as an enum type; compare it as text on every backend.
_STATE = sa.cast(trials.c.state, sa.String(16))
_ATTRS = ("config", "outcome", "fail_reason", "seed_values", "value_std", "retry_of", "environment")


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
            # where it ran: device, GPU or CPU name, torch, CUDA, host, Python (zone_explorer.engine.devices)
            "environment": self.attrs.get("environment"),
            "datetime_start": _iso(self.datetime_start),
            "datetime_complete": _iso(self.datetime_complete),
        }


def _iso(t: Any) -> str | None:
    return t.isoformat() if t is not None else None


def _study_id(conn: sa.Connection, study_name: str) -> int | None:
    return conn.scalar(sa.select(studies.c.study_id).where(studies.c.study_name == study_name))


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
                trials.c.trial_id,
                trials.c.number,
                _STATE.label("state"),
                trials.c.datetime_start,
                trials.c.datetime_complete,
            )
            .where(trials.c.study_id == sid)
            .order_by(trials.c.number)
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
        ids: sa.Select[int] | list[int] = sa.select(trials.c.trial_id).where(trials.c.study_id == sid)
        if limit is not None or states:
            ids = list(records)
        for tid, value in conn.execute(
            sa.select(trial_values.c.trial_id, trial_values.c.value).where(
                trial_values.c.trial_id.in_(ids), trial_values.c.objective == 0
            )
        ):
            if tid in records:
                records[tid].value = value
        for tid, name, value, dist in conn.execute(
            sa.select(
                trial_params.c.trial_id,
                trial_params.c.param_name,
                trial_params.c.param_value,
                trial_params.c.distribution_json,
            ).where(trial_params.c.trial_id.in_(ids))
        ):
            if tid in records:
                records[tid].params[name] = _decode_param(value, dist)
        if with_attrs:
            for tid, key, value_json in conn.execute(
                sa.select(
                    trial_user_attributes.c.trial_id, trial_user_attributes.c.key, trial_user_attributes.c.value_json
                ).where(trial_user_attributes.c.trial_id.in_(ids), trial_user_attributes.c.key.in_(_ATTRS))
            ):
                if tid in records:
                    records[tid].attrs[key] = json.loads(value_json)
    return sorted(records.values(), key=lambda r: r.number)


def load_results(url: str, study_name: str) -> list[TrialRecord]:
    """What a zone needs, in one query: the complete trials (number, value, config, seed values) and the diverged
    ones (state FAIL, outcome ``diverged``: number and config; they bound the zone)."""
    config = trial_user_attributes.alias("config_attr")
    seeds = trial_user_attributes.alias("seeds_attr")
    outcome = trial_user_attributes.alias("outcome_attr")

    def attr(alias: Any, key: str) -> Any:
        return sa.and_(alias.c.trial_id == trials.c.trial_id, alias.c.key == key)

    with get_engine(normalize_url(url)).connect() as conn:
        sid = _study_id(conn, study_name)
        if sid is None:
            return []
        rows = conn.execute(
            sa.select(
                trials.c.number,
                trials.c.trial_id,
                _STATE,
                trial_values.c.value,
                config.c.value_json,
                seeds.c.value_json,
                outcome.c.value_json,
            )
            .outerjoin(
                trial_values, sa.and_(trial_values.c.trial_id == trials.c.trial_id, trial_values.c.objective == 0)
            )
            .outerjoin(config, attr(config, "config"))
            .outerjoin(seeds, attr(seeds, "seed_values"))
            .outerjoin(outcome, attr(outcome, "outcome"))
            .where(trials.c.study_id == sid, _STATE.in_(("COMPLETE", "FAIL")))
            .order_by(trials.c.number)
        ).all()
    loads = json.loads
    out = []
    for number, tid, state, value, cfg, seed_values, result in rows:
        if state == "FAIL" and (result is None or loads(result) != "diverged"):
            continue  # errors and cancellations say nothing about the metric
        attrs: dict[str, Any] = {"config": loads(cfg)} if cfg else {}
        if seed_values:
            attrs["seed_values"] = loads(seed_values)
        if state == "FAIL":
            attrs["outcome"] = "diverged"
        out.append(TrialRecord(number, tid, state, value, attrs=attrs))
    return out


def intermediate_values(url: str, study_name: str) -> dict[int, list[tuple[int, float]]]:
    """Per trial number, its reported (epoch, value) pairs."""
    with get_engine(normalize_url(url)).connect() as conn:
        sid = _study_id(conn, study_name)
        rows = conn.execute(
            sa.select(trials.c.number, trial_intermediate_values.c.step, trial_intermediate_values.c.intermediate_value)
            .join(trials, trials.c.trial_id == trial_intermediate_values.c.trial_id)
            .where(trials.c.study_id == sid)
            .order_by(trials.c.number, trial_intermediate_values.c.step)
        ).all()
    out: dict[int, list[tuple[int, float]]] = {}
    for number, step, value in rows:
        out.setdefault(number, []).append((step, value))
    return out


def _best_trial_query() -> sa.Select[float, str | None]:
    config = trial_user_attributes.alias("config_attr")
    maximize = sa.cast(study_directions.c.direction, sa.String(16)) == "MAXIMIZE"
    return (
        sa.select(trial_values.c.value, config.c.value_json)
        .select_from(
            trials.join(studies, studies.c.study_id == trials.c.study_id)
            .join(
                study_directions,
                sa.and_(study_directions.c.study_id == trials.c.study_id, study_directions.c.objective == 0),
            )
            .join(trial_values, sa.and_(trial_values.c.trial_id == trials.c.trial_id, trial_values.c.objective == 0))
            .outerjoin(config, sa.and_(config.c.trial_id == trials.c.trial_id, config.c.key == "config"))
        )
        # an infinite value is stored as NULL (with its type beside it): never the best
        .where(
            studies.c.study_name == sa.bindparam("study_name"), _STATE == "COMPLETE", trial_values.c.value.is_not(None)
        )
        .order_by(sa.case((maximize, -trial_values.c.value), else_=trial_values.c.value), trials.c.number)
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
