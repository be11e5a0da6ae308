/**
 * The EventStoreDB double's in-memory transaction log.
 *
 * It lives outside the gRPC server so the server can be stopped and started again
 * on the same port with its data intact, as a restarted EventStoreDB node keeps its
 * database directory.
 *
 * Semantics follow the server (EventStore/EventStore, src/EventStore.Core):
 * - Positions are byte offsets in the log. Every append is an implicit transaction
 *   of "self-committed" prepares (`StorageWriterService.cs`: `PrepareFlags.IsCommitted`
 *   on each prepare), so each event's commit and prepare positions are both its own
 *   record's log position (`Data/ResolvedEvent.cs` `CalculatePosition`,
 *   `Storage/ReaderIndex/AllReader.cs`). Record sizes follow the LogV2 prepare record
 *   layout (`TransactionLog/LogRecords/PrepareLogRecord.cs` `ComputeSizeOnDisk`), so
 *   positions grow by the size of what was written, never by one.
 * - Expected-version checks and idempotent re-appends follow
 *   `Storage/ReaderIndex/IndexWriter.cs` `CheckCommit` and
 *   `Storage/StorageWriterService.cs` `ActOnCommitCheckFailure`.
 * - A successful write reports the log position of its last event for both parts of
 *   the position (`RequestManager/Managers/WriteEvents.cs`, `Storage/StorageChaser.cs`).
 * - A soft delete (`Streams.Delete`) writes `{"$tb": EventNumber.DeletedStream}` to the
 *   stream's metadata stream `$$<stream>` (`StorageWriterService.cs`, `WriteDelete`,
 *   after `IndexWriter.CheckCommit` of the expected version); a stream with no events and
 *   no metadata is refused with a wrong expected version. Stream reads leave out the
 *   events before `$tb`, so a soft-deleted stream reads as not found; `$all` still holds
 *   every event until a scavenge, which the double never runs. Appending to a
 *   soft-deleted stream (expected `any`, `no_stream` or its last revision) undeletes it:
 *   revisions continue and `$tb` moves to the first new one (`SoftUndeleteStream`).
 */
import { randomUUID } from 'node:crypto';

/** One event as stored in the log. */
export interface LogRecord {
  readonly stream: string;
  readonly revision: bigint;
  /** Lower-case UUID, as the server prints `Guid.ToString()`. */
  readonly id: string;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
  /** .NET ticks (100 ns) since the Unix epoch, what the server sends as `created`. */
  readonly createdTicks: bigint;
  /** The record's log position: both the commit and the prepare position of the event. */
  readonly position: bigint;
  /** The position just after the record; backwards reads compare with it. */
  readonly postPosition: bigint;
}

/** An event proposed by a client append. */
export interface ProposedEvent {
  id: string;
  type: string;
  isJson: boolean;
  data: Uint8Array;
  metadata: Uint8Array;
}

/** The expected stream state of an append, in the server's terms. */
export type ExpectedVersion = bigint | 'any' | 'no_stream' | 'stream_exists';

/** The result of an append; `currentRevision` is -1n for a stream with no events. */
/** `EventNumber.DeletedStream` (`long.MaxValue`): the `$tb` of a soft-deleted stream. */
export const DELETED_STREAM = 9_223_372_036_854_775_807n;

/** The result of a soft delete. */
export type DeleteOutcome =
  | { kind: 'success'; position: bigint }
  | { kind: 'wrong_expected_version'; currentRevision: bigint };

export type AppendOutcome =
  | { kind: 'success'; currentRevision: bigint; position: bigint }
  | { kind: 'wrong_expected_version'; currentRevision: bigint };

/** Size of a LogV2 system (epoch) record; only used to offset the first event as a real log is. */
const EPOCH_RECORD_SIZE = 154n;

