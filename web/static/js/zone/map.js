// The zone map: P(in zone) of the model as a heatmap with the zone (P = 0.5, solid) and its confident core
// (P = 0.9, dashed), FSGDM's K ridge with its band, the trials' view (the trials within the tolerance, dotted), the
// results by origin and the best result. Without a model zone (too few results) the heatmap is the trials'
// smoothed metric. One Plotly.react call per update.

import { num } from "../lib/format.js";
import { ORIGIN_STYLE, axis, draw, layout, logTicks, plotText } from "../lib/plot.js";
import { kTraces } from "./kcurve.js";

const ORIGINS = ["explored", "contributed", "verified"];
export const LEGEND = "shade = P(in zone); solid line = zone (P = 0.5); dashed = confident core (P = 0.9)";

function range(lo, hi, log) {
  return log ? [Math.log10(lo), Math.log10(hi)] : [lo, hi];
}

function ticks(lo, hi, log) {
  return log ? logTicks(lo, hi) : {};
}

/** The model zone when it is drawn over the map's axes, else null. */
export function modelZone(zone) {
  const z = zone.analysis.zone;
  const zm = zone.analysis.zone_map;
  return z && z.x === zm.x && z.y === zm.y && z.membership ? z : null;
}

/** The map's [low, high] ranges: the trials' and the model's (the searched box), together. */
export function mapRanges(zone) {
  const zm = zone.analysis.zone_map;
  const z = modelZone(zone);
  if (!z) return { x: zm.x_range, y: zm.y_range };
  const span = (a, b) => [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
  const ends = (v) => [v[0], v[v.length - 1]];
  return { x: span(zm.x_range, ends(z.membership.x)), y: span(zm.y_range, ends(z.membership.y)) };
}

/** Outline polygons as one line trace: rings separated by nulls. */
export function outlineXY(outline) {
  const x = [];
  const y = [];
  for (const poly of outline) {
    for (const ring of [poly.exterior, ...poly.holes]) {
      for (const [px, py] of ring) { x.push(px); y.push(py); }
      if (ring.length) { x.push(ring[0][0]); y.push(ring[0][1]); }
      x.push(null); y.push(null);
    }
  }
  return { x, y };
}

/** A white line on a dark halo (visible on every colour of the scale); the halo stands in the legend. */
function haloLine(uid, name, outline, { dash = "solid", width = 2, opacity = 1 } = {}) {
  const { x, y } = outlineXY(outline);
  return [
    { type: "scatter", mode: "lines", uid: `${uid}-shadow`, name, legendgroup: uid, x, y, hoverinfo: "skip",
      line: { color: "rgba(0,0,0,0.6)", width: width + 2.5 }, connectgaps: false, opacity },
    { type: "scatter", mode: "lines", uid, name, legendgroup: uid, showlegend: false, x, y, hoverinfo: "skip",
      line: { color: "#ffffff", width, dash }, connectgaps: false, opacity },
  ];
}

function pointTraces(zm, zone) {
  const pts = zm.points;
  const traces = [];
  for (const origin of ORIGINS) {
    const idx = [];
    pts.origin.forEach((o, i) => { if (o === origin) idx.push(i); });
    const style = ORIGIN_STYLE[origin];
    traces.push({
      type: "scatter", mode: "markers", name: origin, uid: `points-${origin}`, meta: { origin },
      x: idx.map((i) => pts.x[i]), y: idx.map((i) => pts.y[i]),
      customdata: idx.map((i) => pts.id[i]),
      text: idx.map((i) => `<b>${plotText(origin)}</b> · ${plotText(pts.id[i])}<br>${plotText(zone.metric)}: ${num(pts.value[i], 5)}`
        + `${pts.in_zone[i] ? " (among the best trials)" : ""}<br>${plotText(zm.x)}: ${num(pts.x[i], 4)}<br>${plotText(zm.y)}: ${num(pts.y[i], 4)}`
        + "<br><i>configuration, seeds and source: see the side panel</i>"),
      hovertemplate: "%{text}<extra></extra>",
      marker: { symbol: style.symbol, color: style.color, size: style.size, opacity: origin === "explored" ? 0.85 : 1,
        line: { color: style.line, width: origin === "explored" ? 0.8 : 1.2 } },
      visible: idx.length ? true : "legendonly",
    });
  }
  return traces;
}

function previewTrace(zm, level, direction) {
  if (level === null || level === undefined) return null;
  return {
    type: "contour", uid: "zone-preview", name: "best trials (preview)", x: zm.x_grid, y: zm.y_grid, z: zm.surface,
    contours: { type: "constraint", operation: direction === "minimize" ? "<=" : ">=", value: level },
    line: { color: "#ffffff", width: 2, dash: "dot" }, fillcolor: "rgba(255,255,255,0.12)", hoverinfo: "skip",
    showlegend: false, showscale: false,
  };
}

function colorbar(text) {
  return { title: { text, side: "right", font: { size: 11 } }, thickness: 12, len: 0.9, outlinewidth: 0, tickfont: { size: 10 } };
}

function membershipTrace(z, zone) {
  const m = z.membership;
  return {
    type: "heatmap", uid: "membership", name: "P(in zone)", x: m.x, y: m.y, z: m.probability, zmin: 0, zmax: 1,
    colorscale: "Viridis", zsmooth: z.x_log || z.y_log ? false : "fast", hoverongaps: false,
    colorbar: colorbar("P(in zone)"),
    hovertemplate: `${plotText(z.x)}: %{x:.4g}<br>${plotText(z.y)}: %{y:.4g}<br>P(in zone): %{z:.2f}`
      + `<br>(${plotText(zone.metric)} within ${num(z.delta, 3)} of the best)<extra></extra>`,
  };
}

/** The surface's colour range: the server's robust scale (an outlier saturates the end colour instead of
 * flattening every other value into one colour); Plotly's own min-max when there is none. */
function colourRange(zm) {
  const c = zm.colour_scale;
  return c && c.clipped && c.low !== null && c.high > c.low ? { zmin: c.low, zmax: c.high, zauto: false } : {};
}

/** What the page says about the results beyond Tukey's far fences (null when there are none): on the smoothed
 * metric they take the colour scale's end colour; over P(in zone) the page names them, as they weigh on the model. */
export function colourNote(zone) {
  const c = zone.analysis.zone_map.colour_scale;
  if (!c || !c.clipped) return null;
  const n = c.n_below + c.n_above;
  const results = `${n.toLocaleString()} result${n === 1 ? "" : "s"}`;
  const range = `[${num(c.low, 4)}, ${num(c.high, 4)}]`;
  const rule = `more than ${c.fence_iqrs} interquartile ranges beyond the quartiles`;
  if (!modelZone(zone)) return `Colour scale clipped to ${range}: ${results} outside (${rule}) take the end colour.`;
  return `${results} far outside the others' range ${range} (${rule}): a diverged but finite run? `
    + `The zone model takes ${n === 1 ? "it" : "them"} as measured.`;
}

/** The diverged trials (no value) as their own marker, never a colour. */
function divergedTrace(zm) {
  const d = zm.diverged;
  if (!d || !d.x.length) return null;
  return {
    type: "scatter", mode: "markers", uid: "diverged", name: "diverged", x: d.x, y: d.y,
    hovertemplate: `<b>diverged</b> (no result)<br>${plotText(zm.x)}: %{x:.4g}<br>${plotText(zm.y)}: %{y:.4g}<extra></extra>`,
    marker: { symbol: "x-thin-open", size: 9, color: "#ff4d4d", line: { color: "#ff4d4d", width: 2 } },
  };
}

function surfaceTrace(zm, zone) {
  const minimize = zone.direction === "minimize";
  return {
    type: "heatmap", uid: "surface", name: "smoothed metric", x: zm.x_grid, y: zm.y_grid, z: zm.surface,
    colorscale: "Viridis", reversescale: minimize, ...colourRange(zm),
    // plotly.js cannot interpolate ("fast") on log axes, and "best" costs a quarter second on a large map
    zsmooth: zm.x_log || zm.y_log ? false : "fast", hoverongaps: false,
    colorbar: colorbar(`${plotText(zone.metric)}<br>${minimize ? "(lower is better)" : "(higher is better)"}`),
    hovertemplate: `${plotText(zm.x)}: %{x:.4g}<br>${plotText(zm.y)}: %{y:.4g}<br>smoothed ${plotText(zone.metric)}: %{z:.4g}<extra></extra>`,
  };
}

/** Draw (or redraw) the map. `preview` is a surface level drawn dotted while the exact zone is computed. */
export function drawMap(node, zone, { preview = null } = {}) {
  const zm = zone.analysis.zone_map;
  const z = modelZone(zone);
  const dim = preview === null ? 1 : 0.35;
  const traces = [];
  if (z) {
    traces.push(membershipTrace(z, zone));
    traces.push(...haloLine("outline", "zone (P = 0.5)", z.outline, { opacity: dim }));
    traces.push(...haloLine("core", "confident core (P = 0.9)", z.core || [], { dash: "dash", opacity: dim }));
    // the trials' view: where the trials within the tolerance lie (what the slider moves in top-q mode)
    const t = outlineXY(zm.outline);
    traces.push({ type: "scatter", mode: "lines", uid: "trials-outline", name: "best trials (smoothed)", x: t.x, y: t.y,
      hoverinfo: "skip", line: { color: "rgba(255,255,255,0.85)", width: 1.2, dash: "dot" }, connectgaps: false, opacity: dim });
  } else {
    traces.push(surfaceTrace(zm, zone));
    traces.push(...haloLine("outline", "best trials (smoothed)", zm.outline, { opacity: dim }));
  }
  const pv = previewTrace(zm, preview, zone.direction);
  if (pv) traces.push(pv);
  traces.push(...kTraces(zm, zone.analysis.k));
  traces.push(...pointTraces(zm, zone));
  const diverged = divergedTrace(zm);
  if (diverged) traces.push(diverged);
  if (zm.best) {
    traces.push({ type: "scatter", mode: "markers", uid: "best", name: "best result", x: [zm.best.x], y: [zm.best.y],
      customdata: [zm.best.id], hovertemplate: `best: ${plotText(zone.metric)} ${num(zm.best.value, 5)}<br>${plotText(zm.best.id)}<extra></extra>`,
      marker: { symbol: "circle-open", size: 20, color: "#ff2e63", line: { width: 3 } } });
  }
  const r = mapRanges(zone);
  const narrow = node.clientWidth > 0 && node.clientWidth < 560;  // phones: the legend would cover the map
  const lay = layout({
    showlegend: !narrow,
    margin: { l: narrow ? 48 : 64, r: 10, t: 10, b: 48 },
    xaxis: axis(zm.x + (zm.x_log ? " (log)" : ""), { log: zm.x_log, extra: { range: range(...r.x, zm.x_log), showgrid: false, ...ticks(...r.x, zm.x_log) } }),
    yaxis: axis(zm.y + (zm.y_log ? " (log)" : ""), { log: zm.y_log, extra: { range: range(...r.y, zm.y_log), showgrid: false, ...ticks(...r.y, zm.y_log) } }),
    legend: { orientation: "h", y: -0.14, x: 0, font: { size: 11 } },
    uirevision: `${zm.x}|${zm.y}`,
    hovermode: "closest",
  });
  return draw(node, traces, lay);
}
