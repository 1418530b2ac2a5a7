"""Jobs through HTTP: submission (idempotent), validation, auth, listing, progress, cancel, trials, export."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
import sqlalchemy as sa

from tests.server.conftest import QUICK_JOB, in_process, row_counts
from zone_explorer.core.limits import INT32_MAX, MAX_EPOCHS, MAX_SEEDS, PRUNERS, SAMPLERS
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Job

BAD_JOBS = [
    ({**QUICK_JOB, "task": "digits-cn"}, "task", "did you mean 'digits-cnn'"),
    ({**QUICK_JOB, "optimizer": "fsgd"}, "optimizer", "did you mean 'fsgdm'"),
    (
        {**QUICK_JOB, "space": {"params": {"lr": {"type": "float", "low": 2, "high": 1}}}},
        "space.params.lr.low",
        "< high",
    ),
    (
        {**QUICK_JOB, "space": {"params": {"c_scaling": {"type": "fixed", "value": -1}}}},
        "space.params.c_scaling.value",
        "c_scaling must be",
    ),
    ({**QUICK_JOB, "n_trials": 10**9}, "n_trials", "100000"),
    ({**QUICK_JOB, "n_trials": "5"}, "n_trials", "valid integer"),
    ({**QUICK_JOB, "seeds": "0"}, "seeds", "valid list"),
    ({**QUICK_JOB, "seeds": [1, 1]}, "seeds", "distinct"),
    ({**QUICK_JOB, "space": []}, "space", "valid dictionary"),
    ({**QUICK_JOB, "sampler": "bayes"}, "sampler", "must be one of zone, tpe, gp, cmaes, qmc, random, grid"),
    ({**QUICK_JOB, "pruner": "asha"}, "pruner", "must be one of median, hyperband, none"),
    ({**QUICK_JOB, "epochs": 0}, "epochs", "must be an integer in [1, 1000], got 0"),
    ({**QUICK_JOB, "seeds": list(range(17))}, "seeds", "up to 16 distinct integers"),
    ({**QUICK_JOB, "seeds": [-1]}, "seeds[0]", "must be an integer in [0, 2147483647]"),
    ({**QUICK_JOB, "sampler_seed": 2**31}, "sampler_seed", "must be an integer in [0, 2147483647]"),
    ({**QUICK_JOB, "colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({**QUICK_JOB, "task": "'; DROP TABLE ze_jobs; --"}, "task", "unknown task"),
    ({**QUICK_JOB, "task": "数字-cnn ☃"}, "task", "unknown task"),
    ({**QUICK_JOB, "optimizer": "fsgdm\u0000"}, "optimizer", "pattern"),
    ({"optimizer": "fsgdm"}, "task", "Field required"),
]
BAD_BODIES = [
    (
        '{"task": "noisy-quadratic", "optimizer": "fsgdm", "space": {"params": {"lr": {"type": "fixed", "value": NaN}}}}',
        "space.params.lr.value",
        "nan",
    ),
    ('{"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": Infinity}', "epochs", "integer"),
    ('{"task": "noisy-quadratic", "optimizer": ', "body", "malformed JSON"),
    ("[]", "body", "valid dictionary"),
    ("", "body", "Field required"),
]


@pytest.mark.parametrize("body,field,fragment", BAD_JOBS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_JOBS)])
def test_bad_job_is_422_with_its_field_and_nothing_stored(shared, body, field, fragment) -> None:
    before = row_counts(shared.url)
    r = shared.client("submit").post("/api/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "validation_error" and err["field"] == field and fragment in err["detail"], err
    assert row_counts(shared.url) == before


@pytest.mark.parametrize("raw,field,fragment", BAD_BODIES, ids=[b[1] + str(i) for i, b in enumerate(BAD_BODIES)])
def test_malformed_or_non_finite_json_is_422(shared, raw, field, fragment) -> None:
    before = row_counts(shared.url)
    r = shared.client("submit").post("/api/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and fragment in r.json()["detail"], r.json()
    assert row_counts(shared.url) == before


def test_writes_need_a_token_with_the_scope(shared) -> None:
    service = shared
    before = row_counts(service.url)
    r = service.client().post("/api/v1/jobs", json=QUICK_JOB)
    assert r.status_code == 401 and r.json()["field"] == "Authorization" and "scope 'submit'" in r.json()["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for who in ("revoked",):
        assert service.client(who).post("/api/v1/jobs", json=QUICK_JOB).status_code == 401
    bogus = service.client()
    bogus.headers["Authorization"] = "Bearer ze_000000000000_" + "x" * 43
    assert bogus.post("/api/v1/jobs", json=QUICK_JOB).status_code == 401
    r = service.client("contribute").post("/api/v1/jobs", json=QUICK_JOB)
    assert r.status_code == 403 and "needs 'submit'" in r.json()["detail"] and "contribute" in r.json()["detail"]
    assert row_counts(service.url) == before
    assert service.client("admin").post("/api/v1/jobs", json=QUICK_JOB).status_code == 202  # admin may do anything


def test_submit_replay_and_key_conflict(service) -> None:
    api = service.client("submit")
    headers = {"Idempotency-Key": "retry-me-1"}
    first = api.post("/api/v1/jobs", json=QUICK_JOB, headers=headers)
    assert first.status_code == 202, first.text
    job = first.json()
    assert first.headers["Location"] == f"/api/v1/jobs/{job['id']}" == job["links"]["self"]
    assert job["status"] == "queued" and job["task"] == "noisy-quadratic" and job["space"]["optimizer"] == "fsgdm"
    replay = api.post("/api/v1/jobs", json=QUICK_JOB, headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == job["id"]
    conflict = api.post("/api/v1/jobs", json={**QUICK_JOB, "n_trials": 4}, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["field"] == "Idempotency-Key"
    # keys belong to a token: another client's identical key is another job
    other = service.client("other").post("/api/v1/jobs", json=QUICK_JOB, headers=headers)
    assert other.status_code == 202 and other.json()["id"] != job["id"]
    assert row_counts(service.url)["ze_jobs"] == 2
    bad_key = api.post("/api/v1/jobs", json=QUICK_JOB, headers={"Idempotency-Key": "x" * 101})
    assert bad_key.status_code == 422 and bad_key.json()["field"] == "Idempotency-Key"


def concurrent_submissions(service, n: int = 2, key: str = "same-key") -> list:
    """n identical submissions with one key, released at the same instant from n threads."""
    clients = [service.client("submit") for _ in range(n)]
    barrier = threading.Barrier(n)
    answers: list = [None] * n

    def go(i: int) -> None:
        barrier.wait()
        answers[i] = clients[i].post("/api/v1/jobs", json=QUICK_JOB, headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_concurrent_identical_submissions_create_one_job(service) -> None:
    answers = concurrent_submissions(service, n=4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    counts = row_counts(service.url)
    assert counts["ze_jobs"] == 1 and counts["studies"] == 1  # the loser's study was removed too


def test_list_filter_paginate_and_cap(service) -> None:
    api = service.client("submit")
    for body in (QUICK_JOB, QUICK_JOB, {**QUICK_JOB, "optimizer": "lion"}):
        assert api.post("/api/v1/jobs", json=body).status_code == 202
    page = api.get("/api/v1/jobs").json()
    assert page["total"] == 3 and len(page["items"]) == 3 and page["limit"] == 50
    lion = api.get("/api/v1/jobs", params={"optimizer": "lion"}).json()
    assert lion["total"] == 1 and lion["items"][0]["optimizer"] == "lion"
    assert api.get("/api/v1/jobs", params={"status": "completed"}).json()["total"] == 0
    assert api.get("/api/v1/jobs", params={"task": "'; DROP TABLE ze_jobs; --"}).json()["total"] == 0
    second = api.get("/api/v1/jobs", params={"limit": 1, "offset": 1}).json()
    assert second["total"] == 3 and len(second["items"]) == 1 and second["items"][0]["id"] == page["items"][1]["id"]
    assert api.get("/api/v1/jobs", params={"limit": 10_000}).json()["limit"] == 500  # capped page size
    r = api.get("/api/v1/jobs", params={"limit": 10_001})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = api.get("/api/v1/jobs", params={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["field"] == "status"


def test_progress_cancel_and_ownership(service) -> None:
    mine = service.client("submit").post("/api/v1/jobs", json=QUICK_JOB).json()
    detail = service.client().get(f"/api/v1/jobs/{mine['id']}").json()  # reads are public
    assert detail["progress"] == {
        "claims": {},
        "outcomes": {},
        "finished": 0,
        "running": 0,
        "best_value": None,
        "best_config": None,
        "eta_seconds": None,
    }
    r = service.client("other").post(f"/api/v1/jobs/{mine['id']}/cancel")
    assert r.status_code == 403 and "another token" in r.json()["detail"]
    done = service.client("submit").post(f"/api/v1/jobs/{mine['id']}/cancel")
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    theirs = service.client("other").post("/api/v1/jobs", json=QUICK_JOB).json()
    assert service.client("admin").post(f"/api/v1/jobs/{theirs['id']}/cancel").json()["status"] == "cancelled"
    missing = service.client("submit").post("/api/v1/jobs/0000000000000000/cancel")
    assert missing.status_code == 404 and missing.json()["field"] == "job_id"
    assert service.client().get("/api/v1/jobs/nope").status_code == 404
    assert service.client().get("/api/v1/jobs/bad%20id").status_code == 422


def test_trials_pages_and_export_after_a_run(service) -> None:
    job = service.client("submit").post("/api/v1/jobs", json=QUICK_JOB).json()
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 3
    api = service.client()
    detail = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert detail["status"] == "completed" and detail["progress"]["finished"] == 3
    assert detail["progress"]["best_value"] is not None and detail["progress"]["best_config"]["sigma"] == 200
    first = api.get(f"/api/v1/jobs/{job['id']}/trials", params={"limit": 2}).json()
    assert [t["number"] for t in first["items"]] == [0, 1] and first["has_more"]
    rest = api.get(f"/api/v1/jobs/{job['id']}/trials", params={"limit": 2, "offset": 2}).json()
    assert [t["number"] for t in rest["items"]] == [2] and not rest["has_more"]
    complete = api.get(f"/api/v1/jobs/{job['id']}/trials", params={"state": "complete"}).json()["items"]
    assert all(t["state"] == "COMPLETE" and t["config"]["lr"] == 0.01 for t in complete)
    assert api.get(f"/api/v1/jobs/{job['id']}/trials", params={"state": "pruned"}).json()["items"] == []
    csv_text = api.get(f"/api/v1/jobs/{job['id']}/export")
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert (
        csv_text.text.splitlines()[0].startswith("job_id,task,optimizer,epochs,seeds,number,state,outcome,value")
        and len(csv_text.text.splitlines()) == 4
    )
    # where each trial ran: in the API, on the job page's latest trials, and as the export's device column
    items = api.get(f"/api/v1/jobs/{job['id']}/trials").json()["items"]
    assert [t["environment"]["device"] for t in items] == ["cpu"] * 3
    assert {"device_name", "torch", "cuda", "host", "python"} <= set(items[0]["environment"])
    latest = api.get(f"/pages-api/jobs/{job['id']}/live").json()["latest"]
    assert [(t["number"], t["environment"]) for t in latest] == [(t["number"], t["environment"]) for t in items[::-1]]
    header, *rows = csv_text.text.splitlines()
    device = header.split(",").index("device")
    assert [row.split(",")[device] for row in rows] == ["cpu"] * 3
    exported = api.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "json"})
    assert json.loads(exported.text)["job"] == job["id"] and len(exported.json()["trials"]) == 3
    assert api.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "xml"}).status_code == 422


def test_the_openapi_document_describes_the_rules_the_engine_checks(shared) -> None:
    job = shared.client().get("/api/v1/openapi.json").json()["components"]["schemas"]["JobCreate"]["properties"]
    assert job["sampler"]["enum"] == list(SAMPLERS) and job["pruner"]["enum"] == list(PRUNERS)
    assert (job["seeds"]["minItems"], job["seeds"]["maxItems"], job["seeds"]["uniqueItems"]) == (1, MAX_SEEDS, True)
    assert job["seeds"]["items"]["maximum"] == job["sampler_seed"]["maximum"] == INT32_MAX
    assert (job["epochs"]["minimum"], job["epochs"]["maximum"]) == (1, MAX_EPOCHS)
    assert job["n_trials"]["minimum"] == 1


def test_a_job_whose_every_trial_raised_an_error_is_failed_with_its_error(service) -> None:
    job = service.client("submit").post("/api/v1/jobs", json=QUICK_JOB).json()
    with session_scope(service.url) as s:  # its task is gone from the machines that run the workers
        s.execute(sa.update(Job).where(Job.id == job["id"]).values(task="retired-task"))
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 3
    api = service.client()
    detail = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert detail["status"] == "failed" and detail["progress"]["outcomes"] == {"error": 3}
    assert detail["error"].startswith("all 3 trials raised an error; the last: could not set up task 'retired-task'")
    listed = api.get("/api/v1/jobs", params={"status": "failed"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]] and listed["items"][0]["error"] == detail["error"]


@contextlib.contextmanager
def polled_service(url: str, poll_cache_s: float):
    """The app in process with ``poll_cache_s`` and its job-status clock in the test's hands."""
    with in_process(url, poll_cache_s=poll_cache_s) as service:
        now = [0.0]
        service.app.state.job_statuses.clock = lambda: now[0]
        yield service, now


