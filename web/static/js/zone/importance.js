// Parameter importance as horizontal bars.

import { replace } from "../lib/dom.js";
import { axis, draw, layout, plotText } from "../lib/plot.js";

export function drawImportance(node, note, importance, evaluator, nTrials) {
  if (!importance || !Object.keys(importance).length) {
    if (window.Plotly) window.Plotly.purge(node);
    replace(node, Object.assign(document.createElement("p"), { className: "plot-empty",
      textContent: nTrials < 4 ? "Importance needs at least 4 results." : "No importance for these results." }));
    return;
  }
  const entries = Object.entries(importance).sort((a, b) => a[1] - b[1]);
  replace(note, `How much each parameter explains the metric (Optuna's ${evaluator || "evaluator"}).`);
  if (node.querySelector(".plot-empty")) replace(node);
  draw(node, [{
    type: "bar", orientation: "h", x: entries.map((e) => e[1]), y: entries.map((e) => plotText(e[0])),
    marker: { color: "#21918c" }, hovertemplate: "%{y}: %{x:.3f}<extra></extra>",
  }], layout({ margin: { l: 110, r: 16, t: 8, b: 40 }, xaxis: axis("importance", { extra: { range: [0, 1] } }),
    yaxis: axis("", { extra: { automargin: true } }), showlegend: false }), { displayModeBar: false });
}
