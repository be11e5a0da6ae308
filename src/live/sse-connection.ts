import type { Request, Response } from 'express';
import { Waker } from './waker';

/** Default time between heartbeats on an idle stream (a comment line, which clients ignore). */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/**
 * A viewer whose connection accepts nothing for this long is disconnected
 * rather than buffered for: its client resumes with `Last-Event-ID` when it
 * can read again.
 */
export const SLOW_VIEWER_MS = 30_000;

/**
 * One open `text/event-stream` answer: writes with backpressure (at most one
 * write waits in memory per viewer), heartbeats, and knows when the client
 * went away.
 */
export class SseConnection {
  readonly waker = new Waker();
  private readonly closeAbort = new AbortController();
  private isClosed = false;
  private lastWriteAt = Date.now();
  /** Set when the viewer was disconnected for being too slow. */
  dropped = false;

  constructor(
    private readonly response: Response,
    private readonly heartbeatMs: number,
  ) {
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-store');
    // Proxies (nginx) must pass events on as they come.
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    // The answer's 'close' comes when the client goes away (or the answer ended); the request's may come earlier.
    response.once('close', () => {
      this.isClosed = true;
      this.closeAbort.abort();
      this.waker.wake();
    });
  }

  /** Aborted once the client went away (or the answer ended): for waits that should stop then. */
  get closing(): AbortSignal {
    return this.closeAbort.signal;
  }

  get closed(): boolean {
    return this.isClosed || this.response.destroyed;
  }

  /** Writes an event (or several); resolves once the connection can take more. */
  async write(chunk: string | Buffer): Promise<void> {
    if (this.closed) return;
    this.lastWriteAt = Date.now();
    if (this.response.write(chunk)) return;
    await this.drained();
  }

  /** Writes several events in one system call (corked); resolves once the connection can take more. */
  async writeAll(chunks: ReadonlyArray<string | Buffer>): Promise<void> {
    if (this.closed || chunks.length === 0) return;
    this.lastWriteAt = Date.now();
    this.response.cork();
    let ready = true;
    for (const chunk of chunks) ready = this.response.write(chunk);
    this.response.uncork();
    if (!ready) await this.drained();
  }

  /** Waits for the client to take what is queued; disconnects it when it takes nothing for {@link SLOW_VIEWER_MS}. */
  private async drained(): Promise<void> {
    const drained = await new Promise<boolean>((resolve) => {
      const done = (result: boolean): void => {
        clearTimeout(timer);
        this.response.off('drain', onDrain);
        this.response.off('close', onClose);
        resolve(result);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(false), SLOW_VIEWER_MS);
      this.response.on('drain', onDrain);
      this.response.on('close', onClose);
    });
    if (!drained && !this.closed) {
      this.dropped = true;
      this.response.destroy();
    }
  }

  /** Milliseconds until the next heartbeat is due. */
  get heartbeatInMs(): number {
    return Math.max(0, this.lastWriteAt + this.heartbeatMs - Date.now());
  }

  /** Sends a heartbeat if nothing was written for a while. */
  async heartbeatIfDue(): Promise<void> {
    if (this.heartbeatInMs === 0) await this.write(`: heartbeat ${new Date().toISOString()}\n\n`);
  }

  /** Finishes the answer normally. */
  end(): void {
    if (!this.closed) this.response.end();
    this.isClosed = true;
    this.closeAbort.abort();
  }
}

/** An SSE message: optional id and event name, and the data split into `data:` lines. */
export function sseMessage(fields: { id?: number | string; event?: string; data?: string }): string {
  let message = '';
  if (fields.id !== undefined) message += `id: ${fields.id}\n`;
  if (fields.event !== undefined) message += `event: ${fields.event}\n`;
  if (fields.data !== undefined) message += `data: ${fields.data.replace(/\r\n|\r|\n/g, '\ndata: ')}\n`;
  return `${message}\n`;
}

/** `Last-Event-ID` (or a query fallback) as a byte offset: a whole number, or undefined when absent. */
export function resumeOffset(request: Request, queryValue: unknown): number | undefined | 'invalid' {
  const header = request.headers['last-event-id'];
  // A repeated `?offset=` is refused, never read as one of its values.
  if (Array.isArray(queryValue)) return 'invalid';
  const raw = (Array.isArray(header) ? header[0] : header) ?? (typeof queryValue === 'string' ? queryValue : undefined);
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\s*\d{1,15}\s*$/.test(raw)) return 'invalid';
  return Number(raw);
}
