"""``/metrics`` in Prometheus text format: jobs by status, trials by state, queue depth, request latency.

The database counts are read on each scrape (one small query each); request latency is a histogram kept by
a middleware, labelled by route template (``/api/v1/jobs/{job_id}``), never by raw path.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from zone_explorer.metrics import snapshot

__all__ = ["install_metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _DatabaseCollector:
    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self):
        snap = snapshot(self.url)
        jobs = GaugeMetricFamily("zone_explorer_jobs", "Jobs by status.", labels=["status"])
        for status in ("queued", "running", "completed", "cancelled", "failed"):
            jobs.add_metric([status], snap.jobs_by_status.get(status, 0))
        trials = GaugeMetricFamily("zone_explorer_trials", "Trials by state (running, lost, or the outcome).", labels=["state"])
        for state, n in sorted(snap.trials_by_state.items()):
            trials.add_metric([state], n)
        yield jobs
        yield trials
        yield GaugeMetricFamily("zone_explorer_queue_depth", "Trials of active jobs not yet started.", value=snap.queue_depth)


def install_metrics(app: FastAPI, url: str) -> None:
    registry = CollectorRegistry()
    registry.register(_DatabaseCollector(url))
    latency = Histogram("zone_explorer_request_seconds", "Request latency by route.", ["method", "route", "status"],
                        registry=registry, buckets=_BUCKETS)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        template = request.url.path if request.scope.get("endpoint") else "unmatched"
        for name, value in request.scope.get("path_params", {}).items():  # /jobs/ab12 -> /jobs/{job_id}
            template = template.replace(f"/{value}", f"/{{{name}}}", 1)
        latency.labels(request.method, template, str(response.status_code)).observe(time.perf_counter() - start)
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
