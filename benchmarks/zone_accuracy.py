"""How well the zone analysis recovers the true zone, measured against the project's own dense grid.

Ground truth: a dense log-grid of (c_scaling, v_coefficient) in FSGDM's default search space (lr 0.01) on
``digits-cnn`` and ``noisy-quadratic``, every cell trained on several seeds by the engine's own trial code
(:func:`zone_explorer.engine.objective.evaluate`, the values ``--sampler grid`` would take), cached as JSON under
``benchmarks/data/``. The grid's band is the set of cells whose seed-mean metric, lightly smoothed over neighbouring
cells, is within delta of the grid's best. Then random, QMC and TPE studies of 10, 20 and 40 trials over several
sampler seeds look the grid up (one seed's value per trial, so the observation noise stays; ``--trial-seeds k``: the
mean of k, as a job with k seeds, with their spread as the trial's noise), the zone analysis runs
on their trials, and its zone is scored against the band: outline precision and recall, the K centre error and
whether the K interval covers the grid's K centre.

The cached grids: digits-cnn 24 x 24 cells x 8 seeds (10 epochs each; ~50 min of one core to rebuild),
noisy-quadratic 40 x 40 x 4 seeds (~10 min). A seed that diverges counts as the task's worst value in the band.
The delta is 0.01 for digits-cnn (accuracy) and, for noisy-quadratic, the analysis' ``default_delta`` over the
grid's cells (a tenth of the gap between the best and the median cell). The analysis gets the same delta and the
search-space bounds; it runs on the finished trials and takes the diverged ones as such.

    python benchmarks/zone_accuracy.py [--tasks digits-cnn noisy-quadratic] [--seeds 5] [--rebuild]
    python benchmarks/zone_accuracy.py --view trials      # the trials' view (top-q/delta map) instead of the model
    python benchmarks/zone_accuracy.py --noise-free       # trials observe the band's own (smoothed) value: no noise
    python benchmarks/zone_accuracy.py --samplers oracle  # a baseline: trials placed next to the true band
    python benchmarks/zone_accuracy.py --same-seed        # as a default job (seeds [0]) against a grid job alike
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import optuna

DATA = Path(__file__).resolve().parent / "data"
OPTIMIZER = "fsgdm"
#: cells per axis and training seeds per cell of each task's grid (digits-cnn: ~0.65 s per seed and cell)
GRID_SIZE = {"digits-cnn": 24, "noisy-quadratic": 40}
GRID_SEEDS = {"digits-cnn": tuple(range(8)), "noisy-quadratic": (0, 1, 2, 3)}


# ---------------------------------------------------------------------------------------------------------
# 1. the ground truth: a dense grid trained by the engine, cached
# ---------------------------------------------------------------------------------------------------------
def grid_path(task: str) -> Path:
    return DATA / f"zone_grid_{task}.json"


def _plan(task_name: str, seed: int) -> Any:
    from zone_explorer.core.profiles import get_profile
    from zone_explorer.core.spaces import Space
    from zone_explorer.engine.jobs import run_length
    from zone_explorer.engine.objective import TrialPlan
    from zone_explorer.tasks import get_task

    task = get_task(task_name)
    space = Space.from_dict({"optimizer": OPTIMIZER, **get_profile(OPTIMIZER).default_space})
    epochs = task.default_epochs
    return task, space, TrialPlan(task_name, OPTIMIZER, space, epochs, (seed,), run_length(task, OPTIMIZER, epochs))


def _train_cell(task_name: str, c: float, v: float, seeds: tuple[int, ...]) -> list[float | None]:
    """One grid cell trained on each of ``seeds`` (a process of its own: one torch thread); None: it diverged."""
    import torch

    from zone_explorer.core.statuses import Outcome
    from zone_explorer.engine.objective import evaluate

    torch.set_num_threads(1)
    out: list[float | None] = []
    for seed in seeds:
        plan = _plan(task_name, seed)[2]
        fixed = optuna.trial.FixedTrial({"c_scaling": c, "v_coefficient": v})
        result = evaluate(cast(optuna.Trial, fixed), plan)  # the objective only suggests, as FixedTrial answers
        out.append(result.value if result.state == Outcome.COMPLETE else None)
    return out


def build_grid(
    task_name: str, size: int, seeds: tuple[int, ...], *, jobs: int = 1, reuse: bool = True, progress: bool = True
) -> dict[str, Any]:
    """Train every cell of a ``size`` x ``size`` log-grid on every seed, one seed per trial (so a divergence is
    known per seed), in ``jobs`` processes. With ``reuse``, seeds that the cached grid (or a ``<cache>.partial``
    checkpoint) already holds for these axes are kept, so adding seeds trains only the new ones."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    task, space, _ = _plan(task_name, seeds[0])
    axes = space.grid(size)  # the values `--sampler grid` takes: an even log-grid, both ends included
    cs, vs = axes["c_scaling"], axes["v_coefficient"]
    DATA.mkdir(parents=True, exist_ok=True)
    partial = grid_path(task_name).with_suffix(".partial")
    known: dict[str, dict[int, float | None]] = {}  # "i,j" -> seed -> value
    for old_path in (grid_path(task_name), partial) if reuse else ():
        if not old_path.exists():
            continue
        old = json.loads(old_path.read_text())
        if not (np.allclose(old.get("c", []), cs) and np.allclose(old.get("v", []), vs)):
            continue
        for cell in old["cells"]:
            key = f"{cell['i']},{cell['j']}"
            known.setdefault(key, {}).update(zip(old["seeds"], cell["seed_values"]))
    todo = [
        (i, j, tuple(s for s in seeds if s not in known.get(f"{i},{j}", {})))
        for i in range(len(cs))
        for j in range(len(vs))
    ]
    todo = [t for t in todo if t[2]]
    if progress:
        print(f"# {task_name}: training {sum(len(t[2]) for t in todo)} cell-seeds in {jobs} process(es)")
    start = time.perf_counter()

    def checkpoint() -> None:
        cells = [{"i": int(k.split(",")[0]), "j": int(k.split(",")[1]), "seed_values": [d.get(s) for s in seeds]}
                 for k, d in known.items() if all(s in d for s in seeds)]  # fmt: skip
        partial.write_text(json.dumps({"c": cs, "v": vs, "seeds": list(seeds), "cells": cells}))

    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_train_cell, task_name, cs[i], vs[j], todo_seeds): (i, j, todo_seeds)
                   for i, j, todo_seeds in todo}  # fmt: skip
        for n, future in enumerate(as_completed(futures), 1):
            i, j, todo_seeds = futures[future]
            known.setdefault(f"{i},{j}", {}).update(zip(todo_seeds, future.result()))
            if n % 24 == 0 or n == len(futures):
                checkpoint()
                if progress:
                    rate = (time.perf_counter() - start) / n
                    print(f"# {task_name}: {n}/{len(futures)} cells, ~{(len(futures) - n) * rate / 60:.0f} min left")
    grid = {
        "task": task_name,
        "optimizer": OPTIMIZER,
        "metric": task.metric,
        "direction": task.direction,
        "epochs": task.default_epochs,
        "space": space.to_dict(),
        "seeds": list(seeds),
        "c": cs,
        "v": vs,
        "cells": [],
    }
    for i, c in enumerate(cs):
        for j, v in enumerate(vs):
            values = [known[f"{i},{j}"][s] for s in seeds]
            finite = [x for x in values if x is not None]
            grid["cells"].append(
                {
                    "i": i,
                    "j": j,
                    "c": c,
                    "v": v,
                    "seed_values": values,  # None: that seed diverged
                    "mean": statistics.fmean(finite) if finite else None,  # over the seeds that did not diverge
                    "diverged": len(finite) < len(values),
                }
            )
    return grid


