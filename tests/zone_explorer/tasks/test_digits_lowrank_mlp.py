"""``digits-lowrank-mlp``: its rank parameter, and a job of the geometric optimizer on it, end to end."""

from __future__ import annotations

import pytest

from optimizers.lowrank import lowrank_layers
from optimizers.registry import get_optimizer
from zone_explorer.engine.jobs import JobSpec, create_job, get_job
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import DigitsLowRankMLPTask, get_task


def test_rank_is_a_validated_task_parameter() -> None:
    task = DigitsLowRankMLPTask(rank=4)
    assert [layer.rank for layer in lowrank_layers(task.setup(0).model)] == [4, 4]
    assert "rank 4" in task.model and "rank 16" in get_task("digits-lowrank-mlp").model
    with pytest.raises(ValueError, match=r"DigitsLowRankMLPTask rank must be an integer in \[1, 64\], got 65"):
        DigitsLowRankMLPTask(rank=65)
    with pytest.raises(ValueError, match=r"r_max must be an integer in \[8, 64\]"):
        DigitsLowRankMLPTask(rank=8, r_max=4)


def test_theta_zero_grows_to_r_max_and_theta_truncates() -> None:
    """theta = 0 keeps every new direction (the rank doubles up to r_max); theta > 0 drops the weak ones."""
    for theta, expect in ((0.0, lambda r: r == 32), (0.1, lambda r: 2 <= r < 32)):
        run = DigitsLowRankMLPTask(rank=16, r_max=32).setup(0)
        opt = get_optimizer("lowrank-hb").create(run.model.parameters(), {"lr": 0.1, "theta": theta})
        for batch in list(run.batches(0))[:3]:
            opt.zero_grad()
            run.loss(batch).backward()
            opt.step()
        ranks = [layer.rank for layer in lowrank_layers(run.model)]
        assert all(expect(r) for r in ranks), (theta, ranks)


@pytest.mark.parametrize("optimizer", ["lowrank-hb", "lowrank-adam"])
def test_a_lowrank_job_runs_end_to_end_and_draws_a_zone(sqlite_url: str, optimizer: str) -> None:
    """Each geometric optimizer trains the task in a job over (a slice of) its default space, and the zone
    analysis draws its map over the profile's natural axes."""
    from zone_explorer.core.profiles import get_profile
    from zone_explorer.engine.job_zones import job_zone_summary
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    space = {"params": {"lr": {"type": "float", "low": 0.05, "high": 0.3, "log": True}}}
    if optimizer == "lowrank-adam":
        space = get_profile(optimizer).default_space
        space = {"params": {**space["params"], "lr": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True}}}
    raw = {
        "task": "digits-lowrank-mlp",
        "optimizer": optimizer,
        "epochs": 1,
        "n_trials": 3,
        "seeds": [0],
        "sampler": "random",
        "sampler_seed": 1,
        "space": space,
    }
    job, _ = create_job(url, JobSpec.parse(raw))
    assert Worker(url, settings=WorkerSettings(poll_interval=0.01)).run(exit_when_idle=True) == 3
    assert get_job(url, job.id).status == "completed"
    trials = load_trials(url, get_job(url, job.id).study_name)
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    assert all(t.value is not None and t.value > 0.3 for t in trials), [t.value for t in trials]
    if optimizer == "lowrank-adam":  # two axes to draw a map over
        zone = job_zone_summary(url, job.id, with_importance=False, grid_size=12)
        assert (zone["x"], zone["y"]) == ("lr", "beta1") and zone["optimizer"] == optimizer
