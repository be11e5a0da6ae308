/**
 * Everyday rough edges of the pages (issue 15) in a real browser, as a person
 * meets them: the key form's messages (empty fields, a renewed key), schedules
 * in words with their next times in the person's zone, upcoming firings on the
 * dashboard, the jobs list's Run button, the run form's button label and
 * "this run" badges, every schedule problem at once and a lost file named, a
 * template in use, a stale notice cleared when the run ends. Screenshots
 * (desktop and phone, light and dark) go to test-results/ (ev-*.png).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn, successFlash } from '../support/pages';
import { postJson } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

const PERSON = 'Ada Lovelace';
const PHONE = { width: 390, height: 844 };

describe('everyday pages in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let scheduledJob = '';
  let plainJob = '';
  let scriptId = '';

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({ generatedKey: true });
    scriptId = (await postJson<{ id: string }>(server, '/api/scripts', { name: 'Echo', interpreter: 'bash', body: 'echo "args: $*"; echo "EXTRA=$EXTRA"; sleep "${PAUSE:-0}"' }, 201)).id;
    scheduledJob = (
      await postJson<{ id: string }>(
        server,
        '/api/jobs',
        { name: 'Nightly build', scriptId, env: { A: '1' }, schedules: [{ cron: '*/2 * * * *', timeZone: 'UTC' }, { cron: '30 2 * * 1-5', timeZone: 'Europe/Berlin' }] },
        201,
      )
    ).id;
    // Takes a second to stop when asked: long enough to see the "being cancelled" notice before the run ends.
    const slowStop = (await postJson<{ id: string }>(server, '/api/scripts', { name: 'Slow to stop', interpreter: 'bash', body: "trap 'sleep 1; exit 143' TERM\necho started\nsleep 30 &\nwait $!\n" }, 201)).id;
    plainJob = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'Release', scriptId: slowStop }, 201)).id;
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('says what each empty field of the key form needs, and where a renewed key is found', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('#key-form').waitFor({ state: 'visible' });
    await page.click('#key-form button[type=submit]');
    assert.equal(await page.locator('#name-input-error').innerText(), 'Enter your name: it is shown beside everything you do');
    assert.equal(await page.locator('#key-input-error').innerText(), 'Enter the key: the server prints it when it starts');
    assert.equal(await page.getAttribute('#name-input', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#key-input', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate('document.activeElement.id'), 'name-input', 'the first empty field has the focus');
    await browser.screenshot('ev-01-key-form-empty');

    await page.fill('#name-input', PERSON);
    await page.fill('#key-input', 'last-weeks-key-0000000000');
    await page.click('#key-form button[type=submit]');
    const help = page.locator('#key-help');
    await help.waitFor();
    assert.match(await page.locator('#key-error').innerText(), /You are not authenticated: this key was not accepted/);
    assert.match(await help.innerText(), /renews it every Monday at 00:00 \(server time\).*start-up output.*key\.json in its data directory/s);
    await browser.screenshot('ev-02-key-renewed');
    await page.fill('#key-input', server.key);
    await page.click('#key-form button[type=submit]');
    await page.locator('#dashboard-live').waitFor();
  });

  it('shows the upcoming firings under “Will run” on the dashboard', async () => {
    const waiting = page.locator('#panel-waiting');
    const firing = waiting.locator('.run-item-firing', { hasText: 'Nightly build' }).first();
    await firing.waitFor();
    assert.match(await firing.innerText(), /every 2 minutes/);
    assert.match(await waiting.innerText(), /at 02:30, Monday through Friday · Europe\/Berlin/);
    // The browser shows times in the person's zone (the test browser is in Helsinki).
    assert.match(await firing.locator('time[data-abs]').innerText(), /EET|EEST|GMT\+[23]/);
    await browser.screenshot('ev-03-dashboard');
  });

  it('shows each schedule in words with its next times, and the Run button says what it will do', async () => {
    await page.goto(`${server.url}/jobs/${scheduledJob}`);
    const schedules = page.locator('#job-schedules');
    await schedules.waitFor();
    const words = await schedules.locator('.schedule-words').allInnerTexts();
    assert.deepEqual(words, ['Every 2 minutes', 'At 02:30, Monday through Friday']);
    assert.deepEqual(await schedules.locator('.schedule-what .muted').allInnerTexts(), ['in UTC', 'in Europe/Berlin time']);
    const times = await schedules.locator('.schedule').first().locator('time[data-abs]').allInnerTexts();
    assert.ok(times.length >= 5, 'the next five times');
    for (const time of times) assert.match(time, /EET|EEST|GMT\+[23]/, 'in the person’s time zone');

    const button = page.locator('#run-form button[type=submit]');
    assert.equal((await button.innerText()).trim(), 'Run now');
    await page.click('label[for=when-at]');
    assert.equal((await button.innerText()).trim(), 'Schedule run');
    await page.click('label[for=when-delay]');
    assert.equal((await button.innerText()).trim(), 'Schedule run');
    await page.click('label[for=when-now]');
    assert.equal((await button.innerText()).trim(), 'Run now');
    await browser.screenshot('ev-04-job-schedules');

    // Extra variables for one run are marked as such, like extra arguments.
    await page.fill('#run-args', 'fast');
    await page.click('.run-form summary');
    await page.fill('#run-env', 'EXTRA=for this run');
    await button.click();
    // Any number: the job's every-2-minutes schedule may have fired a run first.
    await page.waitForURL(/\/runs\/[^/]+-\d+$/);
    const env = page.locator('.envlist li', { hasText: 'EXTRA=for this run' });
    await env.waitFor();
    assert.match(await env.innerText(), /this run/);
    assert.doesNotMatch(await page.locator('.envlist li', { hasText: 'A=1' }).innerText(), /this run/);
    assert.match(await page.locator('.arglist li', { hasText: 'fast' }).innerText(), /this run/);
    await browser.screenshot('ev-05-run-badges');
  });

  it('runs a job from the jobs list, which shows each job’s next run; a stale notice goes when the run ends', async () => {
    await page.goto(`${server.url}/jobs`);
    const nightly = page.locator('tr', { hasText: 'Nightly build' });
    assert.match(await nightly.locator('td[data-label="Next run"]').innerText(), /EET|EEST|GMT\+[23]/);
    assert.equal((await page.locator('tr', { hasText: 'Release' }).locator('td[data-label="Next run"]').innerText()).trim(), '—');
    await browser.screenshot('ev-06-jobs-list');
    await page.getByRole('button', { name: 'Run Release now' }).click();
    await page.waitForURL(new RegExp(`/runs/${plainJob}-1$`));
    await successFlash(page, 'Run #1 of “Release” was requested');
    await page.locator('.page-title .status', { hasText: 'Running' }).waitFor();
    await page.locator('#output-text', { hasText: 'started' }).waitFor();

    await page.locator('#run-controls').getByRole('button', { name: 'Cancel run', exact: true }).click();
    await page.locator('#confirm-dialog[open]').waitFor();
    assert.equal(await page.locator('#confirm-dialog button[value="cancel"]').innerText(), 'Keep it');
    await page.click('#confirm-ok');
    await successFlash(page, 'is being cancelled');
    await page.locator('.page-title .status', { hasText: 'Cancelled' }).waitFor();
    await page.locator('#flash .alert').waitFor({ state: 'detached' });
    assert.equal(await page.locator('.alert-error').count(), 0, 'no red banner for a cancelled run');
    assert.equal(await page.locator('main').getByText(/cancelled by/i).count(), 2, 'once in the title, once in Details');
    await browser.screenshot('ev-07-run-cancelled');
  });

  it('reports every schedule problem at once, says which chosen file was not kept, and words an empty name once', async () => {
    await page.goto(`${server.url}/jobs/new`);
    await page.locator('#job-form').waitFor();
    await page.fill('#name', '   ');
    await page.selectOption('#scriptId', scriptId);
    await page.click('#schedule-add');
    await page.locator('#cron-0').waitFor();
    await page.fill('#cron-0', '* * *');
    await page.fill('#timeZone-0', 'Mars/Olympus');
    await page.setInputFiles('#file', { name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n') });
    await page.click('#job-form button[type=submit]');
    await page.locator('#cron-0-error').waitFor();
    assert.match(await page.locator('#cron-0-error').innerText(), /it needs five fields \(minute, hour, day of month, month, day of week\), six with seconds first/);
    assert.match(await page.locator('#timeZone-0-error').innerText(), /The time zone must be an IANA time zone/);
    assert.equal(await page.locator('#name-error li').allInnerTexts().then((items) => items.join('|')), 'Give the job a name');
    assert.match(await page.locator('#file-lost').innerText(), /files you chose \(“data\.csv”\) were not kept: choose them again/);
    await browser.screenshot('ev-08-job-form-problems');
  });

  it('says up front that a template in use cannot be deleted', async () => {
    await page.goto(`${server.url}/scripts/${scriptId}`);
    const remove = page.getByRole('button', { name: 'Delete', exact: true });
    await remove.waitFor();
    assert.equal(await remove.isDisabled(), true);
    assert.match(await page.locator('#delete-blocked').innerText(), /cannot be deleted while 1 job uses it/);
    await browser.screenshot('ev-09-template-in-use');
  });

  it('shows the audit trail’s times as dates, and the history’s run numbers as links', async () => {
    await page.goto(`${server.url}/audit`);
    const when = page.locator('.event-when time[data-abs]').first();
    await when.waitFor();
    assert.match(await when.innerText(), /\d{4}/);
    await browser.screenshot('ev-10-audit');
    await page.goto(`${server.url}/jobs/${scheduledJob}`);
    await page.locator('a.run-no-link').first().waitFor();
    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('a.run-no-link')).textDecorationLine"), 'underline');
  });

  it('looks right on a phone and in the dark (screenshots)', async () => {
    const variants: Array<{ name: string; viewport?: { width: number; height: number }; colorScheme: 'light' | 'dark' }> = [
      { name: 'desktop-dark', colorScheme: 'dark' },
      { name: 'phone-light', viewport: PHONE, colorScheme: 'light' },
      { name: 'phone-dark', viewport: PHONE, colorScheme: 'dark' },
    ];
    for (const variant of variants) {
      const other = await launchBrowser({ viewport: variant.viewport, colorScheme: variant.colorScheme });
      try {
        other.page.setDefaultTimeout(15_000);
        await signIn(other.page, server.url, PERSON, server.key);
        await other.page.locator('#panel-waiting .run-item-firing').first().waitFor();
        await other.screenshot(`ev-${variant.name}-dashboard`);
        await other.page.goto(`${server.url}/jobs/${scheduledJob}`);
        await other.page.locator('#job-schedules .schedule-words').first().waitFor();
        await other.screenshot(`ev-${variant.name}-job`);
        await other.page.goto(`${server.url}/jobs`);
        await other.page.locator('td[data-label="Next run"]').first().waitFor();
        await other.screenshot(`ev-${variant.name}-jobs`);
        await other.page.goto(`${server.url}/runs/${plainJob}-1`);
        await other.page.locator('.page-title .status').waitFor();
        await other.screenshot(`ev-${variant.name}-run`);
        assert.deepEqual(other.problems, [], `${variant.name}: no console errors or CSP violations`);
      } finally {
        await other.close();
      }
    }
    assert.deepEqual(browser.problems.filter((problem) => !/status of (401|422)/.test(problem)), [], 'no console errors or CSP violations');
  });
});
