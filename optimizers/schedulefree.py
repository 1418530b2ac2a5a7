r"""Schedule-Free SGD and AdamW (Defazio et al., "The Road Less Scheduled", NeurIPS 2024), numerically as the PyPI
package ``schedulefree`` 1.4.1, plus the learning-rate-weighted average of Pun, Buchholz and Gower (2025).

Schedule-free training keeps three sequences. With interpolation :math:`\beta`, scheduled learning rate
:math:`\gamma_k` and averaging weight :math:`c_{k+1}`:

.. math::
    y_k &= (1-\beta)\,z_k + \beta\,x_k            && \text{(the gradient is taken here)} \\
    z_{k+1} &= z_k - \gamma_k\,d_k                  && \text{(an SGD or Adam step)} \\
    x_{k+1} &= (1-c_{k+1})\,x_k + c_{k+1}\,z_{k+1} && \text{(a running weighted average of } z)

so :math:`x_{k+1} = \sum_{j\le k} w_j z_{j+1} / \sum_{j\le k} w_j` with :math:`c_{k+1} = w_k/\sum_{j\le k} w_j`.
The parameter tensor holds :math:`y` in train mode and :math:`x` in eval mode; the state holds :math:`z`.
:meth:`~_ScheduleFree.eval` moves the parameters to :math:`x = (y - (1-\beta)z)/\beta` and
:meth:`~_ScheduleFree.train` back to :math:`y`.

The averaging weight (:math:`w_k`, ``weighting``):

- ``"lr_max"`` (default, the package's rule): :math:`w_k = (k+1)^r\,\gamma_{\max,k}^{p}` with
  :math:`\gamma_{\max,k} = \max_{j\le k}\gamma_j` and :math:`p` = ``weight_lr_power``. During a warm-up the
  weights grow with the learning rate; once the learning rate falls (an LR scheduler) they stay at the peak.
- ``"scheduled"`` (Pun, Buchholz, Gower, "Schedulers for Schedule-free: Theoretically inspired hyperparameters",
  arXiv:2511.07767): :math:`w_k = (k+1)^r\,\gamma_k^{p}` with the learning rate actually used at step ``k``, for
  schedule-free under any LR scheduler. Their derivation: the z-sequence is online gradient descent with steps
  :math:`\gamma_k`, whose regret bound controls :math:`\sum_k \gamma_k \langle g_k, z_k - z_*\rangle`; the
  online-to-batch conversion of schedule-free then bounds the suboptimality of the weighted average
  :math:`x` whose weights are exactly those :math:`\gamma_k`, giving
  :math:`c_{k+1} = \gamma_k / \sum_{j\le k}\gamma_j` (``weighting="scheduled", weight_lr_power=1, r=0``) and
  :math:`f(x_T) - f_* \le (D^2 + G^2\sum_k \gamma_k^2) / (2\sum_k \gamma_k)` for convex G-Lipschitz f. A step taken
  with :math:`\gamma_k = 0` then gets no weight, so :math:`x` and :math:`y` stay where they are (with
  ``"lr_max"``, :math:`x` keeps drifting toward a frozen :math:`z`). With a constant or non-decreasing schedule
  (warm-up included) :math:`\gamma_k = \gamma_{\max,k}` and both rules coincide.

Deliberate differences from the package (see ``OPTIMIZERS.md``, "Decisions for this project"): ``p.grad`` is never
written (the package adds the decay to it and, for AdamW, divides it by the denominator); unknown keywords raise
``TypeError`` with the closest valid name and invalid values ``ValueError`` naming the parameter and its domain;
``lr`` is a float; a group added with ``add_param_group`` joins in the optimizer's current mode (the package adds
it in eval mode whatever the mode, so a later ``eval()`` skips it); ``step()`` checks every group's mode.
The ``state_dict()`` holds only tensors and plain values (the counters ``k``, ``weight_sum``, ``lr_max`` and the
mode ``train_mode`` live in the param groups), so it survives ``torch.load(weights_only=True)`` and a resumed run
continues exactly, in the mode it was saved in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._base import ZoneOptimizer, group_by_device_and_dtype
from ._compiled import compiled, scalars
from .hyperparams import Hyperparameter, validate_config

__all__ = [
    "ADAMW_BETAS",
    "ADAMW_FLAT_HYPERPARAMETERS",
    "ADAMW_HYPERPARAMETERS",
    "SGD_HYPERPARAMETERS",
    "WEIGHTINGS",
    "AdamWScheduleFree",
    "SGDScheduleFree",
    "ScheduleFreeModeError",
    "adamw_from_flat",
    "averaging_weight",
]

#: the averaging rules (see the module docstring)
WEIGHTINGS: tuple[str, ...] = ("lr_max", "scheduled")


class ScheduleFreeModeError(RuntimeError):
    """``step()`` was called while the optimizer was in eval mode (the parameters hold x, not y)."""


def _lr(default: float) -> Hyperparameter:
    return Hyperparameter(
        "lr", "float", default, "learning rate gamma of the z-step (the base value before warm-up)", low=0.0, log=True
    )


_SHARED: tuple[Hyperparameter, ...] = (
    Hyperparameter("weight_decay", "float", 0.0, "L2 decay evaluated at y and added to the step direction d", low=0.0),
    Hyperparameter(
        "warmup_steps", "int", 0, "linear warm-up: gamma_k = lr * min(1, (k+1)/warmup_steps); 0 turns it off", low=0
    ),
    Hyperparameter("r", "float", 0.0, "polynomial weighting: w_k grows as (k+1)^r", low=0.0),
    Hyperparameter(
        "weight_lr_power", "float", 2.0, "w_k grows as (learning rate)^weight_lr_power; 0 ignores the lr", low=0.0
    ),
    Hyperparameter(
        "weighting",
        "choice",
        "lr_max",
        "learning rate in w_k: 'lr_max' (the package: the largest so far) or 'scheduled' (Pun, Buchholz, Gower: "
        "the one used at this step, for any LR scheduler)",
        choices=WEIGHTINGS,
    ),
)

SGD_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    _lr(1.0),
    Hyperparameter(
        "momentum",
        "float",
        0.9,
        "interpolation beta: y = (1-beta) z + beta x (beta = 0 or 1 would make eval() undefined or a no-op)",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
    ),
    *_SHARED,
)

#: the elements of AdamW's ``betas``
ADAMW_BETAS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "beta1",
        "float",
        0.9,
        "interpolation beta: y = (1-beta1) z + beta1 x",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
    ),
    Hyperparameter("beta2", "float", 0.999, "EMA pole of the squared gradient", low=0.0, high=1.0, high_open=True),
)
_EPS = Hyperparameter("eps", "float", 1e-8, "added to the root of the second moment", low=0.0, low_open=True, log=True)

#: group-level hyperparameters with a scalar value (``betas`` is validated element-wise with :data:`ADAMW_BETAS`)
ADAMW_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_lr(0.0025), _EPS, *_SHARED)
#: flat hyperparameters for the registry: ``betas`` split into ``beta1`` and ``beta2``
ADAMW_FLAT_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_lr(0.0025), *ADAMW_BETAS, _EPS, *_SHARED)


def averaging_weight(k: int, lr: float, lr_max: float, r: float, weight_lr_power: float, weighting: str) -> float:
    """``w_k`` of step ``k`` (0-based) at scheduled learning rate ``lr``, ``lr_max`` being the largest so far."""
    base = lr_max if weighting == "lr_max" else lr
    return float(((k + 1) ** r) * (base**weight_lr_power))


class _ScheduleFree(ZoneOptimizer):
    """Mode switching, the schedule, the averaging weight and the counters, shared by both variants."""

    #: names of the per-parameter state tensors
    state_keys: ClassVar[tuple[str, ...]] = ("z",)
    switches = ("foreach", "fused")
    compiled_fused = True

    @staticmethod
    def _beta(group: dict[str, Any]) -> float:
        raise NotImplementedError

    def _prepare_group(self, group: dict[str, Any]) -> None:
        # A new group joins in the current mode; its parameters have no z yet, so no switch is owed.
        mode = self.param_groups[0].get("train_mode", False) if len(self.param_groups) > 1 else False
        group.setdefault("train_mode", mode)
        group.setdefault("k", 0)
        group.setdefault("weight_sum", 0.0)
        group.setdefault("lr_max", -1.0)
        group.setdefault("scheduled_lr", 0.0)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # also what load_state_dict() calls: a checkpoint of the schedulefree package lacks our keys
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("weighting", "lr_max")
            group.setdefault("foreach", None)
            group.setdefault("fused", False)

    # ---- modes -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def train(self) -> None:
        """Put the parameters at y, where gradients are taken: call before training steps."""
        self._switch(to_train=True)

    @torch.no_grad()
    def eval(self) -> None:
        """Put the parameters at x, the average: call before evaluating and before saving a checkpoint."""
        self._switch(to_train=False)

    def _switch(self, *, to_train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            beta = self._beta(group)
            # y = (1-beta) z + beta x, so y = lerp(x, z, 1-beta) and x = lerp(y, z, 1 - 1/beta).
            weight = 1.0 - beta if to_train else 1.0 - 1.0 / beta
            for p in group["params"]:
                z = self.state[p].get("z")
                if z is not None:
                    p.lerp_(z.to(p.device), weight)
            group["train_mode"] = to_train

    @property
    def train_mode(self) -> bool:
        """True when the parameters hold y (after :meth:`train`), False when they hold x."""
        return all(group["train_mode"] for group in self.param_groups)

    # ---- step --------------------------------------------------------------------------------------------
    def _check_train_mode(self) -> None:
        if not self.train_mode:
            name = type(self).__name__
            raise ScheduleFreeModeError(
                f"{name}.step() needs train mode: call optimizer.train() before training steps and "
                "optimizer.eval() before evaluating or saving a checkpoint (the parameters hold y in train mode, "
                "the averaged x in eval mode)"
            )

    @staticmethod
    def _advance(group: dict[str, Any]) -> tuple[int, float, float]:
        """Step ``k``'s scheduled learning rate and averaging coefficient ``c``; advances the counters."""
        k = group["k"]
        warmup = group["warmup_steps"]
        lr = group["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
        group["scheduled_lr"] = lr
        lr_max = group["lr_max"] = max(lr, group["lr_max"])
        weight = averaging_weight(k, lr, lr_max, group["r"], group["weight_lr_power"], group["weighting"])
        weight_sum = group["weight_sum"] = group["weight_sum"] + weight
        c = weight / weight_sum if weight_sum != 0 else 0.0  # no weight yet (lr = 0 so far): x stays at y
        group["k"] = k + 1
        return k, lr, c

    def _scratch(self, params: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], Tensor]:
        """One flat work buffer per (device, dtype) of :func:`_chunk_len` elements (at most the largest
        parameter), kept between steps: the single-tensor kernels write their temporaries (d with decay, AdamW's
        denominator) into it with ``out=``, so a step allocates nothing. It is not state (not in ``state_dict()``).
        """
        buffers: dict[tuple[torch.device, torch.dtype], Tensor] = self.__dict__.setdefault("_scratch_buffers", {})
        for p in params:
            key = (p.device, p.dtype)
            size = min(p.numel(), _chunk_len(p))
            if key not in buffers or buffers[key].numel() < size:
                buffers[key] = torch.empty(size, device=p.device, dtype=p.dtype)
        return buffers

    def _state_for(self, params: list[Tensor]) -> list[dict[str, Tensor]]:
        states = []
        for p in params:
            state = self.state[p]
            if "z" not in state:
                state["z"] = torch.clone(p, memory_format=torch.preserve_format).detach()
                for key in self.state_keys[1:]:
                    state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            states.append(state)
        return states


