"""Zone answers: the merged table and importance computed once per data version, and the staleness policy while
a job runs (bounded lag for new trials, background refresh, contributions always seen at once); each app's
caches are its own."""

from __future__ import annotations

import time

import pytest

import server.services.zone_answers as views
from zone_explorer.contrib import add_contributions
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.worker import Worker
from zone_explorer.store.db import init_db

QUICK = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 1, "sampler": "random", "sampler_seed": 1}
CONTRIBUTION = {
    "task": "noisy-quadratic",
    "optimizer": "fsgdm",
    "value": 0.3,
    "seeds": [0],
    "budget": {"epochs": 1},  # the job's budget: one zone
    "source": {"notes": "test"},
    "config": {"c_scaling": 0.05, "v_coefficient": 2.0, "lr": 0.01, "weight_decay": 5e-4},
}


@pytest.fixture
def job(sqlite_url: str):
    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "n_trials": 8}))
    return url, job.id


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _contribute(answers: views.ZoneAnswers) -> None:
    """What the contribution routes do: store, then bump the app's contributions version."""
    add_contributions(answers.url, [CONTRIBUTION])
    answers.contributions.bump()


def _trials(url: str, job_id: str, n: int) -> None:
    assert Worker(url).run(job_id=job_id, max_trials=n) == n


def _explored(result: views.ZoneResult) -> int:
    return result.data["counts"]["explored"]


def test_tolerance_and_axes_reuse_the_table_and_its_importance(job, monkeypatch) -> None:
    url, job_id = job
    answers = views.ZoneAnswers(url, 32, 0.0)
    _trials(url, job_id, 5)
    reads, assessed, fits = [], [], []
    read, assess, fit = views._read_zone_data, views.importance, views.model_zone
    monkeypatch.setattr(views, "_read_zone_data", lambda *a: reads.append(a) or read(*a))
    monkeypatch.setattr(views, "importance", lambda *a, **k: assessed.append(a) or assess(*a, **k))
    monkeypatch.setattr(views, "model_zone", lambda *a, **k: fits.append(a) or fit(*a, **k))
    first = answers.view("noisy-quadratic", "fsgdm", top_q=0.2)
    wider = answers.view("noisy-quadratic", "fsgdm", top_q=0.6)
    assert len(fits) == 1  # top q is a view of the trials: the model zone (default delta) is fit once
    assert first.data["analysis"]["zone"] == wider.data["analysis"]["zone"]
    other_axes = answers.view("noisy-quadratic", "fsgdm", x="K", y="c_scaling", delta=0.5)
    assert len(reads) == 1 and len(assessed) == 1 and len(fits) == 2
    assert other_axes.data["analysis"]["zone"]["delta"] == 0.5
    assert (
        first.data["analysis"]["importance"]
        == wider.data["analysis"]["importance"]
        == other_axes.data["analysis"]["importance"]
    )
    assert first.data["analysis"]["zone_map"]["n_zone"] < wider.data["analysis"]["zone_map"]["n_zone"]
    assert other_axes.data["x"] == "K"
    _trials(url, job_id, 1)  # new data: read and assessed again
    assert _explored(answers.view("noisy-quadratic", "fsgdm", top_q=0.2)) == 6 and len(reads) == 2


def test_new_trials_lag_by_at_most_the_refresh_interval_then_refresh_in_the_background(job) -> None:
    url, job_id = job
    clock = Clock()
    answers = views.ZoneAnswers(url, 32, 2.0, clock=clock)
    _trials(url, job_id, 3)
    first = answers.view("noisy-quadratic", "fsgdm")
    assert _explored(first) == 3
    _trials(url, job_id, 2)
    clock.now = 1.0
    assert answers.view("noisy-quadratic", "fsgdm") is first  # within the interval: no recomputation
    clock.now = 3.0
    stale = answers.view("noisy-quadratic", "fsgdm")  # starts a refresh, answers at once with what it has
    assert stale is first
    deadline = time.monotonic() + 30
    while (fresh := answers.view("noisy-quadratic", "fsgdm")) is first:
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.05)
    assert _explored(fresh) == 5 and fresh.version != first.version
    _trials(url, job_id, 1)
    clock.now = 3.0 + 10 * 2.0  # ten intervals on: recomputed before it is served
    assert _explored(answers.view("noisy-quadratic", "fsgdm")) == 6


def test_a_contribution_is_seen_by_the_next_read(job) -> None:
    url, job_id = job
    answers = views.ZoneAnswers(url, 32, 3600.0)  # new trials may lag for an hour; contributions never do
    _trials(url, job_id, 3)
    assert answers.view("noisy-quadratic", "fsgdm").data["counts"] == {
        "explored": 3,
        "contributed": 0,
        "verified": 0,
        "disputed": 0,
    }
    _trials(url, job_id, 1)
    assert _explored(answers.view("noisy-quadratic", "fsgdm")) == 3  # the trial may lag
    _contribute(answers)
    after = answers.view("noisy-quadratic", "fsgdm")
    assert after.data["counts"] == {"explored": 4, "contributed": 1, "verified": 0, "disputed": 0}
    summary = answers.summary("noisy-quadratic", "fsgdm")
    assert summary.version == after.version and summary.data["counts"] == after.data["counts"]


