/**
 * Layout points of issue 15, item 13, as a person sees them: "Have run" on
 * the dashboard as short as the other columns, "Script as it ran" across the
 * page with its long lines scrollable, and the script editor growing with
 * its content so its last line is never hidden.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn } from '../support/pages';
import { createJob, postJson, requestRun, waitForRun } from '../support/rest';
import { type ServerProcess, startServer } from '../support/server-process';

const LONG_LINE = `echo "${'a long line of a script that goes on and on '.repeat(8)}"`;

describe('page layout in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let runId = '';
  let scriptId = '';
  let jobId = '';

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({});
    jobId = await createJob(server, 'Layout', 'bash', `${LONG_LINE}\n${Array.from({ length: 30 }, (_, i) => `echo step ${i}`).join('\n')}\necho the last line`);
    for (let i = 0; i < 8; i++) runId = (await waitForRun(server, (await requestRun(server, jobId)).id)).id;
    scriptId = (await postJson<{ id: string }>(server, '/api/scripts', { name: 'Forty lines', interpreter: 'bash', body: Array.from({ length: 40 }, (_, i) => `echo line ${i + 1}`).join('\n') }, 201)).id;
    browser = await launchBrowser();
    browser.page.setDefaultTimeout(15_000);
    await signIn(browser.page, server.url, 'Grace Hopper', server.key);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('keeps "Have run" as short as the other columns, the rest one click away', async () => {
    const page = browser.page;
    await page.goto(`${server.url}/`);
    await page.locator('#panel-finished .run-item').first().waitFor();
    assert.equal(await page.locator('#panel-finished .run-item').count(), 6);
    assert.equal(await page.locator('#panel-finished a.panel-link').getAttribute('href'), '/runs?status=finished');
  });

  it('shows "Script as it ran" across the page, its long lines scrolling', async () => {
    const page = browser.page;
    await page.goto(`${server.url}/runs/${runId}`);
    await page.click('summary:has-text("Script as it ran")');
    const code = page.locator('.script-as-ran .code-view');
    await code.waitFor();
    const width = (await code.boundingBox())!.width;
    const output = (await page.locator('#run-output').boundingBox())!.width;
    assert.ok(width > output, `wider than the output column (${width} > ${output})`);
    const scrolls = await code.evaluate((e) => e.scrollWidth > e.clientWidth);
    assert.ok(scrolls, 'the long line scrolls instead of being cut');
    await code.evaluate((e) => e.scrollIntoView());
    await browser.screenshot('lay-01-script-as-it-ran');
  });

  it('grows the script editor with its content: the last line is in view', async () => {
    const page = browser.page;
    await page.goto(`${server.url}/scripts/${scriptId}`);
    const editor = page.locator('textarea#body');
    await editor.waitFor();
    const fits = async () => editor.evaluate((e) => e.scrollHeight <= e.clientHeight + 2);
    assert.ok(await fits(), 'the forty lines fit');
    await editor.press('Control+End');
    for (let i = 0; i < 10; i++) await editor.press('Enter');
    await editor.type('echo added at the end');
    assert.ok(await fits(), 'still fits after ten more lines');
    await browser.screenshot('lay-02-script-editor');
    assert.deepEqual(browser.problems, []);
  });

  it("keeps a scheduled run's buttons side by side in the job's history", async () => {
    const later = await createJob(server, 'Later', 'bash', 'true');
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await requestRun(server, later, { at: inAnHour });
    await browser.page.goto(`${server.url}/jobs/${later}`);
    const row = browser.page.locator('#job-history tbody tr').first();
    const startNow = (await row.getByRole('button', { name: /^Start .* now$/ }).boundingBox())!;
    const cancel = (await row.getByRole('button', { name: /^Cancel / }).boundingBox())!;
    assert.ok(Math.abs(startNow.y - cancel.y) < 2 && cancel.x > startNow.x, `Start now at ${startNow.x},${startNow.y}; Cancel at ${cancel.x},${cancel.y}`);
    await browser.screenshot('lay-04-scheduled-row');
    await postJson(server, `/api/runs/${scheduled.id}/cancel`, {}, 202);
    assert.deepEqual(browser.problems, []);
  });

  it('shows a job on a phone definition first, its history one compact entry a run', async () => {
    const phone = await launchBrowser({ viewport: { width: 390, height: 844 } });
    try {
      await signIn(phone.page, server.url, 'Grace Hopper', server.key);
      await phone.page.goto(`${server.url}/jobs/${jobId}`);
      const rows = phone.page.locator('#job-history tbody tr');
      await rows.first().waitFor();
      assert.equal(await rows.count(), 8);
      for (const box of await rows.evaluateAll((all) => all.map((row) => row.getBoundingClientRect().height))) assert.ok(box < 70, `a history entry is ${box} px tall`);
      const definition = (await phone.page.locator('#def-h').boundingBox())!.y;
      const runForm = (await phone.page.locator('#run-h').boundingBox())!.y;
      assert.ok(definition < runForm, 'the definition comes first');
      const height = await phone.page.evaluate('document.documentElement.scrollHeight');
      assert.ok((height as number) < 3000, `the page is ${height} px tall with 8 runs`);
      await phone.screenshot('lay-03-job-phone');
      assert.deepEqual(phone.problems, []);
    } finally {
      await phone.close();
    }
  });
});
