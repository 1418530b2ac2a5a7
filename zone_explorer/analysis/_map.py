"""The zone map: a smoothed metric surface over two axes, its zone, outline, best points and scatter sample."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter

from zone_explorer.analysis._contour import contour_polygons
from zone_explorer.analysis._robust import FENCE_IQRS, tukey_fences
from zone_explorer.analysis._table import (
    C_SCALING,
    V_COEFFICIENT,
    Tolerance,
    TrialTable,
    axis_column,
    check_int,
    coerce_tolerance,
    float_list,
    float_or_none,
    n_best,
    py_scalar,
    sign_of,
    span,
    threshold_goodness,
    to_natural,
)
from zone_explorer.core.zone_constant import zone_constant

__all__ = ["ZoneMap", "colour_scale", "zone_map"]

#: strata per axis for the scatter sample of the trials outside the zone
_STRATA = 20
#: multiples of Scott's bandwidth tried by leave-one-out cross-validation (smooth to sharp)
_CV_FACTORS: tuple[float, ...] = (1.0, 0.7, 0.5, 0.35, 0.25)


@dataclass
class ZoneMap:
    """A zone map, ready for the API (``to_dict``) and the Plotly pages.

    Grids are in natural units (geometric for log axes); ``surface``, ``support`` and ``zone_mask`` are indexed
    ``[row = y index][column = x index]`` like Plotly's ``z``. ``surface`` is None where no trial is near.
    ``threshold`` is the zone threshold over the trials' raw values (what ``points.in_zone`` uses);
    ``surface_threshold`` is the level of ``zone_mask`` and ``outline`` on the smoothed surface (see
    :func:`zone_map`). ``outline`` is a list of polygons ``{"exterior": [[x, y], ...], "holes": [...]}``.
    """

    x: str
    y: str
    x_log: bool
    y_log: bool
    x_grid: np.ndarray
    y_grid: np.ndarray
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    surface: np.ndarray
    support: np.ndarray
    zone_mask: np.ndarray
    threshold: float
    surface_threshold: float
    tolerance: Tolerance
    direction: str
    outline: list[dict[str, Any]]
    best: dict[str, Any]
    surface_best: dict[str, Any] | None
    points: dict[str, list[Any]]
    bandwidth: tuple[float, float]
    bandwidth_method: str
    bandwidth_factor: float
    n_used: int
    n_dropped: int
    n_zone: int
    colours: dict[str, Any]
    diverged: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "y": self.y,
            "x_log": self.x_log,
            "y_log": self.y_log,
            "x_grid": float_list(self.x_grid),
            "y_grid": float_list(self.y_grid),
            "x_range": [float(v) for v in self.x_range],
            "y_range": [float(v) for v in self.y_range],
            "surface": float_list(self.surface),
            "support": float_list(self.support),
            "zone_mask": np.asarray(self.zone_mask, dtype=bool).tolist(),
            "threshold": float_or_none(self.threshold),
            "surface_threshold": float_or_none(self.surface_threshold),
            "tolerance": self.tolerance.to_dict(),
            "direction": self.direction,
            "outline": self.outline,
            "best": self.best,
            "surface_best": self.surface_best,
            "points": self.points,
            "bandwidth": {
                "x": float(self.bandwidth[0]),
                "y": float(self.bandwidth[1]),
                "method": self.bandwidth_method,
                "factor": float(self.bandwidth_factor),
            },
            "n_used": self.n_used,
            "n_dropped": self.n_dropped,
            "n_zone": self.n_zone,
            "colour_scale": self.colours,
            "diverged": self.diverged,
        }


def colour_scale(values: np.ndarray) -> dict[str, Any]:
    """The metric range the map's colours span, so that one diverged-but-finite run cannot turn the map one colour.

    The rule: Tukey's far fences (:func:`~zone_explorer.analysis._robust.tukey_fences`, ``[Q1 - 3 IQR,
    Q3 + 3 IQR]``); the scale spans the lowest to the highest value inside them. ``n_below`` and ``n_above`` count
    the values outside (drawn in the end colours); ``clipped`` says whether any are. Quantiles such as the
    2nd-98th percentile would not do: below 50 results they interpolate towards the outlier.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"low": None, "high": None, "n_below": 0, "n_above": 0, "clipped": False, "fence_iqrs": FENCE_IQRS}
    lo, hi = tukey_fences(v)
    inside = v[(v >= lo) & (v <= hi)]
    low, high = float(inside.min()), float(inside.max())
    n_below, n_above = int((v < low).sum()), int((v > high).sum())
    return {
        "low": low,
        "high": high,
        "n_below": n_below,
        "n_above": n_above,
        "clipped": bool(n_below or n_above),
        "fence_iqrs": FENCE_IQRS,
    }


