import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import { storedOutputEnd } from '../runs/run-output.reader';
import { durationOf } from '../runs/run.view';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { LiveOutputHub } from './live-output.hub';
import { OutputBytes } from './output-bytes';
import { msUntilDue } from './page-state';
import type { ByteFrame, RunFeed } from './run-feed';
import type { LiveSendBudget } from './live-send-budget';
import { StoredFrames } from './stored-frames';
import { ViewedRun } from './viewed-run';
import { sseMessage, type SseConnection } from './sse-connection';
import { base64Length, writeBase64 } from '../shared/base64';

/** Events from the live window written together at most (they are shared, so this bounds only the socket's queue). */
const MAX_WRITE_BYTES = 4 * 1024 * 1024;
/**
 * The same while the run is running: what a viewer holds while it waits for the send
 * budget (see {@link LiveSendBudget}), frames the window may have let go meanwhile.
 */
const MAX_PACED_WRITE_BYTES = 1024 * 1024;

/**
 * `GET /api/runs/:id/output/stream`, event by event (API.md, "Live output"):
 *
 * - `status` — `{"status": …}`, first and whenever the run's status changes
 *   (how it finished is told by `end`);
 * - `output` — `{"offset": N, "data": "<base64>"}` with `id:` the offset after
 *   its last byte, so `Last-Event-ID` resumes exactly there;
 * - `end` — `{"status", "exitCode", "signal", "reason", "outputBytes",
 *   "droppedBytes", "durationMs", "outputExpired"}` with `id:` the total; then the
 *   answer ends. A run whose output expired (retention) gets its status and this
 *   `end` at once, with `outputExpired: true`, `outputExpiredAt` and `outputExpiredBy`:
 *   there are no bytes left to send;
 * - `: heartbeat` comments while nothing else is sent.
 *
 * Bytes come from the run's live window while it holds the viewer's offset,
 * otherwise from the store: whichever source, each event starts exactly where
 * the previous one ended, so nothing repeats and nothing is skipped. While the run
 * is running, output is sent within the run's send budget (`LiveSendBudget`), so
 * that viewers never slow the run; once it has finished, at the connection's speed.
 */
@Injectable()
export class ApiOutputStream {
  private readonly logger = new Logger(ApiOutputStream.name);

  constructor(
    private readonly hub: LiveOutputHub,
    private readonly runs: RunsReadModel,
    private readonly bytes: OutputBytes,
    private readonly clock: Clock,
  ) {}

