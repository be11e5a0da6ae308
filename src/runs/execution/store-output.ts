import type { EventStore } from '../../event-store/event-store.port';
import { EMBEDDED_APPEND_PAYLOAD_CHARS, groupIntoAppends, MAX_APPEND_PAYLOAD_CHARS, type EncodedPart, type OutputEncoder } from '../output-encoding';
import type { OutputBatch } from '../runner/runner.types';
import type { RunWriter } from './run-writer';

/**
 * Records consecutive output batches of a run (the local runner's, and those a job
 * server uploads): their parts (compressed as each batch was sealed, or now) grouped
 * into as few appends as the store takes (EventStoreDB: 1 MiB an append; the embedded
 * log: one append, one commit, for all of them), one after the other. The same events,
 * format and compression whoever executed the run.
 */
export async function storeOutput(writer: RunWriter, encoder: OutputEncoder, storeKind: EventStore['kind'], batches: ReadonlyArray<Pick<OutputBatch, 'offset' | 'bytes' | 'prepared'>>): Promise<void> {
  const parts: Array<EncodedPart & { offset: number }> = [];
  for (const batch of batches) {
    const appends = await ((batch.prepared as Promise<EncodedPart[][]> | undefined) ?? encoder.encode(batch.bytes));
    for (const part of appends.flat()) parts.push({ ...part, offset: batch.offset + part.start });
  }
  const limit = storeKind === 'sqlite' ? EMBEDDED_APPEND_PAYLOAD_CHARS : MAX_APPEND_PAYLOAD_CHARS;
  for (const append of groupIntoAppends(parts, limit)) {
    await writer.recordAll(append.map(({ start: _start, ...part }) => ({ type: 'AppendOutput', runId: writer.runId, ...part })));
  }
}
