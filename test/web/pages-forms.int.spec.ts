/**
 * The pages' own endpoints over HTTP, as htmx calls them: forms that create,
 * edit, schedule and delete through the same commands as the API, field errors
 * beside their fields, fragments versus full pages, and the shell for every URL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

describe('pages: forms, fragments and navigation over HTTP', () => {
  let t: TestApp;
  let scriptId: string;
  let jobId: string;

  /** A request as htmx sends it, from a person named Zoë Ångström (percent-encoded, as the pages do). */
  const htmx = (path: string, init: RequestInit & { partial?: boolean } = {}): Promise<Response> =>
    t.request(path, {
      ...init,
      headers: {
        'x-actor': encodeURIComponent('Zoë Ångström'),
        'hx-request': 'true',
        'hx-request-type': init.partial === false ? 'full' : 'partial',
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const form = (fields: Record<string, string>): URLSearchParams => new URLSearchParams(fields);

  before(async () => {
    t = await startTestApp();
  });

  after(async () => {
    await t?.close();
  });

  it('answers every page URL without a key with the shell, so any URL can be bookmarked', async () => {
    for (const path of ['/', '/jobs', '/jobs/new', '/jobs/abc', '/jobs/abc/edit', '/scripts', '/scripts/new', '/scripts/abc', '/runs', '/runs/abc-1', '/audit', '/runs?status=failed']) {
      const response = await t.request(path, { headers: { authorization: '' } });
      assert.equal(response.status, 200, path);
      const html = await response.text();
      assert.ok(html.includes('id="key-gate"') && html.includes('id="key-form"'), path);
      assert.equal(response.headers.get('cache-control'), 'no-store', path);
    }
  });

  it('creates a script template from the form, attributed to the decoded name', async () => {
    const response = await htmx('/scripts', { method: 'POST', body: form({ name: 'Builder', interpreter: 'bash', body: 'echo "built $*"\r\nsleep 0\r\n' }) });
    assert.equal(response.status, 200);
    const pushed = response.headers.get('hx-push-url') ?? '';
    assert.match(pushed, /^\/scripts\/[0-9a-z]{12}$/);
    assert.equal(response.headers.get('hx-retarget'), 'body');
    scriptId = pushed.split('/')[2];
    const html = await response.text();
    assert.ok(html.includes('was created'));
    const script = await expectJson<{ createdBy: string; body: string }>(await t.request(`/api/scripts/${scriptId}`), 200);
    assert.equal(script.createdBy, 'Zoë Ångström');
    assert.equal(script.body, 'echo "built $*"\nsleep 0\n', 'line breaks stored as LF');
  });

  it('puts each problem beside its field and keeps what was typed', async () => {
    const response = await htmx('/jobs', {
      method: 'POST',
      body: form({ name: '', scriptId: '', args: 'a', env: 'not a pair\n1BAD=x', tags: 'ok, no!', timeoutSeconds: 'soon', description: 'kept text' }),
    });
    assert.equal(response.status, 422);
    const html = await response.text();
    for (const field of ['name', 'scriptId', 'env', 'tags', 'timeoutSeconds']) {
      assert.match(html, new RegExp(`id="${field}"[^>]*aria-invalid="true"`), `${field} is marked`);
      assert.ok(html.includes(`id="${field}-error"`), `${field} has its message`);
    }
    assert.ok(html.includes('kept text'), 'the description is kept');
    assert.ok(!html.includes('<html'), 'a fragment, not a page');
    assert.equal(((await (await t.request('/api/jobs')).json()) as { items: unknown[] }).items.length, 0, 'nothing was created');
  });

  it('refuses a taken name beside the name field', async () => {
    const created = await htmx('/jobs', { method: 'POST', body: form({ name: 'Nightly', scriptId, args: '--fast\nhello world', env: 'STAGE=prod', tags: 'a, b', timeoutSeconds: '60' }) });
    assert.equal(created.status, 200);
    jobId = (created.headers.get('hx-push-url') ?? '').split('/')[2];
    const job = await expectJson<{ args: string[]; env: Record<string, string>; tags: string[]; timeoutSeconds: number; createdBy: string }>(
      await t.request(`/api/jobs/${jobId}`),
      200,
    );
    assert.deepEqual(job.args, ['--fast', 'hello world']);
    assert.deepEqual(job.env, { STAGE: 'prod' });
    assert.deepEqual(job.tags, ['a', 'b']);
    assert.equal(job.timeoutSeconds, 60);
    const again = await htmx('/jobs', { method: 'POST', body: form({ name: 'nightly', scriptId }) });
    assert.equal(again.status, 422);
    assert.match(await again.text(), /id="name-error"[^>]*>.*already exists/s);
  });

  it('edits a job, and refuses a stale edit', async () => {
    const edited = await htmx(`/jobs/${jobId}`, { method: 'PUT', body: form({ name: 'Nightly', scriptId, args: '', env: '', tags: '', timeoutSeconds: '', description: 'now described', version: '1' }) });
    assert.equal(edited.status, 200);
    const job = await expectJson<{ description: string; timeoutSeconds: number | null; args: string[]; version: number }>(await t.request(`/api/jobs/${jobId}`), 200);
    assert.equal(job.description, 'now described');
    assert.equal(job.timeoutSeconds, null);
    assert.deepEqual(job.args, []);
    assert.equal(job.version, 2, 'versions start at 1: one edit makes version 2');
    const editPage = await (await t.request(`/jobs/${jobId}/edit`)).text();
    assert.match(editPage, /name="version" value="2"/, 'the form carries the version the API shows');
    const stale = await htmx(`/jobs/${jobId}`, { method: 'PUT', body: form({ name: 'Nightly 2', scriptId, version: '1' }) });
    assert.equal(stale.status, 422);
    assert.match(await stale.text(), /changed since you loaded it/);
    // A version that is not one is refused, never taken for no precondition; so for templates and restores.
    for (const [path, method, body] of [
      [`/jobs/${jobId}`, 'PUT', { name: 'Nightly 2', scriptId, version: 'abc' }],
      [`/scripts/${scriptId}`, 'PUT', { name: 'Any', interpreter: 'bash', body: 'true', version: '2x' }],
      [`/jobs/${jobId}/versions/1/restore`, 'POST', { version: '-1' }],
    ] as const) {
      const odd = await htmx(path, { method, body: form(body) });
      assert.equal(odd.status, 400, path);
      assert.match(await odd.text(), /version: must be the version the form was shown with/, path);
    }
    const twice = await htmx(`/jobs/${jobId}/versions/1/restore`, { method: 'POST', body: new URLSearchParams([['version', '1'], ['version', '2']]) });
    assert.equal(twice.status, 400);
    assert.match(await twice.text(), /version: give it once/);
    assert.equal((await expectJson<{ name: string }>(await t.request(`/api/jobs/${jobId}`), 200)).name, 'Nightly', 'nothing changed');
  });

  it('says once beside a number field what it takes, whatever is wrong with the value', async () => {
    const current = await expectJson<{ version: number; name: string; scriptId: string }>(await t.request(`/api/jobs/${jobId}`), 200);
    const bad = await htmx(`/jobs/${jobId}`, {
      method: 'PUT',
      body: form({ name: current.name, scriptId: current.scriptId, timeoutSeconds: '0', maxConcurrent: '1.5', keepRuns: '-1', version: String(current.version) }),
    });
    assert.equal(bad.status, 422);
    const html = await bad.text();
    const errors = (field: string): string[] => [...(new RegExp(`id="${field}-error">(.*?)</ul>`).exec(html)?.[1] ?? '').matchAll(/<li>(.*?)<\/li>/g)].map((m) => m[1]);
    assert.deepEqual(errors('timeoutSeconds'), ['Timeout must be a whole number of seconds from 1 to 604800, or blank for no limit']);
    assert.deepEqual(errors('maxConcurrent'), ['Runs at once must be a whole number from 1 to 1024, or blank for no limit of its own']);
    assert.deepEqual(errors('keepRuns'), ['Keep output of must be a whole number of runs from 1 to 1000000, or blank to keep every run&#39;s output']);
  });

  it('sets and clears keepRuns from the job form, refusing what the API refuses beside its field', async () => {
    const current = await expectJson<{ version: number; name: string; scriptId: string }>(await t.request(`/api/jobs/${jobId}`), 200);
    const bad = await htmx(`/jobs/${jobId}`, { method: 'PUT', body: form({ name: current.name, scriptId: current.scriptId, keepRuns: '0', version: String(current.version) }) });
    assert.equal(bad.status, 422);
    assert.match(await bad.text(), /id="keepRuns"[^>]*aria-invalid="true"/);
    const set = await htmx(`/jobs/${jobId}`, { method: 'PUT', body: form({ name: current.name, scriptId: current.scriptId, keepRuns: '3', version: String(current.version) }) });
    assert.equal(set.status, 200);
    const job = await expectJson<{ keepRuns: number | null; version: number }>(await t.request(`/api/jobs/${jobId}`), 200);
    assert.equal(job.keepRuns, 3);
    const page = await (await t.request(`/jobs/${jobId}`)).text();
    assert.match(page, /id="job-keep-runs">For the newest 3 finished runs</);
    const edit = await (await t.request(`/jobs/${jobId}/edit`)).text();
    assert.match(edit, /id="keepRuns" name="keepRuns" value="3"/);
    const cleared = await htmx(`/jobs/${jobId}`, { method: 'PUT', body: form({ name: current.name, scriptId: current.scriptId, keepRuns: '', version: String(job.version) }) });
    assert.equal(cleared.status, 200);
    assert.equal((await expectJson<{ keepRuns: number | null }>(await t.request(`/api/jobs/${jobId}`), 200)).keepRuns, null);
  });

  it('uploads and removes input files, answering the files panel', async () => {
    const upload = new FormData();
    upload.append('file', new Blob(['one']), 'one.txt');
    upload.append('file', new Blob(['two']), 'two.txt');
    const attached = await htmx(`/jobs/${jobId}/files`, { method: 'POST', body: upload });
    assert.equal(attached.status, 200);
    const panel = await attached.text();
    assert.ok(panel.startsWith('<section id="job-files"'));
    assert.ok(panel.includes('one.txt') && panel.includes('two.txt'));
    const removed = await htmx(`/jobs/${jobId}/files/one.txt`, { method: 'DELETE' });
    assert.equal(removed.status, 200);
    const after = await removed.text();
    assert.ok(!after.includes('one.txt</a>') && after.includes('two.txt'));
    const bad = new FormData();
    bad.append('file', new Blob(['x']), '../escape.txt');
    const refused = await htmx(`/jobs/${jobId}/files`, { method: 'POST', body: bad });
    assert.equal(refused.status, 422);
    assert.match(await refused.text(), /path/);
  });

  it('schedules a run after a delay, and refuses a time that has passed beside its field', async () => {
    const scheduled = await htmx(`/jobs/${jobId}/runs`, { method: 'POST', body: form({ args: 'extra', when: 'delay', delayAmount: '2', delayUnit: 'hours' }) });
    assert.equal(scheduled.status, 200);
    assert.match(scheduled.headers.get('hx-push-url') ?? '', new RegExp(`^/runs/${jobId}-1$`));
    const run = await expectJson<{ status: string; scheduledFor: string; args: string[]; requestedBy: string }>(await t.request(`/api/runs/${jobId}-1`), 200);
    assert.equal(run.status, 'scheduled');
    assert.ok(Math.abs(Date.parse(run.scheduledFor) - Date.now() - 2 * 3600_000) < 60_000);
    assert.deepEqual(run.args, ['extra']);
    assert.equal(run.requestedBy, 'Zoë Ångström');
    const past = await htmx(`/jobs/${jobId}/runs`, { method: 'POST', body: form({ when: 'at', at: '2001-01-01T00:00:00.000Z' }) });
    assert.equal(past.status, 422);
    assert.match(await past.text(), /id="run-at"[^>]*aria-invalid="true"/);
  });

  it('answers a partial request with the fragment and a navigation with the whole page', async () => {
    const fragment = await (await htmx('/')).text();
    assert.ok(!fragment.includes('<html') && fragment.includes('id="panel-running"'), 'the dashboard fragment');
    const full = await (await htmx('/', { partial: false })).text();
    assert.ok(full.startsWith('<!doctype html>') && full.includes('id="dashboard-live"'));
    const boosted = await (await htmx('/jobs', { headers: { 'hx-boosted': 'true' } })).text();
    assert.ok(boosted.startsWith('<!doctype html>'), 'a boosted link gets the whole page');
    const results = await (await htmx(`/jobs?q=nightly`)).text();
    assert.ok(results.startsWith('<div id="job-results"') && results.includes('Nightly'));
    const runFragment = await (await htmx(`/runs/${jobId}-1`)).text();
    // Its live output stream (src/live) says when the run changed; the page then refreshes this part.
    assert.ok(runFragment.includes('id="run-refresh"') && runFragment.includes('hx-sse:connect="/runs/'), 'a scheduled run keeps refreshing itself');
  });

  it('refuses to delete a job with an unfinished run, and deletes one without', async () => {
    const refused = await htmx(`/jobs/${jobId}`, { method: 'DELETE' });
    assert.equal(refused.status, 409);
    assert.equal(refused.headers.get('hx-retarget'), '#flash');
    assert.match(await refused.text(), /#1/);
    const other = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Short-lived', scriptId } }), 201);
    const deleted = await htmx(`/jobs/${other.id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.equal(deleted.headers.get('hx-push-url'), '/jobs');
    assert.match(await deleted.text(), /Job “Short-lived” was deleted/);
    assert.equal((await t.request(`/api/jobs/${other.id}`)).status, 404);
  });

  it('answers an unknown page with a page, and an unknown API path with JSON as before', async () => {
    const page = await t.request('/no-such-page', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /There is no page at \/no-such-page/);
    const shell = await t.request('/no-such-page', { headers: { accept: 'text/html', authorization: '' } });
    assert.equal(shell.status, 200);
    assert.ok((await shell.text()).includes('id="key-form"'));
    const api = await t.request('/api/no-such-thing', { headers: { accept: 'text/html' } });
    assert.equal(api.status, 404);
    assert.deepEqual(Object.keys((await api.json()) as object).sort(), ['error', 'message', 'statusCode']);
    const missingJob = await htmx('/jobs/zzzzzzzzzzzz', { partial: false });
    assert.equal(missingJob.status, 404);
    assert.match(await missingJob.text(), /No job &quot;zzzzzzzzzzzz&quot; exists/);
  });

  it('serves htmx and the pages’ own files', async () => {
    const htmxFile = await t.request('/static/htmx.min.js');
    assert.equal(htmxFile.status, 200);
    assert.match(htmxFile.headers.get('content-type') ?? '', /javascript/);
    assert.match(await htmxFile.text(), /htmx/);
    for (const file of ['/static/app.css', '/static/app.js', '/static/favicon.svg']) {
      const response = await t.request(file);
      assert.equal(response.status, 200, file);
      await response.arrayBuffer();
    }
  });
});
