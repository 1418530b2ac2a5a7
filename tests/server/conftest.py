"""Fixtures for the REST service: the app in process (httpx over its ASGI transport) and a real uvicorn on loopback,
each on SQLite and on PostgreSQL, with tokens of every scope."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from server.services.settings import ServiceSettings
from tests.conftest import postgres_database
from tests.web.live_server import serve, stop_server
from zone_explorer.store.db import get_engine, init_db
from zone_explorer.store.tokens import create_token

#: the tables a failed request must leave alone (Optuna's "studies" too: a refused job creates no study)
TABLES = (
    "ze_jobs",
    "ze_trial_claims",
    "ze_contributions",
    "ze_contributed_tasks",
    "ze_api_tokens",
    "studies",
    "study_user_attributes",
)
QUICK_JOB = {
    "task": "noisy-quadratic",
    "optimizer": "fsgdm",
    "epochs": 2,
    "sampler": "random",
    "sampler_seed": 1,
    "n_trials": 3,
}


def row_counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


class SyncASGITransport(httpx.BaseTransport):
    """httpx's ASGITransport (async) behind a sync interface: the app runs on an event loop in a thread, so plain
    ``httpx.Client`` code (and several threads at once) can call it in process."""

    def __init__(self, app, *, raise_app_exceptions: bool = True) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="asgi-loop")
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> tuple[int, list, bytes]:
            inner = httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
            response = await self._inner.handle_async_request(inner)
            body = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers.raw, body

        status, headers, body = asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=120)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class Service:
    """One app on one database, with a token per scope and a client factory."""

    url: str
    base_url: str
    transport: httpx.BaseTransport | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    app: Any = None  #: the FastAPI app when it runs in process
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        c = httpx.Client(base_url=self.base_url, transport=self.transport, headers=headers, timeout=120)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


def make_tokens(url: str) -> dict[str, str]:
    """submit, contribute, admin, a second submitter/contributor (another owner), and a revoked one."""
    tokens = {}
    for name, scopes in (
        ("submit", "submit"),
        ("contribute", "contribute"),
        ("admin", "admin"),
        ("other", "submit,contribute"),
        ("revoked", "submit,contribute"),
    ):
        tokens[name] = create_token(url, name, scopes)[1]
    from zone_explorer.store.tokens import list_tokens, revoke_token

    revoke_token(url, next(t.id for t in list_tokens(url) if t.name == "revoked"))
    return tokens


def app_settings(url: str, **overrides) -> ServiceSettings:
    """Test settings; the limits the tests rely on are pinned so that a ZONE_EXPLORER_* variable cannot move them."""
    pinned = {
        "database_url": url,
        "workers": 0,
        "rate_limit": 0,
        "max_page_size": 500,
        "max_batch": 1000,
        "max_body_bytes": 2 * 1024 * 1024,
    }
    return ServiceSettings(**{**pinned, **overrides})


@pytest.fixture
def service(db_url: str) -> Iterator[Service]:
    """The app in process on a fresh database (both backends), no embedded workers, no rate limit."""
    with in_process(db_url) as svc:
        yield svc


@contextlib.contextmanager
def in_process(url: str, **overrides) -> Iterator[Service]:
    """The app in process on ``url`` (migrated already), with ``app_settings`` overridden by ``overrides``."""
    from server.app import create_app

    app = create_app(app_settings(url, migrate=False, **overrides))
    svc = Service(url, "http://testserver", SyncASGITransport(app), make_tokens(url), app=app)
    try:
        yield svc
    finally:
        svc.close()
        svc.transport.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_db(request, tmp_path_factory) -> Iterator[str]:
    """A database shared by one test module (a live server is slow to start, so it serves the whole module)."""
    if request.param == "sqlite":
        yield init_db(f"sqlite:///{tmp_path_factory.mktemp('live') / 'ze.db'}")
        return
    with postgres_database() as url:
        yield init_db(url)


@pytest.fixture(scope="module")
def shared(module_db: str) -> Iterator[Service]:
    """The app in process on a database shared by a module's tests (for tests that only need it to be unchanged)."""
    with in_process(module_db) as svc:
        yield svc


@pytest.fixture(scope="module")
def live(module_db: str, tmp_path_factory) -> Iterator[Service]:
    """`uvicorn --factory server.app:create_app` as a subprocess on loopback (API only, no workers)."""
    proc, base = serve(module_db, tmp_path_factory.mktemp("live-server") / "server.log")
    svc = Service(module_db, base, None, make_tokens(module_db))
    yield svc
    svc.close()
    stop_server(proc)
