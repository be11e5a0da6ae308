/**
 * The run page's output viewer in a real browser (issue 15, item 8), as a
 * person uses it: numbered lines on a log shown from its tail, a line's link
 * (`#L<n>`) opening the lines around it even when the page shows only the
 * tail, search with next/previous through the API, per-line times, wrapping,
 * the way back to the end, and live lines numbered on. Screenshots (desktop
 * and phone, light and dark) go to test-results/ (ov-*.png).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn } from '../support/pages';
import { createJob, outputOf, requestRun, waitForRun, type Run } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

const PERSON = 'Grace Hopper';

/** Waits until the search's status line says this. */
async function statusSays(page: Page, text: RegExp): Promise<void> {
  await page.locator('#output-search-status', { hasText: text }).waitFor();
}
const PHONE = { width: 390, height: 844 };
/** About 700 KB: more than the 256 KiB the page shows at first. Every 997th line is a red ERROR; a progress line redrawn with \r. */
const LONG_LOG = `awk 'BEGIN { for (i = 1; i <= 20000; i++) { if (i % 997 == 0) printf "\\033[1;31mERROR\\033[0m step %d failed: \\033[33mretrying\\033[0m\\n", i; else if (i % 50 == 0) printf "\\033[32m✓\\033[0m test %d passed in %d ms — a longer line that a phone has to wrap or scroll sideways to show whole\\n", i, i % 97; else printf "building module %05d ... \\033[36mok\\033[0m\\n", i } }'; printf 'downloading 10%%\\rdownloading 55%%\\rdownloading 100%%\\n'; echo done`;
const LINES = 20002;

