"""Shared fixtures: a fresh SQLite file, a fresh PostgreSQL database per test, an engine-ready URL."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
from collections.abc import Iterator

# One thread per process for OpenMP and the BLAS libraries, set before NumPy and torch load them, and inherited by
# the worker and server processes the tests start: `-n 2` already runs two test processes on CI's two cores, and
# more threads only spin against each other (under load a calibration test took 29 s with them, 14 s without).
# One fixed count also fixes BLAS's summation order, so the figures tests assert on don't depend on a machine's cores.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np
import pytest
import torch

# Rich reads COLUMNS once, when a Console is made, and keeps that width. pytest-xdist's workers run with COLUMNS=80
# set; the CLI tests choose their width per call (CliRunner env), so make the CLI's consoles here, without COLUMNS.
os.environ.pop("COLUMNS", None)
import zone_explorer.cli.common  # noqa: F401

PG_ADMIN_URL = os.environ.get("ZONE_EXPLORER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _same_start() -> None:
    """Every test starts the same way, whatever ran before it in its xdist worker (which files a worker gets changes
    from run to run): torch on one thread (a worker run in-process sets its own count), and the same state in
    torch's, NumPy's and Python's global generators, so a test that draws from them, say through a layer's
    initialisation, is as deterministic as one that makes its own."""
    torch.set_num_threads(1)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'zone-explorer.db'}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; skips (fails under CI) when the server is unreachable.
    The one place tests make a PostgreSQL database: the ``pg_url`` fixture and tests/server's ``module_db``."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}; .ci/run should have started it")
        pytest.skip("PostgreSQL is not reachable")
    import psycopg

    name = f"ze_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from zone_explorer.engine.studies import storage_for
        from zone_explorer.store.db import get_engine

        # release pooled connections held by this process before dropping
        for cached in (get_engine, storage_for):
            cached.cache_clear()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test. CI starts the server (see .ci/run)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Both backends: each test using it runs on SQLite and on PostgreSQL."""
    from zone_explorer.store.db import init_db

    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return init_db(url)
