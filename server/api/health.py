"""Liveness and readiness probes (outside /api/v1, where orchestrators look for them)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from server import examples as ex
from server.deps import DbUrl
from server.errors import ApiError, error_responses
from server.schemas import HealthPublic, ReadyPublic
from zone_explorer.store.db import get_engine

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, summary="Liveness", responses=ex.ok({"status": "ok"}))
async def healthz() -> HealthPublic:  # async: a liveness answer needs no thread
    """Always 200 while the process serves requests."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadyPublic,
    summary="Readiness",
    responses=ex.ok({"status": "ready", "database": "postgresql"}) | error_responses(503),
)
def readyz(url: DbUrl) -> ReadyPublic:
    """200 when the database answers, else 503."""
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as err:
        raise ApiError(503, f"database unreachable: {type(err).__name__}", "database") from None
    return ReadyPublic(database=engine.dialect.name)
