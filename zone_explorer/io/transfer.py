"""Move a whole database: every Optuna study and every row of our tables, as one JSON document.

``export_database`` reads from any supported URL, ``import_database`` writes into another (typically a SQLite
file into PostgreSQL when a user outgrows one machine): it checks the whole dump first
(:mod:`zone_explorer.io.dump_check`), then writes Optuna's tables and ours in one transaction. Optuna's study and
trial ids are assigned anew by the target, so claims are re-pointed through (study, trial number). Export a
quiescent database: stop the workers first.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy as sa

from zone_explorer.engine.studies import storage_for
from zone_explorer.io.dump_check import FORMAT, TOKENS_TABLE, CheckedDump, CheckedStudy, TransferError, check_dump
from zone_explorer.store import optuna_tables as ot
from zone_explorer.store.db import get_engine, init_db, normalize_url
from zone_explorer.store.models import Base

__all__ = ["FORMAT", "ImportReport", "TransferError", "export_database", "import_database"]


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


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote (or, with ``dry_run``, would write): row counts by kind, and what it left out."""

    counts: dict[str, int]
    #: rows left out, by table: tokens, unless asked for
    skipped: dict[str, int]
    #: the imported tokens with scope admin, as ``id (name)``: whoever wrote the dump knows their secrets
    admin_tokens: list[str]
    dry_run: bool


def import_database(dump: Any, url: str, *, with_tokens: bool = False, dry_run: bool = False) -> ImportReport:
    """Load a dump into the database at ``url`` (migrated first), all or nothing.

    The whole dump is checked first (:func:`~zone_explorer.io.dump_check.check_dump`), then Optuna's tables and
    ours are written in one transaction: any failure, including a clash with what the target holds, leaves the
    target as it was, so a corrected retry succeeds. ``dry_run`` rehearses the write and rolls it back. Tokens are
    written only ``with_tokens``.
    """
    checked = check_dump(dump, with_tokens=with_tokens)
    url = init_db(url)  # ours and Optuna's tables exist, at the current schema
    tokens = checked.tables.get(TOKENS_TABLE, [])
    admins = [f"{t['id']} ({t['name']})" for t in tokens if "admin" in t["scopes"]]
    try:
        with get_engine(url).connect() as conn, conn.begin() as tx:
            _refuse_clashes(conn, checked)
            counts = _write(conn, checked)
            if dry_run:
                tx.rollback()
            else:
                _advance_sequences(conn)  # last: PostgreSQL's setval is not undone by a rollback
    except sa.exc.IntegrityError as err:
        raise TransferError("tables", f"the target refused a row: {str(err.orig).splitlines()[0]}") from None
    return ImportReport(counts, checked.skipped, admins, dry_run)


def _refuse_clashes(conn: sa.Connection, checked: CheckedDump) -> None:
    """Refuse a dump whose studies or rows the target already holds (importing twice would duplicate them)."""
    names = [s.name for s in checked.studies]
    for chunk in _chunks(names):
        held = conn.scalars(sa.select(ot.studies.c.study_name).where(ot.studies.c.study_name.in_(chunk))).first()
        if held is not None:
            raise TransferError(
                f"studies[{names.index(held)}].name",
                f"the target already holds study {held!r}: import into a database without these studies",
            )
    for table in Base.metadata.sorted_tables:
        rows = checked.tables.get(table.name, [])
        pk = list(table.primary_key.columns)
        keys = [tuple(row.get(c.name) for c in pk) for row in rows if all(row.get(c.name) is not None for c in pk)]
        for chunk in _chunks(keys):
            key_in = pk[0].in_([k[0] for k in chunk]) if len(pk) == 1 else sa.tuple_(*pk).in_(chunk)
            held_key = conn.execute(sa.select(*pk).where(key_in).limit(1)).first()
            if held_key is not None:
                i = next(i for i, row in enumerate(rows) if tuple(row.get(c.name) for c in pk) == tuple(held_key))
                raise TransferError(
                    f"tables.{table.name}[{i}].{pk[0].name}",
                    f"the target already holds a row with this key {tuple(held_key)!r}",
                )


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _write(conn: sa.Connection, checked: CheckedDump) -> dict[str, int]:
    trial_ids: dict[tuple[str, int], int] = {}
    for study in checked.studies:
        trial_ids.update(_write_study(conn, study))
    counts = {"studies": len(checked.studies), "trials": len(trial_ids)}
    study_of_job = {row["id"]: row["study_name"] for row in checked.tables.get("ze_jobs", [])}
    for table in Base.metadata.sorted_tables:
        if table.name not in checked.tables:
            continue
        rows = [dict(row) for row in checked.tables[table.name]]
        if table.name == "ze_trial_claims":  # Optuna's trial ids are the target's: re-pointed by trial number
            for row in rows:
                number = row.get("trial_number")
                row["optuna_trial_id"] = None if number is None else trial_ids[(study_of_job[row["job_id"]], number)]
        if rows:
            conn.execute(sa.insert(table), rows)
        counts[table.name] = len(rows)
    return counts


def _attr_rows(id_column: str, owner_id: int, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{id_column: owner_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(table), rows)


def _write_study(conn: sa.Connection, study: CheckedStudy) -> dict[tuple[str, int], int]:
    """Write one study and its trials into Optuna's tables, as Optuna's own ``add_trials`` would; returns the
    target's trial id of each (study, trial number)."""
    study_id = conn.execute(
        sa.insert(ot.studies).returning(ot.studies.c.study_id), {"study_name": study.name}
    ).scalar_one()
    _insert(
        conn,
        ot.study_directions,
        [{"study_id": study_id, "objective": i, "direction": d} for i, d in enumerate(study.directions)],
    )
    _insert(conn, ot.study_user_attributes, _attr_rows("study_id", study_id, study.user_attrs))
    _insert(conn, ot.study_system_attributes, _attr_rows("study_id", study_id, study.system_attrs))
    _insert(
        conn,
        ot.trials,
        [
            {
                "number": t.number,
                "study_id": study_id,
                "state": t.state,
                "datetime_start": t.datetime_start,
                "datetime_complete": t.datetime_complete,
            }
            for t in study.trials
        ],
    )
    ids = dict(
        conn.execute(sa.select(ot.trials.c.number, ot.trials.c.trial_id).where(ot.trials.c.study_id == study_id)).all()
    )
    params, values, intermediate, user_attrs, system_attrs = [], [], [], [], []
    for t in study.trials:
        trial_id = ids[t.number]
        for name, dist in t.distributions.items():
            params.append(
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": dist.to_internal_repr(t.params[name]),
                    "distribution_json": optuna.distributions.distribution_to_json(dist),
                }
            )
        for objective, v in enumerate(t.values or []):
            stored, kind = ot.stored_value(v)
            values.append({"trial_id": trial_id, "objective": objective, "value": stored, "value_type": kind})
        for step, v in t.intermediate_values.items():
            stored, ikind = ot.stored_intermediate_value(v)
            intermediate.append(
                {"trial_id": trial_id, "step": step, "intermediate_value": stored, "intermediate_value_type": ikind}
            )
        user_attrs += _attr_rows("trial_id", trial_id, t.user_attrs)
        system_attrs += _attr_rows("trial_id", trial_id, t.system_attrs)
    _insert(conn, ot.trial_params, params)
    _insert(conn, ot.trial_values, values)
    _insert(conn, ot.trial_intermediate_values, intermediate)
    _insert(conn, ot.trial_user_attributes, user_attrs)
    _insert(conn, ot.trial_system_attributes, system_attrs)
    return {(study.name, number): trial_id for number, trial_id in ids.items()}


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
