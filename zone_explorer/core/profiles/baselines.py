"""torch's SGD, Adam and AdamW, the baselines: how Zone Explorer explores them."""

from __future__ import annotations

from optimizers.hyperparams import Hyperparameter
from zone_explorer.core.profiles.base import Profile, Reparametrization, Snippet

__all__ = ["PROFILES", "SGD_SPACE"]

#: one pole for both of Adam's moments (Orvieto & Gower, 2025): a 2-D search instead of 3-D
TIED_BETAS = Reparametrization(
    "tied-betas",
    {"beta": Hyperparameter("beta", "float", 0.95, "tied Adam pole beta1 = beta2", low=0.0, high=1.0, high_open=True)},
    ("beta1", "beta2"),
    lambda vals: {"beta1": vals["beta"], "beta2": vals["beta"]},
    "search one beta with beta1 = beta2 = beta",
)

#: heavy-ball's default space (also geometric low-rank heavy-ball's: two zones over the same axes)
SGD_SPACE = {
    "params": {
        "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99},
        "nesterov": {"type": "categorical", "choices": [False, True]},
    },
}

PROFILES = (
    Profile(
        name="sgd",
        default_space=SGD_SPACE,
        natural_axes=("lr", "momentum"),
    ),
    Profile(
        name="adam",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "beta": {"type": "float", "low": 0.8, "high": 0.999},
            },
            # one pole for both moments (Orvieto & Gower, 2025): a 2-D search instead of 3-D
            "reparametrization": "tied-betas",
        },
        natural_axes=("lr", "beta1"),
        snippet=Snippet(betas=True),
        reparametrizations=(TIED_BETAS,),
    ),
    Profile(
        name="adamw",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "beta1": {"type": "float", "low": 0.8, "high": 0.99},
                "beta2": {"type": "float", "low": 0.9, "high": 0.9999},
                "weight_decay": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            },
        },
        natural_axes=("lr", "beta1"),
        snippet=Snippet(betas=True),
        reparametrizations=(TIED_BETAS,),
    ),
)
