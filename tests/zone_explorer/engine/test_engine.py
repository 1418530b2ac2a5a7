"""The engine for real, on SQLite and PostgreSQL: jobs, workers in separate processes, failures recovered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy as sa

from tests import ROOT
from zone_explorer.engine.jobs import JobSpec, JobSpecError, cancel_job, create_job, get_job, job_progress, list_jobs
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Job, TrialClaim
from zone_explorer.store.trials import load_trials

QUICK = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 2, "sampler": "random", "sampler_seed": 1}


def _counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as s:
        jobs = s.scalar(sa.select(sa.func.count()).select_from(Job))
        claims = s.scalar(sa.select(sa.func.count()).select_from(TrialClaim))
    return jobs, claims, len(optuna.get_all_study_names(url))


def _worker_cmd(url: str, job_id: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "zone_explorer.cli", "worker", "--db", url, "--job", job_id, *extra]


def _spawn(url: str, job_id: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        _worker_cmd(url, job_id, *extra), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _assert_exact(url: str, job_id: str, n: int) -> list:
    job = get_job(url, job_id)
    assert job.status == "completed"
    trials = load_trials(url, job.study_name)
    finished = [t for t in trials if t.attrs.get("outcome") in ("complete", "pruned", "diverged", "invalid", "error")]
    assert len(finished) == n, [(t.number, t.state, t.attrs.get("outcome")) for t in trials]
    with session_scope(url) as s:
        done = s.scalars(sa.select(TrialClaim).where(TrialClaim.job_id == job_id, TrialClaim.status == "done")).all()
    assert len(done) == n
    # no trial ran twice: every done claim points at a distinct Optuna trial
    assert len({c.optuna_trial_id for c in done}) == n
    return trials


# ---- validation: clear errors, nothing stored ------------------------------------------------------------------
BAD_JOBS = [
    ({**QUICK, "task": "digits-cn"}, "task", "did you mean 'digits-cnn'"),
    ({**QUICK, "optimizer": "fsgd"}, "optimizer", "did you mean 'fsgdm'"),
    ({**QUICK, "n_trials": 0}, "n_trials", r"\[1, "),
    ({**QUICK, "n_trials": 10**9}, "n_trials", "100000"),
    ({**QUICK, "n_trials": "5"}, "n_trials", "integer"),
    ({**QUICK, "seeds": []}, "seeds", "non-empty"),
    ({**QUICK, "seeds": [1, 1]}, "seeds", "distinct"),
    ({**QUICK, "sampler": "bayes"}, "sampler", "tpe, gp, cmaes, qmc, random, grid"),
    ({**QUICK, "pruner": "asha"}, "pruner", "median, hyperband, none"),
    ({**QUICK, "epochs": 0}, "epochs", r"\[1, 1000\]"),
    ({**QUICK, "space": '{"optimizer": "fsgdm", "params": {'}, "space", "malformed JSON"),
    ({**QUICK, "space": {"params": {"lr": {"type": "float", "low": 2, "high": 1}}}}, "space.params.lr.low", "< high"),
    (
        {**QUICK, "space": {"params": {"n_stages": {"type": "fixed", "value": 100000}}}},
        "space",
        "sigma must be >= n_stages",
    ),
    ({**QUICK, "colour": "red"}, "colour", "unknown field"),
]


@pytest.mark.parametrize("raw,field,message", BAD_JOBS, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD_JOBS)])
def test_bad_job_is_rejected_and_nothing_stored(db_url: str, raw: dict, field: str, message: str) -> None:
    before = _counts(db_url)
    with pytest.raises(JobSpecError) as err:
        job, _ = create_job(db_url, JobSpec.parse(raw))
    assert err.value.field == field
    assert err.match(message)
    assert _counts(db_url) == before


def test_idempotency_key_returns_the_first_job(db_url: str) -> None:
    spec = JobSpec.parse({**QUICK, "n_trials": 3})
    first, created = create_job(db_url, spec, idempotency_key="abc")
    again, created_again = create_job(db_url, spec, idempotency_key="abc")
    assert created and not created_again and first.id == again.id
    with pytest.raises(JobSpecError, match="different job"):
        create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 4}), idempotency_key="abc")
    assert _counts(db_url)[0] == 1 and list_jobs(db_url)[1] == 1


# ---- running ----------------------------------------------------------------------------------------------------
def test_in_process_worker_runs_exactly_n_trials(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 5, "seeds": [0, 1]}))
    ran = Worker(db_url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True)
    assert ran == 5
    trials = _assert_exact(db_url, job.id, 5)
    t = trials[0]
    assert t.state == "COMPLETE" and len(t.attrs["seed_values"]) == 2 and "value_std" in t.attrs
    # the engine derived FSGDM's run length from the task: sigma = steps/epoch * epochs
    assert t.config["sigma"] == 2 * 100 and t.config["n_stages"] == 2
    prog = job_progress(db_url, get_job(db_url, job.id))
    assert prog.finished == 5 and prog.best_value is not None and prog.best_config["lr"] == 0.01


@pytest.mark.parametrize("sampler", ["tpe", "gp", "cmaes", "qmc", "random", "grid"])
@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_every_sampler_and_pruner_runs_a_job(sqlite_url: str, sampler: str, pruner: str) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "sampler": sampler, "pruner": pruner, "n_trials": 4, "epochs": 3}))
    assert Worker(url, settings=WorkerSettings(poll_interval=0.01)).run(exit_when_idle=True) == 4
    trials = _assert_exact(url, job.id, 4)
    assert len({(t.params["c_scaling"], t.params["v_coefficient"]) for t in trials}) == 4, "configurations repeat"


def test_workers_keeping_their_studies_see_each_others_trials(db_url: str) -> None:
    """Each worker keeps its study loaded between trials; its view must still include the other workers' trials,
    or the grid sampler would hand out a point twice."""
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "sampler": "grid", "n_trials": 9}))
    workers = [Worker(db_url, name=f"w{i}") for i in range(2)]
    for i in range(9):
        assert workers[i % 2].run_one(job_id=job.id) is not None
    assert all(w.run_one(job_id=job.id) is None for w in workers)
    trials = _assert_exact(db_url, job.id, 9)
    assert len({(t.params["c_scaling"], t.params["v_coefficient"]) for t in trials}) == 9, "a grid point ran twice"


def test_result_attributes_are_written_together_and_never_to_a_finished_trial(db_url: str) -> None:
    from zone_explorer.engine.studies import set_running_trial_user_attrs, storage_for

    study = optuna.create_study(storage=storage_for(db_url))
    trial = study.ask()
    trial.set_user_attr("outcome", "stale")
    assert set_running_trial_user_attrs(db_url, trial._trial_id, {"outcome": "complete", "seed_values": [0.5, 0.25]})
    assert storage_for(db_url).get_trial(trial._trial_id).user_attrs == {
        "outcome": "complete",
        "seed_values": [0.5, 0.25],
    }
    study.tell(trial, 0.5)
    assert not set_running_trial_user_attrs(db_url, trial._trial_id, {"outcome": "lost"})
    assert storage_for(db_url).get_trial(trial._trial_id).user_attrs["outcome"] == "complete"


def test_diverged_run_is_a_failed_trial_with_its_reason(sqlite_url: str) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    space = {"params": {"lr": {"type": "fixed", "value": 50.0}, "v_coefficient": {"type": "fixed", "value": 10.0}}}
    job, _ = create_job(url, JobSpec.parse({**QUICK, "n_trials": 2, "space": space}))
    assert Worker(url).run(exit_when_idle=True) == 2
    trials = _assert_exact(url, job.id, 2)
    assert all(t.state == "FAIL" and t.attrs["outcome"] == "diverged" for t in trials)
    assert "diverged: loss" in trials[0].attrs["fail_reason"]


def test_a_zone_table_holds_diverged_trials_seed_noise_and_fixed_values(sqlite_url: str) -> None:
    from zone_explorer.analysis import TrialTable
    from zone_explorer.engine.job_zones import records_table
    from zone_explorer.store.db import init_db
    from zone_explorer.store.trials import load_results

    url = init_db(sqlite_url)
    space = {
        "params": {
            "lr": {"type": "float", "low": 0.01, "high": 100.0, "log": True},  # the high end diverges
            "v_coefficient": {"type": "float", "low": 1.0, "high": 10.0, "log": True},
            "c_scaling": {"type": "fixed", "value": 0.1},
        }
    }
    job, _ = create_job(url, JobSpec.parse({**QUICK, "n_trials": 8, "seeds": [0, 1], "space": space}))
    assert Worker(url).run(exit_when_idle=True) == 8
    trials = load_trials(url, job.study_name)
    done = [t for t in trials if t.state == "COMPLETE"]
    diverged = [t for t in trials if t.attrs.get("outcome") == "diverged"]
    assert done and diverged  # the random sampler's seed puts trials on both sides
    table = records_table(load_results(url, job.study_name), "fsgdm", "minimize")
    assert len(table) == len(done) and set(table.params) == {"lr", "v_coefficient"}
    assert len(table.diverged["lr"]) == len(diverged)
    assert sorted(table.diverged["lr"]) == sorted(t.attrs["config"]["lr"] for t in diverged)
    expected = {t.number: (t.attrs["seed_values"][0] - t.attrs["seed_values"][1]) ** 2 / 4 for t in done}
    assert dict(zip(table.ids.tolist(), table.noise_var.tolist())) == pytest.approx(expected)
    # the same study read as any Optuna study (`zones --storage --study`) knows the same noise
    generic = TrialTable.from_study(optuna.load_study(study_name=job.study_name, storage=url))
    assert dict(zip(generic.ids.tolist(), generic.noise_var.tolist())) == pytest.approx(expected)
    assert table.constants["c_scaling"] == 0.1 and "sigma" in table.constants


def test_cancellation_stops_a_running_trial_within_an_epoch(sqlite_url: str) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "epochs": 200, "n_trials": 3}))
    worker = Worker(url, settings=WorkerSettings(heartbeat_interval=0.1, poll_interval=0.05))
    import threading

    t = threading.Thread(target=lambda: worker.run(job_id=job.id, exit_when_idle=True))
    t.start()
    deadline = time.time() + 60
    while time.time() < deadline and job_progress(url, get_job(url, job.id)).running == 0:
        time.sleep(0.05)
    cancel_job(url, job.id)
    t.join(timeout=30)
    assert not t.is_alive()
    assert get_job(url, job.id).status == "cancelled"
    trials = load_trials(url, job.study_name)
    assert trials and trials[0].attrs["outcome"] == "cancelled"
    assert len(load_trials(url, job.study_name)) == 1  # nothing more was started


def _set_job(url: str, job_id: str, **values) -> None:
    """Change a stored job behind the engine's back (what an older release or another machine left)."""
    with session_scope(url) as s:
        s.execute(sa.update(Job).where(Job.id == job_id).values(**values))


