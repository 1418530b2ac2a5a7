"""How fast each sampler maps the zone: trials until the zone analysis recovers the band (issue 15).

Samplers: ``zone`` (:class:`zone_explorer.search.ZoneSampler`), TPE, Optuna's GP sampler, random and QMC, each
built by the engine's own :func:`zone_explorer.engine.studies.make_sampler`, and a grid of equal resolution.
Landscapes: ``digits-cnn`` and ``noisy-quadratic`` (the cached dense grids of ``benchmarks/zone_accuracy.py``: a
trial is snapped to the nearest grid cell and observes one of its training seeds; the truth is that script's band)
and the synthetic ``bump``, ``narrow``, ``lopsided`` and ``c_only`` of :mod:`zone_explorer.analysis.landscapes`
(one location per seed, observation noise 0.003, diverged trials fail; the truth is the exact zone on a 40 x 40
membership grid: metric >= max - delta, delta 0.01).

Per (landscape, sampler, seed) one study runs one trial at a time (``--workers q``: q in flight, as q parallel
workers) up to ``--max-trials``; after every trial from 5 to 20, then after 25, 30, 35 and 40, the zone analysis
(``model_zone`` over c_scaling x v_coefficient in the search box) is scored as zone_accuracy scores it: outline
recall and precision of P(in zone) >= 0.5 on the membership grid, and the K centre error. For digits-cnn and
noisy-quadratic it first prints how well one seed's complete grid reproduces the other seeds' band
(``zone_accuracy.reproducibility``): where that is below the target, no sampler of single-seed trials can be
expected to reach it. Reported: the trials needed to reach recall >= 0.8 at precision >= 0.85 (median over seeds,
"> N" when never) and the median |K centre error| at 10, 20 and 40 trials. The grid's cost is the number of cells
of the coarsest k x k grid (k = 3..8) whose analysis reaches the target; its K errors are those of the largest grid
with at most 10, 20 and 40 cells (3 x 3, 4 x 4, 6 x 6).

Targets (per landscape): the zone sampler needs <= 1/3 of the grid's trials and <= 0.6 of TPE's; ZoneSampler's
ask (``study.ask()`` and the suggestions, median over trials 190-210 of a 210-trial bump study) takes <= 100 ms.

The zone analyses dominate the run time: digits-cnn and bump at 5 seeds took ~13 min on 2 busy cores with 7
checkpoints; with 20 a study that never reaches the target costs about three times that.

    python benchmarks/zone_search.py [--seeds 5] [--landscapes bump c_only] [--samplers zone tpe grid]
    python benchmarks/zone_search.py --landscapes digits-cnn --delta digits-cnn=0.05   # a delta the band resolves at
    python benchmarks/zone_search.py --workers 4 --samplers zone tpe   # four parallel workers
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import optuna
from zone_accuracy import (
    DEFAULT_DELTA,
    Band,
    Observation,
    analyse,
    band_of,
    delta_overrides,
    load_grid,
    reproducibility_line,
    score,
)

REAL = ("digits-cnn", "noisy-quadratic")
SYNTHETIC = ("bump", "narrow", "lopsided", "c_only")
LANDSCAPES = REAL + SYNTHETIC
SAMPLERS = ("zone", "tpe", "gp", "random", "qmc", "grid")
#: every trial from 5 to 20 (where the targets are decided: 1/3 of a 6 x 6 grid is 12), then every 5
CHECKPOINTS = (*range(5, 21), 25, 30, 35, 40)
K_AT = (10, 20, 40)
GRID_K = tuple(range(3, 9))
TARGET_RECALL, TARGET_PRECISION = 0.8, 0.85
TARGET_VS_GRID, TARGET_VS_TPE, TARGET_ASK_S = 1 / 3, 0.6, 0.100
AXES = ("c_scaling", "v_coefficient")
#: the synthetic landscapes: membership grid size, observation noise, zone delta
SYN_GRID, SYN_NOISE, SYN_DELTA = 40, 0.003, 0.01
MAP_SIZE = 28


# ---------------------------------------------------------------------------------------------------------
# landscapes: a dense grid in zone_accuracy's format (the truth), and how a trial observes it
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Problem:
    name: str
    grid: dict[str, Any]  # zone_accuracy's grid format (space, direction, axes, cells)
    band: Band  # the truth on the membership grid
    #: (c, v, rng) -> (c, v, value) as observed (value None: the trial diverged)
    observe: Callable[[float, float, np.random.Generator], tuple[float, float, float | None]]


def real_problem(task: str, delta: float | None) -> Problem:
    """A cached dense grid: a trial snaps to the nearest cell (log space) and observes one random seed of it."""
    grid = load_grid(task)
    band = band_of(grid, delta)
    log_c, log_v = np.log(np.asarray(grid["c"])), np.log(np.asarray(grid["v"]))

    def observe(c: float, v: float, rng: np.random.Generator) -> tuple[float, float, float | None]:
        i, j = int(np.abs(log_c - math.log(c)).argmin()), int(np.abs(log_v - math.log(v)).argmin())
        value = band.seed_values[i, j, rng.integers(band.seed_values.shape[2])]
        return float(band.c[i, j]), float(band.v[i, j]), float(value) if np.isfinite(value) else None

    return Problem(task, grid, band, observe)


def default_space() -> dict[str, Any]:
    """FSGDM's default search space (the box of the cached grids and of the synthetic landscapes)."""
    from zone_explorer.analysis.landscapes import BOUNDS
    from zone_explorer.core.profiles import get_profile
    from zone_explorer.core.spaces import Space

    space = Space.from_dict({"optimizer": "fsgdm", **get_profile("fsgdm").default_space}).to_dict()
    assert all((space["params"][k]["low"], space["params"][k]["high"]) == b for k, b in BOUNDS.items())
    return space