describe('the output viewer in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let run: Run;
  let output: string;

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({});
    const jobId = await createJob(server, 'Long coloured build', 'bash', LONG_LOG);
    run = await waitForRun(server, (await requestRun(server, jobId)).id, 60_000);
    output = (await outputOf(server, run.id)).toString();
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(15_000);
    await signIn(page, server.url, PERSON, server.key);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  const lineText = (n: number): string => output.split('\n')[n - 1].replace(/\x1b\[[0-9;]*m/g, '');

  it('numbers the lines of a log shown from its tail, a progress line counting once', async () => {
    assert.equal(output.split('\n').length - 1, LINES);
    await page.goto(`${server.url}/runs/${run.id}`);
    const last = page.locator('#output-lines .ol').last();
    await last.waitFor();
    assert.equal(await last.getAttribute('id'), `L${LINES}`);
    assert.equal((await last.innerText()).trim(), 'done');
    assert.equal((await page.locator(`#L${LINES - 1}`).innerText()).trim(), 'downloading 100%');
    // Numbers are CSS text: they are not part of the output's text.
    assert.equal(await page.locator(`#L${LINES}`).getAttribute('data-n'), String(LINES));
    assert.ok(!(await page.locator('#output-text').innerText()).includes(`${LINES}done`));
    assert.equal(await page.locator('#output-lines .ol[id="L1"]').count(), 0, 'only the tail is shown at first');
    await browser.screenshot('ov-01-run-long-log');
  });

  it('links each line: a click marks it and puts #L<n> in the address; a link to a line before the tail opens the lines around it', async () => {
    const n = LINES - 30;
    await page.locator(`#L${n}`).click({ position: { x: 8, y: 6 } });
    assert.equal(new URL(page.url()).hash, `#L${n}`);
    assert.ok(await page.locator(`#L${n}`).evaluate((e) => e.classList.contains('ol-target')));

    await page.goto(`${server.url}/runs/${run.id}#L120`);
    const target = page.locator('#output-window #L120');
    await target.waitFor();
    assert.equal((await target.innerText()).trim(), lineText(120));
    assert.ok(await target.evaluate((e) => e.classList.contains('ol-target')));
    assert.ok(await page.locator('#output-text').isHidden(), 'the window is shown over the tail');
    await browser.screenshot('ov-02-line-link-window');
    await page.click('#output-window [data-output="to-end"]');
    await page.locator('#output-text').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#output-window').isHidden());
  });

  it('searches the whole stored output, match by match, forward and back', async () => {
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('#output-lines .ol').last().waitFor();
    await page.fill('#output-q', 'error');
    await page.press('#output-q', 'Enter');
    const status = page.locator('#output-search-status');
    await statusSays(page, /1 of 20/);
    assert.match(await status.innerText(), /1 of 20 · line 997/);
    const first = page.locator('#output-window #L997');
    await first.waitFor();
    assert.equal(await first.locator('mark').first().innerText(), 'ERROR');
    assert.ok(await first.evaluate((e) => e.classList.contains('ol-hit')));
    await browser.screenshot('ov-03-search');
    // Back from the first goes round to the last, which the tail shows.
    await page.click('[data-output="prev"]');
    await statusSays(page, /20 of 20 · line 19940/);
    await page.locator('#output-lines #L19940.ol-hit mark').waitFor();
    assert.ok(await page.locator('#output-window').isHidden());
    await page.click('[data-output="next"]');
    await statusSays(page, /1 of 20 · line 997/);
    await page.fill('#output-q', 'nothing like this');
    await page.press('#output-q', 'Enter');
    await statusSays(page, /^No matches$/);
  });

  it('shows per-line times and unwrapped lines when asked, and remembers it', async () => {
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('#output-lines .ol').last().waitFor();
    await page.check('[data-output="times"]');
    const time = await page.locator(`#L${LINES}`).getAttribute('data-time');
    assert.match(time ?? '', /^\d\d:\d\d:\d\d$/);
    const received = Number(await page.locator(`#L${LINES}`).getAttribute('data-t-shown'));
    assert.ok(received >= Date.parse(run.startedAt!) - 1000 && received <= Date.parse(run.finishedAt!) + 1000, 'the time its batch was received');
    await page.uncheck('[data-output="wrap"]');
    assert.ok(await page.locator('#output-view').evaluate((e) => e.classList.contains('nowrap') && e.classList.contains('times')));
    await browser.screenshot('ov-04-times-nowrap');
    await page.reload();
    await page.locator('#output-lines .ol').last().waitFor();
    assert.ok(await page.locator('[data-output="times"]').isChecked());
    assert.ok(!(await page.locator('[data-output="wrap"]').isChecked()));
    await page.check('[data-output="wrap"]');
    await page.uncheck('[data-output="times"]');
  });

  it('numbers live lines on from the page, and follows the end', async () => {
    const jobId = await createJob(server, 'Slow printer', 'bash', 'for i in $(seq 1 40); do echo "tick $i"; sleep 0.1; done');
    const live = await requestRun(server, jobId);
    await page.goto(`${server.url}/runs/${live.id}`);
    await page.locator('#output-lines .ol', { hasText: 'tick 40' }).waitFor({ timeout: 30_000 });
    // Live lines are numbered by the page (CSS counts on from the chunk's first number): a click on
    // a number links that line, and a #L link finds it.
    const texts = await page.locator('#output-lines .ol').allTextContents();
    assert.deepEqual(texts.map((text) => text.trim()), Array.from({ length: 40 }, (_, i) => `tick ${i + 1}`));
    await page.locator('#output-lines .ol', { hasText: /^\s*tick 33\s*$/ }).click({ position: { x: 8, y: 6 } });
    assert.equal(new URL(page.url()).hash, '#L33');
    await page.evaluate("window.location.hash = '#L17'");
    const seventeen = page.locator('#output-lines .ol.ol-target');
    await seventeen.waitFor();
    assert.equal((await seventeen.innerText()).trim(), 'tick 17');
    assert.equal(await seventeen.getAttribute('id'), 'L17');
    await waitForRun(server, live.id);
  });

  it('looks right on a phone and in the dark (screenshots)', async () => {
    for (const variant of [
      { name: 'desktop-dark', viewport: undefined, colorScheme: 'dark' as const },
      { name: 'phone-light', viewport: PHONE, colorScheme: 'light' as const },
      { name: 'phone-dark', viewport: PHONE, colorScheme: 'dark' as const },
    ]) {
      const other = await launchBrowser({ viewport: variant.viewport, colorScheme: variant.colorScheme });
      try {
        await signIn(other.page, server.url, PERSON, server.key);
        await other.page.goto(`${server.url}/runs/${run.id}`);
        await other.page.locator('#output-lines .ol').last().waitFor();
        await other.screenshot(`ov-${variant.name}-run`);
        await other.page.fill('#output-q', 'retrying');
        await other.page.press('#output-q', 'Enter');
        await other.page.locator('#output-window .ol-hit mark').waitFor();
        await other.screenshot(`ov-${variant.name}-search`);
        assert.deepEqual(other.problems, []);
      } finally {
        await other.close();
      }
    }
    assert.deepEqual(browser.problems, []);
  });
});
