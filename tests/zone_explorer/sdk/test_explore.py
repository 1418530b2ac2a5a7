"""``ze.explore`` on a small function: exact n trials, pruning, a diverging and a raising trial failed with their
reasons, and the zone it returns; the trial object on its own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import torch

import zone_explorer as ze
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import TrialClaim


def small_train(trial: ze.Trial) -> float:
    """Two steps of the optimizer on a quadratic per epoch; trials 5, 6 and 7 misbehave on purpose."""
    w = torch.nn.Parameter(torch.tensor([2.0, -1.0]))
    opt = trial.optimizer([w], steps_per_epoch=2, epochs=4)
    if trial.number == 6:
        raise RuntimeError("out of memory (on purpose)")
    value = 0.0
    for epoch in range(1, 5):
        for _ in range(2):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
        value = -float((w.detach() ** 2).sum())
        if trial.number == 5:
            value = float("nan")
        if trial.number == 7:
            value = -1e6  # far below the others: the median pruner stops it
        trial.report(epoch, value)
    return value


def test_explore_runs_exactly_n_prunes_fails_diverged_and_returns_the_zone(sqlite_url) -> None:
    zone = ze.explore(
        small_train, metric="neg_loss", n_trials=8, storage=sqlite_url, sampler="random", sampler_seed=2, epochs=4
    )
    with session_scope(sqlite_url) as s:
        claims = s.scalars(sa.select(TrialClaim).where(TrialClaim.job_id == zone["job"])).all()
        ended = {c.trial_number: (c.status, c.outcome, c.reason) for c in claims}
    assert len(ended) == 8 and {status for status, _, _ in ended.values()} == {"done"}
    assert [ended[n][1] for n in range(5)] == ["complete"] * 5
    assert ended[5][1] == "diverged" and "neg_loss nan at epoch 1" in ended[5][2]
    assert ended[6][1] == "error" and "RuntimeError: out of memory (on purpose)" in ended[6][2]
    assert ended[7][1] == "pruned" and "pruned after epoch 1" in ended[7][2]
    assert zone["metric"] == "neg_loss" and zone["direction"] == "maximize" and zone["optimizer"] == "fsgdm"
    assert (zone["x"], zone["y"]) == ("c_scaling", "v_coefficient") and zone["analysis"]


def test_trial_derives_the_run_length_from_the_users_numbers() -> None:
    trial = ze.trial()  # outside any worker: the optimizer's defaults
    assert trial.device == "cpu" and "sigma" not in trial.params and trial.params["lr"] == 0.01
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(TypeError, match="steps_per_epoch is required for fsgdm"):
        trial.optimizer([w])
    opt = trial.optimizer([w], steps_per_epoch=7, epochs=3)
    assert type(opt).__name__ == "FSGDM" and (trial.config["sigma"], trial.config["n_stages"]) == (21, 3)
    trial.report(1, 0.25)
    with pytest.raises(ze.TrialDiverged, match="inf at epoch 2"):
        trial.report(2, float("inf"))
    with pytest.raises(ValueError, match="epoch must be an integer"):
        trial.report(-1, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"train": "not a function"}, TypeError, "train"),
        ({"direction": "up"}, ValueError, "direction"),
        ({"metric": ""}, ValueError, "metric"),
        ({"workers": 0}, ValueError, "workers"),
        ({"n_trials": 0}, ValueError, "n_trials"),
        ({"optimizer": "fsgmd"}, ValueError, "optimizer"),
        ({"devices": []}, ValueError, "devices"),
        ({"devices": ["cpu", "cuda:99"]}, ValueError, "devices: cuda:99"),  # checked as worker --devices checks it
        ({"devices": "gpu"}, ValueError, "devices: unknown device"),
        ({"train": lambda trial: 0.0, "workers": 2}, TypeError, "importable"),
    ],
)
def test_explore_refuses_bad_arguments_naming_the_field(tmp_path, kwargs, error, field) -> None:
    args = {"train": small_train, "storage": f"sqlite:///{tmp_path / 'x.db'}", **kwargs}
    with pytest.raises(error, match=field):
        ze.explore(**args)
    assert not (tmp_path / "x.db").exists()  # nothing stored on rejection


def test_a_worker_leaves_the_jobs_of_a_function_it_does_not_hold(sqlite_url) -> None:
    """Another process's ``ze.explore`` (its function stored, not registered here with the function) is not claimed:
    a general worker on the same database would only fail its trials."""
    from zone_explorer.engine.jobs import JobSpec, create_job
    from zone_explorer.engine.worker import Worker
    from zone_explorer.store.db import init_db
    from zone_explorer.tasks import register_task
    from zone_explorer.tasks.external import FunctionTask, save_function_task

    url = init_db(sqlite_url)
    elsewhere = FunctionTask("fn-elsewhere-0123456789", "their_module:train", "val_acc", "maximize")  # no function
    save_function_task(url, elsewhere)
    register_task(elsewhere, replace=True)
    job, _ = create_job(url, JobSpec.parse({"task": elsewhere.name, "optimizer": "fsgdm", "n_trials": 2}))
    assert Worker(url).run_one(job_id=job.id) is None and Worker(url).run_one() is None
    register_task(FunctionTask(elsewhere.name, "their_module:train", "val_acc", "maximize", small_train), replace=True)
    assert Worker(url).run_one(job_id=job.id) is not None  # held here now: claimed and run
