// The job page, live: polls the server every 1.5 s while the job is queued or running, without reloading.

import { ApiError, getJSON, query, send } from "../lib/api.js";
import { $, el, pageData, replace } from "../lib/dom.js";
import { clearErrors, setMessage, showFieldError } from "../lib/forms.js";
import { duration, num } from "../lib/format.js";
import { axis, draw, layout, plotText } from "../lib/plot.js";
import { bindTokenField, tokenValue } from "../lib/token.js";
import { LEGEND, drawMap } from "../zone/map.js";
import { volumeText, warningNotes } from "../zone/notes.js";

const POLL_MS = 1500;
const page = pageData();
const ui = {
  status: $("#job-status"), fill: $("#progress-fill"), bar: $("#progress-bar"), finished: $("#stat-finished"),
  running: $("#stat-running"), eta: $("#stat-eta"), best: $("#stat-best"), chips: $("#state-chips"),
  live: $("#live-indicator"), liveText: $("#live-text"), history: $("#history-plot"), curves: $("#curves-plot"),
  zone: $("#job-zone"), zoneNote: $("#job-zone-note"), zoneWarnings: $("#job-zone-warnings"), latest: $("#latest-table"), cancelCard: $("#cancel-card"),
  cancelForm: $("#cancel-form"), cancelMessage: $("#cancel-message"),
};
let zoneFor = null;
let updates = 0;
let timer = null;

function clearPlaceholder(node) {
  const p = node.querySelector(".plot-empty");
  if (p) p.remove();
}

function drawStatus(job) {
  replace(ui.status, el("span", { class: `pill status-${job.status}` }, job.status));
  ui.cancelCard.hidden = !["queued", "running"].includes(job.status);
}

function drawProgress(data) {
  const p = data.progress;
  const n = data.job.n_trials;
  // trials imported without worker claims (e.g. from another study) still count as finished
  const finished = Math.max(p.finished, data.history.n_complete);
  const share = n ? Math.min(1, finished / n) : 0;
  ui.fill.style.width = `${(share * 100).toFixed(1)}%`;
  ui.bar.setAttribute("aria-valuenow", String(finished));
  ui.finished.textContent = `${finished.toLocaleString()} / ${n.toLocaleString()}`;
  ui.running.textContent = String(p.running);
  ui.eta.textContent = data.active ? duration(p.eta_seconds) : "done";
  ui.best.textContent = p.best_value === null ? "–" : num(p.best_value, 5);
  const chips = [];
  for (const [state, count] of Object.entries(p.claims)) chips.push(el("span", { class: "chip" }, el("strong", {}, String(count)), `${state}`));
  for (const [outcome, count] of Object.entries(p.outcomes)) chips.push(el("span", { class: "chip" }, el("strong", {}, String(count)), outcome));
  replace(ui.chips, chips.length ? chips : el("span", { class: "muted small" }, data.active ? "Waiting for a worker to claim the first trial…" : "No trials ran."));
}

function drawHistory(data) {
  const h = data.history;
  if (!h.number.length) return;
  clearPlaceholder(ui.history);
  draw(ui.history, [
    { type: "scatter", mode: "markers", name: "trial", x: h.number, y: h.value, marker: { color: "#3f3cbb", size: 6, opacity: 0.7 },
      hovertemplate: `trial %{x}<br>${plotText(data.metric)}: %{y:.5g}<extra></extra>` },
    { type: "scatter", mode: "lines", name: "best so far", x: h.number, y: h.best, line: { color: "#d55e00", width: 2.5, shape: "hv" },
      hovertemplate: "best so far: %{y:.5g}<extra></extra>" },
  ], layout({ xaxis: axis("trial", { extra: h.number.length <= 12 ? { dtick: 1 } : {} }), yaxis: axis(data.metric), margin: { t: 10 } }));
}

function drawCurves(data) {
  const entries = Object.entries(data.curves).filter(([, pts]) => pts.length);
  if (!entries.length) return;
  clearPlaceholder(ui.curves);
  const n = entries.length;
  const traces = entries.map(([number, pts], i) => ({
    type: "scatter", mode: "lines+markers", name: `trial ${number}`, x: pts.map((p) => p[0]), y: pts.map((p) => p[1]),
    line: { width: 1.5, color: `hsl(${250 - (i / Math.max(1, n - 1)) * 170}, 55%, ${38 + (i / Math.max(1, n - 1)) * 12}%)` },
    marker: { size: 4 }, opacity: 0.85, hovertemplate: `trial ${number}, epoch %{x}: %{y:.5g}<extra></extra>`,
  }));
  draw(ui.curves, traces, layout({ xaxis: axis("epoch", { extra: { dtick: 1 } }), yaxis: axis(data.metric), showlegend: false, margin: { t: 10 } }));
}

