"""Idempotency keys of contribution writes: a client that lost an answer sends the request again with the same
``Idempotency-Key`` and gets the first answer (the same rows, as they are now) instead of a second write.

Keys are per owner (one token's key never answers another token's request). A key remembers its route and a SHA-256
of what was sent; reusing it for anything else is a :class:`~zone_explorer.core.errors.Conflict` (409).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from zone_explorer.core.errors import Conflict
from zone_explorer.store.models import ContributionRequest

__all__ = ["RequestKey", "body_hash", "record_request", "replayed_request"]

#: the header that carries the key (errors name it)
HEADER = "Idempotency-Key"


def body_hash(route: str, body: Any) -> str:
    """SHA-256 of a request: its route and its body (bytes as sent, anything else as canonical JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(route.encode() + b"\x00" + data).hexdigest()


@dataclass(frozen=True)
class RequestKey:
    """One keyed request: who sent it (a token id), its key, which route and what it sent (:func:`body_hash`)."""

    owner: str
    key: str
    route: str
    body_hash: str

    @classmethod
    def of(cls, owner: str | None, key: str | None, route: str, body: Any) -> RequestKey | None:
        """The request's key, or None when the client sent none."""
        return None if key is None else cls(owner or "", key, route, body_hash(route, body))


def replayed_request(s: Session, rk: RequestKey | None) -> ContributionRequest | None:
    """The earlier request with this key (a replay), None for a new key; a key used for another request is a 409."""
    if rk is None:
        return None
    done = s.get(ContributionRequest, (rk.owner, rk.key))
    if done is not None and (done.route != rk.route or done.body_hash != rk.body_hash):
        raise Conflict(
            HEADER,
            f"was already used for another request ({done.route} of {', '.join(done.contribution_ids) or 'nothing'}); "
            "use a new key for a new request",
        )
    return done


def record_request(
    s: Session, rk: RequestKey | None, ids: list[str], duplicates: list[dict[str, Any]] | None = None
) -> None:
    """Remember a keyed request in the session that writes its rows (both commit, or neither)."""
    if rk is not None:
        s.add(
            ContributionRequest(
                owner=rk.owner,
                key=rk.key,
                route=rk.route,
                body_hash=rk.body_hash,
                contribution_ids=ids,
                duplicates=duplicates or [],
            )
        )
