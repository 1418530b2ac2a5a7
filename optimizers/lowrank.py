r"""Geometric momentum for low-rank training (Schotthöfer, Klein, Kusch, arXiv:2506.17475, NeurIPS 2025).

A weight :math:`W \approx U S V^\top` (:math:`U \in \mathbb{R}^{n\times r}`, :math:`V \in \mathbb{R}^{m\times r}`
orthonormal, :math:`S = \operatorname{diag}(\sigma)`) lives on the manifold :math:`\mathcal{M}_r` of rank-:math:`r`
matrices. Heavy-ball or Adam buffers kept on the factors pile up velocity in coordinates that rotate with the
factors and lose orthonormality ("naive" momentum, :func:`naive_factor_heavy_ball`). The geometric optimizers here
keep the momentum as a small matrix :math:`B` in the basis :math:`(U, V)`, transport it into each new basis, and
retract with a truncated SVD. In :math:`W`-space one heavy-ball step is

.. math::
    \mathrm{mom}^+ = \beta\,\Pi(\mathrm{mom}) + P_T(G), \qquad W^+ = T_\vartheta\bigl(W - h\,\mathrm{mom}^+\bigr),

with :math:`P_T(G) = UU^\top G + GVV^\top - UU^\top G V V^\top` the tangent projection, :math:`\Pi` the projection
transport and :math:`T_\vartheta` the rank-adaptive truncation.

The specification (``LOWRANK.md``) rebuilt the method from the abstract, a review and the authors' released code;
the paper's method section was not reachable. Its decisions are marked **D#** here:

- **D1**: the per-step, parallel-BUG form (one minibatch, one backward pass, augment, step, truncate every step),
  not the authors' cycle form (augment once per T steps, then T-1 AdamW steps on S).
- **D2**: PyTorch's momentum convention ``buf = beta*buf + g; W -= lr*buf``.
- **D3**: the Adam second moment moves between bases as :math:`(P^\top \sqrt{M_2} Q)^{\odot 2}` (authors' code).
- **D4**: the truncated rank is clamped to ``[r_min, r_max]`` of the layer.
- **D6**: Adam's bias correction counts steps per layer; every layer steps on every call, so it is the global count.
- **D7**: Nesterov is an extra the sources do not mention.

Design (``LOWRANK.md`` section 3): :class:`LowRankLinear` preallocates its factors at ``r_max`` columns and uses the
first ``rank`` of them, so no Parameter ever changes shape; the rank is a plain int saved in the module's ``state_dict``
(``_extra_state``). The optimizers take ordinary parameters (``model.parameters()``, as the engine passes them): every
forward pass (any use of ``factors()``) records which layer its ``U``, ``S`` and ``V`` belong to, and ``step()`` updates
each such layer as a whole (with the hyperparameters of the group holding its ``U``). Every other parameter (a bias, a
dense layer) gets the plain elementwise rule: heavy-ball for :class:`LowRankHeavyBall`, Adam for :class:`LowRankAdam`.
On a model without low-rank layers :class:`LowRankHeavyBall` is therefore exactly ``torch.optim.SGD(lr, momentum,
nesterov=nesterov)``, which is also the geometric method's full-rank square limit (the check of section 5.2), rather
than an error: the registry entry can be built for any task, and its zones on a dense model are heavy-ball's.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.optimizer import ParamsT
from torch.utils.weak import WeakIdKeyDictionary

from ._base import ZoneOptimizer
from .hyperparams import Hyperparameter, validate_config

__all__ = [
    "ADAM_FLAT_HYPERPARAMETERS",
    "ADAM_HYPERPARAMETERS",
    "BETAS",
    "HYPERPARAMETERS",
    "LowRankAdam",
    "LowRankHeavyBall",
    "LowRankLinear",
    "adam_from_flat",
    "lowrank_layers",
    "naive_factor_heavy_ball",
    "tangent_projection",
]

#: singular values below this fraction of the largest are dropped, and the S^-1 of the gradient recovery is clamped
TINY = 1e-12

_LR = Hyperparameter("lr", "float", 0.1, "learning rate h", low=0.0, low_open=True, log=True)
_MOMENTUM = Hyperparameter(
    "momentum",
    "float",
    0.9,
    "heavy-ball coefficient beta of the transported momentum",
    low=0.0,
    high=1.0,
    high_open=True,
)
_NESTEROV = Hyperparameter("nesterov", "bool", False, "Nesterov step S0 - h*(G + beta*B) (D7, an extra)")
_THETA = Hyperparameter(
    "theta",
    "float",
    0.0,
    "rank truncation tolerance: drop the tail of singular values whose norm is <= theta*|sigma| (0: keep the rank "
    "at r_max of the layer)",
    low=0.0,
    high=1.0,
    high_open=True,
)
#: group-level hyperparameters of :class:`LowRankHeavyBall` (the registry's ``lowrank-hb``)
HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_LR, _MOMENTUM, _NESTEROV, _THETA)

BETAS: tuple[Hyperparameter, ...] = (
    Hyperparameter("beta1", "float", 0.9, "first-moment EMA pole", low=0.0, high=1.0, high_open=True),
    Hyperparameter("beta2", "float", 0.999, "second-moment EMA pole", low=0.0, high=1.0, high_open=True),
)
_ADAM_LR = Hyperparameter("lr", "float", 1e-3, "learning rate h", low=0.0, low_open=True, log=True)
_EPS = Hyperparameter("eps", "float", 1e-8, "denominator epsilon", low=0.0, low_open=True, log=True)
_WEIGHT_DECAY = Hyperparameter("weight_decay", "float", 0.0, "decoupled (AdamW) weight decay", low=0.0)
#: group-level scalar hyperparameters of :class:`LowRankAdam` (``betas`` is validated with :data:`BETAS`)
ADAM_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_ADAM_LR, _EPS, _WEIGHT_DECAY, _THETA)
#: the flat hyperparameters of :class:`LowRankAdam` (``beta1``, ``beta2`` for ``betas``), as the registry lists them
ADAM_FLAT_HYPERPARAMETERS: tuple[Hyperparameter, ...] = (_ADAM_LR, *BETAS, _EPS, _WEIGHT_DECAY, _THETA)


# ---- the layer -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Factor:
    role: str  # "U", "S" or "V"
    layer: weakref.ref[LowRankLinear]


#: parameter -> the layer it is a factor of; filled whenever the factors are used (forward, weight()), so it follows
#: the Parameters a module holds even after ``to_empty``, ``deepcopy`` or ``load_state_dict(assign=True)`` replaced
#: them
_FACTORS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _factor_of(p: Tensor) -> _Factor | None:
    found = _FACTORS.get(p)  # type: ignore[no-untyped-call]  # torch leaves WeakIdKeyDictionary unannotated
    return found if isinstance(found, _Factor) else None


def _check_int(owner: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner} {name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{owner} {name} must be an integer >= {low}{upper}, got {value!r}")
    return value


class LowRankLinear(nn.Module):
    r"""A linear layer :math:`y = x\,V S^\top U^\top + b` whose weight :math:`W = U S V^\top` has rank ``rank``.

    Parameters ``U`` (out x r_max), ``S`` (r_max x r_max) and ``V`` (in x r_max) are preallocated; the forward uses
    ``U[:, :rank]``, ``S[:rank, :rank]`` and ``V[:, :rank]``. The geometric optimizers keep ``U`` and ``V``
    orthonormal and ``S`` diagonal and may change ``rank`` within ``[r_min, r_max]``; any other optimizer (the naive
    baseline) trains the three factors as plain tensors and leaves ``rank`` alone.

    Args:
        in_features, out_features: sizes of x and y.
        rank: the initial rank r, ``r_min <= rank <= r_max``.
        r_max: the most columns the factors may use (default ``rank``: a fixed rank), ``<= min(in, out)``.
        r_min: the fewest (default ``min(2, rank)``, D4).
        bias: learn an additive bias.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        r_max: int | None = None,
        r_min: int | None = None,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = "LowRankLinear"
        self.in_features = _check_int(owner, "in_features", in_features, 1)
        self.out_features = _check_int(owner, "out_features", out_features, 1)
        full = min(in_features, out_features)
        rank = _check_int(owner, "rank", rank, 1, full)
        self.r_max = _check_int(owner, "r_max", rank if r_max is None else r_max, rank, full)
        self.r_min = _check_int(owner, "r_min", min(2, rank) if r_min is None else r_min, 1, rank)
        self.rank = rank
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.U = nn.Parameter(torch.empty(out_features, self.r_max, **kw))
        self.S = nn.Parameter(torch.empty(self.r_max, self.r_max, **kw))
        self.V = nn.Parameter(torch.empty(in_features, self.r_max, **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        if self.U.device.type != "meta":
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The top-``rank`` SVD of a weight drawn like ``nn.Linear``'s, U(+-1/sqrt(in)); the bias likewise."""
        bound = 1.0 / math.sqrt(self.in_features)
        work = torch.float64 if self.U.dtype == torch.float64 else torch.float32
        dense = torch.empty(self.out_features, self.in_features, dtype=work)
        nn.init.uniform_(dense, -bound, bound, generator=generator)
        u, s, vh = torch.linalg.svd(dense, full_matrices=False)
        r = self.rank
        self.U.zero_()
        self.S.zero_()
        self.V.zero_()
        self.U[:, :r] = u[:, :r]
        self.S[:r, :r] = torch.diag(s[:r])
        self.V[:, :r] = vh[:r].T
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound, generator=generator)

    def factors(self) -> tuple[Tensor, Tensor, Tensor]:
        """The used parts ``U[:, :rank]``, ``S[:rank, :rank]``, ``V[:, :rank]`` (views).

        Using them records the Parameters as this layer's factors, which is how the optimizers find the layer.
        """
        for role in ("U", "S", "V"):  # see _FACTORS: a dict write per factor, cheap next to the matmuls
            _FACTORS[getattr(self, role)] = _Factor(role, weakref.ref(self))
        r = self.rank
        return self.U[:, :r], self.S[:r, :r], self.V[:, :r]

    def weight(self) -> Tensor:
        """The dense weight :math:`U S V^\\top` (out x in)."""
        u, s, v = self.factors()
        return u @ s @ v.T

    def forward(self, x: Tensor) -> Tensor:
        u, s, v = self.factors()
        return F.linear(F.linear(F.linear(x, v.T), s), u, self.bias)

    def get_extra_state(self) -> dict[str, int]:
        return {"rank": self.rank}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.rank = _check_int("LowRankLinear state", "rank", state["rank"], self.r_min, self.r_max)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, "
            f"r_min={self.r_min}, r_max={self.r_max}, bias={self.bias is not None}"
        )


