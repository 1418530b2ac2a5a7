// The zone map: the smoothed metric as a heatmap, the zone outline, the results by origin, the best result and,
// for FSGDM, the K curves. One Plotly.react call per update.

import { num } from "../lib/format.js";
import { ORIGIN_STYLE, axis, draw, layout, logTicks, plotText } from "../lib/plot.js";
import { kTraces } from "./kcurve.js";

const ORIGINS = ["explored", "contributed", "verified"];

function range(lo, hi, log) {
  return log ? [Math.log10(lo), Math.log10(hi)] : [lo, hi];
}

function ticks(lo, hi, log) {
  return log ? logTicks(lo, hi) : {};
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
        + `${pts.in_zone[i] ? " (in zone)" : ""}<br>${plotText(zm.x)}: ${num(pts.x[i], 4)}<br>${plotText(zm.y)}: ${num(pts.y[i], 4)}`
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
    type: "contour", uid: "zone-preview", name: "zone (preview)", x: zm.x_grid, y: zm.y_grid, z: zm.surface,
    contours: { type: "constraint", operation: direction === "minimize" ? "<=" : ">=", value: level },
    line: { color: "#ffffff", width: 2, dash: "dot" }, fillcolor: "rgba(255,255,255,0.12)", hoverinfo: "skip",
    showlegend: false, showscale: false,
  };
}

/** Draw (or redraw) the map. `preview` is a surface level drawn dotted while the exact zone is computed. */
export function drawMap(node, zone, { preview = null } = {}) {
  const zm = zone.analysis.zone_map;
  const minimize = zone.direction === "minimize";
  const outline = outlineXY(zm.outline);
  const traces = [
    {
      type: "heatmap", uid: "surface", name: "smoothed metric", x: zm.x_grid, y: zm.y_grid, z: zm.surface,
      colorscale: "Viridis", reversescale: minimize,
      // plotly.js cannot interpolate ("fast") on log axes, and "best" costs a quarter second on a large map
      zsmooth: zm.x_log || zm.y_log ? false : "fast", hoverongaps: false,
      colorbar: { title: { text: `${plotText(zone.metric)}<br>${minimize ? "(lower is better)" : "(higher is better)"}`, side: "right", font: { size: 11 } },
        thickness: 12, len: 0.9, outlinewidth: 0, tickfont: { size: 10 } },
      hovertemplate: `${plotText(zm.x)}: %{x:.4g}<br>${plotText(zm.y)}: %{y:.4g}<br>smoothed ${plotText(zone.metric)}: %{z:.4g}<extra></extra>`,
    },
    // a dark halo under a white line: visible on every colour of the scale (the halo stands in the legend)
    { type: "scatter", mode: "lines", uid: "outline-shadow", name: "zone outline", legendgroup: "outline", x: outline.x, y: outline.y,
      hoverinfo: "skip", line: { color: "rgba(0,0,0,0.6)", width: 4.5 }, connectgaps: false, opacity: preview === null ? 1 : 0.35 },
    { type: "scatter", mode: "lines", uid: "outline", name: "zone outline", legendgroup: "outline", showlegend: false, x: outline.x,
      y: outline.y, hoverinfo: "skip", line: { color: "#ffffff", width: 2 }, connectgaps: false, opacity: preview === null ? 1 : 0.35 },
  ];
  const pv = previewTrace(zm, preview, zone.direction);
  if (pv) traces.push(pv);
  traces.push(...kTraces(zm, zone.analysis.zone_constant, zone.reference_K));
  traces.push(...pointTraces(zm, zone));
  if (zm.best) {
    traces.push({ type: "scatter", mode: "markers", uid: "best", name: "best result", x: [zm.best.x], y: [zm.best.y],
      customdata: [zm.best.id], hovertemplate: `best: ${plotText(zone.metric)} ${num(zm.best.value, 5)}<br>${plotText(zm.best.id)}<extra></extra>`,
      marker: { symbol: "circle-open", size: 20, color: "#ff2e63", line: { width: 3 } } });
  }
  const narrow = node.clientWidth > 0 && node.clientWidth < 560;  // phones: the legend would cover the map
  const lay = layout({
    showlegend: !narrow,
    margin: { l: narrow ? 48 : 64, r: 10, t: 10, b: 48 },
    xaxis: axis(zm.x + (zm.x_log ? " (log)" : ""), { log: zm.x_log, extra: { range: range(...zm.x_range, zm.x_log), showgrid: false, ...ticks(...zm.x_range, zm.x_log) } }),
    yaxis: axis(zm.y + (zm.y_log ? " (log)" : ""), { log: zm.y_log, extra: { range: range(...zm.y_range, zm.y_log), showgrid: false, ...ticks(...zm.y_range, zm.y_log) } }),
    legend: { orientation: "h", y: -0.14, x: 0, font: { size: 11 } },
    uirevision: `${zm.x}|${zm.y}`,
    hovermode: "closest",
  });
  return draw(node, traces, lay);
}
