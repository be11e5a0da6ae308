/**
 * Copies one event log into another through the event store port: the embedded SQLite
 * log into EventStoreDB, or back. Every event keeps its id, stream, revision, type,
 * data and metadata, and the copy appends them in the source's global order (so the
 * target's `$all` lists them in the same order, at its own positions).
 *
 * Two passes over the source:
 * 1. survey: every stream's length, checked to be whole (revisions 0, 1, 2, … with no
 *    gap: a stream truncated in EventStoreDB cannot keep its revisions), and compared
 *    with what the target already holds in that stream. The target may hold nothing, or
 *    the same first events (same ids at the same revisions: an earlier transfer, whole or
 *    cut short). Anything else there, and the transfer is refused before writing anything.
 * 2. copy: the events the target does not hold yet, in order; consecutive events of one
 *    stream go in one append, kept well under EventStoreDB's 1 MiB append limit. Each
 *    append expects the stream at the revision before its first event, so nobody else's
 *    write can interleave unnoticed (the servers on both stores should be stopped: a
 *    write into the target during the copy stops it, and with the embedded target the
 *    appends already on their way may land after the refused one).
 *
 * Streams deleted in the source are not copied: EventStoreDB keeps a soft-deleted stream's
 * events in `$all` until its next scavenge (retention deletes run output that way), so
 * with an EventStoreDB source every stream is read once and those reading as deleted are
 * left out; a stream truncated (read from a revision above 0) is refused like a gap.
 *
 * Running it again is therefore safe on both stores: what is already there is skipped
 * (on EventStoreDB a repeated append of the same event ids at the same expected revision
 * would also be accepted as one write; the SQLite store would refuse it, hence the skip).
 */
import type { EventStore, NewEvent, Position, RecordedEvent } from '../event-store/event-store.port';

/** How far a transfer has got. */
export interface TransferProgress {
  /** Events in the source. */
  total: number;
  /** Events appended to the target so far. */
  copied: number;
  /** Events the target held already. */
  alreadyThere: number;
  /** Streams in the source. */
  streams: number;
}

export interface TransferOptions {
  /** Called after every append and once at the end. */
  onProgress?: (progress: TransferProgress) => void;
  /** Survey and compare only: report what would be copied, write nothing. */
  dryRun?: boolean;
  /** Events per source read (default 1000). */
  pageSize?: number;
}

/** A stream the target cannot take: why, in words. */
export interface StreamProblem {
  stream: string;
  problem: string;
}

/** The target holds other events in the source's streams, or the source has gaps: nothing was written. */
export class TransferRefusedError extends Error {
  readonly code = 'TRANSFER_REFUSED';
  constructor(readonly problems: StreamProblem[]) {
    const shown = problems.slice(0, 10).map((p) => `  - ${p.stream}: ${p.problem}`);
    const more = problems.length > shown.length ? [`  … and ${problems.length - shown.length} more`] : [];
    super(`Nothing was copied: ${problems.length} stream(s) cannot be transferred as they are:\n${[...shown, ...more].join('\n')}`);
    this.name = 'TransferRefusedError';
  }
}

/** An append's size as EventStoreDB counts it: data + metadata bytes + 2 × type length. */
function sizeOf(event: RecordedEvent): number {
  return Buffer.byteLength(JSON.stringify(event.data)) + Buffer.byteLength(JSON.stringify(event.metadata)) + 2 * event.type.length;
}

/** Half of EventStoreDB's default 1 MiB append limit: room for one large event (an output batch or file chunk) alone. */
const MAX_APPEND_BYTES = 512 * 1024;
/** Events per append at most. */
const MAX_APPEND_EVENTS = 500;
/** Appends to the embedded store on their way at once. */
const SQLITE_APPENDS_IN_FLIGHT = 256;

