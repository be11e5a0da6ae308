/**
 * A removed job's or template's former name after an upgrade: the projection database of
 * the version before (jobs and scripts at version 1, without the removals' tables) is
 * rebuilt from the log at the first start, so removals made before the upgrade are named
 * too; the start after that is warm.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { PROJECTIONS_FILE } from '../../src/projections/projection-database';
import { expectJson, type ServerProcess, startServer } from '../support/server-process';

/** Makes a stopped server's projection database what the version before this one left: no removals' tables, versions 1. */
function asVersionOne(dataDir: string): void {
  const db = new Database(join(dataDir, PROJECTIONS_FILE));
  try {
    db.exec(`
      DROP TABLE removed_jobs;
      DROP TABLE removed_scripts;
      UPDATE projection_versions SET version = 1 WHERE name IN ('jobs', 'scripts');
    `);
  } finally {
    db.close();
  }
}

describe('former names after an upgrade', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.kill();
    servers[0]?.cleanup();
  });

  async function post(server: ServerProcess, path: string, body: unknown): Promise<{ id: string }> {
    return expectJson(await server.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), actor: 'alice' }), 201);
  }
  async function message(server: ServerProcess, path: string): Promise<string> {
    return (await expectJson<{ message: string }>(await server.request(path), 404)).message;
  }

  it('names the jobs and templates removed before the upgrade once the rebuilt database serves', async () => {
    const first = await startServer();
    servers.push(first);
    const tpl = await post(first, '/api/scripts', { name: 'Kept tpl', body: 'true' });
    const job = await post(first, '/api/jobs', { name: 'Nightly', scriptId: tpl.id });
    const gone = await post(first, '/api/scripts', { name: 'Gone tpl', body: 'true' });
    assert.equal((await first.request(`/api/jobs/${job.id}`, { method: 'DELETE', actor: 'bob' })).status, 204);
    assert.equal((await first.request(`/api/scripts/${gone.id}`, { method: 'DELETE', actor: 'bob' })).status, 204);
    await first.stop();
    asVersionOne(first.dataDir);

    const upgraded = await startServer({ dataDir: first.dataDir });
    servers.push(upgraded);
    assert.match(upgraded.output(), /building projections\.db from the log: projection versions changed \([^)]*jobs 1 → 2/);
    assert.match(upgraded.output(), /projection versions changed \([^)]*scripts 1 → 2/);
    assert.match(await message(upgraded, '/api/jobs/nightly/versions'), new RegExp(`^No job is named "nightly" now\\. A job of that name was removed at \\S+ by bob: its id is ${job.id}, and its versions stay readable at GET /api/jobs/${job.id}/versions$`));
    assert.match(await message(upgraded, '/api/scripts/gone%20tpl/versions'), new RegExp(`by bob: its id is ${gone.id}, and its versions stay readable at GET /api/scripts/${gone.id}/versions$`));
    await upgraded.stop();

    const again = await startServer({ dataDir: first.dataDir });
    servers.push(again);
    assert.doesNotMatch(again.output(), /Projections: building/, 'rebuilt once: the next start is warm');
    assert.match(await message(again, '/api/jobs/nightly/versions'), new RegExp(`its id is ${job.id}`));
  });
});
