import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runReleaseScenario, snapshot } from '../support/release-scenario';
import { getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { processesOfRun } from '../support/run-processes';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

describe('The built server as a process', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
  });

  it('runs a real bash script with args, env and an input file, and keeps everything byte for byte across a restart', async () => {
    const server = await startServer({ env: { SERVER_SECRET: 'do-not-leak' } });
    servers.push(server);
    const { run, jobId } = await runReleaseScenario(server);

    const before = await snapshot(server, run.id, jobId);
    await server.stop();
    const restarted = await startServer({ dataDir: server.dataDir });
    servers.push(restarted);
    const afterRestart = await snapshot(restarted, run.id, jobId);
    assert.deepEqual(afterRestart, before, 'a restart keeps jobs, runs, output and the log byte for byte');
  });

  it('ends a run cut short by kill -9 of the server as lost, kills its processes, keeps its output, and still runs queued runs', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(server);
    await postJson(server, '/api/scripts', { name: 'slow', body: 'echo started; sleep 300 & wait' }, 201);
    await postJson(server, '/api/scripts', { name: 'quick', body: 'echo quick' }, 201);
    const slow = await postJson<{ id: string }>(server, '/api/jobs', { name: 'Slow', scriptId: 'slow' }, 201);
    const quick = await postJson<{ id: string }>(server, '/api/jobs', { name: 'Quick', scriptId: 'quick' }, 201);
    const slowRun = await requestRun(server, slow.id);
    await eventually(async () => {
      const current = await getJson<Run>(server, `/api/runs/${slowRun.id}`);
      return current.outputBytes > 0 ? current : undefined;
    }, 10_000, 'the slow run to print');
    const queuedRun = await requestRun(server, quick.id);
    assert.equal(queuedRun.status, 'queued');
    const leftovers = await processesOfRun(slowRun.id);
    assert.ok(leftovers.length >= 2, 'the script and its sleep are running');

    await server.kill();
    const restarted = await startServer({ dataDir: server.dataDir, env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(restarted);
    const lost = await getJson<Run>(restarted, `/api/runs/${slowRun.id}`);
    assert.equal(lost.status, 'lost');
    assert.match(String(lost.reason), /server stopped/);
    assert.deepEqual(await processesOfRun(slowRun.id), [], 'no process of the lost run survives');
    assert.equal(await (await restarted.request(`/api/runs/${slowRun.id}/output`)).text(), 'started\n');
    const ran = await waitForRun(restarted, queuedRun.id, 10_000);
    assert.equal(ran.status, 'succeeded');
  });
});