  async serve(runId: string, from: number, connection: SseConnection): Promise<void> {
    const feed = this.hub.attach(runId, connection.waker, () => connection.end(), { wholeFrames: true });
    try {
      await this.loop(runId, from, feed, connection);
    } catch (error) {
      // The answer has begun: no error body can follow. The client resumes with `Last-Event-ID`.
      this.logger.warn(`The output stream of run ${runId} stopped: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.hub.detach(feed, connection.waker);
      connection.end();
    }
  }

  private async loop(runId: string, from: number, feed: RunFeed, connection: SseConnection): Promise<void> {
    let sent = from;
    let lastStatus: string | null = null;
    /** An offset the store had no byte at, once: the next time, the stream ends. */
    let missing: number | null = null;
    const viewed = new ViewedRun(this.runs, this.hub, runId);
    while (!connection.closed) {
      const run = viewed.current();
      if (!run) return;
      const status = this.runs.statusOf(run, this.clock.now());
      // After the first, a finished status comes with the end event, once all output is sent.
      if (status !== lastStatus && (lastStatus === null || run.phase !== 'finished')) {
        lastStatus = status;
        await connection.write(sseMessage({ event: 'status', data: JSON.stringify({ status }) }));
        continue;
      }
      if (run.outputExpiredAt !== null) {
        await connection.write(sseMessage({ id: run.outputBytes, event: 'end', data: JSON.stringify(this.summary(run)) }));
        return;
      }
      // Live bytes first; behind the live window, the stored output, decoded once for every viewer there.
      const source = feed.frameAt(sent) ? feed : run.outputBytes > sent ? await this.storedFrames(run, sent, feed) : null;
      if (source) {
        missing = null;
        sent = await this.sendFrames(source, sent, run.phase !== 'finished' ? feed.sendBudget : null, connection);
        continue;
      }
      if (run.outputBytes > sent) {
        // Not where the run's index said: its copy may be stale (its output expired meanwhile), so look again once.
        if (missing === sent) throw new Error(`the stored output has no byte at offset ${sent}, although the run has ${run.outputBytes}`);
        missing = sent;
        viewed.forget();
        continue;
      }
      if (run.phase === 'finished' && sent >= run.outputBytes && !feed.local) {
        // The run's size, not `sent`: a resume from past the end (a bogus Last-Event-ID) gets nothing, as /output does.
        await connection.write(sseMessage({ id: run.outputBytes, event: 'end', data: JSON.stringify(this.summary(run)) }));
        return;
      }
      await connection.waker.sleep(Math.min(connection.heartbeatInMs, msUntilDue(run, this.clock.now())));
      await connection.heartbeatIfDue();
    }
  }

  /**
   * Sends the frames `source` holds from `sent` on, in one write (one system call) of at
   * most {@link MAX_WRITE_BYTES}: a viewer that fell behind catches up at once, and the
   * fan-out costs a write per viewer per wake-up, not per frame. `budget`: the run is
   * running, so the write waits for its turn in the run's send budget. Returns the
   * offset after what was sent.
   */
  private async sendFrames(source: FrameSource, sent: number, budget: LiveSendBudget | null, connection: SseConnection): Promise<number> {
    const most = budget ? MAX_PACED_WRITE_BYTES : MAX_WRITE_BYTES;
    const events: Buffer[] = [];
    let size = 0;
    for (let frame = source.frameAt(sent); frame && size < most; frame = source.frameAt(sent)) {
      const event = frame.from === sent ? frameEvent(frame) : outputEvent(sent, frame.bytes.subarray(sent - frame.from));
      events.push(event);
      size += event.length;
      sent = frame.to;
    }
    if (budget) await waitForBudget(budget, size, connection);
    await connection.writeAll(events);
    return sent;
  }

  /**
   * The run's stored frames (shared by its viewers: see {@link StoredFrames}) when they
   * hold byte `offset` of its stored output (read from the store if need be), else null:
   * the store has no byte there although the run's index said so.
   */
  private async storedFrames(run: RunRecord, offset: number, feed: RunFeed): Promise<FrameSource | null> {
    const stored = (feed.stored ??= new StoredFrames());
    if (!stored.frameAt(offset)) {
      await stored.fill(offset, run.outputChunks, storedOutputEnd(run), (from, to) => this.bytes.stored(run, from, to));
    }
    return stored.frameAt(offset) ? stored : null;
  }

  private summary(run: RunRecord): Record<string, unknown> {
    return {
      status: run.finishedStatus ?? 'failed',
      exitCode: run.exitCode,
      signal: run.signal,
      reason: run.reason,
      outputBytes: run.outputBytes,
      droppedBytes: run.droppedBytes,
      durationMs: durationOf(run, this.clock.now()),
      outputExpired: run.outputExpiredAt !== null,
      ...(run.outputExpiredAt !== null ? { outputExpiredAt: run.outputExpiredAt, outputExpiredBy: run.outputExpiredBy } : {}),
    };
  }
}

const OUTPUT_EVENT_END = '"}\n\n';

/**
 * The `output` event for `bytes` at `offset`, as {@link sseMessage} would write it
 * (base64 has no line breaks, so the data is one `data:` line), built straight into
 * one buffer: this runs for every byte every viewer gets.
 */
export function outputEvent(offset: number, bytes: Buffer): Buffer {
  const head = `id: ${offset + bytes.length}\nevent: output\ndata: {"offset":${offset},"data":"`;
  const event = Buffer.allocUnsafe(head.length + base64Length(bytes.length) + OUTPUT_EVENT_END.length);
  const at = writeBase64(bytes, event, event.write(head, 0, 'latin1'));
  event.write(OUTPUT_EVENT_END, at, 'latin1');
  return event;
}

/**
 * Waits until the run's send budget has paid for `bytes` of this viewer's, or the viewer
 * left. Not on the waker: new output wakes it every turn of the event loop.
 */
async function waitForBudget(budget: LiveSendBudget, bytes: number, connection: SseConnection): Promise<void> {
  if (connection.closed) return;
  const ms = budget.reserve(bytes);
  if (ms > 0) await sleep(ms, undefined, { signal: connection.closing }).catch(() => undefined);
}

/** Frames of output by offset: the live window, or the stored frames behind it. */
type FrameSource = Pick<StoredFrames, 'frameAt'>;

/** The event for a whole frame, encoded once for every viewer. */
function frameEvent(frame: ByteFrame): Buffer {
  frame.sse ??= outputEvent(frame.from, frame.bytes);
  return frame.sse;
}
