import { Injectable } from '@nestjs/common';
import { batchAt, countNewlines, type LineBatch, OutputLineIndex } from '../runs/output-line-index';
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

/**
 * …and at most this many lines, whatever their length: 256 KiB of `yes` output is
 * 131,072 lines, a page of megabytes that a browser takes seconds to lay out.
 */
export const PAGE_TAIL_LINES = 10_000;

/** How many lines before a linked line the page shows with it. */
export const WINDOW_LINES_BEFORE = 100;

/** When the batch holding byte `offset` was received (ms since the epoch), or undefined when it is not stored. */
function timeAt(batches: readonly LineBatch[], offset: number): number | undefined {
  const index = batchAt(batches, offset);
  return index < 0 ? undefined : Date.parse(batches[index].at);
}

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
  /** The number of the line there: the page numbers the live lines on from it. */
  streamLine: number;
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
    private readonly lines: OutputLineIndex,
  ) {}

  /** The tail of the output, starting at a line start, rendered as the terminal shows it, its lines numbered and timed. */
  async panel(run: RunRecord): Promise<OutputPanel> {
    const total = run.outputBytes;
    const { from, data } = await this.tail(run, undefined, total);
    const renderer = await this.numberedRenderer(run, undefined, from);
    renderer.push(data);
    const part = renderer.take();
    return {
      linesHtml: linesChunk(part.linesFrom, part.lines),
      currentHtml: currentLine(part.current),
      earlierHtml: earlierControl(run.id, from),
      shownFrom: from,
      totalBytes: total,
      streamFrom: part.state.lineStart,
      streamLine: part.state.line ?? 1,
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
    const feed = this.hub.feed(run.id);
    const { from, data } = await this.tail(run, feed, end);
    const renderer = await this.numberedRenderer(run, feed, from);
    renderer.push(data);
    return { from, html: linesChunk(from, renderer.takeAll()) };
  }

  /**
   * The lines around line `line` (a `#L<n>` link or a search match outside
   * what the page shows): from {@link WINDOW_LINES_BEFORE} lines before it, up
   * to {@link PAGE_TAIL_BYTES} of output and {@link PAGE_TAIL_LINES} lines. Null when
   * the output has no such line.
   */
  async around(run: RunRecord, line: number): Promise<{ from: number; to: number; html: string } | null> {
    const first = Math.max(1, line - WINDOW_LINES_BEFORE);
    const from = await this.lines.lineStart(run, first);
    if (from === null || (await this.lines.lineStart(run, line)) === null) return null;
    const to = Math.min(run.outputBytes, from + PAGE_TAIL_BYTES);
    const read = await this.bytes.read(run, undefined, from, to);
    const data = read.subarray(0, endOfFirstLines(read, PAGE_TAIL_LINES));
    const renderer = await this.numberedRenderer(run, undefined, from, first);
    renderer.push(data);
    return { from, to: from + data.length, html: linesChunk(from, renderer.takeAll()) };
  }

  /**
   * A renderer starting at line start `from`, numbering lines from the line
   * there and giving each line the time its batch was received (lines not
   * stored yet have none).
   */
  async numberedRenderer(run: RunRecord, feed: RunFeed | undefined, from: number, knownLine?: number): Promise<TerminalRenderer> {
    const batches = await this.lines.batches(run);
    const stored = batches.length > 0 ? batches[batches.length - 1].offset + batches[batches.length - 1].length : 0;
    let line = knownLine ?? (await this.lines.lineAt(run, Math.min(from, stored)));
    if (knownLine === undefined && from > stored) line += countNewlines(await this.bytes.read(run, feed, stored, from));
    return new TerminalRenderer({ lineStart: from, carry: '', line }, undefined, { timeOf: (offset) => timeAt(batches, offset) });
  }

  /** The part before `end` shown at once: at most {@link PAGE_TAIL_BYTES} and {@link PAGE_TAIL_LINES}, from a line start. */
  private async tail(run: RunRecord, feed: RunFeed | undefined, end: number): Promise<{ from: number; data: Buffer }> {
    const { from, data } = await this.fromLineStart(run, feed, Math.max(0, end - PAGE_TAIL_BYTES), end);
    const cut = startOfLastLines(data, PAGE_TAIL_LINES);
    return cut === 0 ? { from, data } : { from: from + cut, data: data.subarray(cut) };
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

/**
 * Where the last `count` lines of `data` (which starts at a line start) begin: 0 when
 * it holds no more. A line ends at `\n`; an unfinished last line counts as one.
 */
export function startOfLastLines(data: Buffer, count: number): number {
  // Past the last line's own end, if it has one.
  let index = data.length > 0 && data[data.length - 1] === 0x0a ? data.length - 2 : data.length - 1;
  for (let found = 0; index >= 0; found++) {
    const newline = data.lastIndexOf(0x0a, index);
    if (newline < 0) return 0;
    if (found === count - 1) return newline + 1;
    index = newline - 1;
  }
  return 0;
}

/** Where the first `count` lines of `data` end (just after their last `\n`): `data.length` when it holds no more. */
export function endOfFirstLines(data: Buffer, count: number): number {
  let index = 0;
  for (let found = 0; found < count; found++) {
    const newline = data.indexOf(0x0a, index);
    if (newline < 0) return data.length;
    index = newline + 1;
  }
  return index;
}
