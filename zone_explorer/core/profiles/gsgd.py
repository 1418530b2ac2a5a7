"""GSGD: how Zone Explorer explores it."""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="gsgd",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
                "momentum": {"type": "float", "low": 0.5, "high": 0.99},
                "nesterov": {"type": "float", "low": 0.0, "high": 2.0},
            },
        },
        natural_axes=("lr", "momentum"),
    ),
)
