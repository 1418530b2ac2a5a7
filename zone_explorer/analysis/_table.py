"""The trial table, the tolerance, the zone threshold, and the shared validation and JSON helpers."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zone_explorer.core.zone_constant import zone_constant

__all__ = [
    "C_SCALING",
    "DERIVED_K",
    "DIRECTIONS",
    "ORIGINS",
    "SEED_VALUES_ATTR",
    "V_COEFFICIENT",
    "Tolerance",
    "TrialTable",
    "seed_noise_var",
    "trials_noise_var",
    "zone_threshold",
]

ORIGINS = ("explored", "contributed", "verified")
DIRECTIONS = ("maximize", "minimize")
#: FSGDM's parameters and the derived axis K (:func:`~zone_explorer.core.zone_constant.zone_constant`).
C_SCALING = "c_scaling"
V_COEFFICIENT = "v_coefficient"
DERIVED_K = "K"
#: the Optuna user attribute that holds a trial's metric per training seed (its value is their mean): the engine's
#: workers write it (``engine.worker._result_attrs``), and any study's trials may carry it. Two or more values give
#: the trial's known noise.
SEED_VALUES_ATTR = "seed_values"


def seed_noise_var(seed_values: Any) -> float:
    """The noise variance of a trial's value, the mean of ``seed_values``: their sample variance over their count;
    NaN unless it is a list of at least two finite numbers (one seed, or an attribute a user wrote otherwise)."""
    if not isinstance(seed_values, (list, tuple)) or len(seed_values) < 2:
        return math.nan
    if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) for x in seed_values):
        return math.nan
    return float(np.var(np.asarray(seed_values, dtype=np.float64), ddof=1)) / len(seed_values)


def trials_noise_var(trials: Iterable[Any]) -> np.ndarray:
    """:func:`seed_noise_var` of each Optuna trial's :data:`SEED_VALUES_ATTR` user attribute (NaN where unknown)."""
    return np.array([seed_noise_var(t.user_attrs.get(SEED_VALUES_ATTR)) for t in trials], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# small validation helpers (every message names the argument at fault)
# ---------------------------------------------------------------------------------------------------------
def check_direction(direction: Any, argname: str = "direction") -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"{argname} must be 'maximize' or 'minimize', got {direction!r}")
    return str(direction)


def check_int(value: object, argname: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{argname} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{argname} must be {rng}, got {value}")
    return value


def check_q(q: object, argname: str = "q") -> float:
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not math.isfinite(float(q)):
        raise ValueError(f"{argname} must be a fraction in (0, 1], got {q!r}")
    q = float(q)
    if not 0.0 < q <= 1.0:
        raise ValueError(f"{argname} must be a fraction in (0, 1], got {q!r}")
    return q


def as_vector(values: Any, argname: str, *, finite: bool = True, allow_empty: bool = False) -> np.ndarray:
    """A 1-D float64 array (a fresh copy is not promised)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argname} must be a 1-D array of numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{argname} must be a 1-D array, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{argname} is empty: there is nothing to analyse")
    if finite and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(f"{argname} must be finite; {bad.size} row(s) are not (first at row {int(bad[0])})")
    return arr


def n_best(q: float, n: int) -> int:
    """ceil(q * n) in exact arithmetic (0.1 * 30 must give 3, not 4), at least 1."""
    return max(1, min(n, math.ceil(q * n * (1.0 - 1e-12))))


def sign_of(direction: str) -> float:
    """+1 for maximize, -1 for minimize: ``sign * value`` is larger for better trials."""
    return 1.0 if direction == "maximize" else -1.0


def closest_hint(name: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


# ---------------------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------------------
def py_scalar(value: Any) -> Any:
    """A plain Python scalar for JSON: numpy ints/floats/strings unwrapped, NaN and inf -> None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def float_list(arr: np.ndarray) -> list[Any]:
    """Nested lists of floats with None where the array is NaN/inf (any shape)."""
    arr = np.asarray(arr, dtype=np.float64)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    nested: list[Any] = out.tolist()
    return nested


# ---------------------------------------------------------------------------------------------------------
# Tolerance
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """How far from the best a trial may be and still be in the zone.

    ``mode="top_q"``: ``value`` is a fraction q in (0, 1]; the zone holds the best ``ceil(q * n)`` trials (and any
    tied with the last of them). ``mode="delta"``: ``value`` is an absolute distance in metric units (>= 0); the
    zone holds the trials within ``value`` of the best value.
    """

    mode: str = "top_q"
    value: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in ("top_q", "delta"):
            raise ValueError(f"tol.mode must be 'top_q' or 'delta', got {self.mode!r}")
        if self.mode == "top_q":
            object.__setattr__(self, "value", check_q(self.value, "tol.value (top_q fraction q)"))
        else:
            v = self.value
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
                raise ValueError(f"tol.value (delta) must be a finite number >= 0, got {v!r}")
            if float(v) < 0:
                raise ValueError(f"tol.value (delta) must be >= 0 (a distance from the best value), got {v!r}")
            object.__setattr__(self, "value", float(v))

    @classmethod
    def top(cls, q: float) -> Tolerance:
        return cls("top_q", q)

    @classmethod
    def within(cls, delta: float) -> Tolerance:
        return cls("delta", delta)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "value": self.value}


