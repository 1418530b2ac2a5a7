"""Best configurations, top-q marginals and FSGDM's zone constant K."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from zone_explorer.analysis._table import (
    DERIVED_K,
    Tolerance,
    TrialTable,
    as_vector,
    check_direction,
    check_int,
    check_q,
    float_list,
    float_or_none,
    n_best,
    py_scalar,
    sign_of,
    span,
    to_natural,
    zone_members,
)
from zone_explorer.core.zone_constant import REFERENCE_ZONE, zone_constant

__all__ = ["ZoneConstant", "best_configs", "fit_zone_constant", "top_q_marginals"]


# ---------------------------------------------------------------------------------------------------------
# best configurations
# ---------------------------------------------------------------------------------------------------------
def best_order(table: TrialTable, k: int | None = None) -> np.ndarray:
    """Row indices best first (ties keep table order); only the first ``k`` when given."""
    g = sign_of(table.direction) * table.values
    n = g.size
    if k is not None and k < n:
        part = np.argpartition(-g, k - 1)[:k]
        cut = g[part].min()
        cand = np.flatnonzero(g >= cut)  # every row tied with the k-th, so the stable order is exact
        return cand[np.argsort(-g[cand], kind="stable")][:k]
    return np.argsort(-g, kind="stable")


def best_configs(table: TrialTable, k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` best rows, best first: ``rank``, ``id``, ``origin``, ``value``, ``params`` (the parameters the row
    has; missing ones are left out) and, for FSGDM tables, ``derived: {"K": ...}``."""
    table.require_rows("table")
    k = check_int(k, "k", 1)
    kcol = table.column(DERIVED_K) if table.is_derived(DERIVED_K) else None
    out = []
    for rank, i in enumerate(best_order(table, k).tolist(), start=1):
        params = {name: float(col[i]) for name, col in table.params.items() if math.isfinite(col[i])}
        row: dict[str, Any] = {
            "rank": rank,
            "id": py_scalar(table.ids[i]),
            "origin": str(table.origin[i]),
            "value": float(table.values[i]),
            "params": params,
        }
        if kcol is not None and math.isfinite(kcol[i]):
            row["derived"] = {DERIVED_K: float(kcol[i])}
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------------------
# marginals
# ---------------------------------------------------------------------------------------------------------
def top_q_marginals(table: TrialTable, q: float = 0.1, bins: int = 30) -> dict[str, dict[str, Any]]:
    """Each parameter's histogram among all rows and among the top-q rows, on shared edges.

    The top-q rows are the zone of ``Tolerance("top_q", q)`` (ties with the threshold included). Per parameter:
    ``edges`` (``bins + 1`` values in natural units, log-spaced for log parameters, spanning the rows that have
    the parameter), ``all_counts``, ``top_counts``, ``top_share`` (top/all per bin, None for empty bins), ``log``,
    ``n_all`` and ``n_top`` (rows having the parameter; ``sum(top_counts) == n_top``), and ``derived`` (True for
    FSGDM's K, added when c_scaling and v_coefficient are present).
    """
    table.require_rows("table")
    q = check_q(q, "q")
    bins = check_int(bins, "bins", 1, 10_000)
    top = zone_members(table.values, table.direction, Tolerance("top_q", q))
    out: dict[str, dict[str, Any]] = {}
    for name in table.axis_names():
        col = table.column(name)
        log = table.is_log(name)
        ok = np.isfinite(col)
        if log:
            ok &= col > 0
        if not ok.any():
            out[name] = {
                "edges": [], "all_counts": [], "top_counts": [], "top_share": [], "log": log,
                "n_all": 0, "n_top": 0, "derived": table.is_derived(name),
            }  # fmt: skip
            continue
        t = np.log10(col[ok]) if log else col[ok]
        lo, hi = span(t, log)
        edges_t = np.linspace(lo, hi, bins + 1)
        all_counts = np.histogram(t, edges_t)[0]
        top_counts = np.histogram(t[top[ok]], edges_t)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(all_counts > 0, top_counts / np.maximum(all_counts, 1), np.nan)
        out[name] = {
            "edges": float_list(to_natural(edges_t, log)),
            "all_counts": all_counts.astype(int).tolist(),
            "top_counts": top_counts.astype(int).tolist(),
            "top_share": float_list(share),
            "log": log,
            "n_all": int(ok.sum()),
            "n_top": int(top[ok].sum()),
            "derived": table.is_derived(name),
        }
    return out


