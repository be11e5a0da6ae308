/**
 * The EventStoreDB adapter of the event store port, over `@eventstore/db-client`.
 *
 * - Appends are JSON events (data and metadata), with the port's event ids, and the
 *   expected revision mapped to the client's (`exists` is its `stream_exists`). A wrong
 *   expected version becomes {@link StreamConflictError} with the server's actual
 *   revision. An append over the server's maximum size (1 MiB by default) becomes
 *   {@link AppendTooLargeError}. Re-appending the same event ids at the same expected
 *   revision succeeds without writing twice: EventStoreDB's idempotent writes. That is
 *   also why appends and reads are sent again (twice at most) when the connection was
 *   lost or reset, as after a server restart (see `esdb/retry.ts`).
 * - `$all` reads and subscriptions never return system events (`$`-streams): they are
 *   filtered out by the server, together with as much of the port filter as the server
 *   can express, and the rest is checked here (see `esdb/filters.ts`).
 * - Positions are the server's commit and prepare positions, unchanged.
 * - Subscriptions resubscribe after a dropped connection from the last event they
 *   delivered, without loss or duplicates (see `esdb/subscription.ts`).
 * - The connection is lazy: {@link EsdbEventStore.connect} does not contact the server;
 *   the first operation (or {@link EsdbEventStore.ping}) does.
 */
import { ANY, END, EventStoreDBClient, jsonEvent, MaxAppendSizeExceededError, START, StreamDeletedError, StreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client';
import type { JSONType } from '@eventstore/db-client';
import { redactConnectionString } from '../config/connection-string';
import {
  AppendResult,
  comparePositions,
  EventStore,
  EventStoreUnavailableError,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamConflictError,
  SubscribeAllOptions,
  Subscription,
} from './event-store.port';
import { readAllFiltered } from './esdb/filtered-read';
import { NON_SYSTEM_STREAMS, planFilter } from './esdb/filters';
import { AppendTooLargeError, clientError, sizeOnDisk, toExpectedRevision, toPortError, toRecordedEvent } from './esdb/mapping';
import { withRetries } from './esdb/retry';
import { DEFAULT_RETRY, EsdbSubscription, RetryPolicy } from './esdb/subscription';

export { AppendTooLargeError } from './esdb/mapping';

/** Tuning for {@link EsdbEventStore.connect}; the defaults suit production. */
export interface EsdbEventStoreOptions {
  /** How long {@link EsdbEventStore.ping} waits for the server (default 3000 ms). */
  pingTimeoutMs?: number;
  /** Waits between resubscription attempts (default 100 ms doubling to 2 s). */
  resubscribe?: RetryPolicy;
}

/** The most events one read asks for: the client's own "no limit". */
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** An event's data or metadata as JSON text, or a TypeError naming the event when it is not JSON-serialisable. */
function jsonText(stream: string, event: NewEvent, part: 'data' | 'metadata'): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(event[part]) as string | undefined;
  } catch (error) {
    throw new TypeError(`The ${part} of event ${event.id} (${event.type}) for ${stream} is not JSON-serialisable: ${(error as Error).message}`, { cause: error });
  }
  if (typeof text !== 'string') throw new TypeError(`The ${part} of event ${event.id} (${event.type}) for ${stream} is not JSON-serialisable`);
  return text;
}

/**
 * The client's parse errors quote the whole connection string, credentials included;
 * this says the same without them.
 */
function invalidConnectionString(connectionString: string, error: unknown): Error {
  const parse = error as { location?: [number, number]; expected?: string; message?: string };
  const redacted = redactConnectionString(connectionString);
  const detail = parse.location && parse.expected
    ? `expected ${parse.expected} at character ${parse.location[0] + 1}`
    : String(parse.message ?? error).split(connectionString).join(redacted);
  return new Error(`The EventStoreDB connection string ${redacted} is invalid: ${detail}`);
}

/** The port over an EventStoreDB server or cluster. */
export class EsdbEventStore extends EventStore {
  readonly kind = 'eventstoredb' as const;
  private readonly subscriptions = new Set<EsdbSubscription>();
  private closed = false;

  private constructor(
    private readonly client: EventStoreDBClient,
    private readonly options: Required<EsdbEventStoreOptions>,
  ) {
    super();
  }

  /**
   * Creates the store from an EventStoreDB connection string
   * (e.g. `esdb://localhost:2113?tls=false`). Synchronous: it only parses the string
   * (and throws if it is invalid, with the credentials left out of the message); the
   * connection opens on first use.
   */
  static connect(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
    let client: EventStoreDBClient;
    try {
      client = EventStoreDBClient.connectionString(connectionString);
    } catch (error) {
      throw invalidConnectionString(connectionString, error);
    }
    return new EsdbEventStore(client, {
      pingTimeoutMs: options.pingTimeoutMs ?? 3_000,
      resubscribe: options.resubscribe ?? DEFAULT_RETRY,
    });
  }

