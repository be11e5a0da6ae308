/**
 * The run page's output, as HTML over HTTP (a real server in this process):
 * colours as escaped, classed spans; progress lines collapsed; NUL and
 * invalid UTF-8 harmless; the truncation notice; the tail of a large log at
 * once with "load earlier" by byte offset; the live stream's frames, its
 * resumption and its end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PAGE_TAIL_BYTES, PAGE_TAIL_LINES } from '../../src/live/output-view';
import { scriptGates } from '../support/script-gates';
import { createJob, getJson, outputOf, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, TEST_KEY } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';
import { openSse, type SseEvent, type SseStream } from './sse-client';

/** The text a browser would show for some HTML of the output (tags removed, entities decoded). */
function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function outputPanel(page: string): { lines: string; current: string } {
  const match = /<span id="output-lines"[^>]*>([\s\S]*?)<\/span><span id="output-current">([\s\S]*?)<\/span><\/pre>/.exec(page);
  assert.ok(match, 'the page has the output panel');
  return { lines: match[1], current: match[2] };
}

describe('the run page output', () => {
  let t: TestApp;
  let truncating: TestApp;
  const gates = scriptGates('endercompute-page-gates-');

  const page = async (app: TestApp, path: string, partial = false): Promise<string> => {
    const response = await app.request(path, { headers: { 'hx-request': 'true', 'hx-request-type': partial ? 'partial' : 'full' } });
    assert.equal(response.status, 200, path);
    return response.text();
  };
  const live = (runId: string, query: string, headers: Record<string, string> = {}): Promise<SseStream> =>
    openSse(`${t.url}/runs/${runId}/output/live${query}`, { authorization: `Bearer ${TEST_KEY}`, 'hx-request': 'true', ...headers });

  before(async () => {
    t = await startTestApp(gates.sandboxEnv);
    truncating = await startTestApp({ ...gates.sandboxEnv, ENDERCOMPUTE_MAX_OUTPUT_BYTES: '2048' });
  });
  after(async () => {
    await t?.close();
    await truncating?.close();
    gates.remove();
  });

  it('shows colours as classed spans and escapes the text', async () => {
    const body = `printf '\\033[1;31mFAILED <b>x</b> & "y"\\033[0m then \\033[38;2;0;200;0mtrue colour\\033[0m\\n'\n`;
    const run = await requestRun(t, await createJob(t, 'page-colours', 'bash', body));
    await waitForRun(t, run.id);
    const html = await page(t, `/runs/${run.id}`);
    const { lines } = outputPanel(html);
    assert.ok(lines.includes('<span class="ansi-red-fg ansi-bold">FAILED &lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;</span> then <span class="ansi-p'), lines);
    assert.doesNotMatch(html, /style=|\x1b/);
    assert.doesNotMatch(html, /hx-sse:connect/, 'a finished run has no live stream');
    assert.match(html, /href="\/api\/runs\/[^"]+\/output"[^>]*data-download=/, 'a raw download link');
  });

  it('collapses carriage-return progress lines', async () => {
    const body = `printf 'progress  10%%\\rprogress  50%%\\rprogress 100%%\\ndone\\n'\n`;
    const run = await requestRun(t, await createJob(t, 'page-progress', 'bash', body));
    await waitForRun(t, run.id);
    const { lines } = outputPanel(await page(t, `/runs/${run.id}`));
    assert.equal(textOf(lines), 'progress 100%\ndone\n');
  });

  it('shows NUL and invalid UTF-8 harmlessly, while /output keeps the bytes', async () => {
    const run = await requestRun(t, await createJob(t, 'page-binary', 'bash', `printf 'a\\000b\\377\\376c\\n\\001\\033[31\\n'\n`));
    await waitForRun(t, run.id);
    const html = await page(t, `/runs/${run.id}`);
    const { lines } = outputPanel(html);
    assert.equal(textOf(lines), 'a\u2400b\ufffd\ufffdc\n\u2401[31\n', 'a cut escape sequence shows as text');
    assert.doesNotMatch(html, /[\x00\x01\x1b]/);
    assert.ok((await outputOf(t, run.id)).equals(Buffer.from('a\x00b\xff\xfec\n\x01\x1b[31\n', 'latin1')));
  });

  it('shows random binary output without breaking the page', async () => {
    const run = await requestRun(t, await createJob(t, 'page-random', 'bash', 'head -c 200000 /dev/urandom\n'));
    await waitForRun(t, run.id);
    const html = await page(t, `/runs/${run.id}`);
    const { lines, current } = outputPanel(html);
    assert.doesNotMatch(html, /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/, 'no control character reaches the page');
    // Every tag in the output is one the renderer writes: the bytes' own "<" are escaped.
    for (const tag of (lines + current).match(/<[^>]*>/g) ?? []) assert.match(tag, /^<(\/?span|span (class|data-at)="[^"]*"|span class="ol( ol-cont)?"( id="L\d+" data-n="\d+")?( data-t="\d+")?|span class="ol" data-n="\d+"|\/?a|a target="_blank" rel="noopener noreferrer" href="[^"]*")>$/, tag);
    assert.equal(Buffer.byteLength(textOf(lines + current).replace(/\ufffd/g, '')) > 0, true);
    assert.equal((await outputOf(t, run.id)).length, 200000);
  });

  it('shows the truncation notice in the output and under it', async () => {
    const run = await requestRun(truncating, await createJob(truncating, 'page-truncated', 'bash', 'head -c 5000 /dev/zero | tr "\\0" "y"\n'));
    await waitForRun(truncating, run.id);
    const html = await page(truncating, `/runs/${run.id}`);
    assert.match(textOf(outputPanel(html).lines), /\n\[EnderCompute: output truncated, 2952 bytes dropped\]\n$/);
    assert.match(html, /output-note-warn[^>]*>2\.9 KiB of output were not kept/);
  });

  for (const [what, body] of [
    ['a long log', `for i in $(seq 1 20000); do echo "line $i of a long log"; done\n`],
    // 256 KiB of these would be 131,072 lines: the line limit applies first.
    ['a log of very short lines', 'yes | head -c 200000\n'],
  ] as const) {
    it(`shows the tail of ${what} at once (at most ${PAGE_TAIL_BYTES / 1024} KiB and ${PAGE_TAIL_LINES} lines), and earlier parts by byte offset`, async () => {
      const run = await requestRun(t, await createJob(t, `page-large-${what.length}`, 'bash', body));
      await waitForRun(t, run.id, 30_000);
      const whole = (await outputOf(t, run.id)).toString();
      const html = await page(t, `/runs/${run.id}`);
      const shown = textOf(outputPanel(html).lines);
      const shownLines = shown.split('\n').length - 1;
      assert.ok(shown.length <= PAGE_TAIL_BYTES && shownLines <= PAGE_TAIL_LINES, `the tail: ${shown.length} bytes, ${shownLines} lines`);
      assert.ok(shown.length > PAGE_TAIL_BYTES - 100 || shownLines === PAGE_TAIL_LINES, `as much as either limit allows: ${shown.length} bytes, ${shownLines} lines`);
      assert.ok(whole.endsWith(shown) && /^(line |y\n)/.test(shown), 'the tail starts at a line start');
      assert.ok(html.length < 2 * 1024 * 1024, `a page of ${html.length} characters`);
      let before = Number(/hx-get="\/runs\/[^"]+\/output\/earlier\?before=(\d+)"/.exec(html)?.[1]);
      assert.equal(before, whole.length - shown.length);
      let text = shown;
      while (before > 0) {
        const answer = await page(t, `/runs/${run.id}/output/earlier?before=${before}`, true);
        const lines = /<hx-partial hx-target="#output-lines" hx-swap="afterbegin">([\s\S]*)<\/hx-partial>$/.exec(answer);
        assert.ok(lines, 'the earlier lines go in front');
        const next = Number(/data-at="(\d+)"/.exec(lines[1])?.[1]);
        const part = textOf(lines[1]);
        assert.ok(part.split('\n').length - 1 <= PAGE_TAIL_LINES, 'each earlier part keeps to the line limit too');
        text = part + text;
        const control = /^<div id="output-earlier"[^>]*>/.exec(answer)?.[0] ?? '';
        assert.ok(control !== '', 'the answer replaces the control');
        if (next > 0) assert.match(answer, new RegExp(`before=${next}"`));
        else assert.match(control, /hidden/, 'at the start, the control hides');
        before = next;
      }
      assert.equal(text, whole, 'all the parts together are the whole output');
      const bad = await t.request(`/runs/${run.id}/output/earlier?before=x`, { headers: { 'hx-request': 'true' } });
      assert.equal(bad.status, 400);
    });
  }

  it('streams frames to a running run page, resumes by Last-Event-ID, and ends with run-done', async () => {
    const gate = gates.gate('page-live');
    const body = `echo 'before the gate'\nprintf 'step 1/3\\r'\n${gate.wait}\nprintf 'step 3/3\\n\\033[32mall good\\033[0m\\n'\n`;
    const run = await requestRun(t, await createJob(t, 'page-live', 'bash', body));
    // The page of the running run, once its first output is stored.
    await eventually(async () => ((await getJson<Run>(t, `/api/runs/${run.id}`)).outputBytes >= 25 ? true : undefined), 10_000, 'the first output');
    const html = await page(t, `/runs/${run.id}`);
    const { lines, current } = outputPanel(html);
    assert.equal(textOf(lines), 'before the gate\n');
    assert.equal(textOf(current), 'step 1/3');
    const connect = /<div id="output-stream"[^>]*hx-sse:connect="([^"]+)"[^>]*hx-sse:close="run-done"/.exec(html);
    assert.ok(connect, 'the page connects to its live stream');
    const url = connect[1].replace(/&amp;/g, '&');
    assert.match(url, /from=16&state=running/, 'it continues from the start of the unfinished line');

    const stream = await live(run.id, url.slice(url.indexOf('?')));
    gate.open();
    const frames: SseEvent[] = [];
    let done: SseEvent | null = null;
    while (!done) {
      const event = await stream.next();
      assert.ok(event);
      if (event.event === 'message') frames.push(event);
      else if (event.event === 'run-done') done = event;
      // A refresh for the finished run would remove the stream before the last frames: the end is told by run-done only.
      else assert.notEqual(event.event, 'run-status', `no status event at the end: ${event.data}`);
    }
    assert.equal(done.data, 'succeeded');
    const appended = frames.map((frame) => /hx-target="#output-lines" hx-swap="beforeend">([\s\S]*?)<\/hx-partial>/.exec(frame.data)?.[1] ?? '').join('');
    assert.equal(textOf(appended), 'step 3/3\nall good\n', 'the redrawn line and the rest, once');
    assert.ok(appended.includes('<span class="ansi-green-fg">all good</span>'));
    const last = frames[frames.length - 1];
    assert.equal(last.id, String(Buffer.byteLength('before the gate\nstep 1/3\rstep 3/3\n\x1b[32mall good\x1b[0m\n')));
    assert.equal(await stream.next(2000), null, 'the stream ends');

    // A reconnection from a line start redraws from there.
    const again = await live(run.id, '?from=0', { 'last-event-id': '16' });
    const first = await again.next();
    assert.equal(first?.event, 'message');
    assert.equal(textOf(/hx-swap="beforeend">([\s\S]*?)<\/hx-partial>/.exec(first!.data)?.[1] ?? ''), 'step 3/3\nall good\n');
    await again.close();
  });

  it('tells the page when the run changes, so it refreshes status and buttons', async () => {
    const gate = gates.gate('page-status');
    const run = await requestRun(t, await createJob(t, 'page-status', 'bash', `${gate.wait}\n`));
    const stream = await live(run.id, '?from=0&state=queued%7C1%7C%7C%7C');
    const events: SseEvent[] = [];
    while (!events.some((event) => event.event === 'run-status' && event.data.startsWith('running'))) {
      const event = await stream.next();
      assert.ok(event);
      events.push(event);
    }
    await t.request(`/api/runs/${run.id}/pause`, { method: 'POST' });
    for (;;) {
      const event = await stream.next();
      if (event?.event === 'run-status' && event.data.startsWith('paused')) break;
    }
    await t.request(`/api/runs/${run.id}/resume`, { method: 'POST' });
    gate.open();
    let ended: SseEvent | null = null;
    while (!ended) {
      const event = await stream.next();
      assert.ok(event);
      if (event.event === 'run-done') ended = event;
    }
    assert.equal(ended.data, 'succeeded');
    const finished = await page(t, `/runs/${run.id}`, true);
    assert.doesNotMatch(finished, /output-stream/, 'the refreshed page has no stream any more');
  });

  it('asks for the key, like every page', async () => {
    const run = await requestRun(t, await createJob(t, 'page-key', 'bash', 'true\n'));
    const response = await fetch(`${t.url}/runs/${run.id}/output/live?from=0`, { headers: { 'hx-request': 'true' } });
    assert.doesNotMatch(response.headers.get('content-type') ?? '', /event-stream/);
    assert.match(await response.text(), /key-gate|Enter the key/, 'the key form, not the output');
  });
});
