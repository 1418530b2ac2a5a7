"""The worker processes `zone-explorer serve` starts beside the API."""

from __future__ import annotations

import os
import time

from server.workers import EmbeddedWorkers
from zone_explorer.store.db import init_db


def test_embedded_workers_run_at_lower_priority_and_stop_with_the_server(sqlite_url: str) -> None:
    workers = EmbeddedWorkers(init_db(sqlite_url), 2, nice=7).start()
    try:
        expected = min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)
        deadline = time.monotonic() + 60
        while [os.getpriority(os.PRIO_PROCESS, p.pid) for p in workers.processes] != [expected] * 2:
            assert all(p.is_alive() for p in workers.processes), "a worker process died"
            assert time.monotonic() < deadline, "the workers never lowered their priority"
            time.sleep(0.1)
    finally:
        processes = list(workers.processes)
        workers.stop()
    assert not any(p.is_alive() for p in processes)
