/**
 * The end-to-end scenario of `server.e2e.spec.ts`, with the built server as a process
 * on EventStoreDB: the in-process gRPC double started here, reached through
 * `EVENTSTORE_CONNECTION_STRING`. The log lives in the double only (no embedded
 * `events.db` appears in the data directory), so a restart of the server rebuilds every
 * read model from EventStoreDB; a restart of EventStoreDB itself is survived by the
 * running server.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { runReleaseScenario, snapshot } from '../support/release-scenario';
import { createJob, getJson, outputOf, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

describe('The built server as a process on EventStoreDB (the double)', () => {
  let double: EsdbDouble;
  const servers: ServerProcess[] = [];
  before(async () => {
    double = await startEsdbDouble();
  });
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
    await double.stop();
  });

  const start = async (options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<ServerProcess> => {
    const server = await startServer({ ...options, env: { EVENTSTORE_CONNECTION_STRING: double.connectionString, ...options.env } });
    servers.push(server);
    return server;
  };

  it('runs a real bash script with args, env and an input file, and a restart of the server keeps everything byte for byte', async () => {
    const server = await start({ env: { SERVER_SECRET: 'do-not-leak' } });
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', store: 'eventstoredb', sandbox: 'bwrap', version: '0.1.0' });

    const { run, jobId } = await runReleaseScenario(server);
    assert.equal(existsSync(join(server.dataDir, 'events.db')), false, 'no embedded log: everything went to EventStoreDB');
    const runEvents = double.log.stream(`run-${run.id}`).map((record) => record.type);
    assert.deepEqual(runEvents.slice(0, 3), ['RunRequested', 'RunClaimed', 'RunStarted']);
    assert.equal(runEvents[runEvents.length - 1], 'RunFinished');

    const beforeRestart = await snapshot(server, run.id, jobId);
    await server.stop();
    const restarted = await start({ dataDir: server.dataDir });
    assert.deepEqual(await snapshot(restarted, run.id, jobId), beforeRestart, 'a restart keeps jobs, runs, output and the log byte for byte');
  });

  it('reports EventStoreDB unreachable while it is down, and carries on with no lost or repeated updates once it is back', async () => {
    const server = await start();
    const jobId = await createJob(server, 'echo', 'bash', 'echo "run $ENDERCOMPUTE_RUN_NUMBER"');
    const first = await waitForRun(server, (await requestRun(server, jobId)).id);
    assert.equal(first.status, 'succeeded');

    await double.stop();
    const down = await fetch(`${server.url}/api/health`);
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: 'unavailable', store: 'eventstoredb', sandbox: 'bwrap', version: '0.1.0', message: 'The event store does not answer' });

    await double.start();
    await eventually(async () => ((await fetch(`${server.url}/api/health`)).status === 200 ? true : undefined), 10_000, 'health to recover');
    const second = await waitForRun(server, (await requestRun(server, jobId)).id);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.number, 2);
    assert.equal((await outputOf(server, second.id)).toString(), 'run 2\n');
    // The projections resumed from their checkpoint: each run once, in order.
    const runs = await getJson<{ items: Run[] }>(server, `/api/runs?jobId=${jobId}`);
    assert.deepEqual(runs.items.map((run) => [run.number, run.status]), [[2, 'succeeded'], [1, 'succeeded']]);
  });
});
