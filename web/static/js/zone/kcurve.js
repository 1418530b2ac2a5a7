// FSGDM's zone constant K = v (1 + 1/c) drawn on the map: the fitted K with its interval and the README's 30.992.

const C = "c_scaling";
const V = "v_coefficient";
const FIT = "#d55e00";
const REF = "#111111";

function logspace(lo, hi, n) {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return Array.from({ length: n }, (_, i) => 10 ** (a + ((b - a) * i) / (n - 1)));
}

/** (c, v) pairs along K = v (1 + 1/c) over the map's c range, oriented for the axes (x, y). */
function curve(K, zm) {
  const cOnX = zm.x === C;
  const [lo, hi] = cOnX ? zm.x_range : zm.y_range;
  const cs = zm.x_log || zm.y_log ? logspace(lo, hi, 120) : Array.from({ length: 120 }, (_, i) => lo + ((hi - lo) * i) / 119);
  // K = v (1 + 1/c) solved for v; the definition is zone_constant in zone_explorer/core/zone_constant.py
  const vs = cs.map((c) => K / (1 + 1 / c));
  return cOnX ? { x: cs, y: vs } : { x: vs, y: cs };
}

function kLine(K, zm) {
  // an axis is K itself: a straight line across the other axis
  if (zm.x === "K") return { x: [K, K], y: zm.y_range };
  return { x: zm.x_range, y: [K, K] };
}

/** Traces for the axes, or [] when the map is not over (c, v) or K. */
export function kTraces(zoneMap, zoneConstant, referenceK) {
  const axes = new Set([zoneMap.x, zoneMap.y]);
  const onCV = axes.has(C) && axes.has(V);
  const onK = axes.has("K");
  if (!onCV && !onK) return [];
  const line = onCV ? (K) => curve(K, zoneMap) : (K) => kLine(K, zoneMap);
  const traces = [];
  const est = zoneConstant && zoneConstant.estimate;
  const interval = zoneConstant && zoneConstant.interval;
  if (interval && interval[0] !== null && interval[1] !== null) {
    const lo = line(interval[0]);
    const hi = line(interval[1]);
    traces.push({ ...lo, type: "scatter", mode: "lines", line: { color: FIT, width: 1, dash: "dot" }, hoverinfo: "skip",
      name: "K interval", legendgroup: "kfit", showlegend: false, uid: "k-lo" });
    traces.push({ ...hi, type: "scatter", mode: "lines", line: { color: FIT, width: 1, dash: "dot" }, fill: "tonexty",
      fillcolor: "rgba(213,94,0,0.16)", hoverinfo: "skip", name: "K 95% interval", legendgroup: "kfit", uid: "k-hi" });
  }
  if (est !== null && est !== undefined) {
    traces.push({ ...line(est), type: "scatter", mode: "lines", line: { color: FIT, width: 2.5 }, uid: "k-fit",
      name: `fitted K = ${est.toPrecision(3)}`, hovertemplate: `fitted K = ${est.toPrecision(4)}<extra></extra>` });
  }
  if (referenceK !== null && referenceK !== undefined) {  // null: the optimizer's profile publishes no zone
    traces.push({ ...line(referenceK), type: "scatter", mode: "lines", line: { color: REF, width: 2, dash: "dash" }, uid: "k-ref",
      name: `README K = ${referenceK}`, hovertemplate: `README: 30.992 / v ≈ 1 + 1/c (K = ${referenceK})<extra></extra>` });
  }
  return traces;
}