class SGDScheduleFree(_ScheduleFree):
    r"""Schedule-Free SGD.

    Step :math:`k = 0, 1, \ldots` on the parameter :math:`y` (train mode) with gradient :math:`g`, state
    :math:`z` (a copy of :math:`y` at the first step) and group counters:

    .. math::
        \gamma_k &= \eta\,\min\bigl(1, (k+1)/\text{warmup}\bigr) \\
        w_k &= (k+1)^r\,\gamma_{\max,k}^{\,p} \quad (\gamma_k^{\,p} \text{ with } \texttt{weighting="scheduled"}),
        \qquad c = w_k / \textstyle\sum_{j\le k} w_j \\
        d &= g + \lambda\,y \\
        z &\leftarrow z - \gamma_k\,d \\
        y &\leftarrow (1-c)\,y + c\,z - \gamma_k\,(1-c)(1-\beta)\,d

    The last line is the package's :math:`y \leftarrow (1-c)y + c z_\text{old} + \gamma_k(\beta(1-c) - 1)d` written
    with the new :math:`z`, so no gradient copy is needed. :meth:`eval` sets :math:`p = x = (y-(1-\beta)z)/\beta`.

    Args:
        params: parameters or param groups.
        lr: :math:`\eta \ge 0` (default 1.0). An LR scheduler may change it; see ``weighting``.
        momentum: interpolation :math:`\beta \in (0, 1)`.
        weight_decay: L2 decay :math:`\lambda \ge 0`, evaluated at :math:`y`.
        warmup_steps: linear warm-up length (0: none).
        r: polynomial averaging power :math:`r \ge 0`.
        weight_lr_power: :math:`p \ge 0`.
        weighting: ``"lr_max"`` (the package) or ``"scheduled"`` (Pun, Buchholz, Gower; see the module docstring).
        foreach: use the multi-tensor path (None: on accelerators only). Both paths give identical results.
        fused: ``True`` runs the update as one compiled kernel per tensor (``torch.compile``, see
            :mod:`optimizers._compiled`): one pass over memory, after a compile on the first step; needs a C++
            compiler on CPU or Triton on CUDA. Equal to the other paths up to rounding.

    Call :meth:`train` before training and :meth:`eval` before evaluating or saving; :meth:`step` raises
    :class:`ScheduleFreeModeError` in eval mode (the optimizer starts in eval mode, as the package does).
    """

    hyperparameters = SGD_HYPERPARAMETERS

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
        *,
        weighting: str = "lr_max",
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
            weighting=weighting,
            foreach=foreach,
            fused=bool(fused),
        )
        super().__init__(params, defaults, kwargs)

    @staticmethod
    def _beta(group: dict[str, Any]) -> float:
        return float(group["momentum"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        self._check_train_mode()
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            _, lr, c = self._advance(group)
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            zs = [state["z"] for state in self._state_for(params)]
            args = dict(lr=lr, c=c, beta=group["momentum"], weight_decay=group["weight_decay"])
            if group["fused"]:
                _fused_sgd_sf(params, grads, zs, **args)
            elif self._use_foreach(group, params):
                _multi_tensor_sgd_sf(params, grads, zs, **args)
            else:
                scratch = self._scratch(params) if group["weight_decay"] != 0 else {}
                _single_tensor_sgd_sf(params, grads, zs, scratch=scratch, **args)
        return loss


class AdamWScheduleFree(_ScheduleFree):
    r"""Schedule-Free AdamW (the package's ``AdamWScheduleFree`` 1.4.1, decay scaled by the learning rate).

    Step :math:`k = 0, 1, \ldots` as :class:`SGDScheduleFree` with :math:`\beta = \beta_1` and the direction

    .. math::
        v &\leftarrow \beta_2\,v + (1-\beta_2)\,g^2 \\
        d &= \frac{g}{\sqrt{v / (1-\beta_2^{k+1})} + \epsilon} + \lambda\,y \\
        z &\leftarrow z - \gamma_k\,d, \qquad
        y \leftarrow (1-c)\,y + c\,z - \gamma_k\,(1-c)(1-\beta_1)\,d

    There is no first-moment buffer: the interpolation and the average are the momentum. The implementation
    computes :math:`\sqrt{v} + \epsilon\sqrt{b}` with :math:`b = 1-\beta_2^{k+1}` and folds :math:`\sqrt{b}` into
    the step sizes (equal up to rounding, one pass less).

    Args:
        params: parameters or param groups.
        lr: :math:`\eta \ge 0` (default 0.0025).
        betas: :math:`(\beta_1, \beta_2)`, :math:`\beta_1 \in (0, 1)`, :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon > 0`.
        weight_decay, warmup_steps, r, weight_lr_power, weighting, foreach, fused: as :class:`SGDScheduleFree`.

    State per parameter: ``z`` and ``exp_avg_sq`` (:math:`v`).
    """

    hyperparameters = ADAMW_HYPERPARAMETERS
    tuple_fields = {"betas": ADAMW_BETAS}
    state_keys = ("z", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
        *,
        weighting: str = "lr_max",
        fused: bool = False,
        **kwargs: Any,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
            weighting=weighting,
            foreach=foreach,
            fused=bool(fused),
        )
        super().__init__(params, defaults, kwargs)

    @staticmethod
    def _beta(group: dict[str, Any]) -> float:
        return float(group["betas"][0])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        self._check_train_mode()
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            k, lr, c = self._advance(group)
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            states = self._state_for(params)
            zs = [state["z"] for state in states]
            vs = [state["exp_avg_sq"] for state in states]
            beta1, beta2 = group["betas"]
            args = dict(
                lr=lr,
                c=c,
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                bias_correction2=1.0 - beta2 ** (k + 1),
            )
            if group["fused"]:
                _fused_adamw_sf(params, grads, zs, vs, **args)
            elif self._use_foreach(group, params):
                _multi_tensor_adamw_sf(params, grads, zs, vs, **args)
            else:
                _single_tensor_adamw_sf(params, grads, zs, vs, scratch=self._scratch(params), **args)
        return loss


def adamw_from_flat(params: ParamsT, **flat: Any) -> AdamWScheduleFree:
    """Build :class:`AdamWScheduleFree` from flat hyperparameters (``beta1``, ``beta2`` instead of ``betas``)."""
    switches = {name: flat.pop(name) for name in AdamWScheduleFree.switches if name in flat}
    config = validate_config("AdamWScheduleFree", flat, ADAMW_FLAT_HYPERPARAMETERS, fill_defaults=True)
    betas = (config.pop("beta1"), config.pop("beta2"))
    return AdamWScheduleFree(params, betas=betas, **switches, **config)


# ---- implementations -------------------------------------------------------------------------------------
# With the new z, y's update is lerp(y, z, c) - lr*(1-c)*(1-beta)*d: z first, then y, and d never has to be
# written into the gradient. Where d = g exactly (SGD without decay) or d = g/denom (AdamW without decay), the
# kernels read g directly (add / addcdiv); with decay they form d once in a temporary.


#: bytes per tensor in one chunk of the single-tensor kernels on CPU (see _chunks)
CPU_CHUNK_BYTES = 1 << 20


def _chunk_len(t: Tensor) -> int:
    return CPU_CHUNK_BYTES // t.element_size() if t.device.type == "cpu" else t.numel()


def _chunks(*tensors: Tensor) -> list[tuple[Tensor, ...]]:
    """Matching flat slices of same-shaped tensors, :data:`CPU_CHUNK_BYTES` each on CPU.

    Every kernel below runs several elementwise passes over the same tensors; on CPU, running them chunk by chunk
    keeps each chunk in cache between passes, so memory sees about one read and one write per tensor instead of
    one per pass (a blocked form of a fused kernel). Non-contiguous tensors, and accelerators, take whole tensors.
    """
    first = tensors[0]
    n, step = first.numel(), _chunk_len(first)
    if step >= n or not all(t.is_contiguous() for t in tensors):
        return [tensors]
    flat = [t.view(-1) for t in tensors]
    return [tuple(f[i : i + step] for f in flat) for i in range(0, n, step)]


def _work(scratch: dict[tuple[torch.device, torch.dtype], Tensor], like: Tensor) -> Tensor:
    """A view of the scratch buffer shaped as ``like`` (a chunk, or a whole tensor when unchunked)."""
    buf = scratch[(like.device, like.dtype)]
    if buf.numel() < like.numel():  # a non-contiguous tensor taken whole
        return torch.empty_like(like)
    return buf[: like.numel()].view(like.shape)


def _single_tensor_sgd_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    *,
    scratch: dict[tuple[torch.device, torch.dtype], Tensor],
    lr: float,
    c: float,
    beta: float,
    weight_decay: float,
) -> None:
    y_coef = -lr * (1.0 - c) * (1.0 - beta)
    for tensors in zip(params, grads, zs):
        for y, g, z in _chunks(*tensors):
            d = g if weight_decay == 0 else torch.add(g, y, alpha=weight_decay, out=_work(scratch, y))
            z.add_(d, alpha=-lr)
            y.lerp_(z, c)
            y.add_(d, alpha=y_coef)


def _multi_tensor_sgd_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    *,
    lr: float,
    c: float,
    beta: float,
    weight_decay: float,
) -> None:
    y_coef = -lr * (1.0 - c) * (1.0 - beta)
    for ys, gs, zz in group_by_device_and_dtype(params, grads, zs):
        if weight_decay != 0 and ys[0].device.type == "cpu":
            # No temporary for d (a fresh parameter-sized allocation costs more than a pass on CPU): the decay
            # goes into z directly, and into y as the factor 1 - lr(1-beta)wd before the lerp, since
            # lerp(m*y, z, c) + y_coef*g = (1-c)(1 - lr(1-beta)wd) y + c z + y_coef*g.
            torch._foreach_add_(zz, ys, alpha=-lr * weight_decay)
            torch._foreach_add_(zz, gs, alpha=-lr)
            torch._foreach_mul_(ys, 1.0 - lr * (1.0 - beta) * weight_decay)
            torch._foreach_lerp_(ys, zz, c)
            torch._foreach_add_(ys, gs, alpha=y_coef)
            continue
        ds = gs if weight_decay == 0 else torch._foreach_add(gs, ys, alpha=weight_decay)
        torch._foreach_add_(zz, ds, alpha=-lr)
        torch._foreach_lerp_(ys, zz, c)
        torch._foreach_add_(ys, ds, alpha=y_coef)