def test_the_run_length_is_stored_with_the_job_and_workers_read_it(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 2}))
    assert get_job(db_url, job.id).run_length == {"sigma": 200, "n_stages": 2}  # 100 steps/epoch x 2 epochs
    # a stored value the task would not give: trials use it, so the worker derived nothing itself
    _set_job(db_url, job.id, run_length={"sigma": 300, "n_stages": 3})
    assert Worker(db_url).run(exit_when_idle=True) == 2
    assert [(t.config["sigma"], t.config["n_stages"]) for t in _assert_exact(db_url, job.id, 2)] == [(300, 3)] * 2


def test_a_job_stored_without_a_run_length_derives_it_as_submission_would(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 1}))
    _set_job(db_url, job.id, run_length=None)  # a job submitted before the run length was stored
    assert Worker(db_url).run(exit_when_idle=True) == 1
    assert _assert_exact(db_url, job.id, 1)[0].config["sigma"] == 200


def test_a_job_whose_every_trial_raised_an_error_fails_and_says_why(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 2}))
    _set_job(db_url, job.id, task="retired-task")  # a task none of the workers can build
    assert Worker(db_url).run(exit_when_idle=True) == 2
    failed = get_job(db_url, job.id)
    assert failed.status == "failed"
    assert failed.error.startswith("all 2 trials raised an error; the last: could not set up task 'retired-task'")
    assert job_progress(db_url, failed).outcomes == {"error": 2}
    assert [j.id for j in list_jobs(db_url, status="failed")[0]] == [job.id]


