"""Jobs and their search spaces through HTTP and the CLI (SQLite and PostgreSQL): generated spaces never answer 5xx,
a space with an int dimension runs with the zone and grid samplers, a grid job gets no more trials than its grid
has points, and a job's training epochs (trials x epochs x seeds) are capped."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.server.conftest import QUICK_JOB, Service, row_counts
from tests.strategies import spaces
from zone_explorer.cli import app as cli
from zone_explorer.engine.worker import Worker, WorkerSettings

#: FSGDM searched over an int axis (stages; sigma is 200 at 2 epochs of noisy-quadratic) and a float one
INT_SPACE = {
    "params": {
        "n_stages": {"type": "int", "low": 1, "high": 40},
        "c_scaling": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "lr": {"type": "fixed", "value": 0.01},
    }
}
#: an int axis of 4 values alone: a grid of 4 points
SMALL_GRID = {"params": {"n_stages": {"type": "int", "low": 1, "high": 7, "step": 2}}}


def post_job(client, body: dict):
    """POST a job as raw JSON: httpx's ``json=`` refuses NaN and the infinities, which a hostile client sends."""
    return client.post("/api/v1/jobs", content=json.dumps(body), headers={"Content-Type": "application/json"})


def run_trials(service: Service, job_id: str) -> list[dict]:
    worker = Worker(service.url, settings=WorkerSettings(poll_interval=0.01))
    worker.run(job_id=job_id, exit_when_idle=True)
    api = service.client()
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "completed"
    return api.get(f"/api/v1/jobs/{job_id}/trials", params={"limit": 100}).json()["items"]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    space=spaces("fsgdm", with_optimizer=False),
    sampler=st.sampled_from(["zone", "grid", "random"]),
    n_trials=st.sampled_from([1, 6, 5000]),
)
def test_generated_spaces_never_answer_5xx(shared: Service, space: dict, sampler: str, n_trials: int) -> None:
    r = post_job(shared.client("submit"), {**QUICK_JOB, "space": space, "sampler": sampler, "n_trials": n_trials})
    assert r.status_code in (202, 422), r.text
    if r.status_code == 422:
        err = r.json()
        assert err["error"] == "validation_error" and err["detail"], err
        assert err["field"] == "n_trials" or err["field"].startswith("space"), err


def test_an_int_dimension_runs_with_the_zone_sampler(service: Service) -> None:
    """Past the zone sampler's 8 Sobol points, so that its model proposes int values too."""
    r = post_job(service.client("submit"), {**QUICK_JOB, "space": INT_SPACE, "sampler": "zone", "n_trials": 10})
    assert r.status_code == 202, r.text
    trials = run_trials(service, r.json()["id"])
    assert len(trials) == 10 and all(t["state"] == "COMPLETE" for t in trials), trials
    stages = [t["params"]["n_stages"] for t in trials]
    assert all(isinstance(s, int) and 1 <= s <= 40 for s in stages), stages
    assert all(t["config"]["n_stages"] == t["params"]["n_stages"] for t in trials)


def test_an_int_grid_runs_each_point_once_and_refuses_more_trials(service: Service) -> None:
    api = service.client("submit")
    before = row_counts(service.url)
    refused = post_job(api, {**QUICK_JOB, "space": SMALL_GRID, "sampler": "grid", "n_trials": 5})
    assert refused.status_code == 422 and refused.json()["field"] == "n_trials", refused.text
    assert "holds 4 points" in refused.json()["detail"] and "at most 4" in refused.json()["detail"]
    assert row_counts(service.url) == before
    r = post_job(api, {**QUICK_JOB, "space": SMALL_GRID, "sampler": "grid", "n_trials": 4})
    assert r.status_code == 202, r.text
    trials = run_trials(service, r.json()["id"])
    assert sorted(t["params"]["n_stages"] for t in trials) == [1, 3, 5, 7]


BAD_SPACES = [
    ({"params": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "step": 5e-324}}}, "space.params.lr.step"),
    ({"params": {"lr": {"type": "float", "low": 0.0, "high": 1e308}}}, "space.params.lr.high"),
    ({"params": {"sigma": {"type": "int", "low": 1, "high": 10**400}}}, "space.params.sigma.high"),
    ({"params": {"lr": {"type": "fixed", "value": 10**400}}}, "space.params.lr.value"),
    ({"params": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "step": float("nan")}}}, "space.params.lr.step"),
]


@pytest.mark.parametrize("space,field", BAD_SPACES, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_SPACES)])
def test_extreme_dimensions_are_422_naming_the_field(shared: Service, space: dict, field: str) -> None:
    before = row_counts(shared.url)
    r = post_job(shared.client("submit"), {**QUICK_JOB, "space": space})
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert row_counts(shared.url) == before


def test_a_jobs_training_epochs_are_capped(shared: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    api = shared.client("submit")
    huge = post_job(api, {**QUICK_JOB, "n_trials": 100_000, "epochs": 1000, "seeds": list(range(16))})
    assert huge.status_code == 422 and huge.json()["field"] == "n_trials", huge.text
    assert "n_trials x epochs x seeds = 100000 x 1000 x 16" in huge.json()["detail"]
    monkeypatch.setenv("ZONE_EXPLORER_MAX_JOB_EPOCHS", "6")  # QUICK_JOB is 3 trials x 2 epochs x 1 seed
    assert post_job(api, QUICK_JOB).status_code == 202
    r = post_job(api, {**QUICK_JOB, "seeds": [0, 1]})
    assert r.status_code == 422 and "at most 6" in r.json()["detail"], r.text


def test_the_cli_submits_an_int_dimension(live: Service, tmp_path) -> None:
    """The CLI's submit over HTTP to a real server (that the job runs is the API tests' part)."""
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SMALL_GRID))

    def submit(trials: int):
        job = ["--task", "noisy-quadratic", "--optimizer", "fsgdm", "--space", str(path), "--sampler", "grid"]
        where = ["--url", live.base_url, "--token", live.tokens["submit"]]
        return CliRunner().invoke(cli, ["submit", *job, "--trials", str(trials), "--epochs", "2", *where])

    result = submit(4)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "queued" and job["n_trials"] == 4
    assert job["space"]["params"]["n_stages"] == {"type": "int", "low": 1, "high": 7, "log": False, "step": 2}
    refused = submit(5)
    assert refused.exit_code != 0 and "n_trials" in refused.output and "holds 4 points" in refused.output
