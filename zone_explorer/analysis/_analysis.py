"""Everything a zone page needs, in one call."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from zone_explorer.analysis._importance import importance as _importance
from zone_explorer.analysis._map import ZoneMap, zone_map
from zone_explorer.analysis._stats import best_configs, top_q_marginals
from zone_explorer.analysis._table import Tolerance, TrialTable, check_q, coerce_tolerance
from zone_explorer.analysis._zone import ModelZone, model_zone
from zone_explorer.core.zone_constant import REFERENCE_ZONE, ReferenceZone

__all__ = ["ZoneAnalysis", "analyze"]


@dataclass
class ZoneAnalysis:
    """The bundle behind a zone page (``to_dict`` is JSON-ready: no NaN, only lists/floats/str/bool/None)."""

    zone_map: ZoneMap
    best_configs: list[dict[str, Any]]
    marginals: dict[str, dict[str, Any]]
    importance: dict[str, float] | None
    importance_evaluator: str | None
    model_zone: ModelZone
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
            **self.model_zone.to_dict(),
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
    seed: int = 0,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    budget_params: Collection[str] = (),
    reference: ReferenceZone | None = REFERENCE_ZONE,
) -> ZoneAnalysis:
    """The trials' view - :func:`zone_map` over (x, y), :func:`best_configs` (k), :func:`top_q_marginals`
    (q, bins), :func:`importance` (when ``distributions`` is given, or ``with_importance=True``) - and the zone on
    the model (:func:`model_zone`: membership, outline, volume, FSGDM's K, diagnostics, warnings).

    ``tol`` draws the trials' view; a ``delta`` tolerance is also the model zone's delta (else its default per
    metric). ``q`` (for the marginals) defaults to the tolerance's q in ``top_q`` mode, else 0.1. ``bounds``: the
    searched ranges (the study's distributions), ``budget_params``: parameters that set a trial's budget,
    ``reference``: the published zone shown beside FSGDM's K.
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
    mz = model_zone(
        table,
        x,
        y,
        delta=tol.value if tol.mode == "delta" else None,
        bounds=bounds,
        budget_params=budget_params,
        reference=reference,
        seed=seed,
    )
    return ZoneAnalysis(
        zone_map=zmap,
        best_configs=configs,
        marginals=marginals,
        importance=imp,
        importance_evaluator=ev_name,
        model_zone=mz,
        tolerance=tol,
        q=q,
        direction=table.direction,
        n_trials=len(table),
    )
