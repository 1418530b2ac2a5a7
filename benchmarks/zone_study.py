"""Zone analysis of a stored 10,000-trial study, end to end: read Optuna's tables, build the table, analyze.

The study is a real Optuna study in a SQLite (or PostgreSQL) database, attached to a Zone Explorer job, with
FSGDM configurations whose metric peaks along K = v(1 + 1/c) = 31. Times `job_zone_summary` (what the CLI's
`zones` command and the API call), with and without importance.

    python benchmarks/zone_study.py [--trials 10000] [--db sqlite:////tmp/zone-study.db]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import optuna
from api_common import build_study  # also puts the project root on sys.path

from zone_explorer.engine.job_zones import job_zone_summary
from zone_explorer.store.db import init_db


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
        job_id = build_study(url, args.trials).id
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