def synthetic_problem(name: str, seed: int, space: dict[str, Any]) -> Problem:
    """A landscape of :mod:`zone_explorer.analysis.landscapes` at the location of repetition ``seed``; its truth is
    the exact, noise-free zone on a ``SYN_GRID`` x ``SYN_GRID`` log-grid of the box (diverged cells at the worst)."""
    from zone_explorer.analysis import landscapes
    from zone_explorer.core.spaces import Space

    ls = landscapes.LANDSCAPES[name]
    p = landscapes.location(ls, seed)
    axes = Space.from_dict(space).grid(SYN_GRID)
    cs, vs = axes["c_scaling"], axes["v_coefficient"]
    c, v = np.meshgrid(np.asarray(cs), np.asarray(vs), indexing="ij")
    f = np.minimum(ls.metric(c, v, p), ls.cap)
    cells = [
        {"i": i, "j": j, "c": cs[i], "v": vs[j], "seed_values": [float(f[i, j]) if np.isfinite(f[i, j]) else None]}
        for i in range(len(cs))
        for j in range(len(vs))
    ]
    grid = {"task": name, "metric": "accuracy", "direction": "maximize", "space": space, "seeds": [0]}
    grid.update(c=cs, v=vs, cells=cells)
    band = band_of(grid, SYN_DELTA, smooth=False)

    def observe(cc: float, vv: float, rng: np.random.Generator) -> tuple[float, float, float | None]:
        y = float(ls.metric(np.array(cc), np.array(vv), p)) + float(rng.normal(0.0, SYN_NOISE))
        return cc, vv, min(y, ls.cap) if math.isfinite(y) else None

    return Problem(name, grid, band, observe)


# ---------------------------------------------------------------------------------------------------------
# studies and scores
# ---------------------------------------------------------------------------------------------------------
def evaluate(problem: Problem, obs: list[Observation]) -> dict[str, Any]:
    """zone_accuracy's score of the zone analysis of ``obs``; no zone (too few finished trials) scores nothing."""
    empty = {"precision": math.nan, "recall": 0.0, "k_error": math.nan}
    if sum(o.value is not None for o in obs) < 2:
        return empty
    try:
        analysis = analyse(problem.grid, obs, problem.band.delta, "model", MAP_SIZE, axes=AXES)
    except ValueError:  # the analysis refuses a table it cannot model
        return empty
    if analysis.get("zone") is None:
        return empty
    return score(problem.band, analysis)


def reached(s: dict[str, Any]) -> bool:
    return s["recall"] >= TARGET_RECALL and math.isfinite(s["precision"]) and s["precision"] >= TARGET_PRECISION


def run_study(
    problem: Problem, sampler: str, seed: int, max_trials: int, workers: int = 1
) -> dict[int, dict[str, Any]]:
    """One study of ``max_trials`` trials, scored at each checkpoint. ``workers`` trials are in flight at a time, as
    with that many parallel workers: each result is told in the order asked, and the freed worker asks at once
    (so every ask but the first few sees ``workers - 1`` running trials); 1 asks and tells one at a time."""
    from zone_explorer.core.spaces import Space
    from zone_explorer.engine.studies import make_sampler

    space = Space.from_dict(problem.grid["space"])
    study = optuna.create_study(
        direction=problem.grid["direction"], sampler=make_sampler(sampler, space, seed=seed, n_trials=max_trials)
    )
    dists = space.distributions()
    rng = np.random.default_rng([seed, 7919])
    obs: list[Observation] = []
    scores: dict[int, dict[str, Any]] = {}
    running: deque[optuna.trial.Trial] = deque()
    for n in range(1, max_trials + 1):
        while len(running) < workers and n + len(running) <= max_trials:
            running.append(study.ask(dists))
        trial = running.popleft()
        c, v, value = problem.observe(trial.params["c_scaling"], trial.params["v_coefficient"], rng)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        obs.append(Observation(c, v, value, [] if value is None else [value]))
        # once the target is reached, only the K errors' checkpoints are still needed
        if (n in CHECKPOINTS and not math.isfinite(cost(scores))) or n in K_AT or n == max_trials:
            scores[n] = evaluate(problem, obs)
    return scores