def lowrank_layers(module: nn.Module) -> list[LowRankLinear]:
    """The :class:`LowRankLinear` layers inside ``module``."""
    return [m for m in module.modules() if isinstance(m, LowRankLinear)]


def naive_factor_heavy_ball(params: ParamsT, lr: float, momentum: float = 0.9, nesterov: bool = False) -> Any:
    """The naive baseline: heavy-ball on U, S and V as plain tensors, i.e. ``torch.optim.SGD`` (nothing else).

    It neither transports the momentum nor keeps U, V orthonormal or S diagonal. In the registry it is ``sgd``
    (a run of ``sgd`` on ``digits-lowrank-mlp`` is this baseline).
    """
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov)


def tangent_projection(u: Tensor, v: Tensor, g: Tensor) -> Tensor:
    """:math:`P_T(G) = UU^\\top G + G VV^\\top - UU^\\top G VV^\\top` for orthonormal ``u`` and ``v``."""
    ug = u @ (u.T @ g)
    return ug + (g @ v) @ v.T - (ug @ v) @ v.T


# ---- one geometric step, shared by the optimizers --------------------------------------------------------


@dataclass
class _Augmented:
    """A layer's augmented bases and everything expressed in them (steps 1-4 of LOWRANK.md section 2)."""

    layer: LowRankLinear
    dtype: torch.dtype  # the parameters' dtype; the linear algebra runs in float32 or float64
    u_hat: Tensor  # n x k_u, orthonormal, span(U) inside
    v_hat: Tensor  # m x k_v
    m: Tensor  # k_u x r: U_hat^T U
    n: Tensor  # k_v x r: V_hat^T V
    g_hat: Tensor  # k_u x k_v: U_hat^T P_T(G) V_hat
    s0: Tensor  # k_u x k_v: M S N^T, the current S in the new basis

    def transport(self, x: Tensor) -> Tensor:
        """An r x r coefficient matrix moved into the augmented basis: ``M x N^T`` (exact: old span in new)."""
        return self.m @ x @ self.n.T


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _augment(layer: LowRankLinear) -> _Augmented:
    r"""Steps 1-4: K/L gradients from the factor gradients, augmented bases, tangent gradient, transported S."""
    dtype = layer.U.dtype
    work = _work_dtype(dtype)
    u, s_mat, v = (t.to(work) for t in layer.factors())
    r = layer.rank
    assert layer.U.grad is not None and layer.S.grad is not None and layer.V.grad is not None
    g_u = layer.U.grad[:, :r].to(work)
    g_s = layer.S.grad[:r, :r].to(work)
    g_v = layer.V.grad[:, :r].to(work)
    s = s_mat.diagonal()
    # G_U = G V S^T and G_V = G^T U S with S diagonal: G V and G^T U are a column scaling away
    inv = 1.0 / s.clamp(min=TINY * float(s.abs().max()) + torch.finfo(work).tiny)
    gv = g_u * inv  # n x r: G V
    gu = g_v * inv  # m x r: G^T U
    n_rows, m_rows = u.shape[0], v.shape[0]
    # Householder QR: where G V lies in span(U) the extra columns complete the basis arbitrarily, with zero coefficients
    u_hat = torch.linalg.qr(torch.cat([u, gv], 1)).Q[:, : min(2 * r, n_rows)]
    v_hat = torch.linalg.qr(torch.cat([v, gu], 1)).Q[:, : min(2 * r, m_rows)]
    m = u_hat.T @ u
    n = v_hat.T @ v
    # U_hat^T P_T(G) V_hat from the three gradients (M and N, not blocks: QR may flip signs)
    g_hat = m @ (gu.T @ v_hat) + (u_hat.T @ gv) @ n.T - m @ g_s @ n.T
    s0 = (m * s) @ n.T
    return _Augmented(layer, dtype, u_hat, v_hat, m, n, g_hat, s0)