  override async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    this.assertOpen();
    if (events.length === 0) return this.appendNothing(stream, expected);
    // Serialise here first: the client stringifies inside a promise executor, where a
    // throw (a bigint, a cycle) would never reach this caller.
    const size = events.reduce((sum, event) => sum + sizeOnDisk(event.type, jsonText(stream, event, 'data'), jsonText(stream, event, 'metadata')), 0);
    const payload = events.map((event) =>
      jsonEvent({ id: event.id, type: event.type, data: event.data as JSONType, metadata: event.metadata as unknown as JSONType }),
    );
    try {
      const result = await withRetries(() => this.client.appendToStream(stream, payload, { expectedRevision: toExpectedRevision(expected) }));
      if (!result.position) throw new Error(`EventStoreDB accepted the append to ${stream} but reported no position`);
      return { nextRevision: result.nextExpectedRevision, position: { commit: result.position.commit, prepare: result.position.prepare } };
    } catch (error) {
      const typed = clientError(error);
      if (typed instanceof MaxAppendSizeExceededError) {
        throw new AppendTooLargeError(stream, size, typed.maxAppendSize, { cause: typed });
      }
      throw toPortError(error, { stream, expected, operation: `the append to ${stream}`, mayHaveHappened: true });
    }
  }

  /**
   * Appending nothing checks the expectation and reports the stream's state (its last
   * revision and that event's position, or -1 and the log's start), as the SQLite store
   * does. Nothing is written, so a read is enough; the client cannot report a new
   * stream's revision for an empty append anyway (it reads 0 for `no_stream`).
   */
  private async appendNothing(stream: string, expected: ExpectedRevision): Promise<AppendResult> {
    const [head] = await this.readStream(stream, { direction: 'backwards', maxCount: 1 });
    const actual = head ? head.revision : null;
    const matches = expected === 'any' || (expected === 'no_stream' ? actual === null : expected === 'exists' ? actual !== null : actual === expected);
    if (!matches) throw new StreamConflictError(stream, expected, actual);
    return head ? { nextRevision: head.revision, position: head.position } : { nextRevision: -1n, position: { commit: 0n, prepare: 0n } };
  }

  override async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    if (options.maxCount === 0) return [];
    const direction = options.direction ?? 'forwards';
    const read = async (): Promise<RecordedEvent[]> => {
      const events: RecordedEvent[] = [];
      const reading = this.client.readStream(stream, {
        direction,
        fromRevision: options.fromRevision ?? (direction === 'forwards' ? START : END),
        maxCount: options.maxCount ?? UNLIMITED,
      });
      for await (const resolved of reading) {
        if (resolved.event) events.push(toRecordedEvent(resolved.event));
      }
      return events;
    };
    try {
      return await withRetries(read);
    } catch (error) {
      // A stream that was never written, or was deleted, reads as no events.
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return [];
      throw toPortError(error, { operation: `the read of ${stream}` });
    }
  }

  /**
   * Soft-deletes the stream (`Streams.Delete`): the server writes `$tb` (truncate before)
   * to its metadata stream, reads of it then answer "not found", and its events leave
   * the disk at the next scavenge; until then `$all` still returns them, which the read
   * models allow for (the expiry fact follows them in the log). A stream with no events
   * (never written, or already scavenged away) is answered with a wrong expected version
   * by the server (`StorageWriterService` refuses to soft-delete what does not exist):
   * nothing to delete, so no error; a hard-deleted (tombstoned) one is deleted already.
   */
  override async deleteStream(stream: string): Promise<void> {
    this.assertOpen();
    if (typeof stream !== 'string' || stream === '') throw new TypeError('deleteStream needs a stream name');
    try {
      await withRetries(() => this.client.deleteStream(stream, { expectedRevision: ANY }));
    } catch (error) {
      const typed = clientError(error);
      if (typed instanceof WrongExpectedVersionError || typed instanceof StreamDeletedError) return;
      throw toPortError(error, { operation: `the deletion of ${stream}`, mayHaveHappened: true });
    }
  }

  override async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const limit = options.maxCount ?? Infinity;
    if (limit <= 0) return [];
    const direction = options.direction ?? 'forwards';
    const forwards = direction === 'forwards';
    const plan = planFilter(options.filter);
    // The server starts forwards reads *at* a position; the port's `after` is exclusive.
    let boundary: Position | undefined = options.after;
    const events: RecordedEvent[] = [];
    for (;;) {
      const count = limit === Infinity ? UNLIMITED : Math.min(limit - events.length + 1, UNLIMITED);
      let page;
      try {
        const from = boundary ?? (forwards ? 'start' : 'end');
        page = await withRetries(() => readAllFiltered(this.client, { direction, from, count, filter: plan.server }));
      } catch (error) {
        throw toPortError(error, { operation: 'the read of $all' });
      }
      for (const raw of page) {
        const event = toRecordedEvent(raw);
        if (boundary) {
          const order = comparePositions(event.position, boundary);
          if (forwards ? order <= 0 : order >= 0) continue;
        }
        boundary = event.position;
        if (!plan.accepts(event)) continue;
        events.push(event);
        if (events.length >= limit) return events;
      }
      // Fewer than asked for: the server has nothing more that passes its filter.
      if (page.length < count) return events;
    }
  }

  override subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    this.assertOpen();
    const subscription: EsdbSubscription = new EsdbSubscription(
      this.client,
      options.after,
      planFilter(options.filter),
      this.options.resubscribe,
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  override async headPosition(): Promise<Position | null> {
    const [last] = await this.readAll({ direction: 'backwards', maxCount: 1 });
    return last ? last.position : null;
  }

  /** Fails with {@link EventStoreUnavailableError} unless the server answers a read of `$all` in time. */
  override async ping(): Promise<void> {
    this.assertOpen();
    const timeoutMs = this.options.pingTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const read = readAllFiltered(this.client, {
      direction: 'backwards', from: 'end', count: 1, filter: { on: 'streamName', regex: NON_SYSTEM_STREAMS }, deadlineMs: timeoutMs,
    });
    // The gRPC deadline bounds the call; this timer also bounds finding the server (cluster discovery).
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 500);
    });
    try {
      await Promise.race([read, timeout]);
    } catch (error) {
      read.catch(() => undefined);
      throw new EventStoreUnavailableError(`EventStoreDB is not reachable: ${(error as Error).message}`, error);
    } finally {
      clearTimeout(timer);
    }
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    await this.client.dispose();
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailableError('The EventStoreDB store is closed');
  }
}
