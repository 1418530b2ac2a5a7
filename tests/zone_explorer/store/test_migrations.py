"""Schema migrations: from an empty database, from the previous release's schema, and matching the models."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zone_explorer.store.db import VERSION_TABLE, _alembic_config, get_engine, init_db, normalize_url
from zone_explorer.store.models import Base

FIRST_RELEASE = "0001"  # the schema of the first release: jobs and trial claims
#: that schema, frozen as SQL (schema_v1.<backend>.sql): the old database comes from it, not from today's migrations
DATA = Path(__file__).parent / "data"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def released_db(request, tmp_path) -> str:
    """A database as the first release left it, made from its frozen schema on SQLite and on PostgreSQL."""
    schema = (DATA / f"schema_v1.{request.param}.sql").read_text()
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(schema)
        return normalize_url(f"sqlite:///{path}")
    import psycopg

    url = request.getfixturevalue("pg_url")
    with psycopg.connect(url) as conn:
        conn.execute(schema)  # several statements, no parameters: psycopg sends them as one simple query
    return normalize_url(url)


def _migrate(url: str, action: str, revision: str) -> None:
    """``alembic upgrade|downgrade REVISION`` on ``url``, with our migrations and version table."""
    with get_engine(url).begin() as conn:
        cfg = _alembic_config(url)
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _ours(name: str, type_: str, reflected: bool, compare_to) -> bool:
    """Compare our tables only; Optuna's live in the same database and migrate themselves."""
    return type_ != "table" or name.startswith("ze_")


def test_empty_database_migrates_to_the_models(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={"include_object": lambda o, n, t, r, c: _ours(n, t, r, c) and (t != "table" or n != VERSION_TABLE)},
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"migrations and models disagree: {diff}"
    init_db(db_url)  # idempotent


def test_previous_release_schema_upgrades_with_its_data(released_db: str) -> None:
    url = released_db
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == FIRST_RELEASE
    now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with get_engine(url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ze_jobs (id, created_at, updated_at, status, task, optimizer, space, sampler, sampler_seed, "
                "pruner, n_trials, seeds, epochs, study_name) VALUES ('j1', :t, :t, 'completed', 'digits-cnn', 'fsgdm', "
                "'{\"optimizer\": \"fsgdm\", \"params\": {}}', 'tpe', 0, 'none', 1, '[0]', 10, 'ze-j1')"
            ),
            {"t": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ze_trial_claims (job_id, slot, worker, status, started_at, heartbeat_at) "
                "VALUES ('j1', 0, 'w', 'done', :t, :t)"
            ),
            {"t": now},
        )
    init_db(url)
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT status, study_name FROM ze_jobs")).one() == ("completed", "ze-j1")
        assert conn.execute(sa.text("SELECT count(*) FROM ze_trial_claims")).scalar() == 1
        head = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        tables = set(sa.inspect(conn).get_table_names())
    assert head != FIRST_RELEASE
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_run_length_column_keeps_older_jobs_and_their_claims(request, backend: str) -> None:
    """0003 adds ``ze_jobs.run_length``; jobs from before keep NULL (workers derive theirs), and the downgrade
    drops the column in place: rebuilding ze_jobs would delete its claims through their cascade."""
    from zone_explorer.engine.jobs import get_job, job_run_length

    url = normalize_url(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    _migrate(url, "upgrade", "0002")
    now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with get_engine(url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ze_jobs (id, created_at, updated_at, status, task, optimizer, space, sampler, sampler_seed, "
                "pruner, n_trials, seeds, epochs, study_name) VALUES ('j1', :t, :t, 'running', 'noisy-quadratic', "
                "'fsgdm', '{\"optimizer\": \"fsgdm\", \"params\": {}}', 'tpe', 0, 'none', 2, '[0]', 3, 'ze-j1')"
            ),
            {"t": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ze_trial_claims (job_id, slot, worker, status, started_at, heartbeat_at) "
                "VALUES ('j1', 0, 'w', 'done', :t, :t)"
            ),
            {"t": now},
        )
    _migrate(url, "upgrade", "0003")
    job = get_job(url, "j1")
    assert job.run_length is None and job_run_length(job) == {"sigma": 300, "n_stages": 3}
    _migrate(url, "downgrade", "0002")
    with get_engine(url).connect() as conn:
        assert "run_length" not in {c["name"] for c in sa.inspect(conn).get_columns("ze_jobs")}
        assert conn.execute(sa.text("SELECT count(*) FROM ze_trial_claims")).scalar() == 1


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_contribution_moderation_keeps_older_contributions(request, backend: str) -> None:
    """0004 adds a contributed task's metric range, the contributions' fingerprint (unique among active rows) and
    the keyed requests; rows from before keep NULL (an unbounded range, never a duplicate) and stay editable; the
    downgrade drops what it added and keeps the rows."""
    from zone_explorer.contrib import add_contributions, edit_contribution, get_contribution

    url = normalize_url(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    _migrate(url, "upgrade", "0003")
    now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with get_engine(url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ze_contributed_tasks (name, created_at, dataset, model, metric, direction, description) "
                "VALUES ('old-task', :t, 'd', 'm', 'acc', 'maximize', 'x')"
            ),
            {"t": now},
        )
        for cid in ("c1", "c2"):  # the same result twice, as the previous release could store it
            conn.execute(
                sa.text(
                    "INSERT INTO ze_contributions (id, created_at, updated_at, status, task, optimizer, config, given, "
                    "value, source, owner) VALUES (:id, :t, :t, 'active', 'old-task', 'sgd', :config, "
                    '\'["lr", "momentum", "nesterov"]\', 7.5, \'{"notes": "n"}\', \'tok\')'
                ),
                {"id": cid, "t": now, "config": '{"lr": 0.1, "momentum": 0.9, "nesterov": false}'},
            )
    _migrate(url, "upgrade", "0004")
    with get_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT metric_low, metric_high FROM ze_contributed_tasks")).one() == (None, None)
        assert conn.execute(sa.text("SELECT count(*) FROM ze_contributions WHERE fingerprint IS NULL")).scalar() == 2
    # an old row is edited like a new one: it gets its fingerprint, and the unbounded range takes any value
    edited = edit_contribution(url, "c1", {"value": 1e6}, may_act_for=lambda owner: owner == "tok")
    assert edited["value"] == 1e6 and get_contribution(url, "c2")["value"] == 7.5
    assert add_contributions(url, [{**_as_sent(edited), "value": 1e6}], "tok") == []  # now a duplicate of c1
    _migrate(url, "downgrade", "0003")
    with get_engine(url).connect() as conn:
        assert "fingerprint" not in {c["name"] for c in sa.inspect(conn).get_columns("ze_contributions")}
        assert "ze_contribution_requests" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.text("SELECT count(*) FROM ze_contributions")).scalar() == 2


def _as_sent(c: dict) -> dict:
    return {"task": c["task"], "optimizer": c["optimizer"], "config": {k: c["config"][k] for k in c["given"]},
            "value": c["value"], "source": c["source"]}  # fmt: skip