def _truncated_rank(sigma: Tensor, theta: float, r_min: int, r_max: int) -> int:
    """Step 6's rank: the fewest leading values whose dropped tail has norm <= theta*|sigma|, clamped (D4)."""
    values = sigma.tolist()
    total = math.sqrt(sum(x * x for x in values))
    keep = len(values)
    tail = 0.0
    for j in range(len(values) - 1, -1, -1):  # tail = |sigma[j:]|; find the smallest j with tail <= theta*total
        tail = math.sqrt(tail * tail + values[j] * values[j])
        if tail <= theta * total:
            keep = j
        else:
            break
    nonzero = sum(1 for x in values if x > TINY * values[0]) if values and values[0] > 0 else 0
    keep = min(keep, nonzero)
    return max(r_min, min(keep, r_max, len(values)))


def _retract(aug: _Augmented, s_hat: Tensor, theta: float) -> tuple[Tensor, Tensor]:
    """Step 6: SVD of the new coefficients, truncation, and the factors written back. Returns (P1, Q1)."""
    layer = aug.layer
    p, sigma, qh = torch.linalg.svd(s_hat, full_matrices=False)
    r1 = _truncated_rank(sigma, theta, layer.r_min, layer.r_max)
    p1, q1 = p[:, :r1], qh[:r1].T
    layer.U.zero_()
    layer.S.zero_()
    layer.V.zero_()
    layer.U[:, :r1] = (aug.u_hat @ p1).to(aug.dtype)
    layer.V[:, :r1] = (aug.v_hat @ q1).to(aug.dtype)
    layer.S[:r1, :r1] = torch.diag(sigma[:r1]).to(aug.dtype)
    layer.rank = r1
    return p1, q1


