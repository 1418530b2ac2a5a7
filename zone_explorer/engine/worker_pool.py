"""Worker processes: one per device for `zone-explorer worker --devices cuda:0,cuda:1`, and the same process entry
point for the embedded workers of `serve`.

Each process runs one :class:`~zone_explorer.engine.worker.Worker` on one device, so each device runs one trial
at a time (a device listed twice runs two). Processes, not threads: trials keep their own CUDA context, torch
threads and Python interpreter, and one that crashes costs only its own trial (the reaper retries it). They are
spawned, not forked, so no database connection or thread of the parent is inherited.

This module imports nothing heavy at its top: a spawned process imports it before it runs
:func:`worker_process`, whose first act is to watch its parent (which may die while the child imports torch).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zone_explorer.engine.worker import Worker, WorkerSettings

__all__ = ["exit_with_parent", "run_logged", "run_worker_pool", "worker_process"]

log = logging.getLogger("zone_explorer.engine.worker")

#: how often a worker process looks whether its parent is still there
PARENT_POLL_S = 0.5


def exit_with_parent(parent: int, poll_s: float = PARENT_POLL_S) -> None:
    """End this process once ``parent`` is no longer its parent (it died, however, and the process was adopted):
    at once, as if killed with it, so its running trial is reaped and retried, and no worker runs on as an
    orphan."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.warning("the parent (pid %d) is gone; worker exits", parent, extra={"event": "worker_orphaned"})
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_process(
    url: str,
    name: str,
    settings: dict[str, Any],
    log_format: str,
    nice: int,
    parent: int,
    job_id: str | None = None,
    exit_when_idle: bool = False,
) -> None:
    """A worker process's entry point: run one worker on ``settings["device"]`` until stopped (SIGTERM: after its
    trial) or, with ``exit_when_idle``, until no job has work left. ``settings`` are the fields of a
    :class:`~zone_explorer.engine.worker.WorkerSettings` as a plain dict, so that unpickling the arguments in the
    new process imports nothing before the parent watch starts. ``nice`` is added to the priority inherited
    from the parent (0 when the parent lowered its own)."""
    exit_with_parent(parent)  # first: the parent may die while this process imports torch
    from zone_explorer.engine.priority import lower_priority

    lower_priority(nice)
    from zone_explorer.core.logs import configure_logging
    from zone_explorer.engine.worker import Worker, WorkerSettings

    configure_logging(log_format)
    worker = Worker(url, name=name, settings=WorkerSettings(**settings))
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    # Ctrl-C reaches the whole process group; the parent decides when its workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run_logged(worker, job_id=job_id, exit_when_idle=exit_when_idle)


def run_logged(worker: Worker, *, job_id: str | None = None, exit_when_idle: bool = False) -> int:
    """``worker.run`` between a "worker started" line (its name, device and database host) and a "worker stopped"
    line (the trials it ran); returns the trials run."""
    where = worker.url.split("@")[-1]  # never the password of a database URL
    log.info(
        "worker started",
        extra={"event": "worker_started", "worker": worker.name, "device": worker.settings.device, "database": where},
    )
    n = worker.run(job_id=job_id, exit_when_idle=exit_when_idle)
    log.info("worker stopped", extra={"event": "worker_stopped", "worker": worker.name, "trials": n})
    return n


def run_worker_pool(
    url: str,
    devices: tuple[str, ...],
    *,
    base_name: str,
    settings: WorkerSettings,
    log_format: str = "text",
    job_id: str | None = None,
    exit_when_idle: bool = False,
) -> int:
    """Run one worker process per device, in the foreground, until all have ended; returns 0 when each ended
    cleanly, else 1.

    SIGTERM or Ctrl-C asks every worker to stop after its trial; a second one kills them (their trials are then
    presumed lost after the grace period and retried). A worker that dies leaves the others running: its trial is
    retried by the reaper, and a supervisor (Kubernetes, SLURM, systemd) restarts the whole command if it must.
    """
    from zone_explorer.engine.devices import worker_names

    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(
            target=worker_process,
            args=(
                url,
                name,
                asdict(replace(settings, device=device)),
                log_format,
                0,
                os.getpid(),
                job_id,
                exit_when_idle,
            ),
            name=f"zone-explorer-worker-{name.rsplit('/', 1)[-1]}",
            daemon=True,
        )
        for name, device in zip(worker_names(base_name, devices), devices)
    ]
    asked = 0

    def stop(signum: int, _frame: object) -> None:
        nonlocal asked
        asked += 1
        for p in processes:
            if p.is_alive():
                if asked == 1:
                    p.terminate()  # SIGTERM: the worker finishes its trial, then exits
                else:
                    p.kill()

    # signal handlers can be set from the main thread only (a test or an embedding program may call us elsewhere)
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        for p in processes:
            if asked:  # stopped while starting: start no more
                break
            p.start()
        for p in processes:
            if p.pid is not None:
                p.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [p for p in processes if p.pid is not None and p.exitcode != 0]
    for p in failed:
        log.warning(
            "worker process %s ended with exit code %s",
            p.name,
            p.exitcode,
            extra={"event": "worker_died", "exitcode": p.exitcode},
        )
    return 1 if failed and not asked else 0
