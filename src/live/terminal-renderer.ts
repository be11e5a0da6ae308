/**
 * Output bytes as a terminal shows them, as HTML for the run page: split into
 * lines at `\n` bytes (never inside a UTF-8 character), each line decoded
 * (invalid UTF-8 becomes U+FFFD), carriage-return redraws collapsed to what
 * the screen would show, control characters (NUL, BEL, …) shown as their
 * Unicode control pictures, and colours rendered by {@link AnsiHtml}.
 *
 * Lines are rendered whole, so the renderer is restartable at any line start
 * with just `{lineStart, carry}` (the SGR state in effect there).
 */
import { AnsiHtml } from './ansi-html';

/** A line longer than this is broken (rendering a multi-megabyte line without `\n` would freeze a page). */
export const MAX_LINE_BYTES = 64 * 1024;
/** Colour state kept at most: the last few SGR sequences since the last reset. */
const MAX_CARRY_SEQUENCES = 8;

/** Where a renderer stands: the start of the current (unfinished) line and the SGR codes in effect there. */
export interface LineState {
  lineStart: number;
  carry: string;
  /**
   * The number (1-based) of the line starting at `lineStart`, when known: each
   * finished line is then rendered with its number and `#L<n>` anchor. Unknown
   * (absent), lines are rendered unnumbered and the page numbers them on from
   * the line before (live frames).
   */
  line?: number;
}

/** Options of a renderer. */
export interface RenderOptions {
  /** The time (ms since the epoch) the line starting at a byte offset was received, if known: rendered as `data-t`. */
  timeOf?: (lineStart: number) => number | undefined;
}

/** What was rendered since the last {@link TerminalRenderer.take}. */
export interface RenderedPart {
  /** HTML of the lines completed, each ending with `\n` (empty when none). */
  lines: string;
  /** Where the first of those lines starts. */
  linesFrom: number;
  /** HTML of the unfinished last line as it stands now. */
  current: string;
  /** Bytes consumed so far (the offset after the last byte pushed). */
  end: number;
  /** State at the start of the unfinished line: where a restart re-renders it from. */
  state: LineState;
}

