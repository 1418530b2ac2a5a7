// Filter response: |H(e^jw)| of an optimizer's momentum filter for a configuration, stage by stage for FSGDM.

import { ApiError, getJSON, pathPart, query } from "../lib/api.js";
import { $, debounce, el, fillSelect, pageData, replace } from "../lib/dom.js";
import { clearErrors, showFieldError } from "../lib/forms.js";
import { num } from "../lib/format.js";
import { axis, draw, layout, logTicks, viridis } from "../lib/plot.js";

const page = pageData();
const RUN_LENGTH = { fsgdm: ["sigma", "n_stages"], autosgm: ["tau", "spe"] };
/** The hyperparameters that shape each optimizer's filter (the others are tucked away). */
const FILTER_PARAMS = {
  fsgdm: ["c_scaling", "v_coefficient", "n_stages", "sigma"], autosgm: ["beta_i", "gamma_i", "eta_i"],
  gsgd: ["lr", "momentum", "scaling", "nesterov"], lion: ["beta1", "beta2"], sgd: ["momentum", "dampening", "nesterov"],
  adam: ["beta1"], adamw: ["beta1"], signum: ["momentum"], "adam-tied": ["beta"], "lowrank-hb": ["momentum", "nesterov"],
  "sgd-schedulefree": ["momentum", "warmup_steps", "r", "weight_lr_power", "weighting"],
  "adamw-schedulefree": ["beta1", "warmup_steps", "r", "weight_lr_power", "weighting"],
};
const ui = {
  form: $("#filter-form"), optimizer: $("#f-optimizer"), task: $("#f-task"), epochs: $("#f-epochs"), fields: $("#hp-fields"),
  message: $("#filter-message"), loading: $("#filter-loading"), summary: $("#filter-summary"), note: $("#filter-note"),
  magnitude: $("#magnitude-plot"), gain: $("#gain-plot"), pz: $("#pz-plot"),
};
const params = new URLSearchParams(location.search);
const optimizers = Object.fromEntries(page.optimizers.map((o) => [o.name, o]));
let request = 0;

