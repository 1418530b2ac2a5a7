"""Name -> optimizer: class, description and hyperparameter domains, for the engine, the API and the pages.

Each entry exposes a *flat* configuration (``{"lr": 0.1, "c_scaling": 0.05, ...}``) that search spaces, stored
trials and contributions all use. Its domains are the very :class:`~optimizers.hyperparams.Hyperparameter`
objects the constructors validate with, so the registry cannot accept what a constructor would reject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.optimizer import ParamsT

from . import autosgm, fsgdm, gsgd, lion, lowrank, schedulefree, signum
from .hyperparams import Hyperparameter, closest_name, validate_config

__all__ = ["OptimizerSpec", "get_optimizer", "optimizer_names", "REGISTRY"]


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer as the engine sees it."""

    name: str
    cls: type[torch.optim.Optimizer]
    description: str
    hyperparameters: tuple[Hyperparameter, ...]
    build: Callable[..., torch.optim.Optimizer]
    check: Callable[[dict[str, Any]], None] = lambda cfg: None
    family: str = "momentum"
    reference: str = ""
    _by_name: dict[str, Hyperparameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {hp.name: hp for hp in self.hyperparameters})

    def hyperparameter(self, name: str) -> Hyperparameter:
        try:
            return self._by_name[name]
        except KeyError:
            hint = closest_name(name, self._by_name)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise ValueError(
                f"{self.name} has no hyperparameter {name!r}{suggestion} (valid: {', '.join(self._by_name)})"
            ) from None

    def validate(self, config: Mapping[str, Any], *, fill_defaults: bool = True) -> dict[str, Any]:
        """A complete, canonical flat config; raises ``TypeError``/``ValueError`` naming the field and rule."""
        cfg = validate_config(self.name, config, self.hyperparameters, fill_defaults=fill_defaults)
        if fill_defaults:
            self.check(cfg)
        return cfg

    def create(
        self, params: ParamsT, config: Mapping[str, Any] | None = None, **switches: Any
    ) -> torch.optim.Optimizer:
        """Build the optimizer for ``params`` from a flat config (missing values take their defaults).

        ``switches`` are implementation choices that do not change the result, such as ``foreach``.
        """
        return self.build(params, **self.validate(config or {}), **switches)

    def defaults(self) -> dict[str, Any]:
        return {hp.name: hp.default for hp in self.hyperparameters}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
            "description": self.description,
            "family": self.family,
            "reference": self.reference,
            "hyperparameters": [hp.to_dict() for hp in self.hyperparameters],
        }


# ---- torch baselines ---------------------------------------------------------------------------------------
_LR: dict[str, Any] = dict(low=0.0, low_open=True, log=True)
_SGD_HPS = (
    Hyperparameter("lr", "float", 0.1, "learning rate", **_LR),
    Hyperparameter(
        "momentum", "float", 0.9, "momentum coefficient mu (pole of the filter)", low=0.0, high=1.0, high_open=True
    ),
    Hyperparameter("dampening", "float", 0.0, "dampening: input gain 1 - dampening", low=0.0, high=1.0),
    Hyperparameter("weight_decay", "float", 0.0, "coupled L2 weight decay", low=0.0),
    Hyperparameter("nesterov", "bool", False, "Nesterov momentum"),
)


def _check_sgd(cfg: dict[str, Any]) -> None:
    if cfg["nesterov"] and (cfg["momentum"] <= 0 or cfg["dampening"] != 0):
        raise ValueError("sgd nesterov=True requires momentum > 0 and dampening = 0")


def _adam_hps(weight_decay: float) -> tuple[Hyperparameter, ...]:
    return (
        Hyperparameter("lr", "float", 1e-3, "learning rate", **_LR),
        Hyperparameter("beta1", "float", 0.9, "first-moment EMA pole", low=0.0, high=1.0, high_open=True),
        Hyperparameter("beta2", "float", 0.999, "second-moment EMA pole", low=0.0, high=1.0, high_open=True),
        Hyperparameter("eps", "float", 1e-8, "denominator epsilon", low=0.0, low_open=True, log=True),
        Hyperparameter("weight_decay", "float", weight_decay, "weight decay", low=0.0),
    )


#: "In Search of Adam's Secret Sauce": the paper whose comparison signum, adam-tied and adam reproduce as zones
SECRET_SAUCE = "Orvieto & Gower, In Search of Adam's Secret Sauce, arXiv:2505.21829"

_ADAM_TIED_HPS = (
    Hyperparameter("lr", "float", 1e-3, "learning rate", **_LR),
    Hyperparameter(
        "beta",
        "float",
        0.95,
        "one pole for both moment EMAs: betas = (beta, beta)",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Hyperparameter("eps", "float", 1e-8, "denominator epsilon", low=0.0, low_open=True, log=True),
    Hyperparameter("weight_decay", "float", 0.0, "coupled L2 weight decay", low=0.0),
)


def _build_adam_tied(
    params: ParamsT, *, lr: float, beta: float, eps: float, weight_decay: float, **switches: Any
) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(beta, beta), eps=eps, weight_decay=weight_decay, **switches)


def _build_adam(cls: type[torch.optim.Adam]) -> Callable[..., torch.optim.Optimizer]:
    def build(
        params: ParamsT, *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, **switches: Any
    ) -> torch.optim.Adam:
        return cls(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, **switches)

    return build


