/**
 * Hostile names, descriptions, arguments, file names, script bodies, actors and
 * output are shown on every page as text, never as markup; every page carries
 * the Content-Security-Policy; no page has an inline script or style.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeMarkup, ESCAPED_IMG, ESCAPED_SCRIPT, IMG_TAG, SCRIPT_TAG, TEXTAREA_BREAKOUT } from '../support/markup';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

describe('pages: hostile text is escaped everywhere, under a strict CSP', () => {
  let t: TestApp;
  let scriptId: string;
  let jobId: string;
  let runId: string;
  const hostileActor = encodeURIComponent(`${SCRIPT_TAG} ${IMG_TAG}`.slice(0, 64));

  /** A page request as the browser's htmx makes it: with the key, the actor and htmx's headers. */
  const page = (path: string, partial = false, init: RequestInit = {}): Promise<Response> =>
    t.request(path, {
      ...init,
      headers: {
        'x-actor': hostileActor,
        'hx-request': 'true',
        'hx-request-type': partial ? 'partial' : 'full',
        ...(init.headers as Record<string, string> | undefined),
      },
    });

  before(async () => {
    t = await startTestApp();
    const body = [
      '#!/usr/bin/env bash',
      `# ${SCRIPT_TAG} ${IMG_TAG} ${TEXTAREA_BREAKOUT}`,
      `echo '${SCRIPT_TAG}'`,
      `echo '${IMG_TAG}'`,
      `echo '${TEXTAREA_BREAKOUT}'`,
      'echo "args: $*"',
      `printf "\\033[31mred ${SCRIPT_TAG}\\033[0m\\n"`,
    ].join('\n');
    const script = await expectJson<{ id: string }>(
      await t.request('/api/scripts', { method: 'POST', json: { name: `${SCRIPT_TAG} template`, body }, headers: { 'x-actor': hostileActor } }),
      201,
    );
    scriptId = script.id;
    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', {
        method: 'POST',
        headers: { 'x-actor': hostileActor },
        json: {
          name: `${IMG_TAG} job`,
          description: `${SCRIPT_TAG} ${IMG_TAG} ${TEXTAREA_BREAKOUT}`,
          scriptId,
          args: [SCRIPT_TAG, IMG_TAG],
          env: { HOSTILE: `${SCRIPT_TAG}${IMG_TAG}` },
          tags: ['safe-tag'],
        },
      }),
      201,
    );
    jobId = job.id;
    const upload = new FormData();
    upload.append('file', new Blob(['file content']), `${IMG_TAG.replace(/\//g, '')}.txt`);
    await expectJson(await t.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: upload, headers: { 'x-actor': hostileActor } }), 201);
    const run = await expectJson<{ id: string }>(
      await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { args: [TEXTAREA_BREAKOUT] }, headers: { 'x-actor': hostileActor } }),
      202,
    );
    runId = run.id;
    await eventually(async () => {
      const current = await expectJson<{ status: string }>(await t.request(`/api/runs/${runId}`), 200);
      return current.status === 'succeeded' ? true : undefined;
    }, 15_000, 'the hostile run to finish');
  });

  after(async () => {
    await t?.close();
  });

  it('shows every page with the hostile text escaped, never as markup', async () => {
    const paths = [
      '/',
      '/jobs',
      `/jobs?q=${encodeURIComponent(SCRIPT_TAG)}`,
      `/jobs?tag=${encodeURIComponent(IMG_TAG)}&status=${encodeURIComponent(IMG_TAG)}`,
      '/jobs/new',
      `/jobs/new?script=${encodeURIComponent(scriptId)}`,
      `/jobs/${jobId}`,
      `/jobs/${jobId}/edit`,
      '/scripts',
      '/scripts/new',
      `/scripts/${scriptId}`,
      '/runs',
      `/runs?q=${encodeURIComponent(SCRIPT_TAG)}&by=${encodeURIComponent(IMG_TAG)}&job=${encodeURIComponent(IMG_TAG)}`,
      `/runs?job=${encodeURIComponent(`${IMG_TAG} job`)}`,
      `/runs/${runId}`,
      '/audit',
      `/audit?actor=${encodeURIComponent(SCRIPT_TAG)}&job=${encodeURIComponent(IMG_TAG)}&all=1`,
      `/jobs/${encodeURIComponent(SCRIPT_TAG)}`,
      `/runs/${encodeURIComponent(IMG_TAG)}`,
      `/scripts/${encodeURIComponent(SCRIPT_TAG)}`,
    ];
    for (const path of paths) {
      for (const partial of [false, true]) {
        const response = await page(path, partial);
        const html = await response.text();
        assert.ok([200, 404].includes(response.status), `${path}: HTTP ${response.status}`);
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/, path);
        assert.deepEqual(activeMarkup(html), [], `${path}${partial ? ' (fragment)' : ''}`);
      }
    }
  });

  it('does show the hostile text, as text, where it belongs', async () => {
    const jobPage = await (await page(`/jobs/${jobId}`)).text();
    assert.ok(jobPage.includes(`${ESCAPED_IMG} job`), 'the job name');
    assert.ok(jobPage.includes(ESCAPED_SCRIPT), 'the description and arguments');
    assert.ok(jobPage.includes('&lt;/textarea&gt;'), 'the description breakout attempt');
    const editPage = await (await page(`/jobs/${jobId}/edit`)).text();
    assert.ok(editPage.includes(`&lt;/textarea&gt;&lt;script&gt;alert(2)&lt;/script&gt;</textarea>`), 'the textarea holds the text');
    assert.ok(editPage.includes(`value="${ESCAPED_IMG} job"`), 'the name input holds the text');
    const scriptPage = await (await page(`/scripts/${scriptId}`)).text();
    assert.ok(scriptPage.includes(`echo &#39;${ESCAPED_SCRIPT}&#39;`), 'the script body');
    const runPage = await (await page(`/runs/${runId}`)).text();
    // Each output line is an element of its own (its number and link): the text is read without them.
    const outputText = runPage.replace(/<span class="ol[^"]*"[^>]*>|\n<\/span>/g, (tag) => (tag.startsWith('\n') ? '\n' : ''));
    assert.ok(outputText.includes(`${ESCAPED_SCRIPT}\n${ESCAPED_IMG}\n&lt;/textarea&gt;`), 'the output, in order');
    assert.ok(runPage.includes(`red ${ESCAPED_SCRIPT}`), 'the output with its colour codes removed');
    assert.ok(!runPage.includes('\u001b'), 'no terminal escape reaches the page');
    const dashboard = await (await page('/')).text();
    assert.ok(dashboard.includes(ESCAPED_SCRIPT), 'the actor on the dashboard');
    const audit = await (await page('/audit')).text();
    assert.ok(audit.includes(ESCAPED_SCRIPT) && audit.includes(ESCAPED_IMG), 'names and actors in the audit trail');
  });

  it('escapes what a refused form sends back', async () => {
    const form = new URLSearchParams({ name: `${SCRIPT_TAG}x`, description: TEXTAREA_BREAKOUT, scriptId, args: IMG_TAG, env: `${IMG_TAG}=1`, tags: IMG_TAG, timeoutSeconds: IMG_TAG });
    const refused = await page('/jobs', true, { method: 'POST', body: form });
    assert.equal(refused.status, 422);
    const html = await refused.text();
    assert.deepEqual(activeMarkup(html), []);
    assert.ok(html.includes('aria-invalid="true"'), 'the fields are marked');
    const scriptForm = new URLSearchParams({ name: TEXTAREA_BREAKOUT, interpreter: IMG_TAG, body: TEXTAREA_BREAKOUT });
    const refusedScript = await page('/scripts', true, { method: 'POST', body: scriptForm });
    assert.equal(refusedScript.status, 422);
    assert.deepEqual(activeMarkup(await refusedScript.text()), []);
    const runForm = new URLSearchParams({ args: TEXTAREA_BREAKOUT, env: `${SCRIPT_TAG}=1`, when: 'at', at: IMG_TAG });
    const refusedRun = await page(`/jobs/${jobId}/runs`, true, { method: 'POST', body: runForm });
    assert.equal(refusedRun.status, 422);
    assert.deepEqual(activeMarkup(await refusedRun.text()), []);
  });

  it('escapes conflict messages that quote names', async () => {
    const refused = await page(`/scripts/${scriptId}`, true, { method: 'DELETE' });
    assert.equal(refused.status, 409);
    const html = await refused.text();
    assert.deepEqual(activeMarkup(html), []);
    assert.ok(html.includes(ESCAPED_IMG), 'the job using the template is named');
  });

  it('sends the CSP and the other security headers with every page, the shell and the API', async () => {
    const answers = [
      await page('/'),
      await page(`/runs/${runId}`, true),
      await t.request('/jobs', { headers: { authorization: '' } }),
      await t.request('/jobs', { headers: { authorization: 'Bearer wrong-key-000000000000' } }),
      await t.request('/api/jobs'),
      await t.request('/static/app.js'),
    ];
    for (const answer of answers) {
      const csp = answer.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, answer.url);
      assert.match(csp, /script-src 'self'(;|$)/, answer.url);
      assert.match(csp, /style-src 'self'(;|$)/, answer.url);
      assert.match(csp, /frame-ancestors 'none'/, answer.url);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, answer.url);
      assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', answer.url);
      assert.equal(answer.headers.get('referrer-policy'), 'no-referrer', answer.url);
      await answer.arrayBuffer();
    }
  });

  it('answers a page without a key with the shell, and a wrong key with the key form, never with data', async () => {
    const shell = await t.request(`/jobs/${jobId}`, { headers: { authorization: '' } });
    assert.equal(shell.status, 200);
    const shellHtml = await shell.text();
    assert.ok(shellHtml.includes('id="key-form"'));
    assert.ok(!shellHtml.includes('job</h1>') && !shellHtml.includes(ESCAPED_IMG), 'no job data without the key');
    assert.deepEqual(activeMarkup(shellHtml), []);
    const refused = await t.request(`/jobs/${jobId}`, { headers: { authorization: 'Bearer wrong-key-000000000000', 'hx-request': 'true' } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('hx-retarget'), 'body');
    const refusedHtml = await refused.text();
    assert.ok(refusedHtml.includes('You are not authenticated'));
    assert.ok(!refusedHtml.includes(ESCAPED_IMG));
  });
});
