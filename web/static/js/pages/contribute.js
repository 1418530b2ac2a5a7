// Contribute results: one result from the form, or a CSV/JSON upload. Errors show at the field the API names.

import { ApiError, getJSON, send } from "../lib/api.js";
import { $, $$, el, pageData, replace } from "../lib/dom.js";
import { clearErrors, parseIntList, parseNumberList, setMessage, showFieldError } from "../lib/forms.js";
import { bindTokenField, tokenValue } from "../lib/token.js";

const NEW_TASK = "__new__";
const page = pageData();
const params = new URLSearchParams(location.search);
const form = $("#contribute-form");
const ui = { token: $("#token"), task: $("#c-task"), optimizer: $("#c-optimizer"), newTask: $("#new-task"), required: $("#required-hps"),
  fields: $("#config-fields"), more: $("#config-more"), value: $("#c-value"), valueHint: $("#c-value-hint"), message: $("#contribute-message"),
  button: $("#contribute-button"), result: $("#contribute-result"), file: $("#c-file"), paste: $("#c-paste"),
  tabForm: $("#tab-form"), tabUpload: $("#tab-upload"), panelForm: $("#panel-form"), panelUpload: $("#panel-upload") };
const optimizers = Object.fromEntries(page.optimizers.map((o) => [o.name, o]));
const tasks = Object.fromEntries(page.tasks.map((t) => [t.name, t]));
let mode = "form";
// the contribution this form edits (PATCH) instead of adding another: from ?edit=ID, or the one it just stored,
// so that fixing a typo and sending again corrects that row rather than storing a second one
let editing = null;

