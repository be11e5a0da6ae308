/**
 * The run page's live output in a real browser (Debian's chromium through
 * playwright-core), against the built server: output appears while the run
 * goes on without reloading, in colour and escaped; a progress line redraws
 * in place; the panel follows the bottom until the person scrolls up, with a
 * button back; status and buttons change when the run ends and the stream
 * closes; a large log shows its tail and loads earlier parts; output over
 * the limit ends with the truncation notice, live and after; a long run's
 * page drops its oldest lines rather than grow without end. No console
 * error and no CSP violation on the way. Screenshots go to test-results/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { createJob, requestRun, waitForRun } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

const gates = mkdtempSync(join(tmpdir(), 'endercompute-browser-gates-'));
const gate = (name: string): string => join(gates, name);
const waitFor = (name: string): string => `while [ ! -e '${gate(name)}' ]; do sleep 0.02; done`;

const LIMIT = 5_000_000;

const LIVE_SCRIPT = [
  `printf '\\033[1;31mERROR\\033[0m compiling <b>not bold</b> & friends\\n'`,
  `printf '\\033[32mok\\033[0m step one\\n'`,
  `for p in 10 40 70 100; do printf '\\rprogress %3d%%' "$p"; sleep 0.15; done; printf '\\n'`,
  waitFor('one'),
  'for i in $(seq 1 300); do echo "bulk line $i"; done',
  waitFor('two'),
  'for i in $(seq 1 40); do echo "late line $i"; done',
  waitFor('three'),
  'echo "the end"',
].join('\n');

/** Polls an expression in the page (waitForFunction would evaluate it with eval, which the CSP forbids). */
async function until(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function scrollState(page: Page): Promise<{ top: number; atBottom: boolean }> {
  return page.evaluate(
    "(() => { const pre = document.getElementById('output-text'); return { top: pre.scrollTop, atBottom: pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 30 }; })()",
  ) as Promise<{ top: number; atBottom: boolean }>;
}

describe('the run page live output in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    // Room for the large log below, not for the run that reaches the limit.
    server = await startServer({ env: { ENDERCOMPUTE_MAX_OUTPUT_BYTES: String(LIMIT), ENDERCOMPUTE_SANDBOX_BIND: `${gates}:ro` } });
    browser = await launchBrowser({ viewport: { width: 1360, height: 900 } });
    page = browser.page;
    page.setDefaultTimeout(15_000);
    await page.goto(`${server.url}/`);
    await page.locator('#key-form').waitFor({ state: 'visible' });
    await page.fill('#name-input', 'Live Viewer');
    await page.fill('#key-input', server.key);
    await page.click('#key-form button[type=submit]');
    await page.locator('#dashboard-live').waitFor();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
    rmSync(gates, { recursive: true, force: true });
  });

  it('shows the output live, in colour and escaped, following the bottom, and updates the page at the end', async () => {
    const jobId = await createJob(server, 'Live build', 'bash', LIVE_SCRIPT);
    const run = await requestRun(server, jobId);
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('#output-stream').waitFor({ state: 'attached' });
    await page.evaluate("document.documentElement.setAttribute('data-test-mark', 'same-document')");

    const lines = page.locator('#output-lines');
    await lines.locator('text=step one').waitFor();
    const error = page.locator('#output-lines .ansi-red-fg', { hasText: 'ERROR' });
    assert.equal(await error.count(), 1);
    const colour = (await page.evaluate("getComputedStyle(document.querySelector('#output-lines .ansi-red-fg')).color")) as string;
    const [r, g, b] = (colour.match(/\d+/g) ?? []).map(Number);
    assert.ok(r > 180 && g < 140 && b < 140, `ERROR is shown red: ${colour}`);
    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('#output-lines .ansi-red-fg')).fontWeight"), '700');
    assert.equal(await page.locator('#output-text b').count(), 0, 'markup in the output stays text');
    assert.match(await lines.innerText(), /ERROR compiling <b>not bold<\/b> & friends/);

    // The progress line redraws in place and ends as a terminal shows it.
    await lines.locator('text=progress 100%').waitFor();
    const text = await page.locator('#output-text').innerText();
    assert.equal(text.match(/progress/g)?.length, 1, text);
    await browser.screenshot('live-01-running');

    writeFileSync(gate('one'), '');
    await lines.locator('text=bulk line 300').waitFor();
    await until(page, "(() => { const p = document.getElementById('output-text'); return p.scrollTop + p.clientHeight >= p.scrollHeight - 30; })()");
    assert.ok((await scrollState(page)).atBottom, 'it follows the bottom');
    assert.ok(await page.locator('#output-follow').isHidden());

    // Scrolling up stops following; new output does not move the view; the button brings it back.
    await page.evaluate("(() => { const pre = document.getElementById('output-text'); pre.scrollTop = 0; pre.dispatchEvent(new Event('scroll')); })()");
    await page.locator('#output-follow').waitFor({ state: 'visible' });
    writeFileSync(gate('two'), '');
    await lines.locator('text=late line 40').waitFor();
    assert.equal((await scrollState(page)).top, 0, 'the view stays where the person put it');
    await browser.screenshot('live-02-scrolled-up');
    await page.click('#output-follow');
    assert.ok((await scrollState(page)).atBottom);
    await page.locator('#output-follow').waitFor({ state: 'hidden' });

    writeFileSync(gate('three'), '');
    await page.locator('.page-head .status-succeeded').waitFor();
    await lines.locator('text=the end').waitFor();
    await page.locator('#output-stream').waitFor({ state: 'detached' });
    assert.equal(await page.evaluate("document.documentElement.getAttribute('data-test-mark')"), 'same-document', 'no reload happened');
    assert.equal(await page.locator('#run-controls button', { hasText: 'Cancel run' }).count(), 0, 'the buttons follow the state');
    const all = await page.locator('#output-text').innerText();
    assert.equal(all.match(/bulk line 1\n/g)?.length, 1, 'nothing repeated');
    assert.match(all, /late line 40\nthe end\n?$/);
    await browser.screenshot('live-03-finished');
    assert.deepEqual(browser.problems, [], 'no console error or CSP violation');
  });

  it('shows the tail of a large log at once and loads earlier output on request', async () => {
    const jobId = await createJob(server, 'Large log', 'bash', 'for i in $(seq 1 30000); do echo "entry $i: the quick brown fox"; done\n');
    const run = await requestRun(server, jobId);
    await waitForRun(server, run.id, 30_000);
    await page.goto(`${server.url}/runs/${run.id}`);
    const lines = page.locator('#output-lines');
    await lines.locator('text=entry 30000:').waitFor();
    assert.equal(await lines.locator('text=/^entry 1: /').count(), 0, 'the start is not shown at first');
    const firstShown = async (): Promise<number> => Number(/entry (\d+):/.exec(await lines.innerText())?.[1]);
    const before = await firstShown();
    assert.ok(before > 1000, `the tail starts at entry ${before}`);
    assert.ok(await page.locator('#output-earlier').isVisible());
    await page.locator('#output-earlier button').click();
    await until(page, `!/^entry ${before}:/.test(document.getElementById('output-lines').innerText)`);
    const after = await firstShown();
    assert.ok(after < before, `earlier lines came in front: ${after} < ${before}`);
    const text = await lines.innerText();
    assert.ok(text.includes(`entry ${before - 1}: the quick brown fox\nentry ${before}: the quick brown fox\n`), 'no gap and no repeat where the parts meet');
    await browser.screenshot('live-04-large-log');
    assert.deepEqual(browser.problems, []);
  });

  it('shows the truncation notice when a run reaches the output limit', async () => {
    const jobId = await createJob(server, 'Too chatty', 'bash', `echo start\n${waitFor('limit')}\nyes 'a line that repeats' | head -c 6000000\n`);
    const run = await requestRun(server, jobId);
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('#output-lines', { hasText: 'start' }).waitFor();
    writeFileSync(gate('limit'), '');
    const dropped = 6_000_000 + 6 - LIMIT;
    // 6 MB through the page: on a loaded two-core machine (CI) this took 18 s of the 15 s default.
    await page.locator('#output-text', { hasText: `[EnderCompute: output truncated, ${dropped} bytes dropped]` }).waitFor({ timeout: 45_000 });
    await page.locator('.output-note-warn', { hasText: 'of output were not kept' }).waitFor();
    await page.locator('.page-head .status-succeeded').waitFor();
    await browser.screenshot('live-05-truncated');
    assert.deepEqual(browser.problems, []);
  });

  it('keeps a long live run light: the oldest lines go, and "load earlier" brings them back', async () => {
    const body = `import sys, time
for burst in range(70):
    sys.stdout.write("".join(f"burst {burst:02d} line {i:03d} " + "-" * 80 + "\\n" for i in range(500)))
    sys.stdout.flush()
    time.sleep(0.02)
`;
    const run = await requestRun(server, await createJob(server, 'Long live run', 'python3', body));
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('#output-stream').waitFor({ state: 'attached', timeout: 30_000 });
    await page.locator('.page-head .status-succeeded').waitFor({ timeout: 30_000 });
    const lines = page.locator('#output-lines');
    await lines.locator('text=burst 69 line 499').waitFor();
    const first = Number(await lines.locator('span[data-at]').first().getAttribute('data-at'));
    const shown = (await page.evaluate("document.getElementById('output-lines').textContent.length")) as number;
    assert.ok(first > 0, 'the oldest lines were dropped');
    assert.ok(shown <= 2.5 * 1024 * 1024, `the page holds ${shown} characters`);
    assert.ok(await page.locator('#output-earlier').isVisible(), 'and can be loaded again');
    assert.match((await page.locator('#output-earlier button').getAttribute('hx-get')) ?? '', new RegExp(`before=${first}$`));
    assert.deepEqual(browser.problems, []);
  });
});
