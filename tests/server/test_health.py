"""Probes and the OpenAPI document."""

from __future__ import annotations

import httpx

from server.app import create_app
from tests.server.conftest import SyncASGITransport, app_settings


def test_healthz_and_readyz(service) -> None:
    api = service.client()
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] in ("sqlite", "postgresql")


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    # nothing listens on port 1; migrate=False so the app starts without the database
    app = create_app(app_settings("postgresql://postgres@127.0.0.1:1/none", migrate=False))
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://testserver") as api:
        assert api.get("/healthz").status_code == 200
        r = api.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable" and "database unreachable" in r.json()["detail"]


def test_every_operation_has_an_example_and_json_errors(service) -> None:
    schema = service.client().get("/api/v1/openapi.json").json()
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 18
    for path, method, op in operations:
        text = str(op)
        assert "example" in text, f"{method.upper()} {path} has no example"
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorPublic"), (path, status, ref)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_unknown_route_and_method_are_json(service) -> None:
    api = service.client()
    r = api.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found" and "/api/v1" in r.json()["detail"]
    r = api.put("/api/v1/tasks")
    assert r.status_code == 405 and r.json() == {
        "error": "method_not_allowed",
        "detail": "PUT is not allowed on /api/v1/tasks",
        "field": None,
    }
