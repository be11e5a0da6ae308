/**
 * Live output for the run page, rendered once per run however many people
 * watch: every {@link PAGE_TICK_MS} the new bytes of the run's feed become one
 * frame of HTML (new finished lines, the redrawn last line), encoded once as
 * an SSE message that every viewer in step writes as it is.
 *
 * A frame says which page state it continues from (`prevLineStart`: the page
 * holds the finished lines up to there). A viewer not in that state (it just
 * connected, or fell behind) renders its own catch-up and joins the shared
 * frames afterwards. When the output grows faster than a page can usefully
 * show (more than {@link PAGE_SKIP_BYTES} in one frame), the frame skips
 * ahead: it replaces the page's lines by the latest tail.
 */
import type { RunFeed } from './run-feed';
import { appendFrame, resetFrame } from './output-html';
import { sseMessage } from './sse-connection';
import { type LineState, MAX_LINE_BYTES, TerminalRenderer } from './terminal-renderer';

/** How often the page gets a frame while output flows. */
export const PAGE_TICK_MS = 100;
/** More new output than this in one frame is skipped: the page shows the latest tail instead. */
export const PAGE_SKIP_BYTES = 512 * 1024;
/** How much a skip-ahead frame shows. */
export const PAGE_SKIP_TAIL_BYTES = 64 * 1024;
/** Frames kept for viewers a little behind: at most this many, and this many bytes. */
const FRAMES_KEPT = 64;
const FRAME_BYTES_KEPT = 4 * 1024 * 1024;

export interface PageFrame {
  seq: number;
  /** Replaces everything the page shows: fits any page state. */
  reset: boolean;
  /** The page state this frame continues: finished lines up to here. */
  prevLineStart: number;
  /** Output rendered up to here. */
  byteTo: number;
  /** The page state after it. */
  state: LineState;
  /** The SSE message (`id:` the new line start). */
  message: Buffer;
}

export class SharedPageFrames {
  private readonly frames: PageFrame[] = [];
  private framesBytes = 0;
  private seq = 0;
  private renderer: TerminalRenderer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastRenderAt = 0;
  private disposed = false;
  /** Page viewers using these frames. */
  users = 0;

  constructor(private readonly feed: RunFeed) {
    feed.onSealed = () => this.schedule();
    this.schedule();
  }

  /** Output rendered so far, or null before the feed had any. */
  get end(): number | null {
    return this.renderer?.position ?? null;
  }

  get lastSeq(): number {
    return this.seq - 1;
  }

  /** The first frame after `afterSeq` that fits a page holding lines up to `lineStart` and output up to `shown`. */
  next(afterSeq: number, lineStart: number, shown: number): PageFrame | undefined {
    for (const frame of this.frames) {
      if (frame.seq <= afterSeq || frame.byteTo < shown) continue;
      if (frame.reset || frame.prevLineStart === lineStart) return frame;
    }
    return undefined;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.feed.onSealed) this.feed.onSealed = null;
  }

  private schedule(): void {
    if (this.timer || this.disposed) return;
    const delay = Math.max(0, this.lastRenderAt + PAGE_TICK_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.render();
    }, delay);
  }

  private render(): void {
    if (this.disposed || !this.feed.started) return;
    this.lastRenderAt = Date.now();
    const end = this.feed.end;
    const position = this.renderer?.position;
    if (position !== undefined && position >= end) return;
    if (this.renderer === null || end - (position ?? 0) > PAGE_SKIP_BYTES || this.feed.frameAt(position ?? -1) === undefined) {
      this.restart(end, this.renderer !== null);
      return;
    }
    const prevLineStart = this.renderer.state.lineStart;
    this.renderer.push(this.feed.slice(position!, end) ?? Buffer.alloc(0));
    const part = this.renderer.take();
    this.add({ reset: false, prevLineStart, byteTo: part.end, state: part.state }, appendFrame(part));
  }

  /**
   * Starts rendering at a line start near the end of the window: the start of
   * the last line for a first frame, or a tail to skip ahead to.
   */
  private restart(end: number, skip: boolean): void {
    const windowStart = this.feed.start;
    const tailStart = Math.max(windowStart, end - (skip ? PAGE_SKIP_TAIL_BYTES : MAX_LINE_BYTES));
    const tail = this.feed.slice(tailStart, end) ?? Buffer.alloc(0);
    let from = tailStart;
    if (skip) {
      const newline = tail.indexOf(0x0a);
      if (newline >= 0 && tailStart > 0) from = tailStart + newline + 1;
    } else {
      const newline = tail.lastIndexOf(0x0a);
      if (newline >= 0) from = tailStart + newline + 1;
    }
    // Lines shown live get the time they are rendered: within a frame's tick of when they were received.
    this.renderer = new TerminalRenderer({ lineStart: from, carry: '' }, undefined, { timeOf: () => Date.now() });
    this.renderer.push(tail.subarray(from - tailStart));
    const part = this.renderer.take();
    const frame = { reset: skip, prevLineStart: from, byteTo: part.end, state: part.state };
    this.add(frame, skip ? resetFrame(this.feed.runId, from, part) : appendFrame(part));
  }

  private add(frame: Omit<PageFrame, 'seq' | 'message'>, html: string): void {
    const message = Buffer.from(sseMessage({ id: frame.state.lineStart, data: html }));
    this.frames.push({ ...frame, seq: this.seq++, message });
    this.framesBytes += message.length;
    while (this.frames.length > 1 && (this.frames.length > FRAMES_KEPT || this.framesBytes > FRAME_BYTES_KEPT)) {
      this.framesBytes -= this.frames.shift()!.message.length;
    }
    this.feed.wakeViewers();
  }
}
