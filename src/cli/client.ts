import { basename } from 'node:path';
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

/** A small REST client for the CLI: JSON in, JSON out, errors carry the server's message. */
export class ApiClient {
  constructor(
    private readonly connection: Connection,
    private readonly version: string,
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
   * after checking its status; `signal` aborts the request and its body.
   */
  async raw(path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    return this.send('GET', path, undefined, headers, signal);
  }

  private async send(method: string, path: string, body: string | FormData | undefined, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const all: Record<string, string> = {
      authorization: `Bearer ${this.connection.key}`,
      'user-agent': `endercompute-cli/${this.version}`,
      ...headers,
    };
    if (this.connection.actor) all['x-actor'] = encodeURIComponent(this.connection.actor);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.connection.url), { method, headers: all, body, signal });
    } catch (error) {
      throw new ApiError(0, `Cannot reach EnderCompute at ${this.connection.url}: ${error instanceof Error ? (error.cause as Error | undefined)?.message ?? error.message : String(error)}`);
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
