"""The zone page's JSON: the copy-call calculator (the engine's run-length rule, bad counts refused naming the field)
and the count of running jobs that keeps the page polling."""

from __future__ import annotations

import pytest

from server.views.snippets import constructor_call, run_length_call
from server.views.zone import running_jobs
from tests.web.synthetic import build_study
from zone_explorer.core.errors import FieldError, NotFound
from zone_explorer.core.limits import INT32_MAX, MAX_CONTRIBUTED_EPOCHS
from zone_explorer.core.profiles import get_profile
from zone_explorer.engine.jobs import JobSpec, cancel_job, create_job

CONFIG = {"lr": 0.01, "c_scaling": 0.05, "v_coefficient": 0.9, "weight_decay": 0.0, "sigma": 450, "n_stages": 10}


@pytest.mark.parametrize("optimizer", ["fsgdm", "autosgm", "sgd"])
@pytest.mark.parametrize(("spe", "epochs"), [(1, 1), (123, 7), (1000, 5)])
def test_the_calculator_uses_the_profiles_rule(optimizer: str, spe: int, epochs: int) -> None:
    answer = run_length_call(optimizer, CONFIG, str(spe), str(epochs))
    derived = get_profile(optimizer).derive_run_length(spe, epochs)
    assert answer["run_length"] == derived
    assert answer["call"] == constructor_call(optimizer, {**CONFIG, **derived})


def test_fsgdm_call_carries_the_users_run_length_not_the_demo_tasks() -> None:
    answer = run_length_call("fsgdm", CONFIG, " 123 ", "7")
    assert answer["run_length"] == {"sigma": 861, "n_stages": 7}
    assert "sigma=861" in answer["call"] and "n_stages=7" in answer["call"] and "sigma=450" not in answer["call"]


@pytest.mark.parametrize(
    ("spe", "epochs", "field"),
    [
        ("0", "5", "steps_per_epoch"),
        ("-3", "5", "steps_per_epoch"),
        ("2.5", "5", "steps_per_epoch"),
        ("", "5", "steps_per_epoch"),
        ("many", "5", "steps_per_epoch"),
        (str(INT32_MAX + 1), "1", "steps_per_epoch"),
        ("10", "0", "epochs"),
        ("10", "1e3", "epochs"),
        ("10", str(MAX_CONTRIBUTED_EPOCHS + 1), "epochs"),
        ("10", "9" * 40, "epochs"),
        ("100000", "100000", "epochs"),  # 1e10 steps: beyond a 32-bit step counter
    ],
)
def test_bad_counts_are_refused_naming_the_field(spe: str, epochs: str, field: str) -> None:
    with pytest.raises(FieldError) as err:
        run_length_call("fsgdm", CONFIG, spe, epochs)
    assert err.value.field == field


def test_the_calls_route(service) -> None:
    client = service.client()
    ok = client.get("/pages-api/calls/fsgdm", params={"config": '{"lr": 0.01}', "steps_per_epoch": 10, "epochs": 3})
    assert ok.status_code == 200
    assert ok.json()["run_length"] == {"sigma": 30, "n_stages": 3}
    bad = client.get("/pages-api/calls/fsgdm", params={"steps_per_epoch": "10", "epochs": "-1"})
    assert bad.status_code == 422 and bad.json()["field"] == "epochs" and "whole number" in bad.json()["detail"]
    assert client.get("/pages-api/calls/fsgdm", params={"config": "[1]"}).json()["field"] == "config"
    assert client.get("/pages-api/calls/fsgdm", params={"config": "{"}).status_code == 422
    assert client.get("/pages-api/calls/nope", params={"steps_per_epoch": 1, "epochs": 1}).status_code == 404
    assert client.get("/pages-api/calls/fsgdm", params={"epochs": "1" * 41}).status_code == 422  # capped


def test_the_zone_page_knows_which_optimizers_take_the_calculator(service) -> None:
    client = service.client()
    assert 'id="call-calculator"' in client.get("/zones/tabular-mlp/fsgdm").text
    assert "sigma, n_stages" in client.get("/zones/tabular-mlp/fsgdm").text
    assert 'id="call-calculator"' not in client.get("/zones/tabular-mlp/sgd").text


def test_running_jobs_counts_queued_and_running_jobs_of_the_zone(service) -> None:
    url = service.url
    assert running_jobs(url, "tabular-mlp", "sgd") == 0
    job, _ = create_job(url, JobSpec.parse({"task": "tabular-mlp", "optimizer": "sgd", "n_trials": 5}))
    create_job(url, JobSpec.parse({"task": "tabular-mlp", "optimizer": "fsgdm", "n_trials": 5}))
    assert running_jobs(url, "tabular-mlp", "sgd") == 1
    client = service.client()
    empty = client.get("/pages-api/zones/tabular-mlp/sgd").json()
    assert empty["empty"] is True and empty["running_jobs"] == 1
    build_study(url, 20, optimizer="sgd", task="tabular-mlp", seed=3)  # a finished job: not counted
    answer = client.get("/pages-api/zones/tabular-mlp/sgd")
    assert answer.json()["running_jobs"] == 1 and answer.headers["X-Data-Version"]
    cancel_job(url, job.id)
    assert client.get("/pages-api/zones/tabular-mlp/sgd").json()["running_jobs"] == 0
    with pytest.raises(NotFound):
        run_length_call("nope", {}, "1", "1")
