"""The service's request-time token checks: each token is read from the database on every request (so a revocation
holds at once in every API process), and per-token rate limits."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from zone_explorer.store.tokens import TokenInfo, authenticate

__all__ = ["RateLimiter", "TokenVerifier"]


class TokenVerifier:
    """:func:`authenticate` on every request that presents a token.

    Nothing is remembered between requests: each write reads its token's row (a primary-key lookup, beside the
    write's own statements), so a revocation refuses the very next request in every API process. A memory of
    verified tokens would save that lookup but let a revoked token work on for its lifetime in each process.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def verify(self, token: str) -> TokenInfo | None:
        """The token's info, or None when it is malformed, unknown, revoked or wrong."""
        return authenticate(self.url, token)


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
