"""Worker processes started inside `serve` (the embedded default), stopped with it.

Processes, not threads: each trial trains a torch model, and separate processes keep the API responsive while
using every core. They are spawned (not forked) so no database connection or thread of the server is inherited.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess

log = logging.getLogger("zone_explorer.server")


def _work(url: str, threads: int, name: str, log_format: str, nice: int) -> None:
    from zone_explorer.engine.priority import lower_priority

    lower_priority(nice)  # the server's requests come first on the cores the workers share with it, from the start
    from zone_explorer.core.logs import configure_logging
    from zone_explorer.engine.worker import Worker, WorkerSettings

    configure_logging(log_format)
    worker = Worker(url, name=name, settings=WorkerSettings(threads=threads))
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    # Ctrl-C reaches the whole process group; the server decides when its workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker.run()


class EmbeddedWorkers:
    def __init__(self, url: str, count: int, threads: int = 1, log_format: str = "text", nice: int = 10) -> None:
        self.url, self.count, self.threads, self.log_format, self.nice = url, count, threads, log_format, nice
        self.processes: list[BaseProcess] = []

    def start(self) -> EmbeddedWorkers:
        ctx = multiprocessing.get_context("spawn")
        base = f"{socket.gethostname()}:{os.getpid()}"
        for i in range(self.count):
            p = ctx.Process(
                target=_work,
                args=(self.url, self.threads, f"{base}/serve-{i}", self.log_format, self.nice),
                daemon=True,
                name=f"zone-explorer-worker-{i}",
            )
            p.start()
            self.processes.append(p)
        log.info("started %d embedded worker process(es)", self.count)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask each worker to stop after its trial; kill those still busy after ``timeout`` (their trials are
        presumed lost after the grace period and retried by the next worker)."""
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        for p in self.processes:
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(5)
        self.processes.clear()