def coerce_tolerance(tol: Any, argname: str = "tol") -> Tolerance:
    """Accept a :class:`Tolerance` or a mapping ``{"mode": ..., "value": ...}`` (as the REST layer receives it)."""
    if isinstance(tol, Tolerance):
        # re-validate: a caller may have bypassed the frozen dataclass
        return Tolerance(tol.mode, tol.value)
    if isinstance(tol, Mapping):
        if set(tol) != {"mode", "value"}:
            raise ValueError(f"{argname} must have exactly the keys 'mode' and 'value', got {sorted(tol)}")
        return Tolerance(tol["mode"], tol["value"])
    raise ValueError(f"{argname} must be a Tolerance, got {type(tol).__name__}")


# ---------------------------------------------------------------------------------------------------------
# zone threshold
# ---------------------------------------------------------------------------------------------------------
def threshold_goodness(g: np.ndarray, tol: Tolerance) -> float:
    """The zone threshold on the 'goodness' scale (larger is better), NaN entries ignored."""
    g = g[np.isfinite(g)]
    if g.size == 0:
        return math.nan
    if tol.mode == "top_q":
        m = n_best(tol.value, g.size)
        return float(np.partition(g, g.size - m)[g.size - m])  # the m-th largest
    return float(g.max() - tol.value)


def zone_threshold(values: Any, direction: str, tol: Tolerance) -> float:
    """The metric value that bounds the zone.

    For ``maximize`` the zone is ``values >= threshold``, for ``minimize`` it is ``values <= threshold``.

    * ``top_q``: the ``ceil(q * n)``-th best value (so q = 1 gives the worst value, and ties with it are in);
    * ``delta``: ``best - delta`` (maximize) or ``best + delta`` (minimize).
    """
    vals = as_vector(values, "values")
    direction = check_direction(direction)
    tol = coerce_tolerance(tol)
    s = sign_of(direction)
    return s * threshold_goodness(s * vals, tol)


def zone_members(values: np.ndarray, direction: str, tol: Tolerance) -> np.ndarray:
    """Boolean mask of the rows in the zone (ties with the threshold included)."""
    s = sign_of(direction)
    g = s * values
    return g >= threshold_goodness(g, tol)


