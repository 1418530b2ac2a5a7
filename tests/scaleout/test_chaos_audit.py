"""A smoke of benchmarks/chaos.py's audit (the chaos run itself is a benchmark, not a test): on a database where
nothing went wrong it counts 0 everywhere, and it does count an acknowledged write that is not stored and a
finished job with a trial left waiting."""

from __future__ import annotations

import importlib.util
import sys

import optuna

from tests import ROOT
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.studies import storage_for
from zone_explorer.engine.worker import Worker
from zone_explorer.store.db import init_db

JOB = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 1, "sampler": "random", "n_trials": 2}


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_chaos_audit_counts_what_went_wrong_and_only_that(sqlite_url: str) -> None:
    chaos = _chaos()
    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse(JOB))
    Worker(url).run(job_id=job.id, exit_when_idle=True)
    tally = chaos.Tally(jobs={"k1": job.id})
    assert chaos.audit(url, tally) == {"lost_writes": 0, "duplicates": 0, "configurations_lost": 0}
    tally.contributions["k2"] = "never-stored"
    optuna.load_study(study_name=job.study_name, storage=storage_for(url)).enqueue_trial({"c_scaling": 0.1})
    assert chaos.audit(url, tally) == {"lost_writes": 1, "duplicates": 0, "configurations_lost": 1}
