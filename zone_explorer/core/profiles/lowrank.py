"""Geometric low-rank heavy-ball: how Zone Explorer explores it.

Its default space is ``sgd``'s, so that ``lowrank-hb`` and ``sgd`` on ``digits-lowrank-mlp`` (the naive
factor-momentum baseline: heavy-ball on U, S and V as plain tensors) are two zones over the same axes. ``theta``
stays at 0 (the task's rank is the parameter budget); a space may add it to explore rank truncation.
"""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile
from zone_explorer.core.profiles.baselines import SGD_SPACE

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="lowrank-hb",
        default_space=SGD_SPACE,
        natural_axes=("lr", "momentum"),
    ),
)
