import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { decodeOutput } from './output-encoding';
import type { RunOutputAppended } from './run.events';
import { runStream } from './run.events';
import type { RunRecord } from './runs.read-model';

/** How many output events one read fetches: at most a few MiB in memory at once. */
const EVENTS_PER_READ = 8;

/**
 * Reads a run's stored output as bytes from its `RunOutputAppended` events,
 * starting at a byte offset: the read model's chunk index says which event
 * holds that byte, so a large log is never read from the beginning.
 */
@Injectable()
export class RunOutputReader {
  constructor(private readonly store: EventStore) {}

  /** Yields the output from `offset` on, as stored when the read began. */
  async *read(run: RunRecord, offset: number): AsyncGenerator<Buffer> {
    const chunks = run.outputChunks.slice();
    let index = firstChunkAt(chunks, offset);
    while (index < chunks.length) {
      const batch = chunks.slice(index, index + EVENTS_PER_READ);
      const events = await this.store.readStream(runStream(run.id), { fromRevision: batch[0].revision, maxCount: batch.length });
      for (const event of events) {
        if (event.type !== 'RunOutputAppended') continue;
        const data = event.data as RunOutputAppended['data'];
        const bytes = decodeOutput(data);
        const skip = Math.max(0, offset - data.offset);
        if (skip < bytes.length) yield skip > 0 ? bytes.subarray(skip) : bytes;
      }
      index += batch.length;
    }
  }
}

/** Binary search for the first chunk that ends after `offset`. */
function firstChunkAt(chunks: ReadonlyArray<{ offset: number; length: number }>, offset: number): number {
  let low = 0;
  let high = chunks.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (chunks[middle].offset + chunks[middle].length <= offset) low = middle + 1;
    else high = middle;
  }
  return low;
}
