"""AutoSGM: how Zone Explorer explores it."""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile, RunLength, Snippet

__all__ = ["PROFILES"]


def _run_length(steps_per_epoch: int, epochs: int) -> dict[str, int]:
    # the learning-rate window spans the run: tau epochs of spe steps each
    return {"tau": epochs, "spe": steps_per_epoch}


PROFILES = (
    Profile(
        name="autosgm",
        default_space={
            "params": {
                "lr_init": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "num_lrc": {"type": "categorical", "choices": [0, 1, 3]},
                "beta_i": {"type": "float", "low": 0.5, "high": 0.99},
                "gamma_i": {"type": "float", "low": 0.0, "high": 0.9},
                "rcm": {"type": "categorical", "choices": [0, 1, 2]},
            },
        },
        natural_axes=("lr_init", "beta_i"),
        run_length=RunLength(("tau", "spe"), _run_length),
        # AutoSGM's constructor takes nested settings; ``from_flat`` takes the flat registry names
        snippet=Snippet(factory="from_flat"),
    ),
)
