import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { appendEvents } from '../shared/decide-and-append';
import { ConflictError, NotFoundError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { BLOB_CHUNK_BYTES, blobStream, type BlobEvent } from './blob.events';

export interface StoredBlob {
  sha256: string;
  size: number;
}

/** Stores and reads content-addressed files in the event log. */
@Injectable()
export class BlobStore {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  /**
   * Stores the bytes unless they are already complete in the log. Each chunk is
   * its own append with the expected revision; an upload cut short (crash, full
   * disk) is resumed by the next upload of the same content, since the chunks
   * of one content are always the same.
   */
  async put(bytes: Buffer, context: CommandContext): Promise<StoredBlob> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // Two uploads of the same content may race: the loser re-reads and finds the work done or resumes it.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.storeChunks(bytes, sha256, context);
        return { sha256, size: bytes.length };
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt === 3) throw error;
      }
    }
  }

  private async storeChunks(bytes: Buffer, sha256: string, context: CommandContext): Promise<void> {
    const stream = blobStream(sha256);
    const existing = await this.store.readStream(stream);
    if (existing.some((event) => event.type === 'BlobCompleted')) return;
    const chunks = Math.max(1, Math.ceil(bytes.length / BLOB_CHUNK_BYTES));
    const deps = { store: this.store, clock: this.clock, ids: this.ids };
    let revision: bigint | null = existing.length > 0 ? existing[existing.length - 1].revision : null;
    for (let index = existing.length; index < chunks; index++) {
      const data = bytes.subarray(index * BLOB_CHUNK_BYTES, (index + 1) * BLOB_CHUNK_BYTES).toString('base64');
      const event: BlobEvent = { type: 'BlobChunkStored', data: { sha256, index, data } };
      revision = (await appendEvents(deps, stream, [event], revision ?? 'no_stream', context)).nextRevision;
    }
    const completed: BlobEvent = { type: 'BlobCompleted', data: { sha256, size: bytes.length, chunks } };
    await appendEvents(deps, stream, [completed], revision ?? 'no_stream', context);
  }

  /** The bytes of a complete blob, checked against its hash. */
  async get(sha256: string): Promise<Buffer> {
    const events = await this.store.readStream(blobStream(sha256));
    const completed = events.find((event) => event.type === 'BlobCompleted');
    if (!completed) throw new NotFoundError(`No stored file has the content ${sha256}`);
    const { chunks } = completed.data as { chunks: number };
    const parts = events
      .filter((event) => event.type === 'BlobChunkStored')
      .slice(0, chunks)
      .map((event) => Buffer.from((event.data as { data: string }).data, 'base64'));
    const bytes = Buffer.concat(parts);
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
      throw new Error(`The stored file ${sha256} does not match its hash`);
    }
    return bytes;
  }
}
