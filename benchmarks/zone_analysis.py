"""Timing of the zone analysis on synthetic FSGDM-like tables (a benchmark, not a test).

    python3 benchmarks/zone_analysis.py [--repeats 7] [--n 10000] [--big 100000]

The table: c_scaling, v_coefficient and lr log-uniform, accuracy = 0.9 - 0.3 log10(K/31)^2 - 0.02 (log10 lr + 1.5)^2
+ N(0, 0.01) with K = v (1 + 1/c). Prints the median (and min/max) of ``--repeats`` runs of:

* ``analyze`` on n rows without importance (the trials' zone map over (c, v) + best configs + marginals + the model
  zone: Gaussian process, membership, volume and FSGDM's K), its parts, and ``analyze`` with PED-ANOVA importance;
* ``zone_map`` alone on n and on ``--big`` rows (to see how it scales), over (c, v) and over (K, c).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zone_explorer.analysis import (
    Tolerance,
    TrialTable,
    analyze,
    best_configs,
    importance,
    model_zone,
    top_q_marginals,
    zone_map,
)
from zone_explorer.core.zone_constant import zone_constant


def fsgdm_like(n: int, seed: int = 0) -> TrialTable:
    rng = np.random.default_rng(seed)
    c = 10 ** rng.uniform(-3, 0, n)
    v = 10 ** rng.uniform(-1, 2, n)
    lr = 10 ** rng.uniform(-3, 0, n)
    k = zone_constant(c, v)
    acc = 0.9 - 0.3 * np.log10(k / 31) ** 2 - 0.02 * (np.log10(lr) + 1.5) ** 2 + 0.01 * rng.normal(size=n)
    return TrialTable(
        params={"c_scaling": c, "v_coefficient": v, "lr": lr},
        values=acc,
        origin=np.where(rng.random(n) < 0.05, "contributed", "explored"),
        ids=np.arange(n),
        log_params=frozenset({"c_scaling", "v_coefficient", "lr"}),
        direction="maximize",
    )


def timed(fn, repeats: int) -> tuple[float, float, float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times), out


def report(label: str, fn, repeats: int) -> tuple[float, object]:
    med, lo, hi, out = timed(fn, repeats)
    print(f"  {label:<58s} median {med * 1e3:8.1f} ms   (min {lo * 1e3:7.1f}, max {hi * 1e3:7.1f})")
    return med, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    args = ap.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" lines in the output
    tol = Tolerance("top_q", 0.1)
    print(f"zone analysis benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"median of {args.repeats} runs")  # fmt: skip

    table = fsgdm_like(args.n)
    print(f"\n{args.n:,} rows")
    # warm-up (imports, first calls)
    analyze(table, "c_scaling", "v_coefficient", tol)
    importance(table)
    total, res = report("analyze(c, v), no importance", lambda: analyze(table, "c_scaling", "v_coefficient", tol),
                        args.repeats)  # fmt: skip
    report("  zone_map(c, v)", lambda: zone_map(table, "c_scaling", "v_coefficient", tol), args.repeats)
    report("  best_configs(k=10)", lambda: best_configs(table, 10), args.repeats)
    report("  top_q_marginals(q=0.1, bins=30)", lambda: top_q_marginals(table, 0.1, 30), args.repeats)
    report("  model_zone(c, v)", lambda: model_zone(table, "c_scaling", "v_coefficient"), args.repeats)
    imp_t, _ = report("importance(ped-anova, max_trials=2000)", lambda: importance(table), args.repeats)
    with_imp, res_imp = report(
        "analyze(c, v) with ped-anova importance",
        lambda: analyze(table, "c_scaling", "v_coefficient", tol, with_importance=True),
        args.repeats,
    )
    report("zone_map(K, c)", lambda: zone_map(table, "K", "c_scaling", tol), args.repeats)
    payload = json.dumps(res_imp.to_dict(), allow_nan=False)
    k = res.model_zone.k
    print(f"  JSON payload {len(payload) / 1e3:.0f} kB; K = {k['estimate']:.2f} "
          f"[{k['interval'][0]:.2f}, {k['interval'][1]:.2f}] ({k['status']}); "
          f"importance {res_imp.importance}")  # fmt: skip

    big = fsgdm_like(args.big, seed=1)
    print(f"\n{args.big:,} rows")
    zm_big, _ = report("zone_map(c, v)", lambda: zone_map(big, "c_scaling", "v_coefficient", tol), args.repeats)
    report("zone_map(K, c)", lambda: zone_map(big, "K", "c_scaling", tol), args.repeats)
    zm_small, _ = timed(lambda: zone_map(table, "c_scaling", "v_coefficient", tol), args.repeats)[:2]
    print(f"  zone_map {args.big // args.n}x rows -> {zm_big / zm_small:.1f}x time")
    report("analyze(c, v), no importance", lambda: analyze(big, "c_scaling", "v_coefficient", tol), args.repeats)

    verdict = "OK" if total < 1.0 and with_imp < 1.0 else "over the 1 s target"
    print(f"\nanalyze on {args.n:,} rows: {total * 1e3:.0f} ms without importance, {with_imp * 1e3:.0f} ms with "
          f"PED-ANOVA importance ({imp_t * 1e3:.0f} ms alone): {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
