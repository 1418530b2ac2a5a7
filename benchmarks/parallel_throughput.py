"""Parallel throughput: trials per minute on digits-cnn with 1 worker process vs 2, in one run.

Workers are real `zone-explorer worker` processes on one SQLite database. Throughput counts from the first
trial's start to the last one's end (from the claims table), so process start-up is not counted.

    python benchmarks/parallel_throughput.py --trials 16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from zone_explorer.engine.jobs import JobSpec, create_job  # noqa: E402
from zone_explorer.store.db import init_db, session_scope  # noqa: E402
from zone_explorer.store.models import TrialClaim  # noqa: E402


def trials_per_minute(n_workers: int, trials: int, tmp: str) -> float:
    url = init_db(f"sqlite:///{tmp}/w{n_workers}.db")
    job, _ = create_job(
        url,
        JobSpec.parse(
            {"task": "digits-cnn", "optimizer": "fsgdm", "n_trials": trials, "sampler": "random", "sampler_seed": 0}
        ),
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "zone_explorer.cli", "worker", "--db", url, "--job", job.id, "--exit-when-idle"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n_workers)
    ]
    for p in procs:
        p.wait()
    with session_scope(url) as s:
        first, last, done = s.execute(
            sa.select(sa.func.min(TrialClaim.started_at), sa.func.max(TrialClaim.finished_at), sa.func.count()).where(
                TrialClaim.job_id == job.id, TrialClaim.status == "done"
            )
        ).one()
    return done / ((last - first).total_seconds() / 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = trials_per_minute(1, args.trials, tmp)
        two = trials_per_minute(2, args.trials, tmp)
    print(f"# digits-cnn, FSGDM, {args.trials} trials per run, {os.cpu_count()} cores, 1 torch thread per worker")
    print(f"1 worker : {one:6.1f} trials/min")
    print(f"2 workers: {two:6.1f} trials/min")
    print(f"speed-up : {two / one:6.2f}x   (target >= 1.7x)")


if __name__ == "__main__":
    main()