def test_a_polled_status_is_reused_within_the_interval_and_a_cancel_is_seen_at_once(db_url: str) -> None:
    with polled_service(db_url, 0.5) as (service, now):
        job = service.client("submit").post("/api/v1/jobs", json=QUICK_JOB).json()
        api = service.client()
        first = api.get(f"/api/v1/jobs/{job['id']}")
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        assert first.json()["progress"]["finished"] == 0
        assert Worker(service.url).run(job_id=job["id"], max_trials=1) == 1
        now[0] = 0.4  # many clients polling one job cost one read per interval
        assert api.get(f"/api/v1/jobs/{job['id']}").content == first.content
        now[0] = 0.5
        assert api.get(f"/api/v1/jobs/{job['id']}").json()["progress"]["finished"] == 1
        assert service.client("submit").post(f"/api/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        assert api.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "cancelled"  # same instant, fresh answer


def test_poll_cache_zero_reads_every_time(db_url: str) -> None:
    with polled_service(db_url, 0) as (service, _):
        job = service.client("submit").post("/api/v1/jobs", json=QUICK_JOB).json()
        assert service.client().get(f"/api/v1/jobs/{job['id']}").json()["progress"]["finished"] == 0
        assert Worker(service.url).run(job_id=job["id"], max_trials=1) == 1
        assert service.client().get(f"/api/v1/jobs/{job['id']}").json()["progress"]["finished"] == 1


def test_per_token_quota_answers_403_naming_it_and_stores_nothing(service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS", "1")
    api = service.client("submit")
    first = api.post("/api/v1/jobs", json=QUICK_JOB, headers={"Idempotency-Key": "quota-1"})
    assert first.status_code == 202, first.text
    # a replay is no new job: it is answered, quota or not
    assert api.post("/api/v1/jobs", json=QUICK_JOB, headers={"Idempotency-Key": "quota-1"}).status_code == 200
    before = row_counts(service.url)
    # two different jobs at once from the same token: both are over the quota, neither slips through a race
    clients = [service.client("submit") for _ in range(2)]
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def go(i: int) -> None:
        barrier.wait()
        answers[i] = clients[i].post("/api/v1/jobs", json={**QUICK_JOB, "n_trials": 2 + i})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in answers:
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"] == "quota_exceeded" and body["field"] == "Authorization"
        assert "at most 1 jobs queued or running and this one has 1 already" in body["detail"]
    assert row_counts(service.url) == before
    assert service.client("other").post("/api/v1/jobs", json=QUICK_JOB).status_code == 202  # its own quota
    api.post(f"/api/v1/jobs/{first.json()['id']}/cancel").raise_for_status()
    assert api.post("/api/v1/jobs", json=QUICK_JOB).status_code == 202  # an ended job frees its place
