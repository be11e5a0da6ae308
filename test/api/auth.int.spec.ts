import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectJson, TEST_KEY } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const ALICE_KEY = 'alice-key-aaaaaaaaaaaaaaaa';

describe('REST: the key and the actor', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_KEYS: `alice=${ALICE_KEY}` });
  });
  after(async () => {
    await t.close();
  });

  it('answers 401 "You are not authenticated" without a key, with a wrong key, and with a malformed header', async () => {
    for (const authorization of [undefined, 'Bearer wrong-key', `Basic ${TEST_KEY}`, `Bearer ${TEST_KEY}x`, 'Bearer']) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const response = await fetch(`${t.url}/api/scripts`, { headers });
      assert.equal(response.status, 401, String(authorization));
      assert.deepEqual(await response.json(), { statusCode: 401, error: 'Unauthorized', message: 'You are not authenticated' });
    }
  });

  it('needs no key for health', async () => {
    const health = await expectJson<{ status: string; store: string; version: string }>(await fetch(`${t.url}/api/health`), 200);
    assert.deepEqual({ status: health.status, store: health.store }, { status: 'ok', store: 'sqlite' });
    assert.match(health.version, /^\d+\.\d+\.\d+/);
  });

  it('attributes actions to a named key, to X-Actor (percent-encoded UTF-8 too), or to anonymous', async () => {
    const named = await expectJson<{ createdBy: string }>(
      await t.request('/api/scripts', { method: 'POST', headers: { authorization: `Bearer ${ALICE_KEY}`, 'x-actor': 'mallory' }, json: { name: 'a', body: 'x' } }),
      201,
    );
    assert.equal(named.createdBy, 'alice', 'a named key wins over a self-declared name');
    const declared = await expectJson<{ createdBy: string }>(
      await t.request('/api/scripts', { method: 'POST', actor: encodeURIComponent('Zoë Ångström'), json: { name: 'b', body: 'x' } }),
      201,
    );
    assert.equal(declared.createdBy, 'Zoë Ångström');
    const nobody = await expectJson<{ createdBy: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'c', body: 'x' } }), 201);
    assert.equal(nobody.createdBy, 'anonymous');
    const tooLong = await t.request('/api/scripts', { method: 'POST', actor: 'x'.repeat(65), json: { name: 'd', body: 'x' } });
    assert.equal(tooLong.status, 400);
  });

  it('keeps the keys out of the log and the events', async () => {
    await t.request('/api/scripts', { method: 'POST', json: { name: 'e', body: 'x' } });
    const events = await expectJson<{ items: unknown[] }>(await t.request('/api/events?limit=1000'), 200);
    const everything = JSON.stringify(events);
    assert.ok(!everything.includes(TEST_KEY) && !everything.includes(ALICE_KEY));
    const database = readFileSync(join(t.config.dataDir, 'events.db')).toString('latin1');
    assert.ok(!database.includes(TEST_KEY) && !database.includes(ALICE_KEY), 'no key in the database file');
  });
});
