/**
 * The recent output of one run, in memory, for the viewers of its live
 * streams: a window of the last {@link WINDOW_BYTES} bytes as frames, fed
 * either straight from the process (a run this server executes: bytes arrive
 * as soon as they are read, before they are stored) or from the stored
 * `RunOutputAppended` events as the projections see them (a run another
 * server executes). Both may feed the same run; bytes already held are ignored.
 *
 * Viewers never get a queue of their own: each keeps only its byte offset and
 * reads the frame at it, or the store when it has fallen behind the window.
 * So memory per run is bounded however many viewers there are, and a slow
 * viewer never holds the run back. While a viewer of whole frames (the API
 * stream) watches, the window is larger ({@link WATCHED_WINDOW_BYTES}); run pages
 * render the tail, which the small window always holds.
 */
import { LiveSendBudget } from './live-send-budget';
import type { StoredFrames } from './stored-frames';
import type { Waker } from './waker';

/** Recent output kept per run. A viewer further behind reads the store instead. */
export const WINDOW_BYTES = 2 * 1024 * 1024;
/**
 * Recent output kept per run while it has viewers of whole frames. At 100 MB/s, 2 MiB is 20 ms:
 * ten viewers sharing two cores fall that far behind, and each then reads,
 * inflates and encodes the store on its own, where the window's frames are
 * encoded once for all. Measured with ten viewers of a 100 MB run: 2.6× the
 * unwatched run with 2 MiB, 2.05× with 16 MiB, the same with 128 MiB.
 * Costs up to 16 MiB, plus the shared encodings, per watched run.
 */
export const WATCHED_WINDOW_BYTES = 16 * 1024 * 1024;
/** Largest frame: chunks read in the same turn of the event loop are joined up to this size. */
export const MAX_FRAME_BYTES = 256 * 1024;

/** A piece of the output; its encodings for the streams are made once and shared by every viewer. */
export interface ByteFrame {
  from: number;
  to: number;
  bytes: Buffer;
  /** The API stream's `output` event for the whole frame, once a viewer needed it. */
  sse?: Buffer;
}

export class RunFeed {
  /** Sealed frames, contiguous, oldest first. */
  private readonly frames: ByteFrame[] = [];
  private windowBytes = 0;
  /** Bytes taken in but not yet sealed into a frame (they are, before this turn of the event loop ends). */
  private open: Buffer[] = [];
  private openFrom = 0;
  private openBytes = 0;
  private sealScheduled = false;
  private startedAt: number | null = null;
  /** Offset after the last sealed byte: what viewers can see. */
  private sealedEnd = 0;
  /** The process of this run is running on this server and feeds bytes directly. */
  local = false;
  readonly viewers = new Set<Waker>();
  /**
   * The viewers (among {@link viewers}) that send whole frames: the API stream writes one
   * event, encoded once for all, per frame. Only they need a turn's chunks joined; the
   * run page renders slices of the window and never copies them.
   */
  readonly frameViewers = new Set<Waker>();
  /** What its API viewers may send while the run is running (see {@link LiveSendBudget}). */
  readonly sendBudget: LiveSendBudget;
  /** The stored output its API viewers behind the window share, once one needed it (the API stream makes it). */
  stored: StoredFrames | null = null;
  /** Called after frames were sealed (the shared page renderer listens). */
  onSealed: (() => void) | null = null;

  /** `sendBudget`: the run's own, at the default rate unless given (tests). */
  constructor(
    readonly runId: string,
    sendBudget?: LiveSendBudget,
  ) {
    this.sendBudget = sendBudget ?? new LiveSendBudget();
  }

  /** Whether any byte arrived yet; before that the window is empty. */
  get started(): boolean {
    return this.startedAt !== null;
  }

  /** First byte offset the window holds. */
  get start(): number {
    return this.frames.length > 0 ? this.frames[0].from : this.sealedEnd;
  }

  /** Offset after the last byte viewers can see. */
  get end(): number {
    return this.sealedEnd;
  }

  /** Offset after the last byte taken in (sealed or not). */
  get takenEnd(): number {
    return this.openBytes > 0 ? this.openFrom + this.openBytes : this.sealedEnd;
  }

