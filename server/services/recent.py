"""Answers to polled reads, reused for a short while: however many clients poll one job, the database sees
about one read per interval, and a hit costs no trip to the thread pool."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["RecentAnswers"]


class RecentAnswers:
    """A thread-safe, size-bounded map of answers that expire ``ttl_s`` seconds after they were stored
    (``ttl_s=0`` keeps nothing). Writers ``discard`` what they changed, so their own next read is fresh."""

    def __init__(self, ttl_s: float, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        if not ttl_s >= 0:
            raise ValueError(f"ttl_s must be >= 0, got {ttl_s}")  # a server setting, not a request field
        self.ttl_s, self.size, self.clock = ttl_s, size, clock
        self._items: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if self.clock() - item[0] >= self.ttl_s:
                del self._items[key]
                return None
            return item[1]

    def put(self, key: Hashable, answer: bytes) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (self.clock(), answer)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)
