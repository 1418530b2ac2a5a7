"""Hypothesis strategies shared by the property tests: extreme numbers, and search-space dimensions and spaces
built from them (valid, barely valid and hostile), in the JSON form a request sends.

The values come from both ends of every range that has bitten a parser: subnormal and huge floats, NaN and the
infinities (Python's ``json`` writes and reads them), integers past 2**31, 2**53, 2**63 and past any float, and
values of the wrong type. Each strategy draws the plausible cases often enough that valid spaces, and jobs that are
accepted, are a good share of the examples.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from hypothesis import strategies as st

from optimizers.registry import get_optimizer

__all__ = [
    "EXTREME_FLOATS",
    "EXTREME_INTS",
    "dimensions",
    "extreme_floats",
    "extreme_ints",
    "extreme_numbers",
    "hostile_values",
    "spaces",
]

#: floats at the edges: signed zeros, the smallest subnormal and normal, near-one, the largest, and non-finite
EXTREME_FLOATS: tuple[float, ...] = (
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    sys.float_info.min,
    1e-300,
    1e-15,
    1e-9,
    0.5,
    1.0,
    1.0 + sys.float_info.epsilon,
    1e9,
    1e15,
    1.0000000000000002e15,
    1e16,
    1e300,
    sys.float_info.max,
    -sys.float_info.max,
    math.inf,
    -math.inf,
    math.nan,
)
#: integers at the edges of 32- and 64-bit columns, of a float's exact integers, of the space's bound, and beyond
EXTREME_INTS: tuple[int, ...] = (
    0,
    1,
    -1,
    2,
    2**31 - 1,
    2**31,
    -(2**31),
    10**15,
    10**15 + 1,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    10**400,
    -(10**400),
)


def extreme_floats() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(EXTREME_FLOATS), st.floats(allow_nan=True, allow_infinity=True))


def extreme_ints() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(EXTREME_INTS), st.integers())


def extreme_numbers() -> st.SearchStrategy[float | int]:
    return st.one_of(extreme_floats(), extreme_ints())


def hostile_values() -> st.SearchStrategy[Any]:
    """Anything JSON can carry where a number or flag belongs: numbers at the edges and values of the wrong type."""
    scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=8), extreme_numbers())
    return st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))


def _plausible_floats() -> st.SearchStrategy[float]:
    """Positive floats spread over many decades, so that low < high holds often and log axes are valid."""
    return st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)


def _bound() -> st.SearchStrategy[Any]:
    return st.one_of(_plausible_floats(), st.integers(min_value=-5, max_value=10**6), extreme_numbers())


@st.composite
def _valid_numeric(draw: st.DrawFn) -> dict[str, Any]:
    """A float or int dimension that is valid on a positive unbounded domain: log or linear, stepped or not."""
    kind = draw(st.sampled_from(["float", "int"]))
    if kind == "int":
        low = draw(st.integers(min_value=1, max_value=10**6))
        high = low + draw(
            st.one_of(st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=10**15 - low))
        )
        step = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=max(1, (high - low) // 3))))
    else:
        low = draw(_plausible_floats())
        high = low * draw(st.floats(min_value=1.5, max_value=1e3))
        step = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=40).map(lambda k: (high - low) / k)))
    dim: dict[str, Any] = {"type": kind, "low": low, "high": high}
    if step is not None:
        dim["step"] = step
    elif draw(st.booleans()):
        dim["log"] = True
    return dim


def dimensions(number: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """A dimension of any type: float and int (``log``, ``step``, bounds at the extremes), categorical, fixed, or
    an object that is no dimension at all. ``number`` draws the bounds (default: plausible and extreme ones)."""
    bound = number if number is not None else _bound()
    log = st.one_of(st.booleans(), hostile_values())
    step = st.one_of(_plausible_floats(), st.integers(min_value=1, max_value=1000), extreme_numbers(), hostile_values())
    numeric = st.fixed_dictionaries(
        {"type": st.sampled_from(["float", "int"]), "low": bound, "high": bound},
        optional={"log": log, "step": step},
    )
    categorical = st.fixed_dictionaries(
        {"type": st.just("categorical"), "choices": st.lists(st.one_of(bound, hostile_values()), max_size=5)}
    )
    fixed = st.fixed_dictionaries({"type": st.just("fixed"), "value": st.one_of(bound, hostile_values())})
    hostile = st.one_of(
        hostile_values(),
        st.dictionaries(
            st.sampled_from(["type", "low", "high", "log", "step", "choices", "value", "x"]), hostile_values()
        ),
    )
    return st.one_of(_valid_numeric(), numeric, categorical, fixed, hostile)


def _ordered_dimension(dim: Any) -> Any:
    """Swap low and high where both are numbers in the wrong order, so that more drawn dimensions are valid."""
    if not isinstance(dim, dict):
        return dim
    low, high = dim.get("low"), dim.get("high")
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if numbers and low > high:  # NaN compares false: left as drawn
        return {**dim, "low": high, "high": low}
    return dim


def spaces(optimizer: str = "fsgdm", *, with_optimizer: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A search space of ``optimizer``: up to three of its numeric hyperparameters (or an unknown name) as drawn
    dimensions. ``with_optimizer=False`` leaves the ``optimizer`` field out, as a job's ``space`` may."""
    names = [hp.name for hp in get_optimizer(optimizer).hyperparameters if hp.kind in ("float", "int")]
    params = st.dictionaries(
        st.one_of(st.sampled_from(names), st.sampled_from(["not_a_hyperparameter", ""])),
        dimensions().map(_ordered_dimension),
        max_size=3,
    )
    fields = {"params": params, **({"optimizer": st.just(optimizer)} if with_optimizer else {})}
    return st.fixed_dictionaries(fields)
