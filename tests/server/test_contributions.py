"""Contributions through HTTP: one, a batch, CSV; validation (nothing stored on error); withdraw; verify by rerun."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.server.conftest import QUICK_JOB, row_counts
from zone_explorer.contrib import record_ended_verifications, verdict_for
from zone_explorer.engine.worker import Worker, WorkerSettings, reap_lost_claims
from zone_explorer.store.db import get_engine
from zone_explorer.store.models import Contribution, Job, TrialClaim

FSGDM_CONFIG = {"c_scaling": 0.05, "v_coefficient": 1.5, "lr": 0.01, "weight_decay": 5e-4}
GOOD = {
    "task": "noisy-quadratic",
    "optimizer": "fsgdm",
    "config": FSGDM_CONFIG,
    "value": 0.12,
    "curve": [0.5, 0.2, 0.12],
    "budget": {"epochs": 2, "steps": 200},
    "seeds": [0, 1],
    "hardware": "2 CPU cores",
    "software": "torch 2.13",
    "source": {"doi": "10.48550/arXiv.2411.19671", "notes": "Table 3"},
}
NEW_TASK = {
    "name": "cifar10-resnet18",
    "dataset": "CIFAR-10",
    "model": "ResNet-18",
    "metric": "test_accuracy",
    "direction": "maximize",
    "description": "batch 128, standard augmentation",
}

BAD = [
    ({**GOOD, "task": "digits-cn"}, "task", "unknown task 'digits-cn'"),
    ({**GOOD, "task": "'; DROP TABLE ze_contributions; --"}, "task", "unknown task"),
    ({**GOOD, "optimizer": "fsgd"}, "optimizer", "did you mean 'fsgdm'"),
    ({**GOOD, "config": {**FSGDM_CONFIG, "lr": -1}}, "config.lr", "lr must be a float"),
    ({**GOOD, "config": {**FSGDM_CONFIG, "lrr": 0.1}}, "config.lrr", "did you mean 'lr'"),
    ({**GOOD, "config": {"c_scaling": 0.05}}, "config.v_coefficient", "required"),
    ({**GOOD, "config": {**FSGDM_CONFIG, "n_stages": 10**6}}, "config", "n_stages"),
    ({**GOOD, "value": "0.12"}, "value", "valid number"),
    ({**GOOD, "seeds": [1, 1]}, "seeds", "distinct"),
    ({**GOOD, "seeds": "1"}, "seeds", "valid list"),
    ({**GOOD, "budget": {"epochs": 0}}, "budget.epochs", "greater than or equal to 1"),
    ({**GOOD, "source": {}}, "source", "at least one"),
    ({**GOOD, "source": {"doi": "not a doi"}}, "source.doi", "10.NNNN"),
    ({**GOOD, "source": {"url": "javascript:alert(1)"}}, "source.url", "http"),
    ({k: v for k, v in GOOD.items() if k != "source"}, "source", "Field required"),
    ({**GOOD, "hardware": "GPU\u0000"}, "hardware", "pattern"),
    ({**GOOD, "colour": "red"}, "colour", "Extra inputs"),
    ({**GOOD, "task": {**NEW_TASK, "name": "digits-cnn"}}, "task.name", "registered task"),
    ({**GOOD, "task": {**NEW_TASK, "direction": "up"}}, "task.direction", "'maximize'"),
]
RAW_BAD = [
    (
        '{"task": "noisy-quadratic", "optimizer": "fsgdm", "config": {"c_scaling": 0.05, "v_coefficient": 1, "lr": 0.01,'
        ' "weight_decay": 0}, "value": NaN, "source": {"notes": "x"}}',
        "value",
        "finite",
    ),
    (
        '{"task": "noisy-quadratic", "optimizer": "fsgdm", "config": {"c_scaling": Infinity, "v_coefficient": 1, '
        '"lr": 0.01, "weight_decay": 0}, "value": 1, "source": {"notes": "x"}}',
        "config.c_scaling",
        "c_scaling must be",
    ),
    (
        '{"task": "noisy-quadratic", "optimizer": "fsgdm", "config": {}, "value": 1, "curve": [1, -Infinity], '
        '"source": {"notes": "x"}}',
        "curve[1]",
        "finite",
    ),
]


@pytest.mark.parametrize("body,field,fragment", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_contribution_is_422_and_nothing_stored(shared, body, field, fragment) -> None:
    before = row_counts(shared.url)
    r = shared.client("contribute").post("/api/v1/contributions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and fragment in r.json()["detail"], r.json()
    assert row_counts(shared.url) == before


@pytest.mark.parametrize("raw,field,fragment", RAW_BAD, ids=[b[1] for b in RAW_BAD])
def test_non_finite_numbers_are_422(shared, raw, field, fragment) -> None:
    before = row_counts(shared.url)
    r = shared.client("contribute").post(
        "/api/v1/contributions", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["field"] == field and fragment in r.json()["detail"], r.text
    assert row_counts(shared.url) == before


def test_one_contribution_is_stored_with_its_full_config(service) -> None:
    r = service.client("contribute").post("/api/v1/contributions", json={**GOOD, "hardware": "GPU ☃ 数字 'x'; --"})
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == f"/api/v1/contributions/{c['id']}"
    assert c["origin"] == "contributed" and c["status"] == "active" and c["verification"] is None
    assert c["metric"] == "final_loss" and c["direction"] == "minimize" and c["hardware"] == "GPU ☃ 数字 'x'; --"
    # searched values as given, run length derived from the task and the epochs, the rest registry defaults
    assert c["config"] == {**FSGDM_CONFIG, "sigma": 200, "n_stages": 2} and c["given"] == list(FSGDM_CONFIG)
    assert service.client().get(f"/api/v1/contributions/{c['id']}").json() == c
    assert service.client().get("/api/v1/contributions/nope").status_code == 404
    assert service.client().post("/api/v1/contributions", json=GOOD).status_code == 401
    assert service.client("submit").post("/api/v1/contributions", json=GOOD).status_code == 403


def test_new_task_is_described_once(service) -> None:
    api = service.client("contribute")
    first = api.post("/api/v1/contributions", json={**GOOD, "task": NEW_TASK, "value": 0.95})
    assert first.status_code == 201 and first.json()["metric"] == "test_accuracy"
    again = api.post("/api/v1/contributions", json={**GOOD, "task": "cifar10-resnet18", "value": 0.94})
    assert again.status_code == 201 and again.json()["direction"] == "maximize"
    assert again.json()["config"]["sigma"] == 117000  # not a registered task: registry default, nothing derived
    clash = api.post("/api/v1/contributions", json={**GOOD, "task": {**NEW_TASK, "metric": "top5"}})
    assert clash.status_code == 422 and clash.json()["field"] == "task.name"
    task = service.client().get("/api/v1/tasks/cifar10-resnet18").json()
    assert task["kind"] == "contributed" and not task["verifiable"] and task["model"] == "ResNet-18"
    assert "cifar10-resnet18" in [t["name"] for t in service.client().get("/api/v1/tasks").json()]


def test_batch_is_all_or_nothing(service) -> None:
    api = service.client("contribute")
    items = [
        GOOD,
        {**GOOD, "value": 0.2},
        {**GOOD, "task": NEW_TASK, "value": 0.9},
        {**GOOD, "task": "cifar10-resnet18", "value": 0.91},
    ]
    r = api.post("/api/v1/contributions/batch", json={"contributions": items})
    assert r.status_code == 201 and r.json()["count"] == 4, r.text
    before = row_counts(service.url)
    bad = [GOOD, {**GOOD, "config": {**FSGDM_CONFIG, "lr": -0.1}}]
    r = api.post("/api/v1/contributions/batch", json={"contributions": bad})
    assert r.status_code == 422 and r.json()["field"] == "contributions[1].config.lr", r.text
    r = api.post("/api/v1/contributions/batch", json={"contributions": [GOOD, {**GOOD, "value": None}]})
    assert r.status_code == 422 and r.json()["field"] == "contributions[1].value"
    assert api.post("/api/v1/contributions/batch", json={"contributions": []}).status_code == 422
    assert row_counts(service.url) == before


CSV = (
    "task,optimizer,value,epochs,seeds,curve,source_notes,config.c_scaling,config.v_coefficient,config.lr,"
    "config.weight_decay\n"
    "noisy-quadratic,fsgdm,0.11,2,0;1,0.4;0.11,from a CSV,0.05,1.5,0.01,0.0005\n"
    'noisy-quadratic,fsgdm,0.13,2,,,"quoted, with comma",0.1,2.0,0.01,0.0005\n'
)


def test_csv_upload_raw_and_multipart(service) -> None:
    api = service.client("contribute")
    r = api.post("/api/v1/contributions/csv", content=CSV.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    first, second = r.json()["items"]
    assert (
        first["seeds"] == [0, 1]
        and first["curve"] == [0.4, 0.11]
        and second["source"] == {"notes": "quoted, with comma"}
    )
    before = row_counts(service.url)
    # the same rows again, as a multipart form: both are duplicates, merged into the stored ones
    r = api.post("/api/v1/contributions/csv", files={"file": ("results.csv", CSV.encode(), "text/csv")})
    assert r.status_code == 201 and r.json()["count"] == 0, r.text
    assert r.json()["duplicates"] == [{"index": 0, "id": first["id"]}, {"index": 1, "id": second["id"]}]
    assert row_counts(service.url) == before


CSV_BAD = [
    (CSV.replace("0.05,1.5", "0.05,-1.5"), "rows[0].config.v_coefficient", "(CSV line 2)"),
    (CSV.replace("config.lr", "config.lrr"), "rows[0].config.lrr", "did you mean 'lr'"),
    (CSV.replace("source_notes", "notes"), "csv.header", "unknown column 'notes'"),
    (CSV + 'noisy-quadratic,fsgdm,"0.1\n', "csv", "malformed CSV"),
    (CSV + "noisy-quadratic,fsgdm\n", "rows[2]", "has 2 fields"),
    (CSV.replace("0;1", "0;x"), "rows[0].seeds", "';'-separated"),
    (CSV.replace("0.11,2,0;1", "nan,2,0;1"), "rows[0].value", "finite"),
    (CSV.split("\n")[0] + "\n", "csv", "no rows"),
    ("", "csv", "empty"),
    ("\xff\xfe not utf-8", "csv", "UTF-8"),
]


@pytest.mark.parametrize("text,field,fragment", CSV_BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(CSV_BAD)])
def test_bad_csv_is_422_and_nothing_stored(shared, text, field, fragment) -> None:
    before = row_counts(shared.url)
    data = text.encode("latin-1") if text.startswith("\xff") else text.encode()
    r = shared.client("contribute").post(
        "/api/v1/contributions/csv", content=data, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and fragment in r.json()["detail"], r.json()
    assert row_counts(shared.url) == before


def test_upload_limits(shared) -> None:
    api = shared.client("contribute")
    before = row_counts(shared.url)
    r = api.post("/api/v1/contributions/csv", content=CSV.encode(), headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and r.json()["field"] == "Content-Type"
    huge = b"x" * (3 * 1024 * 1024)
    r = api.post("/api/v1/contributions", content=huge, headers={"Content-Type": "application/json"})
    assert (
        r.status_code == 413
        and r.json() == {"error": "payload_too_large", "field": "body", "detail": r.json()["detail"]}
        and "exceeds the limit" in r.json()["detail"]
    )

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(48):
            yield b"y" * 65536

    r = api.post("/api/v1/contributions/csv", content=chunks(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413
    r = api.post("/api/v1/contributions/batch", json={"contributions": [GOOD] * 1001})
    assert r.status_code == 422 and r.json()["field"] == "contributions" and "at most 1000" in r.json()["detail"]
    assert row_counts(shared.url) == before


def test_list_and_withdraw(service) -> None:
    mine = service.client("contribute").post("/api/v1/contributions", json=GOOD).json()
    theirs = service.client("other").post("/api/v1/contributions", json={**GOOD, "value": 0.3}).json()
    page = (
        service.client().get("/api/v1/contributions", params={"task": "noisy-quadratic", "optimizer": "fsgdm"}).json()
    )
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [theirs["id"], mine["id"]]
    assert service.client().get("/api/v1/contributions", params={"optimizer": "lion"}).json()["total"] == 0
    assert service.client().get("/api/v1/contributions", params={"verdict": "none"}).json()["total"] == 2
    r = service.client("other").delete(f"/api/v1/contributions/{mine['id']}")
    assert r.status_code == 403 and "owner or an admin" in r.json()["detail"]
    r = service.client("contribute").delete(f"/api/v1/contributions/{mine['id']}")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert service.client("admin").delete(f"/api/v1/contributions/{theirs['id']}").json()["status"] == "withdrawn"
    assert service.client().get("/api/v1/contributions").json()["total"] == 0
    assert service.client().get("/api/v1/contributions", params={"status": "withdrawn"}).json()["total"] == 2
    assert service.client("contribute").delete("/api/v1/contributions/0000000000000000").status_code == 404


@pytest.mark.slow
def test_verification_reruns_and_judges(service) -> None:
    # a real result first: run a small job and claim one of its trials, once honestly and once inflated
    job = service.client("submit").post("/api/v1/jobs", json={**QUICK_JOB, "n_trials": 1}).json()
    Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True)
    trial = service.client().get(f"/api/v1/jobs/{job['id']}/trials").json()["items"][0]
    claim = {**GOOD, "config": trial["config"], "value": trial["value"], "seeds": [0], "curve": None}
    api = service.client("contribute")
    honest = api.post("/api/v1/contributions", json=claim).json()
    inflated = api.post("/api/v1/contributions", json={**claim, "value": trial["value"] / 10}).json()
    assert service.client("contribute").post(f"/api/v1/contributions/{honest['id']}/verify").status_code == 403
    # a submit token that is not the claim's owner: 403 (its owner, with scope submit, or an admin may)
    assert service.client("submit").post(f"/api/v1/contributions/{honest['id']}/verify").status_code == 403
    queued = service.client("admin").post(f"/api/v1/contributions/{honest['id']}/verify")
    assert queued.status_code == 202, queued.text
    assert queued.json()["verification"]["verdict"] == "pending"
    verify_job = queued.headers["Location"].rsplit("/", 1)[-1]
    assert queued.json()["verification"]["job_id"] == verify_job
    again = service.client("admin").post(f"/api/v1/contributions/{honest['id']}/verify")
    assert again.status_code == 200 and again.json()["verification"]["job_id"] == verify_job  # one rerun per claim
    assert service.client("admin").post(f"/api/v1/contributions/{inflated['id']}/verify").status_code == 202
    rerun = service.client().get(f"/api/v1/jobs/{verify_job}").json()
    assert rerun["n_trials"] == 1 and rerun["seeds"] == [0] and rerun["epochs"] == 2
    assert all(d["type"] == "fixed" for d in rerun["space"]["params"].values())
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 2
    judged = service.client().get(f"/api/v1/contributions/{honest['id']}").json()
    assert judged["verification"]["verdict"] == "verified", judged["verification"]
    assert judged["verification"]["measured_value"] == pytest.approx(trial["value"], rel=1e-6)
    assert judged["origin"] == "verified"
    disputed = service.client().get(f"/api/v1/contributions/{inflated['id']}").json()["verification"]
    assert disputed["verdict"] == "disputed" and "tolerance" in disputed["detail"]
    listed = service.client().get("/api/v1/contributions", params={"verdict": "verified"}).json()
    assert [c["id"] for c in listed["items"]] == [honest["id"]]
    api.post(
        "/api/v1/contributions/batch",
        json={"contributions": [GOOD, {**GOOD, "config": {**FSGDM_CONFIG, "c_scaling": 0.2, "v_coefficient": 2.5}}]},
    )
    zone = service.client().get("/api/v1/zones/noisy-quadratic/fsgdm").json()
    assert zone["counts"] == {"explored": 0, "contributed": 2, "verified": 0, "disputed": 0}  # 2 epochs x 2 seeds
    # 2 epochs x 1 seed: the trial and the verified claim; not the reruns (they verify), nor the disputed claim
    assert [(b["key"], b["count"]) for b in zone["budgets"]] == [("epochs=2;seeds=2", 2), ("epochs=2;seeds=1", 2)]
    # a contribution to a contributed task cannot be rerun
    other = api.post("/api/v1/contributions", json={**GOOD, "task": NEW_TASK}).json()
    r = service.client("admin").post(f"/api/v1/contributions/{other['id']}/verify")
    assert r.status_code == 422 and r.json()["field"] == "task"


VERDICT_EDGES = [
    # claimed, measured, seed std, verdict, tolerance: max(0.01, 5% of |claimed|, 2 x std), its edge inclusive
    (0.0, 0.01, None, "verified", 0.01),
    (0.0, -0.0100001, None, "disputed", 0.01),
    (-4.0, -4.1875, None, "verified", 0.2),
    (-4.0, -4.25, None, "disputed", 0.2),
    (0.0, 0.5, 0.25, "verified", 0.5),
    (0.0, 0.5000001, 0.25, "disputed", 0.5),
    (1.0, 1.0, 0.0, "verified", 0.05),
]


@pytest.mark.parametrize("claimed,measured,std,verdict,tolerance", VERDICT_EDGES)
def test_verdict_rule_at_its_edges(claimed, measured, std, verdict, tolerance) -> None:
    assert verdict_for(claimed, measured, std) == (verdict, tolerance)


def _verification(service, contribution_id: str) -> dict:
    return service.client().get(f"/api/v1/contributions/{contribution_id}").json()["verification"]


@pytest.mark.slow
def test_a_verdict_is_recorded_when_its_rerun_ends_and_reads_never_write(service) -> None:
    api = service.client("contribute")
    claim = api.post("/api/v1/contributions", json={**GOOD, "seeds": [0], "curve": None}).json()
    api.post(
        "/api/v1/contributions",
        # the claim's budget (one seed): the zone read below has two results of it
        json={**GOOD, "seeds": [0], "value": 0.3, "config": {**FSGDM_CONFIG, "c_scaling": 0.2, "v_coefficient": 3.0}},
    )
    admin = service.client("admin")  # the claim is another token's
    first = admin.post(f"/api/v1/contributions/{claim['id']}/verify").json()["verification"]["job_id"]
    # cancelled before any worker took it: the cancellation records the verdict
    assert admin.post(f"/api/v1/jobs/{first}/cancel").status_code == 200
    cancelled = _verification(service, claim["id"])
    assert cancelled["verdict"] == "unverified" and f"job {first} ended cancelled" in cancelled["detail"]
    queued = admin.post(f"/api/v1/contributions/{claim['id']}/verify")
    assert queued.status_code == 202 and queued.json()["verification"]["job_id"] != first
    # the worker records the verdict in the transaction that completes the job
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 1
    judged = _verification(service, claim["id"])
    assert judged["verdict"] in ("verified", "disputed") and "tolerance" in judged["detail"]

    # a database from before: the rerun has ended, its verdict is still pending
    with get_engine(service.url).begin() as conn:
        conn.execute(
            sa.update(Contribution)
            .where(Contribution.id == claim["id"])
            .values(verdict="pending", measured_value=None, verdict_detail="rerun queued")
        )
    stored = _stored(service.url, claim["id"])
    reader = service.client()
    assert reader.get(f"/api/v1/contributions/{claim['id']}").json()["verification"]["verdict"] == "pending"
    assert reader.get("/api/v1/contributions", params={"verdict": "pending"}).json()["total"] == 1
    zone = reader.get("/api/v1/zones/noisy-quadratic/fsgdm")
    assert zone.status_code == 200, zone.text
    assert reader.get(f"/pages-api/zones/noisy-quadratic/fsgdm/points/contribution/{claim['id']}").status_code == 200
    assert reader.get("/contributions").status_code == 200 and reader.get("/").status_code == 200
    assert _stored(service.url, claim["id"]) == stored  # the reads wrote nothing
    # what a serving process does once at start, after migrating
    assert record_ended_verifications(service.url) == 1 and record_ended_verifications(service.url) == 0
    assert _verification(service, claim["id"]) == judged


@pytest.mark.slow
def test_a_verdict_is_recorded_when_the_reaper_ends_its_rerun(service) -> None:
    """A worker that told Optuna its rerun's result but died before closing its claim: the reaper closes the
    claim with that result, which ends the job, and the verdict is recorded in that same transaction."""
    claim = service.client("contribute").post("/api/v1/contributions", json={**GOOD, "seeds": [0], "curve": None})
    cid = claim.json()["id"]
    job_id = service.client("admin").post(f"/api/v1/contributions/{cid}/verify").json()["verification"]["job_id"]
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 1
    judged = _verification(service, cid)
    # undo what the dead worker did not get to do: its claim still running (and stale), the job and verdict open
    with get_engine(service.url).begin() as conn:
        conn.execute(
            sa.update(TrialClaim)
            .where(TrialClaim.job_id == job_id)
            .values(
                status="running",
                outcome=None,
                finished_at=None,
                heartbeat_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
            )
        )
        conn.execute(sa.update(Job).where(Job.id == job_id).values(status="running"))
        conn.execute(
            sa.update(Contribution)
            .where(Contribution.id == cid)
            .values(verdict="pending", verdict_detail="rerun queued")
        )
    assert reap_lost_claims(service.url, grace_period=60) == 1
    assert service.client().get(f"/api/v1/jobs/{job_id}").json()["status"] == "completed"
    assert _verification(service, cid) == judged


def _stored(url: str, contribution_id: str) -> tuple:
    with get_engine(url).connect() as conn:
        return conn.execute(
            sa.select(Contribution.verdict, Contribution.verdict_detail, Contribution.updated_at).where(
                Contribution.id == contribution_id
            )
        ).one()