def run_grid(problem: Problem, seed: int) -> dict[int, dict[str, Any]]:
    """The k x k grids (the values ``--sampler grid`` takes), every cell observed once; scored per cell count."""
    from zone_explorer.core.spaces import Space

    space = Space.from_dict(problem.grid["space"])
    rng = np.random.default_rng([seed, 7919])
    scores: dict[int, dict[str, Any]] = {}
    for k in GRID_K:
        if math.isfinite(cost(scores)) and k * k > max(K_AT):
            break  # reached, and the K errors' grids are done
        axes = space.grid(k)
        obs = []
        for c in axes["c_scaling"]:
            for v in axes["v_coefficient"]:
                cc, vv, value = problem.observe(c, v, rng)
                obs.append(Observation(cc, vv, value, [] if value is None else [value]))
        scores[k * k] = evaluate(problem, obs)
    return scores


def cost(scores: dict[int, dict[str, Any]]) -> float:
    """The fewest trials (checkpoints, or grid cells) that reach the target; inf if none does."""
    return next((float(n) for n in sorted(scores) if reached(scores[n])), math.inf)


def k_error_at(scores: dict[int, dict[str, Any]], n: int) -> float:
    """|K centre error| at the largest scored trial count <= n; inf without a K."""
    ns = [m for m in scores if m <= n]
    if not ns:
        return math.inf
    e = scores[max(ns)]["k_error"]
    return abs(e) if math.isfinite(e) else math.inf


# ---------------------------------------------------------------------------------------------------------
# ask time
# ---------------------------------------------------------------------------------------------------------
def ask_time(n_total: int = 210, timed_from: int = 190) -> list[float]:
    """The seconds of ZoneSampler's ``study.ask()`` plus the two suggestions over trials ``timed_from``..
    ``n_total`` (1-based) of a bump study sampled by the zone sampler throughout."""
    from zone_explorer.analysis import landscapes
    from zone_explorer.core.spaces import Space
    from zone_explorer.engine.studies import make_sampler

    ls = landscapes.LANDSCAPES["bump"]
    p = landscapes.location(ls, 0)
    sampler = make_sampler("zone", Space.from_dict(default_space()), seed=0, n_trials=n_total)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rng = np.random.default_rng(0)
    times = []
    for n in range(1, n_total + 1):
        start = time.perf_counter()
        trial = study.ask()
        c = trial.suggest_float("c_scaling", *landscapes.BOUNDS["c_scaling"], log=True)
        v = trial.suggest_float("v_coefficient", *landscapes.BOUNDS["v_coefficient"], log=True)
        if n >= timed_from:
            times.append(time.perf_counter() - start)
        y = float(ls.metric(np.array(c), np.array(v), p)) + float(rng.normal(0.0, SYN_NOISE))
        if math.isfinite(y):
            study.tell(trial, min(y, ls.cap))
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return times


# ---------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------
def _n(x: float, bound: int) -> str:
    return f"> {bound}" if math.isinf(x) else f"{x:g}"


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def _kerr(xs: list[float]) -> str:
    finite = [x for x in xs if math.isfinite(x)]
    if not finite:
        return "-"
    text = f"{_median(finite):.0%}"
    return text if len(finite) == len(xs) else f"{text} ({len(finite)}/{len(xs)})"


def bound_of(sampler: str, max_trials: int) -> int:
    return max(GRID_K) ** 2 if sampler == "grid" else max_trials


def report(results: dict[tuple[str, str], list[dict[int, dict[str, Any]]]], max_trials: int) -> None:
    print(
        f"\n# trials to recall >= {TARGET_RECALL} at precision >= {TARGET_PRECISION} (median over seeds; per seed in"
        " brackets) and median |K centre error| (seeds with a K, when not all)"
    )
    print(
        f"{'landscape':16s} {'sampler':7s} {'trials':>7s}  {'per seed':26s} "
        + " ".join(f"{'K@' + str(n):>9s}" for n in K_AT)
    )
    for (land, sampler), runs in results.items():
        bound = bound_of(sampler, max_trials)
        costs = [cost(s) for s in runs]
        per_seed = ",".join("-" if math.isinf(x) else f"{x:g}" for x in costs)
        kerrs = [_kerr([k_error_at(s, n) for s in runs]) for n in K_AT]
        print(
            f"{land:16s} {sampler:7s} {_n(_median(costs), bound):>7s}  [{per_seed}]{'':{max(0, 24 - len(per_seed))}s} "
            + " ".join(f"{k:>9s}" for k in kerrs)
        )


