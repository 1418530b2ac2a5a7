"""The engine's error for bad input: a ``ValueError`` that names the offending field and the rule it broke."""

from __future__ import annotations

__all__ = ["FieldError"]


class FieldError(ValueError):
    """``field`` is where the problem is (a JSON path such as ``space.params.lr.low``, or an argument name);
    ``message`` is the rule, in words a user can act on. ``str(err)`` is ``"field: message"``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
