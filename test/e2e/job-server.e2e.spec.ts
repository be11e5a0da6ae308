/**
 * Job servers end to end: the built server and real `endercompute runner` processes on
 * this machine. A run placed by label executes on the job server with its args, env,
 * input files and exit code; the server is killed with SIGKILL while a job server's
 * run prints and restarted on the same data dir and port, and the run still succeeds
 * with every line once, in order; a job server killed with SIGKILL has its run end
 * `lost` after the (short) configured time; pause, resume and cancel reach a remote
 * run; a revoked runner can claim nothing, and a refused token is printed with the server's reason.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { getJson, JSON_HEADERS, outputOf, postJson, requestRun, type Run as BaseRun, waitForRun } from '../support/rest';
import { processState, processesWithArgument, uniqueSleep } from '../support/run-processes';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface Run extends BaseRun {
  runner: string | null;
  signal: string | null;
}

const TOKEN_A = 'runner-token-a-0123456789abcdef';
const TOKEN_B = 'runner-token-b-0123456789abcdef';
/** Short, so that the lost test takes seconds; long enough to ride out a server restart (≈3 s down, a few to start). */
const LOST_SECONDS = 10;

describe('Job servers (endercompute runner)', () => {
  let server: ServerProcess;
  let dataDir: string;
  let port: string;
  const runners: JobServerProcess[] = [];
  let firstWorkDirParent = '';
  const env = {
    ENDERCOMPUTE_RUNNER_TOKENS: `js-a=${TOKEN_A},js-b=${TOKEN_B}`,
    ENDERCOMPUTE_RUNNER_LOST_SECONDS: String(LOST_SECONDS),
    ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1',
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'endercompute-jobserver-data-'));
    server = await startServer({ dataDir, env });
    port = new URL(server.url).port;
    // A work dir that does not exist yet, as on a job server's first start: it is made, and hidden from runs all the same.
    // Outside /tmp, which a run sees as its own temporary directory anyway.
    firstWorkDirParent = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'endercompute-jobserver-'));
    const workDir = join(firstWorkDirParent, 'new-work-dir');
    runners.push(await startJobServer({ url: server.url, token: TOKEN_A, labels: ['remote-a'], name: 'js-a', workDir }));
  });
  after(async () => {
    for (const runner of runners) {
      await runner.kill();
      runner.cleanup();
    }
    await server.kill();
    server.cleanup();
    rmSync(firstWorkDirParent, { recursive: true, force: true });
  });

  const finishedRun = (id: string, timeoutMs: number): Promise<Run> => waitForRun(server, id, timeoutMs) as Promise<Run>;
  const getRun = (id: string): Promise<Run> => getJson<Run>(server, `/api/runs/${id}`);
  const until = (id: string, check: (run: Run) => boolean, what: string, timeoutMs = 20_000): Promise<Run> =>
    eventually(async () => {
      const run = await getRun(id);
      return check(run) ? run : undefined;
    }, timeoutMs, what);
  const job = async (name: string, body: string, runsOn: string[], extra: object = {}): Promise<string> => {
    await postJson(server, '/api/scripts', { name, interpreter: 'bash', body }, 201);
    return (await postJson<{ id: string }>(server, '/api/jobs', { name, scriptId: name, runsOn, ...extra }, 201)).id;
  };

  it('hides its work dir from runs (other runs\' directories, the spool, cached input files), even one it made at its start', async () => {
    const jobId = await job('remote-peek', 'for d in spool files; do test -e "$1/$d" && echo "sees $d"; done; echo "own dir: $(test -w . && echo writable)"', ['remote-a'], {
      args: [runners[0]!.workDir],
    });
    const run = await finishedRun((await postJson<{ id: string }>(server, `/api/jobs/${jobId}/runs`, {}, 202)).id, 30_000);
    assert.equal(run.status, 'succeeded');
    assert.equal((await outputOf(server, run.id)).toString(), 'own dir: writable\n');
  });

  it('executes a run placed by label on the job server, with its args, env, input file and exit code', async () => {
    const jobId = await job('remote-basics', 'echo "args: $*"; echo "greeting: $GREETING"; cat data.txt; echo "runner: $ENDERCOMPUTE_RUN_ID"; exit 3', ['remote-a'], {
      args: ['one', 'two words'],
      env: { GREETING: 'hello from the job' },
    });
    const form = new FormData();
    form.set('args', JSON.stringify(['three']));
    form.set('env', JSON.stringify({ GREETING: 'hello from the run' }));
    form.set('file', new Blob(['the input file\nline two\n']), 'data.txt');
    const requested = await expectJson<Run>(await server.request(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form }), 202);
    const run = await finishedRun(requested.id, 30_000);
    assert.equal(run.status, 'failed');
    assert.equal(run.exitCode, 3);
    assert.equal(run.runner, 'js-a');
    const output = (await outputOf(server, run.id)).toString();
    assert.equal(output, `args: one two words three\ngreeting: hello from the run\nthe input file\nline two\nrunner: ${run.id}\n`);
    assert.ok(run.startedAt !== null && run.finishedAt !== null && run.startedAt <= run.finishedAt);
  });

  it('holds a remote run to its time limit, and to a stop of its job server (cancelled, saying why)', async () => {
    const limited = await job('remote-timeout', 'echo waiting; sleep 30', ['remote-a'], { timeoutSeconds: 1 });
    const timedOut = await finishedRun((await requestRun(server, limited)).id, 30_000);
    assert.equal(timedOut.status, 'timed_out');
    assert.match(timedOut.reason ?? '', /Timed out after 1 s/);
    assert.equal((await outputOf(server, timedOut.id)).toString(), 'waiting\n');

    const c = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-stop'] });
    runners.push(c);
    const long = await job('remote-stopped', 'echo going; sleep 30', ['remote-stop']);
    const run = await requestRun(server, long);
    await eventually(async () => ((await outputOf(server, run.id)).toString() === 'going\n' ? true : undefined), 20_000, 'the run to print');
    await c.stop();
    assert.equal(await c.exited, 0);
    const stopped = await getRun(run.id);
    assert.equal(stopped.status, 'cancelled');
    assert.equal(stopped.reason, 'The job server was stopped before the run finished');
  });

  it("shows a remote run's output live: runs output --follow prints every line and exits with the run's exit code", async () => {
    const jobId = await job('remote-follow', 'for i in $(seq 1 40); do echo "tick $i"; sleep 0.05; done; exit 4', ['remote-a']);
    const run = await requestRun(server, jobId);
    const followed = await runCli(server, ['runs', 'output', run.id, '--follow']);
    assert.equal(followed.code, 4, followed.stderr);
    assert.equal(followed.stdout.toString(), Array.from({ length: 40 }, (_, index) => `tick ${index + 1}\n`).join(''));
  });

  it('survives a SIGKILL of the server while the run prints: every line once, in order', async () => {
    const lines = 150;
    const jobId = await job('remote-printer', `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.05; done`, ['remote-a']);
    const run = await requestRun(server, jobId);
    await eventually(async () => ((await outputOf(server, run.id)).toString().includes('line 20\n') ? true : undefined), 20_000, 'the run to print');
    await server.kill();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    server = await startServer({ dataDir, env: { ...env, PORT: port } });
    const finished = await finishedRun(run.id, 60_000);
    assert.equal(finished.status, 'succeeded', `${finished.status}: ${finished.reason}`);
    assert.equal(finished.runner, 'js-a');
    const expected = Array.from({ length: lines }, (_, index) => `line ${index + 1}\n`).join('');
    assert.equal((await outputOf(server, run.id)).toString(), expected);
    assert.equal(finished.outputBytes, Buffer.byteLength(expected));
  });

  it('pauses, resumes and cancels a remote run within about a second', async () => {
    const mark = uniqueSleep();
    const jobId = await job('remote-control', `echo started; sleep ${mark}`, ['remote-a']);
    const run = await requestRun(server, jobId);
    await until(run.id, (current) => current.status === 'running', 'the run to start');
    const [pid] = await eventually(async () => {
      const found = processesWithArgument(mark);
      return found.length > 0 ? found : undefined;
    }, 10_000, 'the run\'s sleep');
    const post = (path: string): Promise<Response> => server.request(path, { method: 'POST', headers: JSON_HEADERS, body: '{}' });

    let sent = Date.now();
    assert.equal((await post(`/api/runs/${run.id}/pause`)).status, 202);
    await eventually(async () => (processState(pid) === 'T' ? true : undefined), 3_000, 'the process to be stopped');
    const pausedAfter = Date.now() - sent;

    sent = Date.now();
    assert.equal((await post(`/api/runs/${run.id}/resume`)).status, 202);
    await eventually(async () => (processState(pid) !== 'T' ? true : undefined), 3_000, 'the process to continue');
    const resumedAfter = Date.now() - sent;

    sent = Date.now();
    assert.equal((await post(`/api/runs/${run.id}/cancel`)).status, 202);
    const cancelled = await finishedRun(run.id, 10_000);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(processState(pid), null);
    // "Within a second" on a busy two-core machine: the signal is sent as soon as the held control request answers.
    assert.ok(pausedAfter < 1_500 && resumedAfter < 1_500, `pause reached it after ${pausedAfter} ms, resume after ${resumedAfter} ms`);
  });

  it('stores a repeated or overlapping upload once, refuses a gap with the offset it holds, and ends a run only with all its output', async () => {
    // The protocol spoken by hand, as a job server would after lost answers.
    const runnerRequest = (path: string, init: { method: string; json?: unknown; bytes?: string }): Promise<Response> =>
      fetch(`${server.url}/api/runner/${path}`, {
        method: init.method,
        headers: {
          authorization: `Bearer ${TOKEN_B}`,
          'x-runner-report': encodeURIComponent(JSON.stringify({ labels: ['by-hand'], softwareVersion: 'test', maxConcurrent: 1, running: [] })),
          'content-type': init.bytes !== undefined ? 'application/octet-stream' : 'application/json',
        },
        body: init.method === 'GET' ? undefined : (init.bytes ?? JSON.stringify(init.json ?? {})),
      });
    const jobId = await job('remote-by-hand', 'echo never executed here', ['by-hand']);
    const requested = await requestRun(server, jobId);
    const claimed = await expectJson<{ run: { runId: string; scriptBody: string; workdir: string } }>(await runnerRequest('claim', { method: 'POST', json: { workRoot: '/srv/work', wait: 5 } }), 200);
    assert.equal(claimed.run.runId, requested.id);
    assert.equal(claimed.run.scriptBody, 'echo never executed here');
    assert.equal(claimed.run.workdir, `/srv/work/${requested.id}`);
    // The specification again, and no file it does not have.
    assert.equal((await expectJson<{ run: { runId: string } }>(await runnerRequest(`runs/${requested.id}`, { method: 'GET' }), 200)).run.runId, requested.id);
    assert.equal((await runnerRequest(`runs/${requested.id}/files/${'0'.repeat(64)}`, { method: 'GET' })).status, 404);
    // Claimed once: nothing more for this runner.
    assert.equal((await runnerRequest('claim', { method: 'POST', json: { workRoot: '/srv/work', wait: 0 } })).status, 204);
    const id = requested.id;
    // Output before the start is refused, saying so.
    assert.equal((await runnerRequest(`runs/${id}/output?offset=0`, { method: 'PUT', bytes: 'abc' })).status, 409);
    assert.equal((await runnerRequest(`runs/${id}/started`, { method: 'POST', json: { pid: 4242, processStartTicks: null, workdir: `/srv/work/${id}` } })).status, 200);
    assert.equal((await runnerRequest(`runs/${id}/started`, { method: 'POST', json: { pid: 4242, processStartTicks: null, workdir: `/srv/work/${id}` } })).status, 200);
    assert.deepEqual(await expectJson(await runnerRequest(`runs/${id}/output?offset=0`, { method: 'PUT', bytes: 'one\n' }), 200), { offset: 4 });
    // The same bytes again (the answer was lost): acknowledged, not stored twice.
    assert.deepEqual(await expectJson(await runnerRequest(`runs/${id}/output?offset=0`, { method: 'PUT', bytes: 'one\n' }), 200), { offset: 4 });
    // Overlapping: only the new part is stored.
    assert.deepEqual(await expectJson(await runnerRequest(`runs/${id}/output?offset=2`, { method: 'PUT', bytes: 'e\ntwo\n' }), 200), { offset: 8 });
    // A gap: refused with the offset the server holds.
    const gap = await expectJson<{ offset: number; message: string }>(await runnerRequest(`runs/${id}/output?offset=20`, { method: 'PUT', bytes: 'x' }), 409);
    assert.equal(gap.offset, 8);
    assert.equal((await runnerRequest(`runs/${id}/output?offset=-1`, { method: 'PUT', bytes: 'x' })).status, 400);
    const end = { status: 'succeeded', exitCode: 0, signal: null, droppedBytes: 0, reason: null };
    // Not all output there yet: the end waits for it.
    assert.equal((await expectJson<{ offset: number }>(await runnerRequest(`runs/${id}/finished`, { method: 'POST', json: { ...end, outputBytes: 14 } }), 409)).offset, 8);
    assert.equal((await runnerRequest(`runs/${id}/finished`, { method: 'POST', json: { ...end, status: 'splendid', outputBytes: 8 } })).status, 400);
    assert.deepEqual(await expectJson(await runnerRequest(`runs/${id}/finished`, { method: 'POST', json: { ...end, outputBytes: 8 } }), 200), { status: 'succeeded' });
    // Reported again (the answer was lost): acknowledged; output after the end: gone.
    assert.equal((await runnerRequest(`runs/${id}/finished`, { method: 'POST', json: { ...end, outputBytes: 8 } })).status, 200);
    assert.equal((await runnerRequest(`runs/${id}/output?offset=8`, { method: 'PUT', bytes: 'late' })).status, 410);
    const run = await finishedRun(id, 5_000);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.runner, 'js-b');
    assert.equal((await outputOf(server, id)).toString(), 'one\ntwo\n');
    // Another runner's run is not this one's to write.
    assert.equal((await fetch(`${server.url}/api/runner/runs/${id}/output?offset=8`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN_A}`, 'x-runner-report': encodeURIComponent(JSON.stringify({ labels: ['remote-a'], softwareVersion: 'test', maxConcurrent: 4, running: [] })), 'content-type': 'application/octet-stream' }, body: 'x' })).status, 410);
    // A person's key opens no runner endpoint.
    assert.equal((await server.request('/api/runner/claim', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ workRoot: '/srv/work' }) })).status, 401);
  });

  it('ends the run of a job server killed with SIGKILL as lost after ENDERCOMPUTE_RUNNER_LOST_SECONDS', async () => {
    const b = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'] });
    runners.push(b);
    const jobId = await job('remote-lost', 'echo begun; sleep 600', ['remote-b']);
    const run = await requestRun(server, jobId);
    await until(run.id, (current) => current.status === 'running', 'the run to start on js-b');
    await eventually(async () => ((await outputOf(server, run.id)).toString() === 'begun\n' ? true : undefined), 10_000, 'its first line');
    const killedAt = Date.now();
    await b.kill();
    // Not at once: the job server may only be out of reach for a while.
    await new Promise((resolve) => setTimeout(resolve, (LOST_SECONDS * 1000) / 2));
    assert.equal((await getRun(run.id)).status, 'running');
    const lost = await until(run.id, (current) => current.finishedAt !== null, 'the run to end', LOST_SECONDS * 1000 + 20_000);
    assert.equal(lost.status, 'lost');
    assert.match(lost.reason ?? '', /js-b was not heard from for 10 s/);
    assert.ok(Date.now() - killedAt >= LOST_SECONDS * 1000, 'ended lost before the lost time');
    assert.equal((await outputOf(server, run.id)).toString(), 'begun\n');
  });

  it('has a job server killed with SIGKILL end its run lost when it starts again, with the output only its spool held', async () => {
    const b = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'], name: 'js-b' });
    runners.push(b);
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`);
    // Prints its lines once the test says so, then marks that it did and waits.
    const jobId = await job('remote-restarted', 'echo begun; while [ ! -e go ]; do sleep 0.05; done; for i in $(seq 1 50); do echo "line $i"; done; touch printed; sleep 600', ['remote-b']);
    const run = await requestRun(server, jobId);
    await until(run.id, (current) => current.status === 'running', 'the run to start on js-b');
    await eventually(async () => ((await outputOf(server, run.id)).toString() === 'begun\n' ? true : undefined), 10_000, 'its first line');
    const workdir = join(b.workDir, 'work', run.id);
    // The server is out of reach while the lines are printed: they reach the job server's spool only.
    server.child.kill('SIGSTOP');
    try {
      writeFileSync(join(workdir, 'go'), '');
      await eventually(async () => (existsSync(join(workdir, 'printed')) ? true : undefined), 10_000, 'the lines to be printed');
      // The job server writes output to its spool at each flush interval (well under a second).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await b.kill();
    } finally {
      server.child.kill('SIGCONT');
    }
    const again = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'], name: 'js-b', workDir: b.workDir });
    runners.push(again);
    const restartedAt = Date.now();
    const ended = await until(run.id, (current) => current.finishedAt !== null, 'the run to end', 20_000);
    assert.equal(ended.status, 'lost');
    assert.match(ended.reason ?? '', /job server restarted while the run was executing/);
    assert.ok(Date.now() - restartedAt < LOST_SECONDS * 1000, 'ended by the job server, before the lost time');
    assert.equal((await outputOf(server, run.id)).toString(), `begun\n${lines.join('\n')}\n`, 'every line, the spooled ones too, once');
    assert.deepEqual(readdirSync(join(b.workDir, 'spool')), [], 'its spool is gone once reported');
    // It goes on as a job server.
    const next = await requestRun(server, await job('remote-after-restart', 'echo after', ['remote-b']));
    const done = await finishedRun(next.id, 20_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.runner, 'js-b');
    await again.stop();
  });

  it('ends a run lost when its job server comes back without it (another work directory), though it keeps talking', async () => {
    const c = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'], name: 'js-b' });
    runners.push(c);
    const jobId = await job('remote-forgotten', 'echo begun; sleep 600', ['remote-b']);
    const run = await requestRun(server, jobId);
    await until(run.id, (current) => current.status === 'running', 'the run to start on js-b');
    await c.kill();
    // A new process under the same name, without the earlier one's spools (a new container, say): it never heard of the run.
    const fresh = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'], name: 'js-b' });
    runners.push(fresh);
    const ended = await until(run.id, (current) => current.finishedAt !== null, 'the run to end', LOST_SECONDS * 1000 + 20_000);
    assert.equal(ended.status, 'lost');
    assert.match(ended.reason ?? '', /js-b no longer lists it among its runs/);
    await fresh.stop();
  });

  it('has a job server that comes back after its run was declared lost kill that run', async () => {
    const b = await startJobServer({ url: server.url, token: TOKEN_B, labels: ['remote-b'] });
    runners.push(b);
    const mark = uniqueSleep();
    const jobId = await job('remote-comes-back', `echo begun; sleep ${mark}`, ['remote-b']);
    const run = await requestRun(server, jobId);
    await until(run.id, (current) => current.status === 'running', 'the run to start on js-b');
    const [pid] = await eventually(async () => {
      const found = processesWithArgument(mark);
      return found.length > 0 ? found : undefined;
    }, 10_000, "the run's sleep");
    // The job server freezes (a suspended VM, a partition): its run goes on, it says nothing.
    b.child.kill('SIGSTOP');
    try {
      const lost = await until(run.id, (current) => current.finishedAt !== null, 'the run to end lost', LOST_SECONDS * 1000 + 20_000);
      assert.equal(lost.status, 'lost');
      assert.notEqual(processState(pid), null, 'the run kept running while its job server was silent');
    } finally {
      b.child.kill('SIGCONT');
    }
    // Back: it learns the run was declared lost, and kills it.
    await eventually(async () => (processState(pid) === null ? true : undefined), 10_000, 'the lost run to be killed');
    const said = new RegExp(`run ${run.id}: .*lost.*killing it`);
    await eventually(async () => (said.test(b.output()) ? true : undefined), 5_000, 'the job server to say why it killed the run');
    await b.stop();
  });

  it('refuses a --name that is not the token\'s, a server\'s data dir as its work dir, a token the server does not know and a person\'s key, printing why', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'endercompute-jobserver-refused-'));
    try {
      const wrongName = await runCli(server, ['runner', '--name', 'someone-else', '--work-dir', workDir], { ENDERCOMPUTE_RUNNER_TOKEN: TOKEN_A });
      assert.equal(wrongName.code, 2);
      assert.match(wrongName.stderr, /--name someone-else, but the token belongs to runner js-a/);
      const dataDirAsWorkDir = await runCli(server, ['runner', '--work-dir', server.dataDir], { ENDERCOMPUTE_RUNNER_TOKEN: TOKEN_A });
      assert.equal(dataDirAsWorkDir.code, 2);
      assert.match(dataDirAsWorkDir.stderr, /is a server's data dir/);
      const unknown = await runCli(server, ['runner', '--work-dir', workDir], { ENDERCOMPUTE_RUNNER_TOKEN: 'not-a-known-runner-token-0123' });
      assert.equal(unknown.code, 1);
      assert.equal(
        unknown.stderr,
        "The server refused the runner token: This server does not know that runner token: check that it was copied whole, and that it was registered (POST /api/runners, on this server or one sharing its store) or is in this server's ENDERCOMPUTE_RUNNER_TOKENS\n",
      );
      // A person's key given as the runner token: the server says so, rather than the job server guessing "revoked".
      const key = await runCli(server, ['runner', '--work-dir', workDir], { ENDERCOMPUTE_RUNNER_TOKEN: server.key });
      assert.equal(key.code, 1);
      assert.equal(
        key.stderr,
        "The server refused the runner token: This endpoint is for job servers: it takes a runner token, not a person's key. Register a job server with POST /api/runners (or on the Runners page) or in ENDERCOMPUTE_RUNNER_TOKENS, and give it that runner's token\n",
      );
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('lets a revoked runner claim nothing', async () => {
    const registered = await postJson<{ name: string; token: string }>(server, '/api/runners', { name: 'js-revoked' }, 201);
    const c = await startJobServer({ url: server.url, token: registered.token, labels: ['remote-c'] });
    runners.push(c);
    const jobId = await job('remote-revoked', 'echo should-not-run', ['remote-c']);
    const first = await finishedRun((await requestRun(server, jobId)).id, 30_000);
    assert.equal(first.runner, 'js-revoked');
    assert.equal((await server.request('/api/runners/js-revoked', { method: 'DELETE', actor: 'bob' })).status < 300, true);
    const queued = await requestRun(server, jobId);
    // The job server learns at its next request that its token was revoked, by whom, and stops.
    assert.equal(await c.exited, 1);
    assert.match(
      c.output(),
      /the server refused the runner token: The token of runner "js-revoked" was revoked by bob at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: it opens nothing any more \(register the job server again for a new token\): stopping/,
    );
    assert.ok(!c.output().includes(registered.token), 'the job server printed no token');
    const claim = await fetch(`${server.url}/api/runner/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${registered.token}`, 'content-type': 'application/json', 'x-runner-report': encodeURIComponent(JSON.stringify({ labels: ['remote-c'], softwareVersion: 'x', maxConcurrent: 1, running: [] })) },
      body: JSON.stringify({ workRoot: '/tmp/x', wait: 0 }),
    });
    assert.equal(claim.status, 401);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await getRun(queued.id)).status, 'queued');
  });
});