# ---- the optimizers ---------------------------------------------------------------------------------------


class _LowRankOptimizer(ZoneOptimizer):
    """Finds the low-rank layers among the parameters with gradients; subclasses step layers and plain tensors."""

    def _split(self) -> tuple[list[tuple[dict[str, Any], LowRankLinear]], list[tuple[dict[str, Any], list[Tensor]]]]:
        """(group, layer) for each layer whose U has a gradient, and (group, plain parameters with gradients)."""
        mine = {id(p) for group in self.param_groups for p in group["params"]}
        layers: list[tuple[dict[str, Any], LowRankLinear]] = []
        plain: list[tuple[dict[str, Any], list[Tensor]]] = []
        for group in self.param_groups:
            params, _ = self._params_with_grad(group)
            rest = []
            for p in params:
                factor = _factor_of(p)
                layer = factor.layer() if factor is not None else None
                if factor is None or layer is None or getattr(layer, factor.role) is not p:
                    rest.append(p)  # not (or no longer) a factor of a live layer
                elif factor.role == "U":
                    if id(layer.S) not in mine or id(layer.V) not in mine:
                        raise ValueError(
                            f"{type(self).__name__}: a LowRankLinear's U, S and V must all be given to the same "
                            "optimizer (pass model.parameters())"
                        )
                    if layer.S.grad is None or layer.V.grad is None:
                        raise ValueError(f"{type(self).__name__}: a LowRankLinear's U has a gradient but S or V not")
                    layers.append((group, layer))
            plain.append((group, rest))
        return layers, plain

    def _layer_state(self, layer: LowRankLinear, names: Iterable[str]) -> dict[str, Any]:
        """The layer's state (kept under its U), created as zero r x r matrices; checked against its rank."""
        state: dict[str, Any] = self.state[layer.U]
        r = layer.rank
        for name in names:
            if name not in state:
                state[name] = torch.zeros(r, r, dtype=layer.U.dtype, device=layer.U.device)
            elif tuple(state[name].shape) != (r, r):
                raise ValueError(
                    f"{type(self).__name__}: state {name!r} of a LowRankLinear is {tuple(state[name].shape)} but the "
                    f"layer has rank {r}; load the model's state_dict together with the optimizer's"
                )
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = self._evaluate_closure(closure)
        layers, plain = self._split()
        for group, layer in layers:
            self._layer_step(group, layer)
        for group, params in plain:
            if params:
                self._plain_step(group, params)
        return loss

    def _layer_step(self, group: dict[str, Any], layer: LowRankLinear) -> None:
        raise NotImplementedError

    def _plain_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        raise NotImplementedError


