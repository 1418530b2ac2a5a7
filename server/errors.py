"""Every 4xx (and 5xx) is JSON: ``{"error": "...", "detail": "...", "field": "..."}``.

Only the project's own errors are the client's fault, and each carries the field at fault: a
:class:`~zone_explorer.core.errors.FieldError` is a 422 (409 for a reused Idempotency-Key), a
:class:`~zone_explorer.core.errors.NotFound` a 404, a :class:`~zone_explorer.core.errors.Forbidden` a 403. They
are mapped here once, so routes just let them propagate. A database that cannot take the request now (read-only,
disk full, busy, unreachable: :func:`~zone_explorer.store.db.unavailable_reason`) is a 503 naming the reason, for
every route at once. Anything else (a ``ValueError`` from a bug, a
``PermissionError`` from an unwritable database file) is a 500 whose traceback goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.schemas import UNION_TAGS
from zone_explorer.core.errors import Conflict, FieldError, Forbidden, NotFound, QuotaExceeded
from zone_explorer.engine.jobs import JobSpecError
from zone_explorer.store.db import unavailable_reason

log = logging.getLogger("zone_explorer.server")

ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

#: the headers of a 500. Starlette's outermost middleware sends it, outside the app's own middleware, so it carries
#: its own nosniff; and the server drops the connection after an unhandled error, so the answer says so
#: (``Connection: close``): a keep-alive client that was not told would send its next request into a closed socket
CRASH_HEADERS = {"Connection": "close", "X-Content-Type-Options": "nosniff"}


class ErrorPublic(BaseModel):
    """The body of every error response."""

    error: str = Field(description="a short, stable code: validation_error, not_found, unauthorized, ...")
    detail: str = Field(description="what went wrong and how to fix it, for people")
    field: str | None = Field(None, description="the request field at fault, as a path (`space.params.lr.low`)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": "validation_error",
                    "detail": "lr must be a float in (0, inf), got -1.0",
                    "field": "config.lr",
                }
            ]
        }
    }


class ApiError(Exception):
    """Raised by routes and dependencies for an error response."""

    def __init__(
        self,
        status: int,
        detail: str,
        field: str | None = None,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
        self.error = error or ERROR_NAMES.get(status, "error")
        self.headers = headers


def error_response(
    status: int,
    detail: str,
    field: str | None = None,
    *,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": error or ERROR_NAMES.get(status, "error"), "detail": detail, "field": field}
    return JSONResponse(body, status_code=status, headers=headers)


def _path(loc: tuple[Any, ...]) -> str:
    """("body", "contributions", 3, "value") -> "contributions[3].value"; the source prefix is dropped."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    parts = [p for p in parts if p not in UNION_TAGS]
    if not parts:
        return str(loc[0]) if loc else "body"
    if loc and loc[0] == "header":
        return "-".join(w.capitalize() for w in str(parts[0]).split("-"))
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _field(err: dict[str, Any]) -> str:
    if err.get("type") == "json_invalid":  # its loc ends with a character position, not a field
        return "body"
    return _path(tuple(err.get("loc", ())))


def _validation_detail(err: dict[str, Any]) -> str:
    msg = err.get("msg", "invalid")
    ctx = err.get("ctx") or {}
    if err.get("type") == "json_invalid":
        loc = err.get("loc", ())
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return f"malformed JSON{where}: {ctx.get('error', msg)}"
    return msg


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.field, error=exc.error, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not even text, or nested past the parser's recursion limit: the
            # same kind of error as malformed JSON
            if isinstance(exc.__cause__, RecursionError):
                return error_response(422, "malformed request body: JSON nested too deeply", "body")
            return error_response(422, "malformed request body: not valid UTF-8 JSON", "body")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}; the API lives under /api/v1 (docs: /api/v1/docs)"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if not errors:
            return error_response(422, "invalid request")
        parts = [f"{_field(e)}: {_validation_detail(e)}" for e in errors[:5]]
        if len(errors) > 5:
            parts.append(f"... and {len(errors) - 5} more")
        return error_response(422, "; ".join(parts), _field(errors[0]))

    @app.exception_handler(JobSpecError)
    async def _job(_: Request, exc: JobSpecError) -> JSONResponse:
        if exc.field == "Idempotency-Key":  # the key was used for another job: a conflict, not a bad body
            return error_response(409, exc.message, exc.field)
        return error_response(422, exc.message, exc.field)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, exc.message, exc.field)

    @app.exception_handler(FieldError)
    async def _bad_input(_: Request, exc: FieldError) -> JSONResponse:
        return error_response(422, exc.message, exc.field)

    @app.exception_handler(NotFound)
    async def _missing(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, exc.message, exc.field)

    @app.exception_handler(QuotaExceeded)
    async def _quota(_: Request, exc: QuotaExceeded) -> JSONResponse:
        return error_response(403, exc.message, exc.field, error="quota_exceeded")

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, exc.message, exc.field)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        return _database_error(request, exc)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if unavailable_reason(exc) is not None:  # a database error wrapped by Optuna's storage
            return _database_error(request, exc)
        # not the client's fault, whatever its type: a ValueError here is a bug, a PermissionError an unwritable file
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"internal error ({type(exc).__name__}); the server log has the traceback", headers=CRASH_HEADERS
        )


#: what a client is told when the database cannot take the request now (see ``unavailable_reason``)
_UNAVAILABLE = {
    "read-only": "the database is read-only at the moment, so this write was not made (reads still work)",
    "full": "the database is out of disk space or memory, so this request was not served",
    "busy": "the database is busy (its write lock held by other writes, or at its connection limit)",
    "unreachable": "the database is unreachable",
}


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """One answer for every route: 503 with the reason when the database cannot serve now (read-only, full, busy,
    unreachable), so that a write on a read-only or full database says so instead of answering 500; any other
    database error is a bug (500, logged)."""
    reason = unavailable_reason(exc)
    if reason is None:
        log.exception("unhandled database error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"internal error ({type(exc).__name__}); the server log has the traceback", headers=CRASH_HEADERS
        )
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        reason,
        extra={"event": "db_unavailable", "reason": reason},
    )
    return error_response(
        503,
        f"{_UNAVAILABLE[reason]}; nothing was changed: retry later (the operator sees why on /readyz)",
        "database",
        headers={"Retry-After": "5" if reason in ("busy", "unreachable") else "30"},
    )


_DESCRIPTIONS = {
    401: "No valid bearer token",
    403: "The token lacks the scope, the resource is another token's, or a quota is exceeded (`quota_exceeded`)",
    404: "No such resource",
    409: "Conflict (e.g. an Idempotency-Key reused for a different job)",
    413: "Request body too large",
    422: "Invalid input; `field` names the value at fault",
    429: "Rate limit of the token exceeded (see Retry-After)",
    503: "The database cannot take the request now (read-only, full, busy or unreachable); see Retry-After",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers of a route (all share :class:`ErrorPublic`)."""
    return {
        code: {"model": ErrorPublic, "description": _DESCRIPTIONS.get(code, ERROR_NAMES.get(code, "Error"))}
        for code in codes
    }
