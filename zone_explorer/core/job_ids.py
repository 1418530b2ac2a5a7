"""Job ids as people type them: the full id or any unique prefix of it.

Where the ids come from differs (the database for the local commands, ``GET /api/v1/jobs?id_prefix=`` for the REST
client); the rule is here once: a prefix names the one job whose id starts with it, or else the error says which
jobs it could mean.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zone_explorer.core.errors import FieldError, NotFound

__all__ = ["CANDIDATES_SHOWN", "ID_PREFIX_PATTERN", "MAX_ID_LENGTH", "check_id_prefix", "pick_job_id"]

#: what a job id (or a prefix of one) may hold: ids are hex today, imported ones may use the URL-safe alphabet
ID_PREFIX_PATTERN = r"^[A-Za-z0-9_-]+$"
MAX_ID_LENGTH = 64
#: an ambiguous prefix lists this many of the jobs it matches: enough to pick from, bounded for any prefix
CANDIDATES_SHOWN = 10


def check_id_prefix(prefix: str, field: str = "job_id") -> str:
    """``prefix`` if it could start a job id; else a :class:`FieldError` naming ``field`` and the rule."""
    if not prefix or len(prefix) > MAX_ID_LENGTH or not re.match(ID_PREFIX_PATTERN, prefix):
        raise FieldError(
            field, f"a job id or its first characters (1 to {MAX_ID_LENGTH} of A-Z a-z 0-9 _ -), got {prefix!r}"
        )
    return prefix


def pick_job_id(prefix: str, matches: Sequence[str], total: int, field: str = "job_id") -> str:
    """The id ``prefix`` names, given (up to :data:`CANDIDATES_SHOWN` + 1 of) the ids starting with it and how
    many there are in all. An exact id wins over longer ids it is a prefix of.

    Raises :class:`NotFound` when no id starts with ``prefix`` and :class:`FieldError` when several do.
    """
    if prefix in matches:
        return prefix
    if total == 0 or not matches:
        raise NotFound(field, f"no job id starts with {prefix!r}")
    if total == 1:
        return matches[0]
    shown = ", ".join(matches[:CANDIDATES_SHOWN])
    more = f" and {total - CANDIDATES_SHOWN} more" if total > CANDIDATES_SHOWN else ""
    raise FieldError(field, f"{prefix!r} is the start of {total} job ids: {shown}{more}; type more of it")
