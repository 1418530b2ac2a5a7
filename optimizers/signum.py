"""Signum: the sign of an EMA momentum, GSGD's sign map exposed as an optimizer of its own.

``Signum(params, lr, momentum, weight_decay)`` is exactly ``GSGD(..., Dphi_map="sign", scaling=None,
nesterov=0)``: one implementation, two names. It exists so that a search space (and a zone) has the three axes
signed momentum is tuned over, not GSGD's map and Nesterov axes; "In Search of Adam's Secret Sauce" (Orvieto &
Gower, arXiv:2505.21829) compares it with Adam and with Adam at beta1 = beta2.
"""

from __future__ import annotations

from typing import Any

from torch.optim.optimizer import ParamsT

from .gsgd import GSGD
from .gsgd import HYPERPARAMETERS as _GSGD_HYPERPARAMETERS
from .hyperparams import Hyperparameter, reject_unknown_keywords

__all__ = ["HYPERPARAMETERS", "Signum"]

_GSGD_HP = {hp.name: hp for hp in _GSGD_HYPERPARAMETERS}

#: Signum's domains: GSGD's lr, momentum, weight decay and maximize; the map is fixed to sign
HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    # every coordinate moves by lr each step, so lr is a per-coordinate step length: small, like Lion's
    Hyperparameter(
        "lr", "float", 1e-3, "learning rate: every coordinate moves by lr per step", low=0.0, low_open=True, log=True
    ),
    Hyperparameter(
        "momentum",
        "float",
        0.9,
        "EMA pole beta of the momentum inside the sign (at a constant lr); 0 gives signSGD",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    _GSGD_HP["weight_decay"],
    _GSGD_HP["maximize"],
)

#: GSGD's group keys that Signum fixes (a param group may not set them)
_FIXED = ("Dphi_map", "scaling", "nesterov")


class Signum(GSGD):
    r"""Signum: sign of the EMA momentum (GSGD with :math:`\Phi = \operatorname{sign}`).

    For each parameter :math:`p` with gradient :math:`g`, learning rate :math:`\eta`, momentum :math:`\beta` and
    weight decay :math:`\lambda`:

    .. math::
        d_t &= g_t + \lambda\,p_{t-1} \\
        m_1 &= d_1, \qquad m_t = \beta_\text{eff}\,m_{t-1} + (1-\beta_\text{eff})\,d_t \\
        p_t &= p_{t-1} - \eta\,\operatorname{sign}(m_t)

    with :math:`\beta_\text{eff} = \max(\beta, 1 - \eta/\eta_0\,(1-\beta))` and :math:`\eta_0` the group's lr
    when it was created: at a constant lr :math:`\beta_\text{eff} = \beta`, and this is the Signum of Bernstein
    et al. (2018) except for the first buffer: theirs starts from :math:`m_0 = 0`, so :math:`m_1 = (1-\beta)d_1`.
    The first step is the same; later ones weigh :math:`d_1` by :math:`1/(1-\beta)` more, a term that decays as
    :math:`\beta^t`. When a scheduler lowers lr the momentum step shrinks with it (GSGD's single-timescale
    coupling). ``momentum=0`` is signSGD.

    Args:
        params: parameters or param groups.
        lr: :math:`\eta > 0`, the distance every coordinate moves per step.
        momentum: :math:`\beta \in [0, 1)`.
        weight_decay: coupled L2 weight decay :math:`\lambda \ge 0` (inside the sign).
        maximize: ascend instead of descend.
        foreach: as :class:`~optimizers.gsgd.GSGD` (the fused kernel never applies: the map is sign).

    State per parameter: ``momentum_buffer`` (:math:`m_t`). Param groups hold GSGD's keys, with
    ``Dphi_map="sign"``, so a state dict loads into either class.
    """

    hyperparameters = HYPERPARAMETERS

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            # before GSGD sees them: the hint must name Signum's keywords, not GSGD's
            reject_unknown_keywords(type(self).__name__, kwargs, self._keyword_names())
        # values are checked against Signum's domains (lr > 0: scaling = 1/lr) by the base class, as "Signum"
        super().__init__(params, lr, momentum, None, "sign", weight_decay, 0, maximize=maximize, foreach=foreach)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        for name in _FIXED:
            if name in param_group:
                raise ValueError(
                    f"Signum param group: {name} is fixed by Signum (Dphi_map='sign', scaling=None, nesterov=0); "
                    "use optimizers.GSGD to set it"
                )
        super().add_param_group(param_group)
