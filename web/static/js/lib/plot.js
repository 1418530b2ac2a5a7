// Plotly defaults shared by every page: typography, colours readable by colour-blind people, escaping.

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
/** Okabe–Ito, for categories (optimizers, origins). */
export const CATEGORICAL = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];
export const ORIGIN_STYLE = {
  explored: { symbol: "circle", color: "rgba(255,255,255,0.9)", line: "#1b1b1b", size: 7 },
  contributed: { symbol: "diamond", color: "#e69f00", line: "#1b1b1b", size: 11 },
  verified: { symbol: "star", color: "#56b4e9", line: "#1b1b1b", size: 14 },
};

/** Plotly renders a few HTML-like tags in text; user strings must show literally. */
export function plotText(value) {
  return String(value ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function layout(overrides = {}) {
  const base = {
    font: { family: FONT, size: 12, color: "#172033" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    margin: { l: 60, r: 20, t: 16, b: 50 },
    hoverlabel: { font: { family: FONT, size: 12 }, align: "left" },
    colorway: CATEGORICAL,
    legend: { orientation: "h", y: -0.2, x: 0, font: { size: 11 } },
  };
  return deepMerge(base, overrides);
}

/** An axis; `title` is escaped unless `html` (for our own markup, never for user strings). */
export function axis(title, { log = false, extra = {}, html = false } = {}) {
  return {
    title: { text: html ? title : plotText(title), font: { size: 12 } },
    type: log ? "log" : "-",
    gridcolor: "#edf0f5",
    zerolinecolor: "#d5dae3",
    linecolor: "#c9d0dc",
    ticks: "outside",
    tickcolor: "#c9d0dc",
    automargin: true,
    exponentformat: "power",
    ...extra,
  };
}

/** Log-axis ticks for a range: decades only when it spans several, else 1-2-5; minor ticks at every digit. */
export function logTicks(lo, hi) {
  const decades = Math.log10(hi) - Math.log10(lo);
  return { dtick: decades >= 2 ? 1 : "D2", minor: { ticks: "outside", dtick: "D1", ticklen: 3, tickcolor: "#c9d0dc" } };
}

export const CONFIG = {
  displaylogo: false,
  responsive: true,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
  toImageButtonOptions: { format: "png", scale: 2 },
};

export function plotlyReady() {
  return typeof window.Plotly !== "undefined";
}

let plotly = null;

/** plotly.js, loaded on first use. The script is added after the next paint, so that whatever a page shows
 * without it is on screen before the browser spends its second or more compiling 4.8 MB of JavaScript (the
 * download itself started early: the page preloads it). */
export function loadPlotly() {
  if (plotlyReady()) return Promise.resolve(window.Plotly);
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = document.body.dataset.plotlySrc;
      script.onload = () => (plotlyReady() ? resolve(window.Plotly) : reject(new Error("plotly.js did not load")));
      script.onerror = () => reject(new Error("plotly.js did not load"));
      const add = () => script.isConnected || document.head.append(script);
      requestAnimationFrame(() => setTimeout(add, 0));
      setTimeout(add, 200);  // a background tab paints no frames
    });
  }
  return plotly;
}

/** Plotly.react with the shared config, once plotly.js is there; returns its promise. */
export function draw(node, data, lay, config = {}) {
  const react = (P) => P.react(node, data, lay, { ...CONFIG, ...config });
  if (plotlyReady()) return react(window.Plotly);  // at once when it is there
  // the plots that waited for plotly.js are drawn one task each, so that input is handled between them
  return loadPlotly().then((P) => new Promise((resolve) => setTimeout(() => resolve(react(P)), 0)));
}

function deepMerge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) && a[k] && typeof a[k] === "object" ? deepMerge(a[k], v) : v;
  }
  return out;
}

const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

/** A colour of the Viridis scale at t in [0, 1]. */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i].match(/\w\w/g).map((h) => parseInt(h, 16));
  const b = VIRIDIS[i + 1].match(/\w\w/g).map((h) => parseInt(h, 16));
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
