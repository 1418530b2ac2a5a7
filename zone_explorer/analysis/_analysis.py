"""Everything a zone page needs, in one call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zone_explorer.analysis._importance import importance as _importance
from zone_explorer.analysis._map import ZoneMap, zone_map
from zone_explorer.analysis._stats import (
    ZoneConstant,
    best_configs,
    fit_zone_constant,
    top_q_marginals,
)
from zone_explorer.analysis._table import C_SCALING, V_COEFFICIENT, Tolerance, TrialTable, check_q, coerce_tolerance
from zone_explorer.core.zone_constant import REFERENCE_ZONE

__all__ = ["ZoneAnalysis", "analyze"]


@dataclass
class ZoneAnalysis:
    """The bundle behind a zone page (``to_dict`` is JSON-ready: no NaN, only lists/floats/str/bool/None)."""

    zone_map: ZoneMap
    best_configs: list[dict[str, Any]]
    marginals: dict[str, dict[str, Any]]
    importance: dict[str, float] | None
    importance_evaluator: str | None
    zone_constant: ZoneConstant | None
    tolerance: Tolerance
    q: float
    direction: str
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone_map": self.zone_map.to_dict(),
            "best_configs": self.best_configs,
            "marginals": self.marginals,
            "importance": self.importance,
            "importance_evaluator": self.importance_evaluator,
            "zone_constant": None if self.zone_constant is None else self.zone_constant.to_dict(),
            "tolerance": self.tolerance.to_dict(),
            "q": self.q,
            "direction": self.direction,
            "n_trials": self.n_trials,
        }


def analyze(
    table: TrialTable,
    x: str,
    y: str,
    tol: Tolerance,
    *,
    grid_size: int = 60,
    max_points: int = 2000,
    k: int = 10,
    q: float | None = None,
    bins: int = 30,
    distributions: Mapping[str, Any] | None = None,
    evaluator: Any = "ped-anova",
    with_importance: bool | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    reference: float = REFERENCE_ZONE.k,
) -> ZoneAnalysis:
    """:func:`zone_map` over (x, y) + :func:`best_configs` (k) + :func:`top_q_marginals` (q, bins) +
    :func:`importance` (when ``distributions`` is given, or ``with_importance=True``) + :func:`fit_zone_constant`
    (when the table has c_scaling and v_coefficient).

    ``q`` (for the marginals and the zone constant) defaults to the tolerance's q in ``top_q`` mode, else 0.1.
    """
    table.require_rows("table")
    tol = coerce_tolerance(tol)
    if q is None:
        q = tol.value if tol.mode == "top_q" else 0.1
    q = check_q(q, "q")
    zmap = zone_map(table, x, y, tol, grid_size, max_points=max_points, seed=seed)
    configs = best_configs(table, k)
    marginals = top_q_marginals(table, q, bins)
    if with_importance is None:
        with_importance = distributions is not None
    imp = ev_name = None
    if with_importance:
        imp = _importance(table, evaluator, distributions, seed=seed)
        ev_name = evaluator if isinstance(evaluator, str) else type(evaluator).__name__
    zc = None
    if C_SCALING in table.params and V_COEFFICIENT in table.params:
        c, v = table.params[C_SCALING], table.params[V_COEFFICIENT]
        if (np.isfinite(c) & np.isfinite(v)).any():  # some row has both
            zc = fit_zone_constant(c, v, table.values, table.direction, q=q, n_boot=n_boot, seed=seed,
                                   reference=reference)  # fmt: skip
    return ZoneAnalysis(
        zone_map=zmap,
        best_configs=configs,
        marginals=marginals,
        importance=imp,
        importance_evaluator=ev_name,
        zone_constant=zc,
        tolerance=tol,
        q=q,
        direction=table.direction,
        n_trials=len(table),
    )
