"""Only the project's own errors are the client's fault: a FieldError is a 422 naming its field, NotFound a 404,
Forbidden a 403; anything else raised inside a route (a ValueError from a bug, a PermissionError from an
unwritable file) is a logged 500 with a JSON body."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from server.app import create_app
from tests.server.conftest import SyncASGITransport, app_settings
from zone_explorer.core.errors import FieldError, Forbidden, NotFound
from zone_explorer.store.db import init_db

RAISED = {
    "field-error": FieldError("config.lr", "must be a float in (0, inf), got -1.0"),
    "not-found": NotFound("task", "unknown task 'digits-cn'"),
    "forbidden": Forbidden("Authorization", "job j1 belongs to another token"),
    # shaped like "field: message" on purpose: nothing guesses a field from a message any more
    "value-error": ValueError("lr: float division by zero"),
    "permission-error": PermissionError(13, "Permission denied", "/data/zone-explorer.db"),
}


class Records(logging.Handler):
    """The records a logger emits, whatever the logging setup (configure_logging stops propagation)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    handler, server_log = Records(), logging.getLogger("zone_explorer.server")
    server_log.addHandler(handler)
    try:
        yield handler.records
    finally:
        server_log.removeHandler(handler)


@pytest.fixture
def client(sqlite_url: str) -> Iterator[httpx.Client]:
    """The app with one extra route per exception of RAISED; a 500 reaches the client as a response."""
    app = create_app(app_settings(init_db(sqlite_url), migrate=False))

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise RAISED[name]

    transport = SyncASGITransport(app, raise_app_exceptions=False)
    with httpx.Client(base_url="http://testserver", transport=transport) as client:
        yield client
    transport.close()


def test_a_field_error_is_a_422_naming_its_field(client, logged) -> None:
    r = client.get("/raise/field-error")
    assert r.status_code == 422
    assert r.json() == {
        "error": "validation_error",
        "detail": "must be a float in (0, inf), got -1.0",
        "field": "config.lr",
    }
    assert not logged


@pytest.mark.parametrize(
    "name,status,error,field",
    [("not-found", 404, "not_found", "task"), ("forbidden", 403, "forbidden", "Authorization")],
)
def test_not_found_and_forbidden_keep_their_status_and_field(client, name, status, error, field) -> None:
    r = client.get(f"/raise/{name}")
    assert r.status_code == status
    assert r.json() == {"error": error, "detail": str(RAISED[name]), "field": field}


@pytest.mark.parametrize("name,kind", [("value-error", "ValueError"), ("permission-error", "PermissionError")])
def test_any_other_exception_is_a_logged_500(client, logged, name, kind) -> None:
    r = client.get(f"/raise/{name}")
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "detail": f"internal error ({kind}); the server log has the traceback",
        "field": None,
    }
    [record] = logged
    assert record.levelno == logging.ERROR and f"GET /raise/{name}" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is RAISED[name]
