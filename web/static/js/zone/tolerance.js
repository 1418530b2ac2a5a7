// The zone's tolerance: top q% of results, or within delta of the best. Slider positions <-> API parameters,
// and a quick client-side preview level on the smoothed surface while the server computes the exact zone.

import { num, pct } from "../lib/format.js";

export const Q_RANGE = { min: 1, max: 50, step: 1 };
export const DELTA_STEPS = 100;

/** The finite values of the surface with their support (effective number of trials at each node). */
function nodes(zoneMap) {
  const out = [];
  zoneMap.surface.forEach((row, j) => row.forEach((z, i) => {
    if (z !== null && Number.isFinite(z)) out.push({ z, w: Math.max(zoneMap.support[j][i] || 0, 0) });
  }));
  return out;
}

export function surfaceSpan(zoneMap) {
  const zs = nodes(zoneMap).map((n) => n.z);
  if (!zs.length) return 1;
  const span = Math.max(...zs) - Math.min(...zs);
  return span > 0 ? span : Math.abs(zs[0]) || 1;
}

export function sliderFor(mode, zoneMap) {
  if (mode === "delta") return { min: 1, max: DELTA_STEPS, step: 1 };
  return Q_RANGE;
}

/** Slider position -> {top_q} or {delta}. */
export function paramsFor(mode, position, zoneMap) {
  if (mode === "delta") return { delta: Number(((surfaceSpan(zoneMap) * position) / DELTA_STEPS).toPrecision(3)) };
  return { top_q: position / 100 };
}

/** {top_q}/{delta} (from the URL or the API's tolerance) -> slider position. */
export function positionFor(mode, tol, zoneMap) {
  if (mode === "delta") {
    const p = Math.round((tol.value / surfaceSpan(zoneMap)) * DELTA_STEPS);
    return Math.min(DELTA_STEPS, Math.max(1, p));
  }
  return Math.min(Q_RANGE.max, Math.max(Q_RANGE.min, Math.round(tol.value * 100)));
}

export function label(mode, params) {
  return mode === "delta" ? `within ${num(params.delta, 3)} of the best` : `top ${pct(params.top_q)}`;
}

/**
 * An approximate surface level for the tolerance, for an instant outline while the exact zone is computed:
 * delta mode is exact on the surface (best node minus delta); top-q takes the support-weighted q-quantile of the
 * surface (the server ranks the trials themselves).
 */
export function previewLevel(zoneMap, params, direction) {
  const ns = nodes(zoneMap);
  if (!ns.length) return null;
  const sign = direction === "minimize" ? -1 : 1;
  if (params.delta !== undefined) {
    const best = Math.max(...ns.map((n) => sign * n.z));
    return sign * (best - params.delta);
  }
  ns.sort((a, b) => sign * b.z - sign * a.z);
  const total = ns.reduce((s, n) => s + n.w, 0);
  let acc = 0;
  for (const n of ns) {
    acc += n.w;
    if (acc >= params.top_q * total) return n.z;
  }
  return ns[ns.length - 1].z;
}
