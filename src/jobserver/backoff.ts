import { setTimeout as delay } from 'node:timers/promises';

/** Backoff between attempts while the server is unreachable: from 200 ms, doubling, at most 5 s. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;

/** Waits between attempts: 200 ms, doubling, at most 5 s; `first` until the first wait of an outage. */
export class Backoff {
  private nextMs = FIRST_RETRY_MS;
  first = true;

  reset(): void {
    this.nextMs = FIRST_RETRY_MS;
    this.first = true;
  }

  /** Waits the next interval, or less when `signal` aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    this.first = false;
    const ms = this.nextMs;
    this.nextMs = Math.min(MAX_RETRY_MS, this.nextMs * 2);
    await delay(ms, undefined, { signal }).catch(() => undefined);
  }
}
