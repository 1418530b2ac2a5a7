"""Worker processes started inside `serve` (the embedded default): supervised, and stopped with it.

Processes, not threads: each trial trains a torch model, and separate processes keep the API responsive while
using every core. They are spawned (not forked) so no database connection or thread of the server is inherited.

Supervision, both ways:

* the server restarts a worker that died (a crash, the OOM killer, a stray ``kill``) after a backoff that doubles
  with each quick death (:data:`RESTART_BACKOFF_S` up to :data:`RESTART_BACKOFF_MAX_S`), so one that dies at once
  on start does not spin; each death and restart is logged. The trial it was running is retried by the reaper.
* a worker exits when its server is gone, however the server ended (a SIGKILL runs no shutdown code): it watches
  its parent process and ends itself within ``PARENT_POLL_S`` (:mod:`zone_explorer.engine.worker_pool`), exactly as a killed worker would, so its
  trial is retried. No worker outlives its server, and a restarted server never adds to orphans.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from zone_explorer.engine.worker_pool import worker_process

log = logging.getLogger("zone_explorer.server")

#: how often the server looks for dead workers (a worker looks for its server as often:
#: zone_explorer.engine.worker_pool.PARENT_POLL_S)
SUPERVISE_POLL_S = 0.5
#: the first restart's delay, doubled for each death within RESTART_RESET_S of the worker's start, up to the max
RESTART_BACKOFF_S = 1.0
RESTART_BACKOFF_MAX_S = 60.0
#: a worker that ran this long before it died is restarted after the first delay again
RESTART_RESET_S = 60.0


@dataclass
class _Slot:
    """One of the ``count`` workers: its current process, when it started, and the delay before a restart."""

    index: int
    process: BaseProcess
    started: float
    backoff: float
    restart_at: float | None = None  # set while it is dead and waits for its restart


def assign_devices(count: int, devices: tuple[str, ...]) -> list[str]:
    """The device of each of ``count`` embedded workers: round-robin over ``devices`` (``serve --workers 4
    --devices cuda:0,cuda:1`` puts two workers on each GPU)."""
    if not devices:
        raise ValueError("devices: give at least one device (cpu, cuda:N)")
    return [devices[i % len(devices)] for i in range(count)]


class EmbeddedWorkers:
    def __init__(
        self,
        url: str,
        count: int,
        threads: int = 1,
        log_format: str = "text",
        nice: int = 10,
        *,
        devices: tuple[str, ...] = ("cpu",),
        restart_backoff_s: float = RESTART_BACKOFF_S,
    ) -> None:
        self.url, self.count, self.threads, self.log_format, self.nice = url, count, threads, log_format, nice
        #: worker i runs its trials on devices[i % len(devices)] (a restarted worker keeps its device)
        self.devices = assign_devices(count, devices)
        self.restart_backoff_s = restart_backoff_s
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def processes(self) -> list[BaseProcess]:
        """The current process of each worker (a dead one stays listed until it is restarted)."""
        with self._lock:
            return [slot.process for slot in self._slots]

    def alive(self) -> int:
        """How many workers run now."""
        return sum(p.is_alive() for p in self.processes)

    def _spawn(self, index: int) -> BaseProcess:
        base = f"{socket.gethostname()}:{os.getpid()}"
        device = self.devices[index]
        name = f"{base}/serve-{index}" + ("" if device == "cpu" else f"/{device}")
        settings = {"threads": self.threads, "device": device}  # WorkerSettings' fields (see worker_process)
        p = multiprocessing.get_context("spawn").Process(
            target=worker_process,
            args=(self.url, name, settings, self.log_format, self.nice, os.getpid()),
            daemon=True,
            name=f"zone-explorer-worker-{index}",
        )
        p.start()
        return p

    def start(self) -> EmbeddedWorkers:
        with self._lock:
            self._slots = [
                _Slot(i, self._spawn(i), time.monotonic(), self.restart_backoff_s) for i in range(self.count)
            ]
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        self._supervisor.start()
        log.info("started %d embedded worker process(es)", self.count)
        return self

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_POLL_S):
            with self._lock:
                for slot in self._slots:
                    self._look_after(slot)

    def _look_after(self, slot: _Slot) -> None:
        """Notice a dead worker (and schedule its restart), or restart it once its delay is over."""
        now = time.monotonic()
        if slot.restart_at is None:
            if slot.process.is_alive():
                return
            if now - slot.started >= RESTART_RESET_S:
                slot.backoff = self.restart_backoff_s
            slot.restart_at = now + slot.backoff
            log.warning(
                "embedded worker %d (pid %s) died with exit code %s; restarting it in %g s",
                slot.index,
                slot.process.pid,
                slot.process.exitcode,
                slot.backoff,
                extra={"event": "worker_died", "exitcode": slot.process.exitcode, "backoff_s": slot.backoff},
            )
            slot.backoff = min(slot.backoff * 2, max(RESTART_BACKOFF_MAX_S, self.restart_backoff_s))
        elif now >= slot.restart_at and not self._stopping.is_set():
            slot.process.join(0)  # reap the dead one (no zombie left)
            slot.process, slot.started, slot.restart_at = self._spawn(slot.index), now, None
            log.info(
                "embedded worker %d restarted (pid %s)",
                slot.index,
                slot.process.pid,
                extra={"event": "worker_restarted"},
            )

    def stop(self, timeout: float = 10.0) -> None:
        """Ask each worker to stop after its trial; kill those still busy after ``timeout`` (their trials are
        presumed lost after the grace period and retried by the next worker)."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        processes = self.processes
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(5)
        with self._lock:
            self._slots.clear()
