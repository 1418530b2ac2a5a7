"""``ze.explore``: a zone exploration of the user's own ``train(trial)`` function."""

from __future__ import annotations

import multiprocessing
import pickle
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zone_explorer.core.limits import DEFAULT_SAMPLER
from zone_explorer.sdk.trial import Trial
from zone_explorer.tasks.external import FunctionTask, check_external, function_task_name

__all__ = ["MAX_LOCAL_WORKERS", "explore"]

#: worker processes one ``explore`` call may start on this machine
MAX_LOCAL_WORKERS = 64


def explore(
    train: Callable[[Trial], float | None],
    optimizer: str = "fsgdm",
    metric: str = "val_acc",
    direction: str = "maximize",
    n_trials: int = 20,
    space: Mapping[str, Any] | None = None,
    storage: str | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    sampler: str | None = None,
    *,
    epochs: int = 10,
    pruner: str = "median",
    sampler_seed: int | None = None,
) -> dict[str, Any]:
    """Explore ``optimizer``'s zone on the user's ``train(trial)`` and return the zone (what ``zone-explorer zones
    --json`` prints for the job).

    ``train`` builds its model, calls ``trial.optimizer(model.parameters(), steps_per_epoch=..., epochs=...)``,
    trains, calls ``trial.report(epoch, value)`` after each epoch (a pruned trial raises there) and returns the
    final ``metric`` (or None: the last value reported). A NaN or infinite value ends the trial as diverged; an
    exception ends it as failed with its reason, and the exploration goes on.

    ``storage``: a database URL (None: the embedded SQLite file, or ``ZONE_EXPLORER_DATABASE_URL``). ``workers``:
    trials run at once, in worker processes when above 1; ``train`` must then be importable by them: defined at the
    top level of a module or of the script that was started (not a lambda, a closure or a function typed into an
    interactive session). ``devices``: one per worker in turn (``trial.device``); default ``cpu``. ``epochs``: how
    many epochs ``train`` reports (the pruner's horizon); ``pruner``: ``median``, ``hyperband`` or ``none``.
    """
    from zone_explorer.engine.job_zones import job_zone_summary
    from zone_explorer.engine.jobs import JobSpec, create_job, get_job
    from zone_explorer.store.db import init_db
    from zone_explorer.tasks.base import register_task
    from zone_explorer.tasks.external import save_function_task

    if not callable(train):
        raise TypeError(f"train: must be a function train(trial), got {type(train).__name__}")
    check_external("train", metric, direction)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ValueError(f"workers: must be an integer in [1, {MAX_LOCAL_WORKERS}], got {workers!r}")
    device_list = _devices(devices)
    module = getattr(train, "__module__", None) or "__main__"
    qualname = getattr(train, "__qualname__", None) or type(train).__name__
    if workers > 1:
        _check_importable(train, module)
    name = function_task_name(module, qualname)
    task = FunctionTask(name, f"{module}:{qualname}", metric, direction, train)
    raw: dict[str, Any] = {
        "task": name,
        "optimizer": optimizer,
        "n_trials": n_trials,
        "epochs": epochs,
        "pruner": pruner,
        "sampler": sampler if sampler is not None else DEFAULT_SAMPLER,
    }
    if space is not None:
        raw["space"] = space
    if sampler_seed is not None:
        raw["sampler_seed"] = sampler_seed
    register_task(task, replace=True)  # before parsing: the job names this task
    spec = JobSpec.parse(raw)  # a JobSpecError (a ValueError) names the field
    url = init_db(storage)
    save_function_task(url, task)
    job, _ = create_job(url, spec)
    try:
        if workers == 1:
            _work(url, job.id, task, device_list[0], in_process=True)
        else:
            _work_in_processes(url, job.id, task, device_list, workers)
    except KeyboardInterrupt:
        from zone_explorer.engine.jobs import cancel_job

        cancel_job(url, job.id)
        raise
    final = get_job(url, job.id)
    assert final is not None
    if final.status == "failed":
        raise RuntimeError(f"exploration {job.id} failed: {final.error}")
    return job_zone_summary(url, job.id)


def _devices(devices: Sequence[str] | None) -> list[str]:
    """The devices as ``worker --devices`` checks them (``cpu``, ``cuda:N``, ``auto``; a GPU torch cannot see is
    refused), from a list or a comma-separated string."""
    from zone_explorer.engine.devices import parse_devices

    if devices is None:
        return ["cpu"]
    if not isinstance(devices, (str, list, tuple)):
        raise TypeError(f"devices: must be a list of device names or a comma-separated string, got {devices!r}")
    spec = devices if isinstance(devices, str) else ",".join(str(d) for d in devices)
    plan = parse_devices(spec, field="devices")
    if plan.note:
        print(f"note: {plan.note}", file=sys.stderr)
    return list(plan.devices)


def _check_importable(train: Callable[..., Any], module: str) -> None:
    """Worker processes receive ``train`` by reference (module and name): refuse early what they cannot import."""
    main = sys.modules.get("__main__")
    if module == "__main__" and not getattr(main, "__file__", None):
        raise TypeError(
            "train: with workers > 1 the function must be importable by the worker processes; a function defined in "
            "an interactive session is not: put it in a module (or a script you run), or use workers=1"
        )
    try:
        pickle.dumps(train)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise TypeError(
            f"train: with workers > 1 the function must be importable by the worker processes (defined at the top "
            f"level of a module, not a lambda or a nested function); it is not: {err}"
        ) from None


def _work(url: str, job_id: str, task: FunctionTask, device: str, *, in_process: bool) -> None:
    import torch

    from zone_explorer.engine.worker import Worker, WorkerSettings
    from zone_explorer.tasks.base import register_task

    register_task(task, replace=True)
    # in this process, keep the user's thread count; a worker process shares the cores with its siblings
    threads = torch.get_num_threads() if in_process else 1
    settings = WorkerSettings(threads=threads, poll_interval=0.05, heartbeat_interval=1.0, device=device)
    Worker(url, settings=settings).run(job_id=job_id, exit_when_idle=True)


def _work_in_processes(url: str, job_id: str, task: FunctionTask, devices: list[str], workers: int) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
    procs = [
        ctx.Process(target=_work, args=(url, job_id, task, devices[i % len(devices)]), kwargs={"in_process": False})
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
