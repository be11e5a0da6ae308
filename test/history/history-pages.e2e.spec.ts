/**
 * Version history in a real browser (issue 14, item 5 and 6): the History view shows a
 * script change as a line diff with who and when; restoring version 2 from its page makes
 * a new version equal to version 2; `?asOf=` shows a job as it was before an edit; a run
 * page links to the versions it ran and to what changed since. Hostile names and script
 * text are shown as text.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { signIn, successFlash } from '../support/pages';
import { getJson, JSON_HEADERS, postJson, requestRun, waitForRun } from '../support/rest';
import { expectJson, type ServerProcess, startServer } from '../support/server-process';

const PERSON = 'Ada Lovelace';
const HOSTILE = 'Grace <img src=x onerror="window.pwned=1">';

interface Detail { version: number; content: Record<string, unknown>; restoredFrom: number | null; actor: string; source: string }

describe('history pages in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let scriptId = '';

  const put = async (path: string, body: unknown, actor: string) =>
    expectJson<{ version: number }>(await server.request(path, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(body), actor }), 200);

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}`);
    server = await startServer({ generatedKey: true });
    scriptId = (await postJson<{ id: string }>(server, '/api/scripts', { name: 'Deploy <b>now</b>', interpreter: 'bash', body: 'echo one\necho two\necho "<script>x</script>"\n' }, 201, 'Ada')).id;
    await put(`/api/scripts/${scriptId}`, { body: 'echo one\necho 2\necho "<script>x</script>"\necho three\n' }, HOSTILE);
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

  it('shows a script change as a line diff, with who, when and through which interface', async () => {
    await page.goto(`${server.url}/scripts/${scriptId}`);
    await page.click('#script-history-link');
    await page.locator('#version-2').waitFor();
    const two = page.locator('#version-2');
    assert.equal(await two.locator('.version-actor').innerText(), HOSTILE, 'the hostile name is shown as text');
    assert.equal(await two.locator('.version-source').innerText(), 'API');
    assert.match(await two.locator('.version-who time').first().getAttribute('datetime') ?? '', /^\d{4}-\d{2}-\d{2}T/);
    const body = two.locator('.diff-field[data-field="body"]');
    assert.equal(await body.locator('.diff-label').innerText(), 'Script');
    const rows = async (op: string) => body.locator(`.diff-${op} .diff-text`).allInnerTexts();
    assert.deepEqual(await rows('del'), ['echo two']);
    assert.deepEqual(await rows('add'), ['echo 2', 'echo three']);
    assert.ok((await rows('same')).includes('echo "<script>x</script>"'), 'script text shown as text');
    // Version 1 lists what it was created with.
    assert.equal(await page.locator('#version-1 .version-actor').innerText(), 'Ada');
    assert.equal(await page.locator('#version-1 .version-what').innerText(), 'Created');
    assert.equal(await page.evaluate('window.pwned === undefined && document.querySelectorAll("main img, main b").length === 0'), true, 'nothing hostile ran or rendered');
    await browser.screenshot('hist-history');
  });

  it('pages a long history: the 25 newest versions, then older ones on request, and back', async () => {
    const busy = (await postJson<{ id: string }>(server, '/api/scripts', { name: 'Busy template', interpreter: 'bash', body: 'echo 0\n' }, 201, 'Ada')).id;
    for (let i = 1; i <= 30; i++) await put(`/api/scripts/${busy}`, { body: `echo ${i}\n` }, 'Ada');
    await page.goto(`${server.url}/scripts/${busy}/history`);
    await page.locator('#version-31').waitFor();
    const shown = async () => (await page.locator('.version-item').evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-version')))));
    const newest = await shown();
    assert.deepEqual(newest, Array.from({ length: 25 }, (_, i) => 31 - i));
    assert.match(await page.locator('nav.pager').innerText(), /25 of 31 versions shown/);
    assert.equal(await page.locator('#history-newest').count(), 0);
    await page.click('#history-older');
    await page.waitForURL(/\/history\?before=7$/);
    await page.locator('#version-6').waitFor();
    assert.deepEqual(await shown(), [6, 5, 4, 3, 2, 1]);
    assert.deepEqual(await page.locator('#version-1 .diff-field[data-field="body"] .diff-add .diff-text').allInnerTexts(), ['echo 0']);
    assert.equal(await page.locator('#history-older').count(), 0, 'nothing older than version 1');
    await page.click('#history-newest');
    await page.waitForURL(/\/history$/);
    await page.locator('#version-31').waitFor();
    assert.deepEqual(await shown(), newest);
    const refused = await server.request(`/scripts/${busy}/history?before=soon`);
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /before: must be a version number/);
  });

  it('restores version 2 of a job from its page as a new version equal to version 2', async () => {
    const job = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'Restorable job', scriptId, args: ['first'], tags: ['t1'] }, 201, 'Ada')).id;
    await put(`/api/jobs/${job}`, { args: ['second', 'two'], env: { MODE: 'v2' } }, 'Ada');
    await put(`/api/jobs/${job}`, { args: ['third'], env: {}, tags: ['t3'] }, 'Grace');
    await page.goto(`${server.url}/jobs/${job}`);
    await page.click('#job-history-link');
    await page.locator('#version-3').waitFor();
    await page.click('#version-2 h2 a');
    await page.locator('#restore-version').waitFor();
    await browser.screenshot('hist-version');
    await page.click('#restore-version');
    await page.locator('#confirm-dialog[open]').waitFor();
    await page.click('#confirm-ok');
    await successFlash(page, 'Version 2 was restored: it is now version 4');
    assert.deepEqual(browser.problems, [], 'no console error or CSP violation on the way');
    assert.equal(new URL(page.url()).pathname, `/jobs/${job}/history`);
    assert.equal(await page.locator('#version-4 .version-what').innerText(), 'Restored version 2');
    assert.equal(await page.locator('#version-4 .version-actor').innerText(), PERSON);
    assert.equal(await page.locator('#version-4 .version-source').innerText(), 'web page');

    const four = await getJson<Detail>(server, `/api/jobs/${job}/versions/4`);
    const two = await getJson<Detail>(server, `/api/jobs/${job}/versions/2`);
    assert.deepEqual(four.content, two.content);
    assert.deepEqual([four.restoredFrom, four.actor, four.source], [2, PERSON, 'web']);
    const now = await getJson<{ args: string[]; env: Record<string, string>; tags: string[]; version: number }>(server, `/api/jobs/${job}`);
    assert.deepEqual([now.args, now.env, now.tags, now.version], [['second', 'two'], { MODE: 'v2' }, ['t1'], 4]);
  });

  it('refuses a restore whose name is taken, saying why, and changes nothing', async () => {
    const job = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'Old name', scriptId }, 201)).id;
    await put(`/api/jobs/${job}`, { name: 'New name' }, 'Ada');
    await postJson(server, '/api/jobs', { name: 'Old name', scriptId }, 201);
    await page.goto(`${server.url}/jobs/${job}/versions/1`);
    await page.click('#restore-version');
    await page.locator('#confirm-dialog[open]').waitFor();
    await page.click('#confirm-ok');
    await page.locator('#flash .alert-error', { hasText: 'cannot be restored: its name "Old name" is now taken' }).waitFor();
    assert.equal((await getJson<{ version: number }>(server, `/api/jobs/${job}`)).version, 2);
  });

  it('shows a job as it was before an edit with ?asOf=, read-only and marked', async () => {
    const job = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'Before <i>edit</i>', scriptId, args: ['old-arg'] }, 201)).id;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const asOf = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await put(`/api/jobs/${job}`, { name: 'After edit', args: ['new-arg'] }, 'Ada');

    await page.goto(`${server.url}/jobs/${job}?asOf=${encodeURIComponent(asOf)}`);
    await page.locator('#as-of-banner').waitFor();
    assert.match(await page.locator('#as-of-banner').innerText(), /As of .*read-only/s);
    assert.equal(await page.locator('#job-as-of-name').innerText(), 'Before <i>edit</i>');
    assert.equal(await page.locator('#job-as-of [data-field="args"] dd').innerText(), 'old-arg');
    assert.equal(await page.locator('main form[hx-put], main button[hx-delete], #run-form').count(), 0, 'nothing to change on a past state');
    await browser.screenshot('hist-as-of');

    await page.goto(`${server.url}/jobs?asOf=${encodeURIComponent(asOf)}`);
    await page.locator('#jobs-as-of').waitFor();
    const names = await page.locator('#jobs-as-of tbody td:first-child').allInnerTexts();
    assert.ok(names.includes('Before <i>edit</i>') && !names.includes('After edit'), names.join(', '));
    await page.goto(`${server.url}/jobs/${job}`);
    await page.locator('#job-history-link').waitFor();
    assert.equal(await page.locator('main h1').first().innerText(), 'After edit', 'without asOf: the job as it is now');

    await page.goto(`${server.url}/jobs/${job}?asOf=last-week`);
    await page.getByText('asOf: "last-week" is not an ISO 8601 time').first().waitFor();
    assert.equal((await server.request(`/jobs/${job}?asOf=last-week`)).status, 400, 'a bad time is a 400 for the page too');
  });

  it('links a run to the job and template versions it ran, and to what changed since', async () => {
    const job = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'Ran once', scriptId, args: ['ran-with'] }, 201)).id;
    const run = await requestRun(server, job);
    await waitForRun(server, run.id);
    await put(`/api/jobs/${job}`, { args: ['changed-after'] }, 'Ada');
    await page.goto(`${server.url}/runs/${run.id}`);
    const jobVersion = page.locator('#ran-job-version');
    await jobVersion.waitFor();
    assert.equal(await jobVersion.locator('a').first().getAttribute('href'), `/jobs/${job}/versions/1`);
    assert.equal(await page.locator('#ran-script-version a').nth(1).getAttribute('href'), `/scripts/${scriptId}/versions/2`);
    await jobVersion.getByText('what changed since').click();
    await page.locator('.diff-field[data-field="args"]').waitFor();
    assert.match(await page.locator('#changes-h').innerText(), /Changes from version 1/);
    const args = page.locator('.diff-field[data-field="args"]');
    assert.deepEqual(await args.locator('.diff-del .diff-text').allInnerTexts(), ['ran-with']);
    assert.deepEqual(await args.locator('.diff-add .diff-text').allInnerTexts(), ['changed-after']);
  });
});
