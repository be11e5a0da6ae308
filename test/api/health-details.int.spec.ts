import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { nextMondayMidnight } from '../../src/auth/key-schedule';
import { KeyService } from '../../src/auth/key-service';
import { expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

interface Health {
  status: string;
  store: string;
  sandbox: string;
  version: string;
  details?: { projectionLagEvents: number; disk: { path: string; freeBytes: number; totalBytes: number }; jobServersConnected: number; keyRenewsAt: string | null };
}

describe('GET /api/health?details=1', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('keeps the plain answer without details, with or without a key', async () => {
    for (const headers of [{}, { authorization: 'Bearer test-key-0123456789abcdef' }, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
      for (const query of ['', '?details=0', '?details=false']) {
        const health = await expectJson<Health>(await fetch(`${t.url}/api/health${query}`, { headers }), 200);
        assert.deepEqual(Object.keys(health), ['status', 'store', 'sandbox', 'version']);
      }
    }
  });

  it('answers 401 to details without the key, and 400 to a details value it does not know', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-key-0123456789abcdef' }] as Array<Record<string, string>>) {
      for (const query of ['?details=1', '?details=true']) {
        const refused = await expectJson<{ message: string }>(await fetch(`${t.url}/api/health${query}`, { headers }), 401);
        assert.equal(refused.message, 'You are not authenticated');
      }
    }
    const bad = await expectJson<{ message: string }>(await t.request('/api/health?details=yes'), 400);
    assert.match(bad.message, /details: must be 1 or true/);
  });

  it('adds the projection lag, the disk space of the data dir, job servers and the key renewal (none for a fixed key)', async () => {
    const health = await expectJson<Health>(await t.request('/api/health?details=1'), 200);
    const details = health.details!;
    assert.equal(health.status, 'ok');
    assert.equal(details.projectionLagEvents, 0);
    assert.equal(details.jobServersConnected, 0);
    assert.equal(details.keyRenewsAt, null);
    assert.equal(details.disk.path, t.config.dataDir);
    const fs = statfsSync(t.config.dataDir);
    assert.equal(details.disk.totalBytes, fs.blocks * fs.bsize);
    // Other processes write to the same disk meanwhile: within 64 MiB.
    assert.ok(Math.abs(details.disk.freeBytes - fs.bavail * fs.bsize) < 64 * 1024 * 1024, `${details.disk.freeBytes} free`);
  });

  it('tells when a generated key is renewed next', async () => {
    const generated = await startTestApp({ ENDERCOMPUTE_KEY: '' });
    try {
      const key = generated.app.get(KeyService).currentKey;
      const health = await expectJson<Health>(await generated.request('/api/health?details=1', { headers: { authorization: `Bearer ${key}` } }), 200);
      const expected = nextMondayMidnight(new Date()).toISOString();
      assert.equal(health.details?.keyRenewsAt, expected);
    } finally {
      await generated.close();
    }
  });
});
