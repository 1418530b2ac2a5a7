"""Zone outlines: marching squares on a node grid, giving closed polygons with holes.

The region is ``z >= level`` (NaN counts as outside). The grid is padded with a ring of "outside" nodes so every
contour closes: where the zone reaches the edge of the map (or a cell without data) the outline runs along that
edge. Segments are oriented with the zone on their left, so after chaining them into rings the exteriors turn
counter-clockwise (positive shoelace area) and the holes clockwise; each hole is given to the smallest exterior
that contains it. Saddle cells are resolved by the mean of their four corners. Coordinates are fractional grid
indices ``(i, j)`` = (column, row), i.e. (x, y), in ``[0, nx-1] x [0, ny-1]``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Polygon", "contour_polygons", "point_in_ring", "ring_area"]

# Cell corners: p0=(j,i) bottom-left, p1=(j,i+1) bottom-right, p2=(j+1,i+1) top-right, p3=(j+1,i) top-left;
# case = p0*1 + p1*2 + p2*4 + p3*8. Edges: e0 bottom (p0-p1), e1 right (p1-p2), e2 top (p3-p2), e3 left (p0-p3).
# Each segment runs from the crossing where the counter-clockwise cell boundary leaves the zone to the one
# where it re-enters it, which keeps the zone on the segment's left.
_SEGMENTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 3),),
    2: ((1, 0),),
    3: ((1, 3),),
    4: ((2, 1),),
    6: ((2, 0),),
    7: ((2, 3),),
    8: ((3, 2),),
    9: ((0, 2),),
    11: ((1, 2),),
    12: ((3, 1),),
    13: ((0, 1),),
    14: ((3, 0),),
}
# saddles: (centre inside -> zone connected across the cell, centre outside -> two separate corners)
_SADDLES: dict[int, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]] = {
    5: (((0, 1), (2, 3)), ((0, 3), (2, 1))),
    10: (((3, 0), (1, 2)), ((1, 0), (3, 2))),
}

Polygon = tuple[np.ndarray, list[np.ndarray]]  # (exterior ring (k, 2), holes)


def ring_area(ring: np.ndarray) -> float:
    """Signed shoelace area (positive when counter-clockwise)."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def point_in_ring(px: np.ndarray | float, py: np.ndarray | float, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting; vectorised over the points."""
    px = np.atleast_1d(np.asarray(px, dtype=np.float64))[:, None]
    py = np.atleast_1d(np.asarray(py, dtype=np.float64))[:, None]
    x0, y0 = ring[:, 0][None, :], ring[:, 1][None, :]
    x1, y1 = np.roll(ring[:, 0], -1)[None, :], np.roll(ring[:, 1], -1)[None, :]
    crosses = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
    inside: np.ndarray = (crosses & (px < xint)).sum(axis=1) % 2 == 1
    return inside


