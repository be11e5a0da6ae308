import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import { EventStore } from '../event-store/event-store.port';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { appendEvents } from '../shared/decide-and-append';
import { ConflictError, NotFoundError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { BLOB_CHUNK_BYTES, BLOB_CHUNKS_PER_APPEND, blobStream, type BlobCompleted, type BlobEvent } from './blob.events';

export interface StoredBlob {
  sha256: string;
  size: number;
}

/** Bytes on disk to store as a blob: a spooled upload, with the hash and size measured while it was written. */
export interface BlobSource {
  path: string;
  size: number;
  sha256: string;
}

/**
 * How many chunk events one read fetches: 4 × 64 KiB (or 4 × 512 KiB of an older log) at
 * most in memory. Few, because what is alive when V8's young generation is collected
 * (8 MiB with `--max-semi-space-size=4`, as the server runs) is promoted and stays until
 * a full collection: with 16 a 40 MiB download raised the server's RSS by 40–45 MiB,
 * with 4 by 14–22 (`uploads.e2e`), with 1 by 6–11 at four times the reads.
 */
const CHUNKS_PER_READ = 4;

/**
 * Stores and reads content-addressed files in the event log, one chunk at a
 * time: neither storing nor reading holds a whole file in memory.
 */
@Injectable()
export class BlobStore {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  /**
   * Stores a file's bytes from disk unless they are already complete in the log.
   * Each chunk is its own append with the expected revision; `BlobCompleted`
   * comes last, and only after the bytes read matched `source.sha256` and
   * `source.size`. A store cut short (crash, full disk) leaves chunks without
   * `BlobCompleted`: harmless, since nothing refers to an incomplete blob, and
   * resumed by the next upload of the same content (its chunks are the same).
   *
   * @throws Error when the file's bytes do not match the hash or size given.
   */
  async put(source: BlobSource, context: CommandContext): Promise<StoredBlob> {
    // Two uploads of the same content may race: the loser re-reads and finds the work done or resumes it.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.storeChunks(source, context);
        return { sha256: source.sha256, size: source.size };
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt === 3) throw error;
      }
    }
  }

  private async storeChunks(source: BlobSource, context: CommandContext): Promise<void> {
    const { sha256, size } = source;
    const stream = blobStream(sha256);
    // Only the last event is read: chunk i is always revision i, and `BlobCompleted` ends a complete blob.
    const [last] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    if (last?.type === 'BlobCompleted') return;
    const stored = last ? Number(last.revision) + 1 : 0;
    const chunkBytes = stored > 0 ? await this.chunkSizeOf(stream, size) : BLOB_CHUNK_BYTES;
    const chunks = Math.max(1, Math.ceil(size / chunkBytes));
    const deps = { store: this.store, clock: this.clock, ids: this.ids };
    const hash = createHash('sha256');
    let revision: bigint | null = last ? last.revision : null;
    let pending: BlobEvent[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      revision = (await appendEvents(deps, stream, pending, revision ?? 'no_stream', context)).nextRevision;
      pending = [];
    };
    const file = await open(source.path, 'r');
    try {
      const buffer = Buffer.alloc(chunkBytes);
      let read = 0;
      for (let index = 0; index < chunks; index++) {
        const { bytesRead } = await file.read(buffer, 0, chunkBytes, index * chunkBytes);
        const bytes = buffer.subarray(0, bytesRead);
        hash.update(bytes);
        read += bytesRead;
        if (index < stored) continue;
        pending.push({ type: 'BlobChunkStored', data: { sha256, index, data: bytes.toString('base64') } });
        if (pending.length === BLOB_CHUNKS_PER_APPEND) await flush();
      }
      const { bytesRead: beyond } = await file.read(buffer, 0, 1, read);
      if (read !== size || beyond > 0 || hash.digest('hex') !== sha256) {
        throw new Error(`The bytes at ${source.path} do not match the size ${size} and hash ${sha256} they were given with`);
      }
      await flush();
    } finally {
      await file.close();
    }
    const completed: BlobEvent = { type: 'BlobCompleted', data: { sha256, size, chunks } };
    await appendEvents(deps, stream, [completed], revision ?? 'no_stream', context);
  }

  /** The chunk size an unfinished blob was begun with (an older server may have used another). */
  private async chunkSizeOf(stream: string, size: number): Promise<number> {
    const [first] = await this.store.readStream(stream, { maxCount: 1 });
    const length = Buffer.byteLength((first.data as { data: string }).data, 'base64');
    // A first chunk no longer than the file is a full chunk (or the whole file): its length is the size used.
    return length > 0 && length <= size ? length : BLOB_CHUNK_BYTES;
  }

  /**
   * The bytes of a complete blob, chunk by chunk (a few chunk events in memory
   * at a time), checked against its size and hash as they are read.
   *
   * @throws NotFoundError before the first chunk when the blob is not complete;
   *   Error after the last chunk when the bytes do not match their hash.
   */
  async *read(sha256: string): AsyncGenerator<Buffer> {
    const completed = await this.completion(sha256);
    const hash = createHash('sha256');
    let size = 0;
    for (let next = 0; next < completed.chunks; next += CHUNKS_PER_READ) {
      const events = await this.store.readStream(blobStream(sha256), { fromRevision: BigInt(next), maxCount: Math.min(CHUNKS_PER_READ, completed.chunks - next) });
      for (const event of events) {
        if (event.type !== 'BlobChunkStored') continue;
        const bytes = Buffer.from((event.data as { data: string }).data, 'base64');
        hash.update(bytes);
        size += bytes.length;
        yield bytes;
      }
    }
    if (size !== completed.size || hash.digest('hex') !== sha256) throw new Error(`The stored file ${sha256} does not match its hash`);
  }

  /** The bytes of a complete blob, whole (for callers that need a buffer); see {@link read}. */
  async get(sha256: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of this.read(sha256)) parts.push(part);
    return Buffer.concat(parts);
  }

  /** Whether a blob's bytes are complete in the log (false once retention or a deletion removed them). */
  async isComplete(sha256: string): Promise<boolean> {
    const [last] = await this.store.readStream(blobStream(sha256), { direction: 'backwards', maxCount: 1 });
    return last?.type === 'BlobCompleted';
  }

  /** The `BlobCompleted` of a blob: its size and chunk count. */
  private async completion(sha256: string): Promise<BlobCompleted['data']> {
    const [last] = await this.store.readStream(blobStream(sha256), { direction: 'backwards', maxCount: 1 });
    if (last?.type !== 'BlobCompleted') throw new NotFoundError(`No stored file has the content ${sha256}`);
    return last.data as BlobCompleted['data'];
  }
}