def load_grid(task: str, *, rebuild: bool = False, jobs: int = 1) -> dict[str, Any]:
    """The cached grid; built when missing or with ``rebuild`` (every seed trained again), extended when
    ``GRID_SEEDS`` asks for seeds it lacks (only those are trained)."""
    path = grid_path(task)
    if path.exists() and not rebuild:
        grid: dict[str, Any] = json.loads(path.read_text())
        if set(GRID_SEEDS[task]) <= set(grid["seeds"]):
            return grid
    grid = build_grid(task, GRID_SIZE[task], GRID_SEEDS[task], jobs=jobs, reuse=not rebuild)
    path.write_text(_compact_json(grid))
    path.with_suffix(".partial").unlink(missing_ok=True)
    return grid


def _compact_json(grid: dict[str, Any]) -> str:
    """One cell per line, values rounded to 6 significant digits: small and diff-friendly."""

    def r(x: Any) -> Any:
        return None if x is None else float(f"{x:.6g}")

    head = {k: v for k, v in grid.items() if k != "cells"}
    lines = [json.dumps({**head, "c": [r(x) for x in grid["c"]], "v": [r(x) for x in grid["v"]]})[:-1] + ', "cells": [']
    cells = [
        json.dumps(
            {
                **cell,
                "c": r(cell["c"]),
                "v": r(cell["v"]),
                "mean": r(cell["mean"]),
                "seed_values": [r(x) for x in cell["seed_values"]],
            }
        )
        for cell in grid["cells"]
    ]
    return "\n".join(lines + [",\n".join(cells), "]}"]) + "\n"


