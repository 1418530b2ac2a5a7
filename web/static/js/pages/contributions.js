// The contributions list: withdraw or verify a result with the API token of the form (the API checks ownership and
// scope, and its error is shown as it is); edit opens the contribute form on that row.

import { ApiError, send } from "../lib/api.js";
import { $, $$ } from "../lib/dom.js";
import { setMessage } from "../lib/forms.js";
import { bindTokenField, tokenValue } from "../lib/token.js";

const token = $("#token");
const message = $("#moderate-message");

const ACTIONS = {
  withdraw: { method: "DELETE", path: (id) => `/api/v1/contributions/${encodeURIComponent(id)}`, done: (id) => `Withdrew ${id}.` },
  verify: { method: "POST", path: (id) => `/api/v1/contributions/${encodeURIComponent(id)}/verify`,
    done: (id, c) => `Rerun of ${id} queued as job ${c.verification ? c.verification.job_id : "?"}.` },
};

async function act(button) {
  const action = ACTIONS[button.dataset.action];
  const id = button.dataset.id;
  if (!tokenValue(token)) { setMessage(message, "Enter an API token first.", "error"); token.focus(); return; }
  button.disabled = true;
  setMessage(message, "Sending…");
  try {
    const c = await send(action.method, action.path(id), { token: tokenValue(token), idempotencyKey: crypto.randomUUID() });
    setMessage(message, action.done(id, c), "ok");
    const row = $(`#c-${CSS.escape(id)}`);
    if (c.status === "withdrawn" && row) {
      row.classList.add("withdrawn");
      for (const b of $$("[data-action]", row)) b.remove();
    }
    document.body.dataset.acted = `${button.dataset.action}:${id}`;
  } catch (err) {
    setMessage(message, err instanceof ApiError && err.field ? `${err.field}: ${err.message}` : err.message, "error");
    document.body.dataset.acted = `error:${id}`;
  } finally {
    button.disabled = false;
  }
}

if (token) {
  bindTokenField(token);
  for (const button of $$("button[data-action]")) button.addEventListener("click", () => act(button));
}
document.body.dataset.ready = "true";
