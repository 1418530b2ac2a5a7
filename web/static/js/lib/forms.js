// Validation errors next to the field the API names (its error JSON has `field`, e.g. "config.lr").

import { $$ } from "./dom.js";

export function clearErrors(form) {
  for (const node of $$(".field-error", form)) {
    node.textContent = "";
    node.hidden = true;
  }
  for (const node of $$(".invalid", form)) node.classList.remove("invalid");
}

/** The container for a field path: the longest [data-field] prefix of it ("config.lr" -> config.lr, else config). */
export function fieldContainer(form, field) {
  if (!field) return null;
  const containers = $$("[data-field]", form);
  const names = new Map(containers.map((c) => [c.dataset.field, c]));
  let path = field.replace(/\[\d+\]/g, "");
  if (path === "Authorization") return names.get("Authorization") || null;
  while (path) {
    if (names.has(path)) return names.get(path);
    const cut = Math.max(path.lastIndexOf("."), 0);
    path = path.slice(0, cut);
  }
  return null;
}

/** Show `message` at the field (or return false when no container matches, for a form-level message). */
export function showFieldError(form, field, message) {
  const container = fieldContainer(form, field);
  if (!container) return false;
  const slot = Array.from(container.children).find((c) => c.classList.contains("field-error"));
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  container.classList.add("invalid");
  const input = container.querySelector("input, select, textarea");
  if (input && typeof input.focus === "function") input.focus({ preventScroll: false });
  return true;
}

export function setMessage(node, text, kind = "") {
  node.textContent = text;
  node.className = `form-message ${kind}`.trim();
}

/** "0, 1 2" -> [0, 1, 2]; throws on anything that is not an integer. */
export function parseIntList(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  return parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new Error(`"${p}" is not an integer`);
    return Number(p);
  });
}

export function parseNumberList(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  return parts.map((p) => {
    const x = Number(p);
    if (!Number.isFinite(x)) throw new Error(`"${p}" is not a number`);
    return x;
  });
}
