"""Every write route answers 503 with a clear JSON message when the database takes no writes (a read-only SQLite
file, a PostgreSQL session in read-only mode), through one shared handler; the route list comes from the app's own
OpenAPI schema, so a new write route is covered (or the test says which one has no example body)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa

from server.app import create_app
from tests.server.conftest import QUICK_JOB, Service, SyncASGITransport, app_settings, in_process, row_counts
from zone_explorer.store.db import unavailable_reason

WRITE_METHODS = ("post", "put", "patch", "delete")


def _read_only_url(url: str) -> str:
    """The same database, opened so that it refuses writes: SQLite's read-only open mode, or PostgreSQL sessions
    that start every transaction read-only (``default_transaction_read_only``)."""
    if url.startswith("sqlite"):
        return f"sqlite:///file:{url.split(':///', 1)[1]}?mode=ro&uri=true"
    return url + "?options=-c%20default_transaction_read_only%3Don"


def _example(spec: dict[str, Any], content: dict[str, Any]) -> Any:
    """The operation's own example, else its schema's."""
    if content.get("examples"):
        return next(iter(content["examples"].values()))["value"]
    if "example" in content:
        return content["example"]
    ref = content.get("schema", {}).get("$ref", "")
    examples = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("examples")
    return examples[0] if examples else None


def _write_requests(spec: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for every write operation of the schema, path ids filled in."""
    calls = []
    for path, ops in spec["paths"].items():
        for method in WRITE_METHODS:
            if method not in ops:
                continue
            kwargs: dict[str, Any] = {}
            content = ops[method].get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = _example(spec, content["application/json"])
                assert body is not None, f"{method.upper()} {path}: no example body in the OpenAPI schema"
                kwargs["json"] = body
            elif "text/csv" in content:
                kwargs["content"] = _example(spec, content["text/csv"]).encode()
                kwargs["headers"] = {"Content-Type": "text/csv"}
            calls.append((method.upper(), path.format(**ids), kwargs))
    return calls


def test_every_write_route_answers_503_on_a_read_only_database(db_url: str) -> None:
    with in_process(db_url) as svc:  # a job and a contribution to act on, while the database takes writes
        admin = svc.client("admin")
        job = admin.post("/api/v1/jobs", json=QUICK_JOB).json()["id"]
        spec = svc.app.openapi()
        contribution = _example(
            spec, spec["paths"]["/api/v1/contributions"]["post"]["requestBody"]["content"]["application/json"]
        )
        stored = admin.post("/api/v1/contributions", json={**contribution, "value": 0.5})
        assert stored.status_code == 201, stored.text
        tokens = svc.tokens
    before = row_counts(db_url)
    app = create_app(app_settings(_read_only_url(db_url), migrate=False))
    ro = Service(db_url, "http://testserver", SyncASGITransport(app, raise_app_exceptions=False), tokens, app=app)
    try:
        client = ro.client("admin")
        assert client.get(f"/api/v1/jobs/{job}").status_code == 200  # reads still work
        calls = _write_requests(spec, {"job_id": job, "contribution_id": stored.json()["id"]})
        assert len(calls) >= 8
        for method, path, kwargs in calls:
            r = client.request(method, path, **kwargs)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            body = r.json()
            assert body["error"] == "unavailable" and body["field"] == "database", body
            assert "read-only" in body["detail"] and "nothing was changed" in body["detail"], body
            assert r.headers["Retry-After"] == "30"
    finally:
        ro.close()
        ro.transport.close()
    assert row_counts(db_url) == before


def test_database_errors_are_told_apart_from_bugs(tmp_path) -> None:
    """The driver's own errors, for real: a full SQLite file (its page cap reached), a closed port; a constraint
    violation is a bug, not an outage."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x BLOB UNIQUE)")
        conn.exec_driver_sql("INSERT INTO t VALUES (x'00')")
    with pytest.raises(sa.exc.IntegrityError) as dup, engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (x'00')")
    assert unavailable_reason(dup.value) is None
    with pytest.raises(sa.exc.OperationalError) as full, engine.begin() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(100000))")
    assert isinstance(full.value.orig, sqlite3.OperationalError) and unavailable_reason(full.value) == "full"
    closed = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with pytest.raises(sa.exc.OperationalError) as down:
        closed.connect()
    assert unavailable_reason(down.value) == "unreachable"
    wrapped = RuntimeError("storage failed")
    wrapped.__cause__ = full.value  # as Optuna's storage raises it
    assert unavailable_reason(wrapped) == "full"
