/**
 * Filters as a person uses them (issue 15, item 10): the runs page's Job and
 * Started-by boxes suggest existing names as one types ("nightly" offers
 * "Nightly build", and choosing it filters exactly, as the API does); the jobs
 * page has one filter of the last run, not two overlapping ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn } from '../support/pages';
import { createJob, requestRun, waitForRun } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

describe('filter suggestions on the runs page', () => {
  let server: ServerProcess;
  let browser: Browser;

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({});
    const nightly = await createJob(server, 'Nightly build', 'bash', 'echo nightly');
    const release = await createJob(server, 'Release', 'bash', 'echo release');
    await waitForRun(server, (await requestRun(server, nightly, {}, 'Ada Lovelace')).id);
    await waitForRun(server, (await requestRun(server, release, {}, 'Alan Turing')).id);
    browser = await launchBrowser();
    browser.page.setDefaultTimeout(15_000);
    await signIn(browser.page, server.url, 'Grace Hopper', server.key);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('suggests job names and people as one types, and the chosen name filters exactly', async () => {
    const page = browser.page;
    await page.goto(`${server.url}/runs`);
    await page.locator('#run-job').waitFor();
    await page.fill('#run-job', 'nightly');
    await page.locator('#run-job-names option[value="Nightly build"]').waitFor({ state: 'attached' });
    await page.locator('#run-job-names option[value="Release"]').waitFor({ state: 'detached' });
    // Choosing the suggestion puts the exact name in the box: the list shows that job's runs only.
    await page.fill('#run-job', 'Nightly build');
    await page.locator('#run-results', { hasText: 'Nightly build' }).waitFor();
    await page.locator('#run-results', { hasText: 'Release' }).waitFor({ state: 'detached' });

    await page.fill('#run-by', 'lovelace');
    await page.locator('#run-by-names option[value="Ada Lovelace"]').waitFor({ state: 'attached' });
    await page.locator('#run-by-names option[value="Alan Turing"]').waitFor({ state: 'detached' });
    await browser.screenshot('fs-01-runs-suggestions');
    assert.deepEqual(browser.problems, []);
  });

  it('offers one filter of the last run on the jobs page: the last outcome', async () => {
    const page = browser.page;
    await page.goto(`${server.url}/jobs`);
    await page.locator('#job-outcome').waitFor();
    assert.equal(await page.locator('#job-status').count(), 0);
    assert.deepEqual(await page.locator('form[role=search] label').allInnerTexts(), ['Search', 'Tag', 'Last outcome']);
    await page.selectOption('#job-outcome', 'succeeded');
    await page.waitForURL(/\/jobs\?outcome=succeeded$/);
    await browser.screenshot('fs-02-jobs-filters');
  });
});
