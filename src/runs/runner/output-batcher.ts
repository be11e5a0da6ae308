/**
 * Turns the chunks read from a process's stdout and stderr into ordered
 * {@link OutputBatch}es, hands them over one at a time, and tells the reader when to
 * stop reading so memory stays bounded however fast the process writes.
 */
import { type BatchBufferPool, sharedBatchBuffers } from './batch-buffers';
import type { OutputBatch, OutputStreamName } from './runner.types';

/** Reading pauses once more than this many batches' worth of bytes wait to be stored. */
export const HIGH_WATER_BATCHES = 4;
/** Reading resumes once no more than this many batches' worth of bytes wait. */
export const LOW_WATER_BATCHES = 2;
/** Full batches that are handed over without waiting for the flush interval. */
export const MIN_DELIVERY_BATCHES = 2;
/**
 * Areas a fast run's reads filled and stored that wait in the pool for the live
 * viewers' window to move past them before they are reused (see
 * {@link OutputBatcher.readTarget}): at the window a run keeps unwatched or watched by
 * pages (2 MiB), one or two.
 */
const WAITING_AREAS = 2;
/** Size of the areas a slow writer's reads land in; a fast writer's are batch-sized, from the pool. */
export const SMALL_AREA_BYTES = 64 * 1024;

/**
 * Batch-sized buffers kept for the next batches, at most (in one pool for every run
 * of the process, see batch-buffers.ts): a fast writer's run fills a new one every
 * few milliseconds, and a fresh multi-megabyte buffer costs a page fault per 4 KiB on
 * first write (measured here: joining 100 MB into fresh 4 MiB buffers took
 * 220–280 ms, into reused ones 6 ms). About as many as one run can have in use at
 * once: the pressure bound's batches plus the delivery on its way.
 */
export const SPARE_BUFFERS = HIGH_WATER_BATCHES + MIN_DELIVERY_BATCHES + WAITING_AREAS;

/** What the batcher needs from its owner. */
export interface OutputBatcherOptions {
  flushIntervalMs: number;
  maxBatchBytes: number;
  /** Bytes kept before the rest is dropped; null for no limit. */
  maxOutputBytes: number | null;
  /**
   * Stores the batches waiting, in order (one or more, every one sealed since the
   * last delivery: storing them together takes one append where the store allows);
   * the next ones are handed over only after this settles. A batch's `bytes` are
   * the caller's only until then (and until its `prepared` settled): the buffer a
   * batch lies in may be reused for a later one, so whatever keeps bytes longer
   * copies them.
   */
  deliver(batches: OutputBatch[]): Promise<void>;
  /**
   * Called with each batch's bytes as soon as it is sealed, so that work on it
   * (compressing) overlaps with storing the batches before it; what it returns
   * travels with the batch as {@link OutputBatch.prepared}. The bytes may be read
   * until the returned promise settles (see `deliver`).
   */
  prepare?(bytes: Buffer): unknown;
  /**
   * Sees every kept chunk synchronously, with its offset in the stored output. A chunk
   * read in place (see {@link OutputBatcher.readTarget}) lies in a buffer that is
   * reused once {@link liveHeldFrom} passed it: whoever keeps a chunk longer copies it.
   */
  onLiveChunk?(stream: OutputStreamName, chunk: Buffer, offset: number): void;
  /**
   * With `onLiveChunk`: the offset of the oldest byte its receiver may still hold; it
   * only ever moves forward. Absent or Infinity: it holds nothing.
   */
  liveHeldFrom?(): number;
  /** `true`: stop reading the pipes; `false`: read again. */
  onPressure(paused: boolean): void;
  /** Called once when storing failed (or {@link OutputBatcher.fail} was called). */
  onFailure(error: unknown): void;
  /** Where batch-sized buffers come from and go back to; by default the process's pool for `maxBatchBytes`. */
  buffers?: BatchBufferPool;
}

/** Totals reported once all output was stored. */
export interface OutputTotals {
  /** Bytes handed to `deliver`, including any truncation notice. */
  outputBytes: number;
  /** Bytes read beyond `maxOutputBytes` and discarded. */
  droppedBytes: number;
}

interface Piece {
  stream: OutputStreamName;
  bytes: Buffer;
  /** The area the bytes were read into, when they were read in place. */
  area?: Area;
}

/**
 * A buffer reads land in (see {@link OutputBatcher.readTarget}). Batches sealed from it
 * are views of it, so it is reused only when none of them is being stored any more,
 * reads have moved on to another area, and live viewers can no longer hold its bytes.
 */
