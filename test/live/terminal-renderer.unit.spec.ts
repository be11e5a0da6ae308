/**
 * The run page's terminal rendering: colours as escaped, CSP-clean HTML,
 * carriage-return progress lines collapsed, control bytes and invalid UTF-8
 * made visible but harmless, lines and characters split across chunks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cspClean, nearestPaletteIndex, paletteColour } from '../../src/live/ansi-html';
import { collapseCarriageReturns, completeCharacters, MAX_LINE_BYTES, nextCarry, TerminalRenderer } from '../../src/live/terminal-renderer';

function render(...chunks: Array<string | Buffer>): string {
  const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
  for (const chunk of chunks) renderer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  return unwrap(renderer.takeAll());
}

/** The HTML of the lines' content: each line's element and number link taken away (they have tests of their own). */
function unwrap(html: string): string {
  let opened = 0;
  let closed = 0;
  const inner = html
    .replace(/<span class="ol[^"]*"[^>]*>/g, () => {
      opened++;
      return '';
    })
    .replace(/\n<\/span>/g, () => {
      closed++;
      return '\n';
    });
  return opened > closed ? inner.replace(/<\/span>$/, '') : inner;
}

describe('terminal rendering for the run page', () => {
  it('renders colours and styles as classes, never as style attributes', () => {
    const html = render('\x1b[1;31mbold red\x1b[0m plain \x1b[4;3;2mstyled\x1b[0m \x1b[38;5;208morange\x1b[0m \x1b[48;2;10;200;30mgreen bg\x1b[0m\n');
    assert.match(html, /<span class="ansi-red-fg ansi-bold">bold red<\/span> plain /);
    assert.match(html, /<span class="ansi-faint ansi-italic ansi-underline">styled<\/span>/);
    assert.match(html, /<span class="ansi-p208-fg">orange<\/span>/);
    assert.match(html, /<span class="ansi-p\d+-bg">green bg<\/span>/);
    assert.doesNotMatch(html, /style=/);
    assert.doesNotMatch(html, /\x1b/);
  });

  it('keeps its own copy of a line still open, so the buffer it came in may be reused', () => {
    const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
    const live = Buffer.from('first line\nsecond half');
    renderer.push(live);
    // The runner reads later output into the same buffer once the window moved on.
    live.fill('z');
    renderer.push(Buffer.from(' done\n'));
    assert.equal(unwrap(renderer.takeAll()), 'first line\nsecond half done\n');
  });

  it('escapes markup in the output, coloured or not', () => {
    const html = render('<script>alert(1)</script> & "q" \'s\' \x1b[32m<img src=x onerror=alert(1)>\x1b[0m\n');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#x27;s&#x27; '));
    assert.ok(html.includes('<span class="ansi-green-fg">&lt;img src=x onerror=alert(1)&gt;</span>'));
    assert.doesNotMatch(html, /<script|<img/);
  });

  it('keeps a colour across lines and chunks until it is reset', () => {
    const html = render('\x1b[34mblue starts\nstill bl', 'ue\n\x1b[0mplain\n');
    assert.equal(html, '<span class="ansi-blue-fg">blue starts</span>\n<span class="ansi-blue-fg">still blue</span>\nplain\n');
  });

  it('collapses carriage-return progress lines as a terminal shows them', () => {
    assert.equal(render('downloading  10%\rdownloading  55%\rdownloading 100%\ndone\n'), 'downloading 100%\ndone\n');
    // A shorter redraw leaves the end of the longer one, unless the line was erased.
    assert.equal(collapseCarriageReturns('abcdef\rXY'), 'XYcdef');
    assert.equal(collapseCarriageReturns('abcdef\r\x1b[2KXY'), '\x1b[2KXY');
    // Windows line endings are plain newlines; a trailing \r keeps what is shown.
    assert.equal(render('one\r\ntwo\r\n'), 'one\ntwo\n');
    assert.equal(render('50%\r'), '50%');
  });

  it('redraws a progress line split over chunks, showing its latest state each time', () => {
    const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
    renderer.push(Buffer.from('step 1\nprogress 10%'));
    const first = renderer.take();
    assert.equal(unwrap(first.lines), 'step 1\n');
    assert.equal(unwrap(first.current), 'progress 10%');
    assert.deepEqual(first.state, { lineStart: 7, carry: '' });
    renderer.push(Buffer.from('\rprogress 60%'));
    const second = renderer.take();
    assert.equal(unwrap(second.lines), '');
    assert.equal(unwrap(second.current), 'progress 60%');
    renderer.push(Buffer.from('\rprogress 100%\nnext\n'));
    const third = renderer.take();
    assert.equal(unwrap(third.lines), 'progress 100%\nnext\n');
    assert.equal(third.linesFrom, 7);
    assert.equal(unwrap(third.current), '');
    assert.equal(third.end, Buffer.byteLength('step 1\nprogress 10%\rprogress 60%\rprogress 100%\nnext\n'));
  });

  it('shows NUL, other control bytes and invalid UTF-8 as visible, harmless characters', () => {
    const html = render(Buffer.from([0x61, 0x00, 0x62, 0x07, 0x08, 0x7f, 0xff, 0xfe, 0xc3, 0x28, 0x0a]));
    assert.equal(html, 'a\u2400b\u2407\u2408\u2421\ufffd\ufffd\ufffd(\n');
    assert.doesNotMatch(html, /\x00/);
  });

  it('does not break a character split between two chunks', () => {
    const euro = Buffer.from('€uro\n');
    const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
    renderer.push(euro.subarray(0, 2));
    assert.equal(unwrap(renderer.take().current), '', 'an incomplete character is not shown yet');
    renderer.push(euro.subarray(2));
    assert.equal(unwrap(renderer.take().lines), '€uro\n');
    assert.equal(completeCharacters(Buffer.from([0x61, 0xe2, 0x82])), 1);
    assert.equal(completeCharacters(Buffer.from([0x61, 0xe2, 0x82, 0xac])), 4);
    assert.equal(completeCharacters(Buffer.from([0xff])), 1);
  });

  it('drops window titles and unrendered escapes, and an escape cut at the end of the current line', () => {
    assert.equal(render('\x1b]0;my title\x07visible\x1b[2K \x1b=text\n'), 'visible text\n');
    const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
    renderer.push(Buffer.from('abc\x1b[3'));
    assert.equal(unwrap(renderer.take().current), 'abc');
    renderer.push(Buffer.from('1mred'));
    assert.equal(unwrap(renderer.take().current), 'abc<span class="ansi-red-fg">red</span>');
  });

  it('numbers lines from a known line, a redrawn progress line once, and a broken over-long line once', () => {
    const renderer = new TerminalRenderer({ lineStart: 100, carry: '', line: 7 }, undefined, { timeOf: (offset) => (offset < 110 ? 1000 : 2000) });
    renderer.push(Buffer.from(`seven\r\x1b[2Kstill seven\neight\n${'x'.repeat(MAX_LINE_BYTES + 10)}`));
    renderer.push(Buffer.from('\nten\nunfini'));
    const part = renderer.take();
    const opens = part.lines.match(/<span class="ol[^>]*>/g) ?? [];
    assert.deepEqual(opens, [
      '<span class="ol" id="L7" data-n="7" data-t="1000">',
      '<span class="ol" id="L8" data-n="8" data-t="2000">',
      '<span class="ol" id="L9" data-n="9">',
      '<span class="ol ol-cont">',
      '<span class="ol" id="L10" data-n="10">',
    ]);
    assert.match(part.lines, /data-t="1000">still seven\n<\/span>/);
    assert.equal(part.current, '<span class="ol" data-n="11">unfini</span>');
    assert.equal(part.state.line, 11);
    // Without a known line (live frames), lines come unnumbered: the page numbers them on.
    const live = new TerminalRenderer({ lineStart: 0, carry: '' });
    live.push(Buffer.from('a\nb\n'));
    assert.equal(live.take().lines, '<span class="ol">a\n</span><span class="ol">b\n</span>');
  });

  it('breaks a line longer than the limit, so a page never gets one giant line', () => {
    const renderer = new TerminalRenderer({ lineStart: 0, carry: '' });
    renderer.push(Buffer.alloc(MAX_LINE_BYTES * 2 + 10, 'x'));
    const part = renderer.take();
    assert.equal(unwrap(part.lines).split('\n').length - 1, 2);
    assert.equal(unwrap(part.current).length, 10);
    assert.equal(part.state.lineStart, MAX_LINE_BYTES * 2);
  });

  it('opens links in the output in a new tab, http and https only', () => {
    const html = render('see \x1b]8;;https://example.com/x\x07the docs\x1b]8;;\x07 or \x1b]8;;javascript:alert(1)\x07this\x1b]8;;\x07\n');
    assert.ok(html.includes('<a target="_blank" rel="noopener noreferrer" href="https://example.com/x">the docs</a>'));
    assert.doesNotMatch(html, /javascript:/);
  });

  it('keeps the SGR state short and forgets it at a reset', () => {
    assert.equal(nextCarry('', 'plain'), '');
    assert.equal(nextCarry('\x1b[31m', 'x\x1b[1my'), '\x1b[31m\x1b[1m');
    assert.equal(nextCarry('\x1b[31m', 'x\x1b[0my'), '');
    assert.equal(nextCarry('\x1b[31m', 'x\x1b[0;32my'), '\x1b[0;32m');
    assert.equal(nextCarry('', '\x1b[1m'.repeat(20)), '\x1b[1m'.repeat(8));
  });

  it('maps true colours to the nearest palette entry', () => {
    assert.equal(nearestPaletteIndex(255, 0, 0), 196);
    assert.equal(nearestPaletteIndex(128, 128, 128), 244);
    assert.equal(paletteColour(196), '#ff0000');
    assert.equal(paletteColour(244), '#808080');
    assert.equal(cspClean('<span style="color:rgb(255,0,0)">x</span>'), '<span class="ansi-p196-fg">x</span>');
  });
});
