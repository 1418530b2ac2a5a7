"""Property-based run over the OpenAPI document (schemathesis): no 5xx, and every answer matches its schema.

In process through the ASGI app, on SQLite and PostgreSQL, with an admin token so that writes are exercised too.
Examples per operation are bounded so the run stays well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from server.app import create_app
from tests.server.conftest import app_settings, make_tokens

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def admin_headers(db_url) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_tokens(db_url)['admin']}"}


@pytest.fixture
def api_schema(db_url, admin_headers):
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(app_settings(db_url, migrate=False)))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms(case, admin_headers) -> None:
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
