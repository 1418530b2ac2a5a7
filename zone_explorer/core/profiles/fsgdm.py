"""FSGDM: its zone constant K, the README's reference zone, and how Zone Explorer explores it."""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile, RunLength
from zone_explorer.core.zone_constant import REFERENCE_ZONE, zone_constant

__all__ = ["PROFILES", "REFERENCE_ZONE", "zone_constant"]


def _run_length(steps_per_epoch: int, epochs: int) -> dict[str, int]:
    # sigma is the run's total number of steps; one stage per epoch, but never more stages than steps
    sigma = steps_per_epoch * epochs
    return {"sigma": sigma, "n_stages": min(epochs, sigma)}


PROFILES = (
    Profile(
        name="fsgdm",
        default_space={
            "params": {
                "c_scaling": {"type": "float", "low": 0.005, "high": 2.0, "log": True},
                "v_coefficient": {"type": "float", "low": 0.05, "high": 50.0, "log": True},
                "lr": {"type": "fixed", "value": 0.01},
                "weight_decay": {"type": "fixed", "value": 5e-4},
            },
        },
        natural_axes=("c_scaling", "v_coefficient"),
        run_length=RunLength(("sigma", "n_stages"), _run_length),
        reference=REFERENCE_ZONE,
    ),
)