def _single_tensor_adamw_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    vs: list[Tensor],
    *,
    scratch: dict[tuple[torch.device, torch.dtype], Tensor],
    lr: float,
    c: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    bias_correction2: float,
) -> None:
    # g / (sqrt(v/b) + eps) = sqrt(b) * g / (sqrt(v) + eps*sqrt(b))
    root_b = math.sqrt(bias_correction2)
    y_coef = -lr * (1.0 - c) * (1.0 - beta1) * root_b
    for tensors in zip(params, grads, zs, vs):
        for y, g, z, v in _chunks(*tensors):
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            denom = torch.sqrt(v, out=_work(scratch, v)).add_(eps * root_b)
            if weight_decay == 0:
                z.addcdiv_(g, denom, value=-lr * root_b)
                y.lerp_(z, c)
                y.addcdiv_(g, denom, value=y_coef)
            else:
                d = torch.div(g, denom, out=denom).add_(y, alpha=weight_decay / root_b)  # d / sqrt(b)
                z.add_(d, alpha=-lr * root_b)
                y.lerp_(z, c)
                y.add_(d, alpha=y_coef)


def _multi_tensor_adamw_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    vs: list[Tensor],
    *,
    lr: float,
    c: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    bias_correction2: float,
) -> None:
    root_b = math.sqrt(bias_correction2)
    y_coef = -lr * (1.0 - c) * (1.0 - beta1) * root_b
    for ys, gs, zv in group_by_device_and_dtype(params, grads, list(zip(zs, vs))):
        zz = [z for z, _ in zv]
        vv = [v for _, v in zv]
        torch._foreach_mul_(vv, beta2)
        torch._foreach_addcmul_(vv, gs, gs, value=1.0 - beta2)
        denom = torch._foreach_sqrt(vv)
        torch._foreach_add_(denom, eps * root_b)
        if weight_decay == 0:
            torch._foreach_addcdiv_(zz, gs, denom, value=-lr * root_b)
            torch._foreach_lerp_(ys, zz, c)
            torch._foreach_addcdiv_(ys, gs, denom, value=y_coef)
        else:
            ds = torch._foreach_div(gs, denom)  # d / sqrt(b), below
            del denom
            torch._foreach_add_(ds, ys, alpha=weight_decay / root_b)
            torch._foreach_add_(zz, ds, alpha=-lr * root_b)
            torch._foreach_lerp_(ys, zz, c)
            torch._foreach_add_(ys, ds, alpha=y_coef)


