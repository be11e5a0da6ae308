/**
 * The Runners page in a real browser: the local runner and the environment's job server
 * listed, a refused name shown as text, registering a job server (its token shown once,
 * and working), revoking it behind a confirmation (its token stops working at once), and
 * the audit trail naming who did both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { heading, signIn, successFlash } from '../support/pages';
import { type ServerProcess, startServer } from '../support/server-process';

const ENV_TOKEN = 'env-runner-token-0123456789';

describe('the Runners page in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let token = '';
  let jobServer: JobServerProcess | undefined;

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer({ env: { ENDERCOMPUTE_RUNNER_TOKENS: `build-env=${ENV_TOKEN}`, ENDERCOMPUTE_RUNNER_ID: 'main-runner' } });
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(10_000);
    await signIn(page, server.url, 'Grace Hopper', server.key);
  });

  after(async () => {
    await jobServer?.kill();
    jobServer?.cleanup();
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  const whoami = (bearer: string): Promise<Response> => fetch(`${server.url}/api/runner/whoami`, { headers: { authorization: `Bearer ${bearer}` } });
  const row = (name: string) => page.locator(`tr[data-runner="${name}"]`);

  it('is in the navigation, and lists the server\'s own runner online and the environment\'s job server offline', async () => {
    await page.click('nav.mainnav a[href="/runners"]');
    await page.waitForURL(/\/runners$/);
    assert.equal(await heading(page), 'Runners');
    assert.equal(await page.locator('nav.mainnav a[aria-current="page"]').innerText(), 'Runners');
    assert.match(await row('main-runner').innerText(), /a server’s own runner[\s\S]*Online/);
    const configured = await row('build-env').innerText();
    assert.match(configured, /job server · configured by the environment[\s\S]*Offline/);
    assert.equal(await row('build-env').locator('button', { hasText: 'Revoke' }).count(), 0, 'an environment runner cannot be revoked here');
  });

  it('shows a job server online with its labels once it connects, and offline once it stops, without a reload', async () => {
    const loaded = await page.evaluate(() => performance.timeOrigin);
    jobServer = await startJobServer({ url: server.url, token: ENV_TOKEN, labels: ['linux', 'arch:arm64'] });
    await row('build-env').locator('.status', { hasText: 'Online' }).waitFor();
    assert.deepEqual(await row('build-env').locator('.tag').allInnerTexts(), ['linux', 'arch:arm64']);
    assert.match(await row('build-env').innerText(), /just now/);
    await browser.screenshot('runners-online');
    // A job server that stops says goodbye: the list follows.
    await jobServer.stop();
    jobServer.cleanup();
    await row('build-env').locator('.status', { hasText: 'Offline' }).waitFor();
    assert.equal(await page.evaluate(() => performance.timeOrigin), loaded, 'the page was not reloaded');
    jobServer = await startJobServer({ url: server.url, token: ENV_TOKEN, labels: ['linux', 'arch:arm64'] });
    await row('build-env').locator('.status', { hasText: 'Online' }).waitFor();
  });

  it('shows a refused name beside the field, as text', async () => {
    await page.fill('#runner-name', '<b>x</b>');
    await page.click('#runner-register button[type=submit]');
    const error = page.locator('#name-error');
    await error.waitFor();
    assert.match(await error.innerText(), /The name must be 1–64 characters.*"<b>x<\/b>"/);
    assert.equal(await page.locator('#runner-register b').count(), 0, 'the name is escaped');
  });

  it('registers a job server and shows its token once; the token works', async () => {
    await page.fill('#runner-name', 'gpu-1');
    await page.click('#runner-register button[type=submit]');
    await successFlash(page, 'was registered');
    token = (await page.locator('[data-runner-token]').innerText()).trim();
    assert.match(token, /^ecr_[A-Za-z0-9_-]{43}$/);
    assert.match(await page.locator('#runner-token').innerText(), /ENDERCOMPUTE_RUNNER_TOKEN=… endercompute runner --name gpu-1/);
    assert.deepEqual(await (await whoami(token)).json(), { name: 'gpu-1' });
    assert.match(await row('gpu-1').innerText(), /job server[\s\S]*Offline/);
    await browser.screenshot('runners-registered');
    await page.reload();
    await row('gpu-1').waitFor();
    assert.equal(await page.locator('[data-runner-token]').count(), 0, 'the token is not shown again');
    assert.ok(!(await page.content()).includes(token));
  });

  it('revokes it behind a confirmation: kept on "Keep it", revoked on "Revoke", and its token stops working', async () => {
    await row('gpu-1').locator('button', { hasText: 'Revoke' }).click();
    await page.locator('#confirm-dialog[open]').waitFor();
    assert.equal(await page.locator('#confirm-ok').innerText(), 'Revoke');
    assert.match(await page.locator('#confirm-message').innerText(), /Revoke the job server “gpu-1”\? Its token stops working at once/);
    await page.click('#confirm-dialog button[value="cancel"]');
    assert.equal((await whoami(token)).status, 200, 'kept');
    await row('gpu-1').locator('button', { hasText: 'Revoke' }).click();
    await page.locator('#confirm-dialog[open]').waitFor();
    await page.click('#confirm-ok');
    await successFlash(page, 'was revoked');
    assert.equal(await row('gpu-1').count(), 0);
    assert.equal((await whoami(token)).status, 401);
  });

  it('names who registered and revoked it in the audit trail', async () => {
    await page.click('nav.mainnav a[href="/audit"]');
    await page.waitForURL(/\/audit/);
    const text = await page.locator('main').innerText();
    assert.match(text, /Grace Hopper Revoked the job server “gpu-1”/);
    assert.match(text, /Grace Hopper Registered the job server “gpu-1”/);
    assert.match(text, /Runner “main-runner” connected/);
    assert.ok(!text.includes(token));
    assert.deepEqual(browser.problems.filter((problem) => !/status of 422/.test(problem)), [], 'no console errors or CSP violations but the refused name');
  });
});
