"""Geometric low-rank heavy-ball and Adam: how Zone Explorer explores them.

``lowrank-hb``'s default space is ``sgd``'s, so that ``lowrank-hb`` and ``sgd`` on ``digits-lowrank-mlp`` (the naive
factor-momentum baseline: heavy-ball on U, S and V as plain tensors) are two zones over the same axes;
``lowrank-adam``'s is (lr, beta1), beside ``adamw`` there (Adam on the factors as plain tensors). ``theta`` stays at 0
(the task's rank is the parameter budget); a space may add it to explore rank truncation.
"""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile, Snippet
from zone_explorer.core.profiles.baselines import SGD_SPACE

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="lowrank-hb",
        default_space=SGD_SPACE,
        natural_axes=("lr", "momentum"),
    ),
    Profile(
        name="lowrank-adam",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "beta1": {"type": "float", "low": 0.8, "high": 0.99},
            },
        },
        natural_axes=("lr", "beta1"),
        snippet=Snippet(betas=True),
    ),
)
