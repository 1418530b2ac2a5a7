"""Typed dependencies: settings, the database URL, the app's caches, and the caller's token with the scope a
route needs.

Reads are public; a write declares ``token: SubmitToken`` (or ``ContributeToken``), which answers 401 when no
valid token is sent, 403 when its scopes lack the one needed, and 429 past the token's rate limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from server.errors import ApiError
from server.services.recent import RecentAnswers
from server.services.settings import ServiceSettings
from server.services.zone_answers import ContributionsVersion, ZoneAnswers
from zone_explorer.store.tokens import TokenInfo

bearer = HTTPBearer(auto_error=False, description="An API token: `zone-explorer token create --name N --scopes submit`")


# async on purpose: a sync dependency costs a hop to the thread pool on every request
async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


async def get_db_url(request: Request) -> str:
    return request.app.state.db_url


async def get_job_statuses(request: Request) -> RecentAnswers:
    return request.app.state.job_statuses


async def get_zone_answers(request: Request) -> ZoneAnswers:
    return request.app.state.zone_answers


async def get_contributions_version(request: Request) -> ContributionsVersion:
    return request.app.state.contributions_version


Settings = Annotated[ServiceSettings, Depends(get_settings)]
DbUrl = Annotated[str, Depends(get_db_url)]
JobStatuses = Annotated[RecentAnswers, Depends(get_job_statuses)]
#: the app's zone answer cache
Answers = Annotated[ZoneAnswers, Depends(get_zone_answers)]
#: what a route that changes contributions bumps once its change is committed
ContributionWrites = Annotated[ContributionsVersion, Depends(get_contributions_version)]


def require_scope(scope: str) -> Callable[..., Awaitable[TokenInfo]]:
    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
    ) -> TokenInfo:
        if credentials is None:
            raise ApiError(
                401,
                f"this route needs a token with scope {scope!r}: send 'Authorization: Bearer <token>' "
                "(create one with `zone-explorer token create --name NAME --scopes " + scope + "`)",
                "Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # read on every request (off the event loop), so a revoked token is refused at once in every API process
        token = await run_in_threadpool(request.app.state.token_verifier.verify, credentials.credentials)
        if token is None:
            raise ApiError(
                401,
                "the bearer token is malformed, unknown or revoked",
                "Authorization",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not token.allows(scope):
            have = ", ".join(sorted(token.scopes)) or "none"
            raise ApiError(
                403, f"token {token.name!r} has scopes [{have}]; this route needs {scope!r}", "Authorization"
            )
        retry_after = request.app.state.rate_limiter.hit(token.id)
        if retry_after is not None:
            s = request.app.state.settings
            raise ApiError(
                429,
                f"token {token.name!r} made more than {s.rate_limit} writes in {s.rate_window_s:g} s; "
                f"retry in {retry_after:.1f} s",
                "Authorization",
                headers={"Retry-After": str(max(1, round(retry_after)))},
            )
        return token

    return dependency


SubmitToken = Annotated[TokenInfo, Depends(require_scope("submit"))]
ContributeToken = Annotated[TokenInfo, Depends(require_scope("contribute"))]

#: the ``Idempotency-Key`` header's rule, one for every route that takes it (each route says what a replay does)
IDEMPOTENCY_KEY_HEADER: dict[str, Any] = {
    "alias": "Idempotency-Key",
    "min_length": 1,
    "max_length": 100,
    "pattern": r"^[\x21-\x7e]+$",
}


def page_limit(limit: int, settings: ServiceSettings) -> int:
    """The page size actually served: larger requests are capped (the answer says which limit applied)."""
    return min(limit, settings.max_page_size)
