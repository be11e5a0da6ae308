import { Injectable, Logger } from '@nestjs/common';
import { durationOf } from '../runs/run.view';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { LiveOutputHub } from './live-output.hub';
import { OutputBytes } from './output-bytes';
import { msUntilDue } from './page-state';
import type { ByteFrame, RunFeed } from './run-feed';
import { ViewedRun } from './viewed-run';
import { sseMessage, type SseConnection } from './sse-connection';
import { base64Length, writeBase64 } from '../shared/base64';

/** Largest piece of stored output sent as one event. */
const MAX_EVENT_BYTES = 256 * 1024;
/** Events from the live window written together at most (they are shared, so this bounds only the socket's queue). */
const MAX_WRITE_BYTES = 4 * 1024 * 1024;

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
 * the previous one ended, so nothing repeats and nothing is skipped.
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
      const frame = feed.frameAt(sent);
      if (frame) {
        // Every frame the window holds from here goes in one write (one system call): a viewer that
        // fell behind catches up at once, and the fan-out costs a write per viewer per wake-up, not per frame.
        const events = [frame.from === sent ? frameEvent(frame) : outputEvent(sent, frame.bytes.subarray(sent - frame.from))];
        let size = events[0].length;
        sent = frame.to;
        for (let next = feed.frameAt(sent); next && size < MAX_WRITE_BYTES; next = feed.frameAt(sent)) {
          events.push(frameEvent(next));
          size += events[events.length - 1].length;
          sent = next.to;
        }
        await connection.writeAll(events);
        continue;
      }
      if (run.outputBytes > sent) {
        sent = await this.sendStored(run, sent, feed, connection);
        continue;
      }
      if (run.phase === 'finished' && sent >= run.outputBytes && !feed.local) {
        await connection.write(sseMessage({ id: sent, event: 'end', data: JSON.stringify(this.summary(run)) }));
        return;
      }
      await connection.waker.sleep(Math.min(connection.heartbeatInMs, msUntilDue(run, this.clock.now())));
      await connection.heartbeatIfDue();
    }
  }

  /** Sends stored output from `from` until the live window holds the next byte (or the stored end). */
  private async sendStored(run: RunRecord, from: number, feed: RunFeed, connection: SseConnection): Promise<number> {
    let sent = from;
    for await (const chunk of this.bytes.stored(run, from)) {
      for (let at = 0; at < chunk.length; at += MAX_EVENT_BYTES) {
        const piece = chunk.subarray(at, at + MAX_EVENT_BYTES);
        await connection.write(outputEvent(sent, piece));
        sent += piece.length;
      }
      if (connection.closed || feed.frameAt(sent)) break;
    }
    return sent;
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

/** The event for a whole frame, encoded once for every viewer. */
function frameEvent(frame: ByteFrame): Buffer {
  frame.sse ??= outputEvent(frame.from, frame.bytes);
  return frame.sse;
}
