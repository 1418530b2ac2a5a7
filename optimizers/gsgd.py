"""GSGD: the general SGD with single-timescale momentum of ``xnchxy/GeneralSGD``, numerically as the reference code.

Deliberate differences from the reference (see ``OPTIMIZERS.md``, "Decisions for this project"):

- unknown keyword arguments raise ``TypeError`` naming the closest valid one; invalid values raise ``ValueError``
  naming the parameter and its domain;
- ``p.grad`` is never written to (the reference overwrites it with ``g - m_prev`` when ``weight_decay == 0``);
- ``Dphi_map`` is a callable or one of the names ``"identity"`` and ``"sign"``; a group stores the name, so
  ``state_dict()`` holds only tensors and plain Python values and survives ``torch.load(weights_only=True)``;
- with ``momentum == 0``, :math:`\\Phi` is applied to ``d`` (``Dphi_map="sign"`` with momentum 0 is signSGD);
- ``scaling=None`` resolves to ``1/(lr + 1e-12)`` for every group when the group is created, also for groups
  added later with ``add_param_group``;
- ``step(closure)`` evaluates the closure with gradients enabled and returns its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias, cast

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._base import TensorList, ZoneOptimizer, group_by_device_and_dtype
from .hyperparams import Hyperparameter, reject_unknown_keywords, validate_config

__all__ = ["DPHI_MAPS", "FLAT_HYPERPARAMETERS", "GSGD", "HYPERPARAMETERS", "effective_momentum", "from_flat"]

#: the names ``Dphi_map`` accepts (a callable is accepted by the constructor too, never by the registry)
DPHI_MAPS: tuple[str, ...] = ("identity", "sign")

#: Phi once resolved: one of the names in DPHI_MAPS, or an elementwise callable
Phi: TypeAlias = Literal["identity", "sign"] | Callable[[Tensor], Tensor]

#: stored in ``state_dict()`` in place of a custom ``Dphi_map`` callable, which cannot be serialised safely
CALLABLE_DPHI_MARKER = "<callable>"

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "lr",
        "float",
        0.1,
        "learning rate (required by the constructor); must be > 0 when scaling is None (scaling = 1/(lr+1e-12))",
        low=0.0,
        log=True,
    ),
    Hyperparameter(
        "momentum",
        "float",
        0.9,
        "lower bound of the EMA coefficient: beta_eff = max(momentum, 1 - lr*scaling*(1-momentum)); 0 turns "
        "momentum off",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Hyperparameter(
        "scaling",
        "float",
        None,
        "momentum step size relative to lr (s); None means 1/(lr+1e-12) of the group at creation",
        low=0.0,
        low_open=True,
        log=True,
        nullable=True,
    ),
    Hyperparameter(
        "Dphi_map",
        "choice",
        "identity",
        "map Phi applied to the momentum (to d when momentum = 0); 'sign' gives signum / signSGD",
        choices=DPHI_MAPS,
    ),
    Hyperparameter("weight_decay", "float", 0.0, "coupled L2 weight decay added to the gradient", low=0.0),
    Hyperparameter(
        "nesterov", "float", 0.0, "coefficient nu of the Nesterov-style difference term d - m_prev", low=0.0
    ),
    Hyperparameter("maximize", "bool", False, "maximize the objective instead of minimizing it"),
)

#: GSGD's flat hyperparameters (for the registry and search spaces) are its constructor's names.
FLAT_HYPERPARAMETERS: tuple[Hyperparameter, ...] = HYPERPARAMETERS

_HP = {hp.name: hp for hp in HYPERPARAMETERS}
# torch's fused SGD kernel, by device. On CPU it is wrong for float16/bfloat16 in torch <= 2.13 (it skips the full
# SIMD blocks of the parameter update and reads the momentum buffer wrongly: pytorch/pytorch#191763, fixed by
# #192545), so reduced precision takes the generic path there.
_FUSED_DTYPES = {
    "cpu": (torch.float64, torch.float32),
    "cuda": (torch.float64, torch.float32, torch.float16, torch.bfloat16),
}


def effective_momentum(lr: float, momentum: float, scaling: float) -> float:
    r"""The EMA coefficient used at learning rate ``lr``: :math:`\max(\beta, 1 - \eta\,s\,(1-\beta))`."""
    return max(momentum, 1.0 - lr * scaling * (1.0 - momentum))


def _resolve_dphi(value: Any, owner: str) -> Phi:
    if isinstance(value, str):
        name: Literal["identity", "sign"] = _HP["Dphi_map"].validate(value, owner=owner)
        return name
    if callable(value):
        phi: Callable[[Tensor], Tensor] = value
        return phi
    raise TypeError(
        f"{owner} Dphi_map must be a callable or one of {', '.join(repr(n) for n in DPHI_MAPS)}, "
        f"got {type(value).__name__} {value!r}"
    )


class GSGD(ZoneOptimizer):
    r"""General SGD with single-timescale momentum (GSGD), as ``xnchxy/GeneralSGD``.

    For each parameter :math:`p` with gradient :math:`g`, with learning rate :math:`\eta` (the group's current
    ``lr``), momentum :math:`\beta`, scaling :math:`s`, weight decay :math:`\lambda`, Nesterov coefficient
    :math:`\nu` and map :math:`\Phi`:

    .. math::
        d_t &= g_t + \lambda\,p_{t-1} \\
        \beta_\text{eff} &= \max\bigl(\beta,\; 1 - \eta\,s\,(1-\beta)\bigr) \\
        \delta_t &= \begin{cases} d_1 & t = 1 \\ d_t - m_{t-1} & t > 1 \end{cases} \\
        m_t &= \begin{cases} d_1 & t = 1 \\ m_{t-1} + (1-\beta_\text{eff})\,\delta_t
              = \beta_\text{eff}\,m_{t-1} + (1-\beta_\text{eff})\,d_t & t > 1 \end{cases} \\
        D_t &= \Phi(m_t) + \nu\,\delta_t \\
        p_t &= p_{t-1} - \eta\,D_t \quad (p_{t-1} + \eta\,D_t \text{ with } \texttt{maximize})

    With :math:`\beta = 0` there is no buffer and :math:`D_t = \Phi(d_t)` (no Nesterov term), so
    ``Dphi_map="sign", momentum=0`` is signSGD. :math:`\beta_\text{eff}` uses the *current* lr, so when a
    scheduler lowers lr below :math:`1/s` the momentum step shrinks in proportion (the single-timescale
    coupling); ``momentum`` is the lower bound of :math:`\beta_\text{eff}`. With the default scaling and
    :math:`\Phi` = identity, :math:`\nu = 0`, GSGD is heavy ball in EMA form, i.e. ``torch.optim.SGD`` with
    ``momentum = dampening =`` :math:`\beta_\text{eff}`.

    Args:
        params: parameters or param groups.
        lr: learning rate :math:`\eta \ge 0` (required); :math:`> 0` when ``scaling`` is None.
        momentum: :math:`\beta \in [0, 1)`, the minimum EMA coefficient; 0 turns momentum off.
        scaling: :math:`s > 0`; None (default) resolves to :math:`1/(\eta_0 + 10^{-12})` with the group's lr
            :math:`\eta_0` when the group is created (also for groups added with ``add_param_group``).
        Dphi_map: :math:`\Phi`: ``"identity"`` (default), ``"sign"``, or an elementwise callable
            ``Tensor -> Tensor`` that must not modify its input in place. A callable cannot be serialised:
            ``state_dict()`` stores ``"<callable>"`` for it, and ``load_state_dict`` keeps the callable of the
            optimizer it loads into.
        weight_decay: coupled L2 weight decay :math:`\lambda \ge 0`.
        nesterov: :math:`\nu \ge 0`, coefficient of the difference term :math:`\delta_t`.
        maximize: ascend instead of descend (only the sign of the final update flips).
        foreach: ``None`` (default) uses torch's fused SGD kernel wherever the update reduces to it
            (:math:`\Phi` = identity, :math:`\nu = 0`, :math:`\beta > 0`, not ``maximize``, float32/float64
            tensors on CPU or CUDA, also float16/bfloat16 on CUDA) and otherwise the multi-tensor path on
            accelerators, the single-tensor path on CPU. ``True``/``False`` force the generic multi-/single-tensor
            implementation (the two give identical results; the fused kernel agrees up to float rounding).

    State per parameter: ``momentum_buffer`` (:math:`m_t`).
    """

    hyperparameters = HYPERPARAMETERS

    def __init__(
        self,
        params: ParamsT,
        lr: float,
        momentum: float = 0.9,
        scaling: float | None = None,
        Dphi_map: str | Callable[[Tensor], Tensor] = "identity",
        weight_decay: float = 0,
        nesterov: float = 0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            # Report unknown keywords before any value is checked, as the base class would.
            reject_unknown_keywords(type(self).__name__, kwargs, self._keyword_names())
        # Dphi_map may be a callable, which the registry's choice domain rejects: it is validated here and
        # filled into each group by add_param_group, not by the base class.
        self._init_dphi = _resolve_dphi(Dphi_map, "GSGD")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            scaling=scaling,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults, kwargs)
        self.defaults["Dphi_map"] = self._init_dphi

    # ---- groups ------------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        owner = "GSGD param group"
        if "Dphi_map" in param_group:
            dphi = _resolve_dphi(param_group["Dphi_map"], owner)
        else:
            dphi = self.defaults.get("Dphi_map", self._init_dphi)
        for name in ("lr", "scaling"):
            if name in param_group:
                param_group[name] = _HP[name].validate(param_group[name], owner=owner)
        lr = param_group.get("lr", self.defaults["lr"])  # lr is a required argument: always in the defaults
        if param_group.get("scaling", self.defaults.get("scaling")) is None and not lr > 0:
            raise ValueError(
                f"{owner}: scaling=None resolves to 1/(lr+1e-12), which needs lr in (0, inf), got lr={lr!r}; "
                "pass scaling explicitly to use lr=0"
            )
        param_group.pop("Dphi_map", None)  # validated above; the base class knows only the names
        super().add_param_group(param_group)
        self.param_groups[-1]["Dphi_map"] = dphi

    def _prepare_group(self, group: dict[str, Any]) -> None:
        if group["scaling"] is None:
            group["scaling"] = 1.0 / (group["lr"] + 1e-12)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("Dphi_map", "identity")
            group.setdefault("nesterov", 0.0)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)

    # ---- state_dict: a custom callable is not serialised ------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        for packed in sd["param_groups"]:
            if callable(packed.get("Dphi_map")):
                packed["Dphi_map"] = CALLABLE_DPHI_MARKER
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict["param_groups"]
        current = [g["Dphi_map"] for g in self.param_groups]
        for i, packed in enumerate(saved):
            value = packed.get("Dphi_map", "identity")
            if value == CALLABLE_DPHI_MARKER:
                if i >= len(current) or not callable(current[i]):
                    raise ValueError(
                        f"GSGD.load_state_dict: param group {i} was saved with a custom Dphi_map callable, which a "
                        "state_dict does not hold; construct the optimizer with the same callable before loading"
                    )
            else:
                _resolve_dphi(value, f"GSGD.load_state_dict param group {i}")
        super().load_state_dict(state_dict)
        for i, group in enumerate(self.param_groups):
            if group.get("Dphi_map") == CALLABLE_DPHI_MARKER:
                group["Dphi_map"] = current[i]

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
            momentum = group["momentum"]
            beta = effective_momentum(lr, momentum, group["scaling"]) if momentum != 0 else None
            bufs: list[Tensor | None] = [None] * len(params)
            if beta is not None:
                bufs = [self.state[p].get("momentum_buffer") for p in params]
            args = dict(
                lr=lr,
                beta=beta,
                weight_decay=group["weight_decay"],
                nesterov=group["nesterov"],
                phi=group["Dphi_map"],
                maximize=group["maximize"],
            )
            if group["foreach"] is None and self._fused_applies(group, params, beta):
                _fused_gsgd(params, grads, bufs, **args)
            elif self._use_foreach(group, params):
                _multi_tensor_gsgd(params, grads, bufs, **args)
            else:
                _single_tensor_gsgd(params, grads, bufs, **args)
            if beta is not None:
                for p, m in zip(params, bufs):
                    self.state[p]["momentum_buffer"] = m
        return loss

    @staticmethod
    def _fused_applies(group: dict[str, Any], params: list[Tensor], beta: float | None) -> bool:
        return (
            beta is not None
            and group["Dphi_map"] == "identity"
            and group["nesterov"] == 0
            and not group["maximize"]
            and hasattr(torch, "_fused_sgd_")
            and all(p.dtype in _FUSED_DTYPES.get(p.device.type, ()) for p in params)
        )


def from_flat(params: ParamsT, **flat: Any) -> GSGD:
    """Build :class:`GSGD` from flat hyperparameters (the constructor's names; ``lr`` is required)."""
    foreach = flat.pop("foreach", None)
    if "lr" not in flat:
        raise TypeError("GSGD from_flat() missing required hyperparameter 'lr'")
    config = validate_config("GSGD", flat, FLAT_HYPERPARAMETERS, fill_defaults=False)
    return GSGD(params, foreach=foreach, **config)


# ---- implementations -------------------------------------------------------------------------------------
# All three take parallel lists; ``bufs[i]`` is None where the buffer does not exist yet (the first step), and
# is filled in place with the new buffer. ``beta`` is beta_eff, or None when momentum is off. ``phi`` is
# "identity", "sign" or a callable. None of them writes to a gradient.


def _apply_phi(x: Tensor, phi: Phi) -> Tensor:
    if phi == "identity":
        return x
    if phi == "sign":
        return torch.sign(x)
    return phi(x)


def _foreach_apply_phi(xs: TensorList, phi: Phi) -> TensorList:
    if phi == "identity":
        return xs
    if phi == "sign":
        return torch._foreach_sign(xs)
    return [phi(x) for x in xs]


def _single_tensor_gsgd(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    *,
    lr: float,
    beta: float | None,
    weight_decay: float,
    nesterov: float,
    phi: Phi,
    maximize: bool,
) -> None:
    step_size = lr if maximize else -lr
    for i, (p, g) in enumerate(zip(params, grads)):
        # d is p.grad itself only when there is no weight decay; it is then never modified.
        d = g if weight_decay == 0 else torch.add(g, p, alpha=weight_decay)
        if beta is None:
            p.add_(_apply_phi(d, phi), alpha=step_size)
            continue
        m = bufs[i]
        if m is None:
            m = bufs[i] = torch.clone(d, memory_format=torch.preserve_format) if d is g else d
            delta = d
        elif nesterov != 0:
            delta = torch.sub(d, m) if d is g else d.sub_(m)
            m.add_(delta, alpha=1.0 - beta)
        else:
            m.lerp_(d, 1.0 - beta)  # m + (1-beta)*(d-m) in one pass
        p.add_(_apply_phi(m, phi), alpha=step_size)
        if nesterov != 0:
            p.add_(delta, alpha=step_size * nesterov)


def _multi_tensor_gsgd(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    *,
    lr: float,
    beta: float | None,
    weight_decay: float,
    nesterov: float,
    phi: Phi,
    maximize: bool,
) -> None:
    step_size = lr if maximize else -lr
    index = list(range(len(params)))
    for ps, gs, idx in group_by_device_and_dtype(params, grads, index):
        ds = gs if weight_decay == 0 else torch._foreach_add(gs, ps, alpha=weight_decay)
        if beta is None:
            torch._foreach_add_(ps, _foreach_apply_phi(ds, phi), alpha=step_size)
            continue
        first = [k for k, i in enumerate(idx) if bufs[i] is None]
        later = [k for k, i in enumerate(idx) if bufs[i] is not None]
        for ks, is_first in ((first, True), (later, False)):
            if not ks:
                continue
            p_sub = [ps[k] for k in ks]
            d_sub = [ds[k] for k in ks]
            if is_first:
                if weight_decay == 0:
                    m_sub = [torch.clone(d, memory_format=torch.preserve_format) for d in d_sub]
                else:
                    m_sub = d_sub  # d = g + wd*p is a fresh tensor: it becomes the buffer
                for k, m in zip(ks, m_sub):
                    bufs[idx[k]] = m
                deltas: TensorList = d_sub
            else:
                m_sub = cast("list[Tensor]", [bufs[idx[k]] for k in ks])  # the later ones: every buffer exists
                if nesterov != 0:
                    if weight_decay == 0:
                        deltas = torch._foreach_sub(d_sub, m_sub)
                    else:
                        torch._foreach_sub_(d_sub, m_sub)
                        deltas = d_sub
                    torch._foreach_add_(m_sub, deltas, alpha=1.0 - beta)
                else:
                    torch._foreach_lerp_(m_sub, d_sub, 1.0 - beta)
            torch._foreach_add_(p_sub, _foreach_apply_phi(m_sub, phi), alpha=step_size)
            if nesterov != 0:
                torch._foreach_add_(p_sub, deltas, alpha=step_size * nesterov)


def _fused_gsgd(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    *,
    lr: float,
    beta: float | None,
    weight_decay: float,
    nesterov: float,
    phi: Phi,
    maximize: bool,
) -> None:
    # Phi = identity, nu = 0, not maximize: m = beta*m + (1-beta)*(g + wd*p) (m = g + wd*p on the first step),
    # p -= lr*m, which is torch's fused SGD with momentum = dampening = beta_eff; one pass, grads untouched.
    assert beta is not None and phi == "identity" and nesterov == 0 and not maximize
    first = [i for i, m in enumerate(bufs) if m is None]
    later = [i for i, m in enumerate(bufs) if m is not None]
    for ids, is_first in ((first, True), (later, False)):
        if not ids:
            continue
        if is_first:
            for i in ids:
                bufs[i] = torch.empty_like(params[i], memory_format=torch.preserve_format)
        # every buffer exists by now
        lists = ([params[i] for i in ids], [grads[i] for i in ids], cast("list[Tensor]", [bufs[i] for i in ids]))
        for ps, gs, ms in group_by_device_and_dtype(*lists):
            torch._fused_sgd_(
                ps,
                gs,
                ms,
                weight_decay=weight_decay,
                momentum=beta,
                lr=lr,
                dampening=beta,
                nesterov=False,
                maximize=False,
                is_first_step=is_first,
            )
