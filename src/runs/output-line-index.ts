import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { decodeOutput } from './output-encoding';
import { firstChunkAt, RunOutputReader } from './run-output.reader';
import type { RunOutputAppended } from './run.events';
import type { OutputChunkRef, RunRecord } from './runs.read-model';

/**
 * One stored output batch as line numbering and per-line times need it.
 * Line numbers count `\n` bytes: line N starts after the (N-1)th newline, so a
 * line redrawn with carriage returns is one line, as a terminal shows it.
 */
export interface LineBatch {
  /** Byte offset of the batch's first byte. */
  offset: number;
  /** Raw bytes in the batch. */
  length: number;
  /** Newlines before the batch: the batch's first byte is on line `linesBefore + 1`. */
  linesBefore: number;
  /** Newlines in the batch. */
  lines: number;
  /** When the batch was received: its event's recorded time (ISO). */
  at: string;
}

/** Runs whose line index is kept in memory; a run read again after that rebuilds its own. */
const RUNS_KEPT = 64;
/** Output events one read spans at most (an output stream holds only output events). */
const EVENTS_PER_READ = 256;

interface Entry {
  batches: LineBatch[];
  /** How many of the run's chunk refs the batches cover. */
  covered: number;
}

/**
 * The newline count and received time of every stored batch of a run: what line
 * numbers, `#L120` links on a log shown from its tail, and per-line times need.
 *
 * The runs read model's chunk index holds where each batch is (stream,
 * revision, offset, length), not its newline count or time: those are read
 * here from the stored events once (their `lines` field, so no batch is
 * decompressed, except batches of the first form, which have none), kept for
 * the runs viewed last, and extended as a run's output grows.
 */
@Injectable()
export class OutputLineIndex {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: EventStore,
    private readonly reader: RunOutputReader,
  ) {}

  /** Every stored batch of the run, in offset order (empty when nothing is stored or the output expired). */
  async batches(run: RunRecord): Promise<readonly LineBatch[]> {
    const chunks = run.outputChunks;
    let entry = this.entries.get(run.id);
    if (entry && entry.covered > chunks.length) entry = undefined; // expired (or rebuilt): start again
    if (!entry) entry = { batches: [], covered: 0 };
    this.entries.delete(run.id);
    this.entries.set(run.id, entry);
    while (this.entries.size > RUNS_KEPT) this.entries.delete(this.entries.keys().next().value!);
    if (entry.covered < chunks.length) await this.extend(run, entry, chunks);
    return entry.batches;
  }

  /**
   * The number (1-based) of the line that holds byte `offset` of the stored
   * output: 1 + the newlines before it. Decompresses at most the one batch
   * holding `offset`.
   */
  async lineAt(run: RunRecord, offset: number): Promise<number> {
    const batches = await this.batches(run);
    const index = batchAt(batches, offset);
    if (index < 0) return 1 + (batches.length > 0 ? total(batches) : 0);
    const batch = batches[index];
    if (offset <= batch.offset) return batch.linesBefore + 1;
    let newlines = 0;
    for await (const bytes of this.reader.read(run, batch.offset, offset)) newlines += countNewlines(bytes);
    return batch.linesBefore + newlines + 1;
  }

  /**
   * Where line `line` starts (a byte offset), or null when the stored output
   * has fewer lines. Decompresses at most the one batch holding that newline.
   */
  async lineStart(run: RunRecord, line: number): Promise<number | null> {
    if (line <= 1) return line === 1 ? 0 : null;
    const batches = await this.batches(run);
    const wanted = line - 1; // the newline that ends line - 1
    let low = 0;
    let high = batches.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (batches[middle].linesBefore + batches[middle].lines < wanted) low = middle + 1;
      else high = middle;
    }
    if (low >= batches.length) return null;
    const batch = batches[low];
    let seen = batch.linesBefore;
    let at = batch.offset;
    for await (const bytes of this.reader.read(run, batch.offset, batch.offset + batch.length)) {
      for (let newline = bytes.indexOf(10); newline >= 0; newline = bytes.indexOf(10, newline + 1)) {
        if (++seen === wanted) return at + newline + 1;
      }
      at += bytes.length;
    }
    return null;
  }

  private async extend(run: RunRecord, entry: Entry, chunks: readonly OutputChunkRef[]): Promise<void> {
    let index = entry.covered;
    while (index < chunks.length) {
      const first = chunks[index];
      let last = index;
      while (last + 1 < chunks.length && chunks[last + 1].stream === first.stream && chunks[last + 1].revision - first.revision < BigInt(EVENTS_PER_READ)) last++;
      const span = Number(chunks[last].revision - first.revision) + 1;
      const events = await this.store.readStream(first.stream, { fromRevision: first.revision, maxCount: span });
      const byRevision = new Map(events.map((event) => [event.revision, event]));
      for (let i = index; i <= last; i++) {
        const chunk = chunks[i];
        const event = byRevision.get(chunk.revision);
        const data = event?.data as RunOutputAppended['data'] | undefined;
        if (!event || event.type !== 'RunOutputAppended' || data?.offset !== chunk.offset) {
          throw new Error(`The output of run ${run.id} is not where its index says (revision ${chunk.revision})`);
        }
        const previous = entry.batches[entry.batches.length - 1];
        entry.batches.push({
          offset: chunk.offset,
          length: chunk.length,
          linesBefore: previous ? previous.linesBefore + previous.lines : 0,
          lines: data.lines ?? countNewlines(decodeOutput(data)),
          at: event.metadata.at,
        });
      }
      index = last + 1;
      entry.covered = index;
    }
  }
}

/** The index of the batch holding byte `offset`, or -1 when it is past the stored output. */
export function batchAt(batches: readonly LineBatch[], offset: number): number {
  const index = firstChunkAt(batches, offset);
  return index < batches.length ? index : -1;
}

/** The newlines in all the batches. */
function total(batches: readonly LineBatch[]): number {
  const last = batches[batches.length - 1];
  return last.linesBefore + last.lines;
}

/** How many `\n` bytes a buffer holds. */
export function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}
