"""The zone map's colour scale (Tukey's far fences, so one outlier cannot make the map one colour) and its diverged
trials (their own points, never a colour)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zone_explorer.analysis import Tolerance, TrialTable, zone_map
from zone_explorer.analysis._map import colour_scale
from zone_explorer.analysis._robust import FENCE_IQRS
from zone_explorer.core.zone_constant import zone_constant


def losses(n: int = 40, seed: int = 0) -> np.ndarray:
    """Validation log-losses between 0.1 and 2, as a healthy search leaves them."""
    return np.random.default_rng(seed).uniform(0.1, 2.0, n)


def test_one_diverged_but_finite_run_is_left_outside_the_colour_scale() -> None:
    v = np.r_[losses(), 6.5e6]
    scale = colour_scale(v)
    assert scale["low"] == pytest.approx(v[:-1].min())
    assert scale["high"] == pytest.approx(v[:-1].max())
    assert (scale["n_below"], scale["n_above"], scale["clipped"]) == (0, 1, True)
    assert scale["fence_iqrs"] == FENCE_IQRS


def test_few_results_with_an_outlier_are_still_clipped() -> None:
    # the 98th percentile of 10 values interpolates towards the outlier; the fences do not
    v = np.r_[losses(9, seed=3), 6.5e6]
    scale = colour_scale(v)
    assert scale["high"] < 2.0 and scale["n_above"] == 1


def test_values_without_outliers_span_the_whole_scale() -> None:
    v = losses(seed=1)
    assert colour_scale(v) == {
        "low": float(v.min()),
        "high": float(v.max()),
        "n_below": 0,
        "n_above": 0,
        "clipped": False,
        "fence_iqrs": FENCE_IQRS,
    }


def test_runs_mostly_at_chance_keep_the_few_good_ones_on_the_scale() -> None:
    # IQR 0: the fences would shut out every value but chance; the whole range is kept instead
    v = np.r_[np.full(30, 0.1), 0.8, 0.95]
    scale = colour_scale(v)
    assert (scale["low"], scale["high"], scale["clipped"]) == (0.1, 0.95, False)


def test_extreme_but_valid_values_give_a_finite_scale() -> None:
    scale = colour_scale(np.r_[losses(), 1.7e308, -1.7e308])
    assert (scale["n_below"], scale["n_above"]) == (1, 1)
    assert np.isfinite([scale["low"], scale["high"]]).all()


def test_an_empty_column_has_no_scale() -> None:
    assert colour_scale(np.array([np.nan]))["low"] is None


def fsgdm_table_with_diverged(n_div: int) -> TrialTable:
    rng = np.random.default_rng(5)
    c = 10 ** rng.uniform(-2, 0, 50)
    v = 10 ** rng.uniform(-1, 1.5, 50)
    values = np.r_[rng.uniform(0.1, 2.0, 49), 6.5e6]
    dc = np.r_[10 ** rng.uniform(-2, 0, n_div - 1), np.nan]  # the last lacks c: it cannot be placed
    dv = 10 ** rng.uniform(-1, 1.5, n_div)
    return TrialTable(
        params={"c_scaling": c, "v_coefficient": v},
        values=values,
        origin="explored",
        ids=np.arange(50),
        log_params=frozenset({"c_scaling", "v_coefficient"}),
        direction="minimize",
        diverged={"c_scaling": dc, "v_coefficient": dv},
    )


def test_the_map_carries_its_colour_scale_and_the_diverged_trials() -> None:
    table = fsgdm_table_with_diverged(4)
    zm = zone_map(table, "c_scaling", "v_coefficient", Tolerance.top(0.1), grid_size=20)
    d = json.loads(json.dumps(zm.to_dict(), allow_nan=False))
    assert d["colour_scale"]["n_above"] == 1 and d["colour_scale"]["high"] < 2.0
    div = d["diverged"]
    assert (div["n"], div["n_shown"]) == (4, 3)
    assert div["x"] == table.diverged["c_scaling"][:3].tolist()
    assert div["y"] == table.diverged["v_coefficient"][:3].tolist()


def test_diverged_trials_on_the_derived_k_axis() -> None:
    table = fsgdm_table_with_diverged(3)
    zm = zone_map(table, "K", "c_scaling", Tolerance.top(0.1), grid_size=20).to_dict()
    expected = zone_constant(table.diverged["c_scaling"][:2], table.diverged["v_coefficient"][:2])
    assert zm["diverged"]["x"] == pytest.approx(list(expected))


def test_diverged_trials_are_capped_and_absent_without_the_axes() -> None:
    table = fsgdm_table_with_diverged(30)
    zm = zone_map(table, "c_scaling", "v_coefficient", Tolerance.top(0.1), grid_size=20, max_points=5).to_dict()
    assert zm["diverged"]["n_shown"] == 5 and len(zm["diverged"]["x"]) == 5
    plain = TrialTable(
        params={"a": np.arange(5.0), "b": np.arange(5.0) ** 2},
        values=np.arange(5.0),
        origin="explored",
        ids=None,
    )
    assert zone_map(plain, "a", "b", Tolerance.top(0.2), grid_size=10).to_dict()["diverged"] == {
        "x": [],
        "y": [],
        "n": 0,
        "n_shown": 0,
    }
