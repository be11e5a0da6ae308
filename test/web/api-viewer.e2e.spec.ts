/**
 * Issue 16, item 4: the API viewer in a real browser. The footer of the pages links to
 * it; it loads swagger-ui from this server's own files and shows the operations of
 * `/api/openapi.json`, under the pages' strict CSP, without a single CSP or console error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, browserAvailable, CHROMIUM, launchBrowser } from '../support/browser';
import { type ServerProcess, startServer } from '../support/server-process';

describe('the API viewer in a browser', () => {
  let server: ServerProcess;
  let browser: Browser;

  before(async () => {
    assert.ok(browserAvailable(), `chromium is needed at ${CHROMIUM}: apt-get install -y chromium`);
    server = await startServer();
    browser = await launchBrowser();
    browser.page.setDefaultTimeout(20_000);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('is linked from the footer and shows every operation, without CSP errors', async () => {
    const { page } = browser;
    await page.goto(`${server.url}/`);
    // The key form is the first thing a new person sees; the footer is there already.
    await page.fill('#key-input', server.key);
    await page.click('#key-form button[type=submit]');
    await page.locator('footer a[href="/api-docs"]').click();
    await page.waitForURL(`${server.url}/api-docs`);
    await page.locator('.swagger-ui .opblock').first().waitFor({ state: 'visible' });
    const csp = (await (await fetch(`${server.url}/api-docs`)).headers.get('content-security-policy')) ?? '';
    assert.match(csp, /script-src 'self'(;|$)/, 'the page is served under the strict CSP');
    const document = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected = Object.values(document.paths).reduce((count, operations) => count + Object.keys(operations).length, 0);
    assert.equal(await page.locator('.swagger-ui .opblock').count(), expected, 'one block per operation');
    assert.ok(await page.locator('.swagger-ui .opblock-summary-path', { hasText: '/api/jobs/{id}/runs' }).count() > 0);
    // Opening an operation shows its parameters and body, rendered by swagger-ui (no inline script or style needed).
    await page.locator('.swagger-ui .opblock-summary-path', { hasText: '/api/runs/{id}/reschedule' }).first().click();
    await page.locator('.swagger-ui .opblock.is-open .parameters-container').waitFor({ state: 'visible' });
    await browser.screenshot('api-viewer');
    assert.deepEqual(browser.problems, []);
  });
});
