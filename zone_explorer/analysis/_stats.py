"""Best configurations and top-q marginals: the trials' view of the zone."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zone_explorer.analysis._table import (
    DERIVED_K,
    Tolerance,
    TrialTable,
    check_int,
    check_q,
    float_list,
    py_scalar,
    sign_of,
    span,
    to_natural,
    zone_members,
)

__all__ = ["best_configs", "top_q_marginals"]


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