def _diverged_points(table: TrialTable, x: str, y: str, xlog: bool, ylog: bool, max_points: int) -> dict[str, Any]:
    """Where the diverged trials (failed, no value: the table's ``diverged`` rows) lie on the map's axes: at most
    ``max_points`` of them (the first), those lacking an axis (or off a log axis) left out."""

    def column(name: str) -> np.ndarray | None:
        div = table.diverged
        if name in div:
            return div[name]
        if table.is_derived(name) and C_SCALING in div and V_COEFFICIENT in div:
            return np.asarray(zone_constant(div[C_SCALING], div[V_COEFFICIENT]), dtype=np.float64)
        return None

    dx, dy = column(x), column(y)
    n_total = len(next(iter(table.diverged.values()), []))
    if dx is None or dy is None:
        return {"x": [], "y": [], "n": n_total, "n_shown": 0}
    ok = np.isfinite(dx) & np.isfinite(dy)
    if xlog:
        ok &= dx > 0
    if ylog:
        ok &= dy > 0
    rows = np.flatnonzero(ok)[:max_points]
    return {"x": dx[rows].tolist(), "y": dy[rows].tolist(), "n": n_total, "n_shown": int(rows.size)}


def _robust_scale(t: np.ndarray) -> float:
    """min(std, IQR/1.349) (Silverman's robust spread), falling back to whichever is positive."""
    sd = float(np.std(t))
    q75, q25 = np.percentile(t, [75.0, 25.0])
    iqr = float(q75 - q25) / 1.349
    positive = [s for s in (sd, iqr) if s > 0]
    return min(positive) if positive else 0.0


def _kernel_peak(sigma: float, truncate: float = 4.0) -> float:
    """Centre weight of scipy's normalised discrete Gaussian kernel (to express support in 'points')."""
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return float(k[r] / k.sum())


def _own_weight(f: np.ndarray, sigma: float, g: int, truncate: float = 4.0) -> np.ndarray:
    """Along one axis, the weight a trial at fractional node index ``f`` puts on its nearest node after linear
    binning and smoothing (to take it out for leave-one-out)."""
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    i0 = np.minimum(np.floor(f).astype(np.int64), g - 2)
    a = f - i0
    d = np.rint(f).astype(np.int64) - i0  # 0 or 1: the nearest node is i0 or i0 + 1
    weights: np.ndarray = (1 - a) * k[r + d] + a * k[r + d - 1]
    return weights


def _linear_bin(fx: np.ndarray, fy: np.ndarray, w: np.ndarray, g: int) -> np.ndarray:
    """Linear ("cloud in cell") binning of weights onto a g x g node grid; fx, fy are fractional node indices."""
    i0 = np.minimum(np.floor(fx).astype(np.int64), g - 2)
    j0 = np.minimum(np.floor(fy).astype(np.int64), g - 2)
    ax = fx - i0
    ay = fy - j0
    base = j0 * g + i0
    out = np.bincount(base, (1 - ax) * (1 - ay) * w, minlength=g * g)
    out += np.bincount(base + 1, ax * (1 - ay) * w, minlength=g * g)
    out += np.bincount(base + g, (1 - ax) * ay * w, minlength=g * g)
    out += np.bincount(base + g + 1, ax * ay * w, minlength=g * g)
    return out.reshape(g, g)


def _ids_list(ids: np.ndarray) -> list[Any]:
    return [py_scalar(v) for v in ids.tolist()]


