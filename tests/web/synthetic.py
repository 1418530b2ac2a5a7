"""Large synthetic studies, written straight into Optuna's tables (a 100,000-trial study in seconds).

``optuna.Study.add_trials`` copies every trial and writes it row by row (minutes for 100,000 trials); the zone
pages only need the COMPLETE trials, their value, params and ``config``/``seed_values`` user attributes, so this
writes exactly those rows in bulk, in the Optuna RDB schema that ``zone_explorer.store.trials`` reads.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from zone_explorer.engine.jobs import JobSpec, create_job, run_length
from zone_explorer.store.db import get_engine, normalize_url, session_scope
from zone_explorer.store.models import Job
from zone_explorer.tasks import get_task

__all__ = ["SHAPES", "build_study"]

Metric = Callable[[dict[str, np.ndarray], np.random.Generator], np.ndarray]


def _fsgdm_metric(p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Accuracy that peaks along K = v (1 + 1/c) = 31, with a little noise."""
    k = p["v_coefficient"] * (1 + 1 / p["c_scaling"])
    return 0.98 - 0.2 * np.log10(k / 31.0) ** 2 + rng.normal(0, 0.005, k.size)


def _sgd_metric(p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Accuracy that peaks where the effective step lr / (1 - momentum) is near 0.3."""
    eff = p["lr"] / (1 - p["momentum"])
    return 0.975 - 0.12 * np.log10(eff / 0.3) ** 2 + rng.normal(0, 0.006, eff.size)


def _lr_metric(best_lr: float) -> Metric:
    """Accuracy that peaks at ``best_lr`` (the "secret sauce" trio: signum, adam-tied, adam)."""

    def metric(p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        return 0.97 - 0.1 * np.log10(p["lr"] / best_lr) ** 2 + rng.normal(0, 0.005, p["lr"].size)

    return metric


#: optimizer -> (searched axes {name: (low, high, log)}, fixed config values, metric)
SHAPES: dict[str, tuple[dict[str, tuple[float, float, bool]], dict[str, float], Metric]] = {
    "fsgdm": (
        {"c_scaling": (0.005, 2.0, True), "v_coefficient": (0.05, 50.0, True)},
        {"lr": 0.01, "weight_decay": 5e-4},
        _fsgdm_metric,
    ),
    "sgd": (
        {"lr": (1e-3, 1.0, True), "momentum": (0.0, 0.99, False)},
        {"weight_decay": 5e-4, "dampening": 0.0, "nesterov": False},
        _sgd_metric,
    ),
    "signum": ({"lr": (1e-5, 1e-1, True), "momentum": (0.5, 0.999, False)}, {"weight_decay": 0.0}, _lr_metric(3e-3)),
    "adam-tied": (
        {"lr": (1e-5, 1e-1, True), "beta": (0.8, 0.999, False)},
        {"eps": 1e-8, "weight_decay": 0.0},
        _lr_metric(1e-3),
    ),
    "adam": (
        {"lr": (1e-5, 1e-1, True), "beta1": (0.8, 0.999, False)},
        {"beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
        _lr_metric(1e-3),
    ),
}


def _sample(rng: np.random.Generator, low: float, high: float, log: bool, n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(low), math.log(high), n)) if log else rng.uniform(low, high, n)


def build_study(
    url: str, n: int, *, optimizer: str = "fsgdm", task: str = "digits-cnn", seed: int = 0, chunk: int = 20_000
) -> str:
    """A completed job of ``optimizer`` on ``task`` with ``n`` synthetic COMPLETE trials; returns the job id."""
    axes, fixed, metric = SHAPES[optimizer]
    job, _ = create_job(
        url,
        JobSpec.parse(
            {"task": task, "optimizer": optimizer, "n_trials": max(n, 1), "sampler": "random", "sampler_seed": seed}
        ),
    )
    rng = np.random.default_rng(seed)
    params = {name: _sample(rng, lo, hi, log, n) for name, (lo, hi, log) in axes.items()}
    values = metric(params, rng)
    derived = run_length(get_task(task), optimizer, job.epochs)
    dists = {
        name: json.dumps({"name": "FloatDistribution", "attributes": {"log": log, "step": None, "low": lo, "high": hi}})
        for name, (lo, hi, log) in axes.items()
    }
    engine = get_engine(normalize_url(url))
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"

    def insert(conn, table: str, columns: str, rows: list[tuple]) -> None:
        marks = ", ".join([mark] * len(rows[0]))
        conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    start = dt.datetime(2025, 1, 1)
    with engine.begin() as conn:
        study_id = conn.scalar(sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": job.study_name})
        base = conn.scalar(sa.text("SELECT coalesce(max(trial_id), 0) FROM trials"))
        for lo in range(0, n, chunk):
            idx = range(lo, min(n, lo + chunk))
            insert(
                conn,
                "trials",
                "trial_id, number, study_id, state, datetime_start, datetime_complete",
                [
                    (
                        base + i + 1,
                        i,
                        study_id,
                        "COMPLETE",
                        start + dt.timedelta(seconds=i),
                        start + dt.timedelta(seconds=i + 1),
                    )
                    for i in idx
                ],
            )
            insert(
                conn,
                "trial_values",
                "trial_id, objective, value, value_type",
                [(base + i + 1, 0, float(values[i]), "FINITE") for i in idx],
            )
            insert(
                conn,
                "trial_params",
                "trial_id, param_name, param_value, distribution_json",
                [(base + i + 1, name, float(col[i]), dists[name]) for i in idx for name, col in params.items()],
            )
            rows = []
            for i in idx:
                config = {**fixed, **{name: float(col[i]) for name, col in params.items()}, **derived}
                for key, val in (("config", config), ("outcome", "complete"), ("seed_values", [float(values[i])])):
                    rows.append((base + i + 1, key, json.dumps(val)))
            insert(conn, "trial_user_attributes", "trial_id, key, value_json", rows)
    with session_scope(url) as s:
        s.get(Job, job.id).status = "completed"
    return job.id
