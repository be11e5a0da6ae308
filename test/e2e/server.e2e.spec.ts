import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface Run {
  id: string;
  status: string;
  exitCode: number | null;
  requestedBy: string;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outputBytes: number;
  reason: string | null;
  pid?: number;
}

const SCRIPT = `#!/bin/bash
echo "job=$ENDERCOMPUTE_JOB run=$ENDERCOMPUTE_RUN_NUMBER actor=$ENDERCOMPUTE_ACTOR"
echo "args: $*"
echo "colour=$COLOUR"
echo "secret=\${SERVER_SECRET:-none} key=\${ENDERCOMPUTE_KEY:-none}"
printf 'input: '; cat input.txt
echo "to stderr" >&2
# Two pipes: order across them is the order of arrival, so give stderr a moment to arrive first.
sleep 0.2
printf 'bytes:\\x00\\xff<b>\\n'
exit 3
`;

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
    const script = await expectJson<{ id: string }>(
      await server.request('/api/scripts', { method: 'POST', actor: 'alice', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fails', body: SCRIPT }) }),
      201,
    );
    const job = await expectJson<{ id: string }>(
      await server.request('/api/jobs', {
        method: 'POST',
        actor: 'alice',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Release build', scriptId: script.id, args: ['--fast'], env: { COLOUR: 'blue' } }),
      }),
      201,
    );
    const form = new FormData();
    form.append('file', new Blob(['hello from a file\n']), 'input.txt');
    await expectJson(await server.request(`/api/jobs/${job.id}/files`, { method: 'POST', body: form }), 201);

    const requested = await expectJson<Run>(
      await server.request(`/api/jobs/${job.id}/runs`, { method: 'POST', actor: 'bob', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: ['x y'] }) }),
      202,
    );
    const run = await eventually(async () => {
      const current = await expectJson<Run>(await server.request(`/api/runs/${requested.id}`), 200);
      return current.finishedAt ? current : undefined;
    }, 15_000, 'the run to finish');
    assert.equal(run.status, 'failed');
    assert.equal(run.exitCode, 3);
    assert.equal(run.requestedBy, 'bob');
    for (const time of [run.requestedAt, run.startedAt, run.finishedAt]) assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(run.requestedAt <= (run.startedAt ?? '') && (run.startedAt ?? '') <= (run.finishedAt ?? ''));

    const output = Buffer.from(await (await server.request(`/api/runs/${run.id}/output`)).arrayBuffer());
    const expected = Buffer.concat([
      Buffer.from('job=Release build run=1 actor=bob\nargs: --fast x y\ncolour=blue\nsecret=none key=none\ninput: hello from a file\nto stderr\nbytes:'),
      Buffer.from([0x00, 0xff]),
      Buffer.from('<b>\n'),
    ]);
    assert.deepEqual(output, expected);

    const before = await snapshot(server, run.id, job.id);
    await server.stop();
    const restarted = await startServer({ dataDir: server.dataDir });
    servers.push(restarted);
    const afterRestart = await snapshot(restarted, run.id, job.id);
    assert.deepEqual(afterRestart, before, 'a restart keeps jobs, runs, output and the log byte for byte');
  });

  it('ends a run cut short by kill -9 of the server as lost, kills its processes, keeps its output, and still runs queued runs', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(server);
    const json = { 'content-type': 'application/json' };
    await expectJson(
      await server.request('/api/scripts', { method: 'POST', headers: json, body: JSON.stringify({ name: 'slow', body: 'echo started; sleep 300 & wait' }) }),
      201,
    );
    await expectJson(await server.request('/api/scripts', { method: 'POST', headers: json, body: JSON.stringify({ name: 'quick', body: 'echo quick' }) }), 201);
    const slow = await expectJson<{ id: string }>(await server.request('/api/jobs', { method: 'POST', headers: json, body: JSON.stringify({ name: 'Slow', scriptId: 'slow' }) }), 201);
    const quick = await expectJson<{ id: string }>(await server.request('/api/jobs', { method: 'POST', headers: json, body: JSON.stringify({ name: 'Quick', scriptId: 'quick' }) }), 201);
    const slowRun = await expectJson<Run>(await server.request(`/api/jobs/${slow.id}/runs`, { method: 'POST', headers: json, body: '{}' }), 202);
    await eventually(async () => {
      const current = await expectJson<Run>(await server.request(`/api/runs/${slowRun.id}`), 200);
      return current.outputBytes > 0 ? current : undefined;
    }, 10_000, 'the slow run to print');
    const queuedRun = await expectJson<Run>(await server.request(`/api/jobs/${quick.id}/runs`, { method: 'POST', headers: json, body: '{}' }), 202);
    assert.equal(queuedRun.status, 'queued');
    const leftovers = await processesOfRun(slowRun.id);
    assert.ok(leftovers.length >= 2, 'the script and its sleep are running');

    await server.kill();
    const restarted = await startServer({ dataDir: server.dataDir, env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(restarted);
    const lost = await expectJson<Run>(await restarted.request(`/api/runs/${slowRun.id}`), 200);
    assert.equal(lost.status, 'lost');
    assert.match(String(lost.reason), /server stopped/);
    assert.deepEqual(await processesOfRun(slowRun.id), [], 'no process of the lost run survives');
    assert.equal(await (await restarted.request(`/api/runs/${slowRun.id}/output`)).text(), 'started\n');
    const ran = await eventually(async () => {
      const current = await expectJson<Run>(await restarted.request(`/api/runs/${queuedRun.id}`), 200);
      return current.finishedAt ? current : undefined;
    }, 10_000, 'the queued run to run after the restart');
    assert.equal(ran.status, 'succeeded');
  });
});

async function snapshot(server: ServerProcess, runId: string, jobId: string): Promise<unknown> {
  const get = async (path: string) => expectJson<unknown>(await server.request(path), 200);
  return {
    jobs: await get('/api/jobs'),
    scripts: await get('/api/scripts'),
    run: await get(`/api/runs/${runId}`),
    runs: await get('/api/runs'),
    output: Buffer.from(await (await server.request(`/api/runs/${runId}/output`)).arrayBuffer()).toString('base64'),
    file: Buffer.from(await (await server.request(`/api/jobs/${jobId}/files/input.txt`)).arrayBuffer()).toString('base64'),
    events: await get('/api/events?limit=1000&includeBytes=true'),
  };
}

/** Pids of processes whose environment carries the run's id. */
async function processesOfRun(runId: string): Promise<number[]> {
  const { findProcessesByEnvironment } = await import('../../src/runs/runner/process-group.js');
  return findProcessesByEnvironment('ENDERCOMPUTE_RUN_ID', runId);
}