def _select_points(
    g: np.ndarray, members: np.ndarray, fx: np.ndarray, fy: np.ndarray, grid: int, max_points: int, seed: int
) -> np.ndarray:
    """Row indices to show: every zone member (best first) up to the cap, then a spatially stratified sample.

    The sample of the others visits a 20 x 20 grid of strata round-robin in random order (every occupied stratum
    gets one point before any gets a second), so sparse regions stay visible and dense ones are thinned.
    """
    n = g.size
    mem = np.flatnonzero(members)
    mem = mem[np.argsort(-g[mem], kind="stable")]
    if n <= max_points:
        rest = np.flatnonzero(~members)
        return np.concatenate([mem, rest])
    chosen = mem[:max_points]
    budget = max_points - chosen.size
    if budget <= 0:
        return chosen
    others = np.flatnonzero(~members)
    rng = np.random.default_rng(seed)
    scale = _STRATA / (grid - 1)
    cx = np.minimum((fx[others] * scale).astype(np.int64), _STRATA - 1)
    cy = np.minimum((fy[others] * scale).astype(np.int64), _STRATA - 1)
    cell = cy * _STRATA + cx
    perm = rng.permutation(others.size)
    order = perm[np.argsort(cell[perm], kind="stable")]  # grouped by stratum, random within
    sorted_cells = cell[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_cells)) + 1]
    lengths = np.diff(np.r_[starts, order.size])
    within = np.arange(order.size) - np.repeat(starts, lengths)
    pick = np.lexsort((rng.random(order.size), within))[:budget]
    return np.concatenate([chosen, others[order[pick]]])


