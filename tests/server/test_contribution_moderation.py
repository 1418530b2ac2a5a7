"""Contribution moderation through HTTP: metric ranges and finite hyperparameter bounds, Idempotency-Keys on every
write, duplicates never stored twice, edit in place with ownership checks. Every refusal leaves every row as it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from zone_explorer.contrib import request_verification
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import ContributedTask, Contribution, ContributionRequest, Job
from zone_explorer.store.tokens import authenticate

FSGDM_CONFIG = {"c_scaling": 0.05, "v_coefficient": 1.5, "lr": 0.01, "weight_decay": 5e-4}
DIGITS = {
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "config": FSGDM_CONFIG,
    "value": 0.97,
    "budget": {"epochs": 2},
    "seeds": [0, 1],
    "source": {"notes": "my runs"},
}
QUAD = {**DIGITS, "task": "noisy-quadratic", "value": 0.12}
NEW_TASK = {
    "name": "cifar10-resnet18",
    "dataset": "CIFAR-10",
    "model": "ResNet-18",
    "metric": "test_accuracy",
    "direction": "maximize",
    "description": "batch 128",
    "metric_low": 0,
    "metric_high": 1,
}
MODELS = (Contribution, ContributedTask, ContributionRequest, Job)


def counts(url: str) -> dict[str, int]:
    """Rows of every table a contribution write touches, counted with SQLAlchemy."""
    with session_scope(url) as s:
        return {m.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(m)) or 0 for m in MODELS}


def stored(url: str, contribution_id: str) -> Contribution:
    with session_scope(url) as s:
        row = s.get(Contribution, contribution_id)
    assert row is not None
    return row


OUT_OF_RANGE = [
    ({**DIGITS, "value": 1.7}, "value", "must be in [0, 1] (val_accuracy of task digits-cnn), got 1.7"),
    ({**DIGITS, "value": -0.1}, "value", "in [0, 1]"),
    ({**DIGITS, "curve": [0.5, 1.2]}, "curve[1]", "in [0, 1]"),
    ({**QUAD, "value": -1.7e308}, "value", "must be >= 0 (final_loss of task noisy-quadratic)"),
    ({**DIGITS, "task": NEW_TASK, "value": 97.0}, "value", "in [0, 1] (test_accuracy of task cifar10-resnet18)"),
    ({**DIGITS, "task": {**NEW_TASK, "metric_high": 0}}, "task.metric_high", "must be > metric_low"),
    ({**DIGITS, "config": {**FSGDM_CONFIG, "c_scaling": 1e-300}}, "config.c_scaling", "[1e-20, 1e+06]"),
    ({**DIGITS, "config": {**FSGDM_CONFIG, "lr": 1.7e308}}, "config.lr", "zone-explorer optimizers fsgdm"),
    ({**DIGITS, "config": {**FSGDM_CONFIG, "weight_decay": 1e300}}, "config.weight_decay", "[0, 1e+06]"),
]


@pytest.mark.parametrize(("body", "field", "message"), OUT_OF_RANGE)
def test_out_of_range_values_and_bounds_are_refused_and_store_nothing(service, body, field, message) -> None:
    api = service.client("contribute")
    before = counts(service.url)
    r = api.post("/api/v1/contributions", json=body, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 422 and r.json()["field"] == field and message in r.json()["detail"], r.text
    r = api.post("/api/v1/contributions/batch", json={"contributions": [QUAD, body]})
    assert r.status_code == 422 and r.json()["field"] == f"contributions[1].{field}", r.text
    assert counts(service.url) == before


def test_non_finite_hyperparameter_is_refused(service) -> None:
    api = service.client("contribute")
    before = counts(service.url)
    # JSON has no inf; a CSV cell does
    csv = (
        "task,optimizer,value,source_notes,config.c_scaling,config.v_coefficient,config.lr,config.weight_decay\n"
        "digits-cnn,fsgdm,0.9,x,0.05,1.5,inf,0.0005\n"
    )
    r = api.post("/api/v1/contributions/csv", content=csv, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["field"] == "rows[0].config.lr", r.text
    r = api.post("/api/v1/contributions/csv", content=csv.replace("inf", "0.01").replace("0.9", "1.7"),
                 headers={"Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "rows[0].value" and "(CSV line 2)" in r.json()["detail"]
    assert counts(service.url) == before


def test_catalog_publishes_ranges_and_bounds(service) -> None:
    api = service.client()
    tasks = {t["name"]: t for t in api.get("/api/v1/tasks").json()}
    assert tasks["digits-cnn"]["metric_range"] == [0.0, 1.0] and tasks["tabular-mlp"]["metric_range"] == [0.0, None]
    bounds = api.get("/api/v1/optimizers/fsgdm").json()["contribution_bounds"]
    assert bounds["c_scaling"] == [1e-20, 1e6] and bounds["sigma"] == [1, 2**31 - 1]
    service.client("contribute").post("/api/v1/contributions", json={**DIGITS, "task": NEW_TASK}).raise_for_status()
    assert api.get("/api/v1/tasks/cifar10-resnet18").json()["metric_range"] == [0.0, 1.0]


def test_duplicates_are_refused_alone_and_merged_in_batches(service) -> None:
    api = service.client("contribute")
    first = api.post("/api/v1/contributions", json=DIGITS).json()
    before = counts(service.url)
    r = api.post("/api/v1/contributions", json=DIGITS)
    assert r.status_code == 409 and r.json()["field"] == "contribution" and first["id"] in r.json()["detail"], r.text
    # seeds in another order are the same run; the batch's own repeat is merged too
    other = {**DIGITS, "value": 0.96}
    r = api.post("/api/v1/contributions/batch", json={"contributions": [{**DIGITS, "seeds": [1, 0]}, other, other]})
    assert r.status_code == 201 and r.json()["count"] == 1, r.text
    new_id = r.json()["items"][0]["id"]
    assert r.json()["duplicates"] == [{"index": 0, "id": first["id"]}, {"index": 2, "id": new_id}]
    assert counts(service.url)["ze_contributions"] == before["ze_contributions"] + 1
    # another owner's identical result is theirs to report; a withdrawn one may be reported again
    assert service.client("other").post("/api/v1/contributions", json=DIGITS).status_code == 201
    assert api.delete(f"/api/v1/contributions/{first['id']}").status_code == 200
    assert api.post("/api/v1/contributions", json=DIGITS).status_code == 201


def test_replay_with_the_same_key_stores_nothing_new(service) -> None:
    api = service.client("contribute")
    key = {"Idempotency-Key": "form-42"}
    first = api.post("/api/v1/contributions", json=DIGITS, headers=key)
    assert first.status_code == 201
    before = counts(service.url)
    again = api.post("/api/v1/contributions", json=DIGITS, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.headers["Location"] == first.headers["Location"]
    assert counts(service.url) == before
    # the same key with another body is a conflict; nothing stored
    r = api.post("/api/v1/contributions", json={**DIGITS, "value": 0.5}, headers=key)
    assert r.status_code == 409 and r.json()["field"] == "Idempotency-Key", r.text
    assert counts(service.url) == before
    # keys are per token: another token's same key is its own request
    assert service.client("other").post("/api/v1/contributions", json=DIGITS, headers=key).status_code == 201


def test_batch_and_csv_replays(service) -> None:
    api = service.client("contribute")
    key = {"Idempotency-Key": "batch-1"}
    batch = {"contributions": [DIGITS, QUAD]}
    first = api.post("/api/v1/contributions/batch", json=batch, headers=key).json()
    before = counts(service.url)
    again = api.post("/api/v1/contributions/batch", json=batch, headers=key)
    assert again.status_code == 200 and [c["id"] for c in again.json()["items"]] == [c["id"] for c in first["items"]]
    r = api.post("/api/v1/contributions/csv", content="task\n", headers={**key, "Content-Type": "text/csv"})
    assert r.status_code == 422  # an invalid body is refused before its key is looked at
    csv = "task,optimizer,value,epochs,seeds,source_notes,config.c_scaling,config.v_coefficient,config.lr,config.weight_decay\n"
    csv += "digits-cnn,fsgdm,0.91,2,0,x,0.05,1.5,0.01,0.0005\n"
    r = api.post("/api/v1/contributions/csv", content=csv, headers={**key, "Content-Type": "text/csv"})
    assert r.status_code == 409 and r.json()["field"] == "Idempotency-Key"
    assert counts(service.url) == before
    up = {"Idempotency-Key": "csv-1", "Content-Type": "text/csv"}
    assert api.post("/api/v1/contributions/csv", content=csv, headers=up).status_code == 201
    mid = counts(service.url)
    r = api.post("/api/v1/contributions/csv", content=csv, headers=up)
    assert r.status_code == 200 and r.json()["count"] == 1 and counts(service.url) == mid


def test_edit_in_place_with_ownership_checks(service) -> None:
    api = service.client("contribute")
    c = api.post("/api/v1/contributions", json=DIGITS).json()
    before = counts(service.url)
    r = api.patch(f"/api/v1/contributions/{c['id']}", json={"value": 0.971, "hardware": "1x A100"})
    assert r.status_code == 200 and r.json()["id"] == c["id"] and r.json()["value"] == 0.971, r.text
    assert r.json()["config"] == c["config"] and r.json()["hardware"] == "1x A100"
    assert counts(service.url) == before and stored(service.url, c["id"]).value == 0.971
    refused = [
        (service.client("other"), {"value": 0.5}, 403, "Authorization"),
        (api, {"value": 1.7}, 422, "value"),
        (api, {"config": {**FSGDM_CONFIG, "c_scaling": 1e-300}}, 422, "config.c_scaling"),
        (api, {"colour": "red"}, 422, "colour"),
        (api, {}, 422, "contribution"),
    ]
    for client, changes, status, field in refused:
        r = client.patch(f"/api/v1/contributions/{c['id']}", json=changes)
        assert r.status_code == status and r.json()["field"] == field, r.text
    assert counts(service.url) == before and stored(service.url, c["id"]).value == 0.971
    # editing into a result already stored is a conflict
    twin = api.post("/api/v1/contributions", json={**DIGITS, "value": 0.95}).json()
    r = api.patch(f"/api/v1/contributions/{twin['id']}", json={"value": 0.971})
    assert r.status_code == 409 and c["id"] in r.json()["detail"]
    assert stored(service.url, twin["id"]).value == 0.95
    # an admin may edit anyone's; a keyed edit replays; the same key for another edit conflicts
    key = {"Idempotency-Key": "edit-1"}
    admin = service.client("admin")
    assert admin.patch(f"/api/v1/contributions/{twin['id']}", json={"value": 0.94}, headers=key).status_code == 200
    again = admin.patch(f"/api/v1/contributions/{twin['id']}", json={"value": 0.94}, headers=key)
    assert again.status_code == 200 and again.json()["value"] == 0.94
    r = admin.patch(f"/api/v1/contributions/{twin['id']}", json={"value": 0.93}, headers=key)
    assert r.status_code == 409 and stored(service.url, twin["id"]).value == 0.94
    # a withdrawn contribution is not edited
    assert api.delete(f"/api/v1/contributions/{c['id']}").status_code == 200
    r = api.patch(f"/api/v1/contributions/{c['id']}", json={"value": 0.5})
    assert r.status_code == 422 and r.json()["field"] == "id"


def test_withdraw_and_verify_take_keys(service) -> None:
    api = service.client("contribute")
    c = api.post("/api/v1/contributions", json=QUAD).json()
    other = api.post("/api/v1/contributions", json={**QUAD, "value": 0.2}).json()
    key = {"Idempotency-Key": "w-1"}
    assert api.delete(f"/api/v1/contributions/{c['id']}", headers=key).json()["status"] == "withdrawn"
    before = counts(service.url)
    assert api.delete(f"/api/v1/contributions/{c['id']}", headers=key).status_code == 200
    r = api.delete(f"/api/v1/contributions/{other['id']}", headers=key)
    assert r.status_code == 409 and r.json()["field"] == "Idempotency-Key"
    assert stored(service.url, other["id"]).status == "active" and counts(service.url) == before
    r = service.client("other").delete(f"/api/v1/contributions/{other['id']}")
    assert r.status_code == 403 and stored(service.url, other["id"]).status == "active"

    admin = service.client("admin")  # the contribution is another token's: its owner has no scope submit
    vkey = {"Idempotency-Key": "v-1"}
    first = admin.post(f"/api/v1/contributions/{other['id']}/verify", headers=vkey)
    assert first.status_code == 202, first.text
    mid = counts(service.url)
    again = admin.post(f"/api/v1/contributions/{other['id']}/verify", headers=vkey)
    assert again.status_code == 200 and again.headers["Location"] == first.headers["Location"]
    assert counts(service.url) == mid == {**before, "ze_jobs": before["ze_jobs"] + 1,
                                          "ze_contribution_requests": before["ze_contribution_requests"] + 1}  # fmt: skip


def test_only_the_owner_or_an_admin_verifies_a_result_or_cancels_its_rerun(service) -> None:
    """A verdict is public: another token may neither queue a rerun of someone's result nor cancel one (a cancelled
    rerun turns the verdict to `unverified`); the refusal is a 403 and the verdict stays as it was."""
    owner, stranger, admin = service.client("other"), service.client("submit"), service.client("admin")
    c = owner.post("/api/v1/contributions", json=QUAD).json()
    verify = f"/api/v1/contributions/{c['id']}/verify"
    before = counts(service.url)
    r = stranger.post(verify)
    assert r.status_code == 403 and r.json()["field"] == "Authorization" and "owner or an admin" in r.json()["detail"]
    assert counts(service.url) == before and stored(service.url, c["id"]).verdict is None

    # the owner's rerun: another token may not cancel it; its owner may
    mine = owner.post(verify)
    assert mine.status_code == 202, mine.text
    job = mine.json()["verification"]["job_id"]
    assert stranger.post(f"/api/v1/jobs/{job}/cancel").status_code == 403
    assert stored(service.url, c["id"]).verdict == "pending" and _job_status(service, job) == "queued"
    assert owner.post(f"/api/v1/jobs/{job}/cancel").status_code == 200
    assert stored(service.url, c["id"]).verdict == "unverified"

    # an admin's rerun: not even the result's owner may cancel it (it would undo a disputing rerun)
    job = admin.post(verify).json()["verification"]["job_id"]
    r = owner.post(f"/api/v1/jobs/{job}/cancel")
    assert r.status_code == 403 and stored(service.url, c["id"]).verdict == "pending"

    # a rerun queued by another token before this rule: its queuer may not cancel it either
    assert admin.post(f"/api/v1/jobs/{job}/cancel").status_code == 200
    stranger_id = authenticate(service.url, service.tokens["submit"]).id
    legacy, _, _ = request_verification(service.url, c["id"], owner=stranger_id, may_act_for=lambda _: True)
    job = legacy["verification"]["job_id"]
    r = stranger.post(f"/api/v1/jobs/{job}/cancel")
    assert r.status_code == 403 and f"reruns contribution {c['id']}" in r.json()["detail"], r.text
    assert stored(service.url, c["id"]).verdict == "pending" and _job_status(service, job) == "queued"


def _job_status(service, job_id: str) -> str:
    return service.client().get(f"/api/v1/jobs/{job_id}").json()["status"]