# ---------------------------------------------------------------------------------------------------------
# the zone constant
# ---------------------------------------------------------------------------------------------------------
@dataclass
class ZoneConstant:
    """FSGDM's zone constant K = v (1 + 1/c), estimated from trials (see :func:`fit_zone_constant`)."""

    estimate: float
    interval: tuple[float, float] | None
    geometric_mean: float
    q: float
    n_used: int
    n_top: int
    n_boot: int
    confidence: float
    reference: float
    reference_inside: bool | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": float_or_none(self.estimate),
            "interval": None if self.interval is None else [float_or_none(v) for v in self.interval],
            "geometric_mean": float_or_none(self.geometric_mean),
            "q": self.q,
            "n_used": self.n_used,
            "n_top": self.n_top,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "reference": self.reference,
            "reference_inside": self.reference_inside,
            "ratio_to_reference": float_or_none(self.estimate / self.reference),
            "method": self.method,
        }


def _density_weights(u: np.ndarray, floor_frac: float = 0.05) -> np.ndarray:
    """1 / (Gaussian KDE of u at each u), the KDE floored at ``floor_frac`` of its median over the sample.

    Binned KDE (512 nodes, linear binning, Silverman's bandwidth, reflecting boundaries so the ends of the sampled
    range are not under-estimated).
    """
    n = u.size
    scale = min(float(np.std(u)), float(np.subtract(*np.percentile(u, [75.0, 25.0]))) / 1.349)
    if not scale > 0:
        scale = float(np.std(u))
    lo, hi = float(u.min()), float(u.max())
    if not scale > 0 or hi <= lo:
        return np.ones(n)
    h = 0.9 * scale * n ** (-0.2)
    nodes = 512
    f = (u - lo) / (hi - lo) * (nodes - 1)
    i0 = np.minimum(np.floor(f).astype(np.int64), nodes - 2)
    a = f - i0
    hist = np.bincount(i0, 1 - a, minlength=nodes) + np.bincount(i0 + 1, a, minlength=nodes)
    dens = gaussian_filter1d(hist, h / (hi - lo) * (nodes - 1), mode="reflect", truncate=4.0)
    p = (1 - a) * dens[i0] + a * dens[i0 + 1]
    p = np.maximum(p, floor_frac * float(np.median(p)))
    weights: np.ndarray = 1.0 / p
    return weights