// ---- the form ----------------------------------------------------------------------------------------------------
function hpField(hp) {
  const id = `cfg-${hp.name}`;
  let input;
  if (hp.type === "bool") {
    input = el("select", { id, name: `config.${hp.name}` }, el("option", { value: "" }, "default"),
      el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
  } else if (hp.type === "choice") {
    input = el("select", { id, name: `config.${hp.name}` }, el("option", { value: "" }, "default"),
      hp.choices.map((c) => el("option", { value: JSON.stringify(c) }, String(c))));
  } else {
    input = el("input", { id, name: `config.${hp.name}`, type: "text", inputmode: "decimal", autocomplete: "off",
      placeholder: hp.default === null ? "None" : String(hp.default) });
  }
  return el("div", { class: "field", "data-field": `config.${hp.name}` },
    el("label", { for: id, title: `${hp.description} — ${hp.domain}` }, hp.name), input,
    el("p", { class: "field-error", role: "alert", hidden: true }));
}

function onOptimizer() {
  const opt = optimizers[ui.optimizer.value];
  const required = opt.contribution_required;
  replace(ui.required, required.length ? required.join(", ") : "none");
  replace(ui.fields, opt.hyperparameters.filter((hp) => required.includes(hp.name)).map(hpField));
  replace(ui.more, opt.hyperparameters.filter((hp) => !required.includes(hp.name)).map(hpField));
}

function onTask() {
  const isNew = ui.task.value === NEW_TASK;
  ui.newTask.hidden = !isNew;
  const t = tasks[ui.task.value];
  replace(ui.valueHint, t ? `${t.metric}, ${t.direction === "maximize" ? "higher" : "lower"} is better, ${rangeText(t.metric_range)}` : "in the new task's metric");
}

function rangeText([low, high]) {
  if (low === null && high === null) return "any finite number";
  if (high === null) return `≥ ${low}`;
  if (low === null) return `≤ ${high}`;
  return `in [${low}, ${high}]`;
}

function fail(field, message) {
  const e = new Error(message);
  e.field = field;
  throw e;
}

function readConfig() {
  const config = {};
  for (const input of $$('[name^="config."]', ui.panelForm)) {
    const raw = input.value.trim();
    if (!raw) continue;
    const name = input.name.slice(7);
    const hp = optimizers[ui.optimizer.value].hyperparameters.find((h) => h.name === name);
    if (hp.type === "bool") config[name] = raw === "true";
    else if (hp.type === "choice") config[name] = JSON.parse(raw);
    else if (raw === "None" && hp.nullable) config[name] = null;
    else {
      const x = Number(raw);
      if (!Number.isFinite(x)) fail(`config.${name}`, `"${raw}" is not a number`);
      config[name] = hp.type === "int" && Number.isInteger(x) ? x : x;
    }
  }
  return config;
}

function readForm() {
  const text = (id) => $(id).value.trim();
  const item = { optimizer: ui.optimizer.value };
  if (ui.task.value === NEW_TASK) {
    item.task = { name: text("#nt-name"), dataset: text("#nt-dataset"), model: text("#nt-model"), metric: text("#nt-metric"),
      direction: $("#nt-direction").value, description: text("#nt-description") };
    for (const [key, id] of [["metric_low", "#nt-metric-low"], ["metric_high", "#nt-metric-high"]]) {
      if (!text(id)) continue;
      item.task[key] = Number(text(id));
      if (!Number.isFinite(item.task[key])) fail(`task.${key}`, `"${text(id)}" is not a finite number`);
    }
  } else {
    item.task = ui.task.value;
  }
  item.config = readConfig();
  const value = text("#c-value");
  if (!value) fail("value", "Enter the metric value the configuration reached.");
  item.value = Number(value);
  if (!Number.isFinite(item.value)) fail("value", `"${value}" is not a finite number`);
  const epochs = text("#c-epochs");
  if (epochs) {
    if (!/^\d+$/.test(epochs)) fail("budget.epochs", "Enter a whole number of epochs.");
    item.budget = { epochs: Number(epochs) };
  }
  if (text("#c-seeds")) { try { item.seeds = parseIntList(text("#c-seeds")); } catch (err) { fail("seeds", err.message); } }
  if (text("#c-curve")) { try { item.curve = parseNumberList(text("#c-curve")); } catch (err) { fail("curve", err.message); } }
  for (const key of ["hardware", "software"]) if (text(`#c-${key}`)) item[key] = text(`#c-${key}`);
  item.source = {};
  for (const [key, id] of [["doi", "#c-doi"], ["url", "#c-url"], ["notes", "#c-notes"]]) if (text(id)) item.source[key] = text(id);
  return item;
}

// ---- uploads ------------------------------------------------------------------------------------------------------
async function readUpload() {
  const file = ui.file.files[0];
  const text = file ? await file.text() : ui.paste.value;
  const where = file ? "file" : "paste";
  if (!text.trim()) fail("file", "Choose a CSV or JSON file, or paste its content.");
  const looksJson = file ? /\.json$/i.test(file.name) || /^\s*[[{]/.test(text) : /^\s*[[{]/.test(text);
  if (!looksJson) return { where, url: "/api/v1/contributions/csv", body: text, contentType: "text/csv" };
  let data;
  try { data = JSON.parse(text); } catch (err) { fail(where, `Not valid JSON: ${err.message}`); }
  if (Array.isArray(data)) return { where, url: "/api/v1/contributions/batch", json: { contributions: data } };
  if (data && Array.isArray(data.contributions)) return { where, url: "/api/v1/contributions/batch", json: data };
  return { where, url: "/api/v1/contributions", json: data };
}

function setEditing(id) {
  editing = id;
  replace(ui.button, id ? `Save changes to ${id}` : "Contribute");
  $("#contribute-new").hidden = !id;
  document.body.dataset.editing = id || "";
}

async function loadForEdit(id) {
  const c = await getJSON(`/api/v1/contributions/${encodeURIComponent(id)}`);
  ui.task.value = c.task;
  ui.optimizer.value = c.optimizer;
  onTask();
  onOptimizer();
  for (const name of c.given) {
    const input = $(`#cfg-${CSS.escape(name)}`);
    if (input) input.value = typeof c.config[name] === "string" ? JSON.stringify(c.config[name]) : String(c.config[name]);
  }
  const set = (sel, v) => { $(sel).value = v === null || v === undefined ? "" : String(v); };
  set("#c-value", c.value);
  set("#c-epochs", c.budget.epochs);
  set("#c-seeds", c.seeds ? c.seeds.join(", ") : "");
  set("#c-curve", c.curve ? c.curve.join(", ") : "");
  set("#c-hardware", c.hardware);
  set("#c-software", c.software);
  set("#c-doi", c.source.doi);
  set("#c-url", c.source.url);
  set("#c-notes", c.source.notes);
  setEditing(c.id);
}

function showResult(stored) {
  const zones = new Map();
  for (const c of stored) zones.set(`${c.task}\u0000${c.optimizer}\u0000${c.zone_budget.key}`, c);
  ui.result.hidden = false;
  replace(ui.result,
    el("strong", {}, `Stored ${stored.length} contribution${stored.length === 1 ? "" : "s"}.`),
    " They show on the zone maps, marked contributed:",
    el("ul", {}, Array.from(zones.values()).map((c) => el("li", {},
      el("a", { href: `/zones/${encodeURIComponent(c.task)}/${encodeURIComponent(c.optimizer)}?budget=${encodeURIComponent(c.zone_budget.key)}`, class: "zone-link" },
        `${c.optimizer} on ${c.task}, ${c.zone_budget.label}`)))));
}

async function submit(ev) {
  ev.preventDefault();
  clearErrors(form);
  setMessage(ui.message, "");
  ui.result.hidden = true;
  const token = tokenValue(ui.token);
  if (!token) { showFieldError(form, "Authorization", "Enter an API token with scope contribute."); return; }
  let request;
  try {
    if (mode === "form" && editing) request = { method: "PATCH", url: `/api/v1/contributions/${encodeURIComponent(editing)}`, json: readForm() };
    else if (mode === "form") request = { url: "/api/v1/contributions", json: readForm() };
    else request = await readUpload();
  } catch (err) {
    showFieldError(form, err.field, err.message);
    return;
  }
  ui.button.disabled = true;
  setMessage(ui.message, "Sending…");
  try {
    // one key per send: a request the browser repeats stores nothing twice
    const answer = await send(request.method || "POST", request.url, { token, json: request.json, body: request.body,
      contentType: request.contentType, idempotencyKey: crypto.randomUUID() });
    const stored = answer.items ? answer.items : [answer];
    const duplicates = answer.duplicates ? answer.duplicates.length : 0;
    setMessage(ui.message, request.method === "PATCH" ? "Saved: the contribution is corrected."
      : duplicates ? `Thank you! ${duplicates} already stored (not stored again).` : "Thank you!", "ok");
    if (stored.length) showResult(stored);
    if (mode === "form") setEditing(stored[0].id);
    document.body.dataset.contributed = String(stored.length);
  } catch (err) {
    let shown = false;
    if (err instanceof ApiError) {
      shown = mode === "form"
        ? showFieldError(form, err.field, err.message)
        : showFieldError(form, err.field === "Authorization" ? "Authorization" : request.where, err.field && err.field !== "Authorization" ? `${err.field}: ${err.message}` : err.message);
    }
    setMessage(ui.message, shown ? "Please fix the field marked above." : err.message, "error");
  } finally {
    ui.button.disabled = false;
  }
}

function selectTab(which) {
  mode = which;
  const isForm = which === "form";
  ui.tabForm.setAttribute("aria-selected", String(isForm));
  ui.tabUpload.setAttribute("aria-selected", String(!isForm));
  ui.tabForm.tabIndex = isForm ? 0 : -1;
  ui.tabUpload.tabIndex = isForm ? -1 : 0;
  ui.panelForm.hidden = !isForm;
  ui.panelUpload.hidden = isForm;
  clearErrors(form);
}

// ---- setup ------------------------------------------------------------------------------------------------------------
for (const t of page.tasks) ui.task.append(el("option", { value: t.name }, t.kind === "contributed" ? `${t.name} (contributed)` : t.name));
ui.task.append(el("option", { value: NEW_TASK }, "+ A new task…"));
ui.task.value = tasks[params.get("task")] ? params.get("task") : "digits-cnn";
for (const o of page.optimizers) ui.optimizer.append(el("option", { value: o.name }, o.name));
ui.optimizer.value = optimizers[params.get("optimizer")] ? params.get("optimizer") : "fsgdm";
bindTokenField(ui.token);
onTask();
onOptimizer();
ui.task.addEventListener("change", onTask);
ui.optimizer.addEventListener("change", onOptimizer);
ui.tabForm.addEventListener("click", () => selectTab("form"));
ui.tabUpload.addEventListener("click", () => selectTab("upload"));
form.addEventListener("submit", submit);
if (params.get("edit")) {
  try { await loadForEdit(params.get("edit")); } catch (err) { setMessage(ui.message, `Cannot edit: ${err.message}`, "error"); }
}
document.body.dataset.ready = "true";
