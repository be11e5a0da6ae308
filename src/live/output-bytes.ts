import { Injectable } from '@nestjs/common';
import { RunOutputReader } from '../runs/run-output.reader';
import type { RunRecord } from '../runs/runs.read-model';
import type { RunFeed } from './run-feed';

/**
 * A run's output bytes wherever they are: the live window in memory first
 * (it may hold bytes not stored yet), else the store (bytes the window no
 * longer holds).
 */
@Injectable()
export class OutputBytes {
  constructor(private readonly reader: RunOutputReader) {}

  /**
   * The end of what can be read now: the stored output, or further when the live window
   * is ahead; a finished run's is what its end recorded, wherever the window got to (a
   * batch of an upload stored just before an end recorded without its runner lies
   * beyond it, and is not the run's: see `LiveOutputHub.ended`).
   */
  available(run: RunRecord, feed: RunFeed | undefined): number {
    if (run.phase === 'finished') return run.outputBytes;
    return Math.max(run.outputBytes, feed?.started ? feed.end : 0);
  }

  /**
   * Bytes [from, to): fewer when not all are available yet (an empty buffer
   * when none is). Reads at most `to - from` bytes into memory. Always bytes of
   * its own: the live window's buffers are reused by the runner once the window
   * moved on (see `RunFeed.heldFrom`), and callers await between reading and using.
   */
  async read(run: RunRecord, feed: RunFeed | undefined, from: number, to: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let at = from;
    while (at < to) {
      const live = feed?.slice(at, to);
      if (live && live.length > 0) {
        // A copy at once: the store is read (awaited) before the parts are joined.
        parts.push(Buffer.from(live));
        at += live.length;
        continue;
      }
      if (run.outputBytes <= at) break;
      let progressed = false;
      for await (const chunk of this.reader.read(run, at)) {
        const piece = chunk.subarray(0, Math.min(chunk.length, to - at));
        parts.push(piece);
        at += piece.length;
        progressed = true;
        if (at >= to || feed?.frameAt(at)) break;
      }
      if (!progressed) break;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** Stored bytes [from, to), a piece per stored batch (see `RunOutputReader.read`): for the API stream's stored frames. */
  stored(run: RunRecord, from: number, to: number): AsyncGenerator<Buffer> {
    return this.reader.read(run, from, to);
  }
}
