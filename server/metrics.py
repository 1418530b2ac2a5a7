"""``/metrics`` in Prometheus text format: jobs by status, trials by state, queue depth, request latency.

The database counts are read on each scrape (one small query each); request latency is a histogram kept by
a middleware, labelled by route template (``/api/v1/jobs/{job_id}``), never by raw path.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zone_explorer.core.statuses import JobStatus
from zone_explorer.engine.metrics import snapshot

__all__ = ["install_metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _DatabaseCollector:
    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self):
        snap = snapshot(self.url)
        jobs = GaugeMetricFamily("zone_explorer_jobs", "Jobs by status.", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], snap.jobs_by_status.get(status, 0))
        trials = GaugeMetricFamily(
            "zone_explorer_trials", "Trials by state (running, lost, or the outcome).", labels=["state"]
        )
        for state, n in sorted(snap.trials_by_state.items()):
            trials.add_metric([state], n)
        yield jobs
        yield trials
        yield GaugeMetricFamily(
            "zone_explorer_queue_depth", "Trials of active jobs not yet started.", value=snap.queue_depth
        )


class LatencyMiddleware:
    """Observes each HTTP request's latency, labelled by route template, as a pure ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` would add a task group and a memory stream to every request)."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.histogram.labels(scope["method"], _route_template(scope), str(status)).observe(
                time.perf_counter() - start
            )


def _route_template(scope: Scope) -> str:
    """``/api/v1/jobs/ab12`` -> ``/api/v1/jobs/{job_id}``: a label per route, never per raw path."""
    if not scope.get("endpoint"):
        return "unmatched"
    template = scope["path"]
    for name, value in scope.get("path_params", {}).items():
        template = template.replace(f"/{value}", f"/{{{name}}}", 1)
    return template


def install_metrics(app: FastAPI, url: str) -> None:
    registry = CollectorRegistry()
    registry.register(_DatabaseCollector(url))
    latency = Histogram(
        "zone_explorer_request_seconds",
        "Request latency by route.",
        ["method", "route", "status"],
        registry=registry,
        buckets=_BUCKETS,
    )

    app.add_middleware(LatencyMiddleware, histogram=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
