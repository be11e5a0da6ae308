/**
 * The run controls and job controls in a real browser, as a person uses them:
 * start a long run and pause, resume and cancel it (with the confirmation), re-run
 * it and land on the new run, control a run from the dashboard without reloading,
 * re-time a scheduled run and start it now, create a job with a limit and a
 * schedule (a bad schedule refused beside its field), and filter by outcome.
 * Screenshots go to test-results/ (rc-*.png).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser, SCREENSHOT_DIR } from '../support/browser';
import { heading, markDocument, sameDocument, signIn, successFlash } from '../support/pages';
import { createJob, requestRun, waitForRun } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

const LONG_SCRIPT = ['#!/usr/bin/env bash', 'for i in $(seq 1 900); do echo "tick $i"; sleep 0.2; done'].join('\n');
const PERSON = 'Ada Lovelace';

describe('run controls in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let jobId = '';

  /** The status word in the run page's title area. */
  const runStatus = (): ReturnType<Page['locator']> => page.locator('.page-title .status');
  const control = (name: string): ReturnType<Page['locator']> => page.locator('#run-controls').getByRole('button', { name, exact: true });

  /** Clicks a button that asks first, and confirms in the page's dialog. */
  async function confirmWith(button: ReturnType<Page['locator']>, expected: RegExp, screenshot?: string): Promise<void> {
    await button.click();
    await page.locator('#confirm-dialog[open]').waitFor();
    assert.match(await page.locator('#confirm-message').innerText(), expected);
    assert.equal(await page.locator('#confirm-ok').innerText(), 'Cancel run');
    assert.equal(await page.locator('#confirm-dialog button[value="cancel"]').innerText(), 'Keep it', 'the dismiss button does not say “Cancel”');
    if (screenshot) await browser.screenshot(screenshot);
    await page.click('#confirm-ok');
  }

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({ env: { ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '2' } });
    jobId = await createJob(server, 'Ticker', 'bash', LONG_SCRIPT);
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(10_000);
    await signIn(page, server.url, PERSON, server.key);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('starts a long run, pauses it and resumes it', async () => {
    await page.goto(`${server.url}/jobs/${jobId}`);
    await page.locator('#run-form').waitFor();
    await page.click('#run-form button[type=submit]');
    await page.waitForURL(new RegExp(`/runs/${jobId}-1$`));
    await runStatus().filter({ hasText: 'Running' }).waitFor();
    assert.equal(await control('Resume').count(), 0, 'a running run is not offered Resume');
    assert.equal(await control('Re-run').count(), 0, 'nor Re-run');

    await control('Pause').click();
    await successFlash(page, 'was paused');
    await runStatus().filter({ hasText: 'Paused' }).waitFor();
    assert.match(await page.locator('.page-title .subtitle').innerText(), /paused for/);
    assert.equal(await control('Pause').count(), 0, 'a paused run is not offered Pause');
    await browser.screenshot('rc-01-run-paused');

    await control('Resume').click();
    await successFlash(page, 'was resumed');
    await runStatus().filter({ hasText: 'Running' }).waitFor();
    assert.match(await page.locator('.facts').first().innerText(), /Paused\s+.*in all/, 'the time it spent paused is shown');
  });

  it('cancels it after a confirmation, and shows who cancelled it', async () => {
    await confirmWith(control('Cancel run'), /Ticker #1/, 'rc-02-cancel-confirm');
    // The "being cancelled" notice goes when the run has ended (test/web/everyday.e2e.spec.ts): the page itself says so.
    await runStatus().filter({ hasText: 'Cancelled' }).waitFor({ timeout: 15_000 });
    assert.match(await page.locator('.page-title .subtitle').innerText(), new RegExp(`cancelled by ${PERSON}`));
    assert.match(await page.locator('.facts').first().innerText(), new RegExp(`Cancelled by\\s+${PERSON}`));
    assert.equal(await control('Cancel run').count(), 0, 'a finished run offers no Cancel');
    await browser.screenshot('rc-03-run-cancelled');
  });

  it('re-runs the finished run and lands on the new run', async () => {
    await control('Re-run').click();
    await page.waitForURL(new RegExp(`/runs/${jobId}-2$`));
    await successFlash(page, 'a re-run of #1');
    assert.match(await heading(page), /Ticker\s+#2/);
    const rerunOf = page.locator('.facts a', { hasText: 'Ticker #1' });
    assert.equal(await rerunOf.getAttribute('href'), `/runs/${jobId}-1`);
    await runStatus().filter({ hasText: 'Running' }).waitFor();
    await browser.screenshot('rc-04-rerun');
  });

  it('pauses and cancels a run from the dashboard without leaving it', async () => {
    await page.click('nav.mainnav a[href="/"]');
    await page.waitForURL(`${server.url}/`);
    await markDocument(page);
    const row = page.locator('#panel-running .run-item', { hasText: 'Ticker' });
    await row.getByRole('button', { name: 'Pause Ticker #2' }).click();
    await successFlash(page, 'was paused');
    await row.locator('.status-paused', { hasText: 'Paused' }).waitFor();
    await row.getByRole('button', { name: 'Resume Ticker #2' }).waitFor();
    await browser.screenshot('rc-05-dashboard-paused');
    await confirmWith(row.getByRole('button', { name: 'Cancel Ticker #2' }), /Ticker #2/);
    const finished = page.locator('#panel-finished .run-item', { hasText: 'Ticker #2' });
    await finished.locator('.status-cancelled').waitFor({ timeout: 15_000 });
    assert.equal(await row.count(), 0, 'no longer running');
    assert.ok(await sameDocument(page), 'the dashboard updated itself: no page load happened');
  });

  it('re-times a scheduled run, refusing a bad delay beside its field, then starts it now', async () => {
    await page.goto(`${server.url}/jobs/${jobId}`);
    await page.locator('#run-form').waitFor();
    await page.click('label[for="when-delay"]');
    await page.fill('#run-delay', '2');
    await page.selectOption('#run-form select[name="delayUnit"]', 'hours');
    await page.click('#run-form button[type=submit]');
    await page.waitForURL(new RegExp(`/runs/${jobId}-3$`));
    await runStatus().filter({ hasText: 'Scheduled' }).waitFor();

    await page.locator('#retime-menu summary').click();
    await page.fill('#retime-delay', '0');
    await page.click('#retime-form button[type=submit]');
    const error = page.locator('#retime-delayAmount-error');
    await error.waitFor();
    assert.match(await error.innerText(), /above 0/);
    assert.equal(await page.getAttribute('#retime-delay', 'aria-invalid'), 'true');
    await browser.screenshot('rc-06-retime-error');
    await page.fill('#retime-delay', '3');
    await page.selectOption('#retime-form select[name="delayUnit"]', 'hours');
    await page.click('#retime-form button[type=submit]');
    await successFlash(page, 'will start at');
    const scheduledRow = page.locator('.facts > div', { has: page.locator('dt', { hasText: 'Scheduled for' }) });
    const scheduledFor = await scheduledRow.locator('time[data-abs]').getAttribute('datetime');
    assert.ok(Math.abs(Date.parse(scheduledFor ?? '') - Date.now() - 3 * 3600_000) < 120_000, `now three hours away (${scheduledFor})`);

    await control('Start now').click();
    await successFlash(page, 'as soon as there is room');
    await runStatus().filter({ hasText: /Running|Queued/ }).waitFor();
    await runStatus().filter({ hasText: 'Running' }).waitFor({ timeout: 15_000 });
    await confirmWith(control('Cancel run'), /Ticker #3/);
    await runStatus().filter({ hasText: 'Cancelled' }).waitFor({ timeout: 15_000 });
  });

  it('creates a job with a limit and a schedule, a bad schedule refused beside its field', async () => {
    await page.click('nav.mainnav a[href="/jobs"]');
    await page.waitForURL(/\/jobs$/);
    await page.click('main a.btn-primary[href="/jobs/new"]');
    await page.waitForURL(/\/jobs\/new$/);
    await page.fill('#name', 'Nightly report');
    await page.selectOption('#scriptId', { label: 'Ticker (bash)' });
    await page.fill('#maxConcurrent', '1');
    await page.click('#schedule-add');
    await page.locator('#cron-0').waitFor();
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'cron-0', 'the new row takes the focus');
    await page.fill('#cron-0', '61 3 * * *');
    await page.fill('#timeZone-0', 'Europe/Helsinki');
    await page.click('#schedule-add');
    await page.locator('#cron-1').waitFor();
    await page.locator('#schedule-row-1').getByRole('button', { name: /Remove/ }).click();
    assert.equal(await page.locator('#cron-1').count(), 0, 'the row is gone');
    await page.click('#job-form button[type=submit]');
    const cronError = page.locator('#cron-0-error');
    await cronError.waitFor();
    assert.match(await cronError.innerText(), /not a valid cron expression/);
    assert.equal(await page.locator('.schedule-row .field.has-error #cron-0 + #cron-0-error').count(), 1, 'beside its own field');
    assert.equal(await page.getAttribute('#cron-0', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#timeZone-0'), 'Europe/Helsinki', 'what was typed is kept');
    assert.equal(await page.inputValue('#maxConcurrent'), '1');
    await browser.screenshot('rc-07-schedule-error');

    await page.fill('#cron-0', '0 3 * * *');
    await page.click('#job-form button[type=submit]');
    await page.waitForURL(/\/jobs\/[0-9a-z]{12}$/);
    await successFlash(page, 'was created');
    assert.equal(await heading(page), 'Nightly report');
    assert.match(await page.locator('#job-limit').innerText(), /1 at a time/);
    const schedule = page.locator('#job-schedules .schedule');
    assert.match(await schedule.innerText(), /At 03:00\s+0 3 \* \* \*\s+in Europe\/Helsinki time/);
    const next = await schedule.locator('time[data-abs]').first().innerText();
    assert.match(next, /03:00:00/, `the next firing is at 03:00 in the browser's zone (${next})`);
    await browser.screenshot('rc-08-job-schedule');
  });

  it('filters runs by outcome and jobs by last outcome', async () => {
    const quickId = await createJob(server, 'Quick', 'bash', 'echo done');
    await waitForRun(server, (await requestRun(server, quickId)).id);
    await page.click('nav.mainnav a[href="/runs"]');
    await page.waitForURL(/\/runs$/);
    await page.selectOption('#run-status', 'cancelled');
    await page.waitForURL(/\/runs\?status=cancelled$/);
    await page.locator('#run-results .row-title', { hasText: 'Quick' }).waitFor({ state: 'detached' });
    const cancelled = page.locator('#run-results tbody tr');
    assert.equal(await cancelled.count(), 3);
    assert.equal(await page.locator('#run-results .status-cancelled').count(), 3);
    await browser.screenshot('rc-09-runs-cancelled');
    await page.selectOption('#run-status', 'succeeded');
    await page.waitForURL(/\/runs\?status=succeeded$/);
    await page.locator('#run-results .row-title', { hasText: 'Quick' }).waitFor();
    assert.equal(await page.locator('#run-results tbody tr').count(), 1);

    await page.click('nav.mainnav a[href="/jobs"]');
    await page.waitForURL(/\/jobs$/);
    await page.selectOption('#job-outcome', 'cancelled');
    await page.waitForURL(/\/jobs\?outcome=cancelled$/);
    await page.locator('#job-results a.row-title', { hasText: 'Quick' }).waitFor({ state: 'detached' });
    assert.deepEqual(await page.locator('#job-results a.row-title').allInnerTexts(), ['Ticker']);
    await browser.screenshot('rc-10-jobs-outcome');
  });

  it('tells the control actions in the audit trail in words', async () => {
    await page.click('nav.mainnav a[href="/audit"]');
    await page.waitForURL(/\/audit$/);
    for (const words of ['Paused', 'Resumed', 'Asked to cancel', 'Re-timed to start at', 'Asked to start now', 'with the same inputs as']) {
      await page.locator('.timeline .event', { hasText: PERSON }).filter({ hasText: words }).first().waitFor();
    }
    await browser.screenshot('rc-11-audit');
  });

  it('starts and cancels waiting runs from the job’s history and the runs list', async () => {
    const first = await requestRun(server, jobId, { delaySeconds: 3600 }, PERSON);
    const second = await requestRun(server, jobId, { delaySeconds: 7200 }, PERSON);
    await page.goto(`${server.url}/jobs/${jobId}`);
    const history = page.locator('#job-history');
    await history.getByRole('button', { name: `Start Ticker #${first.number} now` }).waitFor();
    await browser.screenshot('rc-16-job-history-waiting');
    await markDocument(page);
    await history.getByRole('button', { name: `Start Ticker #${first.number} now` }).click();
    await successFlash(page, 'as soon as there is room');
    await history.locator('tr', { hasText: `#${first.number}` }).locator('.status-running').waitFor({ timeout: 15_000 });
    await confirmWith(history.getByRole('button', { name: `Cancel Ticker #${first.number}` }), new RegExp(`Ticker #${first.number}`));
    await history.locator('tr', { hasText: `#${first.number}` }).locator('.status-cancelled').waitFor({ timeout: 15_000 });

    await page.click('nav.mainnav a[href="/runs"]');
    await page.waitForURL(/\/runs$/);
    await page.selectOption('#run-status', 'active');
    await page.waitForURL(/\/runs\?status=active$/);
    const row = page.locator('#run-results tr', { hasText: `#${second.number}` });
    await row.getByRole('button', { name: `Cancel Ticker #${second.number}` }).waitFor();
    await browser.screenshot('rc-17-runs-active');
    await confirmWith(row.getByRole('button', { name: `Cancel Ticker #${second.number}` }), /It will not start/);
    await successFlash(page, 'was cancelled');
    await page.locator('#run-results', { hasText: 'No run matches' }).waitFor();
    assert.ok(await sameDocument(page), 'the lists refreshed themselves: no page load happened');
  });

  it('fits a phone and the dark theme', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/runs/${jobId}-1`);
    await control('Re-run').waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.ok(overflow <= 1, `no sideways scrolling on a phone (overflow ${overflow}px)`);
    await browser.screenshot('rc-12-phone-run');
    await page.goto(`${server.url}/jobs/new`);
    await page.click('#schedule-add');
    await page.locator('#cron-0').waitFor();
    await browser.screenshot('rc-13-phone-job-form');
    const { id } = await requestRun(server, jobId, { delaySeconds: 3600 }, PERSON);
    await page.goto(`${server.url}/runs/${id}`);
    await page.locator('#retime-menu summary').click();
    await page.locator('#retime-form').waitFor();
    const panelOverflow = await page.evaluate<number>(
      "(function () { var r = document.querySelector('.dropdown-panel').getBoundingClientRect(); return Math.max(0, r.right - document.documentElement.clientWidth, -r.left); })()",
    );
    assert.ok(panelOverflow <= 1, `the re-time menu fits the phone's width (${panelOverflow}px out)`);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/rc-14-phone-retime.png` });
    await page.setViewportSize({ width: 1360, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${server.url}/runs/${id}`);
    await page.locator('#retime-menu summary').click();
    await page.locator('#retime-form').waitFor();
    await browser.screenshot('rc-15-dark-retime');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('ran without a Content-Security-Policy violation or a script error', () => {
    const violations = browser.problems.filter((text) => /Content Security Policy|CSP violation|page error/i.test(text));
    assert.deepEqual(violations, []);
  });
});
