r"""The momentum-filter reading of the optimizers (the seeds' frequency-domain theory).

Each optimizer's momentum is a first-order linear filter acting on the gradient sequence,

.. math::
    H(z) = b\,\frac{1 - \gamma z^{-1}}{1 - u z^{-1}},

with pole :math:`u`, zero :math:`\gamma` and gain :math:`b`. Its magnitude response on the unit circle,
:math:`|H(e^{j\omega})|`, tells which gradient frequencies a step amplifies (low :math:`\omega`: the slowly
varying, consistent part) and which it suppresses (high :math:`\omega`: the alternating noise).

- SGD momentum (torch): :math:`u = \mu`, :math:`b = 1 - \text{dampening}`; Nesterov adds a zero. The geometric
  low-rank heavy-ball applies the same filter to the tangent-space gradient, transported between bases.
- EMA-style momentum: :math:`b = 1 - u`, unit DC gain ("purely attenuating").
- FSGDM: stage by stage :math:`u = s/(s + c\sigma)`, :math:`b = v`; terminal DC gain :math:`v(1 + 1/c)`.
- AutoSGM: pole :math:`\beta_i`, zero :math:`\gamma_i`, :math:`b = \eta_i/(1-\gamma_i)` (:math:`\eta_i = 0` means
  :math:`1-\beta_i`).
- GSGD: EMA with :math:`u = \beta_\text{eff}`; its Nesterov term :math:`\nu(d_t - m_{t-1})` gives
  :math:`b = 1-u+\nu`, :math:`\gamma = \nu/b`.
- Lion: the linear part inside the sign, :math:`u = \beta_2`, :math:`b = 1-\beta_1`,
  :math:`\gamma = (\beta_2-\beta_1)/(1-\beta_1)`.
- Signum: the EMA inside the sign, :math:`u = \beta` (GSGD's filter with :math:`\nu = 0`).
- Adam with :math:`\beta_1 = \beta_2 = \beta` (adam-tied): the first-moment EMA, :math:`u = \beta`; the second
  moment is the same filter on :math:`g^2`.
- Schedule-Free (SGD, and AdamW on the normalised gradient, :math:`\beta = \beta_1`): the step of the trained
  point, :math:`y_{k+1} - y_k = -\gamma H(z) g`, with the averaging coefficient :math:`c` of step k held
  constant: :math:`u = 1 - c`, :math:`b = 1 - \beta(1-c)`, :math:`\gamma = (1-\beta)(1-c)/b`; unit DC gain, and
  :math:`H \to 1-\beta` at high frequencies as :math:`c = w_k/\sum_{j\le k} w_j` falls (see
  :func:`schedulefree_filter`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .fsgdm import momentum_coefficient
from .schedulefree import averaging_weight

__all__ = [
    "MAX_SCHEDULEFREE_STEP",
    "SCHEDULEFREE_STEPS",
    "MomentumFilter",
    "ema_filter",
    "filter_note",
    "fsgdm_stage_filters",
    "momentum_filter",
    "schedulefree_averaging_coefficient",
    "schedulefree_filter",
    "schedulefree_step_filters",
    "sgd_filter",
]


@dataclass(frozen=True)
class MomentumFilter:
    """First-order filter ``H(z) = gain * (1 - zero z^-1) / (1 - pole z^-1)``."""

    pole: float
    gain: float
    zero: float = 0.0

    @property
    def dc_gain(self) -> float:
        """|H| at omega = 0: the amplification of a constant gradient (inf for a pole at 1)."""
        return math.inf if self.pole == 1.0 else self.gain * (1.0 - self.zero) / (1.0 - self.pole)

    @property
    def nyquist_gain(self) -> float:
        """|H| at omega = pi: the gain on gradients that flip sign every step."""
        return self.gain * (1.0 + self.zero) / (1.0 + self.pole)

    def magnitude(self, omega: torch.Tensor) -> torch.Tensor:
        """|H(e^{j omega})| for angular frequencies ``omega`` in [0, pi] (float64)."""
        z_inv = torch.exp(-1j * omega.to(torch.float64))
        return (self.gain * (1 - self.zero * z_inv) / (1 - self.pole * z_inv)).abs()

    def response(self, n: int = 256) -> dict[str, Any]:
        """The magnitude response on ``n`` evenly spaced frequencies in [0, pi], as plain lists."""
        if n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        omega = torch.linspace(0.0, math.pi, n, dtype=torch.float64)
        return {
            "pole": self.pole,
            "zero": self.zero,
            "gain": self.gain,
            "dc_gain": self.dc_gain,
            "nyquist_gain": self.nyquist_gain,
            "omega": omega.tolist(),
            "magnitude": self.magnitude(omega).tolist(),
        }


def sgd_filter(momentum: float, dampening: float = 0.0, nesterov: bool = False) -> MomentumFilter:
    if not nesterov:
        return MomentumFilter(pole=momentum, gain=1.0 - dampening)
    # step direction d_t + mu*m_t with m = (1-damp)/(1 - mu z^-1) d
    b = 1.0 + momentum * (1.0 - dampening)
    return MomentumFilter(pole=momentum, gain=b, zero=momentum / b)


def ema_filter(pole: float) -> MomentumFilter:
    return MomentumFilter(pole=pole, gain=1.0 - pole)


def _fsgdm(cfg: Mapping[str, Any], step: int) -> MomentumFilter:
    u = momentum_coefficient(step, cfg["c_scaling"], cfg["n_stages"], cfg["sigma"])
    return MomentumFilter(pole=u, gain=cfg["v_coefficient"])


def _autosgm(cfg: Mapping[str, Any], step: int) -> MomentumFilter:
    beta, gamma, eta = cfg["beta_i"], cfg["gamma_i"], cfg["eta_i"]
    eta = eta if eta != 0 else 1.0 - beta
    return MomentumFilter(pole=beta, gain=eta / (1.0 - gamma), zero=gamma)


def _gsgd(cfg: Mapping[str, Any], step: int) -> MomentumFilter:
    beta, lr = cfg["momentum"], cfg["lr"]
    scaling = cfg.get("scaling") or 1.0 / (lr + 1e-12)
    u = max(beta, 1.0 - lr * scaling * (1.0 - beta))
    nu = cfg.get("nesterov", 0.0) or 0.0
    b = 1.0 - u + nu
    return MomentumFilter(pole=u, gain=b, zero=nu / b if b else 0.0)


def _lion(cfg: Mapping[str, Any], step: int) -> MomentumFilter:
    b1, b2 = cfg["beta1"], cfg["beta2"]
    return MomentumFilter(pole=b2, gain=1.0 - b1, zero=(b2 - b1) / (1.0 - b1))


def schedulefree_filter(beta: float, c: float) -> MomentumFilter:
    r"""Schedule-free's filter from the gradient to the step of y, with the averaging coefficient ``c`` held fixed.

    From :math:`z_{k+1} = z_k - \gamma g_k`, :math:`x_{k+1} = (1-c)x_k + c z_{k+1}` and
    :math:`y = (1-\beta)z + \beta x`: :math:`Z = -\gamma G/(\zeta-1)`, :math:`X = c\zeta Z/(\zeta-(1-c))`, so
    :math:`(\zeta-1)Y = -\gamma G\,H` with

    .. math::
        H(\zeta) = (1-\beta) + \frac{\beta c}{1 - (1-c)\zeta^{-1}}
                 = b\,\frac{1 - \gamma_0\zeta^{-1}}{1 - u\zeta^{-1}},\quad u = 1-c,\;
                 b = 1 - \beta(1-c),\; \gamma_0 = (1-\beta)(1-c)/b.

    ``c`` falls over the run (1/(k+1) with ``r = 0`` at a constant lr), so this is a snapshot at one step.
    """
    b = 1.0 - beta * (1.0 - c)
    return MomentumFilter(pole=1.0 - c, gain=b, zero=(1.0 - beta) * (1.0 - c) / b)


#: the largest step :func:`schedulefree_averaging_coefficient` sums up to (a loop of that many terms)
MAX_SCHEDULEFREE_STEP = 1_000_000


def schedulefree_averaging_coefficient(cfg: Mapping[str, Any], step: int) -> float:
    """``c`` of the ``step``-th call (1-based) at the config's constant lr, warm-up included: O(step) time, so
    ``step`` is capped at :data:`MAX_SCHEDULEFREE_STEP`."""
    if not 1 <= step <= MAX_SCHEDULEFREE_STEP:
        raise ValueError(f"step must be an integer in [1, {MAX_SCHEDULEFREE_STEP}], got {step!r}")
    lr, warmup = cfg["lr"], cfg["warmup_steps"]
    lr_max, total, weight = -1.0, 0.0, 0.0
    for k in range(step):
        lr_k = lr * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = max(lr_max, lr_k)
        weight = averaging_weight(k, lr_k, lr_max, cfg["r"], cfg["weight_lr_power"], cfg["weighting"])
        total += weight
    return weight / total if total else 0.0


#: the steps the filter page draws schedule-free's filter at (its averaging coefficient falls as training goes on)
SCHEDULEFREE_STEPS: tuple[int, ...] = (1, 2, 5, 10, 100, 1000, 10000)


def _schedulefree_beta(cfg: Mapping[str, Any]) -> float:
    return float(cfg["momentum"] if "momentum" in cfg else cfg["beta1"])


def _schedulefree(cfg: Mapping[str, Any], step: int) -> MomentumFilter:
    return schedulefree_filter(_schedulefree_beta(cfg), schedulefree_averaging_coefficient(cfg, step))


def schedulefree_step_filters(config: Mapping[str, Any], picked: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Schedule-free's filter at the steps :data:`SCHEDULEFREE_STEPS` (those numbered in ``picked`` when given):
    ``[{"stage", "first_step", "label", "filter"}, ...]``, the shape :func:`fsgdm_stage_filters` returns."""
    indices = range(len(SCHEDULEFREE_STEPS)) if picked is None else picked
    out = []
    for i in indices:
        if not 0 <= i < len(SCHEDULEFREE_STEPS):
            raise ValueError(f"stage must be in 0 .. {len(SCHEDULEFREE_STEPS) - 1}, got {i!r}")
        step = SCHEDULEFREE_STEPS[i]
        out.append({"stage": i, "first_step": step, "label": f"step {step}", "filter": _schedulefree(config, step)})
    return out


