/**
 * Artifacts arriving from a job server (docs/API.md "Runner protocol", the artifact
 * endpoints). The job server collects them with the same collector as the local
 * runner, then:
 *
 * 1. announces the list (`{files: [{path, size, sha256}], skipped}`): the server
 *    references a complete copy for every content it already has (deduplicated as a
 *    local run's are) and answers the contents it still lacks, each with the offset of
 *    the bytes it holds of it;
 * 2. uploads each lacking content from that offset (stored as 64 KiB chunks in the
 *    run's own copy, `artifactdata-<sha256>-<runId>`, checked against the sha256 when
 *    complete);
 * 3. announces the list again: once nothing is lacking, the run's list is recorded,
 *    once (a repeated announcement is acknowledged).
 *
 * Everything is read from the log, nothing is kept in memory between requests, so a
 * server restart or another server sharing the store continues where the last left
 * off. Chunk i of a copy is at revision i, appended with the expected revision: two
 * uploads of the same bytes never store them twice.
 */
import { createHash, type Hash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { BLOB_CHUNK_BYTES, BLOB_CHUNKS_PER_APPEND } from '../blobs/blob.events';
import { AppConfig } from '../config/app-config';
import { EventStore, StreamConflictError } from '../event-store/event-store.port';
import type { SkippedArtifact } from '../runs/runner/artifact-collector';
import { Clock } from '../shared/clock';
import { metadataFor, type CommandContext } from '../shared/command-context';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { ArtifactStore } from './artifact-store';
import { artifactContentStream, artifactListStream, type ArtifactEntry } from './artifact.events';
import { ArtifactsReadModel } from './artifacts.read-model';

/** A file a job server announces. */
export interface AnnouncedArtifact {
  path: string;
  size: number;
  sha256: string;
}

/** A content the server lacks, and how many of its bytes it holds already (upload from there). */
export interface LackingContent {
  sha256: string;
  size: number;
  offset: number;
}

/** The upload of a content does not continue where the server's copy ends: `offset` is where it does (409). */
export class ContentOffsetMismatch extends ConflictError {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** The most entries (files and skipped) one run announces: the collector keeps at most 10,000 files. */
const MAX_ENTRIES = 20_000;
const MAX_PATH = 1024;

@Injectable()
export class ArtifactUploads {
  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly artifacts: ArtifactStore,
    private readonly readModel: ArtifactsReadModel,
  ) {}

  /**
   * Takes a run's announced list: when every content is available to the run (its own
   * complete copy, or a reference to another run's), records the list and answers
   * `{recorded: true, lacking: []}`; otherwise answers what to upload. Files past the
   * server's `ENDERCOMPUTE_MAX_ARTIFACT_BYTES` (in the order given) are recorded as
   * skipped, saying so, whatever the job server decided.
   *
   * @throws ValidationError naming every malformed entry.
   */
  async announce(runId: string, body: unknown, context: CommandContext): Promise<{ recorded: boolean; lacking: LackingContent[] }> {
    const { files, skipped } = checkedList(body, this.config.maxArtifactBytes);
    const [listed] = await this.store.readStream(artifactListStream(runId), { maxCount: 1 });
    if (listed) return { recorded: true, lacking: [] };
    // First what is lacking, without writing: references are appended only in the round that records the list.
    const lacking = new Map<string, LackingContent>();
    const found = new Map<string, string | { held: number; chunks: number }>();
    for (const file of files) {
      if (found.has(file.sha256)) continue;
      const where = await this.availableContent(runId, file, null);
      found.set(file.sha256, where);
      if (typeof where !== 'string') lacking.set(file.sha256, { sha256: file.sha256, size: file.size, offset: where.held });
    }
    if (lacking.size > 0) return { recorded: false, lacking: [...lacking.values()] };
    const resolved = new Map<string, string>();
    for (const file of files) {
      if (resolved.has(file.sha256)) continue;
      const where = await this.availableContent(runId, file, context);
      if (typeof where === 'string') resolved.set(file.sha256, where);
      // Released meanwhile (retention): upload it after all.
      else lacking.set(file.sha256, { sha256: file.sha256, size: file.size, offset: where.held });
    }
    if (lacking.size > 0) return { recorded: false, lacking: [...lacking.values()] };
    const entries: ArtifactEntry[] = files.map((file) => ({ ...file, content: resolved.get(file.sha256) as string }));
    await this.artifacts.recordList(runId, entries, skipped, context);
    return { recorded: true, lacking: [] };
  }

  /**
   * Stores bytes of one content of `runId` from byte `offset` (`chunks`: the request
   * body, as it arrives). Bytes the server holds already are skipped; full 64 KiB
   * chunks are appended as they fill; when the content is complete it is checked
   * against `sha256` and `size` and marked complete. Resolves with the bytes held
   * afterwards (`size` once complete; less when the body ended early or broke off:
   * upload the rest from there).
   *
   * @throws ContentOffsetMismatch (409) when `offset` is beyond the bytes held.
   * @throws ValidationError (400) when the bytes do not match `size` and `sha256` (the partial copy is discarded).
   */
  async storePart(runId: string, sha256: string, size: number, offset: number, chunks: AsyncIterable<Buffer>, context: CommandContext): Promise<number> {
    const problems = contentProblems(sha256, size, this.config.maxArtifactBytes);
    if (problems.length > 0) throw new ValidationError(problems);
    const found = await this.availableContent(runId, { sha256, size }, context);
    if (typeof found === 'string') return size;
    const stream = artifactContentStream(sha256, runId);
    const held = found.held;
    if (offset > held) throw new ContentOffsetMismatch(held, `The server holds ${held} bytes of content ${sha256}: send from there, not from ${offset}`);
    const hash = await this.hashOfStored(stream, found.chunks);
    let revision: bigint | 'no_stream' = found.chunks === 0 ? 'no_stream' : BigInt(found.chunks - 1);
    let index = found.chunks;
    let position = held;
    let skip = held - offset;
    let pending: Buffer[] = [];
    let carry: Buffer = Buffer.alloc(0);
    const flush = async (extra: Array<{ type: string; data: unknown }> = []): Promise<void> => {
      const events = [...pending.map((bytes, at) => ({ type: 'BlobChunkStored', data: { sha256, index: index - pending.length + at, data: bytes.toString('base64') } })), ...extra];
      if (events.length === 0) return;
      try {
        revision = (await this.append(stream, events, revision, context)).nextRevision;
      } catch (error) {
        // Another upload of the same bytes (a retry racing this one) got there first: ask where to continue.
        if (error instanceof StreamConflictError) throw new ContentOffsetMismatch(await this.availableHeld(runId, sha256, size, context), `Content ${sha256} was being stored by another request`);
        throw error;
      }
      pending = [];
    };
    try {
      for await (const received of chunks) {
        let part = received;
        if (skip > 0) {
          const dropped = Math.min(skip, part.length);
          part = part.subarray(dropped);
          skip -= dropped;
        }
        if (part.length === 0) continue;
        if (position + carry.length + part.length > size) throw new ValidationError([`more than the ${size} bytes announced for content ${sha256}`]);
        carry = carry.length === 0 ? part : Buffer.concat([carry, part]);
        while (carry.length >= BLOB_CHUNK_BYTES && position + BLOB_CHUNK_BYTES < size) {
          const chunk = carry.subarray(0, BLOB_CHUNK_BYTES);
          hash.update(chunk);
          pending.push(Buffer.from(chunk));
          carry = carry.subarray(BLOB_CHUNK_BYTES);
          position += BLOB_CHUNK_BYTES;
          index++;
          if (pending.length === BLOB_CHUNKS_PER_APPEND) await flush();
        }
      }
    } catch (error) {
      // What arrived in whole chunks is kept (the body broke off, or was refused): the next upload continues after it.
      await flush().catch(() => undefined);
      if (error instanceof ValidationError) await this.discard(stream);
      throw error;
    }
    if (position + carry.length < size) {
      await flush();
      return position;
    }
    // The last chunk (the only one that may be short; an empty content is one empty chunk).
    hash.update(carry);
    if (hash.digest('hex') !== sha256) {
      await flush().catch(() => undefined);
      await this.discard(stream);
      throw new ValidationError([`the ${size} bytes uploaded for content ${sha256} have another sha256: upload it again from 0`]);
    }
    pending.push(Buffer.from(carry));
    index++;
    await flush([
      { type: 'BlobCompleted', data: { sha256, size, chunks: index } },
      { type: 'ArtifactContentReferenced', data: { sha256, runId } },
    ]);
    return size;
  }

  /**
   * Where `runId` finds the content: the name of a complete copy it references (its
   * own, or another run's, referenced now; with `context` null only looked up, so
   * nothing is written), or how much of its own copy is stored (`held` bytes in
   * `chunks` full chunks).
   */
  private async availableContent(runId: string, file: { sha256: string; size: number }, context: CommandContext | null): Promise<string | { held: number; chunks: number }> {
    const own = artifactContentStream(file.sha256, runId);
    const [last] = await this.store.readStream(own, { direction: 'backwards', maxCount: 1 });
    if (last && (last.type === 'BlobCompleted' || last.type === 'ArtifactContentReferenced')) return own;
    if (!last) {
      const existing = this.readModel.liveContent(file.sha256);
      if (existing !== null && existing !== own && (context === null || (await this.artifacts.reference(existing, file.sha256, runId, context)))) {
        return existing;
      }
      return { held: 0, chunks: 0 };
    }
    if (last.type !== 'BlobChunkStored') return { held: 0, chunks: 0 };
    const chunks = Number(last.revision) + 1;
    return { held: chunks * BLOB_CHUNK_BYTES, chunks };
  }

  private async availableHeld(runId: string, sha256: string, size: number, context: CommandContext): Promise<number> {
    const found = await this.availableContent(runId, { sha256, size }, context);
    return typeof found === 'string' ? size : found.held;
  }

  /** The sha256 state after the first `chunks` stored chunks (read back: a resumed upload is checked whole). */
  private async hashOfStored(stream: string, chunks: number): Promise<Hash> {
    const hash = createHash('sha256');
    for (let next = 0; next < chunks; ) {
      const events = await this.store.readStream(stream, { fromRevision: BigInt(next), maxCount: 16 });
      if (events.length === 0) break;
      for (const event of events) if (event.type === 'BlobChunkStored') hash.update(Buffer.from((event.data as { data: string }).data, 'base64'));
      next += events.length;
    }
    return hash;
  }

  /** A copy whose bytes turned out wrong is dropped (it was never complete, so nothing references it). */
  private async discard(stream: string): Promise<void> {
    const [last] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    if (last && last.type === 'BlobChunkStored') await this.store.deleteStream(stream);
  }

  private append(stream: string, events: ReadonlyArray<{ type: string; data: unknown }>, expected: bigint | 'no_stream', context: CommandContext) {
    const metadata = metadataFor(context, this.clock.now());
    return this.store.append(stream, events.map((event) => ({ id: this.ids.newEventId(), type: event.type, data: event.data, metadata })), expected);
  }
}

function contentProblems(sha256: unknown, size: unknown, maxBytes: number): string[] {
  const problems: string[] = [];
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) problems.push('sha256 must be 64 lower-case hex digits');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) problems.push('size must be a whole number of bytes from 0');
  else if (size > maxBytes) problems.push(`size ${size} is beyond ENDERCOMPUTE_MAX_ARTIFACT_BYTES (${maxBytes} bytes)`);
  return problems;
}

