import { Injectable } from '@nestjs/common';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { LiveOutputHub } from './live-output.hub';
import { OutputBytes } from './output-bytes';
import { currentLine, earlierControl, linesChunk } from './output-html';
import { pageStateOf } from './page-state';
import type { RunFeed } from './run-feed';
import { MAX_LINE_BYTES, TerminalRenderer } from './terminal-renderer';

/** The run page shows at most this much of the output at first; earlier parts load on request, this much at a time. */
export const PAGE_TAIL_BYTES = 256 * 1024;

/** The output panel of the run page as first rendered. */
export interface OutputPanel {
  /** Finished lines (HTML, escaped). */
  linesHtml: string;
  /** The unfinished last line (HTML, escaped). */
  currentHtml: string;
  /** The "load earlier" control (HTML). */
  earlierHtml: string;
  /** Where the shown part starts. */
  shownFrom: number;
  /** Bytes of output shown (all there was when rendered). */
  totalBytes: number;
  /** Where the live stream continues from: the start of the unfinished line. */
  streamFrom: number;
  /** The page's live stream (`/runs/:id/output/live?from=…&state=…`), for a run not finished yet; else null. */
  streamUrl: string | null;
}

/** Renders stored output for the run page: the tail at once, earlier parts by byte offset. */
@Injectable()
export class OutputView {
  constructor(
    private readonly bytes: OutputBytes,
    private readonly hub: LiveOutputHub,
    private readonly runs: RunsReadModel,
    private readonly clock: Clock,
  ) {}

  /** The tail of the output, starting at a line start, rendered as the terminal shows it. */
  async panel(run: RunRecord): Promise<OutputPanel> {
    const total = run.outputBytes;
    const { from, data } = await this.fromLineStart(run, undefined, Math.max(0, total - PAGE_TAIL_BYTES), total);
    const renderer = new TerminalRenderer({ lineStart: from, carry: '' });
    renderer.push(data);
    const part = renderer.take();
    return {
      linesHtml: linesChunk(part.linesFrom, part.lines),
      currentHtml: currentLine(part.current),
      earlierHtml: earlierControl(run.id, from),
      shownFrom: from,
      totalBytes: total,
      streamFrom: part.state.lineStart,
      streamUrl:
        run.phase === 'finished'
          ? null
          : `/runs/${encodeURIComponent(run.id)}/output/live?from=${part.state.lineStart}&state=${encodeURIComponent(pageStateOf(this.runs, run, this.clock.now()))}`,
    };
  }

  /**
   * The part before `before` (a line start the page shows): the control for
   * the part before that, and the lines to put in front. The last line may
   * have no `\n` when `before` broke an over-long line; it continues there.
   */
  async earlier(run: RunRecord, before: number): Promise<{ from: number; html: string }> {
    const end = Math.min(before, run.outputBytes);
    const { from, data } = await this.fromLineStart(run, this.hub.feed(run.id), Math.max(0, end - PAGE_TAIL_BYTES), end);
    const renderer = new TerminalRenderer({ lineStart: from, carry: '' });
    renderer.push(data);
    return { from, html: linesChunk(from, renderer.takeAll()) };
  }

  /**
   * Bytes [start, end), moved forward to the first line start after `start`
   * (unless `start` is 0, or no line ends within {@link MAX_LINE_BYTES}).
   */
  async fromLineStart(run: RunRecord, feed: RunFeed | undefined, start: number, end: number): Promise<{ from: number; data: Buffer }> {
    if (start === 0) return { from: 0, data: await this.bytes.read(run, feed, 0, end) };
    // One byte more in front: when it is a `\n`, `start` is a line start already.
    const data = await this.bytes.read(run, feed, start - 1, end);
    const newline = data.indexOf(0x0a);
    if (newline < 0 || newline > MAX_LINE_BYTES) return { from: start, data: data.subarray(1) };
    return { from: start + newline, data: data.subarray(newline + 1) };
  }
}
