"""/metrics in Prometheus text format: the counts a dashboard or alert needs, read from the database."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from zone_explorer.core.statuses import JobStatus
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.worker import Worker
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import Job


def test_metrics_report_jobs_trials_queue_and_latency(sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.services.settings import ServiceSettings

    url = init_db(sqlite_url)
    done, _ = create_job(
        url, JobSpec.parse({"task": "noisy-quadratic", "optimizer": "sgd", "n_trials": 2, "epochs": 1})
    )
    failing, _ = create_job(
        url, JobSpec.parse({"task": "noisy-quadratic", "optimizer": "sgd", "n_trials": 1, "epochs": 1})
    )
    with session_scope(url) as s:  # a task no worker can build: its only trial raises, so the job fails
        s.execute(sa.update(Job).where(Job.id == failing.id).values(task="retired-task"))
    Worker(url).run(exit_when_idle=True)
    create_job(url, JobSpec.parse({"task": "noisy-quadratic", "optimizer": "sgd", "n_trials": 5, "epochs": 1}))
    with TestClient(create_app(ServiceSettings(database_url=url, workers=0))) as client:
        assert client.get(f"/api/v1/jobs/{done.id}").status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = [s for f in text_string_to_metric_families(response.text) for s in f.samples]

    def value(name, **labels):
        return next(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    assert value("zone_explorer_jobs", status="completed") == 1 and value("zone_explorer_jobs", status="queued") == 1
    assert value("zone_explorer_jobs", status="failed") == 1
    assert {s.labels["status"] for s in samples if s.name == "zone_explorer_jobs"} == {s.value for s in JobStatus}
    assert value("zone_explorer_trials", state="complete") == 2 and value("zone_explorer_trials", state="error") == 1
    assert value("zone_explorer_queue_depth") == 5
    assert value("zone_explorer_request_seconds_count", route="/api/v1/jobs/{job_id}", method="GET", status="200") == 1