/** Why a path may not name an artifact: a plain relative `/`-separated path, as the collector makes them. */
function pathProblem(path: unknown): string | null {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH) return `must be a relative path of 1–${MAX_PATH} characters`;
  if (path.includes('\0') || path.includes('\\')) return 'must not hold NUL or a backslash';
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'must be a plain relative path (no leading /, no empty, . or .. parts)';
  return null;
}

/**
 * The announced list, checked (every problem named in one 400), with the server's
 * size limit applied: files past `maxBytes` in total move to `skipped`.
 */
export function checkedList(body: unknown, maxBytes: number): { files: AnnouncedArtifact[]; skipped: SkippedArtifact[] } {
  const { files, skipped } = (body ?? {}) as { files?: unknown; skipped?: unknown };
  if (!Array.isArray(files) || !Array.isArray(skipped)) throw new ValidationError(['the body must be {files: [{path, size, sha256}], skipped: [{path, size, reason}]}']);
  if (files.length + skipped.length > MAX_ENTRIES) throw new ValidationError([`at most ${MAX_ENTRIES} files and skipped files in all`]);
  const problems: string[] = [];
  const paths = new Set<string>();
  files.forEach((file: { path?: unknown; size?: unknown; sha256?: unknown } | null, at) => {
    if (file === null || typeof file !== 'object') return void problems.push(`files[${at}] must be {path, size, sha256}`);
    const path = pathProblem(file.path);
    if (path) problems.push(`files[${at}].path ${path}`);
    else if (paths.has(file.path as string)) problems.push(`files[${at}].path ${String(file.path)} is listed twice`);
    paths.add(file.path as string);
    for (const problem of contentProblems(file.sha256, file.size, Number.MAX_SAFE_INTEGER)) problems.push(`files[${at}].${problem}`);
  });
  skipped.forEach((entry: { path?: unknown; size?: unknown; reason?: unknown } | null, at) => {
    if (entry === null || typeof entry !== 'object' || typeof entry.path !== 'string' || entry.path.length > MAX_PATH + 10 || !Number.isSafeInteger(entry.size) || (entry.size as number) < 0 || typeof entry.reason !== 'string' || entry.reason.length > 1000) {
      problems.push(`skipped[${at}] must be {path, size, reason} (a path of at most ${MAX_PATH} characters, a whole size from 0, a reason of at most 1000 characters)`);
    }
  });
  if (problems.length > 0) throw new ValidationError(problems);
  const kept: AnnouncedArtifact[] = [];
  const notKept = (skipped as SkippedArtifact[]).map(({ path, size, reason }) => ({ path, size, reason }));
  let total = 0;
  for (const { path, size, sha256 } of files as AnnouncedArtifact[]) {
    if (total + size > maxBytes) notKept.push({ path, size, reason: `it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (${maxBytes} bytes)` });
    else {
      total += size;
      kept.push({ path, size, sha256 });
    }
  }
  return { files: kept, skipped: notKept };
}
