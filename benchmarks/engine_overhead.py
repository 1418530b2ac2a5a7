"""Engine overhead: per-trial wall time of a Zone Explorer job vs a bare Optuna loop, same objective and storage.

Both sides run the same objective (``zone_explorer.engine.objective.evaluate``: the noisy-quadratic task trained with
FSGDM, reported every epoch), the same TPE sampler settings, the same pruner (the job's: none) and a fresh SQLite
storage each. (Before 2026-12 the bare loop ran Optuna's default MedianPruner, which stopped some of its trials
early and so flattered it.) The engine adds claims, heartbeats, cancellation checks and result bookkeeping; the
ratio is what that costs per trial.

    python benchmarks/engine_overhead.py --trials 30 --rounds 6
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna
import torch

from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.objective import TrialPlan, evaluate
from zone_explorer.engine.studies import make_pruner, make_sampler
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import init_db

RAW = {"task": "noisy-quadratic", "optimizer": "fsgdm", "sampler": "tpe", "sampler_seed": 0, "epochs": 5}


def bare(spec: JobSpec, url: str) -> float:
    plan = TrialPlan(spec.task, spec.optimizer, spec.space, spec.epochs, spec.seeds, spec.derived)
    study = optuna.create_study(
        storage=url,
        direction="minimize",
        sampler=make_sampler(spec.sampler, spec.space, seed=0, n_trials=spec.n_trials),
        pruner=make_pruner(spec.pruner, epochs=spec.epochs),
    )

    def objective(trial: optuna.Trial) -> float:
        outcome = evaluate(trial, plan)
        if outcome.state != "complete":
            raise optuna.TrialPruned()
        return outcome.value

    start = time.perf_counter()
    study.optimize(objective, n_trials=spec.n_trials)
    return (time.perf_counter() - start) / spec.n_trials


def engine(spec: JobSpec, url: str) -> float:
    url = init_db(url)
    create_job(url, spec)
    worker = Worker(url, settings=WorkerSettings(poll_interval=0.01))
    start = time.perf_counter()
    worker.run(exit_when_idle=True)
    return (time.perf_counter() - start) / spec.n_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds; the median per side is kept")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    spec = JobSpec.parse({**RAW, "n_trials": args.trials})
    bare_times, engine_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            # alternate which side goes first, so that a drift in machine speed favours neither
            for side in (bare, engine) if r % 2 == 0 else (engine, bare):
                times = bare_times if side is bare else engine_times
                times.append(side(spec, f"sqlite:///{tmp}/{side.__name__}{r}.db"))
    print("rounds, bare  :", " ".join(f"{t * 1e3:.0f}" for t in bare_times))
    print("rounds, engine:", " ".join(f"{t * 1e3:.0f}" for t in engine_times))
    b, e = sorted(bare_times)[len(bare_times) // 2], sorted(engine_times)[len(engine_times) // 2]
    print(f"# {args.trials} trials of {RAW['optimizer']} on {RAW['task']} ({RAW['epochs']} epochs), SQLite, 1 thread")
    print(f"bare Optuna loop : {b * 1e3:8.1f} ms/trial")
    print(f"Zone Explorer    : {e * 1e3:8.1f} ms/trial")
    print(f"ratio engine/bare: {e / b:8.2f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
