import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { BLOB_CHUNK_BYTES, BLOB_CHUNKS_PER_APPEND, type BlobCompleted } from '../blobs/blob.events';
import { EventStore, StreamConflictError } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { RunsReadModel } from '../runs/runs.read-model';
import { readArtifact, type ArtifactCollection, type SkippedArtifact } from '../runs/runner/artifact-collector';
import { Clock } from '../shared/clock';
import { metadataFor, type CommandContext } from '../shared/command-context';
import { NotFoundError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import {
  ARTIFACT_ENTRIES_PER_EVENT,
  artifactContentStream,
  artifactListStream,
  ownerOfContentStream,
  type ArtifactEntry,
  type ArtifactEvent,
  type RunArtifactsCollected,
} from './artifact.events';
import { ArtifactsReadModel } from './artifacts.read-model';

/** Chunk events read at a time when serving: 16 × 64 KiB in memory at most. */
const CHUNKS_PER_READ = 16;
/** Tries of an append that raced another writer of the same stream. */
const ATTEMPTS = 5;

/** A file a runner announces, to be stored from a byte stream (the local runner reads its work directory; a job server would upload it). */
export interface ArtifactUpload {
  path: string;
  size: number;
  sha256: string;
  /** Its bytes, from the start; read only when no complete copy exists yet. */
  bytes: () => AsyncIterable<Buffer>;
}

/**
 * The storing and reading side of artifacts (see `artifact.events.ts` for the streams).
 * Transport-neutral: {@link storeRun} takes a run id, each file's path, size, sha256
 * and a byte stream, so the local executor (reading a work directory) and a job
 * server's upload endpoint (reading a request body) store the same way.
 */
@Injectable()
export class ArtifactStore {
  private readonly logger = new Logger(ArtifactStore.name);

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly artifacts: ArtifactsReadModel,
    private readonly runs: RunsReadModel,
    private readonly projections: ProjectionEngine,
  ) {}

  /**
   * Stores what the collector found in a local work directory (see {@link storeRun}).
   * Never throws: a failure is logged and the files not stored are named as skipped.
   */
  async storeCollection(runId: string, collection: ArtifactCollection, context: CommandContext): Promise<void> {
    const uploads = collection.files.map((file) => ({ path: file.path, size: file.size, sha256: file.sha256, bytes: () => readArtifact(file.absolutePath) }));
    try {
      await this.storeRun(runId, uploads, collection.skipped, context);
    } catch (error) {
      this.logger.error(`The artifacts of run ${runId} could not be stored: ${String(error)}`);
    }
  }

  /**
   * Stores a run's artifacts: each file's bytes (or a reference to a complete copy
   * of the same bytes, deduplicated by sha256), then the run's list, in
   * `artifacts-<runId>`. A file whose bytes do not match its size and sha256 (it
   * changed while being read, or an upload was cut) is listed as skipped, saying so.
   * Recorded once: a second call for the same run (a retry) stores nothing more.
   */
  async storeRun(runId: string, files: readonly ArtifactUpload[], skipped: readonly SkippedArtifact[], context: CommandContext): Promise<void> {
    const listed = await this.store.readStream(artifactListStream(runId), { maxCount: 1 });
    if (listed.length > 0) return;
    const entries: ArtifactEntry[] = [];
    const notKept: SkippedArtifact[] = [...skipped];
    for (const file of files) {
      try {
        const content = await this.putContent(runId, file, context);
        entries.push({ path: file.path, size: file.size, sha256: file.sha256, content });
      } catch (error) {
        if (!(error instanceof ContentMismatchError)) throw error;
        notKept.push({ path: file.path, size: file.size, reason: error.message });
      }
    }
    await this.recordList(runId, entries, notKept, context);
  }

  /**
   * Makes the bytes of `file` available to `runId`: references a complete copy when
   * one exists (appending `ArtifactContentReferenced` with the expected revision, so a
   * release racing it loses), else stores them in the run's own copy. Returns the
   * content stream.
   */
  private async putContent(runId: string, file: ArtifactUpload, context: CommandContext): Promise<string> {
    const existing = this.artifacts.liveContent(file.sha256);
    if (existing !== null && (await this.reference(existing, file.sha256, runId, context))) return existing;
    const stream = artifactContentStream(file.sha256, runId);
    await this.storeChunks(stream, file, runId, context);
    return stream;
  }

  /** Adds a reference to a complete, unreleased copy; false when it is released or gone. */
  async reference(stream: string, sha256: string, runId: string, context: CommandContext): Promise<boolean> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const [last] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      if (!last || (last.type !== 'BlobCompleted' && last.type !== 'ArtifactContentReferenced')) return false;
      try {
        await this.append(stream, [{ type: 'ArtifactContentReferenced', data: { sha256, runId } }], last.revision, context);
        return true;
      } catch (error) {
        if (!(error instanceof StreamConflictError)) throw error;
      }
    }
    return false;
  }

  /**
   * Writes the bytes as 64 KiB chunks (chunk i at revision i), several per append
   * within EventStoreDB's limit, then `BlobCompleted` and the run's reference together.
   * A store cut short is resumed by the next try (its chunks are the same).
   */
  private async storeChunks(stream: string, file: ArtifactUpload, runId: string, context: CommandContext): Promise<void> {
    const events = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    const last = events[0];
    if (last && last.type !== 'BlobChunkStored') return;
    let revision: bigint | 'no_stream' = last ? last.revision : 'no_stream';
    const stored = last ? Number(last.revision) + 1 : 0;
    const hash = createHash('sha256');
    let size = 0;
    let index = 0;
    let pending: ArtifactEventOrChunk[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      revision = (await this.append(stream, pending, revision, context)).nextRevision;
      pending = [];
    };
    let carry: Buffer = Buffer.alloc(0);
    const emit = async (chunk: Buffer): Promise<void> => {
      if (index >= stored) pending.push({ type: 'BlobChunkStored', data: { sha256: file.sha256, index, data: chunk.toString('base64') } });
      index++;
      if (pending.length === BLOB_CHUNKS_PER_APPEND) await flush();
    };
    for await (const part of file.bytes()) {
      hash.update(part);
      size += part.length;
      if (size > file.size) throw new ContentMismatchError(file);
      carry = carry.length === 0 ? part : Buffer.concat([carry, part]);
      while (carry.length >= BLOB_CHUNK_BYTES) {
        await emit(carry.subarray(0, BLOB_CHUNK_BYTES));
        carry = carry.subarray(BLOB_CHUNK_BYTES);
      }
    }
    if (size !== file.size || hash.digest('hex') !== file.sha256) throw new ContentMismatchError(file);
    // An empty file is one empty chunk, so every copy has at least one.
    if (carry.length > 0 || index === 0) await emit(carry);
    const completed: BlobCompleted = { type: 'BlobCompleted', data: { sha256: file.sha256, size, chunks: index } };
    pending.push(completed, { type: 'ArtifactContentReferenced', data: { sha256: file.sha256, runId } });
    await flush();
  }

  /** The run's list, in appends of {@link ARTIFACT_ENTRIES_PER_EVENT} entries an event, a few events an append; once per run. */
  async recordList(runId: string, files: ArtifactEntry[], skipped: SkippedArtifact[], context: CommandContext): Promise<void> {
    const events: RunArtifactsCollected[] = [];
    for (let at = 0; at < Math.max(files.length, skipped.length); at += ARTIFACT_ENTRIES_PER_EVENT) {
      events.push({
        type: 'RunArtifactsCollected',
        data: { runId, files: files.slice(at, at + ARTIFACT_ENTRIES_PER_EVENT), skipped: skipped.slice(at, at + ARTIFACT_ENTRIES_PER_EVENT) },
      });
    }
    if (events.length === 0) return;
    let expected: bigint | 'no_stream' = 'no_stream';
    for (let at = 0; at < events.length; at += 2) {
      try {
        const result = await this.append(artifactListStream(runId), events.slice(at, at + 2), expected, context);
        expected = result.nextRevision;
      } catch (error) {
        // Recorded meanwhile by another attempt for the same run: nothing to add.
        if (error instanceof StreamConflictError && at === 0) return;
        throw error;
      }
    }
  }

  /**
   * Bytes `start`…`end` (exclusive) of an artifact, a few chunks in memory at a time,
   * checked whole against its sha256 when the whole file is read.
   *
   * @throws NotFoundError before the first byte when the copy is gone (released).
   */
  async *read(record: ArtifactEntry, start = 0, end = record.size): AsyncGenerator<Buffer> {
    const [first] = await this.store.readStream(record.content, { maxCount: 1 });
    if (!first) throw new NotFoundError(`The bytes of ${record.path} are no longer stored`);
    const whole = start === 0 && end === record.size;
    const hash = createHash('sha256');
    let position = Math.floor(start / BLOB_CHUNK_BYTES) * BLOB_CHUNK_BYTES;
    let next = Math.floor(start / BLOB_CHUNK_BYTES);
    while (position < end) {
      const events = await this.store.readStream(record.content, { fromRevision: BigInt(next), maxCount: CHUNKS_PER_READ });
      const chunks = events.filter((event) => event.type === 'BlobChunkStored');
      if (chunks.length === 0) throw new Error(`The stored bytes of ${record.path} end early`);
      for (const event of chunks) {
        const bytes = Buffer.from((event.data as { data: string }).data, 'base64');
        if (whole) hash.update(bytes);
        const from = Math.max(start - position, 0);
        const to = Math.min(end - position, bytes.length);
        if (to > from) yield bytes.subarray(from, to);
        position += bytes.length;
        if (position >= end) break;
      }
      next += events.length;
    }
    if (whole && hash.digest('hex') !== record.sha256) throw new Error(`The stored bytes of ${record.path} do not match their sha256`);
  }

  /**
   * Retention expired the run's output: its artifacts go with it. Each copy it kept,
   * and each copy named after it that no list names (stored, whole or in part, by a
   * run that ended without recording its list), is released and deleted when no run
   * that still keeps artifacts references it; then the run's list stream is deleted.
   * Safe to repeat (after a stop in between).
   */
  async releaseRun(runId: string, context: CommandContext): Promise<void> {
    // Most runs have no artifacts: no read of the store for them (retention calls this for every expired run at start).
    const listed = this.artifacts.hasList(runId);
    const contents = new Set([...(listed ? this.artifacts.contentsOf(runId) : []), ...this.artifacts.copiesOf(runId)]);
    if (contents.size > 0) await this.caughtUp();
    for (const stream of contents) await this.releaseContent(stream, context);
    if (!listed) return;
    const list = artifactListStream(runId);
    const [last] = await this.store.readStream(list, { direction: 'backwards', maxCount: 1 });
    if (last) await this.store.deleteStream(list);
  }

  private async releaseContent(stream: string, context: CommandContext): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const [last] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      if (!last) return;
      if (last.type === 'ArtifactContentReleased') {
        await this.store.deleteStream(stream);
        return;
      }
      // Only the run a copy is named after stores its chunks: while it may, the copy is on its way to a list.
      if (last.type === 'BlobChunkStored' && this.stillKeeps(ownerOfContentStream(stream))) return;
      // The references are the events after `BlobCompleted`: read them from the end (an unfinished copy has none).
      const referencing = last.type === 'BlobChunkStored' ? [] : await this.referencesOf(stream, last.revision);
      if (referencing.some((runId) => this.stillKeeps(runId))) return;
      try {
        // With the expected revision: a chunk or a reference appended meanwhile makes this look again.
        await this.append(stream, [{ type: 'ArtifactContentReleased', data: { sha256: (last.data as { sha256: string }).sha256 } }], last.revision, context);
      } catch (error) {
        if (error instanceof StreamConflictError) continue; // Referenced meanwhile: look again.
        throw error;
      }
      await this.store.deleteStream(stream);
      return;
    }
  }

  /** The run ids of a copy's `ArtifactContentReferenced` events (read backwards from `lastRevision` to `BlobCompleted`). */
  private async referencesOf(stream: string, lastRevision: bigint): Promise<string[]> {
    const runIds: string[] = [];
    let from = lastRevision;
    for (;;) {
      const events = await this.store.readStream(stream, { direction: 'backwards', fromRevision: from, maxCount: 100 });
      for (const event of events) {
        if (event.type !== 'ArtifactContentReferenced') return runIds;
        runIds.push((event.data as { runId: string }).runId);
      }
      if (events.length < 100) return runIds;
      from = events[events.length - 1].revision - 1n;
    }
  }

  /**
   * Whether a run may still need the copy: it keeps artifacts (listed, not expired),
   * or the read models do not show it finished (its list may still be on its way).
   * A finished run with no list kept nothing.
   */
  private stillKeeps(runId: string): boolean {
    if (this.artifacts.keeps(runId)) return true;
    const run = this.runs.get(runId);
    return !run || run.phase !== 'finished';
  }

  /** Waits until the read models show everything appended so far (before deciding on a release). */
  async caughtUp(): Promise<void> {
    const head = await this.store.headPosition();
    if (head) await this.projections.waitFor(head).catch(() => undefined);
  }

  private append(stream: string, events: readonly ArtifactEventOrChunk[], expected: bigint | 'no_stream', context: CommandContext) {
    const metadata = metadataFor(context, this.clock.now());
    return this.store.append(stream, events.map((event) => ({ id: this.ids.newEventId(), type: event.type, data: event.data, metadata })), expected);
  }
}

type ArtifactEventOrChunk = ArtifactEvent | { type: 'BlobChunkStored'; data: { sha256: string; index: number; data: string } } | BlobCompleted;

/** The bytes read did not match the size and sha256 announced. */
export class ContentMismatchError extends Error {
  constructor(file: { path: string; size: number; sha256: string }) {
    super(`its bytes changed while they were stored (expected ${file.size} bytes with sha256 ${file.sha256})`);
    this.name = 'ContentMismatchError';
  }
}
