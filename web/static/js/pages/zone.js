// The zone explorer: axis pickers, tolerance slider, the map and its companions, all from one zone request.

import { getVersionedJSON, query } from "../lib/api.js";
import { $, el, fillSelect, pageData, replace } from "../lib/dom.js";
import { num, pct } from "../lib/format.js";
import { drawBest } from "../zone/best.js";
import { bindFilters, drawDisputed, drawFilters, filterParams, initialFilters, markDisputedBest } from "../zone/filters.js";
import { drawImportance } from "../zone/importance.js";
import { loadPlotly, plotlyReady } from "../lib/plot.js";
import { colourNote, drawMap, modelZone } from "../zone/map.js";
import { drawMarginals } from "../zone/marginals.js";
import { levelSetText, lrText, referenceText, statusNode, volumeText, warningNotes } from "../zone/notes.js";
import { CallCalculator } from "../zone/call.js";
import { LiveZone } from "../zone/live.js";
import { pointPanel } from "../zone/points.js";
import { sketchMap } from "../zone/sketch.js";
import * as tol from "../zone/tolerance.js";

const page = pageData();
const ui = {
  body: $("#zone-body"), empty: $("#zone-empty"), error: $("#zone-error"), status: $("#zone-status"),
  x: $("#axis-x"), y: $("#axis-y"), slider: $("#tolerance"), sliderOut: $("#tolerance-value"),
  colourNote: $("#colour-note"),
  map: $("#zone-map"), sketch: $("#zone-sketch"), loading: $("#map-loading"), note: $("#map-note"), counts: $("#counts"),
  facts: $("#zone-facts"), kCard: $("#k-card"), zoneCard: $("#zone-card"), warnings: $("#zone-warnings"), legend: $("#map-legend"), marginals: $("#marginals"), marginalQ: $("#marginal-q"),
  importance: $("#importance"), importanceNote: $("#importance-note"), best: $("#best-table"), snippet: $("#best-snippet"),
};
const state = {
  x: page.initial.x, y: page.initial.y,
  mode: page.initial.delta !== null ? "delta" : "top_q",
  params: page.initial.delta !== null ? { delta: page.initial.delta } : { top_q: page.initial.top_q ?? 0.1 },
  zone: null, snippets: [], request: 0, version: 0, controller: null,
  loading: false, dataVersion: null,  // a zone request in flight; the data version drawn (X-Data-Version)
  filters: initialFilters(page.filters),
};
const points = pointPanel($("#point-details"), page.api.point, page.task.metric);
const calls = page.calls ? new CallCalculator($("#call-calculator"), { ...page.calls, onCall: () => {} }) : null;
const live = new LiveZone(() => load({ poll: true }), { count: $("#result-count"), state: $("#live-state") });

function setBusy(busy, text) {
  ui.status.textContent = text;
  ui.status.classList.toggle("busy", busy);
}

function syncUrl() {
  const q = { x: state.x, y: state.y, ...state.params, ...filterParams(state.filters) };
  history.replaceState(null, "", `${location.pathname}${query(q)}`);
}

function fillAxes(zone) {
  const names = Object.keys(zone.analysis.marginals);
  const label = (n) => (zone.analysis.marginals[n].derived ? `${n} (derived)` : n);
  fillSelect(ui.x, names.map((n) => ({ value: n, label: label(n) })), zone.x);
  fillSelect(ui.y, names.map((n) => ({ value: n, label: label(n) })), zone.y);
  ui.x.disabled = ui.y.disabled = names.length < 2;
}

function setSlider() {
  const zm = state.zone.analysis.zone_map;
  const range = tol.sliderFor(state.mode, zm);
  Object.assign(ui.slider, { min: range.min, max: range.max, step: range.step });
  const current = state.mode === "delta" ? { value: state.params.delta } : { value: state.params.top_q };
  ui.slider.value = tol.positionFor(state.mode, current, zm);
  ui.sliderOut.textContent = tol.label(state.mode, state.params);
  ui.slider.disabled = false;
}