interface Area {
  buffer: Buffer;
  /** Bytes read into it so far. */
  used: number;
  /** Batches of it not yet stored (and prepared). */
  batches: number;
  /** When the first read landed in it (ms, `performance.now()`); null before. */
  firstReadAt: number | null;
  /**
   * Output offsets of its first kept byte and after its last (once reads moved on). Equal
   * when none of its bytes went to live viewers: a buffer {@link OutputBatcher.join}
   * wrote, or reads beyond `maxOutputBytes`.
   */
  start: number;
  end: number;
  /** From the pool (batch-sized): goes back there. */
  pooled: boolean;
}

/**
 * Batches by size (`maxBatchBytes`) and by time (`flushIntervalMs` after the first
 * byte not handed over), and hands them over in groups (see `pump`). Deliveries start
 * only after {@link release}, so the owner can report the process as started first.
 */
export class OutputBatcher {
  /** The batch being filled. */
  private open: Piece[] = [];
  private openBytes = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  /** The flush interval passed while a delivery was on its way: the open batch goes with the next one. */
  private flushDue = false;
  /** Sealed batches waiting for their turn. */
  private readonly queue: OutputBatch[] = [];
  /** Bytes accepted but not yet stored: open + queued + the one being stored. */
  private pending = 0;
  /** Offset the next kept byte will have. */
  private keptBytes = 0;
  /** Offset the next sealed batch will have. */
  private sealedBytes = 0;
  private droppedBytes = 0;
  private paused = false;
  private released = false;
  private delivering = false;
  private finishing = false;
  private failure: { error: unknown } | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Batch-sized buffers: those of stored batches go back, for the next batches (see {@link SPARE_BUFFERS}). */
  private readonly buffers: BatchBufferPool;
  /**
   * The batches that are views of a buffer of the batcher's own (an area read into, or
   * a buffer {@link join} wrote into), with that buffer: only these are reused (a chunk
   * pushed may be held elsewhere, by live viewers).
   */
  private readonly own = new WeakMap<Buffer, Area>();
  /** The area reads land in now (see {@link readTarget}); the only one not handed back when its batches are stored. */
  private area: Area | null = null;

  constructor(private readonly options: OutputBatcherOptions) {
    this.buffers = options.buffers ?? sharedBatchBuffers(options.maxBatchBytes, SPARE_BUFFERS);
  }

  /** Bytes read but not yet stored. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Whether the owner was told to stop reading. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Accepts one chunk as read from `stream`. */
  push(stream: OutputStreamName, chunk: Buffer): void {
    if (this.finishing || chunk.length === 0) return;
    this.accept(stream, this.keep(chunk));
  }

  /** The part of `chunk` within `maxOutputBytes`; the rest is counted as dropped. */
  private keep(chunk: Buffer): Buffer {
    const limit = this.options.maxOutputBytes;
    if (limit === null || this.keptBytes + chunk.length <= limit) return chunk;
    // Read and drop rather than stop reading: a process must never block on a full pipe because of the cap.
    const kept = chunk.subarray(0, Math.max(0, limit - this.keptBytes));
    this.droppedBytes += chunk.length - kept.length;
    return kept;
  }

  /**
   * Where the next read from the process should land: the free rest of the current
   * area. Reading straight into the buffers batches are made of spares a copy of every
   * byte and an allocation per read (see output-channel.ts). A slow writer's reads land
   * in {@link SMALL_AREA_BYTES} areas; while a writer fills its areas at that much per
   * flush interval or more, its next areas are batch-sized buffers from the pool. No
   * batch spans two areas, so a batch is always a view, never a copy.
   */
  readTarget(): Buffer {
    const area = this.area !== null && this.area.used < this.area.buffer.length ? this.area : this.nextArea();
    return area.buffer.subarray(area.used);
  }

  /** `bytes`: what the last read put at the start of {@link readTarget}'s buffer. */
  pushRead(bytes: Buffer): void {
    const area = this.area;
    if (area === null || bytes.length === 0) return;
    area.firstReadAt ??= performance.now();
    area.used += bytes.length;
    if (this.finishing || this.failure !== null) return;
    this.accept('stdout', this.keep(bytes), area);
    // Reads go on in another area: what is open now is sealed, so no batch spans two.
    if (area.used === area.buffer.length && this.openBytes > 0) this.seal(this.openBytes);
  }

  /** Starts handing batches over (until now they were only queued). */
  release(): void {
    this.released = true;
    this.pump();
  }