# ---------------------------------------------------------------------------------------------------------
# 2. the band: the grid's zone
# ---------------------------------------------------------------------------------------------------------
#: delta (metric units) per task; None: the analysis' own default (``default_delta``) over the grid's cell means,
#: which is 0.01 for an accuracy and a tenth of the gap between the best and the median cell for a loss
DEFAULT_DELTA: dict[str, float | None] = {"digits-cnn": 0.01, "noisy-quadratic": None}
#: the light smoothing of the seed-mean metric: a binomial [1, 2, 1] / 4 kernel on each axis (sigma ~0.7 cell)
_KERNEL = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0


@dataclass
class Band:
    """The grid's band, with the per-cell arrays the scores use (indexed [c index, v index])."""

    c: np.ndarray  # natural units, per cell
    v: np.ndarray
    k: np.ndarray
    goodness: np.ndarray  # sign * metric, seed mean (diverged seeds at the worst value), lightly smoothed
    value: np.ndarray  # the same in metric units
    seed_values: np.ndarray  # [c, v, seed], diverged seeds NaN
    diverged: np.ndarray  # bool per cell: some seed diverged
    mask: np.ndarray  # bool: in the band
    best: float  # metric units (smoothed)
    delta: float
    worst: float  # the value a diverged seed stands for
    k_centre: float  # 10 ** centroid of log10 K over the band
    direction: str

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())


def band_of(grid: dict[str, Any], delta: float | None, *, smooth: bool = True) -> Band:
    """The cells whose (smoothed) seed-mean metric is within ``delta`` of the grid's best (smoothed) cell; delta
    None takes the analysis' default over the cell means."""
    from scipy.ndimage import convolve

    from zone_explorer.analysis import default_delta
    from zone_explorer.core.zone_constant import zone_constant

    nc, nv = len(grid["c"]), len(grid["v"])
    sign = 1.0 if grid["direction"] == "maximize" else -1.0
    seeds = np.full((nc, nv, len(grid["seeds"])), np.nan)
    for cell in grid["cells"]:
        seeds[cell["i"], cell["j"]] = [np.nan if x is None else x for x in cell["seed_values"]]
    finite = seeds[np.isfinite(seeds)]
    worst = float(finite.min() if sign > 0 else finite.max())  # a diverged seed is as bad as the worst run
    g = sign * np.where(np.isfinite(seeds), seeds, worst).mean(axis=2)
    if smooth:
        ones = np.ones_like(g)
        g = convolve(g, _KERNEL, mode="constant", cval=0.0) / convolve(ones, _KERNEL, mode="constant", cval=0.0)
    if delta is None:
        delta = default_delta(sign * g.ravel(), grid["direction"])
    best = float(g.max())
    mask = g >= best - delta
    c, v = np.meshgrid(np.asarray(grid["c"], float), np.asarray(grid["v"], float), indexing="ij")
    k = zone_constant(c, v)
    return Band(
        c=c,
        v=v,
        k=k,
        goodness=g,
        value=sign * g,
        seed_values=seeds,
        diverged=~np.isfinite(seeds).all(axis=2),
        mask=mask,
        best=sign * best,
        delta=delta,
        worst=worst,
        k_centre=float(10 ** np.log10(k[mask]).mean()),
        direction=grid["direction"],
    )


