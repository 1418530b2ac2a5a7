// JSON over fetch. Errors carry the API's {error, detail, field}.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `request failed with status ${status}`);
    this.status = status;
    this.error = (body && body.error) || "error";
    this.field = (body && body.field) || null;
  }
}

async function parse(response) {
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text.slice(0, 300) }; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

async function fetchJSON(url, signal) {
  try {
    return await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { error: "network", detail: "cannot reach the server; is it running?" });
  }
}

export async function getJSON(url, { signal } = {}) {
  return parse(await fetchJSON(url, signal));
}

/** getJSON with the answer's X-Data-Version header (null without one): what a poll compares to skip a redraw. */
export async function getVersionedJSON(url, { signal } = {}) {
  const response = await fetchJSON(url, signal);
  return { body: await parse(response), version: response.headers.get("X-Data-Version") };
}

/** send("POST", url, {token, json}) or {token, body, contentType}; an idempotencyKey makes a retried write safe */
export async function send(method, url, { token, json, body, contentType, idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body });
  } catch {
    throw new ApiError(0, { error: "network", detail: "cannot reach the server; is it running?" });
  }
  return parse(response);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const pathPart = (s) => encodeURIComponent(s);
