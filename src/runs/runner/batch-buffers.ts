/**
 * Batch-sized buffers kept between runs, shared by every output batcher of this
 * process (the server's local runner, or a job server).
 *
 * A fresh multi-megabyte buffer costs a page fault per 4 KiB on first write (see
 * output-batcher.ts). Kept per run, a run began with none: the first six batches of
 * every 100 MB run of `yes` were joined into fresh buffers, 60–70 ms of its 0.8 s
 * on this machine (CPU profile, `Buffer.copy` into them). Kept per process, the
 * next fast run finds them written once already.
 *
 * They are let go {@link IDLE_RELEASE_MS} after the last one came back, so a server
 * that ran one chatty build does not hold them (24 MiB at the local runner's 4 MiB
 * batches) for days.
 *
 * A kept buffer still holds an earlier run's output past the part a new batch
 * writes. A batch is only ever handed on as the view of its own bytes
 * (`subarray`), and nothing reads a batch's underlying `ArrayBuffer`, so that
 * never reaches another run's viewers or store.
 */

/** How long kept buffers outlive the last use (ms). */
export const IDLE_RELEASE_MS = 30_000;

/** Buffers of one size, at most `capacity` of them kept. */
export class BatchBufferPool {
  private readonly free: Buffer[] = [];
  /** Buffers given back that someone else may still read: taken once `ready()` says so, oldest first. */
  private readonly waiting: Array<{ buffer: Buffer; ready: () => boolean }> = [];
  private releaseTimer: NodeJS.Timeout | null = null;

  /**
   * @param size bytes of each buffer
   * @param capacity how many are kept at most, ready or waiting
   * @param idleMs how long kept buffers stay after the last {@link give} (ms)
   */
  constructor(
    readonly size: number,
    readonly capacity: number,
    private readonly idleMs: number = IDLE_RELEASE_MS,
  ) {}

  /** How many buffers are kept ready now. */
  get kept(): number {
    return this.free.length;
  }

  /** How many buffers wait until nobody else reads them. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** A buffer of {@link size} bytes: a kept one (holding whatever it held) when there is one ready, else a new one. */
  take(): Buffer {
    const kept = this.free.pop();
    if (kept !== undefined) return kept;
    const index = this.waiting.findIndex((entry) => entry.ready());
    if (index >= 0) return this.waiting.splice(index, 1)[0]!.buffer;
    return Buffer.allocUnsafeSlow(this.size);
  }

  /**
   * Keeps `buffer` for a later {@link take} when it is a whole buffer of this pool's
   * size: at once, or, with `ready`, once `ready()` says nobody reads it any more
   * (asked at each take). When the pool is full, the oldest waiting one makes room
   * (one that never gets ready must not block the pool for good), else `buffer` is
   * not kept. The caller hands it over: it may not write it afterwards.
   */
  give(buffer: Buffer, ready?: () => boolean): void {
    if (buffer.length !== this.size || buffer.byteOffset !== 0) return;
    if (this.free.length + this.waiting.length >= this.capacity) {
      if (this.waiting.length === 0) return;
      this.waiting.shift();
    }
    if (ready === undefined) this.free.push(buffer);
    else this.waiting.push({ buffer, ready });
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer);
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      this.free.length = 0;
      this.waiting.length = 0;
    }, this.idleMs);
    // Kept buffers never keep the process alive.
    this.releaseTimer.unref();
  }
}

const pools = new Map<number, BatchBufferPool>();

/** The process's pool of `size`-byte batch buffers, keeping at most `capacity` (fixed by the first caller of a size). */
export function sharedBatchBuffers(size: number, capacity: number): BatchBufferPool {
  let pool = pools.get(size);
  if (pool === undefined) {
    pool = new BatchBufferPool(size, capacity);
    pools.set(size, pool);
  }
  return pool;
}