/** Reads `$all` of a store page by page, oldest first. */
async function* eventsOf(store: EventStore, pageSize: number): AsyncGenerator<RecordedEvent> {
  let after: Position | undefined;
  for (;;) {
    const page = await store.readAll({ ...(after ? { after } : {}), maxCount: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1].position;
  }
}

/** Copies `source` into `target` (see the file comment); resolves with the final progress. */
export async function transferLog(source: EventStore, target: EventStore, options: TransferOptions = {}): Promise<TransferProgress> {
  const pageSize = options.pageSize ?? 1000;
  const { lengths, total, deleted } = await survey(source, pageSize);
  const present = await compareWithTarget(source, target, lengths);
  const progress: TransferProgress = { total, copied: 0, alreadyThere: [...present.values()].reduce((sum, n) => sum + n, 0), streams: lengths.size };
  if (options.dryRun) {
    options.onProgress?.(progress);
    return progress;
  }

  // The embedded store commits appends in the order they were made, many per transaction
  // (group commit), so several can be on their way at once without changing the order.
  // EventStoreDB gives no such promise for concurrent appends: one at a time.
  const window = target.kind === 'sqlite' ? SQLITE_APPENDS_IN_FLIGHT : 1;
  let inFlight: Array<Promise<void>> = [];
  let batch: RecordedEvent[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sent = batch;
    batch = [];
    batchBytes = 0;
    const first = sent[0];
    const last = sent[sent.length - 1];
    const events: NewEvent[] = sent.map(({ id, type, data, metadata }) => ({ id, type, data, metadata }));
    const appended = target.append(first.stream, events, first.revision === 0n ? 'no_stream' : first.revision - 1n).then((result) => {
      if (result.nextRevision !== last.revision) {
        throw new Error(`The target put ${last.stream}@${last.revision} at revision ${result.nextRevision}: stopping`);
      }
      progress.copied += sent.length;
      options.onProgress?.(progress);
    });
    // Handled when the window settles; until then a failure must not count as unhandled.
    appended.catch(() => undefined);
    inFlight.push(appended);
    if (inFlight.length >= window) await settle();
  };
  const settle = async (): Promise<void> => {
    const waiting = inFlight;
    inFlight = [];
    await Promise.all(waiting);
  };

  for await (const event of eventsOf(source, pageSize)) {
    if (deleted.has(event.stream)) continue;
    if (event.revision < BigInt(present.get(event.stream) ?? 0)) continue;
    const size = sizeOf(event);
    if (batch.length > 0 && (batch[0].stream !== event.stream || batchBytes + size > MAX_APPEND_BYTES || batch.length >= MAX_APPEND_EVENTS)) {
      await flush();
    }
    batch.push(event);
    batchBytes += size;
  }
  await flush();
  await settle();
  options.onProgress?.(progress);
  return progress;
}

/** Counts the source's streams and events, refusing streams whose revisions do not run 0, 1, 2, … */
async function survey(source: EventStore, pageSize: number): Promise<{ lengths: Map<string, number>; total: number; deleted: Set<string> }> {
  const lengths = new Map<string, number>();
  const problems: StreamProblem[] = [];
  let total = 0;
  for await (const event of eventsOf(source, pageSize)) {
    total += 1;
    const length = lengths.get(event.stream) ?? 0;
    if (event.revision !== BigInt(length) && !problems.some((p) => p.stream === event.stream)) {
      problems.push({ stream: event.stream, problem: `the source has revision ${event.revision} where ${length} was expected (truncated or scavenged there), so revisions cannot be kept` });
    }
    lengths.set(event.stream, length + 1);
  }
  const deleted = new Set<string>();
  if (source.kind === 'eventstoredb') {
    for (const [stream, length] of lengths) {
      const [first] = await source.readStream(stream, { maxCount: 1 });
      if (!first) {
        deleted.add(stream);
        total -= length;
      } else if (first.revision > 0n) {
        problems.push({ stream, problem: `the source reads it from revision ${first.revision} (truncated there), so revisions cannot be kept` });
      }
    }
    for (const stream of deleted) lengths.delete(stream);
  }
  if (problems.length > 0) throw new TransferRefusedError(problems);
  return { lengths, total, deleted };
}

/**
 * How many of each stream's first events the target holds already (same ids, same
 * types, at the same revisions); refuses when the target holds anything else there.
 */
async function compareWithTarget(source: EventStore, target: EventStore, lengths: Map<string, number>): Promise<Map<string, number>> {
  const present = new Map<string, number>();
  const problems: StreamProblem[] = [];
  for (const [stream, length] of lengths) {
    const [head] = await target.readStream(stream, { direction: 'backwards', maxCount: 1 });
    if (!head) continue;
    if (head.revision >= BigInt(length)) {
      problems.push({ stream, problem: `the target holds ${head.revision + 1n} event(s), the source only ${length}` });
      continue;
    }
    const theirs = await target.readStream(stream);
    const ours = await source.readStream(stream, { maxCount: theirs.length });
    const differs = theirs.findIndex((event, i) => event.id !== ours[i]?.id || event.type !== ours[i]?.type || event.revision !== ours[i]?.revision);
    if (differs !== -1) {
      problems.push({ stream, problem: `the target holds another event at revision ${theirs[differs].revision} (${theirs[differs].type} ${theirs[differs].id})` });
      continue;
    }
    present.set(stream, theirs.length);
  }
  if (problems.length > 0) throw new TransferRefusedError(problems);
  return present;
}
