/**
 * The event store port: the only way the application touches its durable log.
 *
 * Two adapters implement it and pass one shared contract suite
 * (`test/event-store/event-store.contract.ts`): the embedded SQLite store and the
 * EventStoreDB store. Nothing outside `src/event-store/` imports a database client.
 *
 * The vocabulary follows EventStoreDB's: a stream has revisions counted from 0,
 * the global log (`$all`) has positions, and an append states the revision it
 * expects the stream to be at, so concurrent writers cannot silently overwrite.
 */

/** Who did something, when, and why: carried by every event. */
export interface EventMetadata {
  /** The named key's name, the self-declared `X-Actor`, `anonymous`, or a system actor such as `system`. */
  actor: string;
  /** ISO-8601 UTC time the command was handled (from the injected clock). */
  at: string;
  /** Shared by every event that one request caused, across streams. */
  correlationId: string;
  /** The id of the event or request that directly caused this event. */
  causationId: string | null;
  /** Where the command came from: `api`, `web`, `cli`, `runner`, `scheduler`, `system`. */
  source: string;
  /** Room for later additions (schema version, runner id, …). */
  [key: string]: unknown;
}

/** An event to append. `data` must be a JSON-serialisable object. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  /** A unique id (UUID), kept by every adapter so exports and imports keep identity. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/**
 * A place in the global log. For SQLite both parts are the same row number; for
 * EventStoreDB they are the transaction-file commit and prepare positions.
 * Order positions with {@link comparePositions}, never by one part alone.
 */
export interface Position {
  commit: bigint;
  prepare: bigint;
}

/** An event as stored. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  stream: string;
  /** The event's revision in its stream, counted from 0. */
  revision: bigint;
  position: Position;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/**
 * The stream state an append expects:
 * - `no_stream`: the stream must not exist yet;
 * - `exists`: the stream must have at least one event;
 * - `any`: no check;
 * - a bigint: the revision of the stream's last event must be exactly this.
 */
export type ExpectedRevision = 'no_stream' | 'exists' | 'any' | bigint;

export interface AppendResult {
  /** The revision of the last event appended (the stream's new revision). */
  nextRevision: bigint;
  /** The position of the last event appended. */
  position: Position;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive start. Defaults to the first event (forwards) or the last (backwards). */
  fromRevision?: bigint;
  direction?: Direction;
  maxCount?: number;
}

/** Which events of `$all` a read or subscription sees. Both lists are OR-ed within, AND-ed between. */
export interface EventFilter {
  /** Keep events whose stream name starts with one of these, e.g. `['job-', 'run-']`. */
  streamPrefixes?: string[];
  /** Keep events whose type is one of these. */
  eventTypes?: string[];
}

export interface ReadAllOptions {
  /**
   * Exclusive start: the events strictly after this position (forwards) or strictly
   * before it (backwards). Omitted: from the start (forwards) or the end (backwards).
   */
  after?: Position;
  direction?: Direction;
  maxCount?: number;
  filter?: EventFilter;
}

export interface SubscribeAllOptions {
  /** Exclusive checkpoint: deliver the events strictly after it. Omitted: from the start of the log. */
  after?: Position;
  filter?: EventFilter;
}

/**
 * A catch-up subscription: every stored event after the checkpoint, then live
 * events as they are appended, in position order, with no gap and no duplicate
 * at the hand-over. Iterate it with `for await`; `close()` ends the iteration.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export type StoreKind = 'sqlite' | 'eventstoredb';

/** The event store port. Adapters extend this class so Nest can inject it by type. */
export abstract class EventStore {
  abstract readonly kind: StoreKind;

  /** Appends atomically, or throws {@link StreamConflictError} leaving the stream unchanged. */
  abstract append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;

  /** Reads one stream; a stream that does not exist reads as no events. */
  abstract readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  /**
   * Deletes a stream's events for good: afterwards a read of the stream finds no events.
   * Meant for bulk that retention removes (a run's output stream), never for facts.
   * Deleting a stream that does not exist, or was deleted before, is no error.
   *
   * - SQLite removes the rows (they leave `$all` too) and gives the freed pages back
   *   to the file system (`auto_vacuum = INCREMENTAL` on logs created since).
   * - EventStoreDB soft-deletes the stream (a `$tb` in its metadata stream): its events
   *   stay in `$all` until the server's next scavenge removes them from disk.
   *
   * A deleted stream is not meant to be appended to again (EventStoreDB would continue
   * its revisions; SQLite would start again at 0).
   */
  abstract deleteStream(stream: string): Promise<void>;

  /** Reads the global log in position order. */
  abstract readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;

  /** Starts a catch-up subscription to the global log. */
  abstract subscribeAll(options?: SubscribeAllOptions): Subscription;

  /** The position of the last event in the log, or null for an empty log. */
  abstract headPosition(): Promise<Position | null>;

  /** Whether the store answers; used by `GET /api/health`. */
  abstract ping(): Promise<void>;

  /** Releases connections and file handles. */
  abstract close(): Promise<void>;
}

/** The stream was not at the expected revision: nothing was appended. */
export class StreamConflictError extends Error {
  readonly code = 'STREAM_CONFLICT';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual revision, or null when it does not exist. */
    readonly actual: bigint | null,
  ) {
    super(`Stream ${stream} is at ${actual === null ? 'no revision (it does not exist)' : `revision ${actual}`}, expected ${String(expected)}`);
    this.name = 'StreamConflictError';
  }
}

/** The store could not be reached or failed; the operation may or may not have happened only where stated. */
export class EventStoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'EventStoreUnavailableError';
  }
}

/**
 * The store refused the operation: the server connects without credentials, with wrong
 * ones, or as a user without the rights it needs. Nothing was written. Trying again does
 * not help until the configuration is fixed.
 */
export class EventStoreAccessDeniedError extends EventStoreUnavailableError {
  constructor(message: string, cause?: unknown) {
    super(message, cause);
    this.name = 'EventStoreAccessDeniedError';
  }
}

/** Negative, zero or positive as `a` is before, at or after `b` in the log. */
export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** A position as an opaque, URL-safe cursor: `"42"` when both parts agree, else `"commit.prepare"`. */
export function formatPosition(p: Position): string {
  return p.commit === p.prepare ? p.commit.toString() : `${p.commit}.${p.prepare}`;
}

/** Parses a cursor made by {@link formatPosition}; null when it is not one. */
export function parsePosition(text: string): Position | null {
  const match = /^(\d{1,20})(?:\.(\d{1,20}))?$/.exec(text);
  if (!match) return null;
  const commit = BigInt(match[1]);
  const prepare = match[2] === undefined ? commit : BigInt(match[2]);
  return { commit, prepare };
}

/** Whether an event passes a filter. Adapters without server-side filtering use this. */
export function matchesFilter(event: { stream: string; type: string }, filter: EventFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((prefix) => event.stream.startsWith(prefix))) return false;
  if (filter.eventTypes && !filter.eventTypes.includes(event.type)) return false;
  return true;
}
