/**
 * The runner id moves with the data dir: a server started without ENDERCOMPUTE_RUNNER_ID
 * keeps a generated id in <data>/runner-id (0600, written whole), so after kill -9 and a
 * rename of the data dir it still recognises the run it was executing, ends it `lost`,
 * kills what was left of it, and the job's queue (maxConcurrent 1) moves on.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { processesOfRun } from '../support/run-processes';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

describe('The runner id after a move of the data dir', () => {
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const server of servers) await server.kill();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('recovers the run the server was executing when it was killed, whatever the new path', async () => {
    const first = await startServer();
    servers.push(first);
    dirs.push(first.dataDir);
    const runnerIdFile = `${first.dataDir}/runner-id`;
    const runnerId = readFileSync(runnerIdFile, 'utf8');
    assert.match(runnerId, /^\S+#[0-9a-f]{6}\n$/);
    assert.equal(statSync(runnerIdFile).mode & 0o777, 0o600);

    await postJson(first, '/api/scripts', { name: 'long', interpreter: 'bash', body: 'echo started; sleep 300 & wait' }, 201);
    const job = await postJson<{ id: string }>(first, '/api/jobs', { name: 'long', scriptId: 'long', maxConcurrent: 1 }, 201);
    const running = await requestRun(first, job.id);
    await eventually(async () => ((await getJson<Run>(first, `/api/runs/${running.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'output');
    const queued = await requestRun(first, job.id, { args: [] });
    assert.equal((await getJson<Run>(first, `/api/runs/${queued.id}`)).status, 'queued');
    assert.ok((await processesOfRun(running.id)).length > 0);

    await first.kill();
    const moved = `${first.dataDir}-moved`;
    renameSync(first.dataDir, moved);
    dirs.push(moved);

    const second = await startServer({ dataDir: moved });
    servers.push(second);
    assert.equal(readFileSync(`${moved}/runner-id`, 'utf8'), runnerId, 'the id is kept, not regenerated');
    const lost = await getJson<Run>(second, `/api/runs/${running.id}`);
    assert.equal(lost.status, 'lost');
    // A sandboxed run ends with the server that started it; unsandboxed, its leftovers are killed now.
    assert.match(String(lost.reason), /^The server stopped while the run was running; (\d+ leftover process\(es\) were killed|its process was gone)$/);
    assert.deepEqual(await processesOfRun(running.id), []);
    // The queue moves on: the second run of the job (maxConcurrent 1) starts; cancel it to end the test quickly.
    await eventually(async () => ((await getJson<Run>(second, `/api/runs/${queued.id}`)).status === 'running' ? true : undefined), 15_000, 'the queued run to start');
    assert.equal((await second.request(`/api/runs/${queued.id}/cancel`, { method: 'POST' })).status, 202);
    assert.equal((await waitForRun(second, queued.id)).status, 'cancelled');
  });
});
