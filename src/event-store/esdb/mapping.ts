/**
 * Translations between the port's vocabulary and `@eventstore/db-client`'s: expected
 * revisions, positions, recorded events and errors.
 */
import {
  AccessDeniedError,
  ANY,
  CancelledError,
  convertToCommandError,
  DeadlineExceededError,
  NO_STREAM,
  NotLeaderError,
  STREAM_EXISTS,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { AppendExpectedRevision, Position as EsdbPosition, RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import {
  EventMetadata,
  EventStoreAccessDeniedError,
  EventStoreUnavailableError,
  ExpectedRevision,
  Position,
  RecordedEvent,
  StreamConflictError,
} from '../event-store.port';

/** The port's expected revision in the client's terms (`exists` is the client's `stream_exists`). */
export function toExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'no_stream': return NO_STREAM;
    case 'exists': return STREAM_EXISTS;
    case 'any': return ANY;
    default: return expected;
  }
}

/** A position as the client wants it. */
export function toEsdbPosition(position: Position): EsdbPosition {
  return { commit: position.commit, prepare: position.prepare };
}

/** Whether a stream or an event type is EventStoreDB's own: their names start with `$`. */
export function isSystemName(name: string): boolean {
  return name.startsWith('$');
}

/** Thrown when an append is larger than the server accepts (`MaxAppendSize`, 1 MiB by default). */
export class AppendTooLargeError extends Error {
  readonly code = 'APPEND_TOO_LARGE';
  constructor(
    readonly stream: string,
    /** The append's size as the server counts it: data + metadata bytes + 2 × type length, summed. */
    readonly size: number,
    /** The server's limit, as it reported it. */
    readonly maxAppendSize: number,
    options?: ErrorOptions,
  ) {
    super(
      `Append to ${stream} is ${size} bytes, over EventStoreDB's maximum append size of ${maxAppendSize} bytes; ` +
        'nothing was written. Split the data into smaller events (or raise the server\'s MaxAppendSize).',
      options,
    );
    this.name = 'AppendTooLargeError';
  }
}

/** The size of an event as the server counts it against `MaxAppendSize` (`Event.SizeOnDisk`). */
export function sizeOnDisk(type: string, data: string, metadata: string): number {
  return Buffer.byteLength(data, 'utf8') + Buffer.byteLength(metadata, 'utf8') + type.length * 2;
}

/**
 * The client's typed error for a raw gRPC error. Most client commands convert their
 * errors, but not all paths do (asking the server for its features, for one, rejects
 * with the raw gRPC error), so every error is passed through this first.
 */
export function clientError(error: unknown): unknown {
  return error instanceof Error ? convertToCommandError(error) : error;
}

/** Whether an error means the server could not be reached or gave up, so trying again later may work. */
export function isTransient(error: unknown): boolean {
  const typed = clientError(error);
  return (
    typed instanceof UnavailableError ||
    typed instanceof DeadlineExceededError ||
    typed instanceof CancelledError ||
    typed instanceof TimeoutError ||
    typed instanceof NotLeaderError
  );
}

/**
 * Whether an operation that failed with this error can be sent again at once: the
 * connection was lost or reset (a server restart, a leader change), so a new attempt
 * goes over a new connection. Timeouts are not retried: the server may be overloaded.
 */
export function isRetryable(error: unknown): boolean {
  const typed = clientError(error);
  return typed instanceof UnavailableError || typed instanceof CancelledError || typed instanceof NotLeaderError;
}

/**
 * Maps a client error to the port's errors: wrong expected version → conflict,
 * unreachable → unavailable (saying whether the operation may have happened).
 * Anything else is returned as the client's typed error.
 */
export function toPortError(error: unknown, context: { stream?: string; expected?: ExpectedRevision; operation: string; mayHaveHappened?: boolean }): unknown {
  const typed = clientError(error);
  if (typed instanceof WrongExpectedVersionError && context.stream !== undefined && context.expected !== undefined) {
    const actual = typeof typed.actualVersion === 'bigint' ? typed.actualVersion : null;
    return new StreamConflictError(context.stream, context.expected, actual);
  }
  if (typed instanceof AccessDeniedError) return accessDenied(typed, context.operation, context.mayHaveHappened === true);
  if (isTransient(typed)) {
    const outcome = context.mayHaveHappened ? ' It may or may not have been applied.' : '';
    return new EventStoreUnavailableError(`EventStoreDB did not complete ${context.operation}: ${(typed as Error).message}.${outcome}`, typed);
  }
  return typed;
}

const GRPC_UNAUTHENTICATED = 16;

/**
 * Access denied, said so that the person who configured the server knows what to fix.
 * The client reports both of the server's refusals as `AccessDeniedError`: credentials
 * that do not authenticate (gRPC `UNAUTHENTICATED`) and a user, or no user, without the
 * rights (`PERMISSION_DENIED` with the `access-denied` trailer, or BatchAppend's
 * `AccessDenied` status). A refused append wrote nothing: the server checks before writing.
 */
function accessDenied(error: AccessDeniedError, operation: string, isWrite: boolean): EventStoreAccessDeniedError {
  const raw = (error as { _raw?: { code?: number } })._raw;
  const why = raw?.code === GRPC_UNAUTHENTICATED
    ? 'the user name or password in the connection string was not accepted'
    : 'access denied: the connection string names no user, or a user without the rights EnderCompute needs ' +
      '(reading $all and writing its streams: a member of $admins, such as admin)';
  return new EventStoreAccessDeniedError(`EventStoreDB refused ${operation}: ${why}.${isWrite ? ' Nothing was written.' : ''}`, error);
}

/** Metadata for events this adapter did not write (no JSON metadata): who and why are unknown. */
function fallbackMetadata(event: EsdbRecordedEvent): EventMetadata {
  return { actor: 'unknown', at: event.created.toISOString(), correlationId: event.id, causationId: null, source: 'eventstoredb' };
}

/**
 * A client event as the port's event. JSON data is parsed by the client; binary data
 * (only written by other tools) is passed on as bytes.
 */
export function toRecordedEvent(event: EsdbRecordedEvent): RecordedEvent {
  const metadata = event.metadata;
  const isObject = metadata !== null && typeof metadata === 'object' && !(metadata instanceof Uint8Array) && !Array.isArray(metadata);
  if (!event.position) throw new Error(`EventStoreDB returned event ${event.id} of ${event.streamId} without a position`);
  return {
    id: event.id,
    stream: event.streamId,
    revision: event.revision,
    position: { commit: event.position.commit, prepare: event.position.prepare },
    type: event.type,
    data: event.data,
    metadata: isObject ? (metadata as EventMetadata) : fallbackMetadata(event),
  };
}