class LowRankHeavyBall(_LowRankOptimizer):
    r"""Geometric heavy-ball (and Nesterov, D7) for :class:`LowRankLinear` layers; heavy-ball for the rest.

    Per layer, with :math:`W = U S V^\top` of rank :math:`r`, momentum coefficients :math:`B` (:math:`r\times r`,
    momentum :math:`UBV^\top` in :math:`W`-space), learning rate :math:`h`, coefficient :math:`\beta` and
    :math:`G = \partial L/\partial W` (D1, one backward pass per step):

    .. math::
        G V &= G_U S^{-1}, \quad G^\top U = G_V S^{-1} \\
        \hat U &= \operatorname{qr}([U,\; GV])_{:,\,:\min(2r,n)}, \quad
            \hat V = \operatorname{qr}([V,\; G^\top U])_{:,\,:\min(2r,m)} \\
        M &= \hat U^\top U, \quad N = \hat V^\top V, \quad \hat G = \hat U^\top P_T(G) \hat V \\
        \hat B &= \beta\, M B N^\top + \hat G \\
        \hat S &= M S N^\top - h \hat B \quad\text{(Nesterov: } M S N^\top - h(\hat G + \beta \hat B)\text{)} \\
        \hat S &= P \Sigma Q^\top, \quad r_1 = \text{truncated rank}(\Sigma; \vartheta, r_{min}, r_{max}) \\
        U &\leftarrow \hat U P_1, \quad V \leftarrow \hat V Q_1, \quad S \leftarrow \Sigma_1, \quad
            B \leftarrow P_1^\top \hat B Q_1

    (:math:`P_1, Q_1`: the first :math:`r_1` singular vectors; :math:`r_1` is the smallest count whose dropped tail
    has norm :math:`\le \vartheta\|\sigma\|`, never keeping values :math:`\le 10^{-12}\sigma_1`, clamped to the
    layer's ``[r_min, r_max]``, D4). Fixed rank: ``theta=0`` and the layer's ``r_max`` equal to its rank. The cost
    is :math:`O((n+m)r^2 + r^3)` per layer.

    Every other parameter :math:`p` takes torch's heavy-ball step (D2): :math:`b \leftarrow \beta b + g`,
    :math:`p \leftarrow p - h b` (Nesterov: :math:`p \leftarrow p - h(g + \beta b)`), exactly
    ``torch.optim.SGD(lr, momentum, nesterov=nesterov)``.

    Args:
        params: parameters or param groups; a layer's U, S and V must all be in this optimizer, and the layer uses
            the hyperparameters of the group that holds its U.
        lr: :math:`h > 0`.
        momentum: :math:`\beta \in [0, 1)`.
        nesterov: the Nesterov step (an extra, D7).
        theta: truncation tolerance :math:`\vartheta \in [0, 1)` (0: no truncation below ``r_max``).
        foreach: accepted for the registry's switches; the plain parameters always take the single-tensor path.

    State: ``momentum_buffer`` per plain parameter; ``B`` (:math:`r\times r`) per layer, kept under its ``U``.
    """

    hyperparameters = HYPERPARAMETERS

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = False,
        theta: float = 0.0,
        *,
        foreach: bool | None = None,
        **kwargs: Any,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, theta=theta, foreach=foreach)
        super().__init__(params, defaults, kwargs)

    def _layer_step(self, group: dict[str, Any], layer: LowRankLinear) -> None:
        lr, beta, theta = float(group["lr"]), float(group["momentum"]), float(group["theta"])
        state = self._layer_state(layer, ["B"])
        aug = _augment(layer)
        b_hat = aug.transport(state["B"].to(aug.g_hat.dtype)).mul_(beta).add_(aug.g_hat)
        direction = aug.g_hat + beta * b_hat if group["nesterov"] else b_hat
        p1, q1 = _retract(aug, aug.s0 - lr * direction, theta)
        state["B"] = (p1.T @ b_hat @ q1).to(aug.dtype)

    def _plain_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        lr, beta = float(group["lr"]), float(group["momentum"])
        for p in params:
            g = p.grad
            assert g is not None
            if beta != 0:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    buf = state["momentum_buffer"] = torch.clone(g).detach()
                else:
                    buf = state["momentum_buffer"]
                    buf.mul_(beta).add_(g)
                g = g.add(buf, alpha=beta) if group["nesterov"] else buf
            p.add_(g, alpha=-lr)


