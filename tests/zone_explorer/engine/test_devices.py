"""Devices: the ``--devices`` list (checked against a fake GPU count), built-in tasks on the trial's device, the
record of where each trial ran, and a pool of worker processes on devices ``cpu,cpu`` running one trial per device
at a time."""

from __future__ import annotations

import sys

import optuna
import pytest
import sqlalchemy as sa
import torch
from typer.testing import CliRunner

from zone_explorer.cli import app as cli
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import MAX_DEVICES
from zone_explorer.core.spaces import default_space
from zone_explorer.engine.devices import ENVIRONMENT_ATTR, parse_devices, worker_names
from zone_explorer.engine.jobs import JobSpec, create_job, get_job
from zone_explorer.engine.objective import TrialPlan, evaluate
from zone_explorer.engine.worker import WorkerSettings
from zone_explorer.engine.worker_pool import run_worker_pool
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import TrialClaim
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import BUILTIN_TASKS, get_task
from zone_explorer.tasks.noisy_quadratic import NoisyQuadraticTask

QUICK = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 2, "sampler": "random", "sampler_seed": 1}
#: what every trial records of where it ran, on the cpu too
ENVIRONMENT_KEYS = {"device", "device_name", "torch", "cuda", "host", "python", "platform"}


def _gpus(n: int):
    return lambda: n


# ---- the device list --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "gpus", "devices"),
    [
        ("cpu", 0, ("cpu",)),
        ("cpu,cpu", 0, ("cpu", "cpu")),
        (" CUDA:1 , cuda ", 2, ("cuda:1", "cuda:0")),
        ("cuda:0,cuda:0,cpu", 1, ("cuda:0", "cuda:0", "cpu")),
        ("auto", 3, ("cuda:0", "cuda:1", "cuda:2")),
    ],
)
def test_device_lists_resolve_against_the_visible_gpus(spec: str, gpus: int, devices: tuple[str, ...]) -> None:
    plan = parse_devices(spec, gpus=_gpus(gpus))
    assert plan.devices == devices and plan.note is None
    assert parse_devices(plan.as_option(), gpus=_gpus(gpus)).devices == devices  # what serve hands its workers


def test_auto_without_a_gpu_falls_back_to_the_cpu_and_says_so() -> None:
    plan = parse_devices("auto", gpus=_gpus(0))
    assert plan.devices == ("cpu",)
    assert plan.note == "--devices auto: torch sees no CUDA GPU here; trials run on the cpu"


@pytest.mark.parametrize(
    ("spec", "gpus", "message"),
    [
        ("", 1, "empty device in ''"),
        ("cpu,,cpu", 1, "empty device"),
        ("gpu0", 1, "unknown device 'gpu0'; each device is cpu, cuda:N (N = 0, 1, ...) or auto"),
        ("cuda:-1", 1, "unknown device 'cuda:-1'"),
        ("cuda:x", 1, "unknown device"),
        ("auto,cpu", 2, "auto stands alone"),
        ("cuda:2", 2, "cuda:2 does not exist: this machine has 2 CUDA GPU(s): cuda:0, cuda:1"),
        ("cuda:0", 0, "cuda:0 needs a CUDA GPU, but torch sees none here"),
        (",".join(["cpu"] * (MAX_DEVICES + 1)), 0, f"at most {MAX_DEVICES} devices per worker"),
        ("cpu," * 1000, 0, f"at most {MAX_DEVICES} devices), got 4000"),
    ],
)
def test_bad_device_lists_name_the_option_and_the_rule(spec: str, gpus: int, message: str) -> None:
    with pytest.raises(FieldError) as err:
        parse_devices(spec, gpus=_gpus(gpus))
    assert isinstance(err.value, ValueError) and err.value.field == "--devices"
    assert message in err.value.message


def test_a_repeated_device_gets_its_own_worker_name() -> None:
    assert worker_names("h:1", ("cuda:0", "cpu", "cpu", "cuda:0")) == [
        "h:1/cuda:0",
        "h:1/cpu",
        "h:1/cpu#2",
        "h:1/cuda:0#2",
    ]


@pytest.mark.parametrize("command", [["worker"], ["serve"], ["run", "--task", "noisy-quadratic", "--optimizer", "sgd"]])
def test_bad_devices_on_the_command_line_exit_2_before_the_database_is_touched(command: list[str], tmp_path) -> None:
    db = tmp_path / "never.db"
    # cuda:99 is refused on every machine: with no GPU, or with fewer than 100
    result = CliRunner().invoke(cli, [*command, "--devices", "cpu,cuda:99", "--db", f"sqlite:///{db}"])
    assert result.exit_code == 2, result.output
    assert "--devices: cuda:99" in " ".join(result.output.split())
    assert not db.exists()