def test_a_job_with_one_result_among_errors_completes(db_url: str) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 2}))
    assert Worker(db_url).run(job_id=job.id, max_trials=1) == 1
    _set_job(db_url, job.id, task="retired-task")
    assert Worker(db_url).run(exit_when_idle=True) == 1
    done = get_job(db_url, job.id)
    assert done.status == "completed" and done.error is None
    assert job_progress(db_url, done).outcomes == {"complete": 1, "error": 1}


@pytest.mark.slow
@pytest.mark.parametrize("n_workers", [2, 3])
def test_concurrent_worker_processes_share_a_job_exactly(db_url: str, n_workers: int) -> None:
    job, _ = create_job(db_url, JobSpec.parse({**QUICK, "n_trials": 12}))
    procs = [_spawn(db_url, job.id, "--exit-when-idle") for _ in range(n_workers)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    _assert_exact(db_url, job.id, 12)
    with session_scope(db_url) as s:
        workers = set(s.scalars(sa.select(TrialClaim.worker).where(TrialClaim.job_id == job.id)))
    assert len(workers) >= 2, "the trials should have been shared between processes"


def test_studies_stay_plain_optuna_studies(sqlite_url: str) -> None:
    """Optuna's CLI and optuna-dashboard open our database and see the job's study and its trials."""
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "n_trials": 2}))
    Worker(url).run(exit_when_idle=True)
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from optuna.cli import main; sys.exit(main())",
            "studies",
            "--storage",
            url,
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    studies = {s["name"]: s for s in json.loads(listed.stdout)}
    assert studies[job.study_name]["n_trials"] == 2
    study = optuna.load_study(study_name=job.study_name, storage=url)
    assert study.user_attrs["zone_explorer_job"] == job.id and len(study.trials) == 2

    import optuna_dashboard

    app = optuna_dashboard.wsgi(url)
    body = _wsgi_get(app, "/api/studies")
    assert job.study_name in body


def _wsgi_get(app, path: str) -> str:
    import io

    status = {}
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    chunks = app(environ, lambda s, headers, exc_info=None: status.setdefault("s", s))
    assert status["s"].startswith("200"), status
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("optimizer", "axes"), [("signum", ("lr", "momentum")), ("adam-tied", ("lr", "beta"))], ids=["signum", "adam-tied"]
)
def test_signum_and_tied_adam_run_a_job_and_draw_a_zone(sqlite_url: str, optimizer: str, axes: tuple) -> None:
    """Their default spaces run end to end, and the zone is drawn over their own axes (one beta for adam-tied)."""
    from zone_explorer.engine.job_zones import job_zone_summary
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "optimizer": optimizer, "n_trials": 3}))
    assert Worker(url, settings=WorkerSettings(poll_interval=0.01)).run(exit_when_idle=True) == 3
    trials = _assert_exact(url, job.id, 3)
    assert all(t.state == "COMPLETE" and set(axes) <= set(t.params) for t in trials)
    zone = job_zone_summary(url, job.id, with_importance=False, grid_size=12)
    assert (zone["x"], zone["y"]) == axes and zone["optimizer"] == optimizer
