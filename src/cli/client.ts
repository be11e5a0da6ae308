import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalFileError, openLocalBlob } from './local-file';
import { STARTING_HEADER } from '../shared/starting-header';

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
    /** The answer carries {@link STARTING_HEADER}: the server's starting gate answered, and kept nothing of the request. */
    readonly fromStartingGate = false,
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
  /** How long to wait for one start, in ms, whatever the number of requests; 0 does not wait (the 503 is thrown at once). */
  limitMs: number;
  /** Told once a start, with the server's message, when the client first waits for it. */
  onStarting?: (message: string) => void;
}

/** The default {@link StartWait.limitMs}: a rebuild of a long history on EventStoreDB takes minutes. */
export const DEFAULT_START_WAIT_MS = 600_000;
/** Bounds of one wait between attempts, in ms: `Retry-After` as the server asks, but never a busy loop, and a start is watched, not slept through. */
const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

type Body = string | FormData | undefined;

/**
 * A small REST client for the CLI: JSON in, JSON out, errors carry the server's message.
 *
 * A request a starting server answered is sent again once it has started, for at most
 * {@link StartWait.limitMs} from the first such answer until one request succeeds (a
 * start, however many requests the command makes meanwhile). A `GET` is sent again on
 * any `503` with `Retry-After`; any other method only when the answer came from the
 * server's starting gate ({@link STARTING_HEADER}), which kept nothing of it, so a run
 * is never requested twice because a proxy answered 503.
 */
export class ApiClient {
  /** When the start being waited for was first met (Date.now() ms); null while the server answers. */
  private startingSince: number | null = null;
  private toldStarting = false;

  constructor(
    private readonly connection: Connection,
    private readonly version: string,
    private readonly startWait: StartWait = { limitMs: 0 },
  ) {}

  /** How long a start is waited for, in ms ({@link StartWait.limitMs}): a follow gives a restarting server as long. */
  get startWaitLimitMs(): number {
    return this.startWait.limitMs;
  }

  /** The same connection, without waiting for a start: for a question about the server itself (`health`). */
  withoutStartWait(): ApiClient {
    return new ApiClient(this.connection, this.version);
  }

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
   * `answerTimeoutMs`: how long each attempt waits for the answer (its status and
   * headers, and the body of an error) before it fails; the waits for a starting
   * server between attempts do not count.
   */
  async raw(path: string, headers: Record<string, string> = {}, signal?: AbortSignal, answerTimeoutMs?: number): Promise<Response> {
    return this.send('GET', path, undefined, headers, signal, answerTimeoutMs);
  }

  /** {@link sendOnce}, again while the server answers it is starting (see the class). */
  private async send(method: string, path: string, body: Body, headers: Record<string, string>, signal?: AbortSignal, answerTimeoutMs?: number): Promise<Response> {
    for (;;) {
      try {
        const response = await this.sendOnce(method, path, body, headers, signal, answerTimeoutMs);
        this.startingSince = null;
        this.toldStarting = false;
        return response;
      } catch (error) {
        const waitMs = this.waitBeforeSendingAgain(method, error);
        if (waitMs === null || signal?.aborted) throw error;
        // An abort ends the wait; the next attempt then fails at once with it.
        await sleep(waitMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** How long to wait before sending again after `error`, in ms; null: not at all (not a start, not safe to repeat, or waited long enough). */
  private waitBeforeSendingAgain(method: string, error: unknown): number | null {
    if (!(error instanceof ApiError) || error.retryAfterMs === null) return null;
    if (method !== 'GET' && !error.fromStartingGate) return null;
    const now = Date.now();
    this.startingSince ??= now;
    const left = this.startingSince + this.startWait.limitMs - now;
    if (left <= 0) return null;
    if (!this.toldStarting) {
      this.toldStarting = true;
      this.startWait.onStarting?.(error.message);
    }
    return Math.min(Math.max(error.retryAfterMs, MIN_RETRY_MS), MAX_RETRY_MS, left);
  }

  /**
   * One request; a status of 400 or more is thrown as an {@link ApiError} with the server's message.
   *
   * @throws LocalFileError when a file being sent changed or went away since it was opened.
   */
  private async sendOnce(method: string, path: string, body: Body, headers: Record<string, string>, signal?: AbortSignal, answerTimeoutMs?: number): Promise<Response> {
    const all: Record<string, string> = {
      authorization: `Bearer ${this.connection.key}`,
      'user-agent': `endercompute-cli/${this.version}`,
      ...headers,
    };
    if (this.connection.actor) all['x-actor'] = encodeURIComponent(this.connection.actor);
    // This attempt's own signal: `signal` aborts it, request and body, and so does no answer within `answerTimeoutMs`.
    // Only an attempt that succeeds keeps listening to `signal` (for its body): a failed one lets go, or a long wait for a
    // start would pile up listeners on one signal.
    const attempt = new AbortController();
    const abort = (): void => attempt.abort();
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    const answerTimer = answerTimeoutMs === undefined ? undefined : setTimeout(abort, answerTimeoutMs);
    try {
      let response: Response;
      try {
        response = await fetch(new URL(path, this.connection.url), { method, headers: all, body, signal: attempt.signal });
      } catch (error) {
        const cause = error instanceof Error ? (error.cause as Error | undefined) : undefined;
        if (cause?.name === 'NotReadableError') throw new LocalFileError('Cannot read a file being sent: it changed or was removed since the command began');
        throw new ApiError(0, `Cannot reach EnderCompute at ${this.connection.url}: ${cause?.message ?? (error instanceof Error ? error.message : String(error))}`);
      }
      if (response.status >= 400) throw await errorOf(response);
      return response;
    } catch (error) {
      signal?.removeEventListener('abort', abort);
      throw error;
    } finally {
      clearTimeout(answerTimer);
    }
  }
}

/** The {@link ApiError} of an answer of 400 or more, with the message of its body (its status alone if the body is cut off). */
async function errorOf(response: Response): Promise<ApiError> {
  let message: string;
  try {
    const text = await response.text();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // Not JSON: keep the text.
      message = text;
    }
  } catch {
    message = `${response.statusText} (the answer was cut off)`;
  }
  return new ApiError(response.status, `${response.status}: ${message}`, retryAfterMs(response), response.headers.get(STARTING_HEADER) === 'starting');
}

/** A 503's `Retry-After` in seconds (the form EnderCompute sends), in ms; null for any other answer or form. */
function retryAfterMs(response: Response): number | null {
  const header = response.headers.get('retry-after');
  if (response.status !== 503 || header === null || !/^\d{1,5}$/.test(header.trim())) return null;
  return Number(header.trim()) * 1000;
}
