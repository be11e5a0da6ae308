import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Refusal {
  message: string;
  problems: string[];
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * A number field gets one message saying what it takes, whatever is wrong with the
 * value: a fraction, text, a number too large to be exact or a whole number out of
 * range. Never the list of every rule it breaks ("must be a whole number; must not
 * be less than 1; must not be greater than 1000000" for "1.5", which reads as a
 * contradiction). Query values are text; so are the multipart fields.
 */
describe('REST: one message per number field, saying what it takes', () => {
  let t: TestApp;
  let jobId: string;

  before(async () => {
    t = await startTestApp();
    const scriptId = (await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 's', body: 'true' } }), 201)).id;
    jobId = (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'release', scriptId } }), 201)).id;
  });
  after(async () => {
    await t.close();
  });

  async function refused(path: string, init: RequestInit & { json?: unknown } = {}): Promise<string[]> {
    const head = await t.head();
    const answer = await expectJson<Refusal>(await t.request(path, init), 400);
    assert.equal(await t.head(), head, `${path}: nothing was recorded`);
    return [...answer.problems].sort();
  }

  it('query values: a fraction, text, a negative or a number too large to be exact get the one range message', async () => {
    const runsLimit = 'limit: limit must be a whole number from 1 to 500';
    for (const value of ['1.5', 'abc', '0', '501', '-1', '1e2', '0x10', '', '99999999999999999999999']) {
      assert.deepEqual(await refused(`/api/runs?limit=${encodeURIComponent(value)}`), [runsLimit], `limit=${value}`);
    }
    assert.deepEqual(await refused('/api/runs?before=1.5'), [`before: before must be a whole number from 0 to ${MAX_EXACT}`]);
    assert.deepEqual(await refused('/api/events?limit=1.5'), ['limit: limit must be a whole number from 1 to 1000']);
    assert.deepEqual(await refused('/api/events?limit=1001'), ['limit: limit must be a whole number from 1 to 1000']);
    // A huge positive offset is not "less than 0": it is past the largest exact number.
    const offset = [`offset: offset must be a whole number of bytes from 0 to ${MAX_EXACT}`];
    assert.deepEqual(await refused('/api/runs/ghost-1/output?offset=99999999999999999999999'), offset);
    assert.deepEqual(await refused('/api/runs/ghost-1/output?offset=1.5'), offset);
    assert.deepEqual(await refused('/api/runs/ghost-1/output?offset=-1'), offset);
  });

  it('every field with a problem is named in the same 400, each once', async () => {
    assert.deepEqual(await refused('/api/runs?limit=1.5&before=soon&sort=oldest'), [
      `before: before must be a whole number from 0 to ${MAX_EXACT}`,
      'limit: limit must be a whole number from 1 to 500',
      'sort: sort must be requested or finished',
    ]);
  });

  it('JSON bodies: text, a fraction below the minimum and a number out of range get the one message too', async () => {
    const keepRuns = 'keepRuns: keepRuns must be a whole number from 1 to 1000000, or null to keep the output of every run';
    const timeout = 'timeoutSeconds: timeoutSeconds must be a whole number of seconds from 1 to 604800, or null for no time limit';
    const maxConcurrent = 'maxConcurrent: maxConcurrent must be a whole number from 1 to 1024, or null for no limit of its own';
    for (const value of ['1.5', 1.5, 0.5, 0, 1_000_001, true, 1e300]) {
      assert.deepEqual(await refused(`/api/jobs/${jobId}`, { method: 'PUT', json: { keepRuns: value } }), [keepRuns], `keepRuns: ${JSON.stringify(value)}`);
    }
    assert.deepEqual(await refused('/api/jobs', { method: 'POST', json: { name: 'zz2', scriptId: 's', timeoutSeconds: '5m', keepRuns: 0.5, maxConcurrent: 0 } }), [keepRuns, maxConcurrent, timeout]);
    const delay = 'delaySeconds: delaySeconds must be a whole number of seconds from 0 to 31622400';
    for (const value of ['1h', 1.5, -0.5, 31_622_401]) {
      assert.deepEqual(await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { delaySeconds: value } }), [delay], `delaySeconds: ${JSON.stringify(value)}`);
    }
    const form = new FormData();
    form.append('delaySeconds', '1h');
    form.append('file', new Blob(['x']), 'in.txt');
    assert.deepEqual(await refused(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form }), [delay]);
  });

  it('takes the numbers it says it takes', async () => {
    await expectJson(await t.request(`/api/jobs/${jobId}`, { method: 'PUT', json: { keepRuns: 1_000_000, timeoutSeconds: 604_800, maxConcurrent: 1 } }), 200);
    await expectJson(await t.request('/api/runs?limit=500&before=0'), 200);
    await expectJson(await t.request('/api/events?limit=1000'), 200);
  });
});
