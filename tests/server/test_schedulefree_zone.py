"""Schedule-free optimizers through the service: submitted as jobs, explored, shown as zones and filters."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import QUICK_JOB, in_process
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db

CASES = {"sgd-schedulefree": "momentum", "adamw-schedulefree": "beta1"}


def test_jobs_zone_pages_and_filters(sqlite_url: str) -> None:
    with in_process(init_db(sqlite_url)) as service:
        for optimizer in CASES:
            job = {**QUICK_JOB, "optimizer": optimizer, "n_trials": 3, "sampler": "random", "sampler_seed": 2}
            r = service.client("submit").post("/api/v1/jobs", json=job)
            assert r.status_code == 202, r.text
        assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 6
        api = service.client()
        for optimizer, beta in CASES.items():
            zone = api.get(f"/api/v1/zones/noisy-quadratic/{optimizer}")
            assert zone.status_code == 200, zone.text
            z = zone.json()
            assert z["counts"]["explored"] == 3 and (z["x"], z["y"]) == ("lr", beta)
            page = api.get(f"/zones/noisy-quadratic/{optimizer}")
            assert page.status_code == 200 and optimizer in page.text
            filt = api.get(f"/pages-api/filters/{optimizer}", params={"config": json.dumps({beta: 0.8})})
            assert filt.status_code == 200, filt.text
            curves = filt.json()["curves"]
            assert [c["label"] for c in curves][:2] == ["step 1", "step 2"]
            assert curves[1]["pole"] == pytest.approx(0.5)  # c = 1/2 at the second step
            assert all(c["dc_gain"] == pytest.approx(1.0) for c in curves)
