"""A model of the metric over the searched region: a Gaussian process on a warped metric.

Why a Gaussian process, and why scikit-learn's: the zone must come with honest uncertainty, and a GP gives a
joint posterior over the metric at any set of points, from which the zone (a level set relative to the unknown
best) is sampled as a whole. scikit-learn's :class:`~sklearn.gaussian_process.GaussianProcessRegressor` fits the
kernel's hyperparameters (maximum marginal likelihood, L-BFGS with restarts) on CPU in milliseconds for the few
hundred points a zone needs; BoTorch/GPyTorch would add a second large stack for no gain at this size. Only the
objective it maximises is the model's own (:func:`_log_marginal_likelihood`, held equal to scikit-learn's by a test):
scikit-learn's generic one spends most of its time in kernel bookkeeping. The fitted kernel is then used directly
(below) so that posterior samples are of the *latent* metric, without observation noise.

The pieces:

* :class:`SearchBox` - the searched parameters with their bounds; unit coordinates (log10 for log parameters).
* Features: the unit coordinates, except that FSGDM's ``(c_scaling, v_coefficient)`` become ``(log K, log c)``
  (K = v (1 + 1/c)): the zone is a band along K, and an anisotropic kernel on (log K, log c) can give it a long
  length scale along c. (The change of variables has unit Jacobian in log space, so volumes are unchanged.)
* :class:`Warp` - ``w(g) = -log(U - g)`` on the goodness ``g`` (the metric, negated when minimised), with ``U``
  above the metric's ideal value (1 for a fraction to maximise, 0 for a positive loss) or its best. It spreads
  the top, where the zone is decided, and compresses the bottom, so a divergence cliff next to the zone does not
  force a short length scale on the whole map. How far above (the warp's strength) is chosen per fit by the
  likelihood of the metric itself (see :func:`fit_model`).
* :func:`fit_model` - a Matern-5/2 ARD kernel times a constant, plus white noise, plus each trial's own seed
  variance (``value_std**2 / n_seeds``, through the warp's slope) as known heteroscedastic noise. Diverged trials
  enter at the worst observed value (at least twice delta below the best), pooled per cell of a coarse grid: they
  bound the zone. More than ``max_fit`` points are aggregated into cells of a grid in feature space (cell means,
  with the cell's spread as noise), so 100,000 trials cost what 300 do.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize

from zone_explorer.analysis._table import C_SCALING, DERIVED_K, V_COEFFICIENT
from zone_explorer.core.zone_constant import zone_constant

__all__ = ["MAX_FIT", "MetricModel", "SearchBox", "Warp", "fit_model"]

#: most points the Gaussian process is fitted to; more trials are aggregated into grid cells first
MAX_FIT = 150
#: about this many cells over the box pool the diverged trials (see fit_model): 12 x 12 in two dimensions
DIVERGED_CELLS = 144


# ---------------------------------------------------------------------------------------------------------
# the searched region
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchBox:
    """The searched parameters: names, (low, high) bounds in natural units, and which are on a log scale."""

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    log: tuple[bool, ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def has_k(self) -> bool:
        return C_SCALING in self.names and V_COEFFICIENT in self.names

    def _t(self, i: int, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.log10(x) if self.log[i] else np.asarray(x, dtype=np.float64)
        return out

    def t_bounds(self, i: int) -> tuple[float, float]:
        lo, hi = self._t(i, np.array([self.low[i], self.high[i]]))
        return float(lo), float(hi)

    def to_unit(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """(m, dim) unit coordinates of parameter columns (0..1 inside the box)."""
        out = []
        for i, name in enumerate(self.names):
            lo, hi = self.t_bounds(i)
            out.append((self._t(i, cols[name]) - lo) / (hi - lo))
        return np.column_stack(out)

    def from_unit(self, u: np.ndarray) -> dict[str, np.ndarray]:
        cols = {}
        for i, name in enumerate(self.names):
            lo, hi = self.t_bounds(i)
            t = lo + u[:, i] * (hi - lo)
            cols[name] = np.power(10.0, t) if self.log[i] else t
        return cols

    def inside(self, cols: dict[str, np.ndarray], tol: float = 1e-9) -> np.ndarray:
        u = self.to_unit(cols)
        ok: np.ndarray = np.all(np.isfinite(u) & (u >= -tol) & (u <= 1 + tol), axis=1)
        return ok

    def k_bounds(self) -> tuple[float, float]:
        """log10 of the smallest and largest K the box reaches."""
        ic, iv = self.names.index(C_SCALING), self.names.index(V_COEFFICIENT)
        lo = zone_constant(float(self.high[ic]), float(self.low[iv]))
        hi = zone_constant(float(self.low[ic]), float(self.high[iv]))
        return math.log10(lo), math.log10(hi)

    def features(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """The model's input: the unit coordinates, plus log K scaled to the box's K range when c and v are
        searched (see the module docstring)."""
        return self.unit_features(self.to_unit(cols))

    def unit_features(self, u: np.ndarray) -> np.ndarray:
        if not self.has_k:
            return u
        cols = self.from_unit(u)
        klo, khi = self.k_bounds()
        logk = np.log10(zone_constant(cols[C_SCALING], cols[V_COEFFICIENT]))
        return np.column_stack([u, (logk - klo) / (khi - klo)])

    def feature_names(self) -> list[str]:
        return [*self.names, DERIVED_K] if self.has_k else list(self.names)


# ---------------------------------------------------------------------------------------------------------
# the warp
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Warp:
    """``w(g) = -log(upper - g)``: monotone, spreads the goodness near ``upper`` (see the module docstring)."""

    upper: float

    @classmethod
    def for_values(cls, g: np.ndarray, scale: float = 1.0) -> Warp:
        """The warp for goodness values ``g``: ``upper`` above 1 when they lie in [0, 1] (a fraction to maximise),
        above 0 when they are all <= 0 (a non-negative loss, negated), else above the best; by ``scale`` x 1% of
        their range (the larger the gap, the weaker the warp: see :data:`WARP_SCALES`)."""
        g_max, g_min = float(g.max()), float(g.min())
        eps = scale * max(0.01 * (g_max - g_min), 1e-9 * max(1.0, abs(g_max)))
        if g_min >= 0.0 and g_max <= 1.0:
            ideal = 1.0
        elif g_max <= 0.0:
            ideal = 0.0
        else:
            ideal = g_max
        return cls(ideal + eps)

    def __call__(self, g: np.ndarray) -> np.ndarray:
        out: np.ndarray = -np.log(self.upper - g)
        return out

    def slope(self, g: np.ndarray) -> np.ndarray:
        out: np.ndarray = 1.0 / (self.upper - g)
        return out

    def inverse(self, w: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.upper - np.exp(-w)
        return out

    def describe(self) -> str:
        return f"w = -log({self.upper:.6g} - goodness)"


# ---------------------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------------------
#: length-scale multiples of the maximum-likelihood fit over which the model is averaged (see :func:`fit_model`)
SCALES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4)
#: white-noise multiples of the maximum-likelihood fit over which the model is averaged when trials do not carry
#: their own noise (see :func:`fit_model`); a wider range (0.5-4) gave no more on digits-cnn
NOISE_SCALES = (1.0, 2.0)
#: the white noise's bounds (a variance of the normalised warped goodness)
NOISE_BOUNDS = (1e-6, 1.0)
#: a diverged trial enters the fit at least this many zone tolerances (``delta``) below the best finished trial
DIVERGED_DELTAS = 2.0
#: the warp's gap above the ideal value, in multiples of 1% of the metric's range, among which each fit chooses by
#: the metric's likelihood (see :func:`fit_model`); larger gaps than 30 chose the same on every landscape tried
WARP_SCALES = (1.0, 3.0, 10.0, 30.0)
#: the averaged model keeps at most this many components, the heaviest (a posterior draw costs one factorisation
#: per component)
MAX_COMPONENTS = 6


@dataclass
class _Component:
    """One Gaussian process posterior: a latent kernel, the white noise, and the solved training system."""

    kernel: Any  # sklearn kernel of the latent function (no white noise)
    noise: float  # white noise variance, normalised units
    chol: np.ndarray
    weights: np.ndarray
    prob: float  # posterior weight of this hyperparameter setting


@dataclass
class MetricModel:
    """A Gaussian process of the warped goodness over a :class:`SearchBox`'s features, averaged over a few
    length-scale and white-noise settings (``components``, weighted by their marginal likelihood)."""

    box: SearchBox
    warp: Warp
    components: list[_Component]
    y_mean: float
    y_std: float
    x_fit: np.ndarray
    n_fit: int
    aggregated: bool
    n_trials: int
    n_diverged: int
    description: str = ""
    best_observed: float = math.nan  # the best goodness among the finished trials
    theta: np.ndarray | None = None  # the kernel's fitted log hyperparameters (see fit_model's ``theta``)
    warp_scale: float = 1.0  # the warp's gap the fit chose (see fit_model's ``warp_scale``)
    log_likelihood: float = math.nan  # of the fitted values in metric units (how fit_model chooses the warp)

    @property
    def noise_std(self) -> float:
        """The fitted noise, as a standard deviation of the warped metric (the most probable component's)."""
        top = max(self.components, key=lambda c: c.prob)
        return math.sqrt(top.noise) * self.y_std

    def _posterior(self, comp: _Component, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ks = comp.kernel(x, self.x_fit)
        v = solve_triangular(comp.chol, ks.T, lower=True, check_finite=False)
        return ks @ comp.weights, v

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent warped goodness at features ``x``."""
        means, second = np.zeros(x.shape[0]), np.zeros(x.shape[0])
        for comp in self.components:
            mean, v = self._posterior(comp, x)
            var = np.maximum(comp.kernel.diag(x) - np.einsum("ij,ij->j", v, v), 1e-12)
            means += comp.prob * mean
            second += comp.prob * (var + mean**2)
        sd = np.sqrt(np.maximum(second - means**2, 1e-12))
        return self.y_mean + self.y_std * means, self.y_std * sd

    def sample(self, x: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_samples, m)`` joint posterior draws of the latent goodness (metric units, warp undone): each
        component contributes draws in proportion to its weight."""
        counts = rng.multinomial(n_samples, [c.prob for c in self.components])
        m = x.shape[0]
        out = []
        for comp, k in zip(self.components, counts):
            if k == 0:
                continue
            mean, v = self._posterior(comp, x)
            cov = comp.kernel(x) - v.T @ v
            jitter = 1e-8
            for _ in range(6):
                try:
                    lc = cholesky(cov + jitter * np.eye(m), lower=True, check_finite=False)
                    break
                except np.linalg.LinAlgError:
                    jitter *= 10.0
            else:  # fall back to the eigendecomposition (a positive semi-definite square root)
                evals, evecs = np.linalg.eigh(cov)
                lc = evecs * np.sqrt(np.maximum(evals, 0.0))
            out.append((mean[:, None] + lc @ rng.standard_normal((m, k))).T)
        draws = np.vstack(out)
        return self.warp.inverse(self.y_mean + self.y_std * draws)


def _cells(x: np.ndarray, per_axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the unit box by cell of a ``per_axis``-per-axis grid: each point's cell (0..k-1 over the occupied
    cells), the points per cell, and each cell's mean position."""
    idx = np.clip((x * per_axis).astype(np.int64), 0, per_axis - 1)
    key = np.ravel_multi_index(tuple(idx.T), (per_axis,) * x.shape[1])
    _, inv, count = np.unique(key, return_inverse=True, return_counts=True)
    sums = np.zeros((count.size, x.shape[1]))
    np.add.at(sums, inv, x)
    return inv, count, sums / count[:, None]


def _pool_by_cell(x: np.ndarray, cells: int) -> np.ndarray:
    """One point per occupied cell of a grid of about ``cells`` cells over the unit box: the mean of its points."""
    return _cells(x, max(2, round(cells ** (1.0 / x.shape[1]))))[2]


def _aggregate(
    x: np.ndarray, y: np.ndarray, var: np.ndarray, max_fit: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most about ``max_fit`` points: grid cells in feature space (d <= 3), else a random subsample."""
    n, d = x.shape
    if d > 3:
        keep = rng.choice(n, max_fit, replace=False)
        return x[keep], y[keep], var[keep]
    inv, count, centres = _cells(x, max(2, int(math.floor(max_fit ** (1.0 / d)))))
    k = count.size
    sy = np.bincount(inv, y, minlength=k)
    syy = np.bincount(inv, y * y, minlength=k)
    sv = np.bincount(inv, var, minlength=k)
    mean_y = sy / count
    spread = np.maximum(syy / count - mean_y**2, 0.0)
    # the mean of `count` draws: its noise is (seed variance + within-cell spread) / count
    return centres, mean_y, (sv / count + spread) / count


def fit_model(
    box: SearchBox,
    cols: dict[str, np.ndarray],
    goodness: np.ndarray,
    *,
    noise_var: np.ndarray | None = None,
    diverged: dict[str, np.ndarray] | None = None,
    delta: float | None = None,
    max_fit: int = MAX_FIT,
    seed: int = 0,
    theta: np.ndarray | None = None,
    warp_scale: float | None = None,
) -> MetricModel:
    """Fit the metric model to finished trials (``cols``: searched parameter columns, ``goodness``: sign * value)
    and diverged ones (``diverged``: their parameter columns; they enter at the worst observed goodness, or
    :data:`DIVERGED_DELTAS` x ``delta`` below the best where that is lower).

    ``noise_var``: each trial's known observation variance in metric units (its seed variance over the number of
    seeds; NaN or None where unknown). ``theta`` and ``warp_scale``: the kernel's log hyperparameters and the warp
    of an earlier fit (the model's ``theta`` and ``warp_scale``): they are reused instead of fitted, which makes a
    refit cost one factorisation (a sampler refits after every trial).

    The warp's strength is chosen per fit: one fit per gap of :data:`WARP_SCALES`, and the one under which the
    metric's values are most likely wins (the warped GP's marginal likelihood plus the log-Jacobian of the warp,
    ``sum(w(g))``: a warped GP, Snelson, Rasmussen and Ghahramani, NIPS 2003). A strong warp suits a metric that
    falls off a cliff (digits-cnn's accuracy, down to chance: it keeps the tightest gap in most studies), whose fall
    it compresses; on a smooth bump it bends the top into a spike that a stationary kernel cannot follow, so the
    model smoothed the peak down and the shoulders up, and the outline erred wide: on the synthetic bands and c- or
    v-alone metrics at 20 and 60 trials, map nodes at P 0.3-0.7 lay in the zone in 0.01-0.53 of cases with the
    tightest gap always, 0.43-0.80 with the gap chosen (README, ``benchmarks/zone_calibration.py``). Only the
    chosen fit is then averaged over length scales and noise levels.
    """
    if theta is not None and warp_scale is None:
        raise ValueError("fit_model: theta is reused only with the warp_scale it was fitted with")
    g = np.asarray(goodness, dtype=np.float64)
    args = (box, cols, g, noise_var, diverged, delta, max_fit, seed, theta)
    if warp_scale is not None:
        return _averaged(box, g, _fit_warped(*args, warp_scale))
    fits = [_fit_warped(*args, scale) for scale in WARP_SCALES]
    return _averaged(box, g, max(fits, key=lambda f: f.log_likelihood))


@dataclass
class _WarpedFit:
    """One maximum-likelihood GP fit under one warp, before the model averages over its neighbours."""

    warp: Warp
    warp_scale: float
    kernel: Any  # the fitted scikit-learn kernel (see _kernel)
    x: np.ndarray  # the fitted features
    yn: np.ndarray  # the fitted, normalised warped goodness
    alpha: np.ndarray  # the fitted points' known noise, normalised
    y_mean: float
    y_std: float
    noise_known: bool
    aggregated: bool
    n_total: int
    n_diverged: int
    log_likelihood: float  # of the fitted values in metric units (how fit_model chooses the warp)


def _kernel(d: int) -> Any:
    """The model's kernel over ``d`` features, at its starting hyperparameters: constant x Matern-5/2 with one
    length scale per feature, plus white noise (:func:`_log_marginal_likelihood` computes its likelihood)."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    return ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
        length_scale=np.full(d, 0.3), length_scale_bounds=(0.03, 30.0), nu=2.5
    ) + WhiteKernel(0.05, NOISE_BOUNDS)


def _fit_warped(
    box: SearchBox,
    cols: dict[str, np.ndarray],
    g: np.ndarray,
    noise_var: np.ndarray | None,
    diverged: dict[str, np.ndarray] | None,
    delta: float | None,
    max_fit: int,
    seed: int,
    theta: np.ndarray | None,
    warp_scale: float,
) -> _WarpedFit:
    """The kernel's maximum-likelihood fit (or ``theta``'s) under the warp of gap ``warp_scale``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor

    warp = Warp.for_values(g, warp_scale)
    x = box.to_unit(cols)
    known_var = np.full(g.size, np.nan) if noise_var is None else np.asarray(noise_var, dtype=np.float64)
    noise_known = bool(np.isfinite(known_var).all())
    var_g = np.nan_to_num(known_var)
    y = warp(g)
    var = var_g * warp.slope(g) ** 2
    n_div = 0
    if diverged:
        xd = box.to_unit(diverged)
        xd = xd[np.all(np.isfinite(xd), axis=1)]
        n_div = xd.shape[0]
        if n_div:
            # A diverged trial says "bad here", not how bad, and many of them in one place say no more than one:
            # they are pooled per cell of a coarse grid over the box (one point per occupied cell, at the cell's
            # mean position), each at the worst finished value with the finished trials' spread as its noise.
            # Taken one by one, the 50 of 60 trials that TPE (which ignores failures) sends past a cliff would
            # pin the model down there and draw a smooth, confident fall across the gap to the last finished
            # trials, where the cliff could be anywhere: K's interval then missed on the lopsided landscape.
            # The worst finished value is not always bad: where every finished trial lies within a few deltas of
            # the best (a flat rise before a cliff, or the first few trials), it lies in the zone, and a diverged
            # trial imputed there drew the cliff's far side into the zone (the lopsided band's whole box, at 4
            # Sobol trials) and kept the sampler returning to the same diverged cell. So it enters at most
            # DIVERGED_DELTAS x delta below the best: outside the zone.
            worst = float(g.min())
            if delta is not None:
                worst = min(worst, float(g.max()) - DIVERGED_DELTAS * delta)
            xd = _pool_by_cell(xd, DIVERGED_CELLS)
            spread = float(np.var(y)) if y.size > 1 else 1.0
            x = np.vstack([x, xd])
            y = np.concatenate([y, np.full(xd.shape[0], float(warp(np.array([worst]))[0]))])
            var = np.concatenate([var, np.full(xd.shape[0], spread)])
    n_total = x.shape[0]
    rng = np.random.default_rng(seed)
    aggregated = n_total > max_fit
    if aggregated:
        x, y, var = _aggregate(x, y, var, max_fit, rng)
    x = box.unit_features(x)
    y_mean = float(y.mean())
    y_std = float(y.std()) or 1.0
    yn = (y - y_mean) / y_std
    alpha = var / y_std**2 + 1e-10
    kernel = _kernel(x.shape[1])
    # The white noise is constant on the warped scale, so in metric units it is smallest at the best. A noise
    # constant in metric units instead (white noise x the warp's slope squared, as the trials' own seed noise enters)
    # was measured and not taken: on digits-cnn at delta 0.01 (20 zone-sampler trials, 10 seeds) precision / recall
    # fell from 0.43 (0.26) / 0.89 (0.61) to 0.39 (0.00) / 0.78 (0.00) and K's interval covered 5/10 instead of 8/10;
    # at delta 0.05 and on noisy-quadratic it moved nothing beyond the seeds' noise (the synthetic calibration does
    # not see it: those trials carry their own noise).
    if theta is not None and theta.size == kernel.theta.size:
        # hyperparameters reused (a sampler's refit): nothing to optimise, and scikit-learn's fit would only repeat
        # a factorisation that _averaged makes anyway, on its slower generic objective
        kernel = kernel.clone_with_theta(theta)
        log_marginal = _log_marginal_likelihood(theta, x, yn, alpha)[0]
    else:
        gp = GaussianProcessRegressor(
            kernel=kernel,
            alpha=alpha,
            normalize_y=False,
            # a second start guards the few-trial fits, where the likelihood has several optima; beyond that, one
            n_restarts_optimizer=int(x.shape[0] <= 60),
            random_state=seed,
            optimizer=_Lbfgs(x, yn, alpha),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, yn)
        kernel, log_marginal = gp.kernel_, float(gp.log_marginal_likelihood_value_)
    # the fitted points' log-likelihood in metric units: the Jacobian of g -> (w(g) - y_mean) / y_std is
    # w'(g) / y_std = exp(w) / y_std (cells and diverged points enter by their warped values, as they are fitted)
    log_likelihood = log_marginal + float(np.sum(y)) - y.size * math.log(y_std)
    return _WarpedFit(
        warp, warp_scale, kernel, x, yn, alpha, y_mean, y_std, noise_known, aggregated, n_total, n_div, log_likelihood
    )


def _log_marginal_likelihood(
    theta: np.ndarray, x: np.ndarray, y: np.ndarray, alpha: np.ndarray, *, gradient: bool = False
) -> tuple[float, np.ndarray | None]:
    """The log marginal likelihood of ``y`` at ``x`` under :func:`_kernel` with log hyperparameters ``theta``, plus
    the known noise ``alpha``, and with ``gradient`` its gradient in ``theta``: what scikit-learn's
    ``log_marginal_likelihood`` computes for this kernel (a unit test holds them equal), without its generic kernel
    machinery, which at the few dozen points of a zone's fit costs 2.5-6 times the arithmetic. With the kernel
    matrix K and a = K^-1 y,

        log p(y) = -y^T a / 2 - log det(K) / 2 - n log(2 pi) / 2,
        d log p(y) / d theta_i = tr((a a^T - K^-1) dK / d theta_i) / 2.
    """
    n, d = x.shape
    amplitude, noise, root5 = math.exp(theta[0]), math.exp(theta[-1]), math.sqrt(5.0)
    sq = ((x[:, None, :] - x[None, :, :]) / np.exp(theta[1 : 1 + d])) ** 2  # per feature, in length scales
    r = np.sqrt(sq.sum(axis=-1))
    decay = np.exp(-root5 * r)
    k = amplitude * (1.0 + root5 * r + 5.0 / 3.0 * r**2) * decay
    cov = k.copy()
    cov[np.diag_indices(n)] += alpha + noise
    try:
        chol = cholesky(cov, lower=True, check_finite=False)
    except np.linalg.LinAlgError:  # as scikit-learn: a kernel matrix that is not positive definite is impossible
        return -math.inf, (np.zeros_like(theta) if gradient else None)
    a = cho_solve((chol, True), y, check_finite=False)
    value = float(-0.5 * y @ a - np.log(np.diag(chol)).sum() - 0.5 * n * math.log(2.0 * math.pi))
    if not gradient:
        return value, None
    inner = np.outer(a, a) - cho_solve((chol, True), np.eye(n), check_finite=False)
    grad = np.empty_like(theta)
    grad[0] = 0.5 * np.einsum("ij,ij->", inner, k)
    # d k / d log(length scale_f) = amplitude 5/3 (1 + sqrt(5) r) exp(-sqrt(5) r) x (feature f's share of r^2)
    radial = inner * (amplitude * 5.0 / 3.0 * (1.0 + root5 * r) * decay)
    grad[1 : 1 + d] = 0.5 * np.einsum("ij,ijf->f", radial, sq)
    grad[-1] = 0.5 * noise * np.trace(inner)
    return value, grad


@dataclass(frozen=True)
class _Lbfgs:
    """The GP's hyperparameter optimiser: scikit-learn's own (L-BFGS-B from each start, within the kernel's
    bounds), on :func:`_log_marginal_likelihood` of the fitted points in place of the generic ``objective`` that
    scikit-learn passes."""

    x: np.ndarray
    y: np.ndarray
    alpha: np.ndarray

    def __call__(self, objective: Any, initial_theta: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float]:
        def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = _log_marginal_likelihood(theta, self.x, self.y, self.alpha, gradient=True)
            assert grad is not None
            return -value, -grad

        result = minimize(negative, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds)
        return result.x, float(result.fun)


def _averaged(box: SearchBox, g: np.ndarray, fit: _WarpedFit) -> MetricModel:
    """The model of :func:`fit_model`: ``fit`` averaged over multiples of its length scales and noise."""
    kernel, x, yn, alpha = fit.kernel, fit.x, fit.yn, fit.alpha
    d = x.shape[1]
    # Maximum likelihood picks one length scale; with few trials the likelihood is flat and that choice is
    # overconfident (the zone's edges move with it). The model averages over multiples of the fitted length
    # scales, each weighted by its marginal likelihood (a uniform prior on the log multiple): broad with few
    # trials, the fitted model alone with many.
    # The same holds for the white noise where trials do not carry their own noise (single-seed trials): there it
    # stands for the seed spread, and the fitted value, too small in some runs of 20 trials, made the zone's edge
    # and K's interval overconfident (digits-cnn at delta 0.01, 20 zone-sampler trials over 10 seeds: K's
    # interval covered 6/10, with twice the noise in the average 9/10). Where every trial's noise is known the
    # white noise is only the model's misfit, and is not averaged over; nor where the fit put it at its floor
    # (the trials' own noise, e.g. a large study's cell spreads, carries it all): twice a negligible noise changes
    # no draw, and its components only doubled the cost of a draw (a 10,000-trial study's analysis took 0.54-0.62 s
    # with them, 0.44-0.46 s without).
    theta = kernel.theta.copy()
    at_floor = theta[-1] <= math.log(NOISE_BOUNDS[0]) + 1e-6
    noise_scales = (1.0,) if fit.noise_known or at_floor else NOISE_SCALES
    ls = slice(1, 1 + d)  # theta = log [amplitude, length scales..., noise]
    thetas, lml = [], []
    for scale in SCALES:
        for noise_scale in noise_scales:
            t = theta.copy()
            t[ls] += math.log(scale)
            t[-1] += math.log(noise_scale)
            thetas.append(t)
            lml.append(_log_marginal_likelihood(t, x, yn, alpha)[0])
    prob = np.exp(np.array(lml) - max(lml))
    prob /= prob.sum()
    # the heaviest, kept in their grid order (which the draws' random stream follows)
    kept = sorted(i for i in np.argsort(-prob, kind="stable")[:MAX_COMPONENTS] if prob[i] >= 1e-3)
    components = []
    for t, pr in zip([thetas[i] for i in kept], prob[kept]):
        k = kernel.clone_with_theta(t)
        noise = float(k.k2.noise_level)
        chol = cholesky(k.k1(x) + np.diag(alpha + noise), lower=True, check_finite=False)
        components.append(_Component(k.k1, noise, chol, cho_solve((chol, True), yn, check_finite=False), float(pr)))
    total = sum(c.prob for c in components)
    for c in components:
        c.prob /= total
    return MetricModel(
        box=box,
        warp=fit.warp,
        components=components,
        y_mean=fit.y_mean,
        y_std=fit.y_std,
        x_fit=x,
        n_fit=x.shape[0],
        aggregated=fit.aggregated,
        n_trials=fit.n_total,
        n_diverged=fit.n_diverged,
        description=f"{kernel.k1} + white noise, averaged over length scales x {SCALES} and white noise x "
        f"{noise_scales} (marginal-likelihood weights, the heaviest {MAX_COMPONENTS}), on features "
        f"{box.feature_names()}",
        best_observed=float(g.max()),
        theta=theta,
        warp_scale=fit.warp_scale,
        log_likelihood=fit.log_likelihood,
    )
