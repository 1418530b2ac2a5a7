// A first paint of the zone map on a canvas, drawn from the same zone JSON before plotly.js has loaded.
//
// On a first visit the browser spends well over a second compiling plotly.js (4.8 MB); this sketch shows the
// zone's P(in zone) (else the trials' smoothed surface), the zone outline and core, the results and the best one
// meanwhile, so the page is usable at once.
// The Plotly map (hover, zoom, legend, K curves) replaces it as soon as it is drawn.

import { ORIGIN_STYLE } from "../lib/plot.js";
import { mapRanges, modelZone } from "./map.js";

// about where the Plotly map puts its plot area (colour bar on the right, legend below), so the swap barely moves
const MARGIN = { l: 64, r: 96, t: 10, b: 104 };
// Viridis at 9 stops (the heatmap's colour scale); reversed when lower is better, as on the Plotly map
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
  [92, 200, 99], [170, 220, 50], [253, 231, 37]];

function colour(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((v, k) => Math.round(v + (VIRIDIS[i + 1][k] - v) * f));
}

/** value -> pixel along one axis (log axes in decades). */
function scale(range, log, p0, p1) {
  const t = (v) => (log ? Math.log10(v) : v);
  const a = t(range[0]);
  const b = t(range[1]);
  return (v) => p0 + ((t(v) - a) / (b - a || 1)) * (p1 - p0);
}

function ticks(range, log) {
  if (log) {
    const out = [];
    const lo = Math.floor(Math.log10(range[0]));
    const hi = Math.ceil(Math.log10(range[1]));
    const steps = hi - lo <= 2 ? [1, 2, 5] : [1];
    for (let d = lo; d <= hi; d += 1) for (const m of steps) out.push(m * 10 ** d);
    return out.filter((v) => v >= range[0] && v <= range[1]);
  }
  const span = range[1] - range[0];
  const step = 10 ** Math.floor(Math.log10(span / 5 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 6) || step * 10;
  const out = [];
  for (let v = Math.ceil(range[0] / nice) * nice; v <= range[1] + 1e-12; v += nice) out.push(v);
  return out;
}

const label = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));

function marker(ctx, origin, x, y) {
  const s = ORIGIN_STYLE[origin];
  const r = s.size / 2;
  ctx.beginPath();
  if (origin === "explored") ctx.arc(x, y, r, 0, 2 * Math.PI);
  else if (origin === "contributed") { ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath(); }
  else ctx.rect(x - r * 0.8, y - r * 0.8, r * 1.6, r * 1.6);
  ctx.fillStyle = s.color;
  ctx.fill();
  ctx.strokeStyle = s.line;
  ctx.lineWidth = 0.8;
  ctx.stroke();
}

/** Draw the zone map on ``canvas`` (sized to its box); ``preview`` is a surface level shaded while the exact
 * zone for a moved slider is computed. */