function hpInput(hp, value, derived) {
  const id = `hp-${hp.name}`;
  let input;
  if (hp.type === "bool") {
    input = el("select", { id, name: hp.name }, el("option", { value: "" }, `default (${hp.default})`),
      el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
  } else if (hp.type === "choice") {
    input = el("select", { id, name: hp.name }, el("option", { value: "" }, `default (${hp.default})`),
      hp.choices.map((c) => el("option", { value: JSON.stringify(c) }, String(c))));
  } else {
    input = el("input", { id, name: hp.name, type: "text", inputmode: "decimal", autocomplete: "off",
      placeholder: derived ? "from the task" : (hp.default === null ? "None" : String(hp.default)) });
  }
  if (value !== null && value !== undefined) input.value = hp.type === "choice" ? JSON.stringify(value) : String(value);
  return el("div", { class: "field", "data-field": `config.${hp.name}` },
    el("label", { for: id, title: hp.description }, hp.name), input,
    el("p", { class: "hint" }, hp.domain), el("p", { class: "field-error", role: "alert", hidden: true }));
}

function buildFields(name, initial = {}) {
  const opt = optimizers[name];
  const derived = RUN_LENGTH[name] || [];
  const shaping = FILTER_PARAMS[name] || opt.hyperparameters.map((hp) => hp.name);
  const field = (hp) => hpInput(hp, initial[hp.name], derived.includes(hp.name));
  const others = opt.hyperparameters.filter((hp) => !shaping.includes(hp.name) && hp.name !== "maximize");
  replace(ui.fields, opt.hyperparameters.filter((hp) => shaping.includes(hp.name)).map(field),
    others.length ? el("details", { class: "more-hps" }, el("summary", { class: "small" }, `Other hyperparameters (${others.length}, no effect on the filter)`),
      el("div", { class: "hp-fields" }, others.map(field))) : null);
}

function readConfig() {
  const config = {};
  const opt = optimizers[ui.optimizer.value];
  for (const hp of opt.hyperparameters) {
    const input = ui.fields.querySelector(`[name="${CSS.escape(hp.name)}"]`);
    if (!input || input.value.trim() === "") continue;
    const raw = input.value.trim();
    if (hp.type === "bool") config[hp.name] = raw === "true";
    else if (hp.type === "choice") config[hp.name] = JSON.parse(raw);
    else if (raw === "None" && hp.nullable) config[hp.name] = null;
    else config[hp.name] = hp.type === "int" && /^-?\d+$/.test(raw) ? parseInt(raw, 10) : Number(raw);
  }
  return config;
}

function syncUrl(config) {
  const q = { optimizer: ui.optimizer.value, task: ui.task.value, epochs: ui.epochs.value, ...config };
  history.replaceState(null, "", `${location.pathname}${query(q)}`);
}

function magnitudeRange(data) {
  const all = data.curves.flatMap((c) => c.magnitude).filter((m) => m > 0);
  return all.length ? [Math.min(...all), Math.max(...all)] : [0.1, 10];
}

function drawMagnitude(data) {
  const n = data.curves.length;
  const traces = data.curves.map((c, i) => ({
    type: "scatter", mode: "lines", name: c.label, x: c.omega.map((w) => w / Math.PI), y: c.magnitude,
    line: { color: n > 1 ? viridis(i / (n - 1)) : "#3f3cbb", width: n > 1 ? 1.6 : 2.5 },
    hovertemplate: `${c.label} (step ${c.step})<br>ω/π = %{x:.3f}<br>|H| = %{y:.4g}<extra></extra>`,
  }));
  draw(ui.magnitude, traces, layout({
    xaxis: axis("ω / π (gradient frequency; 1 = flips sign every step)"),
    yaxis: axis("|H(e<sup>jω</sup>)|", { log: true, html: true, extra: logTicks(...magnitudeRange(data)) }),
    showlegend: n <= 12, legend: { orientation: "v", x: 1.01, y: 1 }, margin: { r: n <= 12 ? 110 : 20 },
  }));
}

function drawGain(data) {
  // FSGDM's curves are numbered stages; schedule-free's are labelled by the step they are drawn at
  const stages = data.curves.map((c) => (c.stage === null || !c.label.startsWith("stage") ? c.label : c.stage));
  const traces = [
    { type: "scatter", mode: "lines+markers", name: "DC gain (ω = 0)", x: stages, y: data.curves.map((c) => c.dc_gain), line: { color: "#3f3cbb" } },
    { type: "scatter", mode: "lines+markers", name: "Nyquist gain (ω = π)", x: stages, y: data.curves.map((c) => c.nyquist_gain), line: { color: "#21918c", dash: "dot" } },
  ];
  if (data.optimizer === "fsgdm" && data.terminal_dc_gain) {
    traces.push({ type: "scatter", mode: "lines", name: `K = v(1+1/c) = ${num(data.terminal_dc_gain, 4)}`,
      x: [stages[0], stages[stages.length - 1]], y: [data.terminal_dc_gain, data.terminal_dc_gain], line: { color: "#d55e00", dash: "dash" } });
  }
  const gains = traces.flatMap((t) => t.y).filter((g) => g > 0);
  const ticks = gains.length ? logTicks(Math.min(...gains), Math.max(...gains)) : {};
  draw(ui.gain, traces, layout({ xaxis: axis(data.optimizer === "fsgdm" ? "stage" : ""), yaxis: axis("gain", { log: true, extra: ticks }),
    legend: { orientation: "h", y: -0.3 }, margin: { t: 10, b: 70 } }), { displayModeBar: false });
}

function drawPoleZero(data) {
  const circle = Array.from({ length: 181 }, (_, i) => (i / 180) * 2 * Math.PI);
  const n = data.curves.length;
  const colors = data.curves.map((_, i) => (n > 1 ? viridis(i / (n - 1)) : "#3f3cbb"));
  draw(ui.pz, [
    { type: "scatter", mode: "lines", x: circle.map(Math.cos), y: circle.map(Math.sin), line: { color: "#c9d0dc", width: 1 }, hoverinfo: "skip", showlegend: false },
    { type: "scatter", mode: "markers", name: "poles u", x: data.curves.map((c) => c.pole), y: data.curves.map(() => 0),
      marker: { symbol: "x-thin-open", size: 11, color: colors, line: { width: 2, color: colors } },
      text: data.curves.map((c) => c.label), hovertemplate: "%{text}: pole %{x:.4f}<extra></extra>" },
    { type: "scatter", mode: "markers", name: "zeros γ", x: data.curves.map((c) => c.zero), y: data.curves.map(() => 0),
      marker: { symbol: "circle-open", size: 10, color: colors, line: { width: 2 } },
      text: data.curves.map((c) => c.label), hovertemplate: "%{text}: zero %{x:.4f}<extra></extra>" },
  ], layout({ xaxis: axis("Re z", { extra: { range: [-1.15, 1.15], scaleanchor: "y", constrain: "domain" } }),
    yaxis: axis("Im z", { extra: { range: [-1.15, 1.15], constrain: "domain" } }),
    legend: { orientation: "h", y: -0.3 }, margin: { t: 10, b: 70 } }), { displayModeBar: false });
}

async function update() {
  const id = ++request;
  clearErrors(ui.form);
  ui.message.textContent = "";
  let config;
  try {
    config = readConfig();
  } catch (err) {
    ui.message.textContent = err.message;
    return;
  }
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === "number" && !Number.isFinite(v)) { showFieldError(ui.form, `config.${k}`, "must be a number"); return; }
  }
  syncUrl(config);
  ui.loading.hidden = false;
  try {
    const url = `/pages-api/filters/${pathPart(ui.optimizer.value)}` + query({ config: JSON.stringify(config), task: ui.task.value, epochs: ui.epochs.value });
    const data = await getJSON(url);
    if (id !== request) return;
    drawMagnitude(data);
    drawGain(data);
    drawPoleZero(data);
    const last = data.curves[data.curves.length - 1];
    ui.summary.textContent = data.optimizer === "fsgdm"
      ? `${data.shown} of ${data.stages} stages · last: pole ${num(last.pole, 4)}, DC gain ${num(last.dc_gain, 4)}`
      : data.stages !== null
      ? `${data.shown} steps · ${last.label}: pole 1 − c = ${num(last.pole, 6)}, high-frequency gain ${num(last.nyquist_gain, 4)}`
      : `pole ${num(last.pole, 4)} · zero ${num(last.zero, 4)} · gain ${num(last.gain, 4)} · DC gain ${num(last.dc_gain, 4)}`;
    ui.note.textContent = data.note || "";
    ui.note.hidden = !data.note;
  } catch (err) {
    if (id !== request) return;
    if (!(err instanceof ApiError) || !showFieldError(ui.form, err.field, err.message)) ui.message.textContent = err.message;
  } finally {
    if (id === request) ui.loading.hidden = true;
    document.body.dataset.ready = "true";
  }
}

