"""Schedule-free optimizers in the engine: train() before the steps, eval() before the metric, end to end."""

from __future__ import annotations

import statistics

import pytest
import torch

from optimizers.registry import get_optimizer
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.objective import recompute_batchnorm_statistics, set_optimizer_mode
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import get_task


def _replay(task_name: str, optimizer: str, config: dict, seed: int, epochs: int, *, use_eval: bool) -> float:
    """The trial's metric on one seed, trained here by hand (with or without the switch to x)."""
    run = get_task(task_name).setup(seed)
    opt = get_optimizer(optimizer).create(run.model.parameters(), config)
    metric = float("nan")
    for epoch in range(epochs):
        opt.train()
        for batch in run.batches(epoch):
            opt.zero_grad(set_to_none=True)
            run.loss(batch).backward()
            opt.step()
        if use_eval:
            opt.eval()
        metric = float(run.evaluate())
    return metric


@pytest.mark.parametrize("optimizer", ["sgd-schedulefree", "adamw-schedulefree"])
def test_a_job_trains_at_y_and_reports_the_metric_at_x(sqlite_url: str, optimizer: str) -> None:
    url = init_db(sqlite_url)
    spec = {"task": "noisy-quadratic", "optimizer": optimizer, "epochs": 2, "sampler": "random", "sampler_seed": 3}
    job, _ = create_job(url, JobSpec.parse({**spec, "n_trials": 2, "seeds": [0]}))
    assert Worker(url, settings=WorkerSettings(poll_interval=0.01)).run(exit_when_idle=True) == 2
    trials = [t for t in load_trials(url, job.study_name) if t.state == "COMPLETE"]
    assert len(trials) == 2, [t.attrs.get("fail_reason") for t in load_trials(url, job.study_name)]
    t = trials[0]
    at_x = _replay("noisy-quadratic", optimizer, t.config, 0, 2, use_eval=True)
    at_y = _replay("noisy-quadratic", optimizer, t.config, 0, 2, use_eval=False)
    assert t.value == pytest.approx(at_x, rel=1e-9, abs=1e-12)
    assert at_x != pytest.approx(at_y, rel=1e-6), "the metric must be read at x, not at y"
    assert statistics.fmean(t.attrs["seed_values"]) == pytest.approx(t.value)


def test_mode_switch_is_a_no_op_for_ordinary_optimizers() -> None:
    p = torch.ones(2, requires_grad=True)
    assert set_optimizer_mode(torch.optim.SGD([p], lr=0.1), training=True) is False
    opt = get_optimizer("sgd-schedulefree").create([p])
    assert set_optimizer_mode(opt, training=True) is True and opt.train_mode
    assert set_optimizer_mode(opt, training=False) is True and not opt.train_mode


class _BatchNormRun:
    """A TaskRun-shaped object with a BatchNorm layer, for the statistics re-estimate."""

    def __init__(self) -> None:
        self.model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
        gen = torch.Generator().manual_seed(0)
        self.data = [torch.randn(16, 3, generator=gen) * 2 + 1 for _ in range(5)]

    def batches(self, epoch: int):
        return iter(self.data)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).pow(2).mean()


def test_batchnorm_statistics_are_re_estimated_at_the_current_weights() -> None:
    run = _BatchNormRun()
    bn = run.model[1]
    bn.running_mean.fill_(123.0)  # statistics that belong to other weights
    run.model.eval()
    assert recompute_batchnorm_statistics(run, 0, max_batches=3) == 3
    with torch.no_grad():
        feats = run.model[0](torch.cat(run.data[:3]))
    torch.testing.assert_close(bn.running_mean, feats.mean(0), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and not run.model.training  # left as it was
    assert recompute_batchnorm_statistics(type("R", (), {"model": torch.nn.Linear(2, 2)})(), 0) == 0
