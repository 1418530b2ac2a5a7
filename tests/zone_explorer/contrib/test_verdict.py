"""The verification verdict at its edges: ``verified`` when |measured - claimed| <= max(0.01, 5% of |claimed|,
2 seed standard deviations), else ``disputed``; each bound checked where it governs, at it and one float beyond,
with the rerun above and below the claim.

The numbers are chosen so that every "at" case is exactly at the bound in binary floating point (checked below),
so the test pins the rule's ``<=`` and not a rounding accident.
"""

from __future__ import annotations

import math

import pytest

from zone_explorer.contrib import verdict_for

#: (the bound that governs, claimed value, measured seed std, the tolerance it gives); the other two bounds are
#: smaller in each row, so the tolerance is that bound alone (a maximum, not a sum)
BOUNDS = [
    ("absolute 0.01", 0.0, 0.004, 0.01),  # 5% of 0 = 0, 2 std = 0.008
    ("absolute 0.01, no std", 0.0, None, 0.01),
    ("5% of the claim", 10.0, 0.2, 0.5),  # 2 std = 0.4
    ("5% of a negative claim (a loss)", -10.0, 0.0, 0.5),
    ("2 seed std", 0.5, 0.0625, 0.125),  # 5% of 0.5 = 0.025
]


@pytest.mark.parametrize("side", [+1, -1], ids=["above", "below"])
@pytest.mark.parametrize(("bound", "claimed", "std", "tolerance"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_at_the_bound_is_verified(bound: str, claimed: float, std: float | None, tolerance: float, side: int) -> None:
    measured = claimed + side * tolerance
    assert abs(measured - claimed) == tolerance  # exactly at the bound, no rounding either way
    assert verdict_for(claimed, measured, std) == ("verified", tolerance)


@pytest.mark.parametrize("side", [+1, -1], ids=["above", "below"])
@pytest.mark.parametrize(("bound", "claimed", "std", "tolerance"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_one_float_beyond_the_bound_is_disputed(
    bound: str, claimed: float, std: float | None, tolerance: float, side: int
) -> None:
    at = claimed + side * tolerance
    beyond = math.nextafter(at, side * math.inf)
    assert abs(beyond - claimed) > tolerance
    assert verdict_for(claimed, beyond, std) == ("disputed", tolerance)


@pytest.mark.parametrize(("bound", "claimed", "std", "tolerance"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_an_exact_rerun_is_verified(bound: str, claimed: float, std: float | None, tolerance: float) -> None:
    assert verdict_for(claimed, claimed, std) == ("verified", tolerance)
