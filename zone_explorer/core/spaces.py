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

    def grid(self, n: int) -> list[float]:
        if self.step is not None:
            count = int(round((self.high - self.low) / self.step)) + 1
            idx = sorted({round(i * (count - 1) / max(n - 1, 1)) for i in range(n)}) if count > n else range(count)
            return [self.low + i * self.step for i in idx]
        if n == 1:
            return [math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2]
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
        return [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]

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

    def grid(self, n: int) -> list[int]:
        values = list(range(self.low, self.high + 1, self.step))
        if len(values) <= n:
            return values
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            picks = {int(round(math.exp(a + (b - a) * i / (n - 1)))) for i in range(n)}
            return sorted(v for v in values if v in picks) or values[:n]
        return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class CategoricalDim:
    choices: tuple[Any, ...]
    type: str = field(default="categorical", init=False)

    def distribution(self) -> BaseDistribution:
        return CategoricalDistribution(self.choices)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

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
    except (TypeError, ValueError) as err:
        raise SpaceError(where, str(err)) from None


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpaceError(f"{where}.{key}", f"required, a finite number; got {value!r}")
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
    if step is not None:
        if log:
            raise SpaceError(f"{where}.step", "cannot be combined with log")
        step = _number(raw, "step", where)
        if step <= 0 or step > high - low:
            raise SpaceError(f"{where}.step", f"must be in (0, high - low], got {step!r}")
    if kind == "int":
        if not all(isinstance(x, int) for x in (raw["low"], raw["high"])) or (
            step is not None and not float(step).is_integer()
        ):
            raise SpaceError(where, "int dimensions need integer low, high and step")
        return IntDim(int(low), int(high), log=log, step=int(step or 1))
    return FloatDim(float(low), float(high), log=log, step=step)


def default_space(optimizer: str) -> Space:
    """The default search space of a registry optimizer (from its profile)."""
    return Space.from_dict({"optimizer": optimizer, **get_profile(optimizer).default_space})
