"""Optuna storages, samplers and pruners, built explicitly so a study means the same thing in every Optuna 5.x."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import optuna
import sqlalchemy as sa

from zone_explorer.core.limits import PRUNERS, SAMPLERS
from zone_explorer.core.spaces import Space
from zone_explorer.store import optuna_tables
from zone_explorer.store.db import engine_kwargs, normalize_url, write_scope

__all__ = ["make_pruner", "make_sampler", "set_running_trial_user_attrs", "storage_for"]


@lru_cache(maxsize=8)
def storage_for(url: str) -> optuna.storages.RDBStorage:
    """One RDBStorage per URL and process (it holds a connection pool)."""
    url = normalize_url(url)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))


def set_running_trial_user_attrs(url: str, trial_id: int, attrs: dict[str, Any]) -> bool:
    """Set several user attributes of a running trial in one transaction; False if the trial is no longer running.

    Optuna's ``Trial.set_user_attr`` takes a transaction per attribute; this writes the same rows (its schema,
    JSON values) at once, under the same rule that a finished trial is never changed.
    """
    trials = optuna_tables.trials
    user_attrs = optuna_tables.trial_user_attributes
    with write_scope(url) as conn:
        # A write first: it takes the row lock (PostgreSQL) or the write lock (SQLite, where a read first could
        # leave the transaction on a stale snapshot) before checking that the trial still runs.
        running = optuna.trial.TrialState.RUNNING
        if not conn.execute(
            sa.update(trials).where(trials.c.trial_id == trial_id, trials.c.state == running).values(state=running)
        ).rowcount:
            return False
        if attrs:
            conn.execute(sa.delete(user_attrs).where(user_attrs.c.trial_id == trial_id, user_attrs.c.key.in_(attrs)))
            conn.execute(
                sa.insert(user_attrs),
                [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()],
            )
    return True


def make_sampler(name: str, space: Space, *, seed: int | None, n_trials: int) -> optuna.samplers.BaseSampler:
    """The sampler for a job. Every option that changed between Optuna versions is set here on purpose."""
    with warnings.catch_warnings():
        # QMC and GP are marked experimental in Optuna; a worker's log is not the place to repeat it per trial.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _make_sampler(name, space, seed=seed, n_trials=n_trials)


def _make_sampler(name: str, space: Space, *, seed: int | None, n_trials: int) -> optuna.samplers.BaseSampler:
    if name == "zone":
        from zone_explorer.search import ZoneSampler

        return ZoneSampler(seed=seed)
    if name == "tpe":
        # Optuna 5 changed TPE's defaults; these are the settings our zone maps were judged with.
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=10,
            n_ei_candidates=24,
            multivariate=True,
            group=False,
            constant_liar=True,
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=1)
    if name == "qmc":
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return _JobGridSampler(grid_for(space, n_trials), seed=seed)
    raise ValueError(f"sampler: unknown sampler {name!r} (known: {', '.join(SAMPLERS)})")


class _JobGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its ``study.stop()`` when the grid runs out.

    That call only works inside ``study.optimize``; our workers ask and tell, and the job already stops at
    ``n_trials``, which is never more than the grid holds (see :func:`grid_for`).
    """

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


def grid_for(space: Space, n_trials: int) -> dict[str, list[Any]]:
    """An even grid with at least ``n_trials`` points (the job evaluates ``n_trials`` of them): a classic zone map.
    See :meth:`Space.job_grid`; a job's validation refused the spaces it cannot build a grid for."""
    return space.job_grid(n_trials)


def make_pruner(name: str, *, epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 4), interval_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner: unknown pruner {name!r} (known: {', '.join(PRUNERS)})")