function drawZone(data) {
  if (data.zone_unchanged) return;
  if (!data.zone) {
    if (data.zone_error) ui.zoneNote.textContent = data.zone_error;
    return;
  }
  clearPlaceholder(ui.zone);
  const z = data.zone;
  const sized = z.zone && z.zone.volume_fraction.estimate !== null;
  const volume = !z.zone ? "" : sized
    ? ` The zone covers ${volumeText(z.zone).estimate} (${volumeText(z.zone).interval}); ${LEGEND}.`
    : ` The zone's size is not reported yet (too few trials); ${LEGEND}.`;
  ui.zoneNote.textContent = `${z.n_trials} complete trials over ${z.x} × ${z.y}; the map fills in as trials finish.${volume}`;
  replace(ui.zoneWarnings, warningNotes(z.warnings));
  drawMap(ui.zone, { metric: z.metric, direction: z.direction, reference_K: z.reference_K,
    analysis: { zone_map: z.zone_map, zone: z.zone, k: z.k, warnings: z.warnings } });
}

// Where a trial ran: its device in the cell, the rest of its record (GPU or CPU, torch, CUDA, host, Python) on hover.
function ranOn(env) {
  if (!env) return el("td", { class: "muted" }, "–");
  const details = [env.device_name, `torch ${env.torch}`, env.cuda ? `CUDA ${env.cuda}` : null, env.host,
    `Python ${env.python}`, env.requested_device ? `asked for ${env.requested_device}` : null].filter(Boolean);
  return el("td", { class: "device", title: details.join(" · ") }, env.device);
}

function drawLatest(data) {
  if (!data.latest.length) return;
  const params = Array.from(new Set(data.latest.flatMap((t) => Object.keys(t.params))));
  replace(ui.latest,
    el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "state"), el("th", { class: "num" }, data.metric),
      params.map((p) => el("th", { class: "num" }, p)), el("th", {}, "ran on"))),
    el("tbody", {}, data.latest.map((t) => el("tr", {},
      el("td", {}, String(t.number)), el("td", {}, t.state.toLowerCase()), el("td", { class: "num" }, num(t.value, 5)),
      params.map((p) => el("td", { class: "num" }, typeof t.params[p] === "number" ? num(t.params[p], 4) : String(t.params[p] ?? "–"))),
      ranOn(t.environment)))));
}

function setLive(on, text) {
  ui.live.classList.toggle("on", on);
  ui.liveText.textContent = text;
}

async function poll() {
  let data;
  try {
    data = await getJSON(page.api.live + query({ zone_for: zoneFor }));
  } catch (err) {
    setLive(false, `connection lost (${err.message}); retrying…`);
    timer = setTimeout(poll, POLL_MS * 2);
    return;
  }
  drawStatus(data.job);
  drawProgress(data);
  drawHistory(data);
  drawCurves(data);
  drawZone(data);
  drawLatest(data);
  if (!data.zone_unchanged && data.zone) zoneFor = data.zone_for;
  updates += 1;
  document.body.dataset.updates = String(updates);
  document.body.dataset.status = data.job.status;
  document.body.dataset.finished = String(data.progress.finished);
  document.body.dataset.ready = "true";
  if (data.active) {
    setLive(true, `live · updated ${new Date().toLocaleTimeString()}`);
    timer = setTimeout(poll, document.hidden ? POLL_MS * 4 : POLL_MS);
  } else {
    setLive(false, `job ${data.job.status}`);
  }
}

function bindCancel() {
  const input = ui.cancelForm.querySelector("#token");
  bindTokenField(input);
  ui.cancelForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(ui.cancelForm);
    const token = tokenValue(input);
    if (!token) { showFieldError(ui.cancelForm, "Authorization", "Enter a token with scope submit."); return; }
    setMessage(ui.cancelMessage, "Cancelling…");
    try {
      const job = await send("POST", page.api.cancel, { token });
      setMessage(ui.cancelMessage, `Job ${job.status}. Running trials stop within one epoch.`, "ok");
      clearTimeout(timer);
      poll();
    } catch (err) {
      if (!(err instanceof ApiError) || !showFieldError(ui.cancelForm, err.field, err.message)) setMessage(ui.cancelMessage, err.message, "error");
      else setMessage(ui.cancelMessage, "");
    }
  });
}

bindCancel();
poll();
