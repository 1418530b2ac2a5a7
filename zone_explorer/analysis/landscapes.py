"""Synthetic FSGDM landscapes whose zone is known exactly: the ground truth of the calibration tests and of
``benchmarks/zone_calibration.py``.

Each landscape is an accuracy-like metric over FSGDM's default box (c_scaling in [0.005, 2], v_coefficient in
[0.05, 50], both log-scaled), with one location parameter drawn at random per repetition:

* ``bump`` - a bump in log K around log K0 (the zone is the band |log K - log K0| <= 0.4);
* ``narrow`` - the same bump four times narrower (|log K - log K0| <= 0.1: 6.7% of the box), a band a coarse
  grid steps over;
* ``lopsided`` - a slow rise in log K up to K0, then a steep fall and, 0.15 decade past K0, divergence (the trial
  has no value: a cliff, as real runs show);
* ``c_only`` / ``v_only`` - a bump in log c, or in log v, alone (the zone is not a K level set);
* ``saturating`` - a K bump capped at 1.0, so many trials tie at the cap;
* ``v_beyond`` - a bump in log v centred beyond the box's upper bound (the zone is cut by the bound).

:func:`truth` gives the zone's K centre (the centroid of log10 K over the zone, uniform in the log box, the same
definition as the analysis) and volume, by Monte Carlo; :func:`sample_trials` a :class:`TrialTable` of noisy
trials drawn at random or by Optuna's TPE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zone_explorer.analysis._table import C_SCALING, V_COEFFICIENT, TrialTable
from zone_explorer.core.zone_constant import zone_constant

__all__ = [
    "BOUNDS",
    "LANDSCAPES",
    "Landscape",
    "Truth",
    "calibration_rows",
    "membership_scores",
    "prefix",
    "sample_trials",
    "truth",
]

#: FSGDM's default search box
BOUNDS: dict[str, tuple[float, float]] = {C_SCALING: (0.005, 2.0), V_COEFFICIENT: (0.05, 50.0)}
_LOG = {name: (math.log10(lo), math.log10(hi)) for name, (lo, hi) in BOUNDS.items()}
#: the value a diverged trial is scored at when a landscape is evaluated densely (chance accuracy)
WORST = 0.1
#: the zone's tolerance on every landscape (the default delta of an accuracy)
DELTA = 0.01


def _bowl(d: np.ndarray, width: float) -> np.ndarray:
    """0.98 at d = 0, falling by 0.01 at |d| = width (the zone's edge for delta 0.01), floored at 0.1."""
    out: np.ndarray = 0.98 - np.minimum(0.88, 0.01 * (d / width) ** 2)
    return out


def _bump(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    return _bowl(np.log10(zone_constant(c, v)) - p, 0.4)


def _narrow(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    return _bowl(np.log10(zone_constant(c, v)) - p, 0.1)


def _lopsided(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    u = np.log10(zone_constant(c, v)) - p
    out = np.where(u < 0, _bowl(u, 0.8), _bowl(u, 0.1))
    return np.where(u > 0.15, np.nan, out)


def _c_only(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    return _bowl(np.log10(c) - p, 0.3)


def _v_only(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    return _bowl(np.log10(v) - p, 0.3)


def _saturating(c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    return np.minimum(1.0, _bump(c, v, p) + 0.04)


@dataclass(frozen=True)
class Landscape:
    name: str
    metric: Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # NaN: the trial diverges
    location: tuple[float, float]  # the range the location parameter is drawn from
    level_set: bool  # whether the zone is a band of K
    cap: float = math.inf  # observations never exceed this (accuracy saturates at 1)


LANDSCAPES: dict[str, Landscape] = {
    ls.name: ls
    for ls in (
        Landscape("bump", _bump, (math.log10(15.0), math.log10(60.0)), True),
        Landscape("narrow", _narrow, (math.log10(15.0), math.log10(60.0)), True),
        Landscape("lopsided", _lopsided, (math.log10(15.0), math.log10(60.0)), True),
        Landscape("c_only", _c_only, (-1.5, 0.0), False),
        Landscape("v_only", _v_only, (-0.5, 1.2), False),
        Landscape("saturating", _saturating, (math.log10(15.0), math.log10(60.0)), True, cap=1.0),
        Landscape("v_beyond", _v_only, (1.9, 2.1), False),
    )
}


@dataclass(frozen=True)
class Truth:
    k_centre: float  # log10 K, centroid over the zone
    volume: float  # share of the log box inside the zone
    threshold: float  # the zone is where the metric is at least this (its best - delta)

    def inside(self, landscape: Landscape, c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
        """Whether the points (c, v) lie in the zone."""
        out: np.ndarray = _scored(landscape, c, v, p) >= self.threshold
        return out


def _scored(landscape: Landscape, c: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    """The landscape's metric at (c, v) as the truth scores it: a diverged point at :data:`WORST`."""
    out: np.ndarray = np.nan_to_num(landscape.metric(c, v, p), nan=WORST)
    return out


def truth(landscape: Landscape, p: float, delta: float = DELTA, m: int = 400_000, seed: int = 1) -> Truth:
    """The exact zone's K centre and volume (Monte Carlo over ``m`` uniform points of the log box)."""
    rng = np.random.default_rng(seed)
    c = 10.0 ** rng.uniform(*_LOG[C_SCALING], m)
    v = 10.0 ** rng.uniform(*_LOG[V_COEFFICIENT], m)
    f = _scored(landscape, c, v, p)
    threshold = float(f.max()) - delta
    zone = f >= threshold
    return Truth(float(np.mean(np.log10(zone_constant(c[zone], v[zone])))), float(zone.mean()), threshold)


def location(landscape: Landscape, rep: int) -> float:
    """The location parameter of repetition ``rep``."""
    return float(np.random.default_rng(10_000 + rep).uniform(*landscape.location))


def sample_trials(
    landscape: Landscape, p: float, n: int, seed: int, *, sampler: Any = "random", noise: float = 0.003
) -> TrialTable:
    """``n`` trials (finished and diverged) with seed noise ``noise`` (reported as each trial's noise variance),
    placed at random (log-uniform), by Optuna's TPE (seeded), or by the given Optuna sampler (diverged trials are
    told as failed)."""
    rng = np.random.default_rng(seed)
    if sampler == "random":
        c = 10.0 ** rng.uniform(*_LOG[C_SCALING], n)
        v = 10.0 ** rng.uniform(*_LOG[V_COEFFICIENT], n)
        y = landscape.metric(c, v, p) + rng.normal(0.0, noise, n)
    elif sampler == "tpe" or not isinstance(sampler, str):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        chosen = optuna.samplers.TPESampler(seed=seed) if sampler == "tpe" else sampler
        study = optuna.create_study(direction="maximize", sampler=chosen)
        cs, vs, ys = [], [], []
        for _ in range(n):
            trial = study.ask()
            ct = trial.suggest_float(C_SCALING, *BOUNDS[C_SCALING], log=True)
            vt = trial.suggest_float(V_COEFFICIENT, *BOUNDS[V_COEFFICIENT], log=True)
            yt = min(
                float(landscape.metric(np.array(ct), np.array(vt), p)) + float(rng.normal(0.0, noise)), landscape.cap
            )
            if math.isfinite(yt):
                study.tell(trial, yt)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            cs.append(ct)
            vs.append(vt)
            ys.append(yt)
        c, v, y = np.array(cs), np.array(vs), np.array(ys)
    else:
        raise ValueError(f"sampler must be 'random', 'tpe' or an Optuna sampler, got {sampler!r}")
    y = np.minimum(y, landscape.cap)
    ok = np.isfinite(y)
    return TrialTable(
        params={C_SCALING: c[ok], V_COEFFICIENT: v[ok]},
        values=y[ok],
        origin=np.full(int(ok.sum()), "explored"),
        ids=np.flatnonzero(ok),
        log_params=frozenset(BOUNDS),
        noise_var=np.full(int(ok.sum()), noise**2),
        diverged={C_SCALING: c[~ok], V_COEFFICIENT: v[~ok]},
    )


def prefix(table: TrialTable, n: int) -> TrialTable:
    """The trials of ``table`` among its first ``n`` (ids are trial numbers): a study stopped after n trials."""
    keep = table.ids < n
    n_diverged = len(next(iter(table.diverged.values()), []))
    # the diverged trials are stored in trial order: their numbers are the ones the finished trials lack
    div_ids = np.setdiff1d(np.arange(len(table) + n_diverged), table.ids)
    div_keep = div_ids < n
    return TrialTable(
        params={k: col[keep] for k, col in table.params.items()},
        values=table.values[keep],
        origin=table.origin[keep],
        ids=table.ids[keep],
        log_params=table.log_params,
        noise_var=None if table.noise_var is None else table.noise_var[keep],
        diverged={k: col[div_keep] for k, col in table.diverged.items()},
    )


def calibration_rows(
    landscape: Landscape, sampler: Any, rep: int, ns: Sequence[int], **kwargs: Any
) -> dict[int, dict[str, Any]]:
    """One repetition of the calibration study: a new location and a study of ``max(ns)`` trials, analysed after
    each n in ``ns``. Per n: K's ``status``, the warning ``codes``, ``n_done`` (finished trials), and where reported
    ``k_err`` (decades), ``k_cover``, ``v_err`` and ``v_cover`` against the truth, and ``p_in`` and ``in_zone``:
    each map node's membership probability and whether it truly lies in the zone. ``kwargs`` go to model_zone;
    its ``delta`` (default :data:`DELTA`) sets the true zone too."""
    from zone_explorer.analysis._zone import model_zone

    p = location(landscape, rep)
    delta = kwargs.pop("delta", DELTA)
    true = truth(landscape, p, delta)
    full = sample_trials(landscape, p, max(ns), rep, sampler=sampler)
    out = {}
    for n in ns:
        table = prefix(full, n)
        z = model_zone(table, C_SCALING, V_COEFFICIENT, delta=delta, bounds=BOUNDS, seed=rep, **kwargs)
        assert z.k is not None  # the landscapes search c and v
        row: dict[str, Any] = {"status": z.k["status"], "codes": {w["code"] for w in z.warnings}, "n_done": len(table)}
        if z.k["estimate"] is not None:
            lo, hi = (math.log10(b) for b in z.k["interval"])
            row["k_err"] = math.log10(z.k["estimate"]) - true.k_centre
            row["k_cover"] = lo <= true.k_centre <= hi
        vol = z.zone["volume_fraction"] if z.zone else None
        if vol and vol["estimate"] is not None:
            row["v_err"] = vol["estimate"] - true.volume
            row["v_cover"] = vol["interval"][0] <= true.volume <= vol["interval"][1]
        if z.zone is not None:
            m = z.zone["membership"]
            prob = np.asarray(m["probability"], dtype=np.float64)  # rows along y (v), columns along x (c)
            c, v = np.meshgrid(np.asarray(m["x"]), np.asarray(m["y"]))
            ok = np.isfinite(prob)
            row["p_in"], row["in_zone"] = prob[ok], true.inside(landscape, c[ok], v[ok], p)
        out[n] = row
    return out


def membership_scores(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """How the membership probabilities of calibration rows (their ``p_in``, ``in_zone``) bear out, pooled over
    the rows' map nodes: ``core``, the share of nodes with P >= 0.9 (the confident core) that lie in the zone;
    ``exterior``, the share of nodes with P <= 0.1 that do; ``middle``, the share of nodes with 0.3 <= P <= 0.7
    that do (their mean P is about 0.5); ``recall`` and ``precision`` of the outline (P >= 0.5) against the zone;
    and ``nodes``, how many were pooled (NaN where a share has no nodes)."""
    p = np.concatenate([r["p_in"] for r in rows if "p_in" in r] or [np.empty(0)])
    inside = np.concatenate([r["in_zone"] for r in rows if "in_zone" in r] or [np.empty(0, dtype=bool)])

    def share(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else math.nan

    return {
        "core": share(inside[p >= 0.9]),
        "exterior": share(inside[p <= 0.1]),
        "middle": share(inside[(p >= 0.3) & (p <= 0.7)]),
        "recall": share(p[inside] >= 0.5),
        "precision": share(inside[p >= 0.5]),
        "nodes": float(p.size),
    }
