// FSGDM's K ridge on the map: the band's K centre K*(c) along c with its interval (k.ridge), drawn when the map is
// over (K, c) or (c, v). The README's K (30.992 at lr 0.1) is a statement in the K card, not a line: K scales
// as 1/lr, so a line at 30.992 on a map of another lr would read as a verdict it is not.

const C = "c_scaling";
const V = "v_coefficient";
const FIT = "#d55e00";

/** v on the curve K = v (1 + 1/c) at c: v = K c / (1 + c) (zone_constant in zone_explorer/core/zone_constant.py). */
export function vOf(K, c) {
  return (K * c) / (1 + c);
}

/** (x, y) of the ridge points for the map's axes, or null when the map is over neither (K, c) nor (c, v). */
function placer(zoneMap) {
  const axes = new Set([zoneMap.x, zoneMap.y]);
  const cOnX = zoneMap.x === C;
  if (axes.has("K") && axes.has(C)) return (K, c) => (cOnX ? [c, K] : [K, c]);
  if (axes.has(C) && axes.has(V)) return (K, c) => (cOnX ? [c, vOf(K, c)] : [vOf(K, c), c]);
  return null;
}

/** The ridge line and its band (one closed polygon: the lower edge along c, then the upper edge back). */
export function kTraces(zoneMap, k) {
  const ridge = k && k.ridge;
  const place = placer(zoneMap);
  if (!ridge || !place || !ridge.c.length) return [];
  const at = (ks) => ridge.c.map((c, i) => place(ks[i], c));
  const line = at(ridge.k);
  const band = [...at(ridge.lower), ...at(ridge.upper).reverse()];
  if (band.length) band.push(band[0]);
  const conf = Math.round((k.confidence || 0.95) * 100);
  return [
    { type: "scatter", mode: "lines", uid: "k-band", name: `K ridge ${conf}% band`, legendgroup: "k",
      x: band.map((p) => p[0]), y: band.map((p) => p[1]), fill: "toself", fillcolor: "rgba(213,94,0,0.18)",
      line: { color: FIT, width: 0.8, dash: "dot" }, hoverinfo: "skip" },
    { type: "scatter", mode: "lines+markers", uid: "k-ridge", name: "K ridge K*(c)", legendgroup: "k",
      x: line.map((p) => p[0]), y: line.map((p) => p[1]), line: { color: FIT, width: 2.5 }, marker: { size: 5, color: FIT },
      text: ridge.c.map((c, i) => `c = ${c.toPrecision(3)}: K* = ${ridge.k[i].toPrecision(3)} [${ridge.lower[i].toPrecision(3)}, ${ridge.upper[i].toPrecision(3)}]`),
      hovertemplate: "%{text}<extra>K ridge</extra>" },
  ];
}
