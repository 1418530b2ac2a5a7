"""Optuna storages, samplers and pruners, built explicitly so a study means the same thing in every Optuna 5.x."""

from __future__ import annotations

import datetime
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

__all__ = [
    "fail_and_requeue_trial",
    "fail_waiting_trials",
    "make_pruner",
    "make_sampler",
    "set_running_trial_user_attrs",
    "storage_for",
    "trial_result",
]


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
    with write_scope(url) as conn:
        # A write first: it takes the row lock (PostgreSQL) or the write lock (SQLite, where a read first could
        # leave the transaction on a stale snapshot) before checking that the trial still runs.
        running = optuna.trial.TrialState.RUNNING
        if not conn.execute(
            sa.update(trials).where(trials.c.trial_id == trial_id, trials.c.state == running).values(state=running)
        ).rowcount:
            return False
        _write_user_attrs(conn, trial_id, attrs)
    return True


def _write_user_attrs(conn: sa.Connection, trial_id: int, attrs: dict[str, Any]) -> None:
    """Set user attributes of a trial (Optuna's rows: one per key, its value as JSON), replacing those it had."""
    if not attrs:
        return
    user_attrs = optuna_tables.trial_user_attributes
    conn.execute(sa.delete(user_attrs).where(user_attrs.c.trial_id == trial_id, user_attrs.c.key.in_(attrs)))
    conn.execute(
        sa.insert(user_attrs), [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
    )


def trial_result(conn: sa.Connection, trial_id: int) -> tuple[str, str | None] | None:
    """A finished trial's ``outcome`` user attribute and its ``fail_reason``, if it has an outcome; else None."""
    user_attrs = optuna_tables.trial_user_attributes
    trials = optuna_tables.trials
    state = conn.scalar(sa.select(trials.c.state).where(trials.c.trial_id == trial_id))
    if state is None or not state.is_finished():
        return None
    found = dict(
        conn.execute(
            sa.select(user_attrs.c.key, user_attrs.c.value_json).where(
                user_attrs.c.trial_id == trial_id, user_attrs.c.key.in_(("outcome", "fail_reason"))
            )
        ).all()
    )
    if "outcome" not in found:
        return None
    reason = found.get("fail_reason")
    return json.loads(found["outcome"]), None if reason is None else json.loads(reason)


def fail_waiting_trials(conn: sa.Connection, study_name: str, outcome: str, reason: str) -> int:
    """Fail the study's waiting trials (queued retries) with ``outcome`` and ``reason``, in the caller's transaction;
    returns how many. A job that ends early (cancelled) keeps no trial that no worker will ever run."""
    trials = optuna_tables.trials
    studies = optuna_tables.studies
    waiting = conn.scalars(
        sa.select(trials.c.trial_id)
        .join(studies, studies.c.study_id == trials.c.study_id)
        .where(studies.c.study_name == study_name, trials.c.state == optuna.trial.TrialState.WAITING)
        .with_for_update(of=trials)
    ).all()
    failed = 0
    for trial_id in waiting:
        if conn.execute(
            sa.update(trials)
            .where(trials.c.trial_id == trial_id, trials.c.state == optuna.trial.TrialState.WAITING)
            .values(state=optuna.trial.TrialState.FAIL, datetime_complete=datetime.datetime.now())
        ).rowcount:
            _write_user_attrs(conn, trial_id, {"fail_reason": reason, "outcome": outcome})
            failed += 1
    return failed


def fail_and_requeue_trial(conn: sa.Connection, trial_id: int, outcome: str, reason: str, *, requeue: bool) -> bool:
    """Fail a running trial with ``outcome`` and ``reason`` and, with ``requeue``, queue its configuration again,
    in the caller's transaction; False (nothing written) if the trial is no longer running.

    The retry is the WAITING trial Optuna's ``study.enqueue_trial(params, user_attrs={"retry_of": number})``
    would write (its schema: the configuration as the ``fixed_params`` system attribute), so the next trial any
    worker asks for in this study runs it. The configuration is the parameters the trial drew, over those it was
    given (a retry lost before it drew them); a trial that has neither had nothing to lose and is not queued.
    """
    trials = optuna_tables.trials
    params_t = optuna_tables.trial_params
    system_attrs = optuna_tables.trial_system_attributes
    running = optuna.trial.TrialState.RUNNING
    # A write first, under the rule that a finished trial is never changed (see set_running_trial_user_attrs)
    failed = conn.execute(
        sa.update(trials)
        .where(trials.c.trial_id == trial_id, trials.c.state == running)
        .values(state=optuna.trial.TrialState.FAIL, datetime_complete=datetime.datetime.now())  # as Optuna's
    )
    if not failed.rowcount:
        return False
    _write_user_attrs(conn, trial_id, {"fail_reason": reason, "outcome": outcome})
    if not requeue:
        return True
    study_id, number = conn.execute(
        sa.select(trials.c.study_id, trials.c.number).where(trials.c.trial_id == trial_id)
    ).one()
    given = conn.scalar(
        sa.select(system_attrs.c.value_json).where(
            system_attrs.c.trial_id == trial_id, system_attrs.c.key == "fixed_params"
        )
    )
    config: dict[str, Any] = json.loads(given) if given else {}
    for name, value, distribution in conn.execute(
        sa.select(params_t.c.param_name, params_t.c.param_value, params_t.c.distribution_json).where(
            params_t.c.trial_id == trial_id
        )
    ):
        config[name] = optuna.distributions.json_to_distribution(distribution).to_external_repr(value)
    if not config:
        return True
    # Optuna numbers a study's trials under a lock on the study's row, counting those created before
    studies = optuna_tables.studies
    conn.execute(sa.select(studies.c.study_id).where(studies.c.study_id == study_id).with_for_update())
    retry_id = conn.execute(
        sa.insert(trials).values(study_id=study_id, state=optuna.trial.TrialState.WAITING).returning(trials.c.trial_id)
    ).scalar_one()
    conn.execute(
        sa.update(trials)
        .where(trials.c.trial_id == retry_id)
        .values(
            number=sa.select(sa.func.count())
            .select_from(trials)
            .where(trials.c.study_id == study_id, trials.c.trial_id < retry_id)
            .scalar_subquery()
        )
    )
    conn.execute(sa.insert(system_attrs).values(trial_id=retry_id, key="fixed_params", value_json=json.dumps(config)))
    _write_user_attrs(conn, retry_id, {"retry_of": number})
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