def test_refresh_interval_is_validated(sqlite_url) -> None:
    with pytest.raises(ValueError, match="refresh_s must be >= 0"):
        views.ZoneAnswers(sqlite_url, 32, -1.0)


def test_polled_reads_skip_the_version_query_for_the_recheck_interval(job, monkeypatch) -> None:
    url, job_id = job
    clock = Clock()
    answers = views.ZoneAnswers(url, 32, 2.0, 0.5, clock=clock)
    asked = []
    version = views.data_version
    monkeypatch.setattr(views, "data_version", lambda *a: asked.append(a) or version(*a))
    _trials(url, job_id, 3)
    first = answers.view("noisy-quadratic", "fsgdm")
    assert len(asked) == 1 and answers.recent_view("noisy-quadratic", "fsgdm", top_q=0.3) is None
    clock.now = 0.4
    assert answers.view("noisy-quadratic", "fsgdm") is first and len(asked) == 1
    assert answers.recent_view("noisy-quadratic", "fsgdm") is first  # what the API serves on its event loop
    clock.now = 0.5
    assert answers.view("noisy-quadratic", "fsgdm") is first and len(asked) == 2  # asked again, unchanged
    _contribute(answers)  # a write through this app: the next read asks, whatever the clock
    assert answers.recent_view("noisy-quadratic", "fsgdm") is None
    assert answers.view("noisy-quadratic", "fsgdm").data["counts"]["contributed"] == 1 and len(asked) == 3
    summary = answers.recent_summary("noisy-quadratic", "fsgdm")
    assert summary is not None and summary.data["counts"]["contributed"] == 1


def test_recheck_zero_asks_for_the_version_on_every_read(job, monkeypatch) -> None:
    url, job_id = job
    answers = views.ZoneAnswers(url, 32, 2.0, 0.0)
    asked = []
    version = views.data_version
    monkeypatch.setattr(views, "data_version", lambda *a: asked.append(a) or version(*a))
    _trials(url, job_id, 2)
    first = answers.view("noisy-quadratic", "fsgdm")
    assert answers.view("noisy-quadratic", "fsgdm") is first and len(asked) == 2
    assert answers.recent_view("noisy-quadratic", "fsgdm") is None


def test_recheck_interval_is_validated(sqlite_url) -> None:
    with pytest.raises(ValueError, match="recheck_s must be >= 0"):
        views.ZoneAnswers(sqlite_url, 32, 2.0, -0.1)


def test_each_answers_object_has_its_own_caches(job) -> None:
    url, job_id = job
    _trials(url, job_id, 2)
    one, other = views.ZoneAnswers(url), views.ZoneAnswers(url, 0)
    first = one.view("noisy-quadratic", "fsgdm")
    assert one.view("noisy-quadratic", "fsgdm") is first
    assert other.view("noisy-quadratic", "fsgdm") is not first  # no cache there: computed every time
    one.contributions.bump()
    assert one.recent_view("noisy-quadratic", "fsgdm") is None and other.contributions.value == 0


def _diverge(url: str, job_id: str, config: dict) -> None:
    """A diverged trial, as a worker records one: state FAIL, outcome ``diverged``, its config."""
    import optuna

    from zone_explorer.engine.jobs import get_job

    study = optuna.load_study(study_name=get_job(url, job_id).study_name, storage=url)
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={"outcome": "diverged", "config": config}
        )
    )


def test_the_merged_table_keeps_diverged_trials_noise_and_constants(job) -> None:
    url, job_id = job
    answers = views.ZoneAnswers(url, 32, 0.0)
    _trials(url, job_id, 4)
    first = answers.view("noisy-quadratic", "fsgdm")
    _contribute(answers)
    diverged = {**CONTRIBUTION["config"], "c_scaling": 1.5, "v_coefficient": 40.0}
    _diverge(url, job_id, diverged)
    data = views._read_zone_data(url, "noisy-quadratic", "fsgdm", "minimize").select(views.ZoneFilters())
    table = data.table
    assert list(table.origin) == ["explored"] * 4 + ["contributed"] and len(data.configs) == 5
    assert {k: list(v) for k, v in table.diverged.items() if k in ("c_scaling", "v_coefficient")} == {
        "c_scaling": [1.5],
        "v_coefficient": [40.0],
    }
    assert table.noise_var is not None and table.noise_var.shape == (5,)
    assert table.constants["lr"] == 0.01  # every trial's lr: the K block reads it
    assert set(data.bounds) >= {"c_scaling", "v_coefficient"}
    # a diverged trial is new data: a new version, and the model counts it
    after = answers.view("noisy-quadratic", "fsgdm")
    assert after.version != first.version
    assert after.data["analysis"]["diagnostics"]["n_diverged"] == 1
    assert after.data["analysis"]["k"]["lr"] == 0.01