/** The LogV2 prepare record size on disk, including its length prefix and suffix. */
export function prepareRecordSize(stream: string, type: string, data: Uint8Array, metadata: Uint8Array): bigint {
  const header = 2 * 4 /* length prefix & suffix */ + 1 + 1 + 8 /* type, version, log position */;
  const fixed = 2 /* flags */ + 8 /* transaction position */ + 4 /* transaction offset */ + 8 /* expected version */
    + 16 /* event id */ + 16 /* correlation id */ + 8 /* timestamp */ + 4 /* data length */ + 4 /* metadata length */;
  return BigInt(header + fixed + lengthPrefixed(stream) + lengthPrefixed(type) + data.length + metadata.length);
}

/** A string on disk: its UTF-8 bytes prefixed by their count as ULEB128. */
function lengthPrefixed(text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  let prefix = 1;
  for (let n = bytes >> 7; n > 0; n >>= 7) prefix++;
  return prefix + bytes;
}

/** `Event.SizeOnDisk` (`Data/Event.cs`): what the server's maximum append size counts. */
export function eventSizeOnDisk(type: string, data: Uint8Array, metadata: Uint8Array): number {
  return data.length + metadata.length + type.length * 2;
}

const MS_TO_TICKS = 10_000n;

/** The append-only log with per-stream indexes and a change signal for live subscriptions. */
export class TransactionLog {
  private readonly records: LogRecord[] = [];
  private readonly streams = new Map<string, LogRecord[]>();
  private readonly byId = new Map<string, LogRecord>();
  private readonly listeners = new Set<() => void>();
  private nextPosition = EPOCH_RECORD_SIZE;

  constructor(private readonly clock: () => number = Date.now) {
    this.seedSystemEvents();
  }

  /** How many events the log holds (system events included). */
  get length(): number {
    return this.records.length;
  }

  /** The event at an index in log order. */
  at(index: number): LogRecord {
    const record = this.records[index];
    if (!record) throw new RangeError(`no record at index ${index}`);
    return record;
  }

  /** The position of the last event, or null when the log has none. */
  lastPosition(): bigint | null {
    return this.records.length === 0 ? null : this.records[this.records.length - 1].position;
  }

  /** A stream's events in revision order; empty when it does not exist. */
  stream(name: string): readonly LogRecord[] {
    return this.streams.get(name) ?? [];
  }

  /**
   * A stream's events as a stream read sees them: those from its truncate-before (`$tb`)
   * on; none for a soft-deleted stream.
   */
  visibleStream(name: string): readonly LogRecord[] {
    const records = this.stream(name);
    const before = this.truncateBefore(name);
    if (before === 0n) return records;
    return before >= BigInt(records.length) ? [] : records.slice(Number(before));
  }

  /** The stream's `$tb` from the latest event of its metadata stream, or 0 (keeps everything). */
  truncateBefore(name: string): bigint {
    const meta = this.stream(`$$${name}`);
    const last = meta[meta.length - 1];
    if (!last || last.type !== '$metadata') return 0n;
    // Read as text: the value can be long.MaxValue, which a JS number cannot hold exactly.
    const match = /"\$tb"\s*:\s*(\d+)/.exec(new TextDecoder().decode(last.data));
    return match ? BigInt(match[1]) : 0n;
  }

  isSoftDeleted(name: string): boolean {
    return this.truncateBefore(name) === DELETED_STREAM;
  }

  /**
   * Soft-deletes a stream as `StorageWriterService` handles `WriteDelete` with
   * `HardDelete = false`: the expected version is checked like an append's, a stream
   * without events or metadata is a wrong expected version (revision -1), and otherwise
   * `{"$tb": DeletedStream}` is written to `$$<stream>`; its position is the answer.
   */
  softDelete(stream: string, expected: ExpectedVersion): DeleteOutcome {
    const current = BigInt(this.stream(stream).length) - 1n;
    const hasMeta = this.stream(`$$${stream}`).length > 0;
    const wrong: DeleteOutcome = { kind: 'wrong_expected_version', currentRevision: current };
    if (expected === 'stream_exists' && current < 0n && !hasMeta) return wrong;
    if (typeof expected === 'bigint' && expected !== current) return wrong;
    if (expected === 'no_stream' && current >= 0n) return wrong;
    if (current < 0n && !hasMeta) return wrong;
    const record = this.writeMetadata(stream, DELETED_STREAM);
    return { kind: 'success', position: record.position };
  }