# ---------------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------------
@dataclass
class TrialTable:
    """One row per finished trial or contribution.

    ``params`` maps each numeric parameter to a float64 column (NaN where a row lacks the parameter);
    categorical parameters are not included. ``values`` holds the finite metric per row, ``origin`` one of
    ``"explored" | "contributed" | "verified"`` per row (a single string is broadcast), ``ids`` the trial number
    or contribution id per row (None gives 0..n-1). ``log_params`` names the parameters that live on a log scale;
    ``direction`` is ``"maximize"`` or ``"minimize"``. For the model zone: ``noise_var`` is each row's known
    observation variance (its seeds' variance over their number; NaN where unknown), ``diverged`` the parameter
    columns of trials that diverged (no value; they bound the zone), ``constants`` the values every trial shared
    (e.g. a fixed lr). Columns are validated and converted on construction.
    """

    params: dict[str, np.ndarray]
    values: np.ndarray
    origin: np.ndarray
    ids: np.ndarray
    log_params: frozenset[str] = frozenset()
    direction: str = "maximize"
    noise_var: np.ndarray | None = None
    diverged: dict[str, np.ndarray] = field(default_factory=dict)
    constants: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = as_vector(self.values, "values", allow_empty=True)
        n = values.size
        if not isinstance(self.params, Mapping):
            raise ValueError(f"params must be a mapping of parameter name -> column, got {type(self.params).__name__}")
        params: dict[str, np.ndarray] = {}
        for name, col in self.params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"params: parameter names must be non-empty strings, got {name!r}")
            arr = as_vector(col, f"params[{name!r}]", finite=False, allow_empty=True)
            if arr.size != n:
                raise ValueError(f"params[{name!r}] has {arr.size} rows but values has {n}")
            if np.isinf(arr).any():
                raise ValueError(f"params[{name!r}] must be finite or NaN (missing), it holds inf")
            params[name] = arr
        self.params = params
        self.values = values

        origin = self.origin
        if isinstance(origin, str):
            origin = np.full(n, origin)
        origin = np.asarray(origin)
        if origin.ndim != 1 or origin.size != n:
            raise ValueError(f"origin has {origin.size} rows but values has {n}")
        origin = origin.astype(str)
        bad = ~np.isin(origin, ORIGINS)
        if bad.any():
            raise ValueError(f"origin must be one of {ORIGINS}, got {origin[bad][0]!r}")
        self.origin = origin

        ids = np.arange(n) if self.ids is None else np.asarray(self.ids)
        if ids.ndim != 1 or ids.size != n:
            raise ValueError(f"ids has {ids.size} rows but values has {n}")
        self.ids = ids

        if isinstance(self.log_params, str):
            raise ValueError("log_params must be a collection of parameter names, not a single string")
        self.log_params = frozenset(self.log_params)
        for name in self.log_params & set(params):
            col = params[name]
            if (col[np.isfinite(col)] <= 0).any():
                raise ValueError(f"params[{name!r}] is a log-scale parameter (log_params) but holds values <= 0")
        self.direction = check_direction(self.direction)
        if self.noise_var is not None:
            nv = as_vector(self.noise_var, "noise_var", finite=False, allow_empty=True)
            if nv.size != n:
                raise ValueError(f"noise_var has {nv.size} rows but values has {n}")
            if (nv[np.isfinite(nv)] < 0).any():
                raise ValueError("noise_var must be >= 0 (a variance; NaN where unknown)")
            self.noise_var = nv
        if not isinstance(self.diverged, Mapping):
            raise ValueError("diverged must be a mapping of parameter name -> column of the diverged trials")
        div: dict[str, np.ndarray] = {}
        sizes = set()
        for name, col in self.diverged.items():
            arr = as_vector(col, f"diverged[{name!r}]", finite=False, allow_empty=True)
            sizes.add(arr.size)
            div[str(name)] = arr
        if len(sizes) > 1:
            raise ValueError(f"diverged: every column must have the same length, got {sorted(sizes)}")
        self.diverged = div
        if not isinstance(self.constants, Mapping):
            raise ValueError("constants must be a mapping of parameter name -> its fixed value")
        self.constants = {str(k): float(v) for k, v in self.constants.items()}

    # ---- shape ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def param_names(self) -> list[str]:
        return list(self.params)

    @property
    def has_k(self) -> bool:
        """Whether the derived axis K is available."""
        return DERIVED_K in self.params or (C_SCALING in self.params and V_COEFFICIENT in self.params)

    def axis_names(self) -> list[str]:
        """Every name usable as a map axis: the parameters, plus ``"K"`` when it can be derived."""
        names = list(self.params)
        if self.has_k and DERIVED_K not in names:
            names.append(DERIVED_K)
        return names

    def is_derived(self, name: str) -> bool:
        return name == DERIVED_K and DERIVED_K not in self.params and self.has_k

    def is_log(self, name: str) -> bool:
        return name in self.log_params or self.is_derived(name)

    def column(self, name: str, argname: str = "name") -> np.ndarray:
        """The column for a parameter or for the derived K (NaN where a row lacks it)."""
        if name in self.params:
            return self.params[name]
        if self.is_derived(name):
            return zone_constant(self.params[C_SCALING], self.params[V_COEFFICIENT])
        raise ValueError(
            f"{argname}: unknown axis {name!r}{closest_hint(name, self.axis_names())}; "
            f"available: {', '.join(map(repr, self.axis_names())) or 'none'}"
        )

    def require_rows(self, argname: str = "table") -> None:
        if len(self) == 0:
            raise ValueError(f"{argname} is empty: it has no trials to analyse")

    # ---- construction from Optuna ----------------------------------------------------------------------
    @classmethod
    def from_study(
        cls,
        study: Any,
        origin: str = "explored",
        *,
        failed_as_diverged: bool = False,
        rename: Mapping[str, str] | None = None,
    ) -> TrialTable:
        """The COMPLETE trials of a single-objective Optuna study with a finite value (numeric params only).

        ``failed_as_diverged``: FAIL trials (and COMPLETE ones with a non-finite value) become the table's
        ``diverged`` rows, which bound the zone. ``rename`` maps a study's parameter names to the analysis' own
        (e.g. ``{"c": "c_scaling", "v": "v_coefficient"}`` for FSGDM's K).
        """
        from optuna.distributions import FloatDistribution, IntDistribution
        from optuna.study import StudyDirection
        from optuna.trial import TrialState

        if len(study.directions) != 1:
            raise ValueError("study: only single-objective studies can be turned into a TrialTable")
        rename = dict(rename or {})
        done, failed = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                done.append(t)
            elif failed_as_diverged and t.params:
                failed.append(t)
        names: dict[str, bool] = {}
        for t in done + failed:
            for k, d in t.distributions.items():
                if isinstance(d, (FloatDistribution, IntDistribution)):
                    names[k] = names.get(k, False) or bool(d.log)

        def columns(trials: list[Any]) -> dict[str, np.ndarray]:
            return {
                rename.get(k, k): np.array([t.params.get(k, math.nan) for t in trials], dtype=np.float64) for k in names
            }

        direction = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
        noise = trials_noise_var(done)
        return cls(
            params=columns(done),
            values=np.array([t.value for t in done], dtype=np.float64),
            origin=np.full(len(done), origin),
            ids=np.array([t.number for t in done], dtype=np.int64),
            log_params=frozenset(rename.get(k, k) for k, log in names.items() if log),
            direction=direction,
            diverged=columns(failed) if failed else {},
            noise_var=noise if np.isfinite(noise).any() else None,
        )


