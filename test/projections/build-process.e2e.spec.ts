/**
 * A server that builds its read models from the log (no projection database yet, or a
 * projection's version changed) builds them in a process of its own, with Node flags
 * sized for a build, then opens the result and goes on as on a warm start. An event that
 * process cannot apply ends it, and the server's own build then stops on that event as
 * it always did: 503 naming its position, never skipped.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatPosition } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { createJob, getJson, runAndWait } from '../support/rest';
import { childrenOf } from '../support/run-processes';
import { expectJson, startServer, type ServerProcess } from '../support/server-process';

describe('The build of the read models in a process of its own', () => {
  const servers: ServerProcess[] = [];
  let double: EsdbDouble | undefined;
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
    await double?.stop();
  });

  async function start(dataDir?: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const server = await startServer({ ...(dataDir === undefined ? {} : { dataDir }), env });
    servers.push(server);
    return server;
  }

  it('builds a data dir with history and no projection database, then serves it and follows the log', async () => {
    const first = await start();
    const jobId = await createJob(first, 'built-elsewhere', 'bash', 'echo from the log');
    const { run } = await runAndWait(first, jobId);
    await first.stop();
    rmSync(join(first.dataDir, 'projections.db'));

    const second = await start(first.dataDir);
    const output = second.output();
    assert.match(output, /Projections: building projections\.db from the log: there is none yet \(in a process of its own\)/);
    assert.match(output, /Projections: rebuilt from the log: \d+ events applied in [\d.]+ s/, 'the build process\'s lines reach the server\'s log');
    assert.match(output, /Projections: at the head of the log \(checkpoint \d+\)/, 'then opened as on a warm start');
    assert.doesNotMatch(output, /did not finish|build process (stopped|ended|could not)/);
    assert.equal(existsSync(join(first.dataDir, 'projections.db.building')), false);
    assert.equal(statSync(join(first.dataDir, 'projections.db')).mode & 0o777, 0o600, 'private like the log: the build process has the server\'s umask');
    assert.deepEqual(childrenOf(second.child.pid!), [], 'the build process ended with its build');

    const again = await getJson<{ status: string; exitCode: number }>(second, `/api/runs/${run.id}`);
    assert.equal(again.status, 'succeeded');
    const text = await (await second.request(`/api/runs/${run.id}/output`)).text();
    assert.equal(text, 'from the log\n');
    // Following the log after the build: a new run shows at once (read-your-writes).
    const { run: later } = await runAndWait(second, jobId);
    assert.equal(later.number, 2);
    await second.stop();

    const third = await start(first.dataDir);
    assert.doesNotMatch(third.output(), /Projections: building/, 'what the build process installed is the server\'s database from then on');
    await third.stop();
  });

  it('leaves an event it cannot apply to the server, which stops before it and says so (503), never skipping it', async () => {
    const first = await start();
    await expectJson(await first.request('/api/scripts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'greet', body: 'echo hi' }) }), 201);
    await first.stop();
    // What validation makes impossible, written by something else: an id that is not text.
    const store = SqliteEventStore.open(join(first.dataDir, 'events.db'));
    const metadata = { actor: 'elsewhere', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
    const appended = await store.append('script-broken', [{ id: randomUUID(), type: 'ScriptCreated', data: { scriptId: { not: 'text' }, name: 'broken', interpreter: 'bash', body: '' }, metadata }], 'no_stream');
    await store.close();
    rmSync(join(first.dataDir, 'projections.db'));

    const second = await start(first.dataDir);
    const where = `cannot apply the event at position ${formatPosition(appended.position)} \\(stream script-broken, revision 0, type ScriptCreated\\)`;
    assert.match(second.output(), new RegExp(`the build process stopped: The read models stopped: projection .{1,6}scripts.{1,6} ${where}`));
    assert.match(second.output(), /the build process did not finish, so the server builds in its own process/);
    const health = await expectJson<{ status: string; message: string }>(await second.request('/api/health'), 503);
    assert.match(health.message, new RegExp(where));
    const scripts = await second.request('/api/scripts');
    assert.equal(scripts.status, 503);
    await second.stop();
  });

  it('builds from EventStoreDB with a connection of its own', async () => {
    double = await startEsdbDouble();
    const env = { EVENTSTORE_CONNECTION_STRING: double.connectionString };
    const first = await start(undefined, env);
    const jobId = await createJob(first, 'on-esdb', 'bash', 'echo from esdb');
    const { run } = await runAndWait(first, jobId);
    await first.stop();
    rmSync(join(first.dataDir, 'projections.db'));

    const second = await start(first.dataDir, env);
    assert.match(second.output(), /Projections: building projections\.db from the log: there is none yet \(in a process of its own\)/);
    assert.match(second.output(), /Projections: rebuilt from the log/);
    assert.doesNotMatch(second.output(), /did not finish/);
    assert.equal((await getJson<{ status: string }>(second, `/api/runs/${run.id}`)).status, 'succeeded');
    assert.equal(await (await second.request(`/api/runs/${run.id}/output`)).text(), 'from esdb\n');
    await second.stop();
  });
});
