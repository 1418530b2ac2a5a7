// Home: fill the tasks x optimizers grid from the zone summary API, a few cells at a time.

import { getJSON, pathPart } from "../lib/api.js";
import { $$, replace } from "../lib/dom.js";
import { num } from "../lib/format.js";

const PARALLEL = 3;

async function fillCell(cell) {
  const { task, optimizer } = cell.dataset;
  const count = cell.querySelector(".cell-count");
  const best = cell.querySelector(".cell-best");
  const k = cell.querySelector(".cell-k");
  try {
    const s = await getJSON(`/pages-api/zones/${pathPart(task)}/${pathPart(optimizer)}/summary`);
    if (s.empty) {
      cell.classList.add("no-zone");
      replace(count, "too few results");
      replace(best, "a zone needs 2");
      cell.title = s.detail;
      return;
    }
    const c = s.counts || {};
    const extra = (c.contributed || 0) + (c.verified || 0);
    replace(count, `${s.n_results.toLocaleString()} result${s.n_results === 1 ? "" : "s"}`);
    if (extra) count.title = `${c.explored || 0} explored, ${c.contributed || 0} contributed, ${c.verified || 0} verified`;
    const top = s.best_configs && s.best_configs[0];
    replace(best, top ? `best ${num(top.value, 4)}` : "");
    if (k) {
      const zk = s.k;
      replace(k, zk && zk.estimate !== null ? `K ≈ ${num(zk.estimate, 3)}` : zk ? `K: ${zk.status.replace(/_/g, " ")}` : "");
      if (zk && zk.lr_times_k) k.title = `lr × K ≈ ${num(zk.lr_times_k.estimate, 3)}${zk.lr ? ` at lr ${zk.lr}` : ""}`;
    }
    if (s.warnings && s.warnings.length) {
      cell.dataset.warnings = s.warnings.map((w) => w.code).join(" ");
      cell.title = s.warnings.map((w) => `${w.code}: ${w.message}`).join("\n");
    }
  } catch (err) {
    cell.classList.add("no-zone");
    replace(count, "unavailable");
    replace(best, "");
    cell.title = err.message;
  }
}

async function fillAll() {
  const queue = $$(".cell.has-data");
  const workers = Array.from({ length: PARALLEL }, async () => {
    while (queue.length) await fillCell(queue.shift());
  });
  await Promise.all(workers);
  document.body.dataset.ready = "true";
}

fillAll();
