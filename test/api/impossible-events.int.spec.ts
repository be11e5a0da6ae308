import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Job {
  id: string;
  name: string;
  args: string[];
  env: Record<string, string>;
  tags: string[];
  description: string;
  schedules: unknown[];
  version: number;
}

/**
 * Logs written before the API refused `null` hold events no reader can apply
 * as they are (`JobUpdated {tags: null}` made every list, filter and page of
 * jobs a 500, for everyone, across restarts). Every reader now takes such a
 * value as "not changed", and applies each event whole or not at all.
 */
describe('Events with impossible values, from logs of earlier versions', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-impossible-'));
  let t: TestApp;
  let jobId: string;
  let scriptId: string;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_DATA_DIR: dataDir });
    scriptId = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'greet', body: 'echo "args: $*"' } }), 201)).id;
    const job = await expectJson<Job>(
      await t.request('/api/jobs', { method: 'POST', json: { name: 'nightly', scriptId, args: ['keep'], env: { A: '1' }, tags: ['old'], description: 'd' } }),
      201,
    );
    jobId = job.id;
    const metadata = { actor: 'an-earlier-version', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
    const event = (type: string, data: Record<string, unknown>) => ({ id: randomUUID(), type, data, metadata });
    await t.store.append(
      `job-${jobId}`,
      [
        event('JobUpdated', { jobId, tags: null }),
        event('JobUpdated', { jobId, args: null, env: null }),
        event('JobUpdated', { jobId, name: null, description: null, schedules: null, timeoutSeconds: 'soon', maxConcurrent: null }),
        event('JobUpdated', { jobId, args: 'not-a-list', env: { B: 2 }, tags: [null] }),
        // A valid change after them still applies.
        event('JobUpdated', { jobId, tags: ['later'] }),
      ],
      'any',
    );
    const appended = await t.store.append(`script-${scriptId}`, [event('ScriptUpdated', { scriptId, body: null, interpreter: null, name: null })], 'any');
    await t.app.get(ProjectionEngine).waitFor(appended.position);
  });
  after(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function expectReadable(app: TestApp, version: number): Promise<void> {
    for (const path of ['/api/jobs', '/api/jobs?tag=later', '/api/jobs?q=nightly', `/api/jobs/${jobId}`, '/api/scripts', '/jobs', '/jobs?tag=later', `/jobs/${jobId}`, `/jobs/${jobId}/edit`, '/scripts', `/scripts/${scriptId}`, '/']) {
      const response = await app.request(path);
      assert.equal(response.status, 200, `${path}: ${(await response.text()).slice(0, 200)}`);
    }
    const job = await expectJson<Job>(await app.request(`/api/jobs/${jobId}`), 200);
    assert.equal(job.name, 'nightly');
    assert.deepEqual(job.args, ['keep']);
    assert.deepEqual(job.env, { A: '1' });
    assert.deepEqual(job.tags, ['later']);
    assert.equal(job.description, 'd');
    assert.deepEqual(job.schedules, []);
    assert.equal(job.version, version, 'the version counts from 1: the revision of the last change, plus 1');
    const filtered = await expectJson<{ items: Job[] }>(await app.request('/api/jobs?tag=later'), 200);
    assert.deepEqual(filtered.items.map((j) => j.id), [jobId]);
    const script = await expectJson<{ name: string; body: string; interpreter: string }>(await app.request(`/api/scripts/${scriptId}`), 200);
    assert.deepEqual([script.name, script.interpreter, script.body], ['greet', 'bash', 'echo "args: $*"']);
  }

  it('reads them as "not changed": lists, filters and pages answer, with the values from before', async () => {
    await expectReadable(t, 6);
  });

  it('decides on them too: the job can be run and changed', async () => {
    const run = await expectJson<{ id: string; args: string[] }>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { args: ['now'] } }), 202);
    assert.deepEqual(run.args, ['keep', 'now']);
    await eventually(async () => ((await expectJson<{ status: string }>(await t.request(`/api/runs/${run.id}`), 200)).status === 'succeeded' ? true : undefined));
    assert.equal(await (await t.request(`/api/runs/${run.id}/output`)).text(), 'args: keep now\n');
    const changed = await expectJson<Job>(await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { tags: ['again'] } }), 200);
    assert.deepEqual(changed.tags, ['again']);
    await expectJson(await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { tags: ['later'] } }), 200);
  });

  it('survives a restart: the read models are rebuilt from the same log without failing', async () => {
    await t.close();
    t = await startTestApp({ ENDERCOMPUTE_DATA_DIR: dataDir });
    // The two changes above moved the version on (to the revision of the last one: the run's
    // admission before them is bookkeeping, not a change); everything else reads as before.
    await expectReadable(t, 9);
  });
});
