import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLocalBlob } from './local-file';

/** Where the CLI talks to, with which key and name. */
export interface Connection {
  url: string;
  key: string;
  actor: string | null;
}

/** An answer other than the expected one, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** A 503 with `Retry-After` (a server that is starting): how long it asks to wait, in ms; null otherwise. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * How the client treats a server that answers it is starting (a restart that rebuilds
 * its read models: `503` with `Retry-After`, docs/API.md "Errors").
 */
export interface StartWait {
  /** How long to wait for it in all, in ms; 0 does not wait (the 503 is thrown at once). */
  limitMs: number;
  /** Told once per client, with the server's message, when it first waits. */
  onStarting?: (message: string) => void;
}

/** The default {@link StartWait.limitMs}: a rebuild of a long history on EventStoreDB takes minutes. */
export const DEFAULT_START_WAIT_MS = 600_000;
/** Bounds of one wait between attempts, in ms: `Retry-After` as the server asks, but never a busy loop, and a start is watched, not slept through. */
const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * A small REST client for the CLI: JSON in, JSON out, errors carry the server's message.
 * A request a starting server answered is sent again once it has started (see
 * {@link StartWait}): the server keeps nothing of a request it answers so, so even a
 * `POST` is safe to repeat.
 */
export class ApiClient {
  private toldStarting = false;

  constructor(
    private readonly connection: Connection,
    private readonly version: string,
    private readonly startWait: StartWait = { limitMs: 0 },
  ) {}

  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    });
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Sends files (and text fields) as multipart/form-data, field `file`. */
  async multipart<T>(method: string, path: string, files: string[], fields: Record<string, string> = {}): Promise<T> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    // Read from disk as the request is sent, never held in memory whole.
    for (const file of files) form.append('file', await openLocalBlob(file), basename(file));
    const response = await this.send(method, path, form, {});
    return (await response.json()) as T;
  }

  /**
   * The raw response (for output bytes, or a live stream to read as it comes),
   * after checking its status; `signal` aborts the request and its body;
   * `answerTimeoutMs`: how long each attempt waits for the answer's status and
   * headers before it fails (the waits for a starting server between attempts do
   * not count).
   */
  async raw(path: string, headers: Record<string, string> = {}, signal?: AbortSignal, answerTimeoutMs?: number): Promise<Response> {
    return this.send('GET', path, undefined, headers, signal, answerTimeoutMs);
  }

  /** {@link sendOnce}, again while the server answers it is starting, for at most {@link StartWait.limitMs} in all. */
  private async send(
    method: string,
    path: string,
    body: string | FormData | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
    answerTimeoutMs?: number,
  ): Promise<Response> {
    const deadline = Date.now() + this.startWait.limitMs;
    for (;;) {
      try {
        return await this.sendOnce(method, path, body, headers, signal, answerTimeoutMs);
      } catch (error) {
        const retryAfterMs = error instanceof ApiError ? error.retryAfterMs : null;
        if (retryAfterMs === null || signal?.aborted) throw error;
        const waitMs = Math.min(Math.max(retryAfterMs, MIN_RETRY_MS), MAX_RETRY_MS);
        if (Date.now() + waitMs > deadline) throw error;
        if (!this.toldStarting) {
          this.toldStarting = true;
          this.startWait.onStarting?.((error as ApiError).message);
        }
        // An abort ends the wait; the next attempt then fails at once with it.
        await sleep(waitMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** One request; a status of 400 or more is thrown as an {@link ApiError} with the server's message. */
  private async sendOnce(
    method: string,
    path: string,
    body: string | FormData | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
    answerTimeoutMs?: number,
  ): Promise<Response> {
    const all: Record<string, string> = {
      authorization: `Bearer ${this.connection.key}`,
      'user-agent': `endercompute-cli/${this.version}`,
      ...headers,
    };
    if (this.connection.actor) all['x-actor'] = encodeURIComponent(this.connection.actor);
    // This attempt's own signal: `signal` aborts it, request and body, and so does no answer within `answerTimeoutMs`.
    const attempt = new AbortController();
    const abort = (): void => attempt.abort();
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    const answerTimer = answerTimeoutMs === undefined ? undefined : setTimeout(abort, answerTimeoutMs);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.connection.url), { method, headers: all, body, signal: attempt.signal });
    } catch (error) {
      throw new ApiError(0, `Cannot reach EnderCompute at ${this.connection.url}: ${error instanceof Error ? (error.cause as Error | undefined)?.message ?? error.message : String(error)}`);
    } finally {
      clearTimeout(answerTimer);
    }
    if (response.status >= 400) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // Not JSON: keep the text.
      }
      throw new ApiError(response.status, `${response.status}: ${message}`, retryAfterMs(response));
    }
    return response;
  }
}

/** A 503's `Retry-After` in seconds (the form EnderCompute sends), in ms; null for any other answer or form. */
function retryAfterMs(response: Response): number | null {
  const header = response.headers.get('retry-after');
  if (response.status !== 503 || header === null || !/^\d{1,5}$/.test(header.trim())) return null;
  return Number(header.trim()) * 1000;
}
