"""Declarative search spaces: JSON in and out, checked against the optimizer registry's domains.

A space names an optimizer and gives each searched hyperparameter a dimension::

    {
      "optimizer": "fsgdm",
      "params": {
        "c_scaling":     {"type": "float", "low": 0.005, "high": 1.0, "log": true},
        "v_coefficient": {"type": "float", "low": 0.05, "high": 20.0, "log": true},
        "lr":            {"type": "fixed", "value": 0.01}
      },
      "reparametrization": null
    }

Dimension types: ``float`` (``log`` or linear, optional ``step``), ``int`` (optional ``log``/``step``),
``categorical`` (``choices``) and ``fixed`` (``value``). Hyperparameters not named keep the registry default,
except the run-length ones the engine derives from the task (FSGDM ``sigma``/``n_stages``, AutoSGM
``tau``/``spe``; see each optimizer's profile in :mod:`zone_explorer.core.profiles`), which a space may still fix.

Reparametrisations search along axes the theory suggests and derive the optimizer's own values:

- ``fsgdm-K-c``: axes ``K`` and ``c_scaling``; ``v_coefficient = K / (1 + 1/c)``. K = v(1 + 1/c) is FSGDM's
  terminal low-frequency gain (:func:`zone_explorer.core.zone_constant.zone_constant`); its README's rule
  ``30.992/v ≈ 1 + 1/c`` says the CNN zone lies near K ≈ 31.
- ``fsgdm-K-v``: axes ``K`` and ``v_coefficient``; ``c_scaling = v / (K - v)`` (needs K > v everywhere).
- ``tied-betas``: Adam/AdamW with one axis ``beta`` and ``beta1 = beta2 = beta`` (Orvieto & Gower, 2025).
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from optimizers.hyperparams import Hyperparameter, closest_name
from optimizers.registry import OptimizerSpec, get_optimizer
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import MAX_AXIS_STEPS, MAX_CHOICES, MAX_DIMENSION_BOUND, MAX_GRID_POINTS
from zone_explorer.core.profiles import PROFILES, Reparametrization, get_profile

__all__ = [
    "CategoricalDim",
    "FixedDim",
    "FloatDim",
    "IntDim",
    "REPARAMETRIZATIONS",
    "Reparametrization",
    "SearchedDim",
    "Space",
    "SpaceError",
    "default_space",
]


class SpaceError(FieldError):
    """An invalid search space; ``field`` is the JSON path of the offending value (e.g. ``params.lr.low``)."""


@dataclass(frozen=True)
class FloatDim:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    type: str = field(default="float", init=False)

    def distribution(self) -> BaseDistribution:
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def size(self) -> int | None:
        """How many values the axis holds: ``None`` (continuous) unless it has a ``step``."""
        return None if self.step is None else self._stepped()[0]

    def _stepped(self) -> tuple[int, float]:
        """The number of values of a stepped axis and its last one, as Optuna counts them: it moves ``high`` down to
        the last whole step, in decimal arithmetic (validation capped the quotient at MAX_AXIS_STEPS, well inside
        Decimal's 28 digits)."""
        assert self.step is not None
        low, step = decimal.Decimal(str(self.low)), decimal.Decimal(str(self.step))
        steps = (decimal.Decimal(str(self.high)) - low) // step
        return int(steps) + 1, float(steps * step + low)

    def grid(self, n: int) -> list[float]:
        """Up to ``n`` distinct values, evenly spread (geometrically on a log axis), both ends included."""
        if self.step is not None:
            count, top = self._stepped()
            picks = range(count) if count <= n else _spread_indices(count, n)
            return _distinct([min(self.low + i * self.step, top) for i in picks])
        if n == 1:
            # the geometric middle through logs: low * high underflows to 0 for a tiny low
            return [
                math.exp((math.log(self.low) + math.log(self.high)) / 2) if self.log else (self.low + self.high) / 2
            ]
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            inner = [math.exp(a + (b - a) * i / (n - 1)) for i in range(1, n - 1)]
        else:
            inner = [self.low + (self.high - self.low) * i / (n - 1) for i in range(1, n - 1)]
        # the ends exactly (exp(log(x)) may miss x by an ulp, and leave the domain); the inside clamped to them
        return _distinct([self.low, *(min(max(v, self.low), self.high) for v in inner), self.high])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class IntDim:
    low: int
    high: int
    log: bool = False
    step: int = 1
    type: str = field(default="int", init=False)

    def distribution(self) -> BaseDistribution:
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def size(self) -> int:
        """How many values the axis holds (Optuna drops a last partial step)."""
        return (self.high - self.low) // self.step + 1

    def grid(self, n: int) -> list[int]:
        """Up to ``n`` distinct values, evenly spread (geometrically on a log axis), both ends included; computed
        by arithmetic, so a range of 10**15 integers costs what a small one does."""
        count = self.size()
        if count <= n:
            return list(range(self.low, self.low + count * self.step, self.step))
        if n == 1 and self.log:
            return [math.isqrt(self.low * self.high)]  # the geometric middle
        if self.log:  # step is 1 (validation refuses a step on a log axis)
            a, b = math.log(self.low), math.log(self.high)
            targets = [round(math.exp(a + (b - a) * i / (n - 1))) - self.low for i in range(n)]
            return [self.low + i for i in _increasing(targets, count)]
        return [self.low + i * self.step for i in _spread_indices(count, n)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}


def _spread_indices(count: int, n: int) -> list[int]:
    """``n`` evenly spaced indices of ``count > n`` items, first and last included (the middle one for ``n = 1``),
    in exact integer arithmetic: ``count`` may be far beyond a float's 2**53."""
    if n == 1:
        return [(count - 1) // 2]
    return [(2 * i * (count - 1) + n - 1) // (2 * (n - 1)) for i in range(n)]


def _increasing(targets: list[int], count: int) -> list[int]:
    """``targets`` moved as little as needed to be strictly increasing indices in ``[0, count)`` (``count`` is at
    least ``len(targets)``): rounding packs a log grid's low end onto the same integers."""
    out = list(targets)
    for i in range(len(out)):
        out[i] = max(out[i], out[i - 1] + 1 if i else 0)
    for i in reversed(range(len(out))):
        out[i] = min(out[i], out[i + 1] - 1 if i + 1 < len(out) else count - 1)
    return out


def _distinct(values: list[float]) -> list[float]:
    """Sorted values without repeats: on a range a few ulps wide, evenly spread floats coincide, and a grid point
    listed twice would be run twice."""
    return sorted(set(values))


@dataclass(frozen=True)
class CategoricalDim:
    choices: tuple[Any, ...]
    type: str = field(default="categorical", init=False)

    def distribution(self) -> BaseDistribution:
        return CategoricalDistribution(self.choices)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def size(self) -> int:
        return len(self.choices)

    def grid(self, n: int) -> list[Any]:
        return list(self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


@dataclass(frozen=True)
class FixedDim:
    value: Any
    type: str = field(default="fixed", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "fixed", "value": self.value}


#: a dimension Optuna samples
SearchedDim = FloatDim | IntDim | CategoricalDim
Dim = SearchedDim | FixedDim


# ---- reparametrisations ------------------------------------------------------------------------------------
#: name -> reparametrisation, gathered from the optimizer profiles (each declares the ones that apply to it)
REPARAMETRIZATIONS: dict[str, Reparametrization] = {r.name: r for p in PROFILES.values() for r in p.reparametrizations}
#: name -> the optimizers whose profiles declare it
_REPARAMETRIZED: dict[str, tuple[str, ...]] = {
    name: tuple(p.name for p in PROFILES.values() if any(r.name == name for r in p.reparametrizations))
    for name in REPARAMETRIZATIONS
}


# ---- the space ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Space:
    optimizer: str
    params: dict[str, Dim]
    reparametrization: str | None = None

    # construction and validation ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Space:
        """Parse and validate; every problem raises :class:`SpaceError` naming the JSON field."""
        if not isinstance(data, Mapping):
            raise SpaceError("space", f"must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"optimizer", "params", "reparametrization"}
        if unknown:
            raise SpaceError(
                f"space.{sorted(unknown)[0]}", "unknown field (expected optimizer, params, reparametrization)"
            )
        name = data.get("optimizer")
        if not isinstance(name, str):
            raise SpaceError("optimizer", "required, a registry name such as 'fsgdm'")
        try:
            spec = get_optimizer(name)
        except ValueError as err:
            raise SpaceError("optimizer", str(err).split(": ", 1)[-1]) from None
        reparam = data.get("reparametrization")
        if reparam is not None:
            if reparam not in REPARAMETRIZATIONS:
                raise SpaceError("reparametrization", f"unknown {reparam!r} (known: {', '.join(REPARAMETRIZATIONS)})")
            if name not in _REPARAMETRIZED[reparam]:
                raise SpaceError(
                    "reparametrization",
                    f"{reparam!r} applies to {', '.join(_REPARAMETRIZED[reparam])}, not {name!r}",
                )
        raw = data.get("params", {})
        if not isinstance(raw, Mapping):
            raise SpaceError("params", f"must be an object of name -> dimension, got {type(raw).__name__}")
        params = {str(k): _parse_dim(spec, reparam, str(k), v) for k, v in raw.items()}
        space = cls(name, params, reparam)
        space._check_reparametrization()
        return space

    @classmethod
    def from_json(cls, text: str) -> Space:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpaceError("space", f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "params": {k: d.to_dict() for k, d in self.params.items()},
            "reparametrization": self.reparametrization,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def _check_reparametrization(self) -> None:
        if self.reparametrization is None:
            return
        rp = REPARAMETRIZATIONS[self.reparametrization]
        for axis in rp.axes:
            if axis not in self.params:
                raise SpaceError(f"params.{axis}", f"required by reparametrization {rp.name!r} ({rp.description})")
        for replaced in rp.replaces:
            if replaced in self.params:
                raise SpaceError(
                    f"params.{replaced}", f"derived by reparametrization {rp.name!r}; remove it from params"
                )
        if rp.check is not None:
            problem = rp.check(self._lowest, self._highest)
            if problem is not None:
                raise SpaceError(*problem)

    def _default(self, name: str) -> float:
        return float(self.spec.hyperparameter(name).default)

    def _lowest(self, name: str) -> float:
        dim = self.params.get(name)
        return self._default(name) if dim is None else _lower(dim)

    def _highest(self, name: str) -> float:
        dim = self.params.get(name)
        return self._default(name) if dim is None else _upper(dim)

    # use ------------------------------------------------------------------------------------------------
    @property
    def spec(self) -> OptimizerSpec:
        return get_optimizer(self.optimizer)

    def searched(self) -> dict[str, SearchedDim]:
        return {k: d for k, d in self.params.items() if not isinstance(d, FixedDim)}

    def distributions(self) -> dict[str, BaseDistribution]:
        return {k: d.distribution() for k, d in self.searched().items()}

    def log_axes(self) -> frozenset[str]:
        return frozenset(k for k, d in self.searched().items() if getattr(d, "log", False))

    def grid(self, points_per_axis: int) -> dict[str, list[Any]]:
        """A search space for Optuna's GridSampler with up to ``points_per_axis`` values per numeric axis."""
        if points_per_axis < 1:
            raise ValueError(f"points_per_axis must be >= 1, got {points_per_axis}")
        return {k: d.grid(points_per_axis) for k, d in self.searched().items()}

    def grid_size(self) -> int | None:
        """How many distinct points a grid over this space can have at most: ``None`` when an axis is continuous."""
        total = 1
        for dim in self.searched().values():
            size = dim.size()
            if size is None:
                return None
            total *= size
        return total

    def job_grid(self, n_trials: int) -> dict[str, list[Any]]:
        """The grid a ``grid`` job of ``n_trials`` evaluates: every choice of a categorical axis and, on the numeric
        axes, the fewest values (at least 2, as even as the axes allow) that give ``n_trials`` distinct points.

        Raises :class:`SpaceError` (field ``params``) when the space holds fewer than ``n_trials`` points or the
        grid would have more than ``MAX_GRID_POINTS``. Everything is counted before a value is listed.
        """
        searched = self.searched()

        def counts(per_axis: int) -> dict[str, int]:
            return {k: _grid_count(d, per_axis) for k, d in searched.items()}

        most = self.grid_size()
        if most is not None and most < n_trials:
            raise SpaceError("params", f"a grid over this space has {most} points, fewer than n_trials={n_trials}")
        # the smallest per-axis count that reaches n_trials (monotone in it: bisect), then, from one less, raise
        # the axes one by one until it does: the grid exceeds n_trials by less than one axis step
        low, high = 2, max(2, n_trials)
        while low < high:
            mid = (low + high) // 2
            if math.prod(counts(mid).values()) >= n_trials:
                high = mid
            else:
                low = mid + 1
        chosen = counts(max(low - 1, 2))
        for k in searched:
            if math.prod(chosen.values()) >= n_trials:
                break
            chosen[k] = counts(low)[k]
        total = math.prod(chosen.values())
        if total > MAX_GRID_POINTS:
            raise SpaceError(
                "params",
                f"a grid of {n_trials} trials over this space has {total} points (at least 2 per numeric axis and "
                f"every choice); the cap is {MAX_GRID_POINTS}: search fewer axes or choices, or use another sampler",
            )
        grid = {k: searched[k].grid(chosen[k]) for k in searched}
        # evenly spread floats on a range a few ulps wide coincide, and are listed once
        distinct = math.prod(len(values) for values in grid.values())
        if distinct < n_trials:
            raise SpaceError("params", f"a grid over this space has {distinct} distinct points, fewer than {n_trials}")
        return grid

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample the searched axes from ``trial`` (fixed values included in the result)."""
        values: dict[str, Any] = {}
        for name, dim in self.params.items():
            if isinstance(dim, FixedDim):
                values[name] = dim.value
            else:
                values[name] = dim.suggest(trial, name)
        return values

    def config(self, values: Mapping[str, Any], run_length: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The optimizer's complete flat config for sampled ``values`` (axes and fixed values).

        ``run_length`` holds the task-derived values (e.g. ``{"sigma": 220, "n_stages": 10}``); a space that
        fixes one of them wins. Raises ``ValueError`` if the derived config is outside the registry's domains.
        """
        cfg = dict(run_length or {})
        axes = dict(values)
        if self.reparametrization:
            rp = REPARAMETRIZATIONS[self.reparametrization]
            cfg.update(rp.derive(axes))
            for axis in rp.axes:
                axes.pop(axis)
        cfg.update(axes)
        return self.spec.validate(cfg)


def _grid_count(dim: SearchedDim, per_axis: int) -> int:
    """How many values of ``dim`` a grid with ``per_axis`` values per numeric axis takes: every choice of a
    categorical axis, ``per_axis`` of a numeric one or all its values if it has fewer."""
    if isinstance(dim, CategoricalDim):
        return dim.size()
    size = dim.size()
    return per_axis if size is None else min(per_axis, size)


def _upper(dim: Dim) -> float:
    if isinstance(dim, FixedDim):
        return float(dim.value)
    if isinstance(dim, CategoricalDim):
        return float(max(dim.choices))
    return dim.high


def _lower(dim: Dim) -> float:
    if isinstance(dim, FixedDim):
        return float(dim.value)
    if isinstance(dim, CategoricalDim):
        return float(min(dim.choices))
    return dim.low


def _domain_for(spec: OptimizerSpec, reparam: str | None, name: str) -> Hyperparameter:
    if reparam and name in REPARAMETRIZATIONS[reparam].axes:
        return REPARAMETRIZATIONS[reparam].axes[name]
    names = [hp.name for hp in spec.hyperparameters] + (list(REPARAMETRIZATIONS[reparam].axes) if reparam else [])
    if name not in names:
        hint = closest_name(name, names)
        raise SpaceError(
            f"params.{name}",
            f"{spec.name} has no hyperparameter {name!r}"
            + (f"; did you mean {hint!r}?" if hint else f" (valid: {', '.join(names)})"),
        )
    return spec.hyperparameter(name)


def _in_domain(hp: Hyperparameter, value: Any, where: str) -> Any:
    try:
        return hp.validate(value)
    except OverflowError:  # an integer beyond any float, for a float hyperparameter
        raise SpaceError(
            where, f"{hp.name} must be {hp.domain()}, got an integer of {len(str(abs(value)))} digits"
        ) from None
    except (TypeError, ValueError) as err:
        raise SpaceError(where, str(err)) from None


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    # an int is checked by size, not by math.isfinite: that converts it to a float, and 10**400 overflows
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (isinstance(value, int) or math.isfinite(value))
    ):
        raise SpaceError(f"{where}.{key}", f"required, a finite number; got {value!r}")
    if abs(value) > MAX_DIMENSION_BOUND:
        shown = f"an integer of {len(str(abs(value)))} digits" if isinstance(value, int) else repr(value)
        raise SpaceError(f"{where}.{key}", f"must be at most {MAX_DIMENSION_BOUND:.0e} in magnitude; got {shown}")
    return value


def _parse_dim(spec: OptimizerSpec, reparam: str | None, name: str, raw: Any) -> Dim:
    where = f"params.{name}"
    hp = _domain_for(spec, reparam, name)
    if not isinstance(raw, Mapping):
        raise SpaceError(where, f"must be an object with a 'type', got {type(raw).__name__}")
    kind = raw.get("type")
    allowed = {
        "float": {"low", "high", "log", "step"},
        "int": {"low", "high", "log", "step"},
        "categorical": {"choices"},
        "fixed": {"value"},
    }
    if kind not in allowed:
        raise SpaceError(f"{where}.type", f"must be one of float, int, categorical, fixed; got {kind!r}")
    extra = set(raw) - allowed[kind] - {"type"}
    if extra:
        raise SpaceError(
            f"{where}.{sorted(extra)[0]}",
            f"not a field of a {kind} dimension (fields: {', '.join(sorted(allowed[kind]))})",
        )
    if kind == "fixed":
        if "value" not in raw:
            raise SpaceError(f"{where}.value", "required for a fixed dimension")
        return FixedDim(_in_domain(hp, raw["value"], f"{where}.value"))
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}.choices", "must be a non-empty list")
        if len(choices) > MAX_CHOICES:
            raise SpaceError(f"{where}.choices", f"at most {MAX_CHOICES} choices, got {len(choices)}")
        if len(set(map(json.dumps, choices))) != len(choices):
            raise SpaceError(f"{where}.choices", "must not repeat a value")
        return CategoricalDim(tuple(_in_domain(hp, c, f"{where}.choices[{i}]") for i, c in enumerate(choices)))
    if hp.kind not in ("float", "int") or (kind == "float" and hp.kind == "int"):
        raise SpaceError(
            f"{where}.type",
            f"{name} is {hp.domain()}; use a {'categorical' if hp.kind in ('bool', 'choice') else 'int'} dimension",
        )
    low, high = _number(raw, "low", where), _number(raw, "high", where)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}.log", f"must be true or false, got {log!r}")
    low, high = _in_domain(hp, low, f"{where}.low"), _in_domain(hp, high, f"{where}.high")
    if not low < high:
        raise SpaceError(f"{where}.low", f"must be < high ({low!r} >= {high!r}); use a fixed dimension for one value")
    if log and low <= 0:
        raise SpaceError(f"{where}.low", f"must be > 0 on a log axis, got {low!r}")
    step = raw.get("step")
    # an int axis's step of 1 is its default, which its stored form lists, log or not
    if step is not None and not (kind == "int" and log and step == 1 and not isinstance(step, bool)):
        if log:
            raise SpaceError(f"{where}.step", "cannot be combined with log (except an int axis's step of 1)")
        step = _number(raw, "step", where)
        if step <= 0 or step > high - low:
            raise SpaceError(f"{where}.step", f"must be in (0, high - low], got {step!r}")
        # a float quotient: (high - low) / 5e-324 is inf, which compares (and rounding it would raise)
        if kind == "float" and (high - low) / step > MAX_AXIS_STEPS:
            raise SpaceError(
                f"{where}.step",
                f"at most {MAX_AXIS_STEPS:.0e} steps from low to high; {step!r} makes {(high - low) / step:.3g} "
                "(leave step out for a continuous axis)",
            )
    if kind == "int":
        if not all(isinstance(x, int) for x in (raw["low"], raw["high"])) or (
            step is not None and not float(step).is_integer()
        ):
            raise SpaceError(where, "int dimensions need integer low, high and step")
        return IntDim(int(low), int(high), log=log, step=int(step or 1))
    dim = FloatDim(float(low), float(high), log=log, step=step)
    if dim.size() == 1:  # a step a hair above high - low, which the float subtraction rounded away
        raise SpaceError(f"{where}.step", f"must be in (0, high - low], got {step!r} (it leaves low alone)")
    return dim


def default_space(optimizer: str) -> Space:
    """The default search space of a registry optimizer (from its profile)."""
    return Space.from_dict({"optimizer": optimizer, **get_profile(optimizer).default_space})