# ---- tasks on the trial's device --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_built_in_tasks_put_model_data_and_loss_on_the_given_device(name: str) -> None:
    """On the meta device (no memory, no GPU needed): any tensor a task left on the cpu would show here."""
    run = get_task(name).setup(0, device="meta")
    assert {p.device.type for p in run.model.parameters()} == {"meta"}
    assert {b.device.type for b in run.model.buffers()} <= {"meta"}
    batch = next(iter(run.batches(0)))
    tensors = batch if isinstance(batch, tuple) else (batch,)
    assert {t.device.type for t in tensors} == {"meta"}
    assert run.loss(batch).device.type == "meta"


def test_a_seed_builds_the_same_task_on_any_device() -> None:
    """Initialisation draws on the cpu before the move: the device changes nothing of the weights or the data."""
    cpu, meta = get_task("digits-cnn").setup(3), get_task("digits-cnn").setup(3, device="meta")
    assert [p.shape for p in cpu.model.parameters()] == [p.shape for p in meta.model.parameters()]
    x_cpu, _ = next(iter(cpu.batches(1)))
    x_meta, _ = next(iter(meta.batches(1)))
    assert x_cpu.shape == x_meta.shape and x_cpu.device.type == "cpu"


class _CpuOnlyTask(NoisyQuadraticTask):
    """A plug-in task written before devices: its setup takes the seed only."""

    def setup(self, seed: int):  # type: ignore[override]
        return super().setup(seed)


def test_a_task_without_a_device_runs_on_the_cpu_and_records_what_was_asked() -> None:
    task = _CpuOnlyTask(steps=5, epochs=1, name="cpu-only-plugin")
    from zone_explorer.tasks import register_task

    register_task(task, replace=True)
    plan = TrialPlan(task.name, "sgd", default_space("sgd"), 1, (0,), {})
    trial = optuna.create_study().ask()
    # cuda:0 on a machine without a GPU: nothing may touch CUDA, since the task cannot use it
    outcome = evaluate(trial, plan, device="cuda:0")
    assert outcome.state == "complete", outcome.reason
    env = trial.user_attrs[ENVIRONMENT_ATTR]
    assert env["device"] == "cpu" and env["requested_device"] == "cuda:0" and ENVIRONMENT_KEYS <= set(env)


# ---- workers on devices -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_worker_pool_on_two_devices_runs_one_trial_per_device_at_a_time(sqlite_url: str, capfd) -> None:
    """What `zone-explorer worker --devices cpu,cpu --exit-when-idle` runs after checking its flags (called here
    directly: a CLI process would add its own imports to the two workers')."""
    url = init_db(sqlite_url)
    job, _ = create_job(url, JobSpec.parse({**QUICK, "n_trials": 6}))
    code = run_worker_pool(
        url,
        ("cpu", "cpu"),
        base_name="pool",
        settings=WorkerSettings(poll_interval=0.1),
        job_id=job.id,
        exit_when_idle=True,
    )
    logs = capfd.readouterr().err
    assert code == 0, logs[-4000:]
    # one worker process per device, each named after its device
    started = [line for line in logs.splitlines() if "worker started" in line]
    assert sorted(line.split("worker=")[1].split()[0] for line in started) == ["pool/cpu", "pool/cpu#2"], logs[-4000:]
    assert get_job(url, job.id).status == "completed"
    with session_scope(url) as s:
        claims = s.execute(
            sa.select(TrialClaim.worker, TrialClaim.started_at, TrialClaim.finished_at, TrialClaim.trial_number).where(
                TrialClaim.job_id == job.id, TrialClaim.status == "done"
            )
        ).all()
    assert len(claims) == 6 and {c.worker for c in claims} <= {"pool/cpu", "pool/cpu#2"}
    for name in {c.worker for c in claims}:  # never two trials at once on one device
        spans = sorted((c.started_at, c.finished_at) for c in claims if c.worker == name)
        assert all(end <= nxt_start for (_, end), (nxt_start, _) in zip(spans, spans[1:])), spans
    trials = {t.number: t for t in load_trials(url, job.study_name)}
    for c in claims:
        env = trials[c.trial_number].attrs[ENVIRONMENT_ATTR]
        assert env["device"] == "cpu" and ENVIRONMENT_KEYS <= set(env)
        assert env["torch"] == torch.__version__ and env["python"] == ".".join(map(str, sys.version_info[:3]))
