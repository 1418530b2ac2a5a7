r"""AutoSGM step-size windows (``rc_cfg``) as pure functions of the iteration ``t``.

The window :math:`\rho_t` multiplies AutoSGM's step (``p <- p - rho_t * alpha_t * v_t``). It is configured by
``rc_cfg = (rcm, inseq, x, n, m, tau, spe, cfact, e)``:

* ``rcm``: the shape (0: none, rho = 1; 1: raised cosine; 2: polynomial; 3: beta-exponential; 4: simple
  polynomial; 5: logistic, inflection 0.5; 6: logistic, inflection 0.875, not normalised),
* ``inseq``: 0 evaluates the shape on the uniform grid ``f = tc/L`` (``WINF``); 1 pops golden-ratio samples of
  the shape in sorted order (``WINF_II``),
* ``x``: the floor, the output is ``x + (1-x) y``; ``n``: the shape parameter; ``m``: 0 for a full window
  (warm-up, flat top, anneal), 1 for anneal only; ``e``: the flat-top fraction,
* ``tau``, ``spe``, ``cfact``: the window length ``L`` and number of sub-shapes ``M``:

  ======== ============ === =====================================================
  cfact    L            M   index
  ======== ============ === =====================================================
  1        tau * spe    1   iteration t
  2        spe          1   iteration t (restarts every spe iterations)
  0        tau          1   epoch k = ceil(t / spe) (needs tau > 1)
  > 2      tau * spe    M   iteration t, M repeated shapes in one window
  ======== ============ === =====================================================

The schedule is periodic with period ``L`` (the index ``i`` sits at position ``(i - 1) mod L`` of its frame),
which is what the reference's frame counter does in every case where it is well defined. Because the value is
a function of ``(t, configuration)`` only, nothing about the window needs to be kept in an optimizer's state.
"""

from __future__ import annotations

import math
from functools import lru_cache

__all__ = [
    "GOLDEN",
    "epoch_index",
    "shape",
    "window_geometry",
    "window_value",
    "winf_ii_sequence",
    "winf_value",
]

#: (sqrt(5) - 1) / 2: the golden-ratio increment of WINF_II's quasi-random sample points
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def epoch_index(t: int, spe: int) -> int:
    """The epoch ``k = ceil(t / spe)`` of the ``t``-th iteration (1-based): it advances every ``spe`` iterations."""
    return (int(t) - 1) // int(spe) + 1


def window_geometry(tau: int, spe: int, cfact: int) -> tuple[int, int]:
    """The window length ``L`` and the number ``M`` of sub-shapes in one window."""
    if cfact == 0:
        return int(tau), 1
    if cfact == 2:
        return int(spe), 1
    return int(tau) * int(spe), (int(cfact) if cfact > 2 else 1)


def shape(f: float, rcm: int, n: float, M: int = 1) -> float:
    """The raw shape ``y(f)`` for ``f`` in [0, 1]: 1 at the start of the anneal, (about) 0 at its end.

    With ``i = max(1, ceil(M f))`` and ``phi = M f - i + 1`` (the position inside the i-th of M sub-shapes):

    * 1 (raised cosine):     y = (M - i + cos(pi phi / 2)^n) / M
    * 2 (polynomial):        y = (1 - f)^n  (M is ignored)
    * 3 (beta-exponential):  y = (M - i + (n^phi - n) / (1 - n)) / M,  0 < n < 1
    * 4 (simple polynomial): y = (M - i + (1 - phi^n)^2) / M
    * 5 (logistic):          S(f) = (1/M) sum_j 1 / (1 + 2^(2 M n (f - (j + 1/2)/M))),  y = (S(f) - S(1)) / (S(0) - S(1))
    * 6 (logistic at 0.875): y = (M - i + (s(phi) - s_min) / (s_max - s_min)) / M, s(u) = 1 / (1 + 2^(2 n (u - 0.875))),
      s_max = 1 / (1 + 2^-n), s_min = 1 / (1 + 2^n)  (not normalised: y(0) > 1 and y(1) > 0)
    """
    # float ** float is typed Any (a negative base gives a complex); every base here is >= 0, so y is a float.
    y: float
    if rcm == 2:
        y = (1.0 - f) ** n
        return y
    if rcm == 5:
        a = 2.0 * M * n

        def s(u: float) -> float:
            total: float = sum(1.0 / (1.0 + 2.0 ** (a * (u - (j + 0.5) / M))) for j in range(M))
            return total / M

        s1 = s(1.0)
        return (s(f) - s1) / (s(0.0) - s1)
    i = max(1, math.ceil(M * f))
    phi = M * f - i + 1
    if rcm == 1:
        y = math.cos(math.pi * phi / 2.0) ** n
    elif rcm == 3:
        y = (n**phi - n) / (1.0 - n)
    elif rcm == 4:
        y = (1.0 - phi**n) ** 2
    elif rcm == 6:
        s_max = 1.0 / (1.0 + 2.0 ** (-n))
        s_min = 1.0 / (1.0 + 2.0**n)
        y = (1.0 / (1.0 + 2.0 ** (2.0 * n * (phi - 0.875))) - s_min) / (s_max - s_min)
    else:
        raise ValueError(f"rcm must be an integer in [1, 6] for a window shape, got {rcm!r}")
    return (M - i + y) / M