def zone_map(
    table: TrialTable,
    x: str,
    y: str,
    tol: Tolerance,
    grid_size: int = 60,
    *,
    max_points: int = 2000,
    bandwidth: str | float | tuple[float, float] | None = None,
    max_distance: float = 1.0,
    seed: int = 0,
) -> ZoneMap:
    """Smoothed metric surface over ``x`` and ``y``, with its zone, outline, best points and a scatter sample.

    **Grid.** ``grid_size`` nodes per axis spanning the trials' range, evenly spaced in log10 for log axes
    (``table.log_params`` and the derived ``"K"``) and returned in natural units.

    **Surface.** Binned Gaussian kernel regression (Nadaraya-Watson): the trials are linearly binned onto the
    nodes (counts and value sums), both are smoothed with :func:`scipy.ndimage.gaussian_filter` (zero outside the
    map, so the ratio is edge-correct) and divided. Bandwidths are per axis, as fractions of the axis range on
    the (log-)normalised axes, and at least half a cell. The reference is Scott's rule from the point density,
    ``n**(-1/6) * min(std, IQR/1.349)``; but Scott's rule is made for densities and flattens a sharp zone (a
    peak 0.4 high and 0.35 decades wide comes out ~0.28 high from 3000 trials), so by default (``bandwidth=None``
    or ``"cv"``) it is scaled by the factor in (1, 0.7, 0.5, 0.35, 0.25) with the smallest leave-one-out error of
    the trials' values (the binned fit at each trial's nearest node, its own weight removed; the smoothest factor
    within 1% of the best wins). ``bandwidth="scott"`` skips the scaling; a number or an (x, y) pair fixes it.
    ``support`` is the smoothed count divided by a lone trial's peak weight (the effective number of trials
    behind each node). Nodes farther than ``max_distance`` reference bandwidths from every trial get no surface
    value (None): kernel regression would otherwise extrapolate the nearest trials' values far into unsampled
    corners (e.g. off the diagonal band that the trials occupy on a K-c map).

    **Zone.** Rows lacking x or y are left out (``n_dropped``). ``threshold`` is :func:`zone_threshold` over the
    remaining trials' values and marks ``points.in_zone``. The tolerance is applied to the *surface* on the
    surface's own terms, because a smoothed mean never reaches the luckiest single trial (with ``delta`` small, a
    raw threshold would leave the map empty): for ``delta`` the zone is the surface within ``delta`` of the
    surface's best; for ``top_q`` it is the surface at least as good as the surface's value at the best
    ``ceil(q * n)`` trials (the trials ranked by their smoothed, de-noised value). Both agree with the raw
    thresholds on noise-free data, and the zone always contains ``surface_best`` and shrinks as the tolerance
    tightens. ``outline`` is the contour of the surface at ``surface_threshold`` as closed polygons with holes.

    **Points.** At most ``max_points`` trials: all zone members up to the cap, best first (so the best trial is
    always there), then a spatially stratified random sample of the others (``seed``).
    """
    table.require_rows("table")
    if x == y:
        raise ValueError(f"x and y must be different axes, both are {x!r}")
    xcol, xlog = axis_column(table, x, "x")
    ycol, ylog = axis_column(table, y, "y")
    tol = coerce_tolerance(tol)
    g_size = check_int(grid_size, "grid_size", 4, 1000)
    max_points = check_int(max_points, "max_points", 1)
    if isinstance(max_distance, bool) or not (isinstance(max_distance, (int, float)) and max_distance > 0):
        raise ValueError(f"max_distance must be a positive number (in bandwidths), got {max_distance!r}")

    ok = np.isfinite(xcol) & np.isfinite(ycol)
    rows = np.flatnonzero(ok)
    n = int(rows.size)
    if n == 0:
        raise ValueError(f"table: no row has both {x!r} and {y!r}")
    tx = np.log10(xcol[rows]) if xlog else xcol[rows]
    ty = np.log10(ycol[rows]) if ylog else ycol[rows]
    vals = table.values[rows]
    s = sign_of(table.direction)
    gvals = s * vals

    xlo, xhi = span(tx, xlog)
    ylo, yhi = span(ty, ylog)
    fx = np.clip((tx - xlo) / (xhi - xlo), 0.0, 1.0) * (g_size - 1)
    fy = np.clip((ty - ylo) / (yhi - ylo), 0.0, 1.0) * (g_size - 1)

    # bandwidth (fraction of the axis range): Scott's rule, scaled by leave-one-out cross-validation
    factor = n ** (-1.0 / 6.0)
    scott = []
    for f in (fx, fy):
        scale = _robust_scale(f / (g_size - 1))
        scott.append(factor * scale if scale > 0 else 0.1)
    if bandwidth is None or (isinstance(bandwidth, str) and bandwidth == "cv"):
        method, factors, ref = "cv", _CV_FACTORS, tuple(scott)
    elif isinstance(bandwidth, str) and bandwidth == "scott":
        method, factors, ref = "scott", (1.0,), tuple(scott)
    else:
        pair = (bandwidth, bandwidth) if np.isscalar(bandwidth) else tuple(np.ravel(bandwidth).tolist())
        if len(pair) != 2 or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < math.inf for b in pair
        ):
            raise ValueError(f"bandwidth must be 'cv', 'scott', a positive number or a pair of them, got {bandwidth!r}")
        method, factors, ref = "fixed", (1.0,), (float(pair[0]), float(pair[1]))

    counts = _linear_bin(fx, fy, np.ones(n), g_size)
    sums = _linear_bin(fx, fy, gvals, g_size)  # sums of the goodness (sign * value)
    near_i, near_j = np.rint(fx).astype(np.int64), np.rint(fy).astype(np.int64)
    fallback = float(gvals.mean())
    fits = []
    for f in factors:
        sx = max(0.5, f * ref[0] * (g_size - 1))
        sy = max(0.5, f * ref[1] * (g_size - 1))
        cs = gaussian_filter(counts, (sy, sx), mode="constant", truncate=4.0)
        ss = gaussian_filter(sums, (sy, sx), mode="constant", truncate=4.0)
        score = 0.0
        if len(factors) > 1:
            # leave-one-out prediction of each trial at its nearest node, its own weight taken out
            own = _own_weight(fx, sx, g_size) * _own_weight(fy, sy, g_size)
            den = cs[near_j, near_i] - own
            num = ss[near_j, near_i] - own * gvals
            ok = den > 1e-6 * _kernel_peak(sx) * _kernel_peak(sy)
            pred = np.where(ok, num / np.where(ok, den, 1.0), fallback)  # a lone trial is predicted by the mean
            score = float(np.mean((pred - gvals) ** 2))
        fits.append((score, f, sx, sy, cs, ss))
    # factors run from smooth to sharp; among near-ties (within 1%) keep the smoothest
    score_min = min(fit[0] for fit in fits)
    _, chosen, sx, sy, cs, ss = next(fit for fit in fits if fit[0] <= score_min * 1.01 + 1e-300)
    bwx, bwy = sx / (g_size - 1), sy / (g_size - 1)
    peak = _kernel_peak(sx) * _kernel_peak(sy)
    cs = cs / peak  # effective number of trials
    ss = ss / peak
    # nodes farther than max_distance reference bandwidths (Scott's, or the given one) from every trial: None
    rx = max(0.5, ref[0] * (g_size - 1))
    ry = max(0.5, ref[1] * (g_size - 1))
    dist = distance_transform_edt(counts <= 0.0, sampling=(1.0 / ry, 1.0 / rx))
    valid = (dist <= max_distance) & (cs > 0)
    gsurf = np.full(cs.shape, np.nan)
    gsurf[valid] = ss[valid] / cs[valid]

    # zone on the raw values and on the surface
    thr_g = threshold_goodness(gvals, tol)
    members = gvals >= thr_g
    if tol.mode == "top_q":
        at_trials = gsurf[near_j, near_i]
        at_trials = at_trials[np.isfinite(at_trials)]
        m = n_best(tol.value, at_trials.size)
        sthr_g = float(np.partition(at_trials, at_trials.size - m)[at_trials.size - m])
    else:
        sthr_g = float(np.nanmax(gsurf)) - tol.value
    mask = valid & (np.nan_to_num(gsurf, nan=-np.inf) >= sthr_g)

    # grids and conversion from fractional node indices to natural units
    xt = np.linspace(xlo, xhi, g_size)
    yt = np.linspace(ylo, yhi, g_size)
    xstep, ystep = (xhi - xlo) / (g_size - 1), (yhi - ylo) / (g_size - 1)

    def nat(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        return np.column_stack([to_natural(xlo + ix * xstep, xlog), to_natural(ylo + iy * ystep, ylog)])

    outline = []
    for ext, holes in contour_polygons(gsurf, sthr_g):
        outline.append(
            {
                "exterior": nat(ext[:, 0], ext[:, 1]).tolist(),
                "holes": [nat(h[:, 0], h[:, 1]).tolist() for h in holes],
            }
        )

    ib = int(np.argmax(gvals))
    rb = rows[ib]
    best = {
        "x": float(xcol[rb]),
        "y": float(ycol[rb]),
        "value": float(vals[ib]),
        "origin": str(table.origin[rb]),
        "id": py_scalar(table.ids[rb]),
    }
    surface_best = None
    if valid.any():
        jb, ibx = np.unravel_index(int(np.nanargmax(gsurf)), gsurf.shape)
        surface_best = {
            "x": float(to_natural(xt[ibx], xlog)),
            "y": float(to_natural(yt[jb], ylog)),
            "value": float(s * gsurf[jb, ibx]),
            "support": float(cs[jb, ibx]),
        }

    pick = _select_points(gvals, members, fx, fy, g_size, max_points, seed)
    pr = rows[pick]
    points = {
        "x": xcol[pr].tolist(),
        "y": ycol[pr].tolist(),
        "value": vals[pick].tolist(),
        "origin": table.origin[pr].tolist(),
        "id": _ids_list(table.ids[pr]),
        "in_zone": members[pick].tolist(),
    }

    return ZoneMap(
        x=x,
        y=y,
        x_log=xlog,
        y_log=ylog,
        x_grid=to_natural(xt, xlog),
        y_grid=to_natural(yt, ylog),
        x_range=(float(to_natural(xlo, xlog)), float(to_natural(xhi, xlog))),
        y_range=(float(to_natural(ylo, ylog)), float(to_natural(yhi, ylog))),
        surface=s * gsurf,
        support=cs,
        zone_mask=mask,
        threshold=s * thr_g,
        surface_threshold=s * sthr_g if math.isfinite(sthr_g) else math.nan,
        tolerance=tol,
        direction=table.direction,
        outline=outline,
        best=best,
        surface_best=surface_best,
        points=points,
        bandwidth=(bwx, bwy),
        bandwidth_method=method,
        bandwidth_factor=chosen,
        n_used=n,
        n_dropped=int(len(table) - n),
        n_zone=int(members.sum()),
        colours=colour_scale(vals),
        diverged=_diverged_points(table, x, y, xlog, ylog, max_points),
    )
