// The words beside the zone map: the warnings as notes, the zone's volume, and FSGDM's K as a statement.

import { el } from "../lib/dom.js";
import { num, pct } from "../lib/format.js";

const STATUS = {
  ok: ["ok", "status-ok", "the zone is a band of K: K describes it"],
  not_a_level_set: ["not a level set", "status-warn", "the metric is not a function of K: read the zone, not K"],
  too_few_trials: ["too few trials", "status-warn", "K needs more than 8 finished trials (20 or more to be useful)"],
  on_search_boundary: ["on the search boundary", "status-warn", "the zone may continue outside the searched space: widen it"],
};

/** One note per warning; its code is a class and a data attribute (``.zone-warning[data-code=...]``). */
export function warningNotes(warnings) {
  return (warnings || []).map((w) => el("p", { class: `zone-warning warning-${w.code}`, "data-code": w.code, role: "note" },
    el("code", {}, w.code), ": ", w.message));
}

const interval = (iv, f) => (iv ? `[${f(iv[0])}, ${f(iv[1])}]` : "");

/** "12% of the searched space" and its interval, "chance that k random trials land in the zone" per k. */
export function volumeText(zone) {
  const v = zone.volume_fraction;
  const conf = Math.round((v.confidence || 0.95) * 100);
  if (v.estimate === null) {
    const none = "not reported: too few trials to size the zone";
    return { estimate: none, interval: "", short: none, hit: "" };
  }
  return {
    estimate: `${pct(v.estimate)} of the searched space`,
    interval: `${conf}% interval ${interval(v.interval, pct)}`,
    short: `of the searched space; ${conf}% interval ${interval(v.interval, pct)}`,
    hit: `Chance that k random trials land in the zone: ${zone.hit_chance.map((h) => `${h.trials} → ${pct(h.probability)}`).join(", ")}`,
  };
}

/** K's status as a pill with its meaning. */
export function statusNode(status) {
  const [text, cls, meaning] = STATUS[status] || [status, "", ""];
  return [el("span", { class: `pill ${cls}`, "data-status": status }, text), meaning ? ` ${meaning}` : ""];
}

/** lr K with its interval (the effective gain, comparable across learning rates). */
export function lrText(k) {
  if (!k.lr_times_k) return k.lr === null || k.lr === undefined ? "lr varies: lr × K is not reported" : "";
  const f = (x) => num(x, 3);
  return `lr × K = ${f(k.lr_times_k.estimate)} ${interval(k.lr_times_k.interval, f)}${k.lr !== null && k.lr !== undefined ? ` at lr ${num(k.lr, 3)}` : ""}`;
}

/** The published rule as a statement with its lr: never an inside/outside verdict (K scales as 1/lr). */
export function referenceText(k) {
  const r = k.reference;
  if (!r) return "";
  return `FSGDM's README states K = ${r.k} at lr ${r.lr} (lr × K ≈ ${num(r.lr_times_k, 2)}); K scales as 1/lr, so compare lr × K, not K, across learning rates.`;
}

/** How much of the modelled metric K, c and v each explain alone (see zone_explorer.analysis._zone). */
export function levelSetText(diagnostics) {
  const ls = diagnostics && diagnostics.level_set;
  if (!ls) return "";
  const parts = Object.entries(ls.explained).map(([axis, r2]) => `${axis} ${r2 === null ? "–" : num(r2, 2)}`);
  return `Share of the modelled metric, over the whole searched box, explained by each axis alone (leave-one-out R²): ${parts.join(", ")}`;
}