def winf_value(index: int, *, rcm: int, x: float, n: float, m: int, e: float, L: int, M: int) -> float:
    """``WINF`` (``inseq = 0``): the shape on the uniform grid of a frame of length ``L``.

    ``f = ((index - 1) mod L) / L``; a full window (``m = 0``) folds it, ``f <- |2 f - 1|``; ``f < e`` (the flat
    top) gives 1; otherwise ``f <- (f - e) / (1 - e)`` and the value is ``x + (1 - x) y(f)``.
    """
    f = ((int(index) - 1) % L) / L
    if m == 0:
        f = 2.0 * f - 1.0
    f = abs(f)
    if f < e or e == 1:
        return 1.0
    f = (f - e) / (1.0 - e)
    return x + (1.0 - x) * shape(f, rcm, n, M)


@lru_cache(maxsize=32)
def winf_ii_sequence(*, rcm: int, x: float, n: float, m: int, e: float, L: int, M: int) -> tuple[float, ...]:
    """``WINF_II`` (``inseq = 1``): the ``L`` values of one frame, in the order they are used.

    The shape is sampled at ``f_j = frac(j * GOLDEN)`` for ``j < P`` (``P = H - floor(e H)`` points, with
    ``H = L`` for an anneal-only window and ``H = ceil(L/2)`` for a full one; ``rcm = 2`` always takes ``P = L``,
    as the reference does). The samples are sorted ascending and ``floor(e H)`` flat-top ones appended; a full
    window then appends a descending copy of that list. Values are taken from the end, so an anneal-only
    window runs flat top -> anneal and a full window warm-up -> flat top -> anneal. For an odd ``L`` a full
    window's warm-up leaves out the duplicate of its peak, so the frame still has ``L`` values.
    """
    half = L if m != 0 else (L + 1) // 2
    flat = int(e * half)
    points = L if rcm == 2 else half - flat
    ys = sorted(x + (1.0 - x) * shape((j * GOLDEN) % 1.0, rcm, n, M) for j in range(points))
    first = ys + [1.0] * flat
    seq = first
    if m == 0:
        mirror = sorted(first, reverse=True)  # stable: equal values keep their order, as in the reference
        if L % 2 and rcm != 2:
            mirror = mirror[1:]
        seq = first + mirror
    return tuple(reversed(seq))[:L]


def window_value(
    t: int, *, rcm: int, inseq: int, x: float, n: float, m: int, tau: int, spe: int, cfact: int, e: float
) -> float:
    """The window ``rho_t`` of the ``t``-th iteration (1-based) for ``rc_cfg = (rcm, inseq, x, n, m, tau, spe, cfact, e)``."""
    if rcm == 0:
        return 1.0
    L, M = window_geometry(tau, spe, cfact)
    index = epoch_index(t, spe) if cfact == 0 else int(t)
    if inseq == 1:
        seq = winf_ii_sequence(rcm=rcm, x=float(x), n=float(n), m=int(m), e=float(e), L=L, M=M)
        return seq[(index - 1) % L]
    return winf_value(index, rcm=rcm, x=x, n=n, m=m, e=e, L=L, M=M)
