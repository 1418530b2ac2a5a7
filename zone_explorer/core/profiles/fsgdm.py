"""FSGDM: its zone constant K, the README's reference zone, and how Zone Explorer explores it."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from zone_explorer.core.profiles.base import Profile, ReferenceZone, RunLength

__all__ = ["PROFILES", "REFERENCE_ZONE", "zone_constant"]

_Number = TypeVar("_Number", float, np.ndarray)


def zone_constant(c: _Number, v: _Number) -> _Number:
    """FSGDM's zone constant K = v (1 + 1/c), for ``c_scaling`` c and ``v_coefficient`` v.

    K is the terminal low-frequency (DC) gain of FSGDM's momentum filter: the pole ends at u = 1/(1+c), so the
    gain v / (1 - u) ends at v (1 + 1/c). Floats or numpy arrays (elementwise; NaN where c or v is missing).
    This is the one definition of K: reparametrisations, the analysis and the pages all call it.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return v * (1.0 + 1.0 / c)


#: The FSGDM README's rule for CNNs, ``30.992/v ≈ 1 + 1/c``, stated for training at lr 0.1.
REFERENCE_ZONE = ReferenceZone(
    k=30.992, lr=0.1, source="FSGDM README (Li et al., ICLR 2025, arXiv:2411.19671): 30.992/v ≈ 1 + 1/c for CNNs"
)


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
