"""Database access: one URL holds both Optuna's tables and ours (SQLite file by default, PostgreSQL to scale out)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "DEFAULT_DATABASE_URL",
    "database_url",
    "get_engine",
    "unavailable_reason",
    "init_db",
    "normalize_url",
    "read_scope",
    "session_scope",
    "write_scope",
]

DEFAULT_DATABASE_URL = "sqlite:///zone-explorer.db"
ENV_VAR = "ZONE_EXPLORER_DATABASE_URL"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: our Alembic version table; Optuna's own migrations use "alembic_version" in the same database
VERSION_TABLE = "ze_alembic_version"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``$ZONE_EXPLORER_DATABASE_URL``, else a SQLite file in the cwd."""
    return normalize_url(url or os.environ.get(ENV_VAR) or DEFAULT_DATABASE_URL)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (the API, the pages) run while a worker writes; busy_timeout makes writers wait.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def engine_kwargs(url: str) -> dict[str, Any]:
    """Connection settings shared by our engine and Optuna's RDBStorage."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # pre-ping: a restarted PostgreSQL costs one failed checkout, not a crashed worker. The pool keeps as many
    # connections as a busy API process uses at once (a connection beyond pool_size is closed when returned, and
    # opening a new one costs more than the request); a worker only ever opens a few.
    return {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 20}


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    url = normalize_url(url)
    engine = sa.create_engine(url, **engine_kwargs(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@lru_cache(maxsize=16)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _sessionmaker(normalize_url(url))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(url: str) -> Iterator[sa.Connection]:
    """A connection for a few reads, in autocommit mode: no BEGIN and ROLLBACK round trips around them (each
    statement sees what was committed when it ran, as in a READ COMMITTED transaction)."""
    with get_engine(normalize_url(url)).connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@lru_cache(maxsize=16)
def rows_changed(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed. Its result is a ``CursorResult``, which has the count;
    ``Session.execute`` is typed for any statement, so the cast says which result this is."""
    return cast("sa.CursorResult[Any]", result).rowcount


def _sqlite_writer_lock(url: str) -> threading.Lock:
    return threading.Lock()


@contextmanager
def write_scope(url: str) -> Iterator[sa.Connection]:
    """A connection in a transaction for a short burst of writes; commits on success, rolls back on error.

    On SQLite, threads of one process take turns through a lock first: the database has a single writer, and
    SQLite's own busy handler makes waiting writers sleep in growing steps (up to 100 ms), which turns a burst
    of concurrent requests into long tail latencies. Writers in other processes still wait in busy_timeout.
    """
    url = normalize_url(url)
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _sqlite_writer_lock(url), engine.begin() as conn:
        yield conn


#: SQLite's primary result codes (the low byte of an extended one) that mean "not now", not a bug: BUSY and LOCKED
#: (past the busy timeout), READONLY, IOERR, FULL, CANTOPEN
_SQLITE_UNAVAILABLE = {5: "busy", 6: "busy", 8: "read-only", 10: "unreachable", 13: "full", 14: "unreachable"}
#: PostgreSQL SQLSTATEs (exact, then by class) with the same meaning: a read-only transaction or hot standby, a full
#: disk or out of memory, too many connections, a server shutting down or starting, a broken connection
_PG_UNAVAILABLE = {
    "25006": "read-only",
    "53100": "full",
    "53200": "full",
    "53300": "busy",
    "57P01": "unreachable",
    "57P02": "unreachable",
    "57P03": "unreachable",
}
_PG_UNAVAILABLE_CLASSES = {"08": "unreachable"}


def unavailable_reason(err: BaseException) -> str | None:
    """Why the database cannot serve a request, when ``err`` says so: ``"read-only"`` (a read-only file, a read-only
    transaction or replica), ``"full"`` (out of disk space or memory), ``"busy"`` (SQLite's write lock held past
    the busy timeout, PostgreSQL's connection limit) or ``"unreachable"`` (no connection, a server shutting down or
    starting); None for any other error, which is a bug and stays one.

    Follows ``__cause__`` and SQLAlchemy's ``orig`` down to the driver's error (Optuna's storage wraps SQLAlchemy's),
    and reads its code: SQLite's result code, PostgreSQL's SQLSTATE. A connection that fails before any code exists
    (refused, reset) is a SQLAlchemy ``OperationalError``/``InterfaceError`` without one.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int):
            return _SQLITE_UNAVAILABLE.get(code & 0xFF)
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            return _PG_UNAVAILABLE.get(state) or _PG_UNAVAILABLE_CLASSES.get(state[:2])
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return "unreachable"
        orig = getattr(current, "orig", None)
        if isinstance(current, (sa.exc.OperationalError, sa.exc.InterfaceError)) and (
            orig is None or getattr(orig, "sqlstate", "") is None
        ):
            return "unreachable"  # psycopg's connection failures carry no SQLSTATE
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def init_db(url: str | None = None) -> str:
    """Bring the database to the current schema (ours through Alembic, Optuna's through Optuna); idempotent.

    Returns the normalised URL. Raises ``OptunaSchemaError`` before changing anything if the database's Optuna
    tables, or the installed Optuna's, are not the schema ``optuna_tables`` was written for. Safe to call from
    several processes at once: PostgreSQL migrations take an advisory lock, and a SQLite race (two processes
    creating the first tables) is retried.
    """
    url = database_url(url)
    import optuna  # heavy import, only where a storage is needed

    from zone_explorer.store.optuna_tables import check_optuna_schema

    check_optuna_schema(get_engine(url))
    for attempt in range(5):
        try:
            with get_engine(url).begin() as conn:
                cfg = _alembic_config(url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))
            from zone_explorer.tasks.external import watch_database

            watch_database(url)  # get_task finds the command tasks stored here
            return url
        except sa.exc.OperationalError:
            if attempt == 4 or not url.startswith("sqlite"):
                raise
            time.sleep(0.2 * (attempt + 1))
    return url