_BUILDERS: dict[str, Callable[[Mapping[str, Any], int], MomentumFilter]] = {
    "fsgdm": _fsgdm,
    "autosgm": _autosgm,
    "gsgd": _gsgd,
    "lion": _lion,
    "sgd-schedulefree": _schedulefree,
    "adamw-schedulefree": _schedulefree,
    "sgd": lambda cfg, step: sgd_filter(cfg["momentum"], cfg.get("dampening", 0.0), cfg.get("nesterov", False)),
    # heavy-ball on the tangent-space coefficients (and on every other parameter): torch's filter, no dampening
    "lowrank-hb": lambda cfg, step: sgd_filter(cfg["momentum"], 0.0, cfg.get("nesterov", False)),
    "lowrank-adam": lambda cfg, step: ema_filter(cfg["beta1"]),
    "adam": lambda cfg, step: ema_filter(cfg["beta1"]),
    "adamw": lambda cfg, step: ema_filter(cfg["beta1"]),
    # lr is constant inside one filter view, so GSGD's beta_eff is the momentum itself (scaling = 1/lr)
    "signum": lambda cfg, step: ema_filter(cfg["momentum"]),
    "adam-tied": lambda cfg, step: ema_filter(cfg["beta"]),
}

#: what the drawn filter is, where that is not plain from the optimizer's name (shown under the filter plot)
_NOTES: dict[str, str] = {
    "lion": "The linear filter inside the sign: the step is lr * sign(H g); only the sign of the output matters.",
    "signum": (
        "The EMA momentum filter inside the sign: the step is lr * sign(H g), so the filter decides which gradient "
        "frequencies set the sign of each coordinate's step, and the gain does not matter."
    ),
    "adam": "The first-moment filter m = H g; the step divides it by the square root of the second moment.",
    "lowrank-adam": (
        "The first-moment filter m = H g on the low-rank coefficients (and on every other parameter); the step "
        "divides it by the square root of the second moment."
    ),
    "adamw": "The first-moment filter m = H g; the step divides it by the square root of the second moment.",
    "adam-tied": (
        "The first-moment filter m = H g with pole beta. The second moment v is the same filter on g^2, so the "
        "step m / sqrt(v) is sign(m) shrunk by the EMA signal-to-noise ratio: Signum with an adaptive trust region."
    ),
}


