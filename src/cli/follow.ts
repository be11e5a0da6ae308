/**
 * Following a run's output live: the server's event stream
 * (`GET /api/runs/:id/output/stream`, docs/API.md "Live output"), resumed
 * after a dropped connection from the last byte received.
 */
import { ApiError, type ApiClient } from './client';

/** The `end` event's data: how the run ended and how much output it has. */
export interface RunEnd {
  status: string;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  outputBytes: number;
  droppedBytes: number;
  durationMs: number | null;
  /** True when the run's output expired under the retention rules (nothing of it is sent), with when and by which rule. */
  outputExpired?: boolean;
  outputExpiredAt?: string;
  outputExpiredBy?: 'keepRuns' | 'age';
}

export interface FollowOptions {
  /** Silence (not even a heartbeat) for this long means the connection is dead: reconnect. The server beats every 15 s. */
  idleMs?: number;
  /** Wait between reconnection attempts, in ms. */
  retryMs?: number;
  /** Attempts in a row that bring nothing before giving up. */
  maxAttempts?: number;
  /**
   * How long a server that does not answer (refused connections, a proxy's 502 or 504, a
   * stopping server's 503: a restart under way) is tried before giving up, in ms, however
   * many attempts that takes; 0: only `maxAttempts`. Counted from the first such attempt,
   * again after any event.
   */
  unreachableMs?: number;
  /** Told once each time the server has not answered for `maxAttempts` attempts and the follower keeps trying. */
  onUnreachable?: (message: string) => void;
}

/** One parsed server-sent event. */
interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * Writes a run's output bytes (exactly, binary included) as they come, until the
 * run ends, and answers the `end` event. A connection that drops, ends early or
 * goes silent is reopened with `Last-Event-ID: <bytes received>`, so nothing is
 * repeated or lost. Refusals (4xx) are thrown as {@link ApiError}; after
 * `maxAttempts` attempts in a row that brought no event, the last error is thrown.
 * A server that answers it is starting (it restarted and rebuilds its read models) is
 * waited for by `api` itself (see `StartWait`), and does not count as an attempt; once
 * `api` stops waiting, its error is thrown. A server that does not answer (see
 * `unreachableMs`) is tried for that long before the attempts count.
 */
export async function followOutput(api: ApiClient, runId: string, write: (bytes: Buffer) => void, options: FollowOptions = {}): Promise<RunEnd> {
  const idleMs = options.idleMs ?? 45_000;
  const retryMs = options.retryMs ?? 1_000;
  const maxAttempts = options.maxAttempts ?? 10;
  const unreachableMs = options.unreachableMs ?? 0;
  let offset = 0;
  let failures = 0;
  /** When the server stopped answering at all (Date.now() ms), while it does not. */
  let silentSince: number | null = null;
  for (;;) {
    let heard = false;
    let problem: ApiError | undefined;
    const abort = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    try {
      // No answer within `idleMs` is silence too; a wait for a starting server between requests is not.
      const response = await api.raw(
        `/api/runs/${encodeURIComponent(runId)}/output/stream`,
        { accept: 'text/event-stream', ...(offset > 0 ? { 'last-event-id': String(offset) } : {}) },
        abort.signal,
        idleMs,
      );
      idle = setTimeout(() => abort.abort(), idleMs);
      if (!response.body) throw new ApiError(0, 'The server sent no stream');
      for await (const event of sseEvents(response.body, () => {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), idleMs);
      })) {
        heard = true;
        if (event.event === 'output') {
          const { offset: start, data } = JSON.parse(event.data) as { offset: number; data: string };
          const bytes = Buffer.from(data, 'base64');
          // Resumed from `offset`: anything before it was written already.
          if (start + bytes.length > offset) write(bytes.subarray(Math.max(0, offset - start)));
          offset = Math.max(offset, start + bytes.length);
        } else if (event.event === 'end') {
          return JSON.parse(event.data) as RunEnd;
        }
      }
      // The answer ended without `end`: the connection was cut. Resume.
    } catch (error) {
      // A refusal will not change by asking again, nor a start `api` waited for as long as it waits; a lost connection
      // or a server error may.
      if (error instanceof ApiError && ((error.status >= 400 && error.status < 500) || error.retryAfterMs !== null)) throw error;
      problem = error instanceof ApiError ? error : new ApiError(0, `Lost the output stream of run ${runId}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(idle);
      abort.abort();
    }
    // Attempts that bring no event count toward giving up (a stream that keeps ending at once included), but a server
    // that does not answer at all is given `unreachableMs` first: it is restarting.
    if (heard) {
      failures = 0;
      silentSince = null;
    } else {
      failures++;
      // No answer from EnderCompute itself: a refused connection, or a proxy's 502/504, or a stopping server's 503.
      const noAnswer = problem !== undefined && (problem.status === 0 || problem.status === 502 || problem.status === 503 || problem.status === 504);
      silentSince = noAnswer ? (silentSince ?? Date.now()) : null;
      const waitingOut = silentSince !== null && Date.now() - silentSince < unreachableMs;
      if (failures >= maxAttempts && !waitingOut) throw problem ?? new ApiError(0, `The output stream of run ${runId} kept ending before the run did`);
      if (failures === maxAttempts) options.onUnreachable?.(problem!.message);
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

/**
 * Parses `text/event-stream` (the WHATWG rules the server's events need:
 * `event`, `id`, multi-line `data`, `:` comments, LF or CRLF); `onBytes` is
 * called for every chunk received, heartbeats included.
 */
async function* sseEvents(body: AsyncIterable<Uint8Array>, onBytes: () => void): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { event: 'message', id: undefined as string | undefined, data: [] as string[] };
  for await (const chunk of body) {
    onBytes();
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (event.data.length > 0) yield { event: event.event, id: event.id, data: event.data.join('\n') };
        event = { event: 'message', id: undefined, data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event.event = value;
      else if (field === 'id') event.id = value;
      else if (field === 'data') event.data.push(value);
    }
  }
}
