"""FSGDM: frequency-domain SGD with momentum (Li et al., ICLR 2025), numerically identical to the official package."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._base import ZoneOptimizer, group_by_device_and_dtype
from .hyperparams import Hyperparameter

__all__ = ["FSGDM", "HYPERPARAMETERS", "check_config", "momentum_coefficient"]

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "lr", "float", 0.1, "learning rate, used as given (schedule it with an LR scheduler)", low=0.0, log=True
    ),
    Hyperparameter("weight_decay", "float", 5e-4, "coupled L2 weight decay added to the gradient", low=0.0),
    Hyperparameter(
        "c_scaling",
        "float",
        0.033,
        "momentum ramp time constant: mu = c*sigma; terminal pole u = 1/(1+c)",
        low=0.0,
        low_open=True,
        log=True,
    ),
    Hyperparameter("v_coefficient", "float", 1.0, "gain v on the gradient input", low=0.0, log=True),
    Hyperparameter("n_stages", "int", 300, "number of stages with a constant momentum coefficient", low=1),
    Hyperparameter("sigma", "int", 117000, "total number of optimizer steps of the run (>= n_stages)", low=1),
)


def check_config(cfg: dict[str, Any]) -> None:
    """Constraints between valid values: sigma (total steps) must cover at least one step per stage."""
    if cfg["sigma"] < cfg["n_stages"]:
        raise ValueError(
            f"FSGDM sigma must be >= n_stages (sigma is the total number of optimizer steps, "
            f"n_stages the number of stages), got sigma={cfg['sigma']} < n_stages={cfg['n_stages']}"
        )


def momentum_coefficient(step: float, c_scaling: float, n_stages: int, sigma: int) -> float:
    """The pole u used by the ``step``-th call (1-based): u = s / (s + c*sigma), s = delta*floor(step/delta).

    ``delta = sigma // n_stages`` is the stage length. Calls 1 .. delta-1 use u = 0, so the first stage is one
    step shorter than the others, exactly as in the reference code.
    """
    delta = sigma // n_stages
    s = math.floor(step / delta) * delta
    return s / (s + c_scaling * sigma)


class FSGDM(ZoneOptimizer):
    r"""Frequency-domain SGD with momentum.

    Each stage is the first-order filter :math:`H(\omega) = v / (1 - u e^{-j\omega})` on the gradient, with a
    pole :math:`u` that rises stage by stage towards :math:`1/(1+c)`. For the ``t``-th call of :meth:`step`
    (t = 1, 2, ...), with :math:`\delta = \lfloor\sigma/N\rfloor` and :math:`s_t = \delta\lfloor t/\delta\rfloor`:

    .. math::
        u_t &= s_t / (s_t + c\,\sigma) \\
        d_t &= g_t + \lambda\,p_{t-1} \\
        m_t &= \begin{cases} d_1 & t = 1 \text{ (the first buffer is } d\text{, not } v\,d) \\
                              u_t\,m_{t-1} + v\,d_t & t > 1 \end{cases} \\
        p_t &= p_{t-1} - \eta\,m_t

    The terminal low-frequency gain is :math:`K = v(1 + 1/c)`; the FSGDM README's rule for CNNs,
    ``30.992/v ≈ 1 + 1/c``, says the optimal zone lies near K ≈ 31.

    Args:
        params: parameters or param groups.
        lr: learning rate :math:`\eta` (not scheduled internally; use an LR scheduler).
        weight_decay: coupled L2 weight decay :math:`\lambda`.
        c_scaling: :math:`c > 0`, the momentum ramp's time constant relative to ``sigma``.
        v_coefficient: gradient gain :math:`v \ge 0`.
        n_stages: number of stages :math:`N \ge 1`.
        sigma: total optimizer steps of the run, :math:`\sigma \ge N` (epochs x steps per epoch).
        foreach: use the multi-tensor path (None: on accelerators only). Ignored when ``fused`` applies.
        fused: use torch's fused SGD kernel, which does the whole update in one pass over memory
            (None: for float32/float64 tensors on CPU or CUDA). Results equal the other paths up to rounding.

    The group counter ``step`` (a float starting at 1.0, stored in ``param_groups``) drives the stages; it
    advances on every call, also when no parameter has a gradient.
    """

    hyperparameters = HYPERPARAMETERS
    switches = ("foreach", "fused")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.1,
        weight_decay: float = 5e-4,
        c_scaling: float = 0.033,
        v_coefficient: float = 1.0,
        n_stages: int = 300,
        sigma: int = 117000,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
        **kwargs: Any,
    ) -> None:
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            c_scaling=c_scaling,
            v_coefficient=v_coefficient,
            n_stages=n_stages,
            sigma=sigma,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults, kwargs)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_config(group)

    def _prepare_group(self, group: dict[str, Any]) -> None:
        group.setdefault("step", 1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            u = momentum_coefficient(group["step"], group["c_scaling"], group["n_stages"], group["sigma"])
            group["step"] += 1.0
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            first = [not self.state[p] for p in params]
            for p, is_first in zip(params, first):
                if is_first:
                    # The first buffer is d itself; the update below writes it.
                    self.state[p]["momentum_buffer"] = torch.empty_like(p, memory_format=torch.preserve_format)
            bufs = [self.state[p]["momentum_buffer"] for p in params]
            args = (group["lr"], group["weight_decay"], u, group["v_coefficient"])
            if self._use_fused(group, params):
                _fused_fsgdm(params, grads, bufs, first, *args)
            elif self._use_foreach(group, params):
                _multi_tensor_fsgdm(params, grads, bufs, first, *args)
            else:
                _single_tensor_fsgdm(params, grads, bufs, first, *args)
        return loss

    @staticmethod
    def _use_fused(group: dict[str, Any], params: list[Tensor]) -> bool:
        if group.get("fused") is False or not hasattr(torch, "_fused_sgd_"):
            return False
        # Half-precision buffers are left to the other paths: torch 2.13's CPU kernel diverges from them in bf16.
        ok = all(p.dtype in (torch.float64, torch.float32) and p.device.type in ("cpu", "cuda") for p in params)
        if group.get("fused") and not ok:
            raise RuntimeError("FSGDM fused=True needs float32 or float64 CPU or CUDA tensors; use fused=None")
        return ok


def _single_tensor_fsgdm(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    first: list[bool],
    lr: float,
    weight_decay: float,
    u: float,
    v: float,
) -> None:
    for p, g, m, is_first in zip(params, grads, bufs, first):
        if is_first:
            m.copy_(g)
            if weight_decay != 0:
                m.add_(p, alpha=weight_decay)
        else:
            # m = u*m + v*(g + wd*p), in place: no temporary for d.
            m.mul_(u).add_(g, alpha=v)
            if weight_decay != 0:
                m.add_(p, alpha=v * weight_decay)
        p.add_(m, alpha=-lr)


def _multi_tensor_fsgdm(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    first: list[bool],
    lr: float,
    weight_decay: float,
    u: float,
    v: float,
) -> None:
    for is_first in (True, False):
        idx = [i for i, f in enumerate(first) if f is is_first]
        if not idx:
            continue
        for ps, gs, ms in group_by_device_and_dtype(
            [params[i] for i in idx], [grads[i] for i in idx], [bufs[i] for i in idx]
        ):
            if is_first:
                torch._foreach_copy_(ms, gs)
                if weight_decay != 0:
                    torch._foreach_add_(ms, ps, alpha=weight_decay)
            else:
                torch._foreach_mul_(ms, u)
                torch._foreach_add_(ms, gs, alpha=v)
                if weight_decay != 0:
                    torch._foreach_add_(ms, ps, alpha=v * weight_decay)
            torch._foreach_add_(ps, ms, alpha=-lr)


def _fused_fsgdm(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    first: list[bool],
    lr: float,
    weight_decay: float,
    u: float,
    v: float,
) -> None:
    # torch's fused SGD computes m = momentum*m + (1-dampening)*(g + wd*p), with m = g + wd*p on the first
    # step, then p -= lr*m: FSGDM's update with momentum=u and dampening=1-v, in one pass over memory.
    # With momentum = 0 the kernel keeps no buffer. For float32 CPU tensors the first stage (u = 0: m = v*d)
    # passes the smallest positive double instead: the CPU kernel computes float32 in float32, where that is 0,
    # so m = v*d bit for bit, through the later steps' kernel (torch's CPU first-step path is ~15% slower). Not
    # in float64: there it stays a subnormal, and subnormal arithmetic made the pass 13-19x slower. Elsewhere
    # the first stage runs as first steps (m = d, p -= (lr*v)*d) and, unless v = 1, one more pass scales m to v*d.
    firsts = [i for i, f in enumerate(first) if f]
    later = [i for i, f in enumerate(first) if not f]
    _fused_sgd_calls(params, grads, bufs, firsts, lr, weight_decay, u or 1.0, v, is_first=True)
    if u > 0.0:
        _fused_sgd_calls(params, grads, bufs, later, lr, weight_decay, u, v, is_first=False)
        return
    is_cpu32 = [params[i].device.type == "cpu" and params[i].dtype == torch.float32 for i in later]
    cpu32 = [i for i, yes in zip(later, is_cpu32) if yes]
    others = [i for i, yes in zip(later, is_cpu32) if not yes]
    _fused_sgd_calls(params, grads, bufs, cpu32, lr, weight_decay, _SMALLEST_MOMENTUM, v, is_first=False)
    _fused_sgd_calls(params, grads, bufs, others, lr * v, weight_decay, 1.0, v, is_first=True)
    if others and v != 1.0:
        torch._foreach_mul_([bufs[i] for i in others], v)


#: the smallest positive double: the momentum of the first stage's fused float32 CPU steps (see _fused_fsgdm)
_SMALLEST_MOMENTUM = math.ulp(0.0)


def _fused_sgd_calls(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor],
    idx: list[int],
    lr: float,
    weight_decay: float,
    momentum: float,
    v: float,
    *,
    is_first: bool,
) -> None:
    """One ``torch._fused_sgd_`` call per device and dtype over the tensors ``idx``."""
    if not idx:
        return
    for ps, gs, ms in group_by_device_and_dtype(
        [params[i] for i in idx], [grads[i] for i in idx], [bufs[i] for i in idx]
    ):
        torch._fused_sgd_(
            ps,
            gs,
            ms,
            weight_decay=weight_decay,
            momentum=momentum,  # nonzero: the kernel keeps no buffer for 0 (a first step ignores the value)
            lr=lr,
            dampening=1.0 - v,
            nesterov=False,
            maximize=False,
            is_first_step=is_first,
        )
