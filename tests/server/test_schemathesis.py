"""Property-based run over the OpenAPI document (schemathesis): no 5xx, and every answer matches its schema.

In process through the ASGI app, on SQLite and PostgreSQL, with an admin token so that writes are exercised too:
each operation alone, workflows of linked operations (stateful), and the pages' JSON routes from their own
document. Examples are bounded so the run stays well under a minute.
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
from server.pages import PAGES_OPENAPI_URL
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


def test_api_workflows_conform(db_url, admin_headers) -> None:
    """Stateful: sequences of calls that feed one answer into the next (a submitted job into its cancel, a stored
    contribution into its edit, withdrawal and verification), along the links schemathesis infers from the
    schema; the same checks after every step."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(app_settings(db_url, migrate=False)))

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": admin_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=4,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )


@pytest.fixture
def pages_schema(db_url):
    return schemathesis.openapi.from_asgi(PAGES_OPENAPI_URL, create_app(app_settings(db_url, migrate=False)))


pages = schemathesis.pytest.from_fixture("pages_schema")


@pages.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_page_data_routes_never_answer_5xx(case) -> None:
    """The JSON the pages read, from its own OpenAPI document: whatever the input, no server error."""
    case.call_and_validate(checks=[not_a_server_error, content_type_conformance])
