// Each parameter's distribution among all results and among the zone's (top q) results, on shared bins.

import { clear, el } from "../lib/dom.js";
import { axis, draw, layout, logTicks, plotText } from "../lib/plot.js";

function centers(edges, log) {
  const out = [];
  for (let i = 0; i + 1 < edges.length; i += 1) {
    out.push(log ? Math.sqrt(edges[i] * edges[i + 1]) : (edges[i] + edges[i + 1]) / 2);
  }
  return out;
}

export function drawMarginals(container, marginals) {
  const names = Object.keys(marginals).filter((n) => marginals[n].edges.length);
  const existing = new Map(Array.from(container.children).map((c) => [c.dataset.param, c]));
  if (names.length !== existing.size || names.some((n) => !existing.has(n))) {
    clear(container);
    existing.clear();
    for (const name of names) {
      const div = el("div", { class: "plot", "data-param": name, role: "img", "aria-label": `distribution of ${name}` });
      container.append(div);
      existing.set(name, div);
    }
  }
  if (!names.length) {
    container.append(el("p", { class: "muted" }, "No numeric parameters vary across these results."));
    return;
  }
  for (const name of names) {
    const m = marginals[name];
    const x = centers(m.edges, m.log);
    // step outlines filled to zero: histograms that stay true on log axes (plotly's bars do not)
    const step = (y, name, line, fill) => ({ type: "scatter", mode: "lines", x, y, name, fill: "tozeroy", fillcolor: fill,
      line: { shape: "hvh", color: line, width: 1.2 }, hovertemplate: `%{y} results<extra>${name}</extra>` });
    const traces = [step(m.all_counts, "all", "#aab3c5", "rgba(201,208,220,0.55)"), step(m.top_counts, "zone", "#3f3cbb", "rgba(63,60,187,0.55)")];
    const lay = layout({
      showlegend: false,
      margin: { l: 36, r: 8, t: 24, b: 30 },
      title: { text: `${plotText(name)}${m.derived ? " (derived)" : ""}`, font: { size: 12 }, x: 0.02, y: 0.97 },
      xaxis: axis("", { log: m.log, extra: { tickfont: { size: 9 }, nticks: 5,
        ...(m.log ? logTicks(m.edges[0], m.edges[m.edges.length - 1]) : {}) } }),
      yaxis: axis("", { extra: { tickfont: { size: 9 }, nticks: 4 } }),
    });
    draw(existing.get(name), traces, lay, { displayModeBar: false });
  }
}
