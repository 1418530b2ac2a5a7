"""Move a whole database: every Optuna study and every row of our tables, as one JSON document.

``export_database`` reads from any supported URL, ``import_database`` writes into another (typically a SQLite
file into PostgreSQL when a user outgrows one machine). Optuna trial ids are assigned anew by the target, so
claims are re-pointed through (study, trial number). Export a quiescent database: stop the workers first.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import optuna
import sqlalchemy as sa

from zone_explorer.core.errors import FieldError
from zone_explorer.engine.studies import storage_for
from zone_explorer.store.db import get_engine, init_db, normalize_url
from zone_explorer.store.models import Base

__all__ = ["FORMAT", "TransferError", "export_database", "import_database"]

FORMAT = "zone-explorer-dump/1"


class TransferError(FieldError):
    """A dump that cannot be imported; ``field`` says where."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _trial_to_dict(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name,
        "values": t.values,
        "params": t.params,
        "distributions": {k: optuna.distributions.distribution_to_json(d) for k, d in t.distributions.items()},
        "user_attrs": t.user_attrs,
        "system_attrs": t.system_attrs,
        "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()},
        "datetime_start": _jsonable(t.datetime_start),
        "datetime_complete": _jsonable(t.datetime_complete),
    }


def export_database(url: str) -> dict[str, Any]:
    """Everything in the database at ``url`` as plain JSON-ready data."""
    url = normalize_url(url)
    storage = storage_for(url)
    studies = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        studies.append(
            {
                "name": study.study_name,
                "directions": [d.name for d in study.directions],
                "user_attrs": study.user_attrs,
                "system_attrs": storage.get_study_system_attrs(study._study_id),
                "trials": [_trial_to_dict(t) for t in study.get_trials(deepcopy=False)],
            }
        )
    tables: dict[str, list[dict[str, Any]]] = {}
    with get_engine(url).connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).mappings().all()
            tables[table.name] = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    return {"format": FORMAT, "studies": studies, "tables": tables}


def _trial_from_dict(d: dict[str, Any]) -> optuna.trial.FrozenTrial:
    state = optuna.trial.TrialState[d["state"]]
    trial = optuna.trial.create_trial(
        state=state,
        values=d["values"] if state == optuna.trial.TrialState.COMPLETE else None,
        params=d["params"],
        distributions={k: optuna.distributions.json_to_distribution(v) for k, v in d["distributions"].items()},
        user_attrs=d["user_attrs"],
        system_attrs=d["system_attrs"],
        intermediate_values={int(k): v for k, v in d["intermediate_values"].items()},
    )
    trial.datetime_start = dt.datetime.fromisoformat(d["datetime_start"]) if d["datetime_start"] else None
    trial.datetime_complete = dt.datetime.fromisoformat(d["datetime_complete"]) if d["datetime_complete"] else None
    return trial


def import_database(dump: dict[str, Any], url: str) -> dict[str, int]:
    """Load a dump into the database at ``url`` (migrated first); refuses to overwrite what is there."""
    if not isinstance(dump, dict) or dump.get("format") != FORMAT:
        raise TransferError("format", f"expected a {FORMAT!r} document from `zone-explorer export --all`")
    url = init_db(url)
    storage = storage_for(url)
    existing = set(optuna.get_all_study_names(storage))
    clashes = sorted(existing & {s["name"] for s in dump["studies"]})
    if clashes:
        raise TransferError("studies", f"the target already holds {len(clashes)} of these studies, e.g. {clashes[0]!r}")
    known_tables = {t.name: t for t in Base.metadata.sorted_tables}
    unknown = set(dump["tables"]) - set(known_tables)
    if unknown:
        raise TransferError("tables", f"unknown tables {sorted(unknown)}: the dump comes from a newer release")
    trial_ids: dict[tuple[str, int], int] = {}
    for s in dump["studies"]:
        study = optuna.create_study(
            storage=storage,
            study_name=s["name"],
            directions=[optuna.study.StudyDirection[d] for d in s["directions"]],
        )
        for key, value in s["user_attrs"].items():
            study.set_user_attr(key, value)
        for key, value in s["system_attrs"].items():
            storage.set_study_system_attr(study._study_id, key, value)
        study.add_trials([_trial_from_dict(t) for t in s["trials"]])
        for t in study.get_trials(deepcopy=False):
            trial_ids[(s["name"], t.number)] = t._trial_id
    counts = {"studies": len(dump["studies"]), "trials": len(trial_ids)}
    with get_engine(url).begin() as conn:
        study_of_job = {row["id"]: row["study_name"] for row in dump["tables"].get("ze_jobs", [])}
        for table in Base.metadata.sorted_tables:
            rows = [_typed(table, row) for row in dump["tables"].get(table.name, [])]
            if table.name == "ze_trial_claims":
                for row in rows:
                    if row.get("trial_number") is not None:
                        row["optuna_trial_id"] = trial_ids.get((study_of_job[row["job_id"]], row["trial_number"]))
            if rows:
                conn.execute(sa.insert(table), rows)
            counts[table.name] = len(rows)
        _advance_sequences(conn)
    return counts


def _typed(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        column = table.columns.get(key)
        if column is None:
            raise TransferError(f"tables.{table.name}.{key}", "unknown column: the dump comes from a newer release")
        if isinstance(column.type, sa.DateTime) and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        out[key] = value
    return out


def _advance_sequences(conn: sa.Connection) -> None:
    """Explicit ids were inserted; move PostgreSQL's sequences past them so new rows do not collide."""
    if conn.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and isinstance(column.type, sa.Integer)):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                    )
                )


def dumps(dump: dict[str, Any]) -> str:
    return json.dumps(dump, allow_nan=True)
