// Numbers, durations and dates for people.

export function num(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(Math.max(0, digits - 2)).replace("e", "e");
  return Number(x.toPrecision(digits)).toString();
}

export function pct(q) {
  return `${Number((q * 100).toPrecision(3))}%`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const h = Math.floor(s / 3600);
  return `${h} h ${Math.round((s % 3600) / 60)} min`;
}

/** ISO strings without an offset are UTC (the server writes UTC). */
export function parseTime(iso) {
  if (!iso) return null;
  const hasZone = /[zZ]|[+-]\d\d:?\d\d$/.test(iso);
  const d = new Date(hasZone ? iso : `${iso}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function ago(iso) {
  const d = parseTime(iso);
  if (!d) return "";
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return d.toLocaleDateString();
}

/** Turn <time class="js-time" datetime=...> into "3 min ago" with the full date as a tooltip. */
export function humanizeTimes(root = document) {
  for (const t of root.querySelectorAll("time.js-time")) {
    const d = parseTime(t.getAttribute("datetime"));
    if (!d) continue;
    t.title = d.toLocaleString();
    t.textContent = ago(t.getAttribute("datetime"));
  }
}