def with_seeds(grid: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """The grid as if only the training seeds at positions ``keep`` had been run."""
    cells = [{**cell, "seed_values": [cell["seed_values"][k] for k in keep]} for cell in grid["cells"]]
    return {**grid, "seeds": [grid["seeds"][k] for k in keep], "cells": cells}


def reproducibility(grid: dict[str, Any], delta: float, *, smooth: bool = True) -> list[tuple[float, float]]:
    """How well the grid's band can be known from single-seed trials at all: for each training seed, the band of
    that seed's complete grid (every cell one trial, smoothed alike) scored against the band of the other seeds,
    as (precision, recall). No sampler or model with single-seed trials can be expected to beat this by much: where
    it is below the targets, the band is not resolved by the noise at that delta."""
    out = []
    seeds = range(len(grid["seeds"]))
    for s in seeds:
        one = band_of(with_seeds(grid, [s]), delta, smooth=smooth).mask
        rest = band_of(with_seeds(grid, [k for k in seeds if k != s]), delta, smooth=smooth).mask
        hits = int((one & rest).sum())
        out.append((hits / max(int(one.sum()), 1), hits / max(int(rest.sum()), 1)))
    return out


def reproducibility_line(grid: dict[str, Any], delta: float, *, smooth: bool = True) -> str:
    rep = reproducibility(grid, delta, smooth=smooth)
    prec, rec = [p for p, _ in rep], [r for _, r in rep]
    return (
        f"# the band's reproducibility at delta {delta:.3g}: one seed's complete grid ({len(grid['c']) * len(grid['v'])}"
        f" single-seed trials) against the other seeds' band: precision {statistics.median(prec):.2f} "
        f"({min(prec):.2f}), recall {statistics.median(rec):.2f} ({min(rec):.2f}) (median over the {len(rep)} "
        "seeds, worst in brackets): what single-seed trials can show of this band at best"
    )


# ---------------------------------------------------------------------------------------------------------
# 3. samplers on the grid
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Observation:
    c: float
    v: float
    value: float | None  # one seed's metric; None: that seed diverged
    seed_values: list[float]  # what the trial stored (one seed, so one value)


def observe(band: Band, i: int, j: int, rng: np.random.Generator, seeds: int = 1) -> Observation:
    """A trial at grid cell (i, j) that trains ``seeds`` randomly chosen, distinct training seeds of it: its value
    is their mean, as the engine's (value None: a seed diverged, which fails the trial)."""
    values = band.seed_values[i, j, rng.choice(band.seed_values.shape[2], seeds, replace=False)]
    c, v = float(band.c[i, j]), float(band.v[i, j])
    if not np.isfinite(values).all():
        return Observation(c, v, None, [])
    return Observation(c, v, float(values.mean()), [float(x) for x in values])


def run_sampler(
    grid: dict[str, Any], band: Band, sampler: str, n: int, seed: int, trial_seeds: int = 1
) -> list[Observation]:
    """An Optuna study with the project's sampler settings over the default space; each trial is snapped to the
    nearest grid cell (in log space) and observes ``trial_seeds`` randomly chosen training seeds of it (stored in
    the trial's ``seed_values``, as a worker does). A diverged seed fails the trial, as the engine does."""
    from zone_explorer.analysis import SEED_VALUES_ATTR
    from zone_explorer.core.spaces import Space
    from zone_explorer.engine.studies import make_sampler

    space = Space.from_dict(grid["space"])
    study = optuna.create_study(
        direction=grid["direction"], sampler=make_sampler(sampler, space, seed=seed, n_trials=n)
    )
    dists = space.distributions()
    log_c, log_v = np.log(np.asarray(grid["c"])), np.log(np.asarray(grid["v"]))
    rng = np.random.default_rng(seed + 7919 * n)
    out: list[Observation] = []
    for _ in range(n):
        trial = study.ask(dists)
        i = int(np.abs(log_c - math.log(trial.params["c_scaling"])).argmin())
        j = int(np.abs(log_v - math.log(trial.params["v_coefficient"])).argmin())
        obs = observe(band, i, j, rng, trial_seeds)
        trial.set_user_attr(SEED_VALUES_ATTR, obs.seed_values)  # as the engine's workers store them
        if obs.value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, obs.value)
        out.append(obs)
    return out


