"""Zone analysis: where in hyperparameter space training goes well.

Pure functions over a :class:`TrialTable` (one row per finished trial or contribution), returning dataclasses
whose ``to_dict()`` is plain JSON-ready data (lists, floats, str, bool; None instead of NaN):

* :func:`zone_threshold` - the metric value that bounds the zone for a :class:`Tolerance`;
* :func:`zone_map` - a smoothed surface over two axes with the zone mask, outline polygons, best points and a
  capped scatter sample (:class:`ZoneMap`);
* :func:`best_configs`, :func:`top_q_marginals`, :func:`importance` (Optuna's evaluators);
* :func:`fit_zone_constant` - FSGDM's K = v (1 + 1/c) with a bootstrap interval (:class:`ZoneConstant`; K itself
  and its reference value are defined once, in :mod:`zone_explorer.core.zone_constant`);
* :func:`analyze` - all of the above in one :class:`ZoneAnalysis`.

Axes are parameter names, or ``"K"`` (derived, log scale) when the table has ``c_scaling`` and
``v_coefficient``.
"""

from zone_explorer.analysis._analysis import ZoneAnalysis, analyze
from zone_explorer.analysis._contour import contour_polygons, point_in_ring, ring_area
from zone_explorer.analysis._importance import EVALUATORS, importance
from zone_explorer.analysis._map import ZoneMap, zone_map
from zone_explorer.analysis._stats import ZoneConstant, best_configs, fit_zone_constant, top_q_marginals
from zone_explorer.analysis._table import (
    C_SCALING,
    DERIVED_K,
    ORIGINS,
    V_COEFFICIENT,
    Tolerance,
    TrialTable,
    study_distributions,
    zone_threshold,
)

__all__ = [
    "C_SCALING",
    "DERIVED_K",
    "EVALUATORS",
    "ORIGINS",
    "V_COEFFICIENT",
    "Tolerance",
    "TrialTable",
    "ZoneAnalysis",
    "ZoneConstant",
    "ZoneMap",
    "analyze",
    "best_configs",
    "contour_polygons",
    "fit_zone_constant",
    "importance",
    "point_in_ring",
    "ring_area",
    "study_distributions",
    "top_q_marginals",
    "zone_map",
    "zone_threshold",
]
