"""Calibration of the model zone on synthetic landscapes whose zone is known (zone_explorer.analysis.landscapes).

For each landscape, repetitions draw a new location (K0, or the c or v centre) and a new set of trials, at random
and by Optuna's TPE, and analyse the first 10, 20 and 60 trials (a study stopped there). The truth is computed
from the landscape itself (Monte Carlo over the box). What must hold (issue 14):

* where the band centre is defined (the K landscapes), the 95% interval of K covers it in >= 90% of the
  repetitions and the mean error is within 0.05 decade; the zone's volume interval covers too;
* ``not_a_level_set`` is flagged in >= 90% of the c-alone and v-alone cases, and rarely on a K bump;
* the membership probability bears out where the map claims something: nodes of the confident core (P >= 0.9) lie
  in the true zone, nodes given P <= 0.1 lie outside it, and the outline (P >= 0.5) takes in the zone;
* at most 8 finished trials give ``too_few_trials`` and no K;
* a zone cut by a bound is flagged ``zone_on_search_boundary``; a saturating metric ``saturated_metric``.

Everything is seeded, so the figures are the same on every run; the full study with more repetitions is
``benchmarks/zone_calibration.py``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from zone_explorer.analysis import MIN_TRIALS, model_zone
from zone_explorer.analysis.landscapes import (
    BOUNDS,
    LANDSCAPES,
    calibration_rows,
    location,
    membership_scores,
    sample_trials,
)
from zone_explorer.search import ZoneSampler

NS = (10, 20, 60)
REPS = {"random": 24, "tpe": 10, "zone": 10}
# the map is not scored here: a coarse one keeps the joint posterior draws small
FAST = {"grid_size": 8}


@functools.cache
def outcomes(landscape: str, sampler: str) -> dict[int, list[dict]]:
    """Per n, one row per repetition (see calibration_rows)."""
    out: dict[int, list[dict]] = {n: [] for n in NS}
    for rep in range(REPS[sampler]):
        chosen = ZoneSampler(seed=rep) if sampler == "zone" else sampler
        for n, row in calibration_rows(LANDSCAPES[landscape], chosen, rep, NS, **FAST).items():
            out[n].append(row)
    return out


def pooled(landscape: str, sampler: str, key: str, ns: tuple[int, ...] = NS) -> np.ndarray:
    rows = [r for n in ns for r in outcomes(landscape, sampler)[n] if key in r]
    return np.array([r[key] for r in rows], dtype=float)


SAMPLERS = ("random", "tpe")


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("landscape", ["bump", "saturating"])
def test_k_interval_covers_the_band_centre_without_bias(landscape, sampler):
    cover, err = pooled(landscape, sampler, "k_cover"), pooled(landscape, sampler, "k_err")
    assert cover.size >= 0.9 * len(NS) * REPS[sampler]
    assert cover.mean() >= 0.9, f"coverage {cover.mean():.2f}"
    assert abs(err.mean()) <= 0.05, f"bias {err.mean():+.3f} decade"


def test_k_interval_covers_on_a_lopsided_band_with_a_divergence_cliff():
    # half the trials past the cliff diverge: they enter as bounds on the zone, and the interval still covers
    cover, err = pooled("lopsided", "random", "k_cover"), pooled("lopsided", "random", "k_err")
    assert cover.mean() >= 0.9, f"coverage {cover.mean():.2f}"
    assert abs(err.mean()) <= 0.05, f"bias {err.mean():+.3f} decade"


def test_k_interval_covers_on_a_lopsided_band_under_tpe():
    # TPE learns nothing from failed trials: about 50 of its 60 trials diverge past the cliff, with a gap between
    # them and the last finished ones where the cliff could be anywhere. Pooled per cell (fit_model), they bound
    # the zone without drawing a confident fall across that gap.
    for n in (20, 60):
        cover, err = pooled("lopsided", "tpe", "k_cover", ns=(n,)), pooled("lopsided", "tpe", "k_err", ns=(n,))
        assert cover.mean() >= 0.9, f"TPE coverage at {n} trials {cover.mean():.2f}"
        assert abs(err.mean()) <= 0.05, f"TPE bias at {n} trials {err.mean():+.3f} decade"


def test_k_interval_covers_on_the_lopsided_band_under_the_zone_sampler():
    # the zone sampler keeps its trials on the band's edges, not past the cliff: the target holds again
    cover, err = pooled("lopsided", "zone", "k_cover", ns=(20, 60)), pooled("lopsided", "zone", "k_err", ns=(20, 60))
    assert cover.mean() >= 0.9, f"coverage {cover.mean():.2f}"
    assert abs(err.mean()) <= 0.05, f"bias {err.mean():+.3f} decade"


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("landscape", ["bump", "lopsided", "c_only", "v_only"])
def test_volume_interval_covers(landscape, sampler):
    cover, err = pooled(landscape, sampler, "v_cover"), pooled(landscape, sampler, "v_err")
    assert cover.mean() >= 0.85, f"coverage {cover.mean():.2f}"
    assert abs(err.mean()) <= 0.03, f"bias {err.mean():+.3f}"


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("landscape", ["bump", "lopsided", "c_only", "v_only", "saturating", "v_beyond"])
def test_membership_probability_bears_out_in_the_core_and_outside(landscape, sampler):
    # Pooled over the map nodes of every repetition at 20 and 60 trials. Between the core and the exterior P is only
    # roughly calibrated (README): nodes at P 0.3-0.7 lie in the zone in 0.43-0.80 of cases on the bands, more
    # often on the saturating metric and the zone cut by a bound; there P means "uncertain". At 10 trials the
    # lopsided band's core is inside in only 0.75 (random) to 0.92 (TPE) of cases, where most runs carry
    # too_few_trials: not asserted.
    m = membership_scores([r for n in (20, 60) for r in outcomes(landscape, sampler)[n]])
    assert m["nodes"] >= 0.9 * 2 * REPS[sampler] * FAST["grid_size"] ** 2
    assert m["core"] >= 0.9, f"confident core inside the zone: {m['core']:.2f}"
    assert m["exterior"] <= 0.05, f"P <= 0.1 yet inside the zone: {m['exterior']:.3f}"
    assert m["recall"] >= 0.85, f"outline recall {m['recall']:.2f}"


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("landscape", ["c_only", "v_only"])
def test_a_zone_of_c_or_v_alone_is_not_a_level_set(landscape, sampler):
    rows = [r for n in NS for r in outcomes(landscape, sampler)[n] if r["n_done"] > MIN_TRIALS]
    flagged = np.mean([r["status"] == "not_a_level_set" and "not_a_level_set" in r["codes"] for r in rows])
    assert flagged >= 0.9, f"flagged in {flagged:.0%}"


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_k_band_is_a_level_set(sampler):
    rows = [r for n in NS for r in outcomes("bump", sampler)[n]]
    assert np.mean([r["status"] == "not_a_level_set" for r in rows]) <= 0.1


@pytest.mark.parametrize("landscape", sorted(LANDSCAPES))
def test_eight_trials_are_too_few_for_k(landscape):
    ls = LANDSCAPES[landscape]
    for rep in range(3):
        table = sample_trials(ls, location(ls, rep), MIN_TRIALS, rep)
        z = model_zone(table, "c_scaling", "v_coefficient", bounds=BOUNDS, seed=rep, **FAST)
        assert z.k["status"] == "too_few_trials" and z.k["estimate"] is None and z.k["interval"] is None
        assert "too_few_trials" in {w["code"] for w in z.warnings}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_zone_cut_by_a_bound_is_flagged_and_a_band_across_the_box_is_not(sampler):
    cut = [r for n in (20, 60) for r in outcomes("v_beyond", sampler)[n]]
    assert np.mean(["zone_on_search_boundary" in r["codes"] for r in cut]) >= 0.8
    band = [r for n in (20, 60) for r in outcomes("bump", sampler)[n]]
    assert np.mean(["zone_on_search_boundary" in r["codes"] for r in band]) <= 0.1


def test_a_saturated_metric_is_flagged():
    rows = outcomes("saturating", "random")[60]
    assert np.mean(["saturated_metric" in r["codes"] for r in rows]) >= 0.9
    rows = outcomes("bump", "random")[60]
    assert not any("saturated_metric" in r["codes"] for r in rows)
