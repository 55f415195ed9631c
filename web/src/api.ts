import type { FieldError } from "./types";

// Sign-in: the POS opens the dashboard as /#token=<jwt>. The token moves to sessionStorage (gone when the
// tab closes) and out of the address bar; every request carries it as a bearer header, no cookies.
const tokenKey = "caps-backup.token";

export function takeTokenFromAddress(): void {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(tokenKey, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

export function token(): string | null {
  return sessionStorage.getItem(tokenKey);
}

/** An answer other than 2xx, with the API's own words. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly fields: FieldError[] = []) {
    super(message);
  }
}

type Listener = (error: ApiError) => void;
let authListener: Listener = () => {};
/** 401 and 403 replace the whole dashboard with their page (App). */
export function onAuthProblem(listener: Listener): void {
  authListener = listener;
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = "http_" + response.status;
  let message = `The service answered ${response.status} ${response.statusText}.`;
  let fields: FieldError[] = [];
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      fields = body.error.fields ?? [];
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message, fields);
}

export async function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: authHeaders(body === undefined ? headers : { "Content-Type": "application/json", ...headers }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The backup service cannot be reached. Check that the store server is on, then try again.");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 || response.status === 403) authListener(error);
    throw error;
  }
  return response;
}

export async function get<T>(path: string): Promise<T> {
  return (await request("GET", path)).json() as Promise<T>;
}

export async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await request(method, path, body);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** A request of the fresh-install wizard: the one-time setup code instead of a sign-in (a new store has no POS users). */
export async function setupFetch(path: string, code: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, cache: "no-store", headers: { ...(init.headers as Record<string, string>), Authorization: `Setup ${code}` } });
  } catch {
    throw new ApiError(0, "network", "The backup service cannot be reached. Check that the store server is on, then try again.");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** GET that answers null for a route this server does not have yet (404), so pages degrade. */
export async function optional<T>(path: string): Promise<T | null> {
  try {
    return await get<T>(path);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

export interface StreamEvent { event: string; data: unknown }

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send the bearer header), calling
 * `onEvent` for each event until the server closes the stream or `signal` aborts it.
 */
export async function readEvents(path: string, onEvent: (event: StreamEvent) => void, signal?: AbortSignal,
                                 headers?: Record<string, string>): Promise<void> {
  const response = await fetch(path, { headers: { ...(headers ?? authHeaders()), Accept: "text/event-stream" }, signal, cache: "no-store" });
  if (!response.ok) {
    const error = await errorFrom(response);
    // Only the sign-in's own refusals end the session; other credentials (the setup code) are the caller's.
    if (!headers && (response.status === 401 || response.status === 403)) authListener(error);
    throw error;
  }
  if (!response.body) throw new ApiError(0, "stream", "This browser cannot read the live progress.");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent({ event, data: JSON.parse(data.join("\n")) });
    }
  }
}
