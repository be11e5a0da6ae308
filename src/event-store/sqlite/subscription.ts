/**
 * The SQLite store's catch-up subscription: pages of stored events read by position as
 * the consumer pulls, then a wait for the store's in-process commit signal.
 *
 * Why there is never a gap or a duplicate at the hand-over: the subscription only ever
 * asks for "events after my cursor", and positions become visible in order (SQLite has
 * one writer at a time, and a transaction's rows appear at its commit). A page read that
 * finds nothing new and the registration with the commit signal happen in the same
 * synchronous turn, and this process's commits happen in other turns, so a commit is
 * either seen by the read or wakes the waiter, which reads again from the cursor.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EventFilter, RecordedEvent, Subscription } from '../event-store.port';
import { toRecordedEvent, type EventRow, type Queries } from './queries';

/** Rows per page: big enough to amortise a query, small enough to bound memory. */
const PAGE_ROWS = 2048;
/** A page also stops after this many characters of JSON, since one event can be ~1 MiB. */
const PAGE_CHARS = 4 * 1024 * 1024;
/**
 * A filtered read scans at most this many positions per page, so a filter that matches
 * rarely cannot hold the event loop for a scan of the whole log.
 */
const SCAN_WINDOW = 16_384n;

/** One page of a subscription's read. */
export interface Page {
  events: RecordedEvent[];
  /** The position the next read continues after. */
  cursor: bigint;
  /** True when the read reached the head of the log as it was at the read. */
  caughtUp: boolean;
}

/** Reads the page of events after `after`, bounded in rows, characters and scanned positions. */
export function readPage(queries: Queries, filter: EventFilter | undefined, after: bigint): Page {
  const head = queries.headPosition.get() as bigint | null;
  if (head === null || head <= after) return { events: [], cursor: after, caughtUp: true };
  const upTo = head - after > SCAN_WINDOW ? after + SCAN_WINDOW : head;
  const { statement, params } = queries.readForwards(filter, after, upTo, PAGE_ROWS);
  const events: RecordedEvent[] = [];
  let chars = 0;
  for (const row of statement.iterate(...params) as IterableIterator<EventRow>) {
    events.push(toRecordedEvent(row));
    chars += row[5].length + row[6].length;
    // Leaving the loop early closes the statement's cursor (for…of calls return()).
    if (events.length === PAGE_ROWS || chars >= PAGE_CHARS) return { events, cursor: row[0], caughtUp: false };
  }
  // Every position up to upTo has been looked at; none of them can still appear later.
  return { events, cursor: upTo, caughtUp: upTo === head };
}

/** Wakes waiting subscriptions after a commit. */
export class CommitSignal {
  private readonly waiters = new Set<() => void>();

  /** Calls `wake` once, at the next commit. */
  wait(wake: () => void): void {
    this.waiters.add(wake);
  }

  cancel(wake: () => void): void {
    this.waiters.delete(wake);
  }

  notify(): void {
    if (this.waiters.size === 0) return;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** What a subscription needs from its store. */
export interface SubscriptionHost {
  /** Reads the next page; throws when the store is closed. */
  readPage(filter: EventFilter | undefined, after: bigint): Page;
  readonly commits: CommitSignal;
  /** The subscription has ended; the store stops tracking it. */
  forget(subscription: SqliteSubscription): void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * A single-use async iterator over `$all`. `next()` answers from the current page
 * without touching SQLite; only when the page is used up is the next one read, so a
 * slow consumer holds at most one page in memory.
 */
export class SqliteSubscription implements Subscription, AsyncIterator<RecordedEvent, undefined> {
  private page: RecordedEvent[] = [];
  private index = 0;
  private cursor: bigint;
  private closed = false;
  private readCount = 0;
  /** next() calls not yet answered; while any is, later calls queue behind it to keep order. */
  private pending = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private wake: (() => void) | null = null;

  constructor(
    private readonly host: SubscriptionHost,
    private readonly filter: EventFilter | undefined,
    after: bigint,
  ) {
    this.cursor = after;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent, undefined> {
    return this;
  }

  next(): Promise<IteratorResult<RecordedEvent, undefined>> {
    if (this.closed) return Promise.resolve(DONE);
    if (this.pending === 0 && this.index < this.page.length) {
      return Promise.resolve({ done: false, value: this.take() });
    }
    this.pending += 1;
    const result = this.tail.then(() => this.pull());
    this.tail = result.catch(() => undefined);
    return result.finally(() => {
      this.pending -= 1;
    });
  }

  /** Called by `for await` on break or throw: ends the subscription. */
  async return(): Promise<IteratorResult<RecordedEvent, undefined>> {
    await this.close();
    return DONE;
  }

  /** Ends the iteration: a waiting or later `next()` reports done. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.page = [];
      this.index = 0;
      if (this.wake) {
        this.host.commits.cancel(this.wake);
        this.wake();
      }
      this.host.forget(this);
    }
    return Promise.resolve();
  }

  private take(): RecordedEvent {
    const event = this.page[this.index];
    this.index += 1;
    return event;
  }

  private async pull(): Promise<IteratorResult<RecordedEvent, undefined>> {
    try {
      return await this.pullOnce();
    } catch (error) {
      // A failed read ends the subscription; the consumer sees the error once.
      await this.close();
      throw error;
    }
  }

  private async pullOnce(): Promise<IteratorResult<RecordedEvent, undefined>> {
    for (;;) {
      if (this.closed) return DONE;
      if (this.index < this.page.length) return { done: false, value: this.take() };
      // Between pages, let timers and I/O run: a replay of a long log must not hold the
      // event loop until it is done. (The first page is read at once.)
      if (this.readCount > 0) {
        await nextTurn();
        if (this.closed) return DONE;
      }
      this.readCount += 1;
      const page = this.host.readPage(this.filter, this.cursor);
      this.cursor = page.cursor;
      this.page = page.events;
      this.index = 0;
      if (page.events.length > 0 || !page.caughtUp) continue;
      // Caught up: register for the next commit in this same turn as the read (see top).
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.host.commits.wait(resolve);
      });
      this.wake = null;
    }
  }
}