#: the oracle's space-filling start (the zone sampler's default), before it places trials by the truth
ORACLE_START = 8


def run_oracle(band: Band, n: int, seed: int, trial_seeds: int = 1) -> list[Observation]:
    """An oracle-placed baseline, not a sampler: ``ORACLE_START`` scrambled Sobol points, then each remaining trial
    at a random cell within one cell of the grid's band. It shows what the analysis makes of trials placed where the
    answer is (one such placement; not a proof that no placement does better). Each trial observes
    ``trial_seeds`` random training seeds, as in :func:`run_sampler`."""
    from scipy.ndimage import binary_dilation
    from scipy.stats import qmc

    rng = np.random.default_rng(seed + 7919 * n)
    size = np.array(band.mask.shape)
    start = qmc.Sobol(2, scramble=True, seed=seed).random(ORACLE_START)[:n]  # a power of 2, as Sobol wants
    cells = [tuple(np.minimum((u * size).astype(int), size - 1)) for u in start]
    near = np.argwhere(binary_dilation(band.mask, iterations=1))
    cells += [tuple(near[k]) for k in rng.integers(len(near), size=n - len(cells))]
    return [observe(band, int(i), int(j), rng, trial_seeds) for i, j in cells]


def trial_table(grid: dict[str, Any], obs: list[Observation]) -> Any:
    """The observations as the analysis' :class:`TrialTable`: finished trials with their values, diverged trials
    by their parameters, lr as a constant, and the spread of a trial's seeds as its noise (none with one seed)."""
    from zone_explorer.analysis import TrialTable, seed_noise_var

    done = [o for o in obs if o.value is not None]
    failed = [o for o in obs if o.value is None]
    noise = np.array([seed_noise_var(o.seed_values) for o in done])
    return TrialTable(
        params={"c_scaling": np.array([o.c for o in done]), "v_coefficient": np.array([o.v for o in done])},
        values=np.array([o.value for o in done]),
        origin=np.full(len(done), "explored"),
        ids=np.arange(len(done)),
        log_params=frozenset({"c_scaling", "v_coefficient"}),
        direction=grid["direction"],
        diverged={"c_scaling": np.array([o.c for o in failed]), "v_coefficient": np.array([o.v for o in failed])},
        constants={k: d["value"] for k, d in grid["space"]["params"].items() if d["type"] == "fixed"},
        noise_var=noise if np.isfinite(noise).any() else None,
    )


def analyse(
    grid: dict[str, Any],
    obs: list[Observation],
    delta: float,
    view: str,
    map_size: int,
    *,
    axes: tuple[str, str] = ("K", "c_scaling"),
) -> dict[str, Any]:
    """The project's zone analysis of the observations, as JSON: the zone on the model (``model_zone``, what
    ``ZoneAnalysis.to_dict()`` carries as ``zone``/``k``), or the trials' view (``zone_map`` in delta mode), on the
    map ``axes`` (x, y)."""
    from zone_explorer.analysis import Tolerance, model_zone, zone_map

    table = trial_table(grid, obs)
    if view == "trials":
        return {"zone_map": zone_map(table, *axes, Tolerance.within(delta), map_size).to_dict()}
    bounds = {k: (d["low"], d["high"]) for k, d in grid["space"]["params"].items() if d["type"] == "float"}
    return model_zone(table, *axes, delta=delta, bounds=bounds, grid_size=map_size).to_dict()


# ---------------------------------------------------------------------------------------------------------
# 4. scores
# ---------------------------------------------------------------------------------------------------------
def _axis_values(band: Band, name: str) -> np.ndarray:
    return {"K": band.k, "c_scaling": band.c, "v_coefficient": band.v}[name]


