import {
  type AppendResult,
  EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StoreKind,
  type SubscribeAllOptions,
  type Subscription,
} from '../event-store/event-store.port';

/** One append this server made: what, how long it took, and whether it was stored. */
export interface AppendNotice {
  stream: string;
  events: readonly NewEvent[];
  /** Wall time of the append in seconds, conflicts and failures included. */
  seconds: number;
  /** The result when the events were stored; null when the append threw (nothing was stored). */
  result: AppendResult | null;
}

/**
 * Where this server's appends are announced, in order, after each completes: the one
 * place run lifecycle logs and metrics learn what this server did, without a second
 * subscription to the log (which would decode every output batch again).
 *
 * Listeners run synchronously inside the append's promise chain; one that throws is
 * ignored (it must never turn a stored append into an error).
 */
export class AppendFeed {
  private readonly listeners = new Set<(notice: AppendNotice) => void>();

  /** Calls `listener` for every append from now on; returns the unsubscribe function. */
  listen(listener: (notice: AppendNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(notice: AppendNotice): void {
    for (const listener of this.listeners) {
      try {
        listener(notice);
      } catch {
        // Observation only: the append itself stands.
      }
    }
  }
}

/**
 * The event store as the application sees it: the configured store, with every append
 * timed and announced on an {@link AppendFeed}. Everything else is passed through.
 */
export class ObservedEventStore extends EventStore {
  constructor(
    private readonly inner: EventStore,
    private readonly feed: AppendFeed,
  ) {
    super();
  }

  get kind(): StoreKind {
    return this.inner.kind;
  }

  async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    let result: AppendResult;
    try {
      result = await this.inner.append(stream, events, expected);
    } catch (error) {
      this.feed.publish({ stream, events, seconds: seconds(), result: null });
      throw error;
    }
    this.feed.publish({ stream, events, seconds: seconds(), result });
    return result;
  }

  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.inner.readStream(stream, options);
  }

  deleteStream(stream: string): Promise<void> {
    return this.inner.deleteStream(stream);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  subscribeAll(options?: SubscribeAllOptions): Subscription {
    return this.inner.subscribeAll(options);
  }

  headPosition(): Promise<Position | null> {
    return this.inner.headPosition();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