export function sketchMap(canvas, zone, { preview = null } = {}) {
  const zm = zone.analysis.zone_map;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = MARGIN.l;
  const right = w - MARGIN.r;
  const top = MARGIN.t;
  const bottom = h - MARGIN.b;
  const ranges = mapRanges(zone);
  const sx = scale(ranges.x, zm.x_log, left, right);
  const sy = scale(ranges.y, zm.y_log, bottom, top);

  // the heatmap: one cell per grid node, P(in zone) on [0, 1], else the surface between its lowest and highest
  const z = modelZone(zone);
  const gx = z ? z.membership.x : zm.x_grid;
  const gy = z ? z.membership.y : zm.y_grid;
  const grid = z ? z.membership.probability : zm.surface;
  const nx = gx.length;
  const ny = gy.length;
  const values = grid.flat().filter((v) => v !== null);
  // the server's robust colour range when it clipped an outlier (as the Plotly map does)
  const clip = !z && zm.colour_scale && zm.colour_scale.clipped ? zm.colour_scale : null;
  const lo = z ? 0 : clip ? clip.low : Math.min(...values);
  const hi = z ? 1 : clip ? clip.high : Math.max(...values);
  const flip = !z && zone.direction === "minimize";
  const cells = new ImageData(nx, ny);
  for (let j = 0; j < ny; j += 1) {
    for (let i = 0; i < nx; i += 1) {
      const v = grid[j][i];
      if (v === null) continue;
      let t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      if (flip) t = 1 - t;
      const [r, g, b] = colour(t);
      const inPreview = !z && preview !== null && (flip ? v <= preview : v >= preview);
      const k = ((ny - 1 - j) * nx + i) * 4;  // canvas rows run top to bottom, the grid's y upwards
      cells.data.set(inPreview ? [r + (255 - r) * 0.35, g + (255 - g) * 0.35, b + (255 - b) * 0.35, 255] : [r, g, b, 255], k);
    }
  }
  const bitmap = document.createElement("canvas");
  bitmap.width = nx;
  bitmap.height = ny;
  bitmap.getContext("2d").putImageData(cells, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(left, top, right - left, bottom - top);
  // grid nodes sit on the range's ends: each cell reaches half a step beyond its node, clipped to the plot
  const hx = (sx(gx[nx - 1]) - sx(gx[0])) / (2 * (nx - 1) || 1);
  const hy = (sy(gy[0]) - sy(gy[ny - 1])) / (2 * (ny - 1) || 1);
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  const x0 = sx(gx[0]) - hx;
  const y0 = sy(gy[ny - 1]) - hy;
  ctx.drawImage(bitmap, x0, y0, sx(gx[nx - 1]) + hx - x0, sy(gy[0]) + hy - y0);
  ctx.restore();

  // the zone outline (and core, dashed): a white line on a dark halo, as on the Plotly map
  const lines = z ? [[z.outline, []], [z.core || [], [6, 4]]] : [[zm.outline, []]];
  for (const [outline, dash] of lines) {
    for (const [width, style] of [[4.5, "rgba(0,0,0,0.6)"], [2, "#ffffff"]]) {
      ctx.beginPath();
      for (const poly of outline) {
        for (const ring of [poly.exterior, ...poly.holes]) {
          ring.forEach(([px, py], n) => (n ? ctx.lineTo(sx(px), sy(py)) : ctx.moveTo(sx(px), sy(py))));
          ctx.closePath();
        }
      }
      ctx.setLineDash(dash);
      ctx.lineWidth = width;
      ctx.strokeStyle = style;
      ctx.globalAlpha = preview === null ? 1 : 0.35;
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
  }
  ctx.setLineDash([]);

  const pts = zm.points;
  for (let n = 0; n < pts.x.length; n += 1) marker(ctx, pts.origin[n], sx(pts.x[n]), sy(pts.y[n]));
  if (zm.best) {
    ctx.beginPath();
    ctx.arc(sx(zm.best.x), sy(zm.best.y), 9, 0, 2 * Math.PI);
    ctx.strokeStyle = "#ff2e63";
    ctx.lineWidth = 3;
    ctx.stroke();
  }

  // axes, ticks and titles
  ctx.strokeStyle = "#c9d0dc";
  ctx.lineWidth = 1;
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.fillStyle = "#172033";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of ticks(ranges.x, zm.x_log)) ctx.fillText(label(v), sx(v), bottom + 5);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ticks(ranges.y, zm.y_log)) ctx.fillText(label(v), left - 5, sy(v));
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(zm.x + (zm.x_log ? " (log)" : ""), (left + right) / 2, bottom + 40);
  ctx.save();
  ctx.translate(14, (top + bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "top";
  ctx.fillText(zm.y + (zm.y_log ? " (log)" : ""), 0, -10);
  ctx.restore();
  canvas.dataset.axes = `${zm.x}|${zm.y}`;
}
