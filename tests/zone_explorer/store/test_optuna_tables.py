"""The Optuna table adapter: the schema it was written for is checked at start, with a message a user can act on."""

from __future__ import annotations

import types

import pytest
import sqlalchemy as sa

from zone_explorer.store import optuna_tables
from zone_explorer.store.db import get_engine, init_db
from zone_explorer.store.optuna_tables import SCHEMA_REVISION, OptunaSchemaError, check_optuna_schema


def _record_optuna_schema(url: str, revision: str, library_version: str) -> None:
    """Make the database say that Optuna ``library_version`` set up its tables at schema ``revision``."""
    with get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        conn.execute(sa.text("UPDATE version_info SET library_version = :v"), {"v": library_version})


def test_a_new_database_gets_the_supported_schema(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == SCHEMA_REVISION
    check_optuna_schema(db_url)
    init_db(db_url)  # idempotent, the check included


def test_a_database_without_optuna_tables_passes(sqlite_url: str) -> None:
    check_optuna_schema(get_engine(sqlite_url))
    with get_engine(sqlite_url).connect() as conn:
        assert not sa.inspect(conn).has_table("alembic_version")  # the check only reads


def test_an_older_optuna_schema_fails_with_the_upgrade_command(db_url: str) -> None:
    _record_optuna_schema(db_url, "v3.0.0.d", "3.1.0")
    with pytest.raises(OptunaSchemaError) as err:
        init_db(db_url)
    message = str(err.value)
    assert "schema revision 'v3.0.0.d' (set up by optuna 3.1.0)" in message
    assert f"reads and writes revision {SCHEMA_REVISION!r}" in message
    assert "optuna storage upgrade --storage" in message


def test_a_newer_optuna_schema_fails_before_anything_is_changed(db_url: str) -> None:
    _record_optuna_schema(db_url, "v6.0.0.a", "6.0.0")
    with get_engine(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM ze_alembic_version"))  # our migrations would run if init_db went on
    with pytest.raises(OptunaSchemaError) as err:
        init_db(db_url)
    message = str(err.value)
    assert "schema revision 'v6.0.0.a' (set up by optuna 6.0.0)" in message
    assert f"reads and writes revision {SCHEMA_REVISION!r}" in message
    assert "a newer Optuna wrote them" in message and "optuna>=5.0,<6" in message
    with get_engine(db_url).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM ze_alembic_version")) == 0
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "v6.0.0.a"


def test_an_installed_optuna_with_another_schema_fails(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optuna_tables, "_optuna_revisions", lambda: ("v6.0.0.a", SCHEMA_REVISION))
    with pytest.raises(OptunaSchemaError, match=r"writes schema revision 'v6\.0\.0\.a'.*pip install 'optuna>=5\.0,<6'"):
        init_db(sqlite_url)


def test_the_supported_schema_is_the_installed_optunas() -> None:
    assert optuna_tables._optuna_revisions()[0] == SCHEMA_REVISION


def test_missing_models_or_columns_fail_the_import_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    trial_model = types.SimpleNamespace(__table__=optuna_tables.trials)
    monkeypatch.setattr(optuna_tables, "_models", types.SimpleNamespace(TrialModel=trial_model))
    with pytest.raises(ImportError, match=r"has no table model StudyModel .*pip install 'optuna>=5\.0,<6'"):
        optuna_tables._table("StudyModel", "study_id")
    with pytest.raises(ImportError, match=r"has no column\(s\) outcome, seed in table 'trials'"):
        optuna_tables._table("TrialModel", "trial_id", "outcome", "seed")
    assert optuna_tables._table("TrialModel", "trial_id", "state") is optuna_tables.trials
