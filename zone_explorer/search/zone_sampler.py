"""``ZoneSampler``: an Optuna sampler that maps the zone (a level set) instead of chasing the optimum.

The zone is the region within ``delta`` of the best. Optuna's samplers spend their trials near the peak and leave
the zone's extent unknown; mapping a level set with few evaluations is active learning for level-set estimation
(Bryan et al., NeurIPS 2005; Gotovos et al., IJCAI 2013). The rule here is Bryan's *straddle*: after a short
space-filling start (a scrambled Sobol sequence), each trial goes where

    straddle(x) = 1.96 sd(x) - |mean(x) - T|,    T = (best modelled value) - delta,

is largest: uncertain points close to the zone's edge, which is where a result moves the outline most. ``mean``
and ``sd`` come from the zone model of :mod:`zone_explorer.analysis` (a Gaussian process on the warped metric,
failed trials entering as diverged, i.e. outside the zone: at least twice ``delta`` below the best; a trial that
stores its per-seed values in the ``seed_values`` user attribute, as the engine's trials do, enters with their
spread as its noise), so T tracks the best value as it improves. For FSGDM's (c_scaling, v_coefficient) the model
also sees log K, and so follows the band.

Parallel workers: trials still running (in any process; they are in the storage) are pending. Candidates near a
pending trial are penalised by ``1 - exp(-d^2 / (2 l^2))`` (d and the length scales l in the model's unit box), so
N workers asking at once spread out instead of picking the same point. Conditioning on the pending trials at the
model's mean instead (a kriging believer) spread four simultaneous asks less, for about the same trials to target
with four workers (README, ``benchmarks/zone_search.py --workers 4``).

After the start every trial follows the model. Giving every third of them to the Sobol sequence instead (a hedge
against a wrong kernel; digits-cnn at delta 0.05 is where the zone sampler trails QMC) moved nothing beyond the
seeds' noise: over 10 seeds, trials to target 17.5 against 23.5 there (never reached in 1 seed against 3), the
synthetic bands unchanged, but at delta 0.01 precision 0.32 against 0.43 and noisy-quadratic's K error 14% against 4%.

Dimensions: float and int distributions (log or not, with steps) are modelled; categorical ones, and any
parameter outside the shared search space, are sampled independently by a seeded :class:`RandomSampler`.
Proposals are repeatable: the Sobol sequence and the candidate sets are seeded by ``seed`` and the trial number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import qmc

from zone_explorer.analysis._model import MetricModel, SearchBox, fit_model
from zone_explorer.analysis._table import trials_noise_var
from zone_explorer.analysis._zone import default_delta

__all__ = ["ZoneSampler"]

#: the kernel's hyperparameters and the warp are re-chosen every this many new results; in between, a refit
#: reuses them
_REFIT_EVERY = 10


class ZoneSampler(BaseSampler):
    """Sample where the zone's outline is uncertain (see the module docstring).

    Args:
        delta: the zone's tolerance in metric units; default per metric (0.01 for a metric in [0, 1]).
        n_startup_trials: Sobol points before the model is used.
        n_candidates: candidate points scored per ask.
        seed: makes proposals repeatable.
    """

    def __init__(
        self,
        *,
        delta: float | None = None,
        n_startup_trials: int = 8,
        n_candidates: int = 1024,
        seed: int | None = None,
    ) -> None:
        if delta is not None and (isinstance(delta, bool) or not math.isfinite(delta) or delta < 0):
            raise ValueError(f"delta must be a finite number >= 0 (metric units), got {delta!r}")
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 1:
            raise ValueError(f"n_startup_trials must be an integer >= 1, got {n_startup_trials!r}")
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or not 16 <= n_candidates <= 65536:
            raise ValueError(f"n_candidates must be an integer in [16, 65536], got {n_candidates!r}")
        self._delta = delta
        self._n_startup = n_startup_trials
        self._n_candidates = n_candidates
        self._seed = 0 if seed is None else int(seed)
        self._independent = RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        self._theta: np.ndarray | None = None
        self._warp_scale: float | None = None
        self._theta_at = -_REFIT_EVERY

    # ---- Optuna's interface ----------------------------------------------------------------------------------
    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {
            name: dist
            for name, dist in self._search_space.calculate(study).items()
            if isinstance(dist, (FloatDistribution, IntDistribution)) and dist.high > dist.low
        }

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if len(study.directions) != 1:
            raise ValueError("ZoneSampler: a zone needs a single-objective study")
        names = sorted(search_space)
        box = _box(names, search_space)
        trials = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING))
        done = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value) and _has(t, names)
        ]
        if len(done) < self._n_startup:
            return _to_params(box, search_space, self._sobol(box.dim, trial.number))
        failed = [t for t in trials if t.state == TrialState.FAIL and _has(t, names)]
        pending = [t for t in trials if t.state == TrialState.RUNNING and t.number != trial.number and _has(t, names)]
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        values = np.array([t.value for t in done], dtype=np.float64)
        done_cols = _columns(done, names)
        noise = trials_noise_var(done)
        delta = self._delta if self._delta is not None else default_delta(values, study.direction.name.lower())
        model = self._fit(box, done_cols, failed, sign * values, noise, delta)
        rng = np.random.default_rng([self._seed, trial.number])
        unit = rng.random((self._n_candidates, box.dim))
        mean, sd = model.predict(box.unit_features(unit))
        # the threshold on the model's warped scale: the best modelled value (at the candidates and the trials)
        at_trials, _ = model.predict(box.unit_features(box.to_unit(done_cols)))
        best = model.warp.inverse(np.array([max(float(mean.max()), float(at_trials.max()))]))[0]
        threshold = float(model.warp(np.array([best - delta]))[0])
        score = 1.96 * sd - np.abs(mean - threshold)
        if pending:
            ls = _length_scales(model, box.dim)
            score = score - score.min() + 1e-12  # positive, so that the penalty scales it down
            for u in box.to_unit(_columns(pending, names)):
                d2 = np.sum(((unit - u) / ls) ** 2, axis=1)
                score *= 1.0 - np.exp(-0.5 * d2)
        return _to_params(box, search_space, unit[int(np.argmax(score))])

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._independent.after_trial(study, trial, state, values)

    # ---- internals ------------------------------------------------------------------------------------------
    def _sobol(self, dim: int, number: int) -> np.ndarray:
        """The ``number``-th point of a scrambled Sobol sequence (the same for every process with this seed)."""
        block = 1 << max(5, math.ceil(math.log2(number + 1)))
        points = qmc.Sobol(dim, scramble=True, seed=self._seed).random(block)
        out: np.ndarray = points[number]
        return out

    def _fit(
        self,
        box: SearchBox,
        done: dict[str, np.ndarray],
        failed: list[FrozenTrial],
        goodness: np.ndarray,
        noise_var: np.ndarray,
        delta: float,
    ) -> MetricModel:
        n = goodness.size
        refit = self._theta is None or n - self._theta_at >= _REFIT_EVERY
        model = fit_model(
            box,
            done,
            goodness,
            noise_var=noise_var,
            diverged=_columns(failed, box.names) if failed else None,
            delta=delta,
            seed=self._seed,
            theta=None if refit else self._theta,
            warp_scale=None if refit else self._warp_scale,
        )
        if refit:
            self._theta, self._warp_scale, self._theta_at = model.theta, model.warp_scale, n
        return model


def _has(trial: FrozenTrial, names: list[str]) -> bool:
    return all(name in trial.params for name in names)


def _columns(trials: list[FrozenTrial], names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: np.array([t.params[name] for t in trials], dtype=np.float64) for name in names}


def _box(names: list[str], space: dict[str, BaseDistribution]) -> SearchBox:
    low, high, log = [], [], []
    for name in names:
        dist = space[name]
        assert isinstance(dist, (FloatDistribution, IntDistribution))
        low.append(float(dist.low))
        high.append(float(dist.high))
        log.append(bool(dist.log))
    return SearchBox(tuple(names), np.array(low), np.array(high), tuple(log))


def _length_scales(model: MetricModel, dim: int) -> np.ndarray:
    """The most probable component's length scales over the box's own axes (unit coordinates)."""
    top = max(model.components, key=lambda c: c.prob)
    ls = np.atleast_1d(np.asarray(top.kernel.k2.length_scale, dtype=np.float64))
    out: np.ndarray = np.minimum(ls[:dim] if ls.size >= dim else np.full(dim, float(ls[0])), 1.0)
    return out


def _to_params(box: SearchBox, space: dict[str, BaseDistribution], unit: np.ndarray) -> dict[str, Any]:
    cols = box.from_unit(np.clip(unit, 0.0, 1.0)[None, :])
    out: dict[str, Any] = {}
    for name in box.names:
        dist = space[name]
        value = float(cols[name][0])
        if isinstance(dist, IntDistribution):
            step = dist.step
            out[name] = int(min(dist.high, max(dist.low, dist.low + round((value - dist.low) / step) * step)))
        else:
            assert isinstance(dist, FloatDistribution)
            if dist.step is not None:
                value = dist.low + round((value - dist.low) / dist.step) * dist.step
            out[name] = float(min(dist.high, max(dist.low, value)))
    return out
