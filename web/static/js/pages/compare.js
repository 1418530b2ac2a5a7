// Compare one task across optimizers: best-so-far curves, the spread of final metrics, the best configurations.

import { getJSON, pathPart } from "../lib/api.js";
import { $, el, fillSelect, pageData, replace } from "../lib/dom.js";
import { num } from "../lib/format.js";
import { CATEGORICAL, axis, draw, layout, plotText } from "../lib/plot.js";

const page = pageData();
const ui = { picker: $("#task-picker"), body: $("#compare-body"), empty: $("#compare-empty"), error: $("#compare-error"),
  loading: $("#compare-loading"), bsf: $("#bsf-plot"), dist: $("#dist-plot"), best: $("#compare-best") };

function colorOf(i) { return CATEGORICAL[i % CATEGORICAL.length]; }

function colored(node, color) {
  node.style.color = color;  // CSSOM, not a style attribute
  return node;
}

function drawBestSoFar(data) {
  const traces = data.optimizers.filter((o) => o.n).map((o, i) => ({
    type: "scatter", mode: "lines", name: o.label, x: o.curve.x, y: o.curve.y, line: { color: colorOf(i), width: 2.5, shape: "hv" },
    hovertemplate: `${plotText(o.label)}: best %{y:.5g} after %{x} trials<extra></extra>`,
  }));
  draw(ui.bsf, traces, layout({ xaxis: axis("finished trials", { log: true }), yaxis: axis(`best ${data.task.metric}`), margin: { t: 10 } }));
}

function drawDistribution(data) {
  const traces = data.optimizers.filter((o) => o.n).map((o, i) => ({
    type: "box", name: o.label, y: o.values, boxpoints: o.values.length <= 300 ? "all" : "outliers", jitter: 0.4, pointpos: 0,
    marker: { color: colorOf(i), size: 4, opacity: 0.6 }, line: { color: colorOf(i) }, fillcolor: "rgba(0,0,0,0.03)",
    hovertemplate: `${plotText(o.label)}: %{y:.5g}<extra></extra>`,
  }));
  draw(ui.dist, traces, layout({ yaxis: axis(data.task.metric), xaxis: axis(""), showlegend: false, margin: { t: 10 } }));
}

function drawBest(data) {
  replace(ui.best, data.optimizers.map((o, i) => el("div", { class: "opt-block" },
    colored(el("h3", {}, o.label), colorOf(i)),
    el("p", { class: "muted small" }, `${o.n.toLocaleString()} finished trials in ${o.jobs} job${o.jobs === 1 ? "" : "s"}`
      + (o.best !== null ? ` · best ${num(o.best, 5)}` : ""),
      " · ", o.jobs
        ? el("a", { href: o.job ? `/jobs/${pathPart(o.job)}` : `/zones/${pathPart(data.task.name)}/${pathPart(o.optimizer)}` }, o.job ? "job" : "zone map")
        : el("a", { href: `/submit?task=${encodeURIComponent(data.task.name)}&optimizer=${encodeURIComponent(o.optimizer)}` }, "submit a job")),
    o.best_configs.length
      ? el("table", { class: "data-table" }, el("tbody", {}, o.best_configs.map((b) => el("tr", {},
        el("td", {}, `#${b.rank}`), el("td", { class: "num" }, num(b.value, 5)),
        el("td", {}, el("span", { class: `pill origin-${b.origin}` }, b.origin)),
        el("td", { class: "small" }, Object.entries(b.params).map(([k, v]) => `${k}=${num(v, 3)}`).join(", "))))))
      : el("p", { class: "muted small" }, o.best_note || "No configurations yet."),
    o.best_configs.length ? el("details", {}, el("summary", { class: "small" }, "Constructor call of the best"),
      el("pre", { class: "code-block small" }, el("code", {}, o.best_configs[0].snippet))) : null)));
}

async function load() {
  try {
    const data = await getJSON(page.api.compare);
    ui.loading.hidden = true;
    if (!data.optimizers.some((o) => o.jobs)) {
      ui.body.hidden = true;
      ui.empty.hidden = false;
    } else {
      drawBestSoFar(data);
      drawDistribution(data);
      drawBest(data);
    }
  } catch (err) {
    ui.loading.hidden = true;
    ui.error.hidden = false;
    ui.error.textContent = err.message;
  }
  document.body.dataset.ready = "true";
}

fillSelect(ui.picker, page.tasks.map((t) => t.name), page.task.name);
ui.picker.addEventListener("change", () => { location.href = `/compare/${pathPart(ui.picker.value)}${page.selection.optimizers ? `?optimizers=${encodeURIComponent(page.selection.optimizers)}` : ""}`; });
load();