const later = debounce(update, 250);
fillSelect(ui.optimizer, page.optimizers.map((o) => ({ value: o.name, label: `${o.name} — ${o.class.split(".").pop()}` })),
  optimizers[params.get("optimizer")] ? params.get("optimizer") : "fsgdm");
for (const t of page.tasks.filter((t) => t.kind !== "contributed")) ui.task.append(el("option", { value: t.name }, t.name));
ui.task.value = params.get("task") && page.tasks.some((t) => t.name === params.get("task")) ? params.get("task") : (params.has("optimizer") ? "" : "digits-cnn");
if (params.get("epochs")) ui.epochs.value = params.get("epochs");
const initial = {};
for (const hp of optimizers[ui.optimizer.value].hyperparameters) {
  if (!params.has(hp.name)) continue;
  const raw = params.get(hp.name);
  initial[hp.name] = hp.type === "bool" ? raw : hp.type === "choice" ? (() => { try { return JSON.parse(raw); } catch { return raw; } })() : raw;
}
buildFields(ui.optimizer.value, initial);
ui.optimizer.addEventListener("change", () => { buildFields(ui.optimizer.value); update(); });
ui.form.addEventListener("input", (ev) => { if (ev.target !== ui.optimizer) later(); });
ui.form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT" && ev.target !== ui.optimizer) later(); });
ui.form.addEventListener("submit", (ev) => { ev.preventDefault(); update(); });
update();
