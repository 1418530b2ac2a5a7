"""FSGDM's zone constant K and the reference zone its README states, defined once and free of torch.

The analysis imports this module directly (it is pure numpy); :mod:`zone_explorer.core.profiles.fsgdm` re-exports it
as part of FSGDM's profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

__all__ = ["REFERENCE_ZONE", "ReferenceZone", "zone_constant"]


@dataclass(frozen=True)
class ReferenceZone:
    """A published zone constant, with the learning rate it was stated at (K scales with it) and where."""

    k: float
    lr: float
    source: str


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
