"""Zone analysis: where in hyperparameter space training goes well.

Pure functions over a :class:`TrialTable` (one row per finished trial or contribution), returning dataclasses
whose ``to_dict()`` is plain JSON-ready data (lists, floats, str, bool; None instead of NaN):

* :func:`zone_threshold` - the metric value that bounds the zone for a :class:`Tolerance`;
* :func:`zone_map` - a smoothed surface over two axes with the zone mask, outline polygons, best points and a
  capped scatter sample (:class:`ZoneMap`);
* :func:`best_configs`, :func:`top_q_marginals`, :func:`importance` (Optuna's evaluators);
* :func:`model_zone` - the zone on a model of the metric (a Gaussian process, :mod:`._model`): P(in zone) over the
  map with its 0.5 outline and 0.9 core, the zone's volume, FSGDM's K band with the ridge K*(c) and lr K,
  the level-set diagnostic and coded warnings (:class:`ModelZone`; K itself and its reference value are defined
  once, in :mod:`zone_explorer.core.zone_constant`);
* :func:`analyze` - all of the above in one :class:`ZoneAnalysis`.

The trials' view (``zone_map``, ``marginals``) shows where good trials landed; the zone itself is the model's.
:mod:`zone_explorer.analysis.landscapes` holds synthetic landscapes whose zone is known, for calibration.

Axes are parameter names, or ``"K"`` (derived, log scale) when the table has ``c_scaling`` and
``v_coefficient``.
"""

from zone_explorer.analysis._analysis import ZoneAnalysis, analyze
from zone_explorer.analysis._contour import contour_polygons, point_in_ring, ring_area
from zone_explorer.analysis._importance import EVALUATORS, importance
from zone_explorer.analysis._map import ZoneMap, zone_map
from zone_explorer.analysis._stats import best_configs, top_q_marginals
from zone_explorer.analysis._table import (
    C_SCALING,
    DERIVED_K,
    ORIGINS,
    SEED_VALUES_ATTR,
    V_COEFFICIENT,
    Tolerance,
    TrialTable,
    seed_noise_var,
    study_distributions,
    zone_threshold,
)
from zone_explorer.analysis._zone import MIN_TRIALS, WARNING_CODES, KStatus, ModelZone, default_delta, model_zone

__all__ = [
    "C_SCALING",
    "DERIVED_K",
    "EVALUATORS",
    "MIN_TRIALS",
    "WARNING_CODES",
    "KStatus",
    "ModelZone",
    "ORIGINS",
    "SEED_VALUES_ATTR",
    "V_COEFFICIENT",
    "Tolerance",
    "TrialTable",
    "ZoneAnalysis",
    "ZoneMap",
    "analyze",
    "best_configs",
    "contour_polygons",
    "default_delta",
    "importance",
    "model_zone",
    "point_in_ring",
    "ring_area",
    "seed_noise_var",
    "study_distributions",
    "top_q_marginals",
    "zone_map",
    "zone_threshold",
]
