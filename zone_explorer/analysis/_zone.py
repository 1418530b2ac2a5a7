"""The zone on the model: membership probability, outline and core, volume, FSGDM's K, diagnostics, warnings.

**Definition.** The zone is the set of configurations whose expected metric is within ``delta`` of the best
expected metric in the searched box. Both the metric and its best are unknown; the model's joint posterior draws
(:meth:`MetricModel.sample`) over one set of points - the map's nodes inside the box and a scrambled Sobol sample
of the whole box - each give one plausible zone: ``f_s(x) >= f_s(x_best) - delta``, where ``x_best`` is where the
model's mean peaks (each draw's own maximum is biased upwards by noise: see ``model_zone``). Everything reported is
a summary of those draws:

* ``membership`` - P(in zone) at each map node, the share of draws where the node is in; ``outline`` is its 0.5
  contour and ``core`` its 0.9 contour.
* ``volume_fraction`` - the share of the Sobol points (uniform in the box, log-scaled for log parameters) inside,
  per draw; the estimate is the median draw, the interval the central ``confidence`` range.
* FSGDM's ``k`` - per draw, the centroid of log10 K over the zone's Sobol points (the band's K centre); the
  ridge K*(c) is the same centroid within bins of log c, and the tilt the least-squares slope of log K on log c
  over the zone. ``lr_times_k`` is the effective gain (K scales as 1/lr): lr times K for a fixed lr, else the
  centroid of log10(lr K).

**Level-set diagnostic.** How much of the metric's variation one axis explains alone: the leave-one-out R^2 of a
one-dimensional kernel smoother (bandwidth chosen by leave-one-out) of the model's (warped) mean at the Sobol
points, on log K, log c and log v. The points are uniform in the box, so where a sampler put its trials does not
weigh in. When K explains clearly more than c or v alone, the zone is a K level set; otherwise K's status is
``not_a_level_set``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import qmc

from zone_explorer.analysis._contour import contour_polygons
from zone_explorer.analysis._model import MetricModel, SearchBox, fit_model
from zone_explorer.analysis._robust import tukey_fences
from zone_explorer.analysis._table import (
    C_SCALING,
    DERIVED_K,
    V_COEFFICIENT,
    TrialTable,
    check_int,
    float_list,
    float_or_none,
    sign_of,
    to_natural,
)
from zone_explorer.core.zone_constant import REFERENCE_ZONE, ReferenceZone, zone_constant

__all__ = [
    "MIN_TRIALS",
    "WARNING_CODES",
    "KStatus",
    "ModelZone",
    "default_delta",
    "level_set_explained",
    "model_zone",
    "search_box",
]

#: at most this many finished trials is too few for a zone or a K worth reporting
MIN_TRIALS = 8
#: codes of the warnings a zone can carry (the CLI, the API and the pages show them)
WARNING_CODES = (
    "too_few_trials",
    "zone_on_search_boundary",
    "saturated_metric",
    "not_a_level_set",
    "mixed_budgets",
    "high_noise",
)
#: K is a level-set constant only when log K explains this much more of the metric than log c or log v alone
LEVEL_SET_MARGIN = 0.1
#: the modelled best closer than this (share of a parameter's range) to a bound: the zone may extend beyond it
BOUNDARY_SHARE = 0.02
#: the slab along a bound where a zone crowding against it is measured (share of the range), and how crowded
EDGE_SLAB = 0.05
EDGE_CROWDING = 2.5
#: the metric's noise (a std at the zone's edge) above this share of delta blurs the edge: ``high_noise``. On the
#: project's 8-seed digits-cnn grid, one seed's complete 24 x 24 grid found the other seeds' band with median
#: precision 0.52, 0.81, 0.91 and 0.93 at delta 0.01, 0.02, 0.03 and 0.05, which are 1.1, 1.6, 2.3 and 2.6 x the
#: seeds' std at the band's edge; on noisy-quadratic with 0.55 at 2.5 x (``benchmarks/zone_accuracy.py``, its
#: reproducibility line). Below about 3 x the noise, single-seed trials, however placed, do not show the band
NOISE_PER_DELTA = 1.0 / 3.0
#: the learning-rate parameter (K scales as 1/lr)
LR = "lr"


class KStatus:
    OK = "ok"
    NOT_A_LEVEL_SET = "not_a_level_set"
    TOO_FEW_TRIALS = "too_few_trials"
    ON_SEARCH_BOUNDARY = "on_search_boundary"


@dataclass
class ModelZone:
    """The model-based zone and everything derived from it (``to_dict`` gives the JSON of the zone answers)."""

    zone: dict[str, Any] | None
    k: dict[str, Any] | None
    diagnostics: dict[str, Any]
    warnings: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "k": self.k, "diagnostics": self.diagnostics, "warnings": self.warnings}


# ---------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------
def default_delta(values: np.ndarray, direction: str) -> float:
    """The zone's default tolerance in metric units: 0.01 for a fraction to maximise (accuracy), else a tenth of
    the gap between the best and the median trial."""
    if direction == "maximize" and values.min() >= 0.0 and values.max() <= 1.0:
        return 0.01
    g = sign_of(direction) * values
    gap = float(g.max() - np.median(g))
    return 0.1 * gap if gap > 0 else max(1e-12, 0.01 * abs(float(g.max())))


def search_box(
    table: TrialTable, bounds: Mapping[str, tuple[float, float]] | None, exclude: Collection[str] = ()
) -> SearchBox:
    """The searched parameters (the table's varying columns, less ``exclude``) with their bounds: ``bounds`` where
    given (the study's distributions), else the trials' own span."""
    names, low, high, log = [], [], [], []
    for name, col in table.params.items():
        if name in exclude or name == DERIVED_K:
            continue
        finite = col[np.isfinite(col)]
        if finite.size == 0:
            continue
        lo, hi = float(finite.min()), float(finite.max())
        if bounds and name in bounds:
            blo, bhi = (float(b) for b in bounds[name])
            lo, hi = min(lo, blo), max(hi, bhi)  # a trial outside the declared range widens it
        if not hi > lo:
            continue
        names.append(name)
        low.append(lo)
        high.append(hi)
        log.append(table.is_log(name))
    return SearchBox(tuple(names), np.array(low), np.array(high), tuple(log))


def _confidence(confidence: Any) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < float(confidence) < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(confidence)


# ---------------------------------------------------------------------------------------------------------
# level-set diagnostic
# ---------------------------------------------------------------------------------------------------------
def _loo_r2(t: np.ndarray, y: np.ndarray, rng: np.random.Generator, max_n: int = 600) -> float:
    """Leave-one-out R^2 of a Gaussian kernel smoother of y on t (the best of a few bandwidths)."""
    if t.size > max_n:
        keep = rng.choice(t.size, max_n, replace=False)
        t, y = t[keep], y[keep]
    sst = float(np.sum((y - y.mean()) ** 2))
    span = float(t.max() - t.min())
    if sst <= 0 or span <= 0 or t.size < 4:
        return math.nan
    d2 = (t[:, None] - t[None, :]) ** 2
    best = -math.inf
    for frac in (0.03, 0.06, 0.12, 0.25):
        w = np.exp(-0.5 * d2 / (frac * span) ** 2)
        np.fill_diagonal(w, 0.0)
        s = w.sum(axis=1)
        pred = np.where(s > 1e-12, (w @ y) / np.maximum(s, 1e-300), y.mean())
        best = max(best, 1.0 - float(np.sum((y - pred) ** 2)) / sst)
    return best


def level_set_explained(
    c: np.ndarray, v: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> dict[str, float | None]:
    """Leave-one-out R^2 of the metric (warped) explained by log K, log c and log v alone."""
    k = zone_constant(c, v)
    out: dict[str, float | None] = {}
    for name, col in ((DERIVED_K, k), (C_SCALING, c), (V_COEFFICIENT, v)):
        out[name] = float_or_none(_loo_r2(np.log10(col), y, rng))
    return out


# ---------------------------------------------------------------------------------------------------------
# summaries of draws
# ---------------------------------------------------------------------------------------------------------
def _summary(draws: np.ndarray, confidence: float, log: bool = False) -> dict[str, Any] | None:
    """Median and central interval of per-draw values (NaN draws left out); ``log``: values are log10."""
    d = draws[np.isfinite(draws)]
    if d.size < max(10, 0.5 * draws.size):
        return None
    a = (1.0 - confidence) / 2.0
    lo, med, hi = np.quantile(d, [a, 0.5, 1.0 - a])
    conv = (lambda t: float(10.0**t)) if log else float
    return {"estimate": conv(med), "interval": [conv(lo), conv(hi)]}


def _centroids(inside: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per draw, the mean of ``t`` over the points inside (NaN for a draw with none), plus the quadrature error.

    The points are a finite sample of the box, the same for every draw: their centroid differs from the zone's
    by about sd(t in zone) / sqrt(points in zone). Each draw gets a normal error of that size, so that the interval
    holds the quadrature's error as well as the model's (it matters when the trials leave little doubt).
    """
    n_in = inside.sum(axis=1)
    w = inside.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * t[None, :]).sum(axis=1) / n_in
        var = (w * (t[None, :] - mean[:, None]) ** 2).sum(axis=1) / n_in
        out: np.ndarray = np.where(n_in > 0, mean + rng.standard_normal(n_in.size) * np.sqrt(var / n_in), np.nan)
    return out


def _slopes(inside: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Per draw, the least-squares slope of ty on tx over the points inside."""
    w = inside.astype(np.float64)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * tx).sum(axis=1) / n
        my = (w * ty).sum(axis=1) / n
        sxx = (w * (tx[None, :] - mx[:, None]) ** 2).sum(axis=1)
        sxy = (w * (tx[None, :] - mx[:, None]) * (ty[None, :] - my[:, None])).sum(axis=1)
        out: np.ndarray = np.where((n >= 3) & (sxx > 1e-12), sxy / sxx, np.nan)
    return out


# ---------------------------------------------------------------------------------------------------------
# map geometry
# ---------------------------------------------------------------------------------------------------------
def _axis_range(box: SearchBox, name: str) -> tuple[float, float, bool]:
    """(low, high) of a map axis in its transformed units (log10 for log axes) and whether it is log."""
    if name == DERIVED_K:
        lo, hi = box.k_bounds()
        return lo, hi, True
    i = box.names.index(name)
    lo, hi = box.t_bounds(i)
    return lo, hi, box.log[i]


def _map_columns(
    box: SearchBox, x: str, y: str, xs: np.ndarray, ys: np.ndarray, base: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Parameter columns of the map's nodes: x and y set (K solved for v, or for c), the rest at ``base``."""
    m = xs.size
    cols = {name: np.full(m, float(base[name])) for name in box.names}
    k = None
    for name, val in ((x, xs), (y, ys)):
        if name == DERIVED_K:
            k = val
        else:
            cols[name] = val
    if k is not None:
        other = y if x == DERIVED_K else x
        if other == V_COEFFICIENT:
            v = cols[V_COEFFICIENT]
            with np.errstate(divide="ignore", invalid="ignore"):
                cols[C_SCALING] = np.where(k > v, v / (k - v), np.nan)
        else:  # c given (by the map or the base point): v follows
            cols[V_COEFFICIENT] = k / zone_constant(cols[C_SCALING], np.ones(m))
    return cols


# ---------------------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------------------
def model_zone(
    table: TrialTable,
    x: str,
    y: str,
    *,
    delta: float | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    budget_params: Collection[str] = (),
    reference: ReferenceZone | None = REFERENCE_ZONE,
    grid_size: int = 28,
    n_volume: int = 512,
    n_samples: int = 256,
    confidence: float = 0.95,
    seed: int = 0,
) -> ModelZone:
    """Fit the metric model to the table's trials and derive the zone over the searched box (module docstring).

    ``x``, ``y``: the map's axes (searched parameters, or ``"K"``). ``delta``: the zone's tolerance in metric units
    (default :func:`default_delta`). ``bounds``: the searched ranges per parameter (the study's distributions); the
    trials' span where missing. ``budget_params``: parameters that set a trial's budget (epochs, run length): they
    are not axes, and a table where they vary gets ``mixed_budgets``. ``reference``: the published zone shown
    beside FSGDM's K (with its lr). A table with at most :data:`MIN_TRIALS` finished trials gets no K and the
    warning ``too_few_trials``.
    """
    table.require_rows("table")
    confidence = _confidence(confidence)
    grid_size = check_int(grid_size, "grid_size", 4, 200)
    n_volume = check_int(n_volume, "n_volume", 16, 8192)
    n_samples = check_int(n_samples, "n_samples", 16, 4096)
    seed = check_int(seed, "seed", 0)
    if delta is None:
        delta_source = "default"
        delta = default_delta(table.values, table.direction)
    else:
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not (0 <= delta < math.inf):
            raise ValueError(f"delta must be a finite number >= 0 (metric units), got {delta!r}")
        delta, delta_source = float(delta), "given"

    warns: list[dict[str, str]] = []

    def warn(code: str, message: str) -> None:
        warns.append({"code": code, "message": message})

    rng = np.random.default_rng(seed)
    box = search_box(table, bounds, exclude=budget_params)
    for axis, name in (("x", x), ("y", y)):
        if name != DERIVED_K and name not in box.names:
            raise ValueError(f"{axis}: {name!r} is not a searched parameter; searched: {', '.join(box.names)}")
        if name == DERIVED_K and not box.has_k:
            raise ValueError(f"{axis}: 'K' needs both {C_SCALING} and {V_COEFFICIENT} to be searched")
    if x == y:
        raise ValueError(f"x and y must be different axes, both are {x!r}")

    mixed = [p for p in budget_params if p in table.params]
    if mixed:
        warn(
            "mixed_budgets",
            f"trials ran with different budgets ({', '.join(mixed)} vary); a longer run scores better, so the zone "
            "mixes budgets: compare trials of one budget",
        )

    # rows that have every searched parameter
    cols_all = {name: table.params[name] for name in box.names}
    ok = np.all([np.isfinite(c) for c in cols_all.values()], axis=0)
    cols = {name: c[ok] for name, c in cols_all.items()}
    values = table.values[ok]
    n = int(values.size)
    g = sign_of(table.direction) * values
    noise_var = None if table.noise_var is None else table.noise_var[ok]
    diverged = None
    if table.diverged and all(name in table.diverged for name in box.names):
        diverged = {name: table.diverged[name] for name in box.names}
    # a finite run far worse than the rest (a diverged log-loss of 6.5e6 among values near 1) says "bad here" as a
    # diverged run does, not how bad: taken as measured it would set the warp's scale alone and flatten the model.
    # A fraction in [0, 1] is exempt: its warp's scale is fixed by the bound, and a cliff down to chance is the
    # landscape, not an outlier (the lopsided band's volume is biased when its cliff enters as diverged)
    fraction = n > 0 and g.min() >= 0.0 and g.max() <= 1.0
    far_bad = np.zeros(n, dtype=bool) if fraction else g < tukey_fences(g)[0]
    n_far = int(far_bad.sum())
    if not 0 < n_far <= n - 3:
        n_far = 0
    if n_far:
        diverged = {
            name: np.concatenate([cols[name][far_bad], diverged[name] if diverged else np.empty(0)])
            for name in box.names
        }
        cols = {name: c[~far_bad] for name, c in cols.items()}
        g, values = g[~far_bad], values[~far_bad]
        noise_var = None if noise_var is None else noise_var[~far_bad]
        n -= n_far

    diagnostics: dict[str, Any] = {
        "level_set": None,
        "noise": None,
        "n_diverged": 0,
        "n_used": n,
        "n_far_worse": n_far,  # finite runs beyond the far fence, taken as diverged
    }
    if n < 3:
        warn(
            "too_few_trials",
            f"{n} finished trial(s) have every searched parameter; a zone needs more than {MIN_TRIALS}",
        )
        return ModelZone(None, _k_absent(box, table, reference, KStatus.TOO_FEW_TRIALS), diagnostics, warns)
    if n <= MIN_TRIALS:
        warn(
            "too_few_trials",
            f"only {n} finished trials: the zone is a rough sketch and K is not reported (it needs more than "
            f"{MIN_TRIALS}; 20 or more to be useful)",
        )

    model = fit_model(box, cols, g, noise_var=noise_var, diverged=diverged, delta=delta, seed=seed)
    diagnostics["n_diverged"] = model.n_diverged

    # the points: map nodes, then a Sobol sample of the box
    xlo, xhi, xlog = _axis_range(box, x)
    ylo, yhi, ylog = _axis_range(box, y)
    xt = np.linspace(xlo, xhi, grid_size)
    yt = np.linspace(ylo, yhi, grid_size)
    sobol = qmc.Sobol(box.dim, scramble=True, seed=rng.integers(2**32)).random(n_volume)
    vol_cols = box.from_unit(sobol)
    vol_feat = box.features(vol_cols)
    mean_vol, _ = model.predict(vol_feat)
    best_i = int(np.argmax(mean_vol))
    base = {name: float(vol_cols[name][best_i]) for name in box.names}
    gx, gy = np.meshgrid(to_natural(xt, xlog), to_natural(yt, ylog))
    node_cols = _map_columns(box, x, y, gx.ravel(), gy.ravel(), base)
    node_in = box.inside(node_cols)
    node_feat = box.features({k: v[node_in] for k, v in node_cols.items()})
    feats = np.vstack([node_feat, vol_feat])
    draws = model.sample(feats, n_samples, rng)  # (S, nodes + volume), metric goodness
    # each draw's best is its value where the model's mean peaks: the maximum over all points of a draw is biased
    # upwards where the trials are noisy (the largest of many uncertain values), shrinking every zone. Measured
    # (2026-12-05): the draws' own maxima calibrate the synthetic landscapes' middle probabilities better (K bump,
    # 20 random trials: nodes at P 0.3-0.7 inside in 0.28 of cases, against 0.21), but on digits-cnn at delta 0.01
    # they put the best expected accuracy above 1 (a median of 1.004 in one 60-trial study, whose zone came out
    # empty) and cut TPE's median recall at 20 trials from 0.81 to 0.44 (0.47 with the draws capped at 1)
    mean_all = np.concatenate([model.predict(node_feat)[0], mean_vol])
    peak = int(np.argmax(mean_all))
    top = draws[:, peak]
    n_nodes = node_feat.shape[0]
    peak_cols = {k: v[node_in] for k, v in node_cols.items()} if peak < n_nodes else vol_cols
    peak_params = {name: float(peak_cols[name][peak if peak < n_nodes else peak - n_nodes]) for name in box.names}
    inside = draws >= (top - delta)[:, None]
    node_p = inside[:, :n_nodes].mean(axis=0)
    vol_in = inside[:, n_nodes:]

    flat = np.full(grid_size * grid_size, np.nan)
    flat[node_in] = node_p
    prob = flat.reshape(grid_size, grid_size)
    xstep, ystep = (xhi - xlo) / (grid_size - 1), (yhi - ylo) / (grid_size - 1)

    def polygons(level: float) -> list[dict[str, Any]]:
        def nat(ring: np.ndarray) -> list[Any]:
            px = to_natural(xlo + ring[:, 0] * xstep, xlog)
            py = to_natural(ylo + ring[:, 1] * ystep, ylog)
            out: list[Any] = np.column_stack([px, py]).tolist()
            return out

        return [
            {"exterior": nat(ext), "holes": [nat(h) for h in holes]} for ext, holes in contour_polygons(prob, level)
        ]

    # the share of the box inside, per draw, with the quadrature's binomial error (see _centroids)
    volume = vol_in.mean(axis=1)
    volume = np.clip(volume + rng.standard_normal(volume.size) * np.sqrt(volume * (1 - volume) / n_volume), 0, 1)
    # with too few trials the zone is a sketch: its volume is not reported (nor K, below)
    vol_summary = _summary(volume, confidence) if n > MIN_TRIALS else None
    hit_chance = []
    if vol_summary is None:
        vol_summary = {"estimate": None, "interval": None}
    else:
        v_est = vol_summary["estimate"]
        hit_chance = [{"trials": k, "probability": float(1.0 - (1.0 - v_est) ** k)} for k in (1, 10, 20, 50)]
    vol_summary["confidence"] = confidence
    s = sign_of(table.direction)
    best = {
        "params": peak_params,
        "value": float(s * np.median(top)),
        "interval": sorted(float(s * q) for q in np.quantile(top, [(1 - confidence) / 2, (1 + confidence) / 2])),
    }
    zone = {
        "delta": delta,
        "delta_source": delta_source,
        "x": x,
        "y": y,
        "x_log": xlog,
        "y_log": ylog,
        "membership": {
            "x": float_list(to_natural(xt, xlog)),
            "y": float_list(to_natural(yt, ylog)),
            "probability": float_list(prob),
        },
        "outline": polygons(0.5),
        "core": polygons(0.9),
        "volume_fraction": vol_summary,
        "hit_chance": hit_chance,
        "best": best,
        "slice": {name: base[name] for name in box.names if name not in (x, y) and not _solved(name, x, y)},
        "model": {
            "kind": "gaussian_process",
            "kernel": model.description,
            "axes": box.feature_names(),
            "n_fit": model.n_fit,
            "aggregated": model.aggregated,
            "warp": model.warp.describe(),
            "noise_std": model.noise_std,
        },
    }

    # warnings about the data
    scale = max(1e-12, float(g.max() - g.min()))
    at_best = int(np.sum(g >= g.max() - 1e-9 * scale))
    if at_best >= max(3, math.ceil(0.1 * n)):
        warn(
            "saturated_metric",
            f"{at_best} of {n} trials reach the best value {s * g.max():g}: the metric saturates, so the zone is a "
            "plateau and where in it is best cannot be told; use a harder task, or a metric that does not cap",
        )
    edges = _boundary_edges(box, base, sobol, mean_vol, model, delta, vol_in.mean(axis=0))
    if edges:
        warn(
            "zone_on_search_boundary",
            "the modelled best lies on the edge of the searched space at "
            + ", ".join(edges)
            + ": the zone may continue outside it; widen the range",
        )
    seed_sd = None if noise_var is None or not np.isfinite(noise_var).any() else float(np.sqrt(np.nanmedian(noise_var)))
    # the model's noise is constant on the warped scale; in metric units it is taken at the zone's edge (delta below
    # the best, or the worst trial if that is higher), where it decides membership (the warp makes it smallest at
    # the best itself)
    edge = max(model.best_observed - delta, float(g.min()))
    model_sd = float(model.noise_std / model.warp.slope(np.array([edge]))[0])
    diagnostics["noise"] = {"median_seed_std": seed_sd, "model_noise_std": model_sd}
    noisiest = max(model_sd, seed_sd or 0.0)
    if noisiest > NOISE_PER_DELTA * delta:
        warn(
            "high_noise",
            f"the metric's noise at the zone's edge (std {noisiest:.3g}) is more than a third of the zone's tolerance "
            f"delta {delta:g}: trials this noisy cannot place the zone's edge, so the outline is a rough guess; run "
            f"more seeds per trial (or more trials), or widen delta to at least {noisiest / NOISE_PER_DELTA:.2g}",
        )

    k = None
    if box.has_k:
        k = _k_block(box, table, reference, n, mean_vol, vol_cols, vol_in, bool(edges), confidence, rng, diagnostics)
        if k["status"] == KStatus.NOT_A_LEVEL_SET:
            warn(
                "not_a_level_set",
                "the metric is not a function of K = v(1 + 1/c): "
                + ", ".join(
                    f"{a} explains {e:.2f}" for a, e in diagnostics["level_set"]["explained"].items() if e is not None
                )
                + " of the modelled metric over the searched box alone (leave-one-out R^2); read the zone, not K",
            )
    return ModelZone(zone, k, diagnostics, warns)


def _boundary_edges(
    box: SearchBox,
    base: Mapping[str, float],
    unit: np.ndarray,
    mean: np.ndarray,
    model: MetricModel,
    delta: float,
    membership: np.ndarray,
) -> list[str]:
    """The bounds the zone is cut by: the modelled best lies on one (within ``BOUNDARY_SHARE`` of its range, or
    within ``EDGE_SLAB`` for the second test) and either

    * the metric still improves towards it: the best on that edge beats the best of the points away from it by more
      than a quarter of ``delta``; or
    * the zone crowds against it: P(in zone) in the slab along the bound (``EDGE_SLAB`` of the range) is more than
      ``EDGE_CROWDING`` times its mean over the box.

    The best sitting on a bound says nothing by itself: a band that crosses the box touches its edges wherever it
    crosses, with no more of the zone there than anywhere along it.
    """
    g = model.warp.inverse(mean)
    best_i = int(np.argmax(g))
    overall = float(membership.mean())
    out = []
    for i, name in enumerate(box.names):
        u = unit[best_i, i]
        side = "low" if u < 0.5 else "high"
        edge = min(u, 1.0 - u)
        if edge >= EDGE_SLAB:
            continue
        slab = unit[:, i] < EDGE_SLAB if side == "low" else unit[:, i] > 1.0 - EDGE_SLAB
        crowded = overall > 0 and slab.any() and float(membership[slab].mean()) > EDGE_CROWDING * overall
        away = unit[:, i] >= BOUNDARY_SHARE if side == "low" else unit[:, i] <= 1.0 - BOUNDARY_SHARE
        rising = edge < BOUNDARY_SHARE and (not away.any() or g[best_i] - float(g[away].max()) > 0.25 * delta)
        if rising or crowded:
            bound = box.low[i] if side == "low" else box.high[i]
            out.append(f"{name} {side} ({base[name]:.4g}, bound {bound:.4g})")
    return out


def _solved(name: str, x: str, y: str) -> bool:
    """Whether ``name`` follows from the map's axes (v from K and c, or c from K and v)."""
    if DERIVED_K not in (x, y):
        return False
    other = y if x == DERIVED_K else x
    return (name == V_COEFFICIENT and other != V_COEFFICIENT) or (name == C_SCALING and other == V_COEFFICIENT)


def _reference(reference: ReferenceZone | None) -> dict[str, Any] | None:
    if reference is None:
        return None
    return {"k": reference.k, "lr": reference.lr, "lr_times_k": reference.k * reference.lr, "source": reference.source}


def _k_absent(box: SearchBox, table: TrialTable, reference: ReferenceZone | None, status: str) -> dict[str, Any] | None:
    if not box.has_k:
        return None
    return {
        "status": status,
        "estimate": None,
        "interval": None,
        "confidence": None,
        "lr": table.constants.get(LR),
        "lr_times_k": None,
        "reference": _reference(reference),
        "ridge": None,
    }


def _k_block(
    box: SearchBox,
    table: TrialTable,
    reference: ReferenceZone | None,
    n: int,
    mean_vol: np.ndarray,
    vol_cols: dict[str, np.ndarray],
    vol_in: np.ndarray,
    on_boundary: bool,
    confidence: float,
    rng: np.random.Generator,
    diagnostics: dict[str, Any],
) -> dict[str, Any]:
    # On the model over points uniform in the box, not on the trials: a sampler that maps the zone puts its trials
    # along the band, where the metric varies across the band about as much as along it, and the trials alone
    # called a K band not a level set (noisy-quadratic's, at 40 zone-sampler trials)
    explained = level_set_explained(vol_cols[C_SCALING], vol_cols[V_COEFFICIENT], mean_vol, rng)
    diagnostics["level_set"] = {
        "explained": explained,
        "method": "leave-one-out R^2 of a 1-D Gaussian kernel smoother of the modelled (warped) metric on each log "
        "axis, over points uniform in the searched box",
    }
    if n <= MIN_TRIALS:
        absent = _k_absent(box, table, reference, KStatus.TOO_FEW_TRIALS)
        assert absent is not None
        return absent
    logk = np.log10(zone_constant(vol_cols[C_SCALING], vol_cols[V_COEFFICIENT]))
    logc = np.log10(vol_cols[C_SCALING])
    centre = _centroids(vol_in, logk, rng)
    k_sum = _summary(centre, confidence, log=True)
    rk, rc, rv = (explained[a] for a in (DERIVED_K, C_SCALING, V_COEFFICIENT))
    if rk is None or rk < max(rc or 0.0, rv or 0.0) + LEVEL_SET_MARGIN:
        status = KStatus.NOT_A_LEVEL_SET
    elif on_boundary:
        status = KStatus.ON_SEARCH_BOUNDARY
    else:
        status = KStatus.OK

    lr = table.constants.get(LR)
    lr_k = None
    if k_sum is not None and lr is not None:
        lr_k = {"estimate": lr * k_sum["estimate"], "interval": [lr * b for b in k_sum["interval"]]}
    elif LR in vol_cols:
        lr_k = _summary(_centroids(vol_in, logk + np.log10(vol_cols[LR]), rng), confidence, log=True)

    # the ridge: the K centre within bins of log c, and the tilt d log K / d log c
    ic = box.names.index(C_SCALING)
    clo, chi = box.t_bounds(ic)
    edges = np.linspace(clo, chi, 9)
    ridge_c, ridge_k, ridge_lo, ridge_hi = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (logc >= a) & (logc <= b)
        if sel.sum() < 4:
            continue
        summ = _summary(_centroids(vol_in[:, sel], logk[sel], rng), confidence, log=True)
        if summ is None:
            continue
        ridge_c.append(float(10 ** (0.5 * (a + b))))
        ridge_k.append(summ["estimate"])
        ridge_lo.append(summ["interval"][0])
        ridge_hi.append(summ["interval"][1])
    tilt = _summary(_slopes(vol_in, logc, logk), confidence)
    ridge = {"c": ridge_c, "k": ridge_k, "lower": ridge_lo, "upper": ridge_hi, "tilt": tilt} if ridge_c else None
    return {
        "status": status,
        "estimate": None if k_sum is None else k_sum["estimate"],
        "interval": None if k_sum is None else k_sum["interval"],
        "confidence": confidence,
        "lr": lr,
        "lr_times_k": lr_k,
        "reference": _reference(reference),
        "ridge": ridge,
    }