def fit_zone_constant(
    c: Any,
    v: Any,
    values: Any,
    direction: str,
    q: float = 0.1,
    n_boot: int = 1000,
    seed: int = 0,
    reference: float = REFERENCE_ZONE.k,
    *,
    confidence: float = 0.95,
) -> ZoneConstant:
    """Estimate FSGDM's zone constant K = v (1 + 1/c) from trials, with a bootstrap percentile interval.

    **Estimator.** Let u = log10 K. The plain choice, the geometric mean of K over the best ``ceil(q n)``
    trials (reported as ``geometric_mean``), measures where the top trials *are*, which mixes where the zone is
    with where the search happened to sample: if the sampled density of u slopes across the zone (it always
    does when c and v are drawn log-uniformly, and much more so under TPE) the mean is pulled towards the denser
    side. The reported ``estimate`` removes that: it is the centroid of P(top | u), the probability that a trial
    at u is among the best, computed as the top trials' mean of u weighted by 1 / p(u), with p the density of u
    over *all* trials (a Gaussian KDE; importance weights, since p_top(u) is proportional to P(top | u) p(u)).
    To bound the variance where the search barely sampled, p is floored at 5% of its median. With uniform
    sampling in u the two estimators coincide.

    **Interval.** Percentile bootstrap over the trials (``n_boot`` resamples of all n trials with replacement;
    each resample re-selects its own top ``ceil(q n)``). It is vectorised exactly: after ranking the trials once
    (ties broken at random), a resample's top set consists of its draws with the smallest ranks, so only the draws
    that land among the best L ranks are generated (their number is Binomial(n, L/n), L a little above
    ceil(q n)); the rare resample with too few such draws is redone in full. The density p is held at its
    full-sample value. ``reference`` (the FSGDM README's 30.992, its profile's ``REFERENCE_ZONE``) is reported
    with whether it lies inside the interval.

    Rows where c or v is NaN (missing) are skipped (``n_used`` counts the rest); c and v must be positive.
    ``n_boot=0`` gives no interval.
    """
    cv = as_vector(c, "c", finite=False)
    vv = as_vector(v, "v", finite=False)
    vals = as_vector(values, "values")
    if cv.size != vals.size:
        raise ValueError(f"c has {cv.size} rows but values has {vals.size}")
    if vv.size != vals.size:
        raise ValueError(f"v has {vv.size} rows but values has {vals.size}")
    direction = check_direction(direction)
    q = check_q(q, "q")
    n_boot = check_int(n_boot, "n_boot", 0, 1_000_000)
    seed = check_int(seed, "seed", 0)
    if isinstance(reference, bool) or not isinstance(reference, numbers.Real) or not reference > 0:
        raise ValueError(f"reference must be a positive number, got {reference!r}")
    reference = float(reference)
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    for name, arr in (("c", cv), ("v", vv)):
        if np.isinf(arr).any() or (arr[np.isfinite(arr)] <= 0).any():
            raise ValueError(f"{name} must hold positive finite values (NaN for a missing one)")
    ok = np.isfinite(cv) & np.isfinite(vv)
    n = int(ok.sum())
    if n == 0:
        raise ValueError("c, v: no row has both c_scaling and v_coefficient")
    u = np.log10(zone_constant(cv[ok], vv[ok]))
    g = sign_of(direction) * vals[ok]

    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)  # random tie-breaking
    order = perm[np.argsort(-g[perm], kind="stable")]
    u_r = u[order]  # by rank, best first
    w_r = _density_weights(u)[order]
    m = n_best(q, n)
    top_u, top_w = u_r[:m], w_r[:m]
    est = float(np.dot(top_w, top_u) / top_w.sum())
    plain = float(top_u.mean())

    interval = None
    inside = None
    if n_boot > 0:
        boots = _bootstrap(u_r, w_r, m, n_boot, rng)
        alpha = (1.0 - confidence) / 2.0
        lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
        interval = (float(10.0**lo), float(10.0**hi))
        inside = bool(interval[0] <= reference <= interval[1])
    return ZoneConstant(
        estimate=float(10.0**est),
        interval=interval,
        geometric_mean=float(10.0**plain),
        q=q,
        n_used=n,
        n_top=m,
        n_boot=n_boot,
        confidence=float(confidence),
        reference=reference,
        reference_inside=inside,
        method="density-corrected geometric mean of K over the top-q trials (centroid of P(top | log K)); "
        "percentile bootstrap interval",
    )


def _bootstrap(u_r: np.ndarray, w_r: np.ndarray, m: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """log10 K estimates of ``n_boot`` bootstrap resamples (trials given by rank, best first)."""
    n = u_r.size
    wu = w_r * u_r
    if m == n:  # every resample's top set is the whole resample
        idx = rng.integers(0, n, size=(n_boot, n))
        estimates: np.ndarray = wu[idx].sum(axis=1) / w_r[idx].sum(axis=1)
        return estimates
    L = min(n, m + int(math.ceil(8.0 * math.sqrt(m))) + 16)
    k = rng.binomial(n, L / n, size=n_boot)
    out = np.empty(n_boot)
    itype = np.int32 if L < 2**31 - 1 else np.int64
    good = np.flatnonzero(k >= m)
    if good.size:
        kmax = int(k[good].max())
        chunk = max(1, 4_000_000 // kmax)
        col = np.arange(kmax)
        for s in range(0, good.size, chunk):
            b = good[s : s + chunk]
            draws = rng.integers(0, L, size=(b.size, kmax), dtype=itype)
            draws[col[None, :] >= k[b][:, None]] = L  # sentinel for the unused columns (sorts last)
            draws.sort(axis=1)
            top = draws[:, :m]
            out[b] = wu[top].sum(axis=1) / w_r[top].sum(axis=1)
    for short in np.flatnonzero(k < m):  # practically never (about 8 standard deviations): complete the resample
        idx = np.concatenate([rng.integers(0, L, size=k[short]), rng.integers(L, n, size=n - k[short])])
        idx = np.sort(idx)[:m]
        out[short] = wu[idx].sum() / w_r[idx].sum()
    return out
