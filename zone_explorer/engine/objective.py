"""One trial: build the task and the optimizer from a configuration, train on every seed, report, prune."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch

from optimizers.registry import get_optimizer
from zone_explorer.core.spaces import Space
from zone_explorer.core.statuses import Outcome
from zone_explorer.engine.devices import ENVIRONMENT_ATTR, environment
from zone_explorer.tasks import get_task
from zone_explorer.tasks.base import setup_on, takes_device
from zone_explorer.tasks.external import ExternalTask

__all__ = ["TrialOutcome", "TrialPlan", "evaluate", "recompute_batchnorm_statistics", "set_optimizer_mode"]

#: training batches run through a model's BatchNorm layers to re-estimate their statistics at the averaged weights
BATCHNORM_REESTIMATE_BATCHES = 50


def set_optimizer_mode(opt: torch.optim.Optimizer, *, training: bool) -> bool:
    """Call ``opt.train()`` or ``opt.eval()`` where the optimizer has them (schedule-free keeps a gradient point y
    for training and an average x for evaluation); True if it switched, False for an ordinary optimizer."""
    switch = getattr(opt, "train" if training else "eval", None)
    if not callable(switch):
        return False
    switch()
    return True


def _batchnorm_layers(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [
        m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def recompute_batchnorm_statistics(run: Any, epoch: int, max_batches: int = BATCHNORM_REESTIMATE_BATCHES) -> int:
    """Re-estimate the running statistics of ``run.model``'s BatchNorm layers at its current weights.

    The statistics gathered during an epoch belong to the points gradients were taken at; after a schedule-free
    optimizer's ``eval()`` the weights are the average x, whose activations differ (the schedule-free README's
    caveat). The statistics are reset and averaged (``momentum=None``) over up to ``max_batches`` of the epoch's
    training batches, forward only, without gradients. Returns the number of batches used (0 without BatchNorm).
    """
    layers = _batchnorm_layers(run.model)
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    was_training = run.model.training
    used = 0
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
        run.model.train()
        with torch.no_grad():
            for batch in run.batches(epoch):
                if used == max_batches:
                    break
                run.loss(batch)
                used += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        run.model.train(was_training)
    return used


@dataclass(frozen=True)
class TrialPlan:
    """What a trial needs to know about its job; ``run_length`` is the one stored with it at submission."""

    task: str
    optimizer: str
    space: Space
    epochs: int
    seeds: tuple[int, ...]
    run_length: dict[str, int]
    #: where the job lives: a command trial reads cancellation at each report and stores its log there
    job_id: str = ""
    url: str = ""


@dataclass
class TrialOutcome:
    """How a trial ended (``state``), with its value, the reason it did not complete and what it measured."""

    state: Outcome
    value: float | None = None
    reason: str | None = None
    config: dict[str, Any] | None = None
    seed_values: list[float] = field(default_factory=list)
    epochs_run: int = 0


def evaluate(
    trial: optuna.Trial, plan: TrialPlan, *, device: str = "cpu", cancelled: Callable[[], bool] = lambda: False
) -> TrialOutcome:
    """Run one trial on ``device``: the configuration on every seed in lockstep, the mean metric reported per epoch.

    Seeds advance together so that pruning and cancellation act on the mean, one epoch at a time. A
    non-finite loss or metric ends the trial as ``diverged`` with the place it happened; it never raises.
    The trial records where it ran (:func:`~zone_explorer.engine.devices.environment`): ``device``, or the cpu
    for a task that takes no device.
    """
    external = _external_task(plan.task)
    if external is not None:  # the user's own function or command: see zone_explorer.engine.external_trials
        from zone_explorer.engine.external_trials import run_external

        return run_external(external, trial, plan, cancelled, device=device)
    try:
        values = plan.space.suggest(trial)
        config = plan.space.config(values, plan.run_length)
    except (TypeError, ValueError) as err:
        return TrialOutcome(Outcome.INVALID, reason=f"invalid configuration: {err}")
    trial.set_user_attr("config", config)
    try:
        task = get_task(plan.task)
        where = device if takes_device(task) else "cpu"
        env = environment(where, requested=device)
    except Exception as err:  # a task that cannot be built must fail the trial, not the worker
        return _not_set_up(plan, err, config)
    # outside the try: a database error while recording is the worker's to handle, not a task's failure
    trial.set_user_attr(ENVIRONMENT_ATTR, env)
    try:
        spec = get_optimizer(plan.optimizer)
        runs = [setup_on(task, seed, where) for seed in plan.seeds]
        opts = [spec.create(run.model.parameters(), config) for run in runs]
    except Exception as err:
        return _not_set_up(plan, err, config)

    metrics: list[float] = []
    for epoch in range(plan.epochs):
        metrics = []
        for seed, run, opt in zip(plan.seeds, runs, opts):
            set_optimizer_mode(opt, training=True)
            for step, batch in enumerate(run.batches(epoch)):
                opt.zero_grad(set_to_none=True)
                loss = run.loss(batch)
                if not math.isfinite(loss.item()):
                    return TrialOutcome(
                        Outcome.DIVERGED,
                        reason=f"diverged: loss {loss.item()} at epoch {epoch + 1}, step {step + 1}, seed {seed}",
                        config=config,
                        epochs_run=epoch,
                    )
                loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
                opt.step()
            # schedule-free: evaluate the average x, with BatchNorm statistics that belong to it
            if set_optimizer_mode(opt, training=False):
                recompute_batchnorm_statistics(run, epoch)
            metric = float(run.evaluate())
            if not math.isfinite(metric):
                return TrialOutcome(
                    Outcome.DIVERGED,
                    reason=f"diverged: metric {metric} after epoch {epoch + 1}, seed {seed}",
                    config=config,
                    epochs_run=epoch + 1,
                )
            metrics.append(metric)
        mean = statistics.fmean(metrics)
        trial.report(mean, epoch + 1)
        if cancelled():
            return TrialOutcome(
                Outcome.CANCELLED, reason=f"job cancelled during epoch {epoch + 1}", config=config, epochs_run=epoch + 1
            )
        if trial.should_prune():
            return TrialOutcome(
                Outcome.PRUNED,
                value=mean,
                reason=f"pruned after epoch {epoch + 1}",
                config=config,
                seed_values=metrics,
                epochs_run=epoch + 1,
            )
    return TrialOutcome(
        Outcome.COMPLETE, value=statistics.fmean(metrics), config=config, seed_values=metrics, epochs_run=plan.epochs
    )


def _not_set_up(plan: TrialPlan, err: Exception, config: dict[str, Any]) -> TrialOutcome:
    return TrialOutcome(
        Outcome.ERROR, reason=f"could not set up task {plan.task!r}: {type(err).__name__}: {err}", config=config
    )


def _external_task(name: str) -> ExternalTask | None:
    try:
        task = get_task(name)
    except Exception:
        return None  # evaluate says why the task cannot be built
    return task if isinstance(task, ExternalTask) else None
