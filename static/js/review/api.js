// The REST API, and the kinds of failure the page tells apart: offline, logged out, conflict.

const root = document.getElementById("review");
export const API = root.dataset.api;

export class ApiError extends Error {
  constructor(kind, status, body) {
    super(body?.detail || `${kind} (${status})`);
    this.kind = kind; // "network" | "auth" | "conflict" | "invalid" | "forbidden" | "server"
    this.status = status;
    this.body = body;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : root.dataset.csrf;
}

export async function request(method, path, body, { keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
      redirect: "manual",
    });
  } catch (error) {
    throw new ApiError("network", 0, { detail: `network error: ${error.message}` });
  }
  if (response.status === 204) return null;
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = { detail: response.statusText };
  }
  if (response.ok) return payload;
  const detail = String(payload?.detail || "");
  if (response.status === 401 || response.type === "opaqueredirect" || /credentials|CSRF/i.test(detail)) {
    throw new ApiError("auth", response.status, payload);
  }
  if (response.status === 409) throw new ApiError("conflict", 409, payload);
  if (response.status === 403) throw new ApiError("forbidden", 403, payload);
  if (response.status >= 500) throw new ApiError("server", response.status, payload);
  throw new ApiError("invalid", response.status, payload);
}

export const getReview = (id) => request("GET", `keyframes/${id}/review/`);
export const saveAnnotations = (id, body) => request("PUT", `keyframes/${id}/annotations/`, body);
export const markKeyframe = (id, body) => request("POST", `keyframes/${id}/mark/`, body);
export const renewLease = (id) => request("PUT", `keyframes/${id}/lease/`);
export const releaseLease = (id) => request("DELETE", `keyframes/${id}/lease/`, undefined, { keepalive: true });
export const peekQueue = (query) => request("GET", `review/queue/?${query}`);
export const takeQueue = (filters) => request("POST", "review/queue/", filters);