  /** Records a failure from outside (e.g. the start could not be recorded): stops storing and discards output. */
  fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = { error };
    this.clearFlushTimer();
    this.open = [];
    this.openBytes = 0;
    this.queue.length = 0;
    this.pending = 0;
    this.updatePressure();
    this.notifyIfIdle();
    this.options.onFailure(error);
  }

  /**
   * Call once no more output can come: stores what is left, then the truncation
   * notice if bytes were dropped. Resolves when every batch was stored; rejects with
   * the first storage failure.
   */
  async finish(): Promise<OutputTotals> {
    this.finishing = true;
    this.clearFlushTimer();
    if (this.failure === null) {
      if (this.openBytes > 0) this.seal(this.openBytes);
      if (this.droppedBytes > 0) {
        // The notice is its own, final batch so that it is visible wherever the output is shown.
        const notice = Buffer.from(`\n[EnderCompute: output truncated, ${this.droppedBytes} bytes dropped]\n`);
        this.accept('stderr', notice);
        this.seal(this.openBytes);
      }
      this.pump();
    }
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIfIdle();
    });
    // No more reads: the last area goes back too, once its batches are stored.
    const last = this.area;
    this.area = null;
    if (last !== null) this.leave(last);
    if (this.failure !== null) throw this.failure.error;
    return { outputBytes: this.sealedBytes, droppedBytes: this.droppedBytes };
  }

  private accept(stream: OutputStreamName, bytes: Buffer, area?: Area): void {
    if (bytes.length === 0) return;
    const offset = this.keptBytes;
    this.keptBytes += bytes.length;
    this.callLive(stream, bytes, offset);
    if (this.failure !== null) return;
    this.open.push(area === undefined ? { stream, bytes } : { stream, bytes, area });
    this.openBytes += bytes.length;
    this.pending += bytes.length;
    while (this.openBytes >= this.options.maxBatchBytes) this.seal(this.options.maxBatchBytes);
    this.startFlushTimer();
    this.updatePressure();
    this.pump();
  }

  private callLive(stream: OutputStreamName, bytes: Buffer, offset: number): void {
    try {
      this.options.onLiveChunk?.(stream, bytes, offset);
    } catch {
      // A failing live viewer must not break the run or its stored output.
    }
  }

  /** Moves the first `size` bytes of the open batch into the queue. */
  private seal(size: number): void {
    const parts: Buffer[] = [];
    const pieces: OutputBatch['pieces'] = [];
    let area = this.open[0]?.area;
    let taken = 0;
    while (taken < size) {
      const piece = this.open[0];
      if (piece === undefined) break;
      const want = size - taken;
      let part = piece.bytes;
      if (part.length > want) {
        this.open[0] = { ...piece, bytes: part.subarray(want) };
        part = part.subarray(0, want);
      } else {
        this.open.shift();
      }
      if (piece.area !== area) area = undefined;
      parts.push(part);
      taken += part.length;
      const last = pieces[pieces.length - 1];
      if (last !== undefined && last.stream === piece.stream) last.length += part.length;
      else pieces.push({ stream: piece.stream, length: part.length });
    }
    this.openBytes -= taken;
    const bytes = area !== undefined ? this.view(area, parts, taken) : this.join(parts, taken);
    const prepared = this.prepareBatch(bytes);
    this.queue.push({ offset: this.sealedBytes, bytes, pieces, ...(prepared === undefined ? {} : { prepared }) });
    this.sealedBytes += taken;
  }

  /**
   * The parts as one buffer (unless they are one already): the start of a spare
   * batch-sized buffer when they fill at least a quarter of a batch (a fast writer's
   * batches sealed by size, or by the flush interval while one was being stored),
   * a buffer of their own size otherwise (a slow writer's few bytes).
   */
  private join(parts: Buffer[], size: number): Buffer {
    if (parts.length === 1) return parts[0]!;
    if (size * 4 < this.options.maxBatchBytes) return Buffer.concat(parts, size);
    const buffer = this.buffers.take();
    let at = 0;
    for (const part of parts) at += part.copy(buffer, at);
    const bytes = buffer.subarray(0, size);
    // Nobody else sees this buffer: it may be reused as soon as its batch is stored.
    this.own.set(bytes, { buffer, used: size, batches: 1, firstReadAt: null, start: 0, end: 0, pooled: true });
    return bytes;
  }

  /** Parts read one after the other into `area`, as one view of it. */
  private view(area: Area, parts: Buffer[], size: number): Buffer {
    const first = parts[0]!;
    const bytes = Buffer.from(first.buffer, first.byteOffset, size);
    area.batches++;
    this.own.set(bytes, area);
    return bytes;
  }

  /** The area the next reads land in, after the current one (full, or none yet). */
  private nextArea(): Area {
    const previous = this.area;
    // A writer that filled its last area at a small area per flush interval or faster is fast:
    // its batches are sealed by size, not by time. One that slowed down goes back to small areas.
    const fast = previous !== null && previous.firstReadAt !== null && this.buffers.size > SMALL_AREA_BYTES &&
      (performance.now() - previous.firstReadAt) * SMALL_AREA_BYTES < this.options.flushIntervalMs * previous.used;
    if (previous !== null) {
      this.area = null;
      this.leave(previous);
    }
    const area: Area = {
      buffer: fast ? this.buffers.take() : Buffer.allocUnsafeSlow(SMALL_AREA_BYTES),
      used: 0,
      batches: 0,
      firstReadAt: null,
      start: this.keptBytes,
      end: this.keptBytes,
      pooled: fast,
    };
    this.area = area;
    return area;
  }

  /** Reads no longer land in `area` (it is not {@link area} any more): it goes back once its batches are stored. */
  private leave(area: Area): void {
    area.end = this.keptBytes;
    if (area.batches === 0) this.retire(area);
  }

  /**
   * An area nothing of this batcher uses any more: back to the pool, to be taken once
   * live viewers cannot hold its bytes (its chunks were theirs to see: their window
   * has moved past it, or the run's feed is gone); a small one is left to the collector.
   */
  private retire(area: Area): void {
    if (!area.pooled) return;
    const heldFrom = this.options.liveHeldFrom;
    if (area.end === area.start || this.options.onLiveChunk === undefined) this.buffers.give(area.buffer);
    else this.buffers.give(area.buffer, () => (heldFrom?.() ?? Number.POSITIVE_INFINITY) >= area.end);
  }

  /** Gives the buffers of stored batches back for the next ones (this run's or a later run's), once nothing reads them any more. */
  private recycle(batches: readonly OutputBatch[]): void {
    for (const batch of batches) {
      const area = this.own.get(batch.bytes);
      if (area === undefined) continue;
      const done = (): void => {
        area.batches--;
        if (area.batches === 0 && area !== this.area) this.retire(area);
      };
      void Promise.resolve(batch.prepared).then(done, done);
    }
  }

  /** Starts the owner's work on a sealed batch; a failure surfaces when the batch is delivered. */
  private prepareBatch(bytes: Buffer): unknown {
    if (this.options.prepare === undefined) return undefined;
    try {
      const prepared = this.options.prepare(bytes);
      // Awaited at delivery; until then a rejection must not count as unhandled.
      if (prepared instanceof Promise) prepared.catch(() => undefined);
      return prepared;
    } catch (error) {
      const failed = Promise.reject(error);
      failed.catch(() => undefined);
      return failed;
    }
  }

  /**
   * Hands over the batches waiting, if none are being stored and it is time: once
   * {@link MIN_DELIVERY_BATCHES} full batches wait, once the oldest byte not handed over
   * waited `flushIntervalMs` (then the open batch is sealed and goes too), or at the end.
   * Every delivery is a commit in the store, which may hold up the event loop (the
   * embedded log commits synchronously): few large deliveries keep the pipe read.
   */
  private pump(): void {
    if (!this.released || this.delivering || this.failure !== null) return;
    const due = this.flushDue || this.finishing || this.queue.length >= MIN_DELIVERY_BATCHES;
    if (!due) return;
    if (this.flushDue && this.openBytes > 0) this.seal(this.openBytes);
    this.flushDue = false;
    if (this.queue.length === 0) {
      this.notifyIfIdle();
      return;
    }
    const batches = this.queue.splice(0);
    const bytes = batches.reduce((sum, batch) => sum + batch.bytes.length, 0);
    this.delivering = true;
    // The bytes still open get their own interval from now.
    this.clearFlushTimer();
    this.startFlushTimer();
    let stored: Promise<void>;
    try {
      stored = Promise.resolve(this.options.deliver(batches));
    } catch (error) {
      stored = Promise.reject(error);
    }
    stored.then(
      () => {
        this.delivering = false;
        this.recycle(batches);
        this.pending -= bytes;
        this.updatePressure();
        this.pump();
      },
      (error: unknown) => {
        this.delivering = false;
        this.fail(error);
      },
    );
  }

  /** Starts the flush interval if bytes wait to be handed over and none is running. */
  private startFlushTimer(): void {
    if ((this.openBytes === 0 && this.queue.length === 0) || this.flushTimer !== null || this.finishing || this.failure !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flushDue = true;
      this.pump();
    }, this.options.flushIntervalMs);
  }

  private updatePressure(): void {
    const { maxBatchBytes } = this.options;
    // After a failure output is discarded, so reading must go on: the process is being killed and must not block.
    const shouldPause = this.failure === null && (this.paused
      ? this.pending > LOW_WATER_BATCHES * maxBatchBytes
      : this.pending > HIGH_WATER_BATCHES * maxBatchBytes);
    if (shouldPause !== this.paused) {
      this.paused = shouldPause;
      this.options.onPressure(shouldPause);
    }
  }

  private notifyIfIdle(): void {
    const idle = this.failure !== null || (!this.delivering && this.queue.length === 0);
    if (!idle || !this.finishing) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
  }
}