REGISTRY: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec(
            "fsgdm",
            fsgdm.FSGDM,
            "Frequency-domain SGD with momentum: a staged momentum filter whose pole rises to 1/(1+c).",
            fsgdm.HYPERPARAMETERS,
            fsgdm.FSGDM,
            fsgdm.check_config,
            reference="Li et al., ICLR 2025, arXiv:2411.19671",
        ),
        OptimizerSpec(
            "autosgm",
            autosgm.AutoSGM,
            "AutoSGM: SGD as a lowpass filter (pole, zero, gain) with an automatic learning-rate numerator.",
            autosgm.FLAT_HYPERPARAMETERS,
            autosgm.from_flat,
            autosgm.check_flat,
            reference="Somefun et al., ICASSP 2024",
        ),
        OptimizerSpec(
            "gsgd",
            gsgd.GSGD,
            "Generalized SGD: EMA momentum with a single-timescale coupling to the LR and a map Phi.",
            gsgd.FLAT_HYPERPARAMETERS,
            gsgd.from_flat,
            reference="Xiao, Hu, Toh, arXiv:2307.10053",
        ),
        OptimizerSpec(
            "lion",
            lion.Lion,
            "Lion (single-timescale form): sign of an interpolated momentum; Google's Lion at default scaling.",
            lion.FLAT_HYPERPARAMETERS,
            lion.from_flat,
            family="sign",
            reference="Xiao, Hu, Toh, arXiv:2307.10053; Chen et al. 2023",
        ),
        OptimizerSpec(
            "lowrank-hb",
            lowrank.LowRankHeavyBall,
            "Geometric heavy-ball for low-rank layers W = U S V^T: momentum transported between bases, SVD "
            "retraction; heavy-ball (torch SGD) on every other parameter.",
            lowrank.HYPERPARAMETERS,
            lowrank.LowRankHeavyBall,
            reference="Schotthöfer, Klein, Kusch, NeurIPS 2025, arXiv:2506.17475",
        ),
        OptimizerSpec(
            "lowrank-adam",
            lowrank.LowRankAdam,
            "Geometric Adam for low-rank layers W = U S V^T: both moments transported between bases (the authors' "
            "rule), SVD retraction; AdamW on every other parameter.",
            lowrank.ADAM_FLAT_HYPERPARAMETERS,
            lowrank.adam_from_flat,
            reference="Schotthöfer, Klein, Kusch, NeurIPS 2025, arXiv:2506.17475",
        ),
        OptimizerSpec(
            "sgd-schedulefree",
            schedulefree.SGDScheduleFree,
            "Schedule-Free SGD: gradients at an interpolation y of the SGD iterate z and its running average x, "
            "evaluated at x; no LR schedule needed (or any, with weighting='scheduled').",
            schedulefree.SGD_HYPERPARAMETERS,
            schedulefree.SGDScheduleFree,
            family="schedule-free",
            reference="Defazio et al., NeurIPS 2024, arXiv:2405.15682; Pun, Buchholz, Gower, arXiv:2511.07767",
        ),
        OptimizerSpec(
            "adamw-schedulefree",
            schedulefree.AdamWScheduleFree,
            "Schedule-Free AdamW: the schedule-free interpolation and average around an Adam-normalised step.",
            schedulefree.ADAMW_FLAT_HYPERPARAMETERS,
            schedulefree.adamw_from_flat,
            family="schedule-free",
            reference="Defazio et al., NeurIPS 2024, arXiv:2405.15682; Pun, Buchholz, Gower, arXiv:2511.07767",
        ),
        OptimizerSpec(
            "sgd",
            torch.optim.SGD,
            "torch.optim.SGD with heavy-ball or Nesterov momentum (baseline).",
            _SGD_HPS,
            torch.optim.SGD,
            _check_sgd,
            family="baseline",
        ),
        OptimizerSpec(
            "adam",
            torch.optim.Adam,
            "torch.optim.Adam (baseline); beta1 = beta2 ties are set in the search space.",
            _adam_hps(0.0),
            _build_adam(torch.optim.Adam),
            family="baseline",
        ),
        OptimizerSpec(
            "adamw",
            torch.optim.AdamW,
            "torch.optim.AdamW with decoupled weight decay (baseline).",
            _adam_hps(1e-2),
            _build_adam(torch.optim.AdamW),
            family="baseline",
        ),
        OptimizerSpec(
            "signum",
            signum.Signum,
            "Signum: the sign of an EMA momentum (GSGD's sign map by name); signSGD at momentum 0.",
            signum.HYPERPARAMETERS,
            signum.Signum,
            family="sign",
            reference=f"Bernstein et al., ICML 2018 (signSGD); {SECRET_SAUCE}",
        ),
        OptimizerSpec(
            "adam-tied",
            torch.optim.Adam,
            "torch.optim.Adam with beta1 = beta2 = beta: one momentum axis, near-optimal Adam in Orvieto & Gower.",
            _ADAM_TIED_HPS,
            _build_adam_tied,
            family="baseline",
            reference=SECRET_SAUCE,
        ),
    )
}


def optimizer_names() -> list[str]:
    return list(REGISTRY)


def get_optimizer(name: str) -> OptimizerSpec:
    """The registry entry for ``name``; unknown names raise ``ValueError`` with the closest valid name."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        hint = closest_name(str(name), REGISTRY)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        raise ValueError(f"optimizer: unknown optimizer {name!r}{suggestion} (known: {', '.join(REGISTRY)})") from None
