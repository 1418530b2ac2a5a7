// Submit a job: the form posts to the REST API with the token; errors show at the field the API names.

import { ApiError, send } from "../lib/api.js";
import { $, fillSelect, pageData, replace } from "../lib/dom.js";
import { clearErrors, parseIntList, setMessage, showFieldError } from "../lib/forms.js";
import { bindTokenField, tokenValue } from "../lib/token.js";

const page = pageData();
const params = new URLSearchParams(location.search);
const form = $("#submit-form");
const ui = { token: $("#token"), task: $("#s-task"), optimizer: $("#s-optimizer"), trials: $("#s-trials"), epochs: $("#s-epochs"),
  seeds: $("#s-seeds"), sampler: $("#s-sampler"), pruner: $("#s-pruner"), samplerSeed: $("#s-sampler-seed"), space: $("#s-space"),
  message: $("#submit-message"), button: $("#submit-button"), taskHint: $("#s-task-hint"), optHint: $("#s-optimizer-hint") };
const optimizers = Object.fromEntries(page.optimizers.map((o) => [o.name, o]));
const tasks = Object.fromEntries(page.tasks.map((t) => [t.name, t]));
let spaceEdited = false;

function defaultSpace(name) {
  const { params: ps, reparametrization } = optimizers[name].default_space;
  return JSON.stringify(reparametrization ? { reparametrization, params: ps } : { params: ps }, null, 2);
}

function onOptimizer() {
  const opt = optimizers[ui.optimizer.value];
  replace(ui.optHint, opt.description);
  if (!spaceEdited) ui.space.value = defaultSpace(opt.name);
}

function onTask() {
  const t = tasks[ui.task.value];
  replace(ui.taskHint, t ? `${t.metric} (${t.direction}) · ${t.default_epochs ?? "?"} epochs by default` : "");
  ui.epochs.placeholder = t && t.default_epochs ? `${t.default_epochs} (task default)` : "task default";
}

function readJob() {
  const job = { task: ui.task.value, optimizer: ui.optimizer.value, sampler: ui.sampler.value, pruner: ui.pruner.value };
  const fail = (field, message) => { const e = new Error(message); e.field = field; throw e; };
  const trials = ui.trials.value.trim();
  if (!/^\d+$/.test(trials)) fail("n_trials", "Enter a whole number of trials (at least 1).");
  job.n_trials = Number(trials);
  if (ui.epochs.value.trim()) {
    if (!/^\d+$/.test(ui.epochs.value.trim())) fail("epochs", "Enter a whole number of epochs, or leave it empty for the task's default.");
    job.epochs = Number(ui.epochs.value.trim());
  }
  try { job.seeds = parseIntList(ui.seeds.value); } catch (err) { fail("seeds", err.message); }
  if (!job.seeds.length) fail("seeds", "Give at least one seed, e.g. 0.");
  if (ui.samplerSeed.value.trim()) job.sampler_seed = Number(ui.samplerSeed.value.trim());
  const text = ui.space.value.trim();
  if (text) {
    try { job.space = JSON.parse(text); } catch (err) { fail("space", `Not valid JSON: ${err.message}`); }
  }
  return job;
}

async function submit(ev) {
  ev.preventDefault();
  clearErrors(form);
  setMessage(ui.message, "");
  const token = tokenValue(ui.token);
  if (!token) { showFieldError(form, "Authorization", "Enter an API token with scope submit."); return; }
  let job;
  try { job = readJob(); } catch (err) { showFieldError(form, err.field, err.message); return; }
  ui.button.disabled = true;
  setMessage(ui.message, "Submitting…");
  try {
    const created = await send("POST", "/api/v1/jobs", { token, json: job });
    setMessage(ui.message, `Job ${created.id} queued. Opening its page…`, "ok");
    document.body.dataset.submitted = created.id;
    location.assign(`/jobs/${encodeURIComponent(created.id)}`);
  } catch (err) {
    ui.button.disabled = false;
    const shown = err instanceof ApiError && showFieldError(form, err.field, err.message);
    setMessage(ui.message, shown ? "Please fix the field marked above." : err.message, "error");
  }
}

fillSelect(ui.task, page.tasks.filter((t) => t.kind !== "contributed").map((t) => t.name), tasks[params.get("task")] ? params.get("task") : "noisy-quadratic");
fillSelect(ui.optimizer, page.optimizers.map((o) => o.name), optimizers[params.get("optimizer")] ? params.get("optimizer") : "fsgdm");
bindTokenField(ui.token);
onTask();
onOptimizer();
ui.task.addEventListener("change", onTask);
ui.optimizer.addEventListener("change", () => { spaceEdited = false; onOptimizer(); });
ui.space.addEventListener("input", () => { spaceEdited = true; });
$("#reset-space").addEventListener("click", () => { spaceEdited = false; onOptimizer(); });
form.addEventListener("submit", submit);
document.body.dataset.ready = "true";