class LowRankAdam(_LowRankOptimizer):
    r"""Geometric Adam for :class:`LowRankLinear` layers (the authors' transport rule, D3); AdamW for the rest.

    **Untested beyond what the specification's section 5 allows**: the transport of the second moment between bases
    is the rule in the authors' released code, and the paper's method section was not reachable. What is tested:
    the invariants (orthonormal factors, rank bounds), and that the first step from ``U = V = I`` (full rank,
    square) equals ``torch.optim.Adam`` on :math:`W` (Adam is elementwise, so it is not rotation-invariant and the
    equality stops once the retraction rotates the basis).

    **What the transport does** on the specification's toy (a 30 x 20 target of section 5, ``lr=0.05``,
    ``betas=(0.9, 0.99)``, ``theta=0.01``, 150 steps from 200 initialisations): it leaves some entry of
    :math:`|M_1|` over 100 times :math:`\sqrt{M_2}` in 195 of them (Adam's own moments keep that ratio below about
    2.3 at these betas), and in 12 the loss jumps at least twofold in one step (82-fold at worst).

    Per layer, with the augmented basis, :math:`M, N, \hat G` as in :class:`LowRankHeavyBall` and step count
    :math:`t` (D6):

    .. math::
        \hat M_1 &= \beta_1\, M M_1 N^\top + (1-\beta_1)\hat G \\
        \hat M_2 &= \beta_2\, (M \sqrt{M_2} N^\top)^{\odot 2} + (1-\beta_2)\hat G^{\odot 2} \\
        \hat S &= (1 - h\lambda)\, M S N^\top - h\,
            \frac{\hat M_1/(1-\beta_1^t)}{\sqrt{\hat M_2/(1-\beta_2^t)} + \epsilon} \\
        M_1 &\leftarrow P_1^\top \hat M_1 Q_1, \quad M_2 \leftarrow (P_1^\top \sqrt{\hat M_2}\, Q_1)^{\odot 2}
            \quad\text{(D3)}

    followed by the same SVD truncation. Other parameters take AdamW's step (``torch.optim.AdamW`` with the same
    ``lr``, ``betas``, ``eps`` and ``weight_decay``; with ``weight_decay=0`` that is Adam).

    Args:
        params: parameters or param groups (a layer's U, S and V in this optimizer).
        lr: :math:`h > 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        eps: :math:`\epsilon > 0`.
        weight_decay: decoupled decay :math:`\lambda \ge 0` (on :math:`M S N^\top` for a layer).
        theta: truncation tolerance :math:`\vartheta \in [0, 1)`.

    State: ``exp_avg``, ``exp_avg_sq``, ``step`` per plain parameter; ``M1``, ``M2`` (:math:`r\times r`) and
    ``step`` per layer, under its ``U``.
    """

    hyperparameters = ADAM_HYPERPARAMETERS
    tuple_fields = {"betas": BETAS}

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        theta: float = 0.0,
        *,
        foreach: bool | None = None,
        **kwargs: Any,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            theta=theta,
            foreach=foreach,
        )
        super().__init__(params, defaults, kwargs)

    def _next_step(self, state: dict[str, Any]) -> float:
        if "step" not in state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
        state["step"] += 1
        return float(state["step"])

    def _layer_step(self, group: dict[str, Any], layer: LowRankLinear) -> None:
        lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], float(group["eps"])
        state = self._layer_state(layer, ["M1", "M2"])
        t = self._next_step(state)
        aug = _augment(layer)
        work = aug.g_hat.dtype
        m1 = aug.transport(state["M1"].to(work)).mul_(beta1).add_(aug.g_hat, alpha=1 - beta1)
        m2 = aug.transport(state["M2"].to(work).sqrt()).square_().mul_(beta2)
        m2.addcmul_(aug.g_hat, aug.g_hat, value=1 - beta2)
        denom = (m2 / (1 - beta2**t)).sqrt_().add_(eps)
        s0 = aug.s0 * (1 - lr * float(group["weight_decay"]))
        p1, q1 = _retract(aug, s0 - lr * (m1 / (1 - beta1**t)) / denom, float(group["theta"]))
        state["M1"] = (p1.T @ m1 @ q1).to(aug.dtype)
        state["M2"] = (p1.T @ m2.sqrt() @ q1).square_().to(aug.dtype)

    def _plain_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], float(group["eps"])
        decay = float(group["weight_decay"])
        for p in params:
            g = p.grad
            assert g is not None
            state = self.state[p]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            t = self._next_step(state)
            p.mul_(1 - lr * decay)
            state["exp_avg"].lerp_(g, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
            p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1**t))


def adam_from_flat(params: ParamsT, **flat: Any) -> LowRankAdam:
    """Build :class:`LowRankAdam` from flat hyperparameters (``beta1``, ``beta2`` instead of ``betas``)."""
    foreach = flat.pop("foreach", None)
    config = validate_config("LowRankAdam", flat, ADAM_FLAT_HYPERPARAMETERS, fill_defaults=True)
    betas = (config.pop("beta1"), config.pop("beta2"))
    return LowRankAdam(params, betas=betas, foreach=foreach, **config)
