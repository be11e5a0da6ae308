/**
 * Job servers with two EnderCompute servers on one EventStoreDB (the in-process double):
 * each job server talks to a different server, both race for the same runs, and every
 * run executes exactly once; a run placed by label goes to the job server that has the
 * label, whichever server it was requested through.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { eventually, type ServerProcess, startServer } from '../support/server-process';
import { postJson, requestRun, type Run as BaseRun, waitForRun } from '../support/rest';

interface Run extends BaseRun {
  runner: string | null;
}

const RUNS = 24;
const TOKENS = { 'js-a': 'multi-token-a-0123456789abcdef', 'js-b': 'multi-token-b-0123456789abcdef' };

describe('Job servers with two servers on one EventStoreDB', () => {
  let double: EsdbDouble;
  let a: ServerProcess;
  let b: ServerProcess;
  const runners: JobServerProcess[] = [];
  const shared = mkdtempSync(join(tmpdir(), 'endercompute-jobserver-shared-'));

  before(async () => {
    double = await startEsdbDouble();
    const start = (runnerId: string): Promise<ServerProcess> =>
      startServer({
        env: {
          EVENTSTORE_CONNECTION_STRING: double.connectionString,
          ENDERCOMPUTE_RUNNER_ID: runnerId,
          // Only the job servers execute: the race is theirs.
          ENDERCOMPUTE_LOCAL_RUNNER: 'false',
          ENDERCOMPUTE_RUNNER_TOKENS: Object.entries(TOKENS).map(([name, token]) => `${name}=${token}`).join(','),
        },
      });
    [a, b] = await Promise.all([start('server-a'), start('server-b')]);
    // The ledger the jobs write: a folder both job servers' sandboxes see.
    const env = { ENDERCOMPUTE_SANDBOX_BIND: `${shared}:rw` };
    runners.push(await startJobServer({ url: a.url, token: TOKENS['js-a'], labels: ['shared'], maxConcurrent: 3, env }));
    runners.push(await startJobServer({ url: b.url, token: TOKENS['js-b'], labels: ['shared', 'only-b'], maxConcurrent: 3, env }));
  });
  after(async () => {
    for (const runner of runners) {
      await runner.kill();
      runner.cleanup();
    }
    for (const server of [a, b]) {
      await server.kill();
      server.cleanup();
    }
    await double.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  it('executes every run exactly once while two job servers on two servers race for them', async () => {
    const ledger = join(shared, 'ledger.txt');
    await postJson(a, '/api/scripts', { name: 'ledger', body: 'echo "$ENDERCOMPUTE_RUN_ID" >> "$LEDGER"; echo "ran $ENDERCOMPUTE_RUN_NUMBER"' }, 201);
    const job = await postJson<{ id: string }>(a, '/api/jobs', { name: 'Ledger', scriptId: 'ledger', env: { LEDGER: ledger }, runsOn: ['shared'] }, 201);
    await eventually(async () => ((await b.request(`/api/jobs/${job.id}`)).status === 200 ? true : undefined), 10_000, 'B to show the job');
    const requested: Run[] = [];
    for (let i = 0; i < RUNS; i++) requested.push((await requestRun(i % 2 === 0 ? a : b, job.id)) as Run);
    const finished = await Promise.all(requested.map((run) => waitForRun(a, run.id, 60_000) as Promise<Run>)).catch((error: unknown) => {
      // What the job servers said is what tells why.
      throw new Error(`${String(error)}\n${runners.map((runner) => runner.output()).join('\n')}`);
    });
    for (const run of finished) {
      assert.equal(run.status, 'succeeded', `${run.id}: ${run.status} ${run.reason}`);
      assert.ok(run.runner === 'js-a' || run.runner === 'js-b', `${run.id} ran on ${run.runner}`);
    }
    const lines = readFileSync(ledger, 'utf8').trim().split('\n').sort();
    assert.deepEqual(lines, requested.map((run) => run.id).sort(), 'each run executed exactly once');
  });

  it('places a run by label on the job server that has it, whichever server took the request', async () => {
    await postJson(a, '/api/scripts', { name: 'where', body: 'echo "on b"' }, 201);
    const job = await postJson<{ id: string }>(a, '/api/jobs', { name: 'Only B', scriptId: 'where', runsOn: ['only-b'] }, 201);
    const run = (await waitForRun(a, (await requestRun(a, job.id)).id, 30_000)) as Run;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.runner, 'js-b');
  });
});
