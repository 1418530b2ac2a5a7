"""AutoSGM's claim, checked: does the automatic (iteration-dependent) numerator beat the fixed lr0 across zeros gamma?

The AutoSGM README says its automatic learning-rate numerator (``num_lrc > 0``) beats the fixed-lr, Adam-like
numerator (``num_lrc = 0``) across zero locations gamma. For each task and each gamma this explores both as zones
with the engine (one job each, in a database the compare page can read), with matched budgets: the same space
(``lr_init`` log-uniform and ``beta_i``; ``gamma_i`` and ``num_lrc`` fixed), trials, epochs, seeds, sampler and
sampler seed, so both arms run the very same (lr_init, beta_i) points and differ in the numerator alone.

The score of an arm is its zone's level: the mean, over its best ``--top`` fraction of configurations, of the
per-configuration mean over seeds. The difference (auto - fixed, signed so that > 0 means auto is better) gets a
95% paired bootstrap interval over seeds (both arms share seeds: a resample picks seeds and recomputes both zones).
"auto" or "fixed" wins where the interval excludes 0; otherwise "tie".

    python benchmarks/autosgm_claim.py --quick            # 2 tasks x 2 gammas x 5 trials x 3 seeds, 1 epoch (~15 min, 2 busy cores)
    python benchmarks/autosgm_claim.py                    # 2 tasks x 4 gammas, 24 trials x 3 seeds, task epochs (~83 min)
    zone-explorer serve --db sqlite:////tmp/autosgm-claim.db --workers 0   # then open the compare URLs printed
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from zone_explorer.engine.jobs import JobSpec, create_job, get_job
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import get_task

#: the numerators compared: fixed lr0 (Adam-like) and AutoSGM's automatic one
ARMS = ("fixed", "auto")


@dataclass(frozen=True)
class Arm:
    task: str
    gamma: float
    arm: str
    job: str


def space(gamma: float, num_lrc: int) -> dict[str, Any]:
    """The zone both arms explore; they differ in ``num_lrc`` alone."""
    return {
        "params": {
            "lr_init": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "beta_i": {"type": "float", "low": 0.5, "high": 0.99},
            "gamma_i": {"type": "fixed", "value": gamma},
            "num_lrc": {"type": "fixed", "value": num_lrc},
        }
    }


def seed_matrix(url: str, job_id: str) -> np.ndarray:
    """Per configuration (rows, in trial order) the metric of each seed (columns); a trial that did not complete
    (diverged, failed) is a row of NaN, so both arms keep one row per shared configuration."""
    job = get_job(url, job_id)
    assert job is not None
    rows = []
    for t in load_trials(url, job.study_name):
        values = t.attrs.get("seed_values") if t.state == "COMPLETE" else None
        rows.append(values if values and len(values) == len(job.seeds) else [math.nan] * len(job.seeds))
    return np.array(rows, dtype=float).reshape(-1, len(job.seeds))


def zone_level(m: np.ndarray, top: float, sign: float) -> float:
    """Mean of the best ``top`` fraction of configurations (by seed mean, ``sign`` = +1 to maximize, -1 to
    minimize), in "higher is better" units; configurations that failed rank last."""
    with warnings.catch_warnings():  # a failed configuration's row is all NaN: its mean is NaN, ranked last below
        warnings.simplefilter("ignore", RuntimeWarning)
        means = sign * np.nanmean(m, axis=1) if m.size else np.array([])
    means = np.where(np.isfinite(means), means, -np.inf)
    k = max(1, math.ceil(top * means.size))
    best = np.sort(means)[::-1][:k]
    return float(best.mean()) if np.isfinite(best).all() else -math.inf


def compare(fixed: np.ndarray, auto: np.ndarray, top: float, sign: float, n_boot: int, seed: int) -> dict[str, Any]:
    """auto - fixed zone levels (> 0: auto better), with a 95% paired bootstrap interval over seeds."""
    diff = zone_level(auto, top, sign) - zone_level(fixed, top, sign)
    rng = np.random.default_rng(seed)
    n_seeds = fixed.shape[1]
    boots = []
    with np.errstate(all="ignore"):
        for _ in range(n_boot):
            pick = rng.integers(0, n_seeds, n_seeds)
            boots.append(zone_level(auto[:, pick], top, sign) - zone_level(fixed[:, pick], top, sign))
    lo, hi = np.nanpercentile(np.array(boots), [2.5, 97.5])
    winner = "auto" if lo > 0 else "fixed" if hi < 0 else "tie"
    return {
        "fixed": sign * zone_level(fixed, top, sign),
        "auto": sign * zone_level(auto, top, sign),
        "diff": diff,
        "lo": float(lo),
        "hi": float(hi),
        "winner": winner,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small zones: 2 gammas, 5 trials, 1 epoch, 3 seeds")
    ap.add_argument("--tasks", nargs="+", default=["digits-cnn", "charlm-pydoc"])
    ap.add_argument("--gammas", nargs="+", type=float, help="zeros gamma_i (default 0 0.3 0.6 0.9; quick: 0 0.6)")
    ap.add_argument("--num-lrc", type=int, default=1, help="the automatic numerator's estimator, 1 to 4 (default 1)")
    ap.add_argument("--trials", type=int, help="trials per zone (default 24; quick: 5)")
    ap.add_argument("--epochs", type=int, help="epochs per trial (default: the task's; quick: 1)")
    ap.add_argument("--seeds", type=int, help="seeds per trial (default 3; quick: 3)")
    ap.add_argument("--sampler", default="qmc", help="the sampler of both arms (default qmc: same points)")
    ap.add_argument("--top", type=float, default=0.25, help="zone = this best fraction of configurations")
    ap.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples over seeds")
    ap.add_argument("--db", default="sqlite:////tmp/autosgm-claim.db", help="where the jobs are stored")
    args = ap.parse_args(argv)
    if not 1 <= args.num_lrc <= 4:
        ap.error(f"--num-lrc must be 1 to 4 (0 is the fixed arm), got {args.num_lrc}")
    gammas = args.gammas or ([0.0, 0.6] if args.quick else [0.0, 0.3, 0.6, 0.9])
    n_trials = args.trials or (5 if args.quick else 24)
    seeds = list(range(args.seeds or 3))
    url = init_db(args.db)

    arms: list[Arm] = []
    for task in args.tasks:
        epochs = args.epochs or (1 if args.quick else get_task(task).default_epochs)
        for gamma in gammas:
            for arm, num_lrc in zip(ARMS, (0, args.num_lrc)):
                spec = {
                    "task": task,
                    "optimizer": "autosgm",
                    "space": space(gamma, num_lrc),
                    "n_trials": n_trials,
                    "epochs": epochs,
                    "seeds": seeds,
                    "sampler": args.sampler,
                    "sampler_seed": 0,
                    "pruner": "none",  # matched budgets: every trial runs every epoch
                }
                job, _ = create_job(url, JobSpec.parse(spec))
                arms.append(Arm(task, gamma, arm, job.id))
    start = time.perf_counter()
    ran = Worker(url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True)
    print(f"# {ran} trials in {time.perf_counter() - start:.0f} s; jobs in {args.db}")

    mode = "quick" if args.quick else "full"
    print(
        f"\n{mode} mode: {n_trials} trials x {len(seeds)} seeds per zone, sampler {args.sampler}, "
        f"auto = num_lrc {args.num_lrc}, zone = best {args.top:.0%}, 95% paired bootstrap over seeds\n"
    )
    print("| task | gamma_i | metric | fixed (num_lrc 0) | auto | auto - fixed [95% CI] | wins |")
    print("|---|---|---|---|---|---|---|")
    urls = []
    for task in args.tasks:
        t = get_task(task)
        sign = 1.0 if t.direction == "maximize" else -1.0
        for gamma in gammas:
            fixed, auto = (next(a for a in arms if (a.task, a.gamma, a.arm) == (task, gamma, arm)) for arm in ARMS)
            r = compare(seed_matrix(url, fixed.job), seed_matrix(url, auto.job), args.top, sign, args.bootstrap, 0)
            print(
                f"| {task} | {gamma:g} | {t.metric} | {r['fixed']:.4f} | {r['auto']:.4f} | "
                f"{r['diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}] | {r['winner']} |"
            )
            urls.append(f"/compare/{task}?jobs={fixed.job},{auto.job}")
    print("\nSide by side on the compare page (fixed, auto):")
    for u in urls:
        print(f"  {u}")


if __name__ == "__main__":
    main()
