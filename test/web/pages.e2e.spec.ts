/**
 * The pages in a real browser (Debian's chromium through playwright-core), as
 * a new user meets them: the key form, a template, a job with an input file, a
 * run with extra arguments watched on the dashboard without reloading, its
 * output, a wrong key, a field error, a refused delete, back and forward.
 * Screenshots of the main pages go to test-results/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { heading, markDocument, sameDocument } from '../support/pages';
import { type ServerProcess, startServer } from '../support/server-process';

const SCRIPT = [
  '#!/usr/bin/env bash',
  'echo "args: $*"',
  'echo "input: $(cat input.txt)"',
  'for i in 1 2 3 4; do echo "step $i"; sleep 1; done',
  'echo "all done"',
].join('\n');

describe('the web pages in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let jobUrl = '';

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer();
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('asks for the key first, and refuses a wrong one', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('#key-form').waitFor({ state: 'visible' });
    await browser.screenshot('01-key-form');
    await page.fill('#name-input', 'Ada Lovelace');
    await page.fill('#key-input', 'not-the-key-0000000000');
    await page.click('#key-form button[type=submit]');
    await page.locator('#key-error', { hasText: 'You are not authenticated' }).waitFor();
    assert.equal(await page.evaluate("localStorage.getItem('endercompute.key')"), null, 'a refused key is not kept');
    assert.equal(await page.inputValue('#name-input'), 'Ada Lovelace', 'the name is kept for the next try');
    await browser.screenshot('02-key-refused');
  });

  it('lets the person in with the key and shows their name', async () => {
    await page.fill('#key-input', server.key);
    await page.click('#key-form button[type=submit]');
    await page.locator('#dashboard-live').waitFor();
    assert.equal(await heading(page), 'Dashboard');
    assert.match(await page.locator('.usermenu summary').innerText(), /Ada Lovelace/);
    assert.equal(await page.evaluate("localStorage.getItem('endercompute.key')"), server.key);
    await browser.screenshot('03-dashboard-empty');
  });

  it('creates a script template', async () => {
    await page.click('nav.mainnav a[href="/scripts"]');
    await page.waitForURL(/\/scripts$/);
    await page.click('a.btn-primary[href="/scripts/new"]');
    await page.waitForURL(/\/scripts\/new$/);
    await page.fill('#name', 'Greeter');
    await page.fill('#interpreter', 'bash');
    await page.fill('#body', SCRIPT);
    await page.click('#script-form button[type=submit]');
    await page.waitForURL(/\/scripts\/[0-9a-z]{12}$/);
    await page.locator('#flash .alert-success', { hasText: 'was created' }).waitFor();
    assert.equal(await heading(page), 'Greeter');
    await browser.screenshot('04-template');
  });

  it('shows a validation error beside its field, then creates a job with an input file', async () => {
    await page.click('nav.mainnav a[href="/jobs"]');
    await page.waitForURL(/\/jobs$/);
    await page.click('main a.btn-primary[href="/jobs/new"]');
    await page.waitForURL(/\/jobs\/new$/);
    await page.fill('#name', 'Nightly build');
    await page.fill('#description', 'Builds and greets, every night.');
    await page.selectOption('#scriptId', { label: 'Greeter (bash)' });
    await page.fill('#tags', 'nightly, bad tag!');
    await page.click('#job-form button[type=submit]');
    const tagsError = page.locator('#tags-error');
    await tagsError.waitFor();
    assert.match(await tagsError.innerText(), /tag/i);
    // Beside its own field: in the same field group as the input it is about.
    assert.equal(await page.locator('.field.has-error #tags + .hint + #tags-error').count(), 1);
    assert.equal(await page.getAttribute('#tags', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#name'), 'Nightly build', 'what was typed is kept');
    await browser.screenshot('05-job-form-error');

    await page.fill('#tags', 'nightly, build');
    await page.setInputFiles('#file', { name: 'input.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from the input file') });
    await page.click('#job-form button[type=submit]');
    await page.waitForURL(/\/jobs\/[0-9a-z]{12}$/);
    jobUrl = page.url();
    await page.locator('#flash .alert-success', { hasText: 'was created' }).waitFor();
    assert.equal(await heading(page), 'Nightly build');
    assert.equal(await page.locator('#job-files .file-name', { hasText: 'input.txt' }).count(), 1);
    await browser.screenshot('06-job');
  });

  it('runs the job with extra arguments and watches it finish on the dashboard without reloading', async () => {
    await page.fill('#run-args', '--verbose\nhello world');
    await page.click('#run-form button[type=submit]');
    await page.waitForURL(/\/runs\/[0-9a-z]{12}-1$/);
    await page.locator('#flash .alert-success', { hasText: 'Run #1' }).waitFor();

    await page.click('nav.mainnav a[href="/"]');
    await page.waitForURL(`${server.url}/`);
    await markDocument(page);
    const running = page.locator('#panel-running .run-item', { hasText: 'Nightly build' });
    await running.locator('.status-running').waitFor({ timeout: 8_000 });
    await browser.screenshot('07-dashboard-running');
    const finished = page.locator('#panel-finished .run-item', { hasText: 'Nightly build' });
    await finished.locator('.status-succeeded', { hasText: 'Succeeded' }).waitFor({ timeout: 15_000 });
    assert.equal(await running.count(), 0, 'no longer listed as running');
    assert.ok(await sameDocument(page), 'the dashboard updated itself: no page load happened');
    await browser.screenshot('08-dashboard-finished');
  });

  it('opens the run and reads its output', async () => {
    await page.locator('#panel-finished .run-item a.run-link', { hasText: 'Nightly build' }).click();
    await page.waitForURL(/\/runs\/[0-9a-z]{12}-1$/);
    const output = page.locator('#output-text');
    await output.waitFor();
    const text = await output.innerText();
    assert.match(text, /args: --verbose hello world/);
    assert.match(text, /input: hello from the input file/);
    assert.match(text, /step 4\nall done/);
    assert.equal(await page.locator('.status-succeeded').first().innerText(), 'Succeeded');
    assert.match(await page.locator('.facts').first().innerText(), /Ada Lovelace/);
    assert.equal(await page.locator('.arglist li', { hasText: 'hello world' }).locator('.badge').count(), 1, 'the extra argument is marked');
    await browser.screenshot('09-run');
    // The whole output downloads with the key (a plain link could not send it).
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#run-output a[data-download]')]);
    assert.equal(download.suggestedFilename(), 'Nightly build-1.log');
    const saved = await download.path();
    assert.match(readFileSync(saved, 'utf8'), /args: --verbose hello world\n/);
  });

  it('says before any click that a template a job uses cannot be deleted, naming the job', async () => {
    await page.click('nav.mainnav a[href="/scripts"]');
    await page.waitForURL(/\/scripts$/);
    await page.locator('main a.row-title', { hasText: 'Greeter' }).click();
    await page.waitForURL(/\/scripts\/[0-9a-z]{12}$/);
    const remove = page.locator('main button.btn-danger-ghost');
    assert.equal(await remove.isDisabled(), true, 'no confirmation that can only end in a refusal');
    assert.match(await page.locator('#delete-blocked').innerText(), /cannot be deleted while 1 job uses it/);
    assert.match(await page.locator('main .linklist').innerText(), /Nightly build/);
    assert.equal(await heading(page), 'Greeter', 'the template is still there');
    await browser.screenshot('10-template-in-use');
  });

  it('searches jobs and keeps back and forward working', async () => {
    await page.click('nav.mainnav a[href="/jobs"]');
    await page.waitForURL(/\/jobs$/);
    await markDocument(page);
    await page.fill('#job-q', 'zzz-nothing');
    await page.locator('#job-results', { hasText: 'No job matches' }).waitFor();
    await page.waitForURL(/\/jobs\?q=zzz-nothing$/);
    await page.fill('#job-q', 'greets');
    await page.locator('#job-results a.row-title', { hasText: 'Nightly build' }).waitFor();
    await browser.screenshot('11-jobs');

    await page.click('nav.mainnav a[href="/runs"]');
    await page.waitForURL(/\/runs$/);
    assert.equal(await heading(page), 'Runs');
    await browser.screenshot('12-runs');
    await page.goBack();
    await page.waitForURL(/\/jobs\?q=greets$/);
    await page.locator('#job-results a.row-title', { hasText: 'Nightly build' }).waitFor();
    assert.equal(await heading(page), 'Jobs');
    await page.goForward();
    await page.waitForURL(/\/runs$/);
    await page.locator('#run-results .row-title', { hasText: 'Nightly build' }).waitFor();
    assert.ok(await sameDocument(page), 'navigation swapped the page in place');
  });

  it('shows the audit trail and the other main pages', async () => {
    await page.click('nav.mainnav a[href="/audit"]');
    await page.waitForURL(/\/audit$/);
    await page.locator('.timeline .event', { hasText: 'Ada Lovelace' }).first().waitFor();
    await browser.screenshot('13-audit');
    await page.click('nav.mainnav a[href="/scripts"]');
    await page.waitForURL(/\/scripts$/);
    await browser.screenshot('14-scripts');
    // A bookmarked URL opens straight into its page with the stored key.
    await page.goto(jobUrl);
    await page.locator('main h1', { hasText: 'Nightly build' }).waitFor();
  });

  it('fits a phone and follows the dark system theme', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/`);
    await page.locator('#panel-finished .run-item').first().waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.ok(overflow <= 1, `no sideways scrolling on a phone (overflow ${overflow}px)`);
    await browser.screenshot('15-phone-dashboard');
    await page.goto(`${jobUrl}`);
    await page.locator('#run-form').waitFor();
    await browser.screenshot('16-phone-job');
    await page.setViewportSize({ width: 1360, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${server.url}/`);
    await page.locator('#panel-finished .run-item').first().waitFor();
    const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    assert.notEqual(background, 'rgb(245, 246, 248)', 'the dark theme applies');
    await browser.screenshot('17-dark-dashboard');
    await page.goto(`${server.url}/runs`);
    await page.locator('#run-results .row-title').first().click();
    await page.locator('#output-text').waitFor();
    await browser.screenshot('18-dark-run');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('lets the person change their name and forget the key', async () => {
    await page.goto(`${server.url}/jobs`);
    await page.locator('.usermenu summary').click();
    await page.click('[data-action="change-name"]');
    const input = page.locator('#name-dialog [data-name-input]');
    await input.fill('Grace Hopper');
    await page.click('#name-dialog button[value="ok"]');
    await page.locator('.usermenu summary', { hasText: 'Grace Hopper' }).waitFor();
    assert.equal(await heading(page), 'Jobs');
    await page.locator('.usermenu summary').click();
    await page.click('[data-action="forget-key"]');
    await page.locator('#key-form').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate("localStorage.getItem('endercompute.key')"), null);
    assert.equal(await page.inputValue('#name-input'), 'Grace Hopper');
  });

  it('ran without a Content-Security-Policy violation or a script error', () => {
    const violations = browser.problems.filter((text) => /Content Security Policy|CSP violation|page error/i.test(text));
    assert.deepEqual(violations, []);
  });
});