const SGR = /\x1b\[[0-9;]*m/g;
/** Operating-system commands other than hyperlinks (window titles, …) and a few two-byte escapes `ansi_up` would show as text. */
const UNSUPPORTED = /\x1b\](?!8;)[^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[=>78DEHMNOZc]/g;
/** Any escape sequence, for measuring the visible width of a redrawn line. */
const ANY_ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[^[\]]?/g;
const HYPERLINK_BEL = /(\x1b\]8;[^\x07\x1b\n]*)\x07/g;
const ERASE_LINE = /\x1b\[[0-2]?K/;
const CONTROLS = /[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]/g;

export class TerminalRenderer {
  private readonly ansi: AnsiHtml;
  /** Bytes of the unfinished line. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineStart: number;
  private carry: string;
  private end: number;
  private completed: string[] = [];
  private completedFrom: number;
  private line: number | undefined;
  /** The unfinished line continues one broken at {@link MAX_LINE_BYTES}: it has no number of its own. */
  private continuing = false;
  private readonly timeOf: RenderOptions['timeOf'];
  /** The time of the last line rendered (only a change is written). */
  private lastTime: number | undefined;

  constructor(start: LineState, ansi: AnsiHtml = new AnsiHtml(), options: RenderOptions = {}) {
    this.ansi = ansi;
    this.lineStart = start.lineStart;
    this.carry = start.carry;
    this.line = start.line;
    this.timeOf = options.timeOf;
    this.end = start.lineStart;
    this.completedFrom = start.lineStart;
  }

  get position(): number {
    return this.end;
  }

  get state(): LineState {
    return this.line === undefined ? { lineStart: this.lineStart, carry: this.carry } : { lineStart: this.lineStart, carry: this.carry, line: this.line };
  }

  /** Consumes the next bytes of the output. */
  push(bytes: Buffer): void {
    this.end += bytes.length;
    let from = 0;
    for (;;) {
      const newline = bytes.indexOf(0x0a, from);
      if (newline < 0) break;
      const piece = bytes.subarray(from, newline + 1);
      this.completeLine(this.pendingBytes > 0 ? Buffer.concat([...this.pending, piece]) : piece, true);
      this.pending = [];
      this.pendingBytes = 0;
      from = newline + 1;
    }
    if (from < bytes.length) {
      // A copy: the rest of a line waits for the next push, and live buffers are reused once the window moved on.
      this.pending.push(Buffer.from(bytes.subarray(from)));
      this.pendingBytes += bytes.length - from;
    }
    while (this.pendingBytes > MAX_LINE_BYTES) this.breakLongLine();
  }

  /** The lines completed since the last call, and the unfinished line as it stands. */
  take(): RenderedPart {
    const part: RenderedPart = {
      lines: this.completed.join(''),
      linesFrom: this.completedFrom,
      current: this.renderCurrent(),
      end: this.end,
      state: this.state,
    };
    this.completed = [];
    this.completedFrom = this.lineStart;
    return part;
  }

  /** Renders everything pushed as one piece of HTML (completed lines and the unfinished one), for a static page. */
  takeAll(): string {
    const part = this.take();
    return part.lines + part.current;
  }

  private completeLine(bytes: Buffer, endsWithNewline: boolean): void {
    let length = bytes.length;
    if (endsWithNewline) {
      length--;
      if (length > 0 && bytes[length - 1] === 0x0d) length--;
    }
    const text = prepare(bytes.toString('utf8', 0, length));
    this.completed.push(this.open(this.lineStart) + this.ansi.line(this.carry, displayLine(text)) + '\n</span>');
    this.carry = nextCarry(this.carry, text);
    this.lineStart += bytes.length;
    if (endsWithNewline && this.line !== undefined) this.line++;
    this.continuing = !endsWithNewline;
  }

  /**
   * The start of a line's element, one element a line (a live page adds
   * thousands a second): `<span class="ol" id="L12" data-n="12" data-t="…">`.
   * The number is CSS text (`::before`), so copying the output copies no
   * numbers. The time is written only where it changes from the line before
   * (the page carries it down). A piece continuing a broken line has no number.
   */
  private open(lineStart: number): string {
    const time = this.timeOf?.(lineStart);
    let attributes = '';
    if (time !== undefined && time !== this.lastTime) attributes = ` data-t="${time}"`;
    this.lastTime = time;
    if (this.continuing) return `<span class="ol ol-cont"${attributes}>`;
    if (this.line === undefined) return `<span class="ol"${attributes}>`;
    return `<span class="ol" id="L${this.line}" data-n="${this.line}"${attributes}>`;
  }

  /** Breaks an over-long unfinished line at a character boundary, as if it had wrapped. */
  private breakLongLine(): void {
    const all = Buffer.concat(this.pending);
    let cut = MAX_LINE_BYTES;
    while (cut > MAX_LINE_BYTES - 4 && (all[cut] & 0xc0) === 0x80) cut--;
    this.completeLine(all.subarray(0, cut), false);
    const rest = all.subarray(cut);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  private renderCurrent(): string {
    if (this.pendingBytes === 0) return '';
    const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    // The rest of a character, or of an escape sequence, may still be coming: leave it out for now.
    let text = prepare(bytes.toString('utf8', 0, completeCharacters(bytes)));
    text = text.replace(/\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?$/, '');
    const line = this.continuing ? '<span class="ol ol-cont">' : this.line === undefined ? '<span class="ol">' : `<span class="ol" data-n="${this.line}">`;
    return line + this.ansi.line(this.carry, displayLine(text)) + '</span>';
  }
}

/**
 * Removes the escape sequences the page does not render (window titles,
 * keypad modes), and ends hyperlinks with `ESC \` rather than BEL, which is
 * shown as a control character later.
 */
function prepare(text: string): string {
  return text.includes('\x1b') ? text.replace(UNSUPPORTED, '').replace(HYPERLINK_BEL, '$1\x1b\\') : text;
}

/** A line as the screen shows it: redraws collapsed, control characters made visible. */
function displayLine(text: string): string {
  const collapsed = text.includes('\r') ? collapseCarriageReturns(text) : text;
  return collapsed.replace(CONTROLS, (c) => (c === '\x7f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0))));
}

/**
 * What a terminal shows for a line redrawn with carriage returns: each `\r`
 * returns to column 0 and what follows overwrites; a shorter redraw leaves
 * the end of the longer one visible unless it erased the line (`ESC[K`). The
 * colour codes of the overwritten parts are kept, since they still set the
 * colour of what follows.
 */
export function collapseCarriageReturns(line: string): string {
  const segments = line.split('\r');
  let screen = segments[0];
  let width = visibleWidth(screen);
  let overwrittenCodes = '';
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '') continue;
    overwrittenCodes += (screen.match(SGR) ?? []).join('');
    const segmentWidth = visibleWidth(segment);
    if (segmentWidth >= width || ERASE_LINE.test(segment)) {
      screen = segment;
      width = segmentWidth;
    } else {
      screen = segment + [...screen.replace(ANY_ESCAPE, '')].slice(segmentWidth).join('');
    }
  }
  return overwrittenCodes + screen;
}

function visibleWidth(text: string): number {
  return [...(text.includes('\x1b') ? text.replace(ANY_ESCAPE, '') : text)].length;
}

/** The SGR state after a line: a reset forgets what came before it; at most a few sequences are kept. */
export function nextCarry(carry: string, text: string): string {
  if (!text.includes('\x1b')) return carry;
  let sequences: string[] = carry === '' ? [] : (carry.match(SGR) ?? []);
  for (const sequence of text.match(SGR) ?? []) {
    const first = sequence.slice(2, -1).split(';')[0];
    if (first === '' || first === '0') sequences = sequence === '\x1b[m' || sequence === '\x1b[0m' ? [] : [sequence];
    else sequences.push(sequence);
  }
  return sequences.slice(-MAX_CARRY_SEQUENCES).join('');
}

/** How many leading bytes of `bytes` form complete UTF-8 characters (an incomplete last one is left out). */
export function completeCharacters(bytes: Buffer): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(4, length); back++) {
    const byte = bytes[length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const needed = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back && byte >= 0xc0 ? length - back : length;
  }
  return length;
}
