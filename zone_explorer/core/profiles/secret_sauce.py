"""Signum and Adam with beta1 = beta2: how Zone Explorer explores them.

With Adam these are the three methods "In Search of Adam's Secret Sauce" (Orvieto & Gower, arXiv:2505.21829)
compares: signed momentum, Adam with one tied beta, and Adam. The spaces match in lr range so that the three
zones sit side by side on the compare page.
"""

from __future__ import annotations

from zone_explorer.core.profiles.base import Profile, Snippet

__all__ = ["PROFILES"]

PROFILES = (
    Profile(
        name="signum",
        default_space={
            "params": {
                # a sign step moves every coordinate by lr: the useful range sits low, as Lion's
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "momentum": {"type": "float", "low": 0.5, "high": 0.999},
            },
        },
        natural_axes=("lr", "momentum"),
    ),
    Profile(
        name="adam-tied",
        default_space={
            "params": {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "beta": {"type": "float", "low": 0.8, "high": 0.999},
            },
        },
        natural_axes=("lr", "beta"),
        snippet=Snippet(betas=True, betas_from=("beta", "beta")),
    ),
)
