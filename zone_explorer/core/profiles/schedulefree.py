"""Schedule-Free SGD and AdamW: how Zone Explorer explores them.

The natural zone axes are the learning rate and the interpolation beta (``momentum`` / ``beta1``): together
they set how far the gradient point y sits from the average x. The filter page draws the y-step filter at several
steps, because the averaging coefficient c, and with it the pole 1 - c, changes as training goes on.
"""

from __future__ import annotations

from optimizers.filters import SCHEDULEFREE_STEPS, schedulefree_step_filters
from zone_explorer.core.profiles.base import Profile, Snippet, StagedFilter

__all__ = ["PROFILES"]

#: the y-step filter at the steps of SCHEDULEFREE_STEPS; its DC gain is 1 at every step
_STEP_FILTERS = StagedFilter(
    count=lambda cfg: len(SCHEDULEFREE_STEPS),
    stages=schedulefree_step_filters,
    terminal_dc_gain=lambda cfg: 1.0,
)

PROFILES = (
    Profile(
        name="sgd-schedulefree",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
                "momentum": {"type": "float", "low": 0.5, "high": 0.99},
            },
        },
        natural_axes=("lr", "momentum"),
        staged_filter=_STEP_FILTERS,
    ),
    Profile(
        name="adamw-schedulefree",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "beta1": {"type": "float", "low": 0.5, "high": 0.99},
            },
        },
        natural_axes=("lr", "beta1"),
        snippet=Snippet(betas=True),
        staged_filter=_STEP_FILTERS,
    ),
)
