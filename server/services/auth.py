"""The service's request-time token checks: a short in-process memory of verified tokens, and per-token rate limits."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from zone_explorer.store.tokens import TokenInfo, authenticate, hash_token

__all__ = ["RateLimiter", "TokenVerifier"]


class TokenVerifier:
    """:func:`authenticate` with a short in-process memory of tokens verified recently.

    Verified tokens are remembered for ``ttl`` seconds, keyed by their SHA-256, so a busy client costs one
    database lookup per ``ttl`` instead of one per request; a revocation therefore takes effect within ``ttl``
    seconds in a running server. Unknown or wrong tokens are never remembered.
    """

    def __init__(self, url: str, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self.url, self.ttl, self.max_entries = url, ttl, max_entries
        self._seen: dict[str, tuple[float, TokenInfo]] = {}
        self._lock = threading.Lock()

    def recall(self, token: str) -> TokenInfo | None:
        """The token's info if it was verified within ``ttl`` seconds (no database access)."""
        if self.ttl <= 0:
            return None
        key = hash_token(token)
        with self._lock:
            hit = self._seen.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def verify(self, token: str) -> TokenInfo | None:
        info = self.recall(token)
        if info is not None:
            return info
        info = authenticate(self.url, token)
        if info is not None and self.ttl > 0:
            with self._lock:
                if len(self._seen) >= self.max_entries:
                    self._seen.clear()
                self._seen[hash_token(token)] = (time.monotonic(), info)
        return info


@dataclass
class RateLimiter:
    """A sliding-window limit per key (token id), in process: at most ``limit`` hits in any ``window`` seconds.

    In process is enough for one API process; with several, each enforces the limit on its own share.
    ``limit=0`` turns limiting off.
    """

    limit: int
    window: float = 60.0
    _hits: dict[str, deque] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Record a hit; None if allowed, else the seconds until the next hit would be allowed."""
        if self.limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return max(q[0] + self.window - now, 0.001)
            q.append(now)
            return None
