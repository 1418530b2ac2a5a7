"""Tukey's far fences: where a metric value stops being part of the landscape and becomes an outlier.

One diverged-but-finite run (a validation log-loss of 6.5e6 among values near 0.1-2) would otherwise set the map's
colour scale alone, and the map would be one colour. The map's colour scale (:func:`~zone_explorer.analysis._map.colour_scale`) and the page's
note about such runs follow this rule.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FENCE_IQRS", "tukey_fences"]

#: a value more than this many interquartile ranges beyond the quartiles is an outlier (Tukey's "far out")
FENCE_IQRS = 3.0


def tukey_fences(values: np.ndarray) -> tuple[float, float]:
    """``(Q1 - 3 IQR, Q3 + 3 IQR)`` over the finite values; ``(-inf, inf)`` when the IQR is 0 (e.g. most runs at
    chance: the fences would shut out every other value) or there are no finite values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -np.inf, np.inf
    q1, q3 = np.percentile(v, [25.0, 75.0])
    iqr = float(q3 - q1)
    if not iqr > 0 or not np.isfinite(iqr):
        return -np.inf, np.inf
    return float(q1 - FENCE_IQRS * iqr), float(q3 + FENCE_IQRS * iqr)
