"""benchmarks/autosgm_claim.py's verdict on seed matrices whose truth is known (its engine part is the engine's)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.autosgm_claim import compare, zone_level


def test_zone_level_is_the_mean_of_the_best_fraction_and_failures_rank_last() -> None:
    m = np.array([[0.9, 0.8], [0.5, 0.5], [np.nan, np.nan], [0.7, 0.7]])
    assert zone_level(m, 0.25, 1.0) == pytest.approx(0.85)  # best 1 of 4 (by seed mean), higher is better
    assert zone_level(m, 0.5, 1.0) == pytest.approx((0.85 + 0.7) / 2)
    assert zone_level(m, 0.25, -1.0) == -0.5  # minimizing: the lowest mean, negated


def test_the_verdict_follows_a_known_gap_and_calls_a_tie_within_seed_noise() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.9, (8, 1)) + rng.normal(0, 0.01, (8, 5))
    better = base + 0.05
    r = compare(base, better, 0.25, 1.0, 500, 0)
    assert r["winner"] == "auto" and r["lo"] > 0 and abs(r["diff"] - 0.05) < 1e-12
    assert compare(better, base, 0.25, 1.0, 500, 0)["winner"] == "fixed"
    r = compare(base, base.copy(), 0.25, 1.0, 500, 0)
    assert r["winner"] == "tie" and r["lo"] == r["hi"] == 0.0
    assert compare(base, better, 0.25, -1.0, 500, 0)["winner"] == "fixed"  # minimizing: higher is worse