def targets(results: dict[tuple[str, str], list[dict[int, dict[str, Any]]]], max_trials: int) -> None:
    print(
        f"\n# targets: zone's median trials <= {TARGET_VS_GRID:.2g} x the grid's and <= {TARGET_VS_TPE} x TPE's "
        "('> N': never reached, compared at its lower bound N + 1)"
    )
    lands = dict.fromkeys(land for land, _ in results)
    for land in lands:
        if (land, "zone") not in results:
            continue
        zone = _median([cost(s) for s in results[land, "zone"]])
        for other, factor in (("grid", TARGET_VS_GRID), ("tpe", TARGET_VS_TPE)):
            if (land, other) not in results:
                continue
            bound = bound_of(other, max_trials)
            theirs = _median([cost(s) for s in results[land, other]])
            limit = factor * (bound + 1 if math.isinf(theirs) else theirs)
            ok = math.isfinite(zone) and zone <= limit + 1e-9
            print(
                f"{'PASS' if ok else 'FAIL'} {land:16s} zone {_n(zone, max_trials):>5s} vs {other} "
                f"{_n(theirs, bound):>5s}: needs <= {limit:.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="sampler seeds (and synthetic locations) per pair")
    parser.add_argument("--landscapes", nargs="+", default=list(LANDSCAPES), choices=list(LANDSCAPES))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    parser.add_argument("--max-trials", type=int, default=max(CHECKPOINTS), help="trials per study")
    parser.add_argument(
        "--workers", type=int, default=1, help="trials in flight at a time (parallel workers; the grid ignores it)"
    )
    parser.add_argument("--no-ask-time", action="store_true", help="skip the zone sampler's ask-time measurement")
    parser.add_argument(
        "--delta", nargs="*", default=[], metavar="TASK=VALUE", help="zone delta of a real landscape (digits-cnn=0.05)"
    )
    parser.add_argument("--json", type=Path, help="write every score to this file")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")  # Optuna's experimental-feature and the model's convergence warnings
    start = time.perf_counter()
    results: dict[tuple[str, str], list[dict[int, dict[str, Any]]]] = {}
    deltas = {**DEFAULT_DELTA, **delta_overrides(args.delta)}
    reals = {task: real_problem(task, deltas[task]) for task in args.landscapes if task in REAL}
    box = default_space()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    print(
        f"# zone_search: {args.seeds} seeds, up to {args.max_trials} trials, {args.workers} worker(s), "
        f"checkpoints {CHECKPOINTS}"
    )
    for problem in reals.values():
        print(f"# {problem.name}: " + reproducibility_line(problem.grid, problem.band.delta)[2:])
    for land in args.landscapes:
        for seed in range(args.seeds):
            problem = reals[land] if land in reals else synthetic_problem(land, seed, box)
            for sampler in args.samplers:
                t0 = time.perf_counter()
                scores = (
                    run_grid(problem, seed)
                    if sampler == "grid"
                    else run_study(problem, sampler, seed, args.max_trials, args.workers)
                )
                results.setdefault((land, sampler), []).append(scores)
                print(
                    f"{land:16s} {sampler:7s} seed {seed}: band {problem.band.fraction:5.1%}, trials to target "
                    f"{_n(cost(scores), bound_of(sampler, args.max_trials)):>5s}  ({time.perf_counter() - t0:.1f} s)",
                    flush=True,
                )
    report(results, args.max_trials)
    if "zone" in args.samplers:
        targets(results, args.max_trials)
    if not args.no_ask_time:
        times = ask_time()
        t = statistics.median(times)
        print(
            f"{'PASS' if t <= TARGET_ASK_S else 'FAIL'} ask time: median {1000 * t:.0f} ms (max {1000 * max(times):.0f}"
            f" ms) over trials 190-210 of a 210-trial bump study, target <= {1000 * TARGET_ASK_S:.0f} ms"
        )
    print(f"# {time.perf_counter() - start:.0f} s")
    if args.json:
        rows = [
            {"landscape": land, "sampler": sampler, "seed": seed, "n": n, **s}
            for (land, sampler), runs in results.items()
            for seed, scores in enumerate(runs)
            for n, s in scores.items()
        ]
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
