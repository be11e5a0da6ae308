/**
 * The HTML of the run page's output panel pieces, shared by the page (first
 * render), the "load earlier" answers and the live frames. Everything from
 * the output is escaped by {@link AnsiHtml}; the rest here are numbers and
 * URL-safe run ids.
 *
 * The panel: `#output-earlier` (the "load earlier" control), then the `<pre>`
 * holding `#output-lines` (finished lines, in `<span data-at="offset">`
 * chunks) and `#output-current` (the unfinished last line, redrawn whole).
 */
import type { RunRecord } from '../runs/runs.read-model';
import { bytes as formatBytes } from '../web/view-helpers';
import type { RenderedPart } from './terminal-renderer';

/** One chunk of finished lines, marked with the offset where its first line starts (for trimming and paging). */
export function linesChunk(from: number, lines: string): string {
  return lines === '' ? '' : `<span data-at="${from}">${lines}</span>`;
}

/** The unfinished line's content. */
export function currentLine(html: string): string {
  return html === '' ? '' : `<span>${html}</span>`;
}

/** The "load earlier" control: loads the lines before `before` (hidden when the page shows everything). */
export function earlierControl(runId: string, before: number): string {
  const hidden = before > 0 ? '' : ' hidden';
  return (
    `<div id="output-earlier" class="output-earlier"${hidden}>` +
    `<button type="button" class="btn btn-small" hx-get="/runs/${encodeURIComponent(runId)}/output/earlier?before=${before}" hx-target="#output-earlier" hx-swap="outerHTML">Load earlier output</button>` +
    `<span class="output-note">${formatBytes(before)} before this point</span>` +
    '</div>'
  );
}

/** A live frame that continues what the page shows: new finished lines appended, the last line redrawn. */
export function appendFrame(part: RenderedPart): string {
  let html = '';
  if (part.lines !== '') html += `<hx-partial hx-target="#output-lines" hx-swap="beforeend">${linesChunk(part.linesFrom, part.lines)}</hx-partial>`;
  html += `<hx-partial hx-target="#output-current" hx-swap="innerHTML">${currentLine(part.current)}</hx-partial>`;
  html += sizePartial(part.end);
  return html;
}

/** A live frame that replaces what the page shows by the tail from `from` (a viewer that fell too far behind skips ahead). */
export function resetFrame(runId: string, from: number, part: RenderedPart): string {
  return (
    `<hx-partial hx-target="#output-lines" hx-swap="innerHTML">${linesChunk(from, part.lines)}</hx-partial>` +
    `<hx-partial hx-target="#output-current" hx-swap="innerHTML">${currentLine(part.current)}</hx-partial>` +
    `<hx-partial hx-target="#output-earlier" hx-swap="outerHTML">${earlierControl(runId, from)}</hx-partial>` +
    sizePartial(part.end)
  );
}

function sizePartial(total: number): string {
  return `<hx-partial hx-target="#output-size" hx-swap="innerHTML">${formatBytes(total)}</hx-partial>`;
}

/**
 * The panel's window: the lines around a linked line, shown over the tail
 * (`#output-window`), with the way back to the end. `part` null: no such line.
 */
export function windowHtml(run: Pick<RunRecord, 'id'>, line: number, part: { from: number; to: number; html: string } | null): string {
  const back = '<button type="button" class="btn btn-small" data-output="to-end">Back to the end</button>';
  if (part === null) return `<div class="output-window-head" data-line="${line}"><span class="output-note">The stored output has no line ${line}.</span>${back}</div>`;
  return (
    `<div class="output-window-head" data-line="${line}"><span class="output-note">Around line ${line} (${formatBytes(part.from)} from the start)</span>${back}</div>` +
    `<pre class="output output-window-text" tabindex="0" aria-label="Output around line ${line}">${part.html}</pre>`
  );
}
