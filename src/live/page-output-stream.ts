import { Injectable, Logger } from '@nestjs/common';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { LiveOutputHub } from './live-output.hub';
import { OutputBytes } from './output-bytes';
import { appendFrame, resetFrame } from './output-html';
import { OutputView } from './output-view';
import { msUntilDue, pageStateOf } from './page-state';
import { PAGE_SKIP_BYTES, PAGE_SKIP_TAIL_BYTES, PAGE_TICK_MS, SharedPageFrames } from './page-frames';
import type { RunFeed } from './run-feed';
import { ViewedRun } from './viewed-run';
import { sseMessage, type SseConnection } from './sse-connection';
import { type LineState, TerminalRenderer } from './terminal-renderer';

/**
 * The run page's live output (`GET /runs/:id/output/live`), for htmx's SSE
 * extension: unnamed messages of HTML (`<hx-partial>`s that append finished
 * lines and redraw the last one), `run-status` when what the page shows about
 * the run changes, and `run-done` at the end, after which the answer ends.
 *
 * A message's `id` is the offset where the page's unfinished line starts, so
 * a reconnection (`Last-Event-ID`) redraws that line whole and continues.
 */
@Injectable()
export class PageOutputStream {
  private readonly shared = new WeakMap<RunFeed, SharedPageFrames>();
  private readonly logger = new Logger(PageOutputStream.name);

  constructor(
    private readonly hub: LiveOutputHub,
    private readonly runs: RunsReadModel,
    private readonly bytes: OutputBytes,
    private readonly view: OutputView,
    private readonly clock: Clock,
  ) {}

  /** What the run page shows about a run besides its output; a change makes the page refresh it. */
  pageState(run: RunRecord): string {
    return pageStateOf(this.runs, run, this.clock.now());
  }

  async serve(runId: string, from: number, pageState: string, connection: SseConnection): Promise<void> {
    const feed = this.hub.attach(runId, connection.waker, () => connection.end());
    const frames = this.framesFor(feed);
    try {
      await this.loop(runId, from, pageState, feed, frames, connection);
    } catch (error) {
      // The answer has begun: no error page can follow. htmx reconnects with `Last-Event-ID`.
      this.logger.warn(`The live output of run ${runId} for a page stopped: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.hub.detach(feed, connection.waker);
      if (--frames.users === 0) {
        frames.dispose();
        this.shared.delete(feed);
      }
      connection.end();
    }
  }

  private framesFor(feed: RunFeed): SharedPageFrames {
    let frames = this.shared.get(feed);
    if (!frames) {
      frames = new SharedPageFrames(feed);
      this.shared.set(feed, frames);
    }
    frames.users++;
    return frames;
  }

  private async loop(runId: string, from: number, pageState: string, feed: RunFeed, frames: SharedPageFrames, connection: SseConnection): Promise<void> {
    /** What the page holds: finished lines up to `state.lineStart`, output up to `shown`. */
    let state: LineState = { lineStart: from, carry: '' };
    let shown = from;
    let lastSeq = -1;
    let lastOwnFrameAt = 0;
    let lastPageState = pageState;
    const viewed = new ViewedRun(this.runs, this.hub, runId);
    while (!connection.closed) {
      const run = viewed.current();
      if (!run) return;
      // The end is told by run-done once all output is sent: a refresh before would close the stream early.
      const current = run.phase === 'finished' ? lastPageState : this.pageState(run);
      if (current !== lastPageState) {
        lastPageState = current;
        await connection.write(sseMessage({ event: 'run-status', data: current }));
        continue;
      }
      // Retention removed the output: nothing more to show (the page says so when reloaded).
      if (run.outputExpiredAt !== null) {
        await connection.write(sseMessage({ event: 'run-done', data: run.finishedStatus ?? 'failed' }));
        return;
      }
      const frame = frames.next(lastSeq, state.lineStart, shown);
      if (frame) {
        await connection.write(frame.message);
        lastSeq = frame.seq;
        state = frame.state;
        shown = frame.byteTo;
        continue;
      }
      lastSeq = frames.lastSeq;
      // While the shared frames run, catch up to them only; else to whatever can be read.
      const target = frames.end ?? this.bytes.available(run, feed);
      if (target > shown) {
        const wait = lastOwnFrameAt + PAGE_TICK_MS - Date.now();
        if (wait > 0) {
          await connection.waker.sleep(wait);
          continue;
        }
        lastOwnFrameAt = Date.now();
        const before = shown;
        ({ state, shown } = await this.catchUp(run, feed, state, shown, target, connection));
        // Not readable yet (stored but not yet projected): wait for the next change.
        if (shown === before) await connection.waker.sleep(connection.heartbeatInMs);
        continue;
      }
      if (run.phase === 'finished' && shown >= run.outputBytes && !feed.local) {
        await connection.write(sseMessage({ event: 'run-done', data: run.finishedStatus ?? 'failed' }));
        return;
      }
      await connection.waker.sleep(Math.min(connection.heartbeatInMs, msUntilDue(run, this.clock.now())));
      await connection.heartbeatIfDue();
    }
  }

  /** Renders this viewer's own frame up to `target`: from its unfinished line, or a skip to the tail when far behind. */
  private async catchUp(
    run: RunRecord,
    feed: RunFeed,
    state: LineState,
    shown: number,
    target: number,
    connection: SseConnection,
  ): Promise<{ state: LineState; shown: number }> {
    if (target - state.lineStart > PAGE_SKIP_BYTES) {
      const { from, data } = await this.view.fromLineStart(run, feed, Math.max(0, target - PAGE_SKIP_TAIL_BYTES), target);
      const renderer = new TerminalRenderer({ lineStart: from, carry: '' });
      renderer.push(data);
      const part = renderer.take();
      await connection.write(sseMessage({ id: part.state.lineStart, data: resetFrame(run.id, from, part) }));
      return { state: part.state, shown: part.end };
    }
    const data = await this.bytes.read(run, feed, state.lineStart, target);
    if (state.lineStart + data.length <= shown) return { state, shown };
    // Lines shown live get the time they are rendered: within a frame's tick of when they were received.
    const renderer = new TerminalRenderer(state, undefined, { timeOf: () => Date.now() });
    renderer.push(data);
    const part = renderer.take();
    await connection.write(sseMessage({ id: part.state.lineStart, data: appendFrame(part) }));
    return { state: part.state, shown: part.end };
  }
}
