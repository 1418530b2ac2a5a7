"""Hyperparameter domains: the one source of validation.

Every optimizer declares its hyperparameters here as :class:`Hyperparameter` objects. Its constructor validates
with them, the registry publishes them, and the engine's search spaces are checked against them, so a value the
constructor rejects can never be searched, stored or contributed.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Hyperparameter",
    "closest_name",
    "reject_unknown_keywords",
    "validate_config",
    "validate_tuple",
]

_KINDS = ("float", "int", "bool", "choice")


def _fmt(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return f"{x:g}"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: its name, type, default and valid domain.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"choice"``. Numeric domains are intervals
    ``[low, high]`` whose ends are open where ``low_open``/``high_open`` say so. ``log`` marks parameters that
    are naturally searched on a log scale (it requires ``low >= 0``). ``nullable`` admits ``None`` (for
    example GSGD's ``scaling=None``, meaning 1/lr).
    """

    name: str
    kind: str
    default: Any
    description: str = ""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    log: bool = False
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Hyperparameter {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Hyperparameter {self.name!r}: a choice needs at least one choice")
        if self.default is not None or not self.nullable:
            # The declared default must itself be valid: a typo in a table fails at import, not in a user's run.
            self.validate(self.default, owner="default of")

    # ---- description -------------------------------------------------------------------------------------
    def domain(self) -> str:
        """The valid domain in words, e.g. ``'a float in (0, inf)'``."""
        if self.kind == "bool":
            text = "a bool (True or False)"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            left = "(" if self.low_open or self.low == -math.inf else "["
            right = ")" if self.high_open or self.high == math.inf else "]"
            noun = "an integer" if self.kind == "int" else "a float"
            text = f"{noun} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        return text + (" or None" if self.nullable else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data for the API and the pages."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "description": self.description,
            "domain": self.domain(),
            "nullable": self.nullable,
        }
        if self.kind in ("float", "int"):
            out.update(
                low=None if math.isinf(self.low) else self.low,
                high=None if math.isinf(self.high) else self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                log=self.log,
            )
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        return out

    # ---- validation --------------------------------------------------------------------------------------
    def contains(self, value: Any) -> bool:
        try:
            self.validate(value)
        except (TypeError, ValueError):
            return False
        return True

    def validate(self, value: Any, *, owner: str = "") -> Any:
        """Return ``value`` in canonical form, or raise ``TypeError``/``ValueError`` naming the field and rule."""
        where = f"{owner} " if owner else ""
        if value is None:
            if self.nullable:
                return None
            raise TypeError(f"{where}{self.name} must be {self.domain()}, got None")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, numbers.Integral) and int(value) in (0, 1):
                return bool(value)
            raise TypeError(f"{where}{self.name} must be {self.domain()}, got {type(value).__name__} {value!r}")
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise ValueError(f"{where}{self.name} must be {self.domain()}, got {value!r}")
        # numeric
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{where}{self.name} must be {self.domain()}, got {type(value).__name__} {value!r}")
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                if not float(value).is_integer():
                    raise TypeError(f"{where}{self.name} must be {self.domain()}, got {value!r}")
            # numbers.Real declares no __int__, but every Real that gets here (int, float, numpy and torch scalars,
            # Fraction) has one, and value is integral by now.
            value = int(value)  # type: ignore[call-overload]
        else:
            value = float(value)
            if math.isnan(value):
                raise ValueError(f"{where}{self.name} must be {self.domain()}, got nan")
        too_low = value < self.low or (self.low_open and value == self.low)
        too_high = value > self.high or (self.high_open and value == self.high)
        if too_low or too_high or (self.kind == "float" and math.isinf(value)):
            raise ValueError(f"{where}{self.name} must be {self.domain()}, got {value!r}")
        return value


def closest_name(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (for 'did you mean' hints), or None if nothing is close."""
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def reject_unknown_keywords(owner: str, given: Iterable[str], valid: Sequence[str]) -> None:
    """Raise ``TypeError`` for the first keyword not in ``valid``, suggesting the closest valid one."""
    for name in given:
        if name in valid:
            continue
        hint = closest_name(name, valid)
        suggestion = f"; did you mean {hint!r}?" if hint else f"; valid keywords: {', '.join(valid)}"
        raise TypeError(f"{owner} got an unexpected keyword argument {name!r}{suggestion}")


def validate_config(
    owner: str, config: Mapping[str, Any], hyperparameters: Sequence[Hyperparameter], *, fill_defaults: bool = True
) -> dict[str, Any]:
    """Validate a flat ``{name: value}`` mapping; unknown names raise ``TypeError`` with a suggestion."""
    by_name = {hp.name: hp for hp in hyperparameters}
    reject_unknown_keywords(owner, config, list(by_name))
    out: dict[str, Any] = {}
    for hp in hyperparameters:
        if hp.name in config:
            out[hp.name] = hp.validate(config[hp.name], owner=owner)
        elif fill_defaults:
            out[hp.name] = hp.default
    return out


def validate_tuple(
    owner: str, name: str, value: Any, fields: Sequence[Hyperparameter], *, min_len: int | None = None
) -> tuple[Any, ...]:
    """Validate a configuration tuple (or list) element by element, e.g. AutoSGM's ``beta_cfg``.

    ``min_len`` allows trailing elements to be omitted; they then take their fields' defaults.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{owner} {name} must be a tuple or list of {len(fields)} values, got {type(value).__name__}")
    shortest = len(fields) if min_len is None else min_len
    if not shortest <= len(value) <= len(fields):
        names = ", ".join(f.name for f in fields)
        count = f"{len(fields)}" if shortest == len(fields) else f"{shortest} to {len(fields)}"
        raise ValueError(f"{owner} {name} must have {count} elements ({names}), got {len(value)}")
    items = [f.validate(v, owner=f"{owner} {name}[{i}]") for i, (f, v) in enumerate(zip(fields, value))]
    items.extend(f.default for f in fields[len(value) :])
    return tuple(items)
