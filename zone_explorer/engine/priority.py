"""CPU priority of worker processes, kept apart from the worker so it can run before torch is imported."""

from __future__ import annotations

import os

__all__ = ["lower_priority"]


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority by ``nice`` (0 leaves it); returns the resulting niceness.

    Trials are batch work: an API or pages served from the same machine must stay responsive while every core
    trains, so worker processes run at niceness 10 by default (``zone-explorer worker --nice``, the service's
    ``worker_nice``). Call it first thing in a worker process's entry point, before the imports and database
    checks of its start (several seconds of CPU), and never from a process that serves requests (children
    inherit it)."""
    if nice < 0:
        raise ValueError(f"nice must be >= 0 (a worker may only lower its priority), got {nice}")
    return os.nice(nice)
