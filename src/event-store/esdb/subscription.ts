/**
 * A catch-up subscription to `$all` that survives connection loss.
 *
 * The client's `subscribeToAll` ends with an error when the connection drops (a server
 * restart, a leader change, a network cut) and does not resubscribe. This wrapper does:
 * it remembers the position of the last event it took from the server and, after a
 * transient error, subscribes again from that position. The server's checkpoint is
 * exclusive (it sends the events strictly after it), so nothing is delivered twice, and
 * everything after it is caught up again, so nothing is lost. Events the server had sent
 * but the old subscription had not yet handed over are simply sent again by the new one.
 * As a guard, an event at or before the last position is skipped.
 *
 * Retries wait 100 ms, doubling to 2 s, and go on until the subscription is closed;
 * an error that retrying cannot fix (access denied, a bad filter) ends the iteration
 * by throwing it.
 *
 * Filter checkpoints are not used to move the resume position: the client reports them
 * through a callback that can run before earlier events have been handed over, so a
 * checkpoint could skip an event that was buffered when the connection dropped.
 * Resuming from the last event only re-scans filtered-out events, which the server does
 * quickly.
 */
import { eventTypeFilter, START, streamNameFilter } from '@eventstore/db-client';
import type { AllStreamResolvedEvent, AllStreamSubscription, EventStoreDBClient, Filter } from '@eventstore/db-client';
import { comparePositions, Position, RecordedEvent, Subscription } from '../event-store.port';
import type { FilterPlan, ServerFilter } from './filters';
import { clientError, isTransient, toEsdbPosition, toPortError, toRecordedEvent } from './mapping';

/** How long to wait between resubscription attempts. */
export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 2_000 };

/** gRPC codes that a new attempt may not meet again: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE. */
const RETRYABLE_CODES = new Set([1, 4, 8, 10, 13, 14]);

function canResubscribe(error: unknown): boolean {
  if (isTransient(error)) return true;
  const code = (clientError(error) as { code?: unknown } | null)?.code;
  return typeof code === 'number' && RETRYABLE_CODES.has(code);
}

function clientFilter(server: ServerFilter): Filter {
  const create = server.on === 'streamName' ? streamNameFilter : eventTypeFilter;
  return server.regex !== undefined ? create({ regex: server.regex }) : create({ prefixes: server.prefixes ?? [] });
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

interface Attempt {
  subscription: AllStreamSubscription;
  iterator: AsyncIterator<AllStreamResolvedEvent>;
}

/** The port's {@link Subscription} over EventStoreDB; one consumer at a time. */
export class EsdbSubscription implements Subscription {
  private last: Position | undefined;
  private attempt: Attempt | null = null;
  private closed = false;
  /** Ends a pending retry wait early (on close). */
  private wake: (() => void) | null = null;
  /** Serialises `next()` calls, so two callers never race on one server stream. */
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * @param client the connection
   * @param after exclusive checkpoint; undefined means from the start of the log
   * @param plan the server filter and the local check
   * @param onClose called once when the subscription closes
   */
  constructor(
    private readonly client: EventStoreDBClient,
    after: Position | undefined,
    private readonly plan: FilterPlan,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly onClose: () => void = () => undefined,
  ) {
    this.last = after;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return DONE;
      },
    };
  }

  /** Ends the subscription; a pending `next()` resolves as done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    // Destroying the client's subscription settles a pending iterator.next().
    this.drop();
    this.onClose();
  }

  private next(): Promise<IteratorResult<RecordedEvent>> {
    const result = this.tail.then(() => this.pull());
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async pull(): Promise<IteratorResult<RecordedEvent>> {
    let delay = this.retry.initialDelayMs;
    while (!this.closed) {
      let received: IteratorResult<AllStreamResolvedEvent>;
      try {
        received = await this.subscribe().iterator.next();
        if (this.closed) break;
      } catch (error) {
        if (this.closed) break;
        this.drop();
        if (!canResubscribe(error)) {
          await this.close();
          throw toPortError(error, { operation: 'the $all subscription' });
        }
        await this.wait(delay);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
        continue;
      }
      if (received.done) {
        // The server ended the subscription without an error (it shut down cleanly): resume.
        this.drop();
        await this.wait(delay);
        continue;
      }
      delay = this.retry.initialDelayMs;
      const event = received.value.event;
      if (!event) continue;
      const recorded = toRecordedEvent(event);
      if (this.last && comparePositions(recorded.position, this.last) <= 0) continue;
      this.last = recorded.position;
      if (this.plan.accepts(recorded)) return { done: false, value: recorded };
    }
    return DONE;
  }

  /** The current server subscription, opened from the last position when there is none. */
  private subscribe(): Attempt {
    if (this.attempt) return this.attempt;
    const subscription = this.client.subscribeToAll({
      fromPosition: this.last ? toEsdbPosition(this.last) : START,
      filter: clientFilter(this.plan.server),
    });
    // Errors reach the iterator; this listener only keeps a late error from an abandoned
    // subscription from becoming an uncaught 'error' event.
    subscription.on('error', () => undefined);
    this.attempt = { subscription, iterator: subscription[Symbol.asyncIterator]() };
    return this.attempt;
  }

  private drop(): void {
    const attempt = this.attempt;
    this.attempt = null;
    if (!attempt) return;
    attempt.subscription.unsubscribe().catch(() => undefined);
    attempt.subscription.destroy();
  }

  private async wait(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}
