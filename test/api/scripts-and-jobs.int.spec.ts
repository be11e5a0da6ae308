import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Script {
  id: string;
  name: string;
  interpreter: string;
  body: string;
  version: number;
  createdBy: string;
  updatedBy: string;
}
interface Job {
  id: string;
  name: string;
  scriptId: string;
  scriptName: string;
  args: string[];
  env: Record<string, string>;
  tags: string[];
  files: Array<{ name: string; size: number; sha256: string }>;
  timeoutSeconds: number | null;
  version: number;
  lastRun: unknown;
}

describe('REST: script templates and jobs', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('creates, reads, edits and removes a script template, recording who did it', async () => {
    const created = await t.request('/api/scripts', { method: 'POST', actor: 'alice', json: { name: 'Build', body: 'make all' } });
    const script = await expectJson<Script>(created, 201);
    assert.equal(created.headers.get('etag'), '"1"', 'versions start at 1');
    assert.deepEqual(
      { name: script.name, interpreter: script.interpreter, body: script.body, version: script.version, createdBy: script.createdBy },
      { name: 'Build', interpreter: 'bash', body: 'make all', version: 1, createdBy: 'alice' },
    );
    const byName = await expectJson<Script>(await t.request('/api/scripts/build'), 200);
    assert.equal(byName.id, script.id);

    const edited = await expectJson<Script>(
      await t.request(`/api/scripts/${script.id}`, { method: 'PUT', actor: 'bob', headers: { 'if-match': '"1"' }, json: { body: 'make -j4' } }),
      200,
    );
    assert.deepEqual({ body: edited.body, version: edited.version, updatedBy: edited.updatedBy }, { body: 'make -j4', version: 2, updatedBy: 'bob' });

    const stale = await t.request(`/api/scripts/${script.id}`, { method: 'PUT', headers: { 'if-match': '"1"' }, json: { body: 'x' } });
    const staleBody = await expectJson<{ message: string }>(stale, 409);
    assert.match(staleBody.message, /version 1.*current version is 2/);
    // Versions start at 1: a 0 (what this API said before) is refused, never read as "any".
    const zero = await t.request(`/api/scripts/${script.id}`, { method: 'PUT', headers: { 'if-match': '"0"' }, json: { body: 'x' } });
    assert.match((await expectJson<{ message: string }>(zero, 400)).message, /versions start at 1/);
    const page = await (await t.request(`/scripts/${script.id}`)).text();
    assert.match(page, /Version 2 /, 'the page says the version the API says');

    const list = await expectJson<{ items: Script[] }>(await t.request('/api/scripts'), 200);
    assert.deepEqual(list.items.map((s) => s.name), ['Build']);

    assert.equal((await t.request(`/api/scripts/${script.id}`, { method: 'DELETE', headers: { 'if-match': '"2"' } })).status, 204);
    assert.equal((await t.request(`/api/scripts/${script.id}`)).status, 404);
  });

  it('refuses a duplicate template name, whatever its case', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'Deploy', body: 'true' } }), 201);
    const head = await t.head();
    const duplicate = await expectJson<{ message: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'DEPLOY', body: 'x' } }), 409);
    assert.match(duplicate.message, /"Deploy" already exists/);
    assert.equal(await t.head(), head, 'a refused request leaves the log unchanged');
  });

  it('creates a job on a template by name, finds it by name, and edits it with If-Match', async () => {
    const script = await expectJson<Script>(await t.request('/api/scripts', { method: 'POST', json: { name: 'Tests', interpreter: 'sh', body: 'echo $1' } }), 201);
    const job = await expectJson<Job>(
      await t.request('/api/jobs', {
        method: 'POST',
        actor: 'carol',
        json: { name: 'Nightly tests', scriptId: 'tests', args: ['--all'], env: { CI: '1' }, tags: ['Nightly', 'nightly', 'qa'], timeoutSeconds: 60 },
      }),
      201,
    );
    assert.deepEqual(
      { scriptId: job.scriptId, scriptName: job.scriptName, args: job.args, env: job.env, tags: job.tags, timeoutSeconds: job.timeoutSeconds, lastRun: job.lastRun },
      { scriptId: script.id, scriptName: 'Tests', args: ['--all'], env: { CI: '1' }, tags: ['nightly', 'qa'], timeoutSeconds: 60, lastRun: null },
    );
    const found = await expectJson<Job>(await t.request('/api/jobs/nightly%20tests'), 200);
    assert.equal(found.id, job.id);

    const updated = await t.request(`/api/jobs/${job.id}`, { method: 'PUT', headers: { 'if-match': '"1"' }, json: { timeoutSeconds: null, description: 'every night' } });
    const updatedJob = await expectJson<Job>(updated, 200);
    assert.equal(updated.headers.get('etag'), '"2"');
    assert.equal(updatedJob.version, 2);
    assert.equal(updatedJob.timeoutSeconds, null);

    const search = await expectJson<{ items: Job[] }>(await t.request('/api/jobs?q=EVERY%20NIGHT'), 200);
    assert.deepEqual(search.items.map((j) => j.name), ['Nightly tests']);
    const byTag = await expectJson<{ items: Job[] }>(await t.request('/api/jobs?tag=qa&lastStatus=never'), 200);
    assert.deepEqual(byTag.items.map((j) => j.name), ['Nightly tests']);
    const none = await expectJson<{ items: Job[] }>(await t.request('/api/jobs?tag=qa&lastStatus=succeeded'), 200);
    assert.equal(none.items.length, 0);

    const inUse = await expectJson<{ message: string }>(await t.request(`/api/scripts/${script.id}`, { method: 'DELETE' }), 409);
    assert.match(inUse.message, /used by job "Nightly tests"/);

    assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await t.request(`/api/jobs/${job.id}`)).status, 404);
    assert.equal((await t.request(`/api/scripts/${script.id}`, { method: 'DELETE' })).status, 204);
  });

  it('lists every matching job, in name order, however many: the answer is sent a hundred jobs at a time', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'Bulk', body: 'true' } }), 201);
    const names = Array.from({ length: 234 }, (_, i) => `bulk job ${String(i).padStart(3, '0')}`);
    for (const name of names) await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name, scriptId: 'bulk', tags: ['bulk'] } }), 201);
    const response = await t.request('/api/jobs?tag=bulk');
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    const listed = await expectJson<{ items: Job[] }>(response, 200);
    assert.deepEqual(listed.items.map((job) => job.name), names);
    assert.ok(listed.items.every((job) => job.scriptName === 'Bulk' && job.version === 1 && job.lastRun === null));
    const none = await expectJson<{ items: Job[] }>(await t.request('/api/jobs?tag=no-such-tag'), 200);
    assert.deepEqual(none, { items: [] });
    for (const job of listed.items) assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
  });

  it('stores input files content-addressed, serves them back byte for byte, and removes them', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'Files', body: 'ls' } }), 201);
    const job = await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'With files', scriptId: 'files' } }), 201);
    const binary = Buffer.alloc(1_200_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
    const form = new FormData();
    form.append('file', new Blob([binary]), 'data.bin');
    form.append('file', new Blob(['héllo\n']), 'notes é.txt');
    const attached = await expectJson<Job>(await t.request(`/api/jobs/${job.id}/files`, { method: 'POST', body: form }), 201);
    assert.deepEqual(
      attached.files.map((f) => [f.name, f.size]),
      [
        ['data.bin', 1_200_000],
        ['notes é.txt', 7],
      ],
    );
    const download = await t.request(`/api/jobs/${job.id}/files/data.bin`);
    assert.equal(download.status, 200);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(binary));

    assert.equal((await t.request(`/api/jobs/${job.id}/files/${encodeURIComponent('notes é.txt')}`, { method: 'DELETE' })).status, 204);
    const after = await expectJson<Job>(await t.request(`/api/jobs/${job.id}`), 200);
    assert.deepEqual(after.files.map((f) => f.name), ['data.bin']);
    assert.equal((await t.request(`/api/jobs/${job.id}/files/nope.txt`)).status, 404);
  });

  it('refuses path-like, empty and NUL-bearing file names without changing the log', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'Names', body: 'ls' } }), 201);
    const job = await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Hostile names', scriptId: 'names' } }), 201);
    for (const name of ['../x', '/etc/passwd', '..', 'a\0b']) {
      const head = await t.head();
      const form = new FormData();
      form.append('file', new Blob(['x']), name);
      const response = await t.request(`/api/jobs/${job.id}/files`, { method: 'POST', body: form });
      const body = await expectJson<{ message: string }>(response, 400);
      // A raw NUL in a part header breaks the multipart syntax itself: the parser refuses the form.
      assert.match(body.message, name.includes('\0') ? /^body: the multipart form could not be read \(Malformed part header\)$/ : /^file: /, `the message names the problem for ${JSON.stringify(name)}`);
      assert.equal(await t.head(), head, `nothing stored for ${JSON.stringify(name)}`);
    }
  });
});