def momentum_filter(optimizer: str, config: Mapping[str, Any], step: int = 1) -> MomentumFilter:
    """The filter acting on gradients at the ``step``-th call (1-based) for a registry name and flat config.

    ``config`` is a complete flat config as :meth:`optimizers.registry.OptimizerSpec.validate` returns it.
    """
    if optimizer not in _BUILDERS:
        raise ValueError(f"optimizer: no momentum filter for {optimizer!r} (known: {', '.join(_BUILDERS)})")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be an integer >= 1, got {step!r}")
    return _BUILDERS[optimizer](config, step)


def filter_note(optimizer: str) -> str | None:
    """A sentence saying what :func:`momentum_filter` draws for ``optimizer`` (None where the name says it)."""
    return _NOTES.get(optimizer)


def fsgdm_stage_filters(config: Mapping[str, Any], stages: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """FSGDM's filter on each stage of the run: ``[{"stage", "first_step", "filter"}, ...]``; only the stages
    numbered in ``stages`` (each in ``0 .. n_stages - 1``) when given, so that drawing a few of a long run's stages
    costs what it returns.

    Stage k covers calls ``k*delta .. (k+1)*delta - 1`` (stage 0 starts at call 1), ``delta = sigma // n_stages``.
    """
    n_stages = config["n_stages"]
    delta = config["sigma"] // n_stages
    picked = range(n_stages) if stages is None else stages
    out = []
    for k in picked:
        if not 0 <= k < n_stages:
            raise ValueError(f"stage must be in 0 .. {n_stages - 1}, got {k!r}")
        first = max(1, k * delta)
        out.append({"stage": k, "first_step": first, "filter": _fsgdm(config, first)})
    return out
