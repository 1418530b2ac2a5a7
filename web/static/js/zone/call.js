// The copy-call calculator: the user's steps per epoch and epochs (prefilled from the task) give the call's
// run-length arguments (FSGDM's sigma and n_stages, AutoSGM's window). The server computes them by the engine's
// own rule (the optimizer profile) and writes the whole call; this module only asks and shows.

import { getJSON, query } from "../lib/api.js";
import { $, el, replace } from "../lib/dom.js";

const FIELDS = ["steps_per_epoch", "epochs"];

export class CallCalculator {
  /** `form` holds an input per field of FIELDS; `defaults` prefill them; `onCall(text)` shows a computed call. */
  constructor(form, { api, defaults, onCall }) {
    this.form = form;
    this.api = api;
    this.onCall = onCall;
    this.row = null;
    this.request = 0;
    this.cache = new Map();
    this.inputs = Object.fromEntries(FIELDS.map((f) => [f, $(`input[name="${f}"]`, form)]));
    for (const f of FIELDS) {
      if (defaults[f]) this.inputs[f].value = String(defaults[f]);
      this.inputs[f].addEventListener("input", () => this.changed());
    }
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.show(this.row); });
    form.hidden = false;
    this.timer = null;
  }

  changed() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.show(this.row), 250);
  }

  values() {
    return Object.fromEntries(FIELDS.map((f) => [f, this.inputs[f].value]));
  }

  /** The call for `row` with the run length typed now (cached per row and run length). */
  callFor(row) {
    const config = row.config || row.params || {};
    const url = this.api + query({ config: JSON.stringify(config), ...this.values() });
    if (!this.cache.has(url)) {
      const answer = getJSON(url);
      answer.catch(() => this.cache.delete(url));
      this.cache.set(url, answer);
    }
    return this.cache.get(url);
  }

  /** Compute and show `row`'s call, or say which field is wrong. */
  async show(row) {
    if (!row) return;
    this.row = row;
    const id = ++this.request;
    // a contributed task states no steps per epoch: ask for them rather than send a request bound to be refused
    const missing = FIELDS.filter((f) => !this.inputs[f].value.trim());
    if (missing.length) {
      this.clearErrors();
      delete this.form.dataset.computed;
      this.form.dataset.missing = missing.join(",");
      replace($("#call-run-length", this.form),
        el("dd", { class: "muted" }, `Enter ${missing.map((f) => f.replaceAll("_", " ")).join(" and ")} to compute them.`));
      return;
    }
    delete this.form.dataset.missing;
    let answer;
    try {
      answer = await this.callFor(row);
    } catch (err) {
      if (id === this.request) this.fail(err);
      return;
    }
    if (id !== this.request) return;
    this.clearErrors();
    replace($("#call-run-length", this.form), Object.entries(answer.run_length).flatMap(([name, value]) => [
      el("dt", {}, name), el("dd", { "data-param": name }, String(value))]));
    this.form.dataset.computed = JSON.stringify(answer.run_length);
    this.onCall(answer.call);
  }

  clearErrors() {
    for (const f of FIELDS) {
      const box = this.inputs[f].closest(".field");
      box.classList.remove("invalid");
      box.querySelector(".field-error").hidden = true;
    }
    delete this.form.dataset.invalid;
  }

  fail(err) {
    this.clearErrors();
    const field = FIELDS.includes(err.field) ? err.field : FIELDS[0];
    const box = this.inputs[field].closest(".field");
    box.classList.add("invalid");
    const message = box.querySelector(".field-error");
    message.hidden = false;
    message.textContent = `${field}: ${err.message}`;
    this.form.dataset.invalid = field;
  }
}