def _interp(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``z[row=y][col=x]`` at (px, py) (all in log10 units), NaN corners left out;
    points outside the grid get 0 (not in the zone)."""
    out = np.zeros(px.shape)
    inside = (px >= xs[0]) & (px <= xs[-1]) & (py >= ys[0]) & (py <= ys[-1])
    ix = np.clip(np.searchsorted(xs, px, side="right") - 1, 0, len(xs) - 2)
    iy = np.clip(np.searchsorted(ys, py, side="right") - 1, 0, len(ys) - 2)
    tx = np.clip((px - xs[ix]) / (xs[ix + 1] - xs[ix]), 0, 1)
    ty = np.clip((py - ys[iy]) / (ys[iy + 1] - ys[iy]), 0, 1)
    num = np.zeros(px.shape)
    den = np.zeros(px.shape)
    for dy, wy in ((0, 1 - ty), (1, ty)):
        for dx, wx in ((0, 1 - tx), (1, tx)):
            zz = z[iy + dy, ix + dx]
            w = np.where(np.isfinite(zz), wy * wx, 0.0)
            num += w * np.nan_to_num(zz)
            den += w
    ok = inside & (den > 0)
    out[ok] = num[ok] / den[ok]
    return out


def membership(band: Band, analysis: dict[str, Any]) -> np.ndarray:
    """P(in zone) at every grid cell, interpolated in log space from the analysis' membership map."""
    zone = analysis.get("zone")
    if zone is not None:  # the model's zone (issue 14)
        m = zone["membership"]
        xs, ys, z = m["x"], m["y"], m["probability"]
        x_name, y_name, x_log, y_log = zone["x"], zone["y"], zone["x_log"], zone["y_log"]
    else:  # before issue 14: the trials view's zone mask
        zm = analysis["zone_map"]
        xs, ys, z = zm["x_grid"], zm["y_grid"], zm["zone_mask"]
        x_name, y_name, x_log, y_log = zm["x"], zm["y"], zm["x_log"], zm["y_log"]
    z = np.array([[np.nan if p is None else float(p) for p in row] for row in z])

    def t(a: Any, log: bool) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        return np.log10(a) if log else a

    px, py = t(_axis_values(band, x_name), x_log), t(_axis_values(band, y_name), y_log)
    return _interp(t(xs, x_log), t(ys, y_log), z, px, py)


def k_of(analysis: dict[str, Any]) -> tuple[float | None, list[float] | None, str | None]:
    """(estimate, interval, status) of the analysis' K."""
    k = analysis.get("k")
    if k is not None:
        return k.get("estimate"), k.get("interval"), k.get("status")
    zc = analysis.get("zone_constant")
    if zc is None:
        return None, None, None
    return zc.get("estimate"), zc.get("interval"), None


def score(band: Band, analysis: dict[str, Any]) -> dict[str, Any]:
    p = membership(band, analysis)
    zone = p >= 0.5
    hits = int((zone & band.mask).sum())
    est, interval, status = k_of(analysis)
    return {
        "precision": hits / int(zone.sum()) if zone.any() else math.nan,
        "recall": hits / int(band.mask.sum()),
        "zone_fraction": float(zone.mean()),
        "k": est,
        "k_error": math.nan if est is None else est / band.k_centre - 1.0,
        "covers": bool(interval is not None and interval[0] <= band.k_centre <= interval[1]),
        "k_status": status,
        "warnings": [w["code"] for w in analysis.get("warnings", [])],
    }


SAMPLERS = ("zone", "random", "qmc", "tpe")
#: "oracle" (run_oracle) is run only when asked for: a baseline that places trials by the truth, not a sampler
CHOICES = (*SAMPLERS, "oracle")
TRIALS = (10, 20, 40)
#: issue 14's targets (digits-cnn, 20 trials, every sampler seed)
TARGET_TASK, TARGET_TRIALS, TARGET_RECALL, TARGET_PRECISION, TARGET_K = "digits-cnn", 20, 0.7, 0.85, 0.2


def _fmt(x: Any, spec: str = ".2f") -> str:
    return "  -  " if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def run_task(task: str, grid: dict[str, Any], delta: float | None, args: argparse.Namespace) -> list[dict[str, Any]]:
    band = band_of(grid, delta, smooth=not args.no_smooth)
    delta = band.delta
    # --noise-free: every seed of a cell observes the value the band is defined on, which separates what the
    # observation noise costs from what the model and the sampler cost
    observed = band
    if args.noise_free:
        noiseless = np.repeat(band.value[:, :, None], band.seed_values.shape[2], axis=2)
        observed = Band(**{**band.__dict__, "seed_values": np.where(np.isfinite(band.seed_values), noiseless, np.nan)})
    print(
        f"\n## {task}: {len(grid['c'])} x {len(grid['v'])} grid, {len(grid['seeds'])} seeds per cell, "
        f"{int(band.diverged.sum())} cells with a diverged seed; best {grid['metric']} {band.best:.4g} "
        f"({'smoothed ' if not args.no_smooth else ''}seed mean), delta {delta:g}: band of {int(band.mask.sum())} cells "
        f"({band.fraction:.1%}), K centre {band.k_centre:.4g}"
    )
    if len(grid["seeds"]) > 1:
        print(reproducibility_line(grid, delta, smooth=not args.no_smooth))
    print(f"{'sampler':8s} {'n':>3s} {'seed':>4s} {'prec':>5s} {'recall':>6s} {'zone%':>6s} "
          f"{'K':>9s} {'K err':>7s} {'covers':>6s}  {'K status':19s}  {'s':>5s}  warnings")  # fmt: skip
    if args.same_seed:
        one = [band_of(with_seeds(grid, [t]), delta, smooth=not args.no_smooth) for t in range(len(grid["seeds"]))]
        k_centres = ", ".join(f"{b.k_centre:.3g}" for b in one)
        print(
            f"# --same-seed: sampler seed s runs training seed s mod {len(one)} and is scored against that seed's own "
            f"grid (bands of {', '.join(str(int(b.mask.sum())) for b in one)} cells; K centres {k_centres})"
        )
    rows = []
    for sampler in args.samplers:
        for n in args.trials:
            for seed in range(args.seeds):
                truth = one[seed % len(one)] if args.same_seed else band
                seen = truth if args.same_seed else observed
                obs = (
                    run_oracle(seen, n, seed, args.trial_seeds)
                    if sampler == "oracle"
                    else run_sampler(grid, seen, sampler, n, seed, args.trial_seeds)
                )
                start = time.perf_counter()
                analysis = analyse(grid, obs, delta, args.view, args.map_size)
                row = {"task": task, "sampler": sampler, "n": n, "seed": seed, **score(truth, analysis)}
                row["seconds"] = time.perf_counter() - start
                rows.append(row)
                print(
                    f"{sampler:8s} {n:3d} {seed:4d} {_fmt(row['precision']):>5s} {_fmt(row['recall']):>6s} "
                    f"{_fmt(100 * row['zone_fraction'], '.1f'):>6s} {_fmt(row['k'], '.4g'):>9s} "
                    f"{_fmt(row['k_error'], '+.0%'):>7s} {'yes' if row['covers'] else 'no':>6s}  "
                    f"{row['k_status'] or '-':19s}  {row['seconds']:5.2f}  {','.join(row['warnings'])}"
                )
    return rows


def summarise(rows: list[dict[str, Any]], n: int) -> None:
    print(
        f"\n# summary at {n} trials (median over sampler seeds; worst seed in brackets; an empty zone has precision 0)"
    )
    for task in dict.fromkeys(r["task"] for r in rows):
        for sampler in dict.fromkeys(r["sampler"] for r in rows):
            sel = [r for r in rows if r["task"] == task and r["sampler"] == sampler and r["n"] == n]
            if not sel:
                continue
            prec = [r["precision"] if math.isfinite(r["precision"]) else 0.0 for r in sel]
            rec = [r["recall"] for r in sel]
            kerr = [abs(r["k_error"]) if math.isfinite(r["k_error"]) else math.inf for r in sel]
            k_text = f"|K err| {statistics.median(kerr):.0%} ({max(kerr):.0%})" if math.isfinite(min(kerr)) else "no K"
            print(
                f"{task:16s} {sampler:7s} precision {statistics.median(prec):.2f} ({min(prec):.2f})  "
                f"recall {statistics.median(rec):.2f} ({min(rec):.2f})  {k_text}  "
                f"K interval covers {sum(r['covers'] for r in sel)}/{len(sel)}  "
                f"high_noise {sum('high_noise' in r['warnings'] for r in sel)}/{len(sel)}"
            )


def targets(rows: list[dict[str, Any]]) -> bool:
    print(
        f"\n# targets ({TARGET_TASK}, {TARGET_TRIALS} trials, every seed): recall >= {TARGET_RECALL} at precision >= "
        f"{TARGET_PRECISION}, K centre within +-{TARGET_K:.0%} of the grid's"
    )
    ok_all = True
    for sampler in dict.fromkeys(r["sampler"] for r in rows if r["sampler"] in SAMPLERS):
        sel = [r for r in rows if r["task"] == TARGET_TASK and r["sampler"] == sampler and r["n"] == TARGET_TRIALS]
        if not sel:
            continue
        zone_ok = sum(r["recall"] >= TARGET_RECALL and r["precision"] >= TARGET_PRECISION for r in sel)
        k_ok = sum(math.isfinite(r["k_error"]) and abs(r["k_error"]) <= TARGET_K for r in sel)
        for what, good in (("zone", zone_ok), ("K centre", k_ok)):
            verdict = "PASS" if good == len(sel) else "FAIL"
            ok_all &= good == len(sel)
            print(f"{verdict} {sampler:7s} {what:9s}: {good}/{len(sel)} seeds")
    return ok_all


def delta_overrides(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        task, _, value = item.partition("=")
        if task not in GRID_SIZE or not value:
            raise SystemExit(f"--delta: expected TASK=VALUE with TASK in {', '.join(GRID_SIZE)}, got {item!r}")
        out[task] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(GRID_SIZE), choices=list(GRID_SIZE))
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=list(SAMPLERS),
        choices=list(CHOICES),
        help="oracle: a baseline that places trials by the truth (see run_oracle); not scored against the targets",
    )
    parser.add_argument("--trials", nargs="+", type=int, default=list(TRIALS), help="trials per study")
    parser.add_argument("--seeds", type=int, default=5, help="sampler seeds per (sampler, trials)")
    parser.add_argument("--delta", nargs="*", default=[], metavar="TASK=VALUE", help="zone delta per task")
    parser.add_argument(
        "--view", choices=("model", "trials"), default="model", help="score the model's zone or the trials' view"
    )
    parser.add_argument("--map-size", type=int, default=28, help="nodes per axis of the analysis' map")
    parser.add_argument("--no-smooth", action="store_true", help="band from the raw seed means, no smoothing")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument(
        "--noise-free", action="store_true", help="trials observe the band's own smoothed value (no seed noise)"
    )
    truth.add_argument(
        "--same-seed",
        action="store_true",
        help="as a default job (seeds [0]) against a grid job of the same seed: sampler seed s trains only training "
        "seed s mod the grid's seeds, and its truth is that seed's own grid",
    )
    parser.add_argument(
        "--trial-seeds", type=int, default=1, help="training seeds per trial (its value is their mean, as a job's)"
    )
    parser.add_argument("--rebuild", action="store_true", help="recompute the cached ground-truth grids")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes that train a grid")
    parser.add_argument("--grid-only", action="store_true", help="build or load the grids, then stop")
    parser.add_argument("--json", type=Path, help="write every score row to this file")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deltas: dict[str, float | None] = {**DEFAULT_DELTA, **delta_overrides(args.delta)}
    rows: list[dict[str, Any]] = []
    for task in args.tasks:
        grid = load_grid(task, rebuild=args.rebuild, jobs=args.jobs)
        if args.grid_only:
            print(f"# {task}: {len(grid['c'])} x {len(grid['v'])} grid, {len(grid['seeds'])} seeds")
            continue
        rows += run_task(task, grid, deltas[task], args)
    if rows:
        summarise(rows, TARGET_TRIALS)
        targets(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
