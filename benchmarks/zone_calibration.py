"""Calibration of the model zone: coverage and bias of K and of the volume, and how its membership probabilities
bear out, on landscapes with a known zone.

    python3 benchmarks/zone_calibration.py [--reps 40] [--tpe-reps 20] [--landscapes bump,lopsided,...] [--grid-size 28]

For each synthetic landscape (zone_explorer/analysis/landscapes.py), sampler (random, TPE) and number of trials
(10, 20, 60: one study per repetition, cut after n trials), prints how often K's 95% interval covers the true
band centre, the mean error and RMSE of K (decades), the same for the zone's volume, how often the map nodes of
the confident core (P >= 0.9), of the exterior (P <= 0.1) and of the middle (0.3 <= P <= 0.7, which a calibrated
map puts in the zone about half the time) lie in the true zone, the outline's (P >= 0.5) recall and precision
against it, and how often each status and warning comes up. The unit tests
(tests/zone_explorer/analysis/test_calibration.py) assert the targets on fewer repetitions; this prints the figures
the README quotes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zone_explorer.analysis.landscapes import LANDSCAPES, calibration_rows, membership_scores

NS = (10, 20, 60)


def stat(rows: list[dict], key: str, fn) -> str:
    vals = [r[key] for r in rows if key in r]
    return f"{fn(np.array(vals, dtype=float)):.2f}" if vals else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40, help="repetitions with random sampling")
    ap.add_argument("--tpe-reps", type=int, default=20, help="repetitions with TPE")
    ap.add_argument("--landscapes", default=",".join(LANDSCAPES), help="comma-separated names")
    ap.add_argument("--grid-size", type=int, default=28, help="map nodes per axis (the unit tests use 8)")
    args = ap.parse_args()
    console = Console(width=200)
    table = Table(title="Model zone calibration (95% intervals; errors in decades of K, volume in share of the box)")
    for col in (
        "landscape",
        "sampler",
        "n",
        "K cover",
        "K bias",
        "K rmse",
        "V cover",
        "V bias",
        "core in",
        "exterior in",
        "P 0.3-0.7 in",
        "outline R / P",
        "statuses",
        "warnings",
    ):
        table.add_column(col)
    start = time.perf_counter()
    for name in args.landscapes.split(","):
        ls = LANDSCAPES[name]
        for sampler, reps in (("random", args.reps), ("tpe", args.tpe_reps)):
            rows: dict[int, list[dict]] = {n: [] for n in NS}
            for rep in track(range(reps), description=f"{name} / {sampler}", console=console, transient=True):
                for n, row in calibration_rows(ls, sampler, rep, NS, grid_size=args.grid_size).items():
                    rows[n].append(row)
            for n in NS:
                got = rows[n]
                statuses = Counter(r["status"] for r in got)
                codes = Counter(c for r in got for c in r["codes"])
                m = membership_scores(got)
                table.add_row(
                    name,
                    sampler,
                    str(n),
                    stat(got, "k_cover", np.mean),
                    stat(got, "k_err", np.mean),
                    stat(got, "k_err", lambda e: float(np.sqrt(np.mean(e**2)))),
                    stat(got, "v_cover", np.mean),
                    stat(got, "v_err", np.mean),
                    f"{m['core']:.2f}",
                    f"{m['exterior']:.3f}",
                    f"{m['middle']:.2f}",
                    f"{m['recall']:.2f} / {m['precision']:.2f}",
                    ", ".join(f"{k} {v}" for k, v in statuses.most_common()),
                    ", ".join(f"{k} {v}" for k, v in codes.most_common()),
                )
    console.print(table)
    console.print(
        f"{time.perf_counter() - start:.0f} s; K cover should be >= 0.90 where K is defined, bias <= 0.05; core in "
        ">= 0.90 and exterior in <= 0.05 (20 and 60 trials)"
    )


if __name__ == "__main__":
    main()