function drawCounts(zone) {
  const c = zone.counts;
  replace(ui.counts,
    el("span", { class: "chip" }, el("strong", {}, (c.explored || 0).toLocaleString()), "explored"),
    el("span", { class: "chip" }, el("strong", {}, (c.contributed || 0).toLocaleString()), "contributed"),
    el("span", { class: "chip" }, el("strong", {}, (c.verified || 0).toLocaleString()), "verified"),
    el("span", { class: "chip" }, el("strong", {}, String(zone.jobs.length)), zone.jobs.length === 1 ? "job" : "jobs"),
    ...Object.entries(zone.samplers || {}).map(([name, n]) =>
      el("span", { class: "chip sampler", "data-sampler": name }, el("strong", {}, n.toLocaleString()), `by the ${name} sampler`)));
}

/** The trials' view: what the tolerance selects among the results themselves. */
function drawFacts(zone) {
  const a = zone.analysis;
  const zm = a.zone_map;
  const t = a.tolerance;
  const facts = [
    ["results", a.n_trials.toLocaleString()],
    ["shown on the map", `${zm.points.x.length.toLocaleString()}${zm.points.x.length < zm.n_used ? " (sampled)" : ""}`],
    [t.mode === "top_q" ? `best ${pct(t.value)}` : `within ${num(t.value, 3)} of the best`, `${zm.n_zone.toLocaleString()} results`],
    [`${zone.metric} threshold`, num(zm.threshold, 5)],
    [`best ${zone.metric}`, zm.best ? num(zm.best.value, 5) : "–"],
    ["smoothing", `${zm.bandwidth.method} (×${num(zm.bandwidth.factor, 2)})`],
  ];
  if (a.diagnostics && a.diagnostics.n_diverged) facts.push(["diverged (bound the zone)", a.diagnostics.n_diverged.toLocaleString()]);
  if (zm.n_dropped) facts.push(["without both axes", zm.n_dropped.toLocaleString()]);
  replace(ui.facts, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const z = modelZone(zone);
  ui.legend.hidden = !z;
  ui.note.textContent = z
    ? `P(in zone): the share of a Gaussian process model's draws in which a configuration's ${zone.metric} is within ${num(z.delta, 3)} of the best; `
      + "blank outside the searched space. Dotted white: where the best trials lie (the slider's view of the trials)."
    : `Colour: ${zone.metric} smoothed by kernel regression over ${zm.n_used.toLocaleString()} results; blank where no result is near. `
      + "The outline encloses the best trials on the smoothed surface; the model zone needs at least 3 results.";
}

function drawColourNote(zone) {
  const text = colourNote(zone);
  ui.colourNote.hidden = !text;
  ui.colourNote.textContent = text || "";
}

function drawWarnings(zone) {
  replace(ui.warnings, warningNotes(zone.analysis.warnings));
}

function drawZoneCard(zone) {
  const z = zone.analysis.zone;
  if (!z) { ui.zoneCard.hidden = true; return; }
  ui.zoneCard.hidden = false;
  const text = volumeText(z);
  replace($("#zone-volume"), z.volume_fraction.estimate === null ? "–" : pct(z.volume_fraction.estimate));
  replace($("#zone-volume-interval"), text.short);
  replace($("#zone-hit"), text.hit);
  replace($("#zone-delta"), `Zone: ${zone.metric} within δ = ${num(z.delta, 3)} of the modelled best`
    + ` (${z.delta_source === "given" ? "as asked" : "the default"}; the modelled best is ${num(z.best.value, 4)}).`);
}

function drawK(zone) {
  const k = zone.analysis.k;
  if (!k) { ui.kCard.hidden = true; return; }
  ui.kCard.hidden = false;
  replace($("#k-estimate"), k.estimate === null ? "–" : num(k.estimate, 4));
  replace($("#k-interval"), k.interval
    ? `${Math.round(k.confidence * 100)}% interval [${num(k.interval[0], 4)}, ${num(k.interval[1], 4)}], the band's K centre on the model`
    : "no K: see its status");
  replace($("#k-status"), "status ", statusNode(k.status));
  replace($("#k-lr"), lrText(k));
  replace($("#k-reference"), referenceText(k));
  replace($("#k-level-set"), levelSetText(zone.analysis.diagnostics));
}

/** The page is usable once a map is on screen and the controls are live: the canvas sketch on a first visit
 * (plotly.js still compiling), else the Plotly map. */
function markInteractive() {
  if (document.body.dataset.interactive) return;
  performance.mark("zone:interactive");
  document.body.dataset.interactive = "true";
}

/** Until the Plotly map is drawn, draw the sketch (true when it did). */
function sketch(zone, options) {
  if (plotlyReady() && ui.map.dataset.drawn) return false;
  ui.sketch.hidden = false;
  sketchMap(ui.sketch, zone, options);
  return true;
}

function drawAll(zone, snippets) {
  performance.mark("zone:draw-start");
  if (sketch(zone)) markInteractive();
  drawMap(ui.map, zone).then(() => {
    performance.mark("zone:drawn");
    ui.map.dataset.drawn = "true";
    ui.sketch.hidden = true;
    bindPlotEvents();
    state.version += 1;
    if (state.version === 1) performance.mark("zone:ready");
    markInteractive();
    document.body.dataset.zoneVersion = String(state.version);
    document.body.dataset.ready = "true";
  }, plotlyFailed);
  drawCounts(zone);
  drawFilters(zone, state.filters);
  drawDisputed(zone, zone.metric);
  drawFacts(zone);
  drawColourNote(zone);
  drawWarnings(zone);
  drawZoneCard(zone);
  drawK(zone);
  ui.marginalQ.textContent = pct(zone.analysis.q);
  // the companions after the map has painted, so the map is interactive first
  requestAnimationFrame(() => setTimeout(() => {
    drawMarginals(ui.marginals, zone.analysis.marginals);
    drawImportance(ui.importance, ui.importanceNote, zone.analysis.importance, zone.analysis.importance_evaluator, zone.analysis.n_trials);
    drawBest(ui.best, ui.snippet, zone, snippets, page.task.name, calls);
    markDisputedBest(ui.best, zone);
    performance.mark("zone:complete");
  }, 0));
}

/** Without plotly.js the sketch stays: every control still works on it; hover and zoom do not. */
function plotlyFailed() {
  ui.note.textContent = "The interactive map (plotly.js) could not be loaded: this is a static sketch of it, "
    + "redrawn when you change the axes or the zone. Reload the page to try again.";
  document.body.dataset.plotlyFailed = "true";
}

function showEmpty() {
  ui.body.hidden = true;
  ui.empty.hidden = false;
  document.body.dataset.ready = "true";
  document.body.dataset.empty = "true";
}

function showError(err) {
  ui.error.hidden = false;
  ui.error.textContent = err.message;
  setBusy(false, "Error");
  document.body.dataset.ready = "true";
}

/** Fetch the zone and draw it. A poll (`{ poll: true }`) leaves the page alone while a load the user started is
 * in flight, and redraws only when the answer's data version moved. */
async function load({ poll = false } = {}) {
  if (poll && state.loading) return;
  const id = ++state.request;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  if (!poll) {
    ui.loading.hidden = !!state.zone;  // the first load covers the map; later ones keep it visible
    setBusy(true, state.zone ? "Updating the zone…" : "Computing the zone…");
  }
  state.loading = true;
  let data;
  let version;
  try {
    const q = { x: state.x, y: state.y, ...state.params, ...filterParams(state.filters) };
    ({ body: data, version } = await getVersionedJSON(page.api.zone + query(q), { signal: state.controller.signal }));
  } catch (err) {
    if (err.name === "AbortError") return;
    if (id === state.request) { state.loading = false; ui.loading.hidden = true; showError(err); }
    return;
  }
  if (id !== state.request) return;
  state.loading = false;
  performance.mark("zone:fetched");
  if (data.empty) { ui.loading.hidden = true; live.update(null, data.running_jobs); showEmpty(); return; }
  delete document.body.dataset.empty;
  ui.error.hidden = true;
  live.update(data.zone.analysis.n_trials, data.running_jobs);
  if (poll && version !== null && version === state.dataVersion) return;  // nothing new since the last draw
  state.dataVersion = version;
  ui.body.hidden = false;  // a job's first results replace the empty state
  ui.empty.hidden = true;
  ui.loading.hidden = true;
  state.zone = data.zone;
  state.snippets = data.snippets;
  state.x = data.zone.x;
  state.y = data.zone.y;
  fillAxes(data.zone);
  setSlider();
  syncUrl();
  drawAll(data.zone, data.snippets);
  setBusy(false, `${data.zone.analysis.n_trials.toLocaleString()} results`);
}

const reload = (() => { let t = null; return () => { clearTimeout(t); t = setTimeout(load, 300); }; })();

let previewQueued = false;

/** The dotted preview follows the slider, one redraw per frame at most (a drag fires many input events). */
function drawPreview() {
  previewQueued = false;
  const zm = state.zone.analysis.zone_map;
  const preview = tol.previewLevel(zm, state.params, state.zone.direction);
  if (sketch(state.zone, { preview })) performance.mark("zone:preview");
  drawMap(ui.map, state.zone, { preview }).then(() => performance.mark("zone:preview"), () => {});
}

function onSlider() {
  if (!state.zone) return;
  state.params = tol.paramsFor(state.mode, Number(ui.slider.value), state.zone.analysis.zone_map);
  ui.sliderOut.textContent = tol.label(state.mode, state.params);
  if (!previewQueued) {
    previewQueued = true;
    requestAnimationFrame(drawPreview);
  }
  setBusy(true, "Updating the zone…");
  reload();
}

function onMode(mode) {
  if (!state.zone || mode === state.mode) return;
  const zm = state.zone.analysis.zone_map;
  state.mode = mode;
  state.params = mode === "delta"
    ? tol.paramsFor("delta", Math.round(tol.DELTA_STEPS / 20), zm)
    : { top_q: 0.1 };
  setSlider();
  load();
}

function onAxis(which) {
  const other = which === "x" ? "y" : "x";
  state[which] = ui[which].value;
  if (state[which] === state[other]) {  // keep two different axes: take the previous one for the other
    const previous = state.zone ? state.zone[which] : null;
    state[other] = previous !== state[which] ? previous : Array.from(ui[other].options).map((o) => o.value).find((v) => v !== state[which]);
    ui[other].value = state[other];
  }
  load();
}

ui.slider.addEventListener("input", onSlider);
bindFilters(state.filters, () => load());
ui.x.addEventListener("change", () => onAxis("x"));
ui.y.addEventListener("change", () => onAxis("y"));
for (const radio of document.querySelectorAll('input[name="tol-mode"]')) {
  if (radio.value === state.mode) radio.checked = true;
  radio.addEventListener("change", () => radio.checked && onMode(radio.value));
}
function bindPlotEvents() {
  if (!ui.map.on || ui.map.dataset.bound) return;
  ui.map.dataset.bound = "1";
  const pick = (ev) => {
    const p = ev && ev.points && ev.points[0];
    const id = p && typeof p.customdata === "string" ? p.customdata : null;
    return id;
  };
  ui.map.on("plotly_hover", (ev) => { const id = pick(ev); if (id) points.hover(id); });
  ui.map.on("plotly_click", (ev) => { const id = pick(ev); if (id) points.show(id); });
}

load();
// plotly.js compiles in the background while the zone is fetched and sketched; the Plotly map follows
loadPlotly().catch(() => {});