# ---- the compiled path (fused=True): the single-tensor kernels above, in their order of operations -------------
def _sgd_sf_kernel(
    ys: list[Tensor], gs: list[Tensor], zs: list[Tensor], lr: Tensor, c: Tensor, y_coef: Tensor, wd: Tensor, decay: bool
) -> None:
    for y, g, z in zip(ys, gs, zs):
        d = g + wd * y if decay else g
        z.sub_(lr * d)
        y.lerp_(z, c)
        y.add_(y_coef * d)


def _fused_sgd_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    *,
    lr: float,
    c: float,
    beta: float,
    weight_decay: float,
) -> None:
    kernel = compiled(_sgd_sf_kernel)
    y_coef = -lr * (1.0 - c) * (1.0 - beta)
    for ys, gs, zz in group_by_device_and_dtype(params, grads, zs):
        kernel(ys, gs, zz, *scalars(ys[0], lr, c, y_coef, weight_decay), weight_decay != 0)


def _adamw_sf_kernel(
    ys: list[Tensor],
    gs: list[Tensor],
    zs: list[Tensor],
    vs: list[Tensor],
    beta2: Tensor,
    gain2: Tensor,
    eps_rb: Tensor,
    lr_rb: Tensor,
    c: Tensor,
    y_coef: Tensor,
    wd_rb: Tensor,
    decay: bool,
) -> None:
    for y, g, z, v in zip(ys, gs, zs, vs):
        v.mul_(beta2).add_(gain2 * g * g)
        d = g / (torch.sqrt(v) + eps_rb)  # d / sqrt(b), as in _single_tensor_adamw_sf
        if decay:
            d = d + wd_rb * y
        z.sub_(lr_rb * d)
        y.lerp_(z, c)
        y.add_(y_coef * d)


def _fused_adamw_sf(
    params: list[Tensor],
    grads: list[Tensor],
    zs: list[Tensor],
    vs: list[Tensor],
    *,
    lr: float,
    c: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    bias_correction2: float,
) -> None:
    kernel = compiled(_adamw_sf_kernel)
    root_b = math.sqrt(bias_correction2)
    y_coef = -lr * (1.0 - c) * (1.0 - beta1) * root_b
    for ys, gs, zv in group_by_device_and_dtype(params, grads, list(zip(zs, vs))):
        numbers = scalars(ys[0], beta2, 1.0 - beta2, eps * root_b, lr * root_b, c, y_coef, weight_decay / root_b)
        kernel(ys, gs, [z for z, _ in zv], [v for _, v in zv], *numbers, weight_decay != 0)
