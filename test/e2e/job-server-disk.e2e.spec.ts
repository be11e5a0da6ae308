/**
 * A job server whose own disk fails it: a run it cannot take (its spool cannot be
 * made) ends `failed`, saying why, instead of staying claimed for ever; the job
 * server goes on and takes the next run once the disk is back. Work directories and
 * unfinished downloads an earlier process left are removed at start, read-only
 * folders included.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

const TOKEN = 'runner-token-disk-0123456789abcdef';

describe('A job server and its own disk', () => {
  let server: ServerProcess;
  let runner: JobServerProcess | null = null;
  let jobId: string;

  before(async () => {
    server = await startServer({ env: { ENDERCOMPUTE_RUNNER_TOKENS: `js-disk=${TOKEN}` } });
    await postJson(server, '/api/scripts', { name: 'disk', interpreter: 'bash', body: 'echo on the job server' }, 201);
    jobId = (await postJson<{ id: string }>(server, '/api/jobs', { name: 'disk', scriptId: 'disk', runsOn: ['disk'] }, 201)).id;
  });
  after(async () => {
    await runner?.kill();
    runner?.cleanup();
    await server.stop();
    server.cleanup();
  });

  it('ends a run it cannot take failed, saying why, and takes the next one once it can', async () => {
    runner = await startJobServer({ url: server.url, token: TOKEN, labels: ['disk'], name: 'js-disk' });
    // Where the job server keeps each run's output until uploaded: made unusable (a file where its folder was).
    const spool = join(runner.workDir, 'spool');
    rmSync(spool, { recursive: true, force: true });
    writeFileSync(spool, 'not a folder');
    const untaken = await waitForRun(server, (await requestRun(server, jobId)).id, 30_000);
    assert.equal(untaken.status, 'failed');
    assert.match(untaken.reason ?? '', /The job server could not take the run: .*spool/);
    assert.equal(untaken.startedAt, null);

    rmSync(spool, { force: true });
    mkdirSync(spool, { mode: 0o700 });
    const taken = await waitForRun(server, (await requestRun(server, jobId)).id, 30_000);
    assert.equal(taken.status, 'succeeded');
    assert.equal(runner.child.exitCode, null, 'the job server still runs');
  });

  it('removes what an earlier process left when it starts: work directories, read-only folders included, and unfinished downloads', async () => {
    const workDir = runner!.workDir;
    const gonePid = runner!.child.pid!;
    await runner!.stop();
    runner = null;
    // Downloads of input files: one of the process that is gone, one of a process that lives (this test's).
    const sha = 'a'.repeat(64);
    const unfinished = join(workDir, 'files', `${sha}.${gonePid}.1700000000000.part`);
    const another = join(workDir, 'files', `${sha}.${process.pid}.1700000000000.part`);
    writeFileSync(unfinished, 'half a file');
    writeFileSync(another, 'half a file');
    const left = join(workDir, 'work', 'a-run-that-ended-with-it');
    const cache = join(left, '.endercompute-home', 'go', 'pkg', 'mod');
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(cache, 'go.mod'), 'module example.com');
    for (let dir = cache; dir !== left; dir = join(dir, '..')) chmodSync(dir, 0o555);
    runner = await startJobServer({ url: server.url, token: TOKEN, labels: ['disk'], name: 'js-disk', workDir });
    await eventually(async () => (existsSync(left) || existsSync(unfinished) ? undefined : true), 10_000, 'the leftovers to be removed');
    assert.ok(existsSync(another), "a living process's download is left alone");
    const run: Run = await waitForRun(server, (await requestRun(server, jobId)).id, 30_000);
    assert.equal(run.status, 'succeeded');
  });
});