def contour_polygons(z: np.ndarray, level: float) -> list[Polygon]:
    """Closed polygons (with holes) around the region ``z >= level`` of a 2-D node grid ``z[row=y, col=x]``."""
    z = np.asarray(z, dtype=np.float64)
    ny, nx = z.shape
    finite = np.isfinite(z)
    inside = finite & (z >= level)
    if not inside.any():
        return []
    spread = float(np.nanmax(z) - np.nanmin(z)) + abs(level) + 1.0
    low = level - 1e9 * spread  # "far outside": crossings next to it sit on the inside node
    zp = np.full((ny + 2, nx + 2), low)
    zp[1:-1, 1:-1] = np.where(finite, z, low)
    b = zp >= level
    NY: int  # numpy types a shape as tuple[Any, ...]; the node ids below are int arrays
    NX: int
    NY, NX = zp.shape

    # crossing points on every edge whose ends differ
    n_h = NY * (NX - 1)
    coords = np.full((n_h + (NY - 1) * NX, 2), np.nan)
    za, zb = zp[:, :-1], zp[:, 1:]
    jh, ih = np.nonzero(b[:, :-1] != b[:, 1:])
    t = (level - za[jh, ih]) / (zb[jh, ih] - za[jh, ih])
    coords[jh * (NX - 1) + ih] = np.column_stack([ih + t, jh])
    za, zb = zp[:-1, :], zp[1:, :]
    jv, iv = np.nonzero(b[:-1, :] != b[1:, :])
    t = (level - za[jv, iv]) / (zb[jv, iv] - za[jv, iv])
    coords[n_h + jv * NX + iv] = np.column_stack([iv, jv + t])

    case = (
        b[:-1, :-1].astype(np.int8)
        + 2 * b[:-1, 1:].astype(np.int8)
        + 4 * b[1:, 1:].astype(np.int8)
        + 8 * b[1:, :-1].astype(np.int8)
    )
    centre_in = (zp[:-1, :-1] + zp[:-1, 1:] + zp[1:, 1:] + zp[1:, :-1]) / 4.0 >= level

    def edge_ids(edge: int, j: npt.NDArray[np.intp], i: npt.NDArray[np.intp]) -> np.ndarray:
        if edge == 0:
            return j * (NX - 1) + i
        if edge == 2:
            return (j + 1) * (NX - 1) + i
        if edge == 3:
            return n_h + j * NX + i
        return n_h + j * NX + i + 1  # edge 1

    starts, ends = [], []
    for c, segs in _SEGMENTS.items():
        j, i = np.nonzero(case == c)
        for a, e in segs:
            starts.append(edge_ids(a, j, i))
            ends.append(edge_ids(e, j, i))
    for c, (connected, separate) in _SADDLES.items():
        sel = case == c
        for cond, segs in ((sel & centre_in, connected), (sel & ~centre_in, separate)):
            j, i = np.nonzero(cond)
            for a, e in segs:
                starts.append(edge_ids(a, j, i))
                ends.append(edge_ids(e, j, i))
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    m = start.size
    seg_at = np.full(coords.shape[0], -1, dtype=np.int64)
    seg_at[start] = np.arange(m)
    nxt = seg_at[end]
    if (nxt < 0).any():  # pragma: no cover - would mean a bug in the tables above
        raise RuntimeError("marching squares: an open contour (internal error)")

    # chain segments into rings (nxt is a permutation; its cycles are the rings)
    visited = np.zeros(m, dtype=bool)
    nxt_list = nxt.tolist()
    rings: list[np.ndarray] = []
    for s0 in range(m):
        if visited[s0]:
            continue
        cycle = []
        s = s0
        while not visited[s]:
            visited[s] = True
            cycle.append(s)
            s = nxt_list[s]
        pts = coords[start[cycle]] - 1.0  # back from padded to original indices
        pts[:, 0] = np.clip(pts[:, 0], 0.0, nx - 1)
        pts[:, 1] = np.clip(pts[:, 1], 0.0, ny - 1)
        keep = np.any(np.abs(pts - np.roll(pts, 1, axis=0)) > 1e-9, axis=1)
        pts = pts[keep]
        if pts.shape[0] >= 3:
            rings.append(pts)

    exteriors: list[tuple[np.ndarray, float]] = []
    holes: list[np.ndarray] = []
    for r in rings:
        area = ring_area(r)
        if area > 1e-12:
            exteriors.append((r, area))
        elif area < -1e-12:
            holes.append(r)
    exteriors.sort(key=lambda ra: ra[1])  # smallest first: a hole belongs to the smallest exterior around it
    out: list[Polygon] = [(r, []) for r, _ in exteriors]
    for h in holes:
        # a point just inside the hole: the midpoint of its first edge, nudged towards its interior (its right,
        # since holes run clockwise)
        p, q = h[0], h[1]
        d = q - p
        probe = (p + q) / 2.0 + 1e-6 * np.array([d[1], -d[0]]) / max(float(np.hypot(*d)), 1e-12)
        for k, (r, _) in enumerate(exteriors):
            if point_in_ring(probe[0], probe[1], r)[0]:
                out[k][1].append(h)
                break
    return out
