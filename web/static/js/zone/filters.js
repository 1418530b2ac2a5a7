// Which results the zone shows: one budget (a picker listing every budget with its count), one job or all, the
// origins, and whether disputed contributions count; the disputed results of the budget listed apart.

import { $, $$, el, fillSelect, replace } from "../lib/dom.js";
import { num } from "../lib/format.js";

const ORIGINS = ["explored", "contributed", "verified"];

/** The filters from the page's URL (as the server passed them on); null where not given. */
export function initialFilters(given) {
  const origin = given && given.origin ? given.origin.split(",").filter((o) => ORIGINS.includes(o)) : [];
  return {
    budget: (given && given.budget) || null,
    job: (given && given.job) || null,
    origin: origin.length ? origin : ORIGINS.slice(),
    include_disputed: !!(given && given.include_disputed),
  };
}

/** The query parameters of the filters (only those that differ from the defaults). */
export function filterParams(filters) {
  return {
    budget: filters.budget,
    job: filters.job,
    origin: filters.origin.length < ORIGINS.length ? filters.origin.join(",") : null,
    include_disputed: filters.include_disputed ? "true" : null,
  };
}

/** Bind the controls once: `onChange(filters)` after each change (the filters object is updated in place). */
export function bindFilters(filters, onChange) {
  const budget = $("#budget-picker"), job = $("#job-filter"), disputed = $("#include-disputed");
  const boxes = $$('input[name="origin"]');
  for (const box of boxes) box.checked = filters.origin.includes(box.value);
  disputed.checked = filters.include_disputed;
  budget.addEventListener("change", () => { filters.budget = budget.value || null; onChange(filters); });
  job.addEventListener("change", () => {
    filters.job = job.value || null;
    filters.budget = null;  // a job has one budget: show it
    onChange(filters);
  });
  for (const box of boxes) {
    box.addEventListener("change", () => {
      const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!chosen.length) { box.checked = true; return; }  // at least one origin
      filters.origin = chosen;
      onChange(filters);
    });
  }
  disputed.addEventListener("change", () => { filters.include_disputed = disputed.checked; onChange(filters); });
}

const jobsSeen = new Set();

/** The picker, the job list, the budget shown and the context, from a zone answer. */
export function drawFilters(zone, filters) {
  const picker = $("#budget-picker");
  const budgets = zone.budgets || [];
  fillSelect(picker, budgets.map((b) => ({ value: b.key, label: `${b.label} (${b.count.toLocaleString()} results)` })), zone.budget.key);
  picker.disabled = budgets.length < 2;
  filters.budget = filters.budget && zone.budget.key;  // keep a chosen budget; follow the default otherwise
  for (const j of zone.jobs) jobsSeen.add(j);
  const job = $("#job-filter");
  fillSelect(job, [{ value: "", label: "every job" }, ...Array.from(jobsSeen, (j) => ({ value: j, label: j }))], filters.job || "");
  job.disabled = jobsSeen.size === 0;
  const others = budgets.filter((b) => b.key !== zone.budget.key);
  const context = Object.entries(zone.context || {})
    .map(([k, v]) => `${k} = ${Array.isArray(v) ? v.map((x) => num(x, 4)).join(", ") : num(v, 4)}`);
  replace($("#budget-shown"),
    "Showing the budget ", el("strong", { id: "budget-label" }, zone.budget.label),
    others.length ? ` · ${others.length} other budget${others.length === 1 ? "" : "s"} in the picker` : " · the only budget",
    context.length ? el("span", { class: "muted budget-context" }, ` · run length: ${context.join(", ")} (context, not axes)`) : null);
}

/** The budget's disputed contributions, apart from the zone (hidden when there are none or they are included). */
export function drawDisputed(zone, metric) {
  const card = $("#disputed-card"), table = $("#disputed-table");
  const rows = zone.disputed || [];
  card.hidden = rows.length === 0;
  const names = Array.from(new Set(rows.flatMap((r) => Object.keys(r.config || {}))));
  replace(table,
    el("thead", {}, el("tr", {}, el("th", {}, "result"), el("th", { class: "num" }, metric), names.map((n) => el("th", { class: "num" }, n)))),
    el("tbody", {}, rows.map((r) => el("tr", { class: "disputed", "data-id": r.id },
      el("td", {}, el("span", { class: "pill disputed" }, "disputed"), " ", r.id),
      el("td", { class: "num" }, num(r.value, 5)),
      names.map((n) => el("td", { class: "num" }, typeof r.config[n] === "number" ? num(r.config[n], 4) : String(r.config[n] ?? "–")))))));
}

/** Mark the best list's disputed rows (present when the disputed results are included). */
export function markDisputedBest(table, zone) {
  const disputed = new Set(zone.analysis.best_configs.filter((r) => r.disputed).map((r) => String(r.rank)));
  for (const tr of table.querySelectorAll("tbody tr[data-rank]")) tr.classList.toggle("disputed", disputed.has(tr.dataset.rank));
}