  /** Writes `{"$tb": before}` as the stream's metadata (a `$metadata` event in `$$<stream>`). */
  private writeMetadata(stream: string, before: bigint): LogRecord {
    const data = new TextEncoder().encode(`{"$tb":${before.toString()}}`);
    this.append(`$$${stream}`, 'any', [{ id: randomUUID(), type: '$metadata', isJson: true, data, metadata: new Uint8Array() }]);
    const records = this.stream(`$$${stream}`);
    return records[records.length - 1];
  }

  /** The index of the first event whose position is at or after `position` (forward reads are inclusive). */
  firstIndexAtOrAfter(commit: bigint, prepare: bigint): number {
    return this.search((record) => compareTf(record.position, record.position, commit, prepare) >= 0);
  }

  /** The index of the first event strictly after `position` (subscriptions start after their checkpoint). */
  firstIndexAfter(commit: bigint, prepare: bigint): number {
    return this.search((record) => compareTf(record.position, record.position, commit, prepare) > 0);
  }

  /**
   * The number of events that end at or before `position`: a backwards read from
   * `position` returns these, newest first (`AllReader.ReadAllEventsBackwardInternal`
   * compares the record's post-position), so the event *at* `position` is excluded.
   */
  countEndingAtOrBefore(commit: bigint, prepare: bigint): number {
    return this.search((record) => compareTf(record.postPosition, record.postPosition, commit, prepare) > 0);
  }

  /** Calls `listener` after every write; returns the function that stops it. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Appends atomically after checking the expected version, as the server's storage writer does. */
  append(stream: string, expected: ExpectedVersion, events: readonly ProposedEvent[]): AppendOutcome {
    const existing = this.streams.get(stream) ?? [];
    const current = BigInt(existing.length) - 1n;
    const check = this.checkCommit(stream, existing, current, expected, events);
    if (check.kind !== 'ok') return check.outcome;

    if (events.length === 0) {
      // The server writes an empty prepare (no data) and reports its position.
      const position = this.nextPosition;
      this.nextPosition += prepareRecordSize(stream, '', new Uint8Array(), new Uint8Array());
      return { kind: 'success', currentRevision: current, position };
    }

    const undelete = this.isSoftDeleted(stream);
    const created = BigInt(this.clock()) * MS_TO_TICKS;
    let revision = current;
    let last: LogRecord | undefined;
    for (const event of events) {
      revision += 1n;
      const size = prepareRecordSize(stream, event.type, event.data, event.metadata);
      last = {
        stream, revision, id: event.id, type: event.type, isJson: event.isJson, data: event.data,
        metadata: event.metadata, createdTicks: created, position: this.nextPosition,
        postPosition: this.nextPosition + size,
      };
      this.nextPosition += size;
      this.records.push(last);
      existing.push(last);
      this.byId.set(event.id, last);
    }
    this.streams.set(stream, existing);
    // `SoftUndeleteStream`: the stream lives again from its first new event.
    if (undelete) this.writeMetadata(stream, current + 1n);
    for (const listener of [...this.listeners]) listener();
    return { kind: 'success', currentRevision: revision, position: (last as LogRecord).position };
  }

  /** Appends a system event (a `$`-stream), as the server itself does for stats, settings or links. */
  appendSystemEvent(stream: string, type: string, data: unknown): LogRecord {
    if (!stream.startsWith('$')) throw new Error(`system streams start with $, got ${stream}`);
    const json = new TextEncoder().encode(typeof data === 'string' ? data : JSON.stringify(data));
    this.append(stream, 'any', [{ id: randomUUID(), type, isJson: typeof data !== 'string', data: json, metadata: new Uint8Array() }]);
    const records = this.stream(stream);
    return records[records.length - 1];
  }

