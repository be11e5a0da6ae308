import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunnerTokens } from '../../src/runners/runner-tokens';
import { expectJson, TEST_KEY } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const ENV_TOKEN = 'env-runner-token-0123456789';
const NAMED_KEY = 'alice-key-0123456789abcdef';

describe('Runner tokens: runner endpoints take them, and only them', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_RUNNER_TOKENS: `build-1=${ENV_TOKEN}`, ENDERCOMPUTE_KEYS: `alice=${NAMED_KEY}` });
  });
  after(async () => {
    await t.close();
  });

  const as = (token: string | null, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${t.url}${path}`, { ...init, headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(init.headers as Record<string, string>) } });

  it('opens a runner endpoint to a token from ENDERCOMPUTE_RUNNER_TOKENS, naming its runner', async () => {
    assert.deepEqual(await expectJson(await as(ENV_TOKEN, '/api/runner/whoami'), 200), { name: 'build-1' });
    assert.deepEqual(t.app.get(RunnerTokens).authenticate(ENV_TOKEN), { name: 'build-1' });
  });

  /** The 401 a runner endpoint answers, checked to be whole and to hold no token. */
  const refusal = async (token: string | null, headers: Record<string, string> = {}): Promise<string> => {
    const response = await as(token, '/api/runner/whoami', { headers });
    const body = (await response.json()) as { statusCode: number; error: string; message: string };
    assert.equal(response.status, 401, String(token));
    assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode']);
    for (const secret of [token, ENV_TOKEN, TEST_KEY, NAMED_KEY]) if (secret) assert.ok(!body.message.includes(secret), 'no token or key is echoed');
    return body.message;
  };

  it('refuses a runner endpoint without a token, saying how to send one (401)', async () => {
    const withoutToken: Array<Record<string, string>> = [{}, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }, { authorization: `Token ${ENV_TOKEN}` }];
    for (const headers of withoutToken) {
      assert.equal(await refusal(null, headers), 'This endpoint is for job servers and needs a runner token: send it as "Authorization: Bearer <runner token>"', JSON.stringify(headers));
    }
  });

  it("refuses a runner endpoint to a person's key, saying it takes a runner token and how to get one (401)", async () => {
    for (const key of [TEST_KEY, NAMED_KEY]) {
      assert.equal(
        await refusal(key),
        "This endpoint is for job servers: it takes a runner token, not a person's key. Register a job server with POST /api/runners (or on the Runners page) or in ENDERCOMPUTE_RUNNER_TOKENS, and give it that runner's token",
      );
    }
  });

  it('refuses a runner endpoint to a token it does not know, naming no runner (401)', async () => {
    for (const token of [`${ENV_TOKEN}x`, ENV_TOKEN.slice(0, -1), `ecr_${'A'.repeat(43)}`, `${TEST_KEY}x`]) {
      assert.equal(
        await refusal(token),
        "This server does not know that runner token: check that it was copied whole, and that it was registered (POST /api/runners, on this server or one sharing its store) or is in this server's ENDERCOMPUTE_RUNNER_TOKENS",
      );
    }
  });

  it('refuses a revoked token saying whose it was, who revoked it and when (401), also once the name is registered again', async () => {
    const registered = await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', actor: 'alice', json: { name: 'gpu-old' } }), 201);
    assert.equal((await t.request('/api/runners/gpu-old', { method: 'DELETE', actor: 'bob' })).status, 204);
    const revokedAt = (await t.store.readStream('runner-gpu-old')).find((event) => event.type === 'RunnerRevoked')?.metadata.at;
    assert.ok(revokedAt);
    const revoked = `The token of runner "gpu-old" was revoked by bob at ${revokedAt}: it opens nothing any more (register the job server again for a new token)`;
    assert.equal(await refusal(registered.token), revoked);
    const again = await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', actor: 'carol', json: { name: 'gpu-old' } }), 201);
    assert.equal(await refusal(registered.token), revoked, 'the old token is still the one bob revoked');
    assert.deepEqual(await expectJson(await as(again.token, '/api/runner/whoami'), 200), { name: 'gpu-old' });
    assert.ok(!(await refusal(`ecr_${'B'.repeat(43)}`)).includes('gpu-old'), 'a made-up token learns no runner name');
  });

  it('gives nothing to a claim held open while its token is revoked, though it passed the check before', async () => {
    const { token } = await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', json: { name: 'held-claim' } }), 201);
    const report = encodeURIComponent(JSON.stringify({ labels: ['held'], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
    const held = as(token, '/api/runner/claim', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-runner-report': report },
      body: JSON.stringify({ workRoot: '/tmp/held-claim', wait: 10 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await t.request('/api/runners/held-claim', { method: 'DELETE' })).status, 204);
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'held-tpl', interpreter: 'bash', body: 'echo secret' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'held-job', scriptId: script.id, runsOn: ['held'] } }), 201);
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    const started = Date.now();
    const answer = await held;
    assert.equal(answer.status, 204, 'no run handed over');
    assert.ok(Date.now() - started < 5_000, 'answered once the run came, not at the end of the wait');
    const after = await expectJson<{ status: string; runner: string | null }>(await t.request(`/api/runs/${run.id}`), 200);
    assert.deepEqual([after.status, after.runner], ['queued', null]);
  });

  it('refuses a runner token on user endpoints, API and pages alike (401)', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 's', body: 'echo hi' } }), 201);
    const head = await t.head();
    const apiRoutes: Array<[string, string]> = [
      ['GET', '/api/jobs'],
      ['GET', '/api/scripts'],
      ['GET', '/api/runs'],
      ['GET', '/api/events'],
      ['GET', '/api/runners'],
      ['POST', '/api/runners'],
      ['DELETE', '/api/runners/build-1'],
      ['POST', '/api/jobs'],
      ['GET', '/api/scripts/s'],
      ['GET', '/metrics'],
    ];
    for (const [method, path] of apiRoutes) {
      const response = await as(ENV_TOKEN, path, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) });
      assert.equal(response.status, 401, `${method} ${path}`);
    }
    for (const path of ['/', '/jobs', '/runs', '/scripts', '/audit', '/runners']) {
      const response = await as(ENV_TOKEN, path, { headers: { 'hx-request': 'true' } });
      assert.equal(response.status, 401, path);
    }
    assert.equal(await t.head(), head, 'nothing was written');
  });

  it('keeps env tokens out of the log and the projection database', async () => {
    await as(ENV_TOKEN, '/api/runner/whoami');
    for (const file of ['events.db', 'projections.db']) {
      const bytes = readFileSync(join(t.config.dataDir, file)).toString('latin1');
      assert.ok(!bytes.includes(ENV_TOKEN), file);
    }
  });
});
