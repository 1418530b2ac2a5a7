// The best configurations as a table; each row's copy-ready constructor call below it.

import { clear, el, replace } from "../lib/dom.js";
import { num } from "../lib/format.js";

let current = null;

function filterLink(optimizer, task, config) {
  const q = new URLSearchParams({ optimizer, task });
  for (const [k, v] of Object.entries(config || {})) if (typeof v === "number" || typeof v === "boolean") q.set(k, v);
  return `/filters?${q.toString()}`;
}

async function copy(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const area = el("textarea", { class: "visually-hidden" });
    area.value = text;
    document.body.append(area);
    area.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
  }
  const before = button.textContent;
  button.textContent = ok ? "Copied ✓" : "Select and copy";
  setTimeout(() => { button.textContent = before; }, 1500);
}

function showCall(panel, text) {
  replace(panel.querySelector("#snippet-code"), text);
  current = text;
}

/** `calls` (a CallCalculator, or null) rewrites the call with the user's run length once it is computed. */
function showSnippet(panel, row, snippet, calls) {
  panel.hidden = false;
  replace(panel.querySelector("#snippet-title"), `Rank ${row.rank} · ${row.id}`);
  showCall(panel, snippet);
  if (calls) calls.show(row);
}

/** The text a row's "Copy call" copies: with the calculator, the call for the run length typed (null while the
 * run length is invalid: the calculator says why). */
async function callText(row, snippet, calls) {
  if (!calls) return snippet;
  try {
    return (await calls.callFor(row)).call;
  } catch {
    return null;
  }
}

export function drawBest(table, panel, zone, snippets, taskName, calls = null) {
  if (calls) calls.onCall = (text) => showCall(panel, text);
  const rows = zone.analysis.best_configs;
  const params = Array.from(new Set(rows.flatMap((r) => Object.keys(r.params))));
  const hasK = rows.some((r) => r.derived && r.derived.K !== undefined);
  clear(table);
  if (!rows.length) {
    table.append(el("tbody", {}, el("tr", {}, el("td", { class: "muted" }, "No results yet."))));
    panel.hidden = true;
    return;
  }
  table.append(el("thead", {}, el("tr", {},
    el("th", {}, "#"), el("th", { class: "num" }, zone.metric), el("th", {}, "origin"),
    params.map((p) => el("th", { class: "num" }, p)), hasK ? el("th", { class: "num" }, "K") : null,
    el("th", {}, ""))));
  const body = el("tbody");
  rows.forEach((row, i) => {
    const copyBtn = el("button", { type: "button", class: "btn small", "data-rank": row.rank }, "Copy call");
    copyBtn.addEventListener("click", async (ev) => {
      ev.stopPropagation();
      showSnippet(panel, row, snippets[i], calls);
      const text = await callText(row, snippets[i], calls);
      if (text !== null) copy(text, copyBtn);
    });
    const tr = el("tr", { "data-rank": row.rank },
      el("td", {}, String(row.rank)),
      el("td", { class: "num" }, num(row.value, 5)),
      el("td", {}, el("span", { class: `pill origin-${row.origin}` }, row.origin)),
      params.map((p) => el("td", { class: "num" }, p in row.params ? num(row.params[p], 4) : "–")),
      hasK ? el("td", { class: "num" }, row.derived && row.derived.K !== undefined ? num(row.derived.K, 4) : "–") : null,
      el("td", { class: "copy-cell" }, copyBtn, " ",
        el("a", { class: "btn small ghost", href: filterLink(zone.optimizer, taskName, row.config || row.params) }, "Filter")));
    tr.addEventListener("click", () => {
      for (const other of body.querySelectorAll("tr.selected")) other.classList.remove("selected");
      tr.classList.add("selected");
      showSnippet(panel, row, snippets[i], calls);
    });
    body.append(tr);
  });
  table.append(body);
  body.firstChild.classList.add("selected");
  showSnippet(panel, rows[0], snippets[0], calls);
  const button = panel.querySelector("#copy-snippet");
  if (!button.dataset.bound) {
    button.dataset.bound = "1";
    button.addEventListener("click", () => current && copy(current, button));
  }
}