  private checkCommit(
    stream: string,
    existing: readonly LogRecord[],
    current: bigint,
    expected: ExpectedVersion,
    events: readonly ProposedEvent[],
  ): { kind: 'ok' } | { kind: 'done'; outcome: AppendOutcome } {
    const wrong = (): { kind: 'done'; outcome: AppendOutcome } => ({ kind: 'done', outcome: { kind: 'wrong_expected_version', currentRevision: current } });

    if (expected === 'stream_exists' && current < 0n && this.stream(`$$${stream}`).length === 0) return wrong();

    if (expected === 'any' || expected === 'stream_exists') {
      // Idempotency: the first id decides; a partial match is "corrupted idempotency",
      // which the server answers as a wrong expected version.
      const found = events.map((event) => this.byId.get(event.id));
      if (found.length === 0 || !found[0] || found[0].stream !== stream) return { kind: 'ok' };
      if (found.some((record) => !record || record.stream !== stream)) return wrong();
      const lastRecord = found[found.length - 1] as LogRecord;
      return { kind: 'done', outcome: { kind: 'success', currentRevision: lastRecord.revision, position: lastRecord.position } };
    }

    // `CheckCommit`: `no_stream` on a soft-deleted stream is accepted (it recreates it).
    if (expected === 'no_stream' && current >= 0n && this.isSoftDeleted(stream) && !events.some((event) => this.byId.has(event.id))) return { kind: 'ok' };
    const expectedRevision = expected === 'no_stream' ? -1n : expected;
    if (expectedRevision > current) return wrong();
    if (expectedRevision === current) return { kind: 'ok' };
    // expected < current: an idempotent retry of the very same events is a success.
    if (events.length === 0) return wrong();
    let revision = expectedRevision;
    let lastRecord: LogRecord | undefined;
    for (const event of events) {
      revision += 1n;
      const record = existing[Number(revision)];
      if (!record || record.id !== event.id) return wrong();
      lastRecord = record;
    }
    return { kind: 'done', outcome: { kind: 'success', currentRevision: revision, position: (lastRecord as LogRecord).position } };
  }

  /** What a fresh node writes before any client does, so `$all` never starts empty. */
  private seedSystemEvents(): void {
    const epochId = randomUUID();
    const leader = randomUUID();
    this.appendSystemEvent('$epoch-information', '$epoch-information', {
      epochId, epochPosition: 0, epochNumber: 0, leaderInstanceId: leader, time: new Date(this.clock()).toISOString(),
    });
    this.appendSystemEvent('$$$scavenges', '$metadata', { $maxAge: 2_592_000 });
    this.appendSystemEvent('$user-admin', '$UserCreated', { loginName: 'admin', fullName: 'Event Store Administrator', groups: ['$admins'] });
    this.appendSystemEvent('$users', '$User', 'admin');
    this.appendSystemEvent('$settings', '$settings', { $userStreamAcl: { $r: '$all', $w: '$all' }, $systemStreamAcl: { $r: '$admins', $w: '$admins' } });
    // A link event as the $by_event_type system projection writes: data is "revision@stream".
    this.appendSystemEvent('$et-$UserCreated', '$>', '0@$user-admin');
  }

  private search(isAfter: (record: LogRecord) => boolean): number {
    let low = 0;
    let high = this.records.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (isAfter(this.records[middle])) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

/** Orders two transaction-file positions as the server's `TFPos` does: commit first, then prepare. */
export function compareTf(commitA: bigint, prepareA: bigint, commitB: bigint, prepareB: bigint): number {
  if (commitA !== commitB) return commitA < commitB ? -1 : 1;
  if (prepareA !== prepareB) return prepareA < prepareB ? -1 : 1;
  return 0;
}
