"""API tokens: creation (the secret is shown once), authentication and revocation.

The service's request-time check (this lookup on every request, so a revocation holds at once) and its rate
limits live in ``server/services/auth.py``.

A token reads ``ze_<id>_<secret>``: the id finds the row, and the SHA-256 of the whole token is compared with the
stored hash in constant time. The secret has 256 bits of entropy, so a plain (unsalted, fast) hash is enough: no
dictionary or brute-force attack can reach it, and authentication stays a primary-key lookup.

Scopes: ``submit`` (create and cancel jobs, request verifications), ``contribute`` (add and withdraw
contributions) and ``admin`` (everything, including acting on other tokens' jobs and contributions).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from zone_explorer.core.errors import FieldError
from zone_explorer.store.db import rows_changed, session_scope
from zone_explorer.store.models import ApiToken, utcnow

__all__ = [
    "SCOPES",
    "TokenError",
    "TokenInfo",
    "authenticate",
    "create_token",
    "hash_token",
    "list_tokens",
    "parse_scopes",
    "revoke_token",
]

SCOPES = ("submit", "contribute", "admin")
_PREFIX = "ze"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")
_TOKEN = re.compile(r"^ze_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class TokenError(FieldError):
    """A bad token request; ``field`` names the argument (``name``, ``scopes``)."""


@dataclass(frozen=True)
class TokenInfo:
    """What a request learns about the token it presented (never the secret)."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: object = field(default=None, compare=False)
    revoked_at: object = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def may_act_for(self, owner: str | None) -> bool:
        """Whether this token may change something owned by ``owner`` (its own things, or anything as admin)."""
        return self.is_admin or (owner is not None and owner == self.id)


def parse_scopes(scopes: str | Iterable[str]) -> list[str]:
    """``"submit,contribute"`` or a list -> validated, de-duplicated scopes in canonical order."""
    items = [s.strip() for s in scopes.split(",")] if isinstance(scopes, str) else [str(s).strip() for s in scopes]
    items = [s for s in items if s]
    if not items:
        raise TokenError("scopes", f"give at least one of {', '.join(SCOPES)}")
    for s in items:
        if s not in SCOPES:
            raise TokenError("scopes", f"unknown scope {s!r} (valid: {', '.join(SCOPES)})")
    return [s for s in SCOPES if s in items]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, frozenset(row.scopes), row.created_at, row.revoked_at)


def create_token(url: str, name: str, scopes: str | Iterable[str]) -> tuple[TokenInfo, str]:
    """Store a new token and return ``(info, token)``; the token string exists nowhere else afterwards."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise TokenError(
            "name", "1-100 characters: letters, digits, space, '.', '_', '@', '-' (starting with a letter or digit)"
        )
    scope_list = parse_scopes(scopes)
    token_id = secrets.token_hex(6)
    token = f"{_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(id=token_id, name=name, scopes=scope_list, secret_hash=hash_token(token))
    with session_scope(url) as s:
        s.add(row)
    return _info(row), token


def authenticate(url: str, token: str) -> TokenInfo | None:
    """The token's info, or None when it is malformed, unknown, revoked or wrong."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    with session_scope(url) as s:
        row = s.get(ApiToken, match.group(1))
        if row is None or row.revoked_at is not None:
            # still hash, so an unknown id costs as much time as a wrong secret
            hmac.compare_digest(hash_token(token), "0" * 64)
            return None
        ok = hmac.compare_digest(hash_token(token), row.secret_hash)
        return _info(row) if ok else None


def list_tokens(url: str) -> list[TokenInfo]:
    with session_scope(url) as s:
        return [_info(r) for r in s.scalars(sa.select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))]


def revoke_token(url: str, token_id: str) -> bool:
    """Revoke a token by id; False when there is no such active token."""
    with session_scope(url) as s:
        revoked = s.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return bool(rows_changed(revoked))
