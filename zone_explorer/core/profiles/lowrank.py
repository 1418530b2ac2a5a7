"""Geometric low-rank heavy-ball: how Zone Explorer explores it.

Its default space is ``sgd``'s, so that ``lowrank-hb`` and ``sgd`` on ``digits-lowrank-mlp`` (the naive
factor-momentum baseline: heavy-ball on U, S and V as plain tensors) are two zones over the same axes. ``theta``
stays at 0 (the task's rank is the parameter budget); a space may add it to explore rank truncation.
"""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="lowrank-hb",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
                "momentum": {"type": "float", "low": 0.0, "high": 0.99},
                "nesterov": {"type": "categorical", "choices": [False, True]},
            },
        },
        natural_axes=("lr", "momentum"),
    ),
)
