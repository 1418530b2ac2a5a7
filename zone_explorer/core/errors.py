"""The project's errors for a caller's mistake; the service answers each with its own status and nothing else.

:class:`FieldError` (bad input, 422) names the offending field and the rule it broke; :class:`NotFound` (404)
names what was looked up; :class:`Forbidden` (403) is a request the caller may not make. Any other exception is
a bug or an outage, never the caller's fault.
"""

from __future__ import annotations

__all__ = ["Conflict", "FieldError", "Forbidden", "NotFound", "QuotaExceeded"]


class FieldError(ValueError):
    """``field`` is where the problem is (a JSON path such as ``space.params.lr.low``, or an argument name);
    ``message`` is the rule, in words a user can act on. ``str(err)`` is ``"field: message"``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(FieldError):
    """The request clashes with what is stored (409): an ``Idempotency-Key`` reused for another request, or a result
    that is already stored; ``field`` names the header or the value at fault."""


class NotFound(LookupError):
    """No such task, optimizer, job or contribution; ``field`` names what was looked up."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Forbidden(Exception):
    """The caller may not act on this resource (it is another token's); ``field`` names the credential."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class QuotaExceeded(Forbidden):
    """The caller's quota would be exceeded (403, ``quota_exceeded``): ``message`` names the quota, its limit and the
    caller's current usage; ``field`` names the request value that would take it past."""
