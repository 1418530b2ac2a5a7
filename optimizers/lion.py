"""Lion: the single-timescale Lion of ``xnchxy/GeneralSGD`` (reference class ``Lion_singlescale``).

With ``scaling`` at its default and a constant lr it is Google's Lion, as in ``lion-pytorch``. Deliberate
differences from the reference (see ``OPTIMIZERS.md``, "Decisions for this project"): unknown keywords raise
``TypeError`` with the closest valid name, invalid values raise ``ValueError`` naming the parameter and its domain,
``scaling=None`` resolves to ``1/lr`` for every group when it is created (also in ``add_param_group``), the
``state_dict()`` holds only tensors and plain values, and ``step(closure)`` evaluates the closure with gradients
enabled and returns its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._base import ZoneOptimizer, group_by_device_and_dtype
from ._blocks import cache_blocks
from ._compiled import compiled, scalars
from .hyperparams import Hyperparameter, validate_config

__all__ = ["BETAS", "FLAT_HYPERPARAMETERS", "HYPERPARAMETERS", "Lion", "effective_betas", "from_flat"]

#: the reference applies the gradient term only when nesterov_momentum exceeds this
NESTEROV_THRESHOLD = 1e-5

_LR = Hyperparameter(
    "lr",
    "float",
    1e-4,
    "learning rate; must be > 0 when scaling is None (scaling = 1/lr)",
    low=0.0,
    log=True,
)
_SCALING = Hyperparameter(
    "scaling",
    "float",
    None,
    "momentum step size relative to lr (s); None means 1/lr of the group at creation",
    low=0.0,
    low_open=True,
    log=True,
    nullable=True,
)
_WEIGHT_DECAY = Hyperparameter(
    "weight_decay", "float", 0.0, "decoupled weight decay: p <- p*(1 - lr*weight_decay) each step", low=0.0
)
_NESTEROV = Hyperparameter(
    "nesterov_momentum",
    "float",
    0.0,
    f"coefficient nu of the extra gradient term lr*nu*g (applied only when nu > {NESTEROV_THRESHOLD:g})",
    low=0.0,
)

#: the elements of ``betas``
BETAS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "beta1",
        "float",
        0.9,
        "interpolation coefficient of the update direction sign(beta1*m + (1-beta1)*g)",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Hyperparameter(
        "beta2",
        "float",
        0.99,
        "EMA coefficient of the momentum m",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
)

#: group-level hyperparameters with a scalar value (``betas`` is validated element-wise with :data:`BETAS`)
HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_LR, _SCALING, _WEIGHT_DECAY, _NESTEROV)

#: flat hyperparameters for the registry and search spaces: ``betas`` split into ``beta1`` and ``beta2``
FLAT_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_LR, *BETAS, _SCALING, _WEIGHT_DECAY, _NESTEROV)

_HP = {hp.name: hp for hp in HYPERPARAMETERS}


def effective_betas(lr: float, betas: tuple[float, float], scaling: float) -> tuple[float, float]:
    r""":math:`\beta_i' = \max(1 - \eta\,(1-\beta_i)\,s,\; \beta_i)`, the coefficients used at learning rate ``lr``."""
    beta1, beta2 = betas
    return max(1.0 - lr * (1.0 - beta1) * scaling, beta1), max(1.0 - lr * (1.0 - beta2) * scaling, beta2)


class Lion(ZoneOptimizer):
    r"""Single-timescale Lion (``Lion_singlescale`` of ``xnchxy/GeneralSGD``).

    For each parameter :math:`p` with gradient :math:`g`, with learning rate :math:`\eta` (the group's current
    ``lr``), betas :math:`(\beta_1, \beta_2)`, scaling :math:`s`, weight decay :math:`\lambda` and Nesterov
    coefficient :math:`\nu`, and :math:`m_0 = 0`:

    .. math::
        \beta_i' &= \max\bigl(1 - \eta\,(1-\beta_i)\,s,\; \beta_i\bigr) \\
        p &\leftarrow p\,(1 - \eta\lambda) \\
        u_t &= \beta_1'\,m_{t-1} + (1-\beta_1')\,g_t \\
        p_t &= p - \eta\,\bigl(\operatorname{sign}(u_t) + \nu\,g_t\bigr)
               \quad (\text{the } \nu \text{ term only when } \nu > 10^{-5}) \\
        m_t &= \beta_2'\,m_{t-1} + (1-\beta_2')\,g_t

    With the default :math:`s = 1/\eta_0` and a constant lr, :math:`\beta_i' = \beta_i` and this is Google's Lion
    (``lion_pytorch.Lion`` with the same decoupled decay :math:`p(1-\eta\lambda)`). When a scheduler lowers lr
    below :math:`\eta_0`, both betas move toward 1 in proportion (the single-timescale coupling).

    Args:
        params: parameters or param groups.
        lr: learning rate :math:`\eta \ge 0`; :math:`> 0` when ``scaling`` is None.
        betas: :math:`(\beta_1, \beta_2)`, a tuple or list of two floats in :math:`[0, 1)`.
        scaling: :math:`s > 0`; None (default) resolves to :math:`1/\eta_0` with the group's lr :math:`\eta_0` when
            the group is created (also for groups added with ``add_param_group``).
        weight_decay: decoupled weight decay :math:`\lambda \ge 0`.
        nesterov_momentum: :math:`\nu \ge 0`, coefficient of the extra gradient term.
        foreach: ``None`` (default) runs the multi-tensor update on CPU block by block over cache-sized slices
            (:mod:`optimizers._blocks`) and as one multi-tensor update on accelerators; ``True``/``False`` force
            the plain multi-/single-tensor path. All paths give identical results.
        fused: ``True`` runs the whole update as one compiled kernel per tensor (``torch.compile``, see
            :mod:`optimizers._compiled`): near the memory-bound floor, after a compile on the first step; needs a
            C++ compiler on CPU or Triton on CUDA. Equal to the other paths up to rounding.

    State per parameter: ``exp_avg`` (:math:`m_t`).
    """

    hyperparameters = HYPERPARAMETERS
    tuple_fields = {"betas": BETAS}
    switches = ("foreach", "fused")
    compiled_fused = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        scaling: float | None = None,
        weight_decay: float = 0.0,
        nesterov_momentum: float = 0,
        *,
        foreach: bool | None = None,
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            scaling=scaling,
            weight_decay=weight_decay,
            nesterov_momentum=nesterov_momentum,
            foreach=foreach,
            fused=bool(fused),
        )
        super().__init__(params, defaults, kwargs)

    # ---- groups ------------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        owner = "Lion param group"
        for name in ("lr", "scaling"):
            if name in param_group:
                param_group[name] = _HP[name].validate(param_group[name], owner=owner)
        lr = param_group.get("lr", self.defaults["lr"])  # lr is a required argument: always in the defaults
        if param_group.get("scaling", self.defaults.get("scaling")) is None and not lr > 0:
            raise ValueError(
                f"{owner}: scaling=None resolves to 1/lr, which needs lr in (0, inf), got lr={lr!r}; "
                "pass scaling explicitly to use lr=0"
            )
        super().add_param_group(param_group)

    def _prepare_group(self, group: dict[str, Any]) -> None:
        if group["scaling"] is None:
            group["scaling"] = 1.0 / group["lr"]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov_momentum", 0.0)
            group.setdefault("foreach", None)
            group.setdefault("fused", False)

    # ---- step --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            lr = float(group["lr"])
            beta1, beta2 = effective_betas(lr, group["betas"], group["scaling"])
            exp_avgs = []
            for p in params:
                state = self.state[p]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avgs.append(state["exp_avg"])
            nu = group["nesterov_momentum"]
            args = dict(
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                nesterov=nu if nu > NESTEROV_THRESHOLD else 0.0,
            )
            if group["fused"]:
                _fused_lion(params, grads, exp_avgs, **args)
            elif group["foreach"] is None and all(p.device.type == "cpu" for p in params):
                _multi_tensor_lion(params, grads, exp_avgs, **args, blocked=True)
            elif self._use_foreach(group, params):
                _multi_tensor_lion(params, grads, exp_avgs, **args)
            else:
                _single_tensor_lion(params, grads, exp_avgs, **args)
        return loss


def from_flat(params: ParamsT, **flat: Any) -> Lion:
    """Build :class:`Lion` from flat hyperparameters (``beta1``, ``beta2`` instead of ``betas``)."""
    switches = {name: flat.pop(name) for name in Lion.switches if name in flat}
    config = validate_config("Lion", flat, FLAT_HYPERPARAMETERS, fill_defaults=True)
    betas = (config.pop("beta1"), config.pop("beta2"))
    return Lion(params, betas=betas, **switches, **config)


# ---- implementations -------------------------------------------------------------------------------------
# u = lerp(m, g, 1-beta1) = m + (1-beta1)*(g - m) is beta1*m + (1-beta1)*g in one pass; m is updated the same way.


def _single_tensor_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    nesterov: float,
) -> None:
    for p, g, m in zip(params, grads, exp_avgs):
        if weight_decay != 0:
            p.mul_(1.0 - lr * weight_decay)
        u = torch.lerp(m, g, 1.0 - beta1).sign_()
        p.add_(u, alpha=-lr)
        if nesterov != 0:
            p.add_(g, alpha=-lr * nesterov)
        m.lerp_(g, 1.0 - beta2)


def _multi_tensor_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    nesterov: float,
    blocked: bool = False,
) -> None:
    # blocked (the CPU default): run the update block by block over cache-sized slices (see optimizers._blocks),
    # so that of its passes over p, g and m only the first over each block goes to memory
    for ps, gs, ms in group_by_device_and_dtype(params, grads, exp_avgs):
        for bp, bg, bm in cache_blocks([ps, gs, ms]) if blocked else [[ps, gs, ms]]:
            if weight_decay != 0:
                torch._foreach_mul_(bp, 1.0 - lr * weight_decay)
            us = torch._foreach_lerp(bm, bg, 1.0 - beta1)
            torch._foreach_sign_(us)
            torch._foreach_add_(bp, us, alpha=-lr)
            del us
            if nesterov != 0:
                torch._foreach_add_(bp, bg, alpha=-lr * nesterov)
            torch._foreach_lerp_(bm, bg, 1.0 - beta2)


def _lion_kernel(
    ps: list[Tensor],
    gs: list[Tensor],
    ms: list[Tensor],
    lr: Tensor,
    w1: Tensor,
    w2: Tensor,
    decay: Tensor,
    nu_lr: Tensor,
    decayed: bool,
    nesterov: bool,
) -> None:
    """The update of :func:`_single_tensor_lion` for :func:`compiled`, the numbers as 0-dim tensors. lerp(a, b, w)
    is written as a + w (b - a), the formula torch's lerp uses for w < 0.5 (a hair faster once compiled)."""
    for p, g, m in zip(ps, gs, ms):
        u = torch.sign(m + w1 * (g - m))
        new = p * decay if decayed else p
        new = new - u * lr
        if nesterov:
            new = new - g * nu_lr
        p.copy_(new)
        m.copy_(m + w2 * (g - m))


def _fused_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    nesterov: float,
) -> None:
    kernel = compiled(_lion_kernel)
    for ps, gs, ms in group_by_device_and_dtype(params, grads, exp_avgs):
        numbers = scalars(ps[0], lr, 1.0 - beta1, 1.0 - beta2, 1.0 - lr * weight_decay, lr * nesterov)
        kernel(ps, gs, ms, *numbers, weight_decay != 0, nesterov != 0)
