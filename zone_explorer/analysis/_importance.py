"""Parameter importance with Optuna's own evaluators, over the rows of a TrialTable."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zone_explorer.analysis._table import TrialTable, check_int, closest_hint, sign_of

__all__ = ["EVALUATORS", "importance"]

#: evaluator name -> (Optuna class name, default constructor options)
EVALUATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "ped-anova": ("PedAnovaImportanceEvaluator", {}),
    # Optuna's defaults (64 fully grown trees) take minutes on a few hundred trials; shallow trees keep a request
    # near a second and rank the parameters the same way on our data. Override with evaluator_options.
    "fanova": ("FanovaImportanceEvaluator", {"n_trees": 32, "max_depth": 6}),
    "mean-decrease-impurity": ("MeanDecreaseImpurityImportanceEvaluator", {"n_trees": 64, "max_depth": 64}),
}
_ALIASES = {"pedanova": "ped-anova", "ped_anova": "ped-anova", "mdi": "mean-decrease-impurity"}
_SEEDED = ("fanova", "mean-decrease-impurity")


def _make_evaluator(evaluator: Any, options: Mapping[str, Any] | None, seed: int) -> tuple[Any, str]:
    import optuna

    if isinstance(evaluator, optuna.importance.BaseImportanceEvaluator):
        if options:
            raise ValueError("evaluator_options: only allowed with an evaluator given by name")
        return evaluator, type(evaluator).__name__
    if not isinstance(evaluator, str):
        raise ValueError(f"evaluator must be one of {sorted(EVALUATORS)} or an Optuna importance evaluator")
    name = _ALIASES.get(evaluator.lower(), evaluator.lower())
    if name not in EVALUATORS:
        raise ValueError(
            f"evaluator must be one of {sorted(EVALUATORS)}, got {evaluator!r}{closest_hint(evaluator, EVALUATORS)}"
        )
    cls_name, defaults = EVALUATORS[name]
    kwargs = dict(defaults)
    if name in _SEEDED:
        kwargs["seed"] = seed
    kwargs.update(options or {})
    try:
        return getattr(optuna.importance, cls_name)(**kwargs), name
    except (TypeError, AssertionError) as exc:
        raise ValueError(f"evaluator_options are not valid for {name!r}: {exc}") from None


def _infer_distribution(col: np.ndarray, log: bool) -> Any:
    from optuna.distributions import FloatDistribution

    finite = col[np.isfinite(col)]
    lo, hi = float(finite.min()), float(finite.max())
    return FloatDistribution(lo, hi, log=bool(log and lo > 0))


def importance(
    table: TrialTable,
    evaluator: Any = "ped-anova",
    distributions: Mapping[str, Any] | None = None,
    *,
    params: Sequence[str] | None = None,
    max_trials: int | None = 2000,
    seed: int = 0,
    evaluator_options: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Normalised parameter importances (descending), computed by Optuna.

    The rows become ``optuna.trial.create_trial`` FrozenTrials (each with the parameters it has) in an in-memory
    study with the table's direction, and :func:`optuna.importance.get_param_importances` evaluates them with
    ``evaluator``: ``"ped-anova"`` (default, fast; handles rows lacking a parameter), ``"fanova"`` or
    ``"mean-decrease-impurity"`` (these two only use rows that have every assessed parameter), or an Optuna
    evaluator instance. ``evaluator_options`` are passed to the evaluator's constructor (fANOVA defaults to 32
    trees of depth 6 here, since Optuna's fully grown trees take minutes).

    ``distributions`` are the search-space distributions by parameter (e.g. a study's); entries for parameters
    the table lacks (categoricals) are ignored, and parameters without one get a FloatDistribution over their
    observed range (log for ``table.log_params``). ``params`` limits the assessed parameters (default: every
    table parameter). Adding a trial to an Optuna study costs about 0.15 ms (a deep copy), so tables longer than
    ``max_trials`` are assessed on a subsample of that many rows, stratified by rank (one random row from each of
    ``max_trials`` consecutive slices of the ranking, seeded), so every quantile of the metric keeps its share and
    the top-q trials stay the top-q trials (None: no cap).
    """
    import optuna
    from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

    table.require_rows("table")
    seed = check_int(seed, "seed", 0)
    if max_trials is not None:
        max_trials = check_int(max_trials, "max_trials", 2)
    ev, ev_name = _make_evaluator(evaluator, evaluator_options, seed)

    if params is None:
        names = list(table.params)
    else:
        if isinstance(params, str) or not all(isinstance(p, str) for p in params):
            raise ValueError("params must be a list of parameter names")
        names = list(dict.fromkeys(params))
        for p in names:
            if p not in table.params:
                raise ValueError(f"params: unknown parameter {p!r}{closest_hint(p, table.params)}")
    if not names:
        raise ValueError("table has no numeric parameters to assess")

    if distributions is not None and not isinstance(distributions, Mapping):
        raise ValueError("distributions must be a mapping of parameter name -> Optuna distribution")
    dists: dict[str, Any] = {}
    for p in names:
        col = table.params[p]
        d = None if distributions is None else distributions.get(p)
        if d is None:
            if not np.isfinite(col).any():
                raise ValueError(f"params: parameter {p!r} has no values")
            d = _infer_distribution(col, p in table.log_params)
        elif not isinstance(d, BaseDistribution):
            raise ValueError(f"distributions[{p!r}] must be an Optuna distribution, got {type(d).__name__}")
        elif isinstance(d, (FloatDistribution, IntDistribution)):
            finite = col[np.isfinite(col)]
            out = finite[(finite < d.low) | (finite > d.high)]
            if out.size:
                raise ValueError(f"distributions[{p!r}] = {d} does not contain the table's value {out[0]!r}")
            if isinstance(d, IntDistribution) and not np.all(finite == np.round(finite)):
                raise ValueError(f"distributions[{p!r}] is an IntDistribution but the table holds non-integers")
        else:
            raise ValueError(f"distributions[{p!r}]: only Float/IntDistribution apply to numeric table columns")
        dists[p] = d

    cols = np.column_stack([table.params[p] for p in names])
    present = np.isfinite(cols)
    if ev_name in ("fanova", "mean-decrease-impurity") or not isinstance(evaluator, str):
        rows = np.flatnonzero(present.all(axis=1))
    else:
        rows = np.flatnonzero(present.any(axis=1))
    if rows.size < 2:
        raise ValueError(f"table: importance needs at least 2 rows with the assessed parameters, has {rows.size}")
    if max_trials is not None and rows.size > max_trials:
        ranked = rows[np.argsort(-sign_of(table.direction) * table.values[rows], kind="stable")]
        u = np.random.default_rng(seed).random(max_trials)
        pos = np.minimum(((np.arange(max_trials) + u) * (rows.size / max_trials)).astype(np.int64), rows.size - 1)
        rows = np.sort(ranked[pos])

    is_int = [isinstance(dists[p], IntDistribution) for p in names]
    sub = cols[rows].tolist()
    sub_present = present[rows].tolist()
    vals = table.values[rows].tolist()
    trials = []
    for row, pres, value in zip(sub, sub_present, vals):
        tp, td = {}, {}
        for p, x, has, integer in zip(names, row, pres, is_int):
            if has:
                tp[p] = int(round(x)) if integer else x
                td[p] = dists[p]
        trials.append(optuna.trial.create_trial(params=tp, distributions=td, value=value))
    # a throwaway in-memory study: its "new study created" INFO line would only confuse a user reading the log
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction=optuna.study.StudyDirection[table.direction.upper()])
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(trials)
    # Names sorted: Optuna 5.0.0's mean-decrease-impurity evaluator labels its (name-sorted) columns with the
    # names in the order given, so an unsorted list swaps the importances between parameters.
    res = optuna.importance.get_param_importances(study, evaluator=ev, params=sorted(names))
    clean = {str(k): (float(v) if math.isfinite(float(v)) else 0.0) for k, v in res.items()}
    return dict(sorted(clean.items(), key=lambda kv: -kv[1]))
