import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunnerTokens } from '../../src/runners/runner-tokens';
import { expectJson, TEST_KEY } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const ENV_TOKEN = 'env-runner-token-0123456789';

describe('Runner tokens: runner endpoints take them, and only them', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_RUNNER_TOKENS: `build-1=${ENV_TOKEN}` });
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

  it('refuses a runner endpoint to the key, a wrong token and no token (401)', async () => {
    for (const token of [TEST_KEY, `${ENV_TOKEN}x`, ENV_TOKEN.slice(0, -1), null]) {
      const response = await as(token, '/api/runner/whoami');
      assert.equal(response.status, 401, String(token));
      const body = (await response.json()) as { message: string };
      assert.match(body.message, /runner token/);
    }
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
