"""Lion: how Zone Explorer explores it."""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile, Snippet

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="lion",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
                "beta1": {"type": "float", "low": 0.8, "high": 0.99},
                "beta2": {"type": "float", "low": 0.9, "high": 0.999},
            },
        },
        natural_axes=("lr", "beta1"),
        snippet=Snippet(betas=True),
    ),
)
