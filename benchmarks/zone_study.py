"""Zone analysis of a stored 10,000-trial study, end to end: read Optuna's tables, build the table, analyze.

The study is a real Optuna study in a SQLite (or PostgreSQL) database, attached to a Zone Explorer job, with
FSGDM configurations whose metric peaks along K = v(1 + 1/c) = 31. Times `job_zone_summary` (what the CLI's
`zones` command and the API call), with and without importance.

    python benchmarks/zone_study.py [--trials 10000] [--db sqlite:////tmp/zone-study.db]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import optuna
from optuna.distributions import FloatDistribution

from zone_explorer.core.zone_constant import zone_constant
from zone_explorer.engine.job_zones import job_zone_summary
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.studies import storage_for
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import Job


def build_study(url: str, n: int, seed: int = 0) -> str:
    """A completed FSGDM job on digits-cnn with ``n`` synthetic trials; returns its id."""
    job, _ = create_job(url, JobSpec.parse({"task": "digits-cnn", "optimizer": "fsgdm", "n_trials": n}))
    study = optuna.load_study(study_name=job.study_name, storage=storage_for(url))
    rng = np.random.default_rng(seed)
    dists = {
        "c_scaling": FloatDistribution(0.005, 2.0, log=True),
        "v_coefficient": FloatDistribution(0.05, 50.0, log=True),
    }
    trials = []
    for _ in range(n):
        c, v = (
            math.exp(rng.uniform(math.log(0.005), math.log(2.0))),
            math.exp(rng.uniform(math.log(0.05), math.log(50.0))),
        )
        acc = 0.98 - 0.2 * math.log10(zone_constant(c, v) / 31) ** 2 + rng.normal(0, 0.005)
        config = {"lr": 0.01, "weight_decay": 5e-4, "c_scaling": c, "v_coefficient": v, "n_stages": 10, "sigma": 450}
        trials.append(
            optuna.trial.create_trial(
                params={"c_scaling": c, "v_coefficient": v},
                distributions=dists,
                value=acc,
                user_attrs={"config": config, "outcome": "complete"},
            )
        )
    study.add_trials(trials)
    with session_scope(url) as s:
        s.get(Job, job.id).status = "completed"
    return job.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = init_db(args.db or f"sqlite:///{tmp}/zone-study.db")
        start = time.perf_counter()
        job_id = build_study(url, args.trials)
        print(f"# built a {args.trials}-trial study in {time.perf_counter() - start:.1f} s ({url.split(':')[0]})")
        for label, importance in (("zone summary without importance", False), ("zone summary with importance", True)):
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                summary = job_zone_summary(url, job_id, with_importance=importance)
                times.append(time.perf_counter() - start)
            k = summary["analysis"]["k"]
            target = 1.0 if args.trials <= 10_000 else 5.0
            print(
                f"{label:34s}: median {statistics.median(times) * 1e3:7.1f} ms (min {min(times) * 1e3:.1f})"
                f"   K = {k['estimate']:.1f}, interval {k['interval'][0]:.1f}..{k['interval'][1]:.1f}"
                f"   = {statistics.median(times) / target:.2f}x the {target:g} s target"
            )


if __name__ == "__main__":
    main()
