"""Zone analysis, the trials' view: thresholds, maps, outlines, sampling, marginals, importance, bad input.

The zone on the model (membership, volume, K) is tested in test_model_zone.py and its calibration in
test_calibration.py.

Synthetic tables have a known zone; the Optuna tests use real studies (real samplers, real FrozenTrials), and one
test runs the real FSGDM optimizer (PyPI ``fsgdm``) on scikit-learn's bundled digits data.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from zone_explorer.analysis import (
    SEED_VALUES_ATTR,
    Tolerance,
    TrialTable,
    analyze,
    best_configs,
    contour_polygons,
    importance,
    ring_area,
    seed_noise_var,
    study_distributions,
    top_q_marginals,
    zone_map,
    zone_threshold,
)

LOGS = frozenset({"c_scaling", "v_coefficient", "lr"})


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def fsgdm_table(n=4000, k_star=31.0, seed=0, noise=0.01, direction="maximize", origin="explored"):
    """c, v, lr log-uniform; accuracy peaked along v (1 + 1/c) = k_star, mildly along lr = 10**-1.5."""
    rng = np.random.default_rng(seed)
    c = 10 ** rng.uniform(-3, 0, n)
    v = 10 ** rng.uniform(-1, 2, n)
    lr = 10 ** rng.uniform(-3, 0, n)
    k = v * (1 + 1 / c)
    acc = 0.9 - 0.3 * np.log10(k / k_star) ** 2 - 0.02 * (np.log10(lr) + 1.5) ** 2 + noise * rng.normal(size=n)
    values = acc if direction == "maximize" else 1.0 - acc
    return TrialTable(
        params={"c_scaling": c, "v_coefficient": v, "lr": lr},
        values=values,
        origin=np.full(n, origin),
        ids=np.arange(n),
        log_params=LOGS,
        direction=direction,
    )


def bump_table(n=3000, seed=0, noise=0.005, center=(0.03, 3.0), width=0.35, direction="maximize"):
    """A single round peak in (log10 c, log10 v) at ``center``; 'momentum' is a linear, irrelevant parameter."""
    rng = np.random.default_rng(seed)
    c = 10 ** rng.uniform(-3, 0, n)
    v = 10 ** rng.uniform(-1, 2, n)
    mom = rng.uniform(0.0, 0.99, n)
    d2 = (np.log10(c / center[0]) ** 2 + np.log10(v / center[1]) ** 2) / width**2
    acc = 0.5 + 0.4 * np.exp(-0.5 * d2) + noise * rng.normal(size=n)
    return TrialTable(
        params={"c_scaling": c, "v_coefficient": v, "momentum": mom},
        values=acc if direction == "maximize" else -acc,
        origin="explored",
        ids=np.arange(n),
        log_params=frozenset({"c_scaling", "v_coefficient"}),
        direction=direction,
    )


def inside(px, py, ring):
    """Even-odd ray casting (independent of the module's own helper)."""
    ring = np.asarray(ring, dtype=float)
    hit = False
    for (x0, y0), (x1, y1) in zip(ring, np.roll(ring, -1, axis=0)):
        if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


def in_outline(zm, px, py):
    """Whether (px, py) (natural units) lies in the zone outline; tested on the map's (log) axes."""
    tx = math.log10(px) if zm.x_log else px
    ty = math.log10(py) if zm.y_log else py

    def t(ring):
        r = np.asarray(ring, dtype=float)
        return np.column_stack([np.log10(r[:, 0]) if zm.x_log else r[:, 0], np.log10(r[:, 1]) if zm.y_log else r[:, 1]])

    for poly in zm.outline:
        if inside(tx, ty, t(poly["exterior"])) and not any(inside(tx, ty, t(h)) for h in poly["holes"]):
            return True
    return False


def nearest_node(zm, px, py):
    tx = np.log10(zm.x_grid) if zm.x_log else zm.x_grid
    ty = np.log10(zm.y_grid) if zm.y_log else zm.y_grid
    i = int(np.argmin(np.abs(tx - (math.log10(px) if zm.x_log else px))))
    j = int(np.argmin(np.abs(ty - (math.log10(py) if zm.y_log else py))))
    return j, i


# ---------------------------------------------------------------------------------------------------------
# zone_threshold
# ---------------------------------------------------------------------------------------------------------
class TestZoneThreshold:
    values = np.random.default_rng(3).permutation(np.arange(1.0, 101.0))

    def test_top_q_maximize_and_minimize(self):
        assert zone_threshold(self.values, "maximize", Tolerance("top_q", 0.1)) == 91.0
        assert zone_threshold(self.values, "minimize", Tolerance("top_q", 0.1)) == 10.0
        assert zone_threshold(self.values, "maximize", Tolerance("top_q", 1.0)) == 1.0  # q = 1: everything
        assert zone_threshold(self.values, "minimize", Tolerance("top_q", 0.001)) == 1.0  # at least the best

    def test_top_q_counts_ceil_q_n_exactly(self):
        # 0.1 * 30 is 3.0000000000000004 in floating point; the zone must hold 3 trials, not 4
        vals = np.arange(1.0, 31.0)
        assert zone_threshold(vals, "maximize", Tolerance("top_q", 0.1)) == 28.0
        assert zone_threshold(vals, "maximize", Tolerance("top_q", 0.11)) == 27.0  # ceil(3.3) = 4

    def test_delta_both_directions(self):
        assert zone_threshold(self.values, "maximize", Tolerance("delta", 2.5)) == 97.5
        assert zone_threshold(self.values, "minimize", Tolerance("delta", 2.5)) == 3.5
        assert zone_threshold(self.values, "maximize", Tolerance("delta", 0.0)) == 100.0

    def test_ties_are_in_the_zone(self):
        vals = np.array([5.0, 5.0, 5.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.5, 0.2])
        thr = zone_threshold(vals, "maximize", Tolerance("top_q", 0.1))
        assert thr == 5.0 and (vals >= thr).sum() == 3

    def test_tolerance_from_mapping(self):
        assert zone_threshold(self.values, "maximize", {"mode": "delta", "value": 1}) == 99.0


# ---------------------------------------------------------------------------------------------------------
# zone_map
# ---------------------------------------------------------------------------------------------------------
class TestZoneMap:
    def test_zone_contains_true_optimum_and_shrinks_as_tolerance_tightens(self):
        table = bump_table()
        center = (0.03, 3.0)
        for mode, levels in (("top_q", (0.3, 0.1, 0.03)), ("delta", (0.25, 0.1, 0.02))):
            masks = [zone_map(table, "c_scaling", "v_coefficient", Tolerance(mode, q)).zone_mask for q in levels]
            for loose, tight in zip(masks, masks[1:]):
                assert not (tight & ~loose).any(), "a tighter zone must lie inside a looser one"
                assert tight.sum() < loose.sum()
            zm = zone_map(table, "c_scaling", "v_coefficient", Tolerance(mode, levels[-1]))
            j, i = nearest_node(zm, *center)
            assert zm.zone_mask[j, i], f"{mode}: the true optimum must be in the zone"
            # and the zone is around it: every zone node within 2.5 bump widths of the centre
            tx, ty = np.meshgrid(np.log10(zm.x_grid / center[0]), np.log10(zm.y_grid / center[1]))
            assert np.hypot(tx, ty)[zm.zone_mask].max() < 2.5 * 0.35

    def test_surface_best_near_true_optimum(self):
        zm = zone_map(bump_table(), "c_scaling", "v_coefficient", Tolerance("top_q", 0.1))
        sb = zm.surface_best
        assert abs(math.log10(sb["x"] / 0.03)) < 0.15 and abs(math.log10(sb["y"] / 3.0)) < 0.15
        assert sb["value"] == pytest.approx(0.9, abs=0.05)

    def test_bandwidth_cross_validation(self):
        sharp = zone_map(bump_table(noise=0.002), "c_scaling", "v_coefficient", Tolerance("top_q", 0.1))
        scott = zone_map(bump_table(noise=0.002), "c_scaling", "v_coefficient", Tolerance("top_q", 0.1),
                         bandwidth="scott")  # fmt: skip
        assert sharp.bandwidth_factor < 1.0 and scott.bandwidth_factor == 1.0
        assert sharp.bandwidth[0] < scott.bandwidth[0]
        assert np.nanmax(sharp.surface) > np.nanmax(scott.surface) + 0.05  # Scott's rule flattens the peak
        rng = np.random.default_rng(1)
        noise = TrialTable({"a": rng.random(3000), "b": rng.random(3000)}, rng.normal(size=3000), "explored", None)
        assert zone_map(noise, "a", "b", Tolerance()).bandwidth_factor == 1.0  # nothing to resolve: smoothest

    def test_outline_encloses_best_point(self):
        for tol in (Tolerance("top_q", 0.05), Tolerance("delta", 0.05)):
            zm = zone_map(bump_table(noise=0.002), "c_scaling", "v_coefficient", tol)
            assert len(zm.outline) == 1 and zm.outline[0]["holes"] == []
            assert in_outline(zm, zm.best["x"], zm.best["y"])
            assert in_outline(zm, zm.surface_best["x"], zm.surface_best["y"])
            assert not in_outline(zm, 0.001, 100.0)  # a far corner
            ext = np.asarray(zm.outline[0]["exterior"])
            lo_x, hi_x = zm.x_range
            assert ext[:, 0].min() >= lo_x * (1 - 1e-9) and ext[:, 0].max() <= hi_x * (1 + 1e-9)

    def test_minimize_mirrors_maximize(self):
        a = zone_map(bump_table(direction="maximize"), "c_scaling", "v_coefficient", Tolerance("top_q", 0.1))
        b = zone_map(bump_table(direction="minimize"), "c_scaling", "v_coefficient", Tolerance("top_q", 0.1))
        assert (a.zone_mask == b.zone_mask).all()
        np.testing.assert_allclose(a.surface, -b.surface, equal_nan=True)
        assert b.threshold == -a.threshold and b.best["id"] == a.best["id"]

    def test_ring_shaped_zone_has_a_hole(self):
        rng = np.random.default_rng(5)
        n = 6000
        x, y = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
        val = -np.abs(np.hypot(x, y) - 0.6) + 0.002 * rng.normal(size=n)
        table = TrialTable(params={"x": x, "y": y}, values=val, origin="explored", ids=None)
        zm = zone_map(table, "x", "y", Tolerance("delta", 0.12))
        assert len(zm.outline) == 1 and len(zm.outline[0]["holes"]) == 1
        assert not in_outline(zm, 0.0, 0.0)  # the centre is in the hole
        for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            assert in_outline(zm, 0.6 * np.cos(angle), 0.6 * np.sin(angle))

    def test_log_axes_are_geometric_linear_axes_even(self):
        table = bump_table()
        zm = zone_map(table, "c_scaling", "momentum", Tolerance("top_q", 0.1), grid_size=25)
        assert zm.x_log and not zm.y_log
        ratios = zm.x_grid[1:] / zm.x_grid[:-1]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
        assert ratios[0] > 1.2
        np.testing.assert_allclose(np.diff(zm.y_grid), np.diff(zm.y_grid)[0], rtol=1e-9)
        c, m = table.params["c_scaling"], table.params["momentum"]
        assert zm.x_grid[0] == pytest.approx(c.min()) and zm.x_grid[-1] == pytest.approx(c.max())
        assert zm.y_range == pytest.approx((m.min(), m.max()))
        assert np.asarray(zm.surface).shape == (25, 25)

    def test_k_axis_maps_the_zone_as_a_band_at_31(self):
        table = fsgdm_table(n=6000)
        zm = zone_map(table, "K", "c_scaling", Tolerance("top_q", 0.05))
        assert zm.x_log and zm.x == "K"
        ratios = zm.x_grid[1:] / zm.x_grid[:-1]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
        k = table.params["v_coefficient"] * (1 + 1 / table.params["c_scaling"])
        assert zm.x_range == pytest.approx((k.min(), k.max()))
        cols = zm.zone_mask.any(axis=0)
        assert 31 / 3 < zm.x_grid[cols].min() < 31 < zm.x_grid[cols].max() < 31 * 3
        # most of the zone's nodes lie within a factor 1.6 of K = 31
        kk = np.broadcast_to(zm.x_grid, zm.zone_mask.shape)[zm.zone_mask]
        assert np.mean(np.abs(np.log10(kk / 31)) < math.log10(1.6)) > 0.8
        # and the same trials mapped over (c, v) are a long diagonal band, not a blob
        zcv = zone_map(table, "c_scaling", "v_coefficient", Tolerance("top_q", 0.05))
        assert zcv.zone_mask.any(axis=1).sum() > 30 and zcv.zone_mask.any(axis=0).sum() > 30

    def test_rows_missing_an_axis_are_dropped(self):
        table = fsgdm_table(n=500)
        lr = table.params["lr"].copy()
        lr[::5] = np.nan
        t2 = TrialTable({**table.params, "lr": lr}, table.values, table.origin, table.ids, LOGS, "maximize")
        zm = zone_map(t2, "lr", "c_scaling", Tolerance("top_q", 0.1))
        assert zm.n_used == 400 and zm.n_dropped == 100
        assert not set(zm.points["id"]) & set(range(0, 500, 5))

    def test_cells_far_from_every_trial_have_no_value(self):
        rng = np.random.default_rng(2)
        x = np.r_[rng.uniform(0, 0.2, 400), rng.uniform(0.8, 1.0, 400)]  # nothing in the middle
        y = rng.uniform(0, 1, 800)
        table = TrialTable({"x": x, "y": y}, x + y, "explored", None)
        zm = zone_map(table, "x", "y", Tolerance("top_q", 0.1), grid_size=50)
        middle = (zm.x_grid > 0.35) & (zm.x_grid < 0.65)
        assert np.isnan(zm.surface[:, middle]).all() and not zm.zone_mask[:, middle].any()
        assert np.isfinite(zm.surface[:, zm.x_grid < 0.2]).all()
        d = zm.to_dict()
        assert d["surface"][25][25] is None

    def test_saddles_resolved_by_the_cell_centre(self):
        for z in (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])):
            joined = contour_polygons(z, 0.5)  # centre 0.5 is in: one diagonal band
            assert len(joined) == 1 and ring_area(joined[0][0]) == pytest.approx(0.75)
            split = contour_polygons(z, 0.6)  # centre 0.5 is out: two corner triangles
            assert len(split) == 2 and sum(ring_area(e) for e, _ in split) == pytest.approx(2 * 0.5 * 0.4 * 0.4)

    def test_contours_match_contourpy(self):
        import contourpy
        from scipy.ndimage import gaussian_filter

        for seed, sigma in [(0, 1.5), (1, 1.5), (2, 0.7), (3, 0.0), (4, 0.0)]:  # raw noise: many saddles
            z = np.random.default_rng(seed).normal(size=(40, 50))
            z = gaussian_filter(z, sigma) if sigma else z
            ours = contour_polygons(z, 0.03)
            gen = contourpy.contour_generator(np.arange(50), np.arange(40), z, fill_type="OuterOffset")
            polys, offsets = gen.filled(0.03, 1e9)
            theirs_area = sum(ring_area(p[a:b]) for p, o in zip(polys, offsets) for a, b in zip(o[:-1], o[1:]))
            ours_area = sum(ring_area(e) + sum(ring_area(h) for h in hs) for e, hs in ours)
            assert len(ours) == len(polys)
            assert sum(len(hs) for _, hs in ours) == sum(len(o) - 2 for o in offsets)
            assert ours_area == pytest.approx(theirs_area, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------
# scatter downsampling
# ---------------------------------------------------------------------------------------------------------
class TestDownsampling:
    @pytest.fixture(scope="class")
    def big(self):
        return fsgdm_table(n=100_000, seed=11)

    def test_100k_rows_capped_best_first_members_kept(self, big):
        zm = zone_map(big, "c_scaling", "v_coefficient", Tolerance("top_q", 0.01), max_points=2000)
        pts = zm.points
        assert len(pts["id"]) == 2000 and all(len(col) == 2000 for col in pts.values())
        best_id = int(np.argmax(big.values))
        assert pts["id"][0] == best_id and zm.best["id"] == best_id
        members = set(np.flatnonzero(big.values >= zm.threshold).tolist())
        assert len(members) == 1000 and members <= set(pts["id"])  # every zone member kept
        assert sum(pts["in_zone"]) == 1000
        # the rest is spread over the map: every quadrant (in log space) gets points
        x, y = np.log10(pts["x"]), np.log10(pts["y"])
        out = ~np.asarray(pts["in_zone"])
        for qx in (x < -1.5, x >= -1.5):
            for qy in (y < 0.5, y >= 0.5):
                assert (out & qx & qy).sum() > 100

    def test_cap_below_zone_size_keeps_the_best(self, big):
        zm = zone_map(big, "c_scaling", "v_coefficient", Tolerance("top_q", 0.1), max_points=50)
        shown = np.asarray(zm.points["value"])
        np.testing.assert_array_equal(shown, np.sort(big.values)[::-1][:50])
        assert all(zm.points["in_zone"])

    def test_small_tables_show_every_point(self):
        t = fsgdm_table(n=300)
        zm = zone_map(t, "c_scaling", "v_coefficient", Tolerance("top_q", 0.1))
        assert sorted(zm.points["id"]) == list(range(300))


# ---------------------------------------------------------------------------------------------------------
# best_configs and marginals
# ---------------------------------------------------------------------------------------------------------
class TestBestAndMarginals:
    def test_best_configs(self):
        t = fsgdm_table(n=1000, direction="minimize")
        best = best_configs(t, k=5)
        order = np.argsort(t.values)[:5]
        assert [b["id"] for b in best] == order.tolist() and [b["rank"] for b in best] == [1, 2, 3, 4, 5]
        row = best[0]
        i = row["id"]
        assert row["value"] == t.values[i] and row["origin"] == "explored"
        assert row["params"] == {k: t.params[k][i] for k in ("c_scaling", "v_coefficient", "lr")}
        assert row["derived"]["K"] == pytest.approx(t.params["v_coefficient"][i] * (1 + 1 / t.params["c_scaling"][i]))
        assert len(best_configs(t, k=5000)) == 1000

    def test_best_configs_leave_out_missing_params(self):
        t = TrialTable({"a": [1.0, np.nan], "b": [np.nan, 2.0]}, [0.5, 0.7], ["explored", "contributed"], ["t1", "c9"])
        best = best_configs(t, k=2)
        assert best[0] == {"rank": 1, "id": "c9", "origin": "contributed", "value": 0.7, "params": {"b": 2.0}}
        assert best[1]["params"] == {"a": 1.0}

    def test_marginal_counts(self):
        t = fsgdm_table(n=2000)
        m = top_q_marginals(t, q=0.1, bins=20)
        assert set(m) == {"c_scaling", "v_coefficient", "lr", "K"} and m["K"]["derived"]
        for d in m.values():
            assert len(d["edges"]) == 21 and len(d["all_counts"]) == len(d["top_counts"]) == 20
            assert sum(d["all_counts"]) == d["n_all"] == 2000
            assert sum(d["top_counts"]) == d["n_top"] == 200  # ceil(0.1 * 2000), no ties
            assert all(a >= b for a, b in zip(d["all_counts"], d["top_counts"]))
            e = np.asarray(d["edges"])
            if d["log"]:
                np.testing.assert_allclose(e[1:] / e[:-1], e[1] / e[0], rtol=1e-9)
        # the top trials concentrate around K = 31
        k = m["K"]
        peak = int(np.nanargmax(np.array(k["top_share"], dtype=float)))
        assert k["edges"][peak] < 31 * 1.5 and k["edges"][peak + 1] > 31 / 1.5

    def test_marginals_with_missing_params_and_ties(self):
        vals = np.array([3.0, 3.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0])
        a = np.array([1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10], dtype=float)
        t = TrialTable({"a": a}, vals, "explored", None)
        d = top_q_marginals(t, q=0.1, bins=3)["a"]
        assert d["n_all"] == 9 and sum(d["all_counts"]) == 9
        assert d["n_top"] == 2 and sum(d["top_counts"]) == 2  # three tied for best, one lacks 'a'


# ---------------------------------------------------------------------------------------------------------
# importance (real Optuna studies)
# ---------------------------------------------------------------------------------------------------------
def one_param_study(n=300, seed=0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        trial.suggest_float("noise_a", 1e-4, 1.0, log=True)
        trial.suggest_int("noise_b", 1, 64)
        trial.suggest_categorical("opt", ["sgd", "fsgdm"])
        return (x - 0.3) ** 2

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="minimize")
    study.optimize(objective, n_trials=n)
    return study


class TestImportance:
    @pytest.fixture(scope="class")
    def study(self):
        return one_param_study()

    @pytest.mark.parametrize("evaluator", ["ped-anova", "fanova", "mean-decrease-impurity"])
    def test_only_the_relevant_parameter_ranks_first(self, study, evaluator):
        table = TrialTable.from_study(study)
        assert set(table.params) == {"x", "noise_a", "noise_b"} and table.log_params == {"noise_a"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = importance(table, evaluator, study_distributions(study))
        assert list(imp)[0] == "x" and set(imp) == {"x", "noise_a", "noise_b"}
        assert imp["x"] > 0.5 and sum(imp.values()) == pytest.approx(1.0)

    def test_distributions_inferred_subsampled_and_categoricals_ignored(self, study):
        import optuna

        table = TrialTable.from_study(study)
        dists = {**study_distributions(study), "opt": optuna.distributions.CategoricalDistribution(["sgd", "fsgdm"])}
        imp = importance(table, "ped-anova", dists, max_trials=150)
        assert list(imp)[0] == "x"
        assert list(importance(table))[0] == "x"  # distributions inferred from the table

    def test_fsgdm_table_irrelevant_lr_ranks_last(self):
        t = fsgdm_table(n=3000)
        k = t.params["v_coefficient"] * (1 + 1 / t.params["c_scaling"])
        t.values = 0.9 - 0.3 * np.log10(k / 31) ** 2  # the metric now ignores lr
        imp = importance(t)
        assert list(imp)[-1] == "lr" and imp["lr"] < 0.05

    def test_bad_distributions(self, study):
        import optuna

        table = TrialTable.from_study(study)
        with pytest.raises(ValueError, match=r"distributions\['x'\]"):
            importance(table, "ped-anova", {"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
        with pytest.raises(ValueError, match="evaluator"):
            importance(table, "shap")
        with pytest.raises(ValueError, match="params"):
            importance(table, params=["nope"])


# ---------------------------------------------------------------------------------------------------------
# analyze and JSON
# ---------------------------------------------------------------------------------------------------------
class TestAnalyze:
    def test_bundle_is_json_ready(self):
        t = fsgdm_table(n=3000, seed=8)
        lr = t.params["lr"].copy()
        lr[:50] = np.nan  # contributions that did not report lr
        origin = np.where(np.arange(3000) < 50, "contributed", "explored")
        ids = np.array([f"c{i}" if i < 50 else i for i in range(3000)], dtype=object)
        t = TrialTable({**t.params, "lr": lr}, t.values, origin, ids, LOGS, "maximize")
        res = analyze(t, "K", "lr", Tolerance("top_q", 0.1), max_points=500, k=5, distributions={})
        d = res.to_dict()
        text = json.dumps(d, allow_nan=False)  # no NaN anywhere
        back = json.loads(text)
        assert back["zone_map"]["n_dropped"] == 50 and len(back["zone_map"]["points"]["id"]) == 500
        assert len(back["best_configs"]) == 5 and set(back["marginals"]) == {"c_scaling", "v_coefficient", "lr", "K"}
        assert set(back["importance"]) == {"c_scaling", "v_coefficient", "lr"}
        k = back["k"]
        assert k["status"] == "ok" and k["interval"][0] < 31 < k["interval"][1]
        assert back["zone_map"]["x"] == "K" and back["zone_map"]["x_log"] is True
        ids_out = back["zone_map"]["points"]["id"]
        assert all(isinstance(i, (int, str)) for i in ids_out)

    def test_optional_parts(self):
        b = bump_table(n=500)
        t = TrialTable({"lr": b.params["c_scaling"], "momentum": b.params["momentum"]}, b.values, "verified", None,
                       frozenset({"lr"}))  # fmt: skip
        res = analyze(t, "lr", "momentum", Tolerance("delta", 0.1))
        assert res.importance is None and res.model_zone.k is None and res.q == 0.1
        assert res.model_zone.zone["delta"] == 0.1  # a delta tolerance is also the model zone's delta
        json.dumps(res.to_dict(), allow_nan=False)

    @pytest.mark.slow
    def test_real_fsgdm_study(self):
        """A real Optuna study of the real FSGDM optimizer (PyPI fsgdm 1.0) training softmax regression on
        scikit-learn's bundled digits data; the analysis must agree with Optuna about what was best."""
        import fsgdm
        import optuna
        import torch
        from sklearn.datasets import load_digits

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        X, y = load_digits(return_X_y=True)
        X = torch.tensor(X / 16.0, dtype=torch.float32)
        y = torch.tensor(y)
        Xtr, ytr, Xva, yva = X[:1200], y[:1200], X[1200:], y[1200:]
        steps = 30

        def objective(trial):
            c = trial.suggest_float("c_scaling", 1e-3, 1.0, log=True)
            v = trial.suggest_float("v_coefficient", 0.1, 100.0, log=True)
            torch.manual_seed(0)
            model = torch.nn.Linear(64, 10)
            opt = fsgdm.FSGDM(model.parameters(), lr=0.05, weight_decay=0.0, c_scaling=c, v_coefficient=v,
                              n_stages=3, sigma=steps)  # fmt: skip
            for _ in range(steps):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(Xtr), ytr)
                loss.backward()
                opt.step()
            with torch.no_grad():
                val = torch.nn.functional.cross_entropy(model(Xva), yva).item()
            return val if math.isfinite(val) else 1e3

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="minimize")
        study.optimize(objective, n_trials=40)
        table = TrialTable.from_study(study)
        assert table.direction == "minimize" and table.log_params == {"c_scaling", "v_coefficient"}
        res = analyze(table, "c_scaling", "v_coefficient", Tolerance("top_q", 0.25),
                      distributions=study_distributions(study))  # fmt: skip
        best = res.best_configs[0]
        assert best["id"] == study.best_trial.number and best["value"] == study.best_value
        assert best["params"] == study.best_params
        assert res.zone_map.best["id"] == study.best_trial.number
        assert study.best_trial.number in res.zone_map.points["id"]
        k = res.model_zone.k
        assert k["status"] in ("ok", "not_a_level_set", "on_search_boundary")
        assert k["interval"][0] <= k["estimate"] <= k["interval"][1]
        json.dumps(res.to_dict(), allow_nan=False)


class TestSeedNoise:
    def test_the_variance_of_the_mean_over_seeds(self):
        assert seed_noise_var([0.5, 0.25]) == pytest.approx((0.5 - 0.25) ** 2 / 2 / 2)
        assert seed_noise_var((1, 2, 3)) == pytest.approx(1.0 / 3)

    @pytest.mark.parametrize("attr", [None, [], [0.9], "0.9,0.8", [0.9, "0.8"], [0.9, math.nan], [True, False], {}])
    def test_no_noise_unless_two_finite_numbers(self, attr):
        assert math.isnan(seed_noise_var(attr))

    def test_a_study_whose_trials_store_their_seeds(self):
        import optuna

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for i in range(4):
            trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
            seeds = [0.1 * i, 0.1 * i + 0.02] if i else [0.0]  # the first trial ran one seed
            trial.set_user_attr(SEED_VALUES_ATTR, seeds)
            study.tell(trial, float(np.mean(seeds)))
        noise = TrialTable.from_study(study).noise_var
        assert math.isnan(noise[0]) and noise[1:] == pytest.approx([0.02**2 / 4] * 3)
        plain = optuna.create_study()
        plain.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        assert TrialTable.from_study(plain).noise_var is None


# ---------------------------------------------------------------------------------------------------------
# bad input: ValueError naming the argument
# ---------------------------------------------------------------------------------------------------------
class TestBadInput:
    table = fsgdm_table(n=200)

    def empty(self):
        return TrialTable({"c_scaling": []}, [], [], [], frozenset({"c_scaling"}), "maximize")

    def test_unknown_axis(self):
        with pytest.raises(ValueError, match=r"^x: unknown axis 'c_scalng'.*did you mean 'c_scaling'"):
            zone_map(self.table, "c_scalng", "lr", Tolerance())
        with pytest.raises(ValueError, match=r"^y: unknown axis 'beta'"):
            zone_map(self.table, "lr", "beta", Tolerance())
        no_k = TrialTable({"lr": [0.1, 0.2]}, [1.0, 2.0], "explored", None, frozenset({"lr"}))
        with pytest.raises(ValueError, match=r"^x: unknown axis 'K'"):
            zone_map(no_k, "K", "lr", Tolerance())
        with pytest.raises(ValueError, match="^x must be a parameter name"):
            zone_map(self.table, 3, "lr", Tolerance())

    def test_same_axis(self):
        with pytest.raises(ValueError, match="x and y must be different"):
            zone_map(self.table, "lr", "lr", Tolerance())

    @pytest.mark.parametrize("q", [0.0, -0.1, 1.5, float("nan"), float("inf")])
    def test_q_outside_unit_interval(self, q):
        with pytest.raises(ValueError, match=r"tol\.value \(top_q"):
            Tolerance("top_q", q)
        with pytest.raises(ValueError, match="^q must be a fraction"):
            top_q_marginals(self.table, q=q)
        with pytest.raises(ValueError, match="^q must be a fraction"):
            analyze(self.table, "lr", "c_scaling", Tolerance(), q=q)

    def test_negative_delta_and_bad_mode(self):
        with pytest.raises(ValueError, match=r"tol\.value \(delta\) must be >= 0"):
            Tolerance("delta", -0.01)
        with pytest.raises(ValueError, match=r"tol\.mode"):
            Tolerance("best", 0.1)
        with pytest.raises(ValueError, match=r"tol\.value \(delta\) must be >= 0"):
            zone_threshold([1.0, 2.0], "maximize", {"mode": "delta", "value": -1})
        with pytest.raises(ValueError, match="^tol must be a Tolerance"):
            zone_map(self.table, "lr", "c_scaling", 0.1)

    def test_empty_table(self):
        t = self.empty()
        for call in (
            lambda: zone_map(t, "c_scaling", "K", Tolerance()),
            lambda: analyze(t, "c_scaling", "K", Tolerance()),
            lambda: best_configs(t),
            lambda: top_q_marginals(t),
            lambda: importance(t),
        ):
            with pytest.raises(ValueError, match="^table is empty"):
                call()
        with pytest.raises(ValueError, match="^values is empty"):
            zone_threshold([], "maximize", Tolerance())

    def test_mismatched_lengths(self):
        with pytest.raises(ValueError, match=r"^params\['a'\] has 2 rows but values has 3"):
            TrialTable({"a": [1.0, 2.0]}, [1.0, 2.0, 3.0], "explored", None)
        with pytest.raises(ValueError, match="^origin has 2 rows"):
            TrialTable({"a": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0], ["explored"] * 2, None)
        with pytest.raises(ValueError, match="^ids has 4 rows"):
            TrialTable({"a": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0], "explored", [1, 2, 3, 4])

    def test_other_arguments(self):
        with pytest.raises(ValueError, match="^direction must be"):
            TrialTable({"a": [1.0]}, [1.0], "explored", None, frozenset(), "max")
        with pytest.raises(ValueError, match="^direction must be"):
            zone_threshold([1.0], "up", Tolerance())
        with pytest.raises(ValueError, match="^origin must be one of"):
            TrialTable({"a": [1.0]}, [1.0], "guessed", None)
        with pytest.raises(ValueError, match=r"^values must be finite"):
            TrialTable({"a": [1.0, 2.0]}, [1.0, np.nan], "explored", None)
        with pytest.raises(ValueError, match=r"^params\['a'\] is a log-scale parameter"):
            TrialTable({"a": [1.0, 0.0]}, [1.0, 2.0], "explored", None, frozenset({"a"}))
        with pytest.raises(ValueError, match="^grid_size must be"):
            zone_map(self.table, "lr", "c_scaling", Tolerance(), grid_size=2)
        with pytest.raises(ValueError, match="^max_points must be"):
            zone_map(self.table, "lr", "c_scaling", Tolerance(), max_points=0)
        with pytest.raises(ValueError, match="^k must be"):
            best_configs(self.table, k=0)
        with pytest.raises(ValueError, match="^bins must be"):
            top_q_marginals(self.table, bins=0)
