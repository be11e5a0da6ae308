/**
 * A log holding an event a projection cannot apply: the server does not skip it and does
 * not fail every page with a 500; it stops its read models before that event and says
 * so — in its log, in `/api/health` (503), and in every API answer and page that needs
 * the read models (503 with the same message). A restart stops at the same event again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatPosition } from '../../src/event-store/event-store.port';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

describe('An event a projection cannot apply', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-stopped-'));
  let t: TestApp | undefined;
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function expectStopped(app: TestApp, expected: RegExp): Promise<void> {
    const health = await expectJson<{ status: string; message: string; store: string; version: string; sandbox: string }>(await app.request('/api/health'), 503);
    assert.equal(health.status, 'unavailable');
    assert.equal(health.store, 'sqlite', 'the documented shape is kept');
    assert.match(health.message, expected);
    for (const path of ['/api/scripts', '/api/jobs', '/api/runs', '/api/events', '/', '/scripts', '/jobs']) {
      const response = await app.request(path);
      const text = await response.text();
      assert.equal(response.status, 503, `${path}: ${text.slice(0, 200)}`);
      assert.match(text, expected, path);
    }
    const created = await app.request('/api/scripts', { method: 'POST', json: { name: 'later', body: 'true' } });
    assert.equal(created.status, 503);
    assert.match(await created.text(), expected);
  }

  it('stops the read models before it, naming it, and answers 503 with that message: at once and after a restart', async () => {
    t = await startTestApp({ ENDERCOMPUTE_DATA_DIR: dataDir });
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'greet', body: 'echo hi' } }), 201);
    // What validation makes impossible, written by something else: an id that is not text.
    const metadata = { actor: 'elsewhere', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
    const appended = await t.store.append('script-broken', [{ id: randomUUID(), type: 'ScriptCreated', data: { scriptId: { not: 'text' }, name: 'broken', interpreter: 'bash', body: '' }, metadata }], 'no_stream');
    const engine = t.app.get(ProjectionEngine);
    await eventually(async () => (engine.stoppedBecause ? true : undefined), 5_000, 'the engine to stop');
    const expected = new RegExp(
      `projection .{1,6}scripts.{1,6} cannot apply the event at position ${formatPosition(appended.position)} \\(stream script-broken, revision 0, type ScriptCreated\\)`,
    );
    await expectStopped(t, expected);
    await t.app.close();

    // Not skipped at the next start either: the server starts, and answers the same.
    t = await startTestApp({ ENDERCOMPUTE_DATA_DIR: dataDir });
    await expectStopped(t, expected);
  });
});
