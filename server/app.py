"""The app factory: ``uvicorn --factory server.app:create_app`` (what `zone-explorer serve` runs)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import optuna
from fastapi import FastAPI

from server.api import api_router, health
from server.docs import install_api_docs
from server.errors import install_error_handlers
from server.limits import BodyLimitMiddleware
from server.metrics import install_metrics
from server.pages import install_pages
from server.services.auth import RateLimiter, TokenVerifier
from server.services.recent import RecentAnswers
from server.services.settings import ServiceSettings
from server.services.zone_answers import ContributionsVersion, ZoneAnswers, warm_up
from server.workers import EmbeddedWorkers
from zone_explorer.contrib import record_ended_verifications
from zone_explorer.core.logs import configure_logging
from zone_explorer.engine.devices import parse_devices
from zone_explorer.store.db import database_url, init_db

DESCRIPTION = """\
Submit tuning jobs, read their trials and the **optimal zones** of momentum optimizers, and contribute zone findings.

* **Reads are public.** Writes need a bearer token with a scope (`submit`, `contribute`, `admin`):
  `zone-explorer token create --name NAME --scopes submit,contribute`, then `Authorization: Bearer <token>`.
* **Errors** are JSON `{"error", "detail", "field"}`; `field` names the value at fault (`space.params.lr.low`).
* **Zones** merge the explored trials of every job of a task and optimizer with contributed results; each point
  says where it came from: `explored`, `contributed` or `verified`.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    # a device list that cannot work stops the app here, before it touches the database, with the rule it broke
    devices = parse_devices(settings.devices, field="ZONE_EXPLORER_DEVICES").devices if settings.workers else ("cpu",)
    url = database_url(settings.database_url)
    if settings.migrate:
        url = init_db(url)  # before serving: a request never meets a half-migrated schema
        # a database from before verdicts were recorded at the end of their reruns may hold some still pending
        record_ended_verifications(url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a serving process's concern, not an app object's (tests build many apps in one process)
        configure_logging(settings.log_format)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not one "new study created" line per submitted job
        threading.Thread(target=warm_up, name="zone-warm-up", daemon=True).start()
        workers = (
            EmbeddedWorkers(
                url,
                settings.workers,
                settings.worker_threads,
                settings.log_format,
                settings.worker_nice,
                devices=devices,
            ).start()
            if settings.workers
            else None
        )
        app.state.embedded_workers = workers  # what /readyz reports
        try:
            yield
        finally:
            if workers is not None:
                workers.stop()

    app = FastAPI(
        title="Zone Explorer",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served by install_api_docs, with Swagger UI from an installed package (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db_url = url
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_window_s)
    app.state.token_verifier = TokenVerifier(url)
    app.state.job_statuses = RecentAnswers(settings.poll_cache_s)
    # the app's caches are its own: tests build many apps in one process
    app.state.contributions_version = ContributionsVersion()
    app.state.zone_answers = ZoneAnswers(
        url,
        settings.zone_cache_size,
        settings.zone_refresh_s,
        settings.poll_cache_s,
        contributions=app.state.contributions_version,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(api_router, prefix="/api/v1")
    install_api_docs(app)
    install_pages(app)
    install_metrics(app, url)
    return app
