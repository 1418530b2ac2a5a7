"""Liveness and readiness probes (outside /api/v1, where orchestrators look for them)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request

from server import examples as ex
from server.deps import DbUrl
from server.errors import ApiError, error_responses
from server.schemas import HealthPublic, ReadyPublic, WorkersPublic
from zone_explorer.store.db import VERSION_TABLE, get_engine, write_scope

router = APIRouter(tags=["health"])

#: A write that changes nothing, committed: it fails where a real write would (a read-only database, a replica, a
#: read-only file, a full disk: committing writes the row to the log). Our version table has exactly one row.
_WRITE_PROBE = sa.text(f"UPDATE {VERSION_TABLE} SET version_num = version_num")


@router.get("/healthz", response_model=HealthPublic, summary="Liveness", responses=ex.ok({"status": "ok"}))
async def healthz() -> HealthPublic:  # async: a liveness answer needs no thread
    """Always 200 while the process serves requests."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadyPublic,
    summary="Readiness",
    responses=ex.ok({"status": "ready", "database": "postgresql", "workers": {"expected": 1, "alive": 1}})
    | error_responses(503),
)
def readyz(url: DbUrl, request: Request) -> ReadyPublic:
    """200 when the database answers and accepts writes, and every embedded worker runs; else 503 with the reason
    (`field`: `database` or `workers`). A dead worker is restarted by the server after a short backoff."""
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as err:
        raise ApiError(503, f"database unreachable: {type(err).__name__}", "database") from None
    try:
        with write_scope(url) as conn:
            conn.execute(_WRITE_PROBE)
    except sa.exc.SQLAlchemyError as err:
        cause = " ".join(str(getattr(err, "orig", None) or err).split())[:200]  # the driver's message, one line
        raise ApiError(503, f"database does not accept writes: {type(err).__name__}: {cause}", "database") from None
    embedded = getattr(request.app.state, "embedded_workers", None)
    workers = (
        WorkersPublic(expected=embedded.count, alive=embedded.alive())
        if embedded
        else WorkersPublic(expected=0, alive=0)
    )
    if workers.alive < workers.expected:
        raise ApiError(
            503,
            f"{workers.alive} of {workers.expected} embedded workers alive (the server restarts the others)",
            "workers",
        )
    return ReadyPublic(database=engine.dialect.name, workers=workers)
