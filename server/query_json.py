"""JSON sent in a query parameter (the pages' ``config=``), bounded before it is parsed.

Python's parser recurses once per level of nesting, so ``[[[[...`` a few thousand deep raises RecursionError (a
500) and a long integer literal costs quadratic time; both are refused here as a 422 naming the parameter. Every
route that takes JSON in its query declares it as :data:`JsonQuery` and parses it with :func:`json_object`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, NoReturn

from fastapi import Query

from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import MAX_QUERY_JSON, MAX_QUERY_JSON_DEPTH

__all__ = ["JsonQuery", "json_object"]

#: a query parameter holding a JSON object (its length is capped by the schema)
JsonQuery = Annotated[str, Query(max_length=MAX_QUERY_JSON, description="a JSON object")]

#: the most digits of an integer that fits a signed 64-bit integer
_INT64_DIGITS = len(str(2**63))


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def json_object(text: str, field: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; a :class:`FieldError` on ``field`` when it is malformed, nested deeper
    than ``MAX_QUERY_JSON_DEPTH``, not an object, or holds a number that is not finite or an integer beyond 64
    bits (``NaN``, ``Infinity``, ``1e999``)."""

    def refuse(why: str) -> NoReturn:
        raise FieldError(field, why)

    def integer(literal: str) -> int:
        if len(literal.lstrip("-")) > _INT64_DIGITS or not -(2**63) <= (value := int(literal)) < 2**63:
            refuse(f"integer {literal[:30]}{'...' if len(literal) > 30 else ''} does not fit 64 bits")
        return value

    def real(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            refuse(f"number {literal[:30]} is out of range (not a finite float)")
        return value

    def constant(name: str) -> NoReturn:
        refuse(f"{name} is not JSON (numbers must be finite)")

    if (depth := _nesting(text)) > MAX_QUERY_JSON_DEPTH:
        refuse(f"JSON nested {depth} levels deep; at most {MAX_QUERY_JSON_DEPTH} levels are allowed")
    try:
        parsed = json.loads(text, parse_int=integer, parse_float=real, parse_constant=constant)
    except json.JSONDecodeError as err:
        refuse(f"malformed JSON: {err.msg} at character {err.pos}")
    if not isinstance(parsed, dict):
        refuse("must be a JSON object of hyperparameter -> value")
    return parsed
