import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { decodeOutputAsync, type StoredOutputData } from './output-encoding';
import type { RunOutputAppended } from './run.events';
import type { OutputChunkRef, RunRecord } from './runs.read-model';

/** How many output events one read fetches: at most a few MiB in memory at once. */
const OUTPUT_EVENTS_PER_READ = 8;
/**
 * How many events of any kind one read may span. Control events (pause, resume,
 * cancel, re-time) sit between output batches, so a read is bounded by revisions,
 * never by a count of output events.
 */
const EVENTS_PER_READ = 64;

/**
 * Reads a run's stored output as bytes from its `RunOutputAppended` events,
 * starting at a byte offset: the read model's chunk index says which event (in
 * which stream: `output-<runId>`, or the run stream of an older log) holds that
 * byte, so a large log is never read from the beginning.
 */
@Injectable()
export class RunOutputReader {
  constructor(private readonly store: EventStore) {}

  /**
   * Yields the output bytes [offset, end) exactly, as stored when the read
   * began (`end` defaults to {@link storedOutputEnd} at that moment).
   *
   * @throws Error when a stored batch the index names cannot be found where it
   *   should be (a damaged log): a reader never returns a silently shorter output.
   */
  async *read(run: RunRecord, offset: number, end = storedOutputEnd(run)): AsyncGenerator<Buffer> {
    // One batch is inflated (on libuv's thread pool) while the one before it is being
    // taken by the caller, so a reader sending to a socket keeps both busy; at most
    // two decoded batches are in memory.
    let ahead: { data: StoredOutputData; bytes: Promise<Buffer> } | null = null;
    for await (const data of this.storedBatches(run, offset, end)) {
      const next = { data, bytes: decodeOutputAsync(data) };
      // Awaited in turn below; until then a failure must not count as unhandled.
      next.bytes.catch(() => undefined);
      if (ahead) {
        const piece = within(await ahead.bytes, ahead.data.offset, offset, end);
        if (piece) yield piece;
      }
      ahead = next;
    }
    if (ahead) {
      const piece = within(await ahead.bytes, ahead.data.offset, offset, end);
      if (piece) yield piece;
    }
  }

  /** The stored output events holding bytes of [offset, end), in order, as the index names them. */
  private async *storedBatches(run: RunRecord, offset: number, end: number): AsyncGenerator<StoredOutputData> {
    const chunks = run.outputChunks.filter((chunk) => chunk.offset < end);
    let index = firstChunkAt(chunks, offset);
    while (index < chunks.length) {
      const batch = nextBatch(chunks, index);
      const first = batch[0].revision;
      const span = Number(batch[batch.length - 1].revision - first) + 1;
      const events = await this.store.readStream(batch[0].stream, { fromRevision: first, maxCount: span });
      const wanted = new Map(batch.map((chunk) => [chunk.revision, chunk]));
      for (const event of events) {
        const chunk = wanted.get(event.revision);
        if (!chunk) continue;
        wanted.delete(event.revision);
        const data = event.data as RunOutputAppended['data'];
        if (event.type !== 'RunOutputAppended' || data.offset !== chunk.offset) {
          throw new Error(`The output of run ${run.id} is not where its index says (revision ${event.revision})`);
        }
        yield data;
      }
      if (wanted.size > 0) throw new Error(`The output of run ${run.id} is missing stored batches (revisions ${[...wanted.keys()].join(', ')})`);
      index += batch.length;
    }
  }
}

/** The part of a batch's bytes (stored at `at`) that lies in [offset, end), or null when none does. */
function within(bytes: Buffer, at: number, offset: number, end: number): Buffer | null {
  const from = Math.max(0, offset - at);
  const to = Math.min(bytes.length, end - at);
  if (from >= to) return null;
  return from > 0 || to < bytes.length ? bytes.subarray(from, to) : bytes;
}

/** The end of a run's stored output: where its last stored batch ends (0 before any). */
export function storedOutputEnd(run: Pick<RunRecord, 'outputChunks'>): number {
  const last = run.outputChunks[run.outputChunks.length - 1];
  return last ? last.offset + last.length : 0;
}

/** The chunks from `index` that one read fetches: a few output events of one stream, spanning a bounded number of revisions. */
function nextBatch(chunks: readonly OutputChunkRef[], index: number): OutputChunkRef[] {
  const batch = [chunks[index]];
  for (let next = index + 1; next < chunks.length && batch.length < OUTPUT_EVENTS_PER_READ; next++) {
    if (chunks[next].stream !== batch[0].stream || chunks[next].revision - batch[0].revision >= BigInt(EVENTS_PER_READ)) break;
    batch.push(chunks[next]);
  }
  return batch;
}

/** Binary search for the first chunk (or batch: anything with `offset` and `length`, in order) that ends after `offset`; `chunks.length` when none does. */
export function firstChunkAt(chunks: ReadonlyArray<{ offset: number; length: number }>, offset: number): number {
  let low = 0;
  let high = chunks.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (chunks[middle].offset + chunks[middle].length <= offset) low = middle + 1;
    else high = middle;
  }
  return low;
}
