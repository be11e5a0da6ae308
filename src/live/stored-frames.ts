/**
 * Stored output of one run, decoded once for all the API viewers that have fallen
 * behind its live window: while a run floods, viewers wait for the send budget and
 * end up reading the store together, each a little apart. Ten viewers each reading,
 * inflating and encoding 100 MB on their own had it all 15 s after the request; shared,
 * the work is done once (5 s).
 *
 * Frames are cut at fixed places, whichever viewer asked first: at every multiple of
 * {@link STORED_FRAME_BYTES} of the output and at the end of every stored batch. So a
 * frame starting at an offset is the same frame for everybody, and its `output` event is
 * encoded once (`ByteFrame.sse`). A viewer in the middle of a frame sends the rest of it
 * as an event of its own, and is on the common cuts from then on.
 */
import { firstChunkAt } from '../runs/run-output.reader';
import type { OutputChunkRef } from '../runs/runs.read-model';
import type { ByteFrame } from './run-feed';

/** Largest stored frame: the API stream's largest event of stored output. */
export const STORED_FRAME_BYTES = 256 * 1024;
/** Decoded bytes one fill reads at least (whole stored batches, so none is inflated twice). */
export const FILL_BYTES = 4 * 1024 * 1024;
/** Decoded bytes kept (lowest offsets dropped first): room for viewers a few fills apart. */
export const STORED_WINDOW_BYTES = 16 * 1024 * 1024;

/** Reads the stored output bytes [from, to), yielding one piece per stored batch (`RunOutputReader.read`). */
export type ReadStored = (from: number, to: number) => AsyncIterable<Buffer>;

export class StoredFrames {
  /** Frames in offset order, never overlapping (they come from the same cuts). */
  private frames: ByteFrame[] = [];
  /** Decoded bytes the frames hold (their encodings, once made, add up to 4/3 of it). */
  private bytes = 0;
  /** The fill under way, which viewers arriving meanwhile wait for instead of reading the same batches. */
  private filling: Promise<void> | null = null;

  /** The frame holding byte `offset`, if kept. */
  frameAt(offset: number): ByteFrame | undefined {
    const frames = this.frames;
    let low = 0;
    let high = frames.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (frames[middle].to <= offset) low = middle + 1;
      else high = middle;
    }
    const frame = frames[low];
    return frame && frame.from <= offset ? frame : undefined;
  }

  /**
   * Makes sure `offset` is kept, reading from the store when it is not: at least
   * {@link FILL_BYTES} from the cut at or before `offset`, to the end of a stored batch
   * (`chunks`: the run's index of stored batches, in offset order; `storedEnd`: where the
   * stored output ends). Resolves without a frame at `offset` only when the store
   * holds nothing there. Rejects with the reader's error.
   */
  async fill(offset: number, chunks: readonly OutputChunkRef[], storedEnd: number, read: ReadStored): Promise<void> {
    // Another viewer's read failing is not this one's failure: it reads for itself then.
    while (this.filling) await this.filling.catch(() => undefined);
    if (this.frameAt(offset) || offset >= storedEnd) return;
    const from = offset - (offset % STORED_FRAME_BYTES);
    const last = firstChunkAt(chunks, Math.min(from + FILL_BYTES, storedEnd) - 1);
    const to = last < chunks.length ? Math.min(chunks[last].offset + chunks[last].length, storedEnd) : storedEnd;
    this.filling = this.read(from, to, read);
    try {
      await this.filling;
    } finally {
      this.filling = null;
    }
  }

  private async read(from: number, to: number, read: ReadStored): Promise<void> {
    let at = from;
    const taken: ByteFrame[] = [];
    for await (const piece of read(from, to)) {
      // Each piece ends where its stored batch ends (or at `to`): a cut.
      for (let start = 0; start < piece.length; ) {
        const end = Math.min(piece.length, start + (STORED_FRAME_BYTES - ((at + start) % STORED_FRAME_BYTES)));
        taken.push({ from: at + start, to: at + end, bytes: piece.subarray(start, end) });
        start = end;
      }
      at += piece.length;
    }
    this.add(taken);
  }

  /**
   * Adds frames (skipping those already kept), then drops the lowest offsets beyond
   * {@link STORED_WINDOW_BYTES}: viewers only move forward, so what lies behind the
   * slowest of them goes first. Never the frames just read: the viewer that asked is
   * about to send them, so it always moves on.
   */
  private add(taken: ByteFrame[]): void {
    const fresh = taken.filter((frame) => this.frameAt(frame.from) === undefined);
    if (fresh.length === 0) return;
    this.frames = this.frames.concat(fresh).sort((a, b) => a.from - b.from);
    for (const frame of fresh) this.bytes += frame.bytes.length;
    if (this.bytes <= STORED_WINDOW_BYTES) return;
    const keep = new Set(fresh);
    this.frames = this.frames.filter((frame) => {
      if (this.bytes <= STORED_WINDOW_BYTES || keep.has(frame)) return true;
      this.bytes -= frame.bytes.length;
      return false;
    });
  }
}