  /**
   * Takes in output bytes at `offset`. Bytes already held are skipped; a gap
   * (bytes missing before `offset`) restarts the window there, since viewers
   * behind it read the store anyway.
   */
  append(offset: number, bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.startedAt === null) {
      this.startedAt = offset;
      this.sealedEnd = offset;
      this.openFrom = offset;
    }
    const held = this.takenEnd;
    if (offset + bytes.length <= held) return;
    if (offset > held) {
      this.seal();
      this.frames.length = 0;
      this.windowBytes = 0;
      this.sealedEnd = offset;
      this.openFrom = offset;
    } else if (offset < held) {
      bytes = bytes.subarray(held - offset);
    }
    if (this.openBytes > 0 && this.openBytes + bytes.length > MAX_FRAME_BYTES) this.seal();
    if (this.openBytes === 0) this.openFrom = this.sealedEnd;
    this.open.push(bytes);
    this.openBytes += bytes.length;
    if (!this.sealScheduled) {
      this.sealScheduled = true;
      // After the current turn: chunks read together become one frame, and every viewer wakes once.
      setImmediate(() => {
        this.sealScheduled = false;
        this.seal();
      });
    }
  }

  /** The frame holding byte `offset`, if the window still has it. */
  frameAt(offset: number): ByteFrame | undefined {
    const frames = this.frames;
    if (frames.length === 0 || offset < frames[0].from || offset >= this.sealedEnd) return undefined;
    // Viewers are nearly always at one of the last frames.
    for (let i = frames.length - 1; i >= 0; i--) if (frames[i].from <= offset) return frames[i];
    return undefined;
  }

  /** Bytes [from, to) if the window holds `from` (fewer when it ends before `to`), else null. */
  slice(from: number, to: number): Buffer | null {
    if (this.frameAt(from) === undefined) return null;
    const parts: Buffer[] = [];
    let at = from;
    while (at < to) {
      const frame = this.frameAt(at);
      if (!frame) break;
      const piece = frame.bytes.subarray(at - frame.from, Math.min(frame.bytes.length, to - frame.from));
      parts.push(piece);
      at += piece.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /**
   * The offset of the oldest byte the feed holds (Infinity when it holds none). It only
   * ever moves forward: frames are dropped from the front and never come back, and new
   * bytes come after the ones held. The runner reuses the buffers of bytes before it;
   * whoever keeps part of a frame beyond the current turn copies it.
   */
  get heldFrom(): number {
    if (this.frames.length > 0) return this.frames[0].from;
    return this.openBytes > 0 ? this.openFrom : Number.POSITIVE_INFINITY;
  }

  /**
   * Lets go of every byte: the hub no longer keeps this feed. Whoever still holds it
   * (a page being rendered) then finds nothing in the window and reads the store, and
   * never a buffer the runner reused once the feed was gone.
   */
  release(): void {
    this.stored = null;
    this.frames.length = 0;
    this.windowBytes = 0;
    this.open = [];
    this.openBytes = 0;
  }

  /** Wakes every viewer (new output, or something else they should look at). */
  wakeViewers(): void {
    for (const viewer of this.viewers) viewer.wake();
  }

  private seal(): void {
    if (this.openBytes === 0) return;
    // Joined for viewers of whole frames (one event, one encoding per frame). Otherwise each
    // chunk is a frame of its own: joining copied every byte a run wrote once more (a
    // quarter of the event loop's time storing 100 MB of `yes`; with ten run pages watching
    // 100 MB of log lines, 150 ms and the collections of the copies) for nobody's use.
    const pieces = this.frameViewers.size > 0 && this.open.length > 1 ? [Buffer.concat(this.open, this.openBytes)] : this.open;
    this.open = [];
    this.openBytes = 0;
    for (const bytes of pieces) {
      const frame: ByteFrame = { from: this.openFrom, to: this.openFrom + bytes.length, bytes };
      this.frames.push(frame);
      this.windowBytes += bytes.length;
      this.sealedEnd = frame.to;
      this.openFrom = frame.to;
    }
    this.trim();
    this.wakeViewers();
    this.onSealed?.();
  }

  /**
   * Drops the oldest frames beyond the window: {@link WATCHED_WINDOW_BYTES} while a
   * viewer of whole frames watches, else {@link WINDOW_BYTES} (called as frames are
   * sealed, and when the last such viewer leaves). Run pages alone keep the small
   * window: 16 MiB of buffers held made V8 collect more often (it counts memory outside
   * its heap against the room left in it: with ten pages watching 100 MB, collections
   * took about a third less time without them), and a page only needs the tail.
   */
  trim(): void {
    const keep = this.frameViewers.size > 0 ? WATCHED_WINDOW_BYTES : WINDOW_BYTES;
    while (this.frames.length > 1 && this.windowBytes - this.frames[0].bytes.length >= keep) {
      this.windowBytes -= this.frames.shift()!.bytes.length;
    }
  }
}
