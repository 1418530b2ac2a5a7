// The side panel with one point's configuration, metric, seeds and source (fetched on hover, cached).

import { getJSON } from "../lib/api.js";
import { el, replace } from "../lib/dom.js";
import { num } from "../lib/format.js";

const cache = new Map();

function pointUrl(base, id) {
  return base + id.split("/").map(encodeURIComponent).join("/");
}

function sourceBlock(source) {
  if (source.kind === "job") {
    return el("dd", {}, el("a", { href: `/jobs/${encodeURIComponent(source.job)}` }, `job ${source.job}`), `, trial ${source.trial} (${source.sampler})`);
  }
  const parts = [];
  if (source.doi) parts.push(el("div", {}, `doi: ${source.doi}`));
  if (source.url) {
    const safe = /^https?:\/\//i.test(source.url);
    parts.push(el("div", { class: "break" }, safe ? el("a", { href: source.url, rel: "nofollow noopener noreferrer" }, source.url) : source.url));
  }
  if (source.notes) parts.push(el("div", { class: "muted" }, source.notes));
  return el("dd", {}, parts.length ? parts : "–");
}

function render(node, d, metric) {
  const config = Object.entries(d.config || {}).map(([k, v]) => `${k} = ${typeof v === "number" ? num(v, 6) : JSON.stringify(v)}`).join("\n");
  const seeds = d.seeds ? d.seeds.join(", ") : "–";
  const perSeed = d.seed_values ? ` → ${d.seed_values.map((v) => num(v, 4)).join(", ")}` : "";
  replace(node,
    el("p", {}, el("span", { class: `pill origin-${d.origin}` }, d.origin), " ", el("code", {}, d.id)),
    el("dl", { class: "facts" },
      el("dt", {}, metric), el("dd", {}, num(d.value, 6)),
      el("dt", {}, "seeds"), el("dd", {}, seeds + perSeed),
      d.budget && d.budget.epochs ? [el("dt", {}, "epochs"), el("dd", {}, String(d.budget.epochs))] : null,
      el("dt", {}, "source"), sourceBlock(d.source),
      d.hardware ? [el("dt", {}, "hardware"), el("dd", {}, d.hardware)] : null,
      d.software ? [el("dt", {}, "software"), el("dd", {}, d.software)] : null,
      d.verification ? [el("dt", {}, "verification"), el("dd", {}, d.verification.verdict)] : null),
    el("div", { class: "config-list", "aria-label": "configuration" }, config || "(no configuration stored)"));
}

export function pointPanel(node, baseUrl, metric) {
  let wanted = null;
  let timer = null;
  async function show(id) {
    wanted = id;
    try {
      if (!cache.has(id)) cache.set(id, getJSON(pointUrl(baseUrl, id)));
      const details = await cache.get(id);
      if (wanted === id) render(node, details, metric);
    } catch (err) {
      cache.delete(id);
      if (wanted === id) replace(node, el("p", { class: "muted" }, `Could not load ${id}: ${err.message}`));
    }
  }
  return {
    hover(id) { clearTimeout(timer); timer = setTimeout(() => show(id), 120); },
    show,
  };
}