def study_distributions(study: Any) -> dict[str, Any]:
    """The numeric distributions of a study's complete trials (the widest seen per parameter)."""
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import TrialState

    out: dict[str, Any] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        for k, d in t.distributions.items():
            if not isinstance(d, (FloatDistribution, IntDistribution)):
                continue
            old = out.get(k)
            if old is None or (d.high - d.low) > (old.high - old.low):
                out[k] = d
    return out


def axis_column(table: TrialTable, name: Any, argname: str) -> tuple[np.ndarray, bool]:
    """(column, is_log) for a map axis, validated."""
    if not isinstance(name, str):
        raise ValueError(f"{argname} must be a parameter name (str), got {type(name).__name__} {name!r}")
    col = table.column(name, argname)
    log = table.is_log(name)
    if log:
        finite = col[np.isfinite(col)]
        if (finite <= 0).any():
            raise ValueError(f"{argname}: axis {name!r} is on a log scale but holds values <= 0")
    return col, log


def span(t: np.ndarray, log: bool) -> tuple[float, float]:
    """(low, high) of a finite sample (log10 units for log axes), widened when it is a single value:
    by half a decade on log axes, by 10% (or 0.5 around zero) on linear ones."""
    lo, hi = float(t.min()), float(t.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = 0.5 if (log or lo == 0.0) else 0.1 * abs(lo)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def to_natural(t: np.ndarray | float, log: bool) -> np.ndarray:
    return np.power(10.0, t) if log else np.asarray(t, dtype=np.float64)
