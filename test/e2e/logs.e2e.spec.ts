import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createJob, getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { runServerUntilExit } from '../support/server-exit';
import { eventually, parseLogLines, SERVER_ENTRY, serverEnvironment, type ServerProcess, startServer, TEST_KEY } from '../support/server-process';

const NAMED_KEY = 'alice-key-0123456789abcdef';
const METRICS_TOKEN = 'metrics-token-fedcba9876543210';
const WRONG_KEY = 'not-the-key-0123456789abcdef';

type Line = Record<string, unknown>;

/** The log lines of `server` whose `event` field is `event` (and whose other fields include `fields`). */
function linesOf(server: ServerProcess, event: string, fields: Line = {}): Line[] {
  return server.logLines().filter((line) => line.event === event && Object.entries(fields).every(([k, v]) => line[k] === v));
}

describe('The logs of the built server', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
  });

  it('writes JSON lines: start-up, one per request, each run state change, shutdown; the generated key once, and no other key or token ever', async () => {
    const server = await startServer({ generatedKey: true, env: { ENDERCOMPUTE_KEYS: `alice=${NAMED_KEY}`, ENDERCOMPUTE_METRICS_TOKEN: METRICS_TOKEN } });
    servers.push(server);
    const key = server.key;
    assert.ok(key.length >= 16, 'the harness read the generated key from the start-up line');

    // A session: the shared key, a named key, the key and the token in query strings, refused keys.
    const job = await createJob(server, 'Hello', 'bash', 'echo "hello $1"');
    const named = (path: string, init: RequestInit = {}): Promise<Response> =>
      fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${NAMED_KEY}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
    const requested = await (await named(`/api/jobs/${job}/runs`, { method: 'POST', body: JSON.stringify({ args: ['world'] }), headers: { 'x-request-id': 'req-from-alice-1' } })).json() as Run;
    const run = await waitForRun(server, requested.id);
    assert.equal(run.status, 'succeeded');
    const failing = await createJob(server, 'Failing', 'bash', 'exit 3');
    const failed = await waitForRun(server, (await requestRun(server, failing)).id);
    for (const path of [`/api/runs?key=${key}`, `/api/runs?token=${METRICS_TOKEN}&status=finished`, `/runs?key=${NAMED_KEY}`, `/metrics?token=${METRICS_TOKEN}`]) {
      await fetch(`${server.url}${path}`);
      await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${WRONG_KEY}`, accept: 'text/html' } });
    }
    assert.equal((await fetch(`${server.url}/api/jobs`, { headers: { authorization: `Bearer ${WRONG_KEY}` } })).status, 401);
    assert.equal((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 200);
    assert.equal((await server.request('/api/health?details=1')).status, 200);
    await server.stop();

    const printed = server.output();
    const lines = printed.split('\n').filter((line) => line.trim() !== '');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `every line is JSON: ${line}`);
    assert.equal(printed.split(key).length - 1, 1, 'the generated key is printed once, at start');
    assert.equal(server.logLines().find((line) => String(line.msg).includes(key))?.msg, `Key (renewed every Monday 00:00): ${key}`);
    for (const secret of [NAMED_KEY, METRICS_TOKEN, WRONG_KEY]) assert.ok(!printed.includes(secret), `${secret.slice(0, 8)}… never appears`);

    const started = linesOf(server, 'server started')[0];
    assert.match(String(started.url), /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.deepEqual(started.recovered, { lost: 0, queued: 0 });

    // One line per request: method, path without its query, status, time, actor, request id.
    const http = server.logLines().filter((line) => line.context === 'HTTP');
    for (const line of http) {
      assert.deepEqual(Object.keys(line).sort(), ['actor', 'context', 'level', 'method', 'ms', 'msg', 'path', 'pid', 'requestId', 'status', 'time'].sort(), JSON.stringify(line));
      assert.equal(line.level, 'info');
      assert.ok(!String(line.path).includes('?'), 'no query string');
      assert.equal(typeof line.ms, 'number');
    }
    const alices = http.find((line) => line.requestId === 'req-from-alice-1');
    assert.deepEqual({ ...alices, time: 0, pid: 0, ms: 0 }, {
      level: 'info', time: 0, pid: 0, context: 'HTTP', requestId: 'req-from-alice-1', method: 'POST', path: `/api/jobs/${job}/runs`, status: 202, ms: 0, actor: 'alice',
      msg: `POST /api/jobs/${job}/runs 202`,
    });
    assert.equal(http.filter((line) => line.path === '/api/runs' && line.status === 401).length, 4, 'refused requests are logged too');
    assert.ok(http.some((line) => line.path === '/metrics' && line.status === 200));
    // The request id is the correlation id of the events the request caused.
    const restarted = await startServer({ dataDir: server.dataDir, generatedKey: true });
    servers.push(restarted);
    const events = await getJson<{ items: Array<{ type: string; metadata: { correlationId: string; actor: string } }> }>(restarted, `/api/events?stream=run-${run.id}`);
    assert.deepEqual(events.items.find((e) => e.type === 'RunRequested')?.metadata, { ...events.items[0].metadata, correlationId: 'req-from-alice-1', actor: 'alice' });

    // Run lifecycle lines carry the run id and job.
    assert.deepEqual(linesOf(server, 'run requested', { runId: run.id }).map((l) => [l.job, l.actor]), [['Hello', 'alice']]);
    assert.deepEqual(linesOf(server, 'run started', { runId: run.id }).map((l) => l.job), ['Hello']);
    const finished = linesOf(server, 'run finished', { runId: run.id });
    assert.equal(finished.length, 1);
    assert.deepEqual({ ...finished[0], time: 0, pid: 0 }, {
      level: 'info', time: 0, pid: 0, context: 'Runs', event: 'run finished', runId: run.id, job: 'Hello', status: 'succeeded',
      durationSeconds: (Date.parse(run.finishedAt!) - Date.parse(run.startedAt!)) / 1000, exitCode: 0, signal: null, outputBytes: 'hello world\n'.length, reason: null,
      msg: finished[0].msg,
    });
    assert.deepEqual(linesOf(server, 'run finished', { runId: failed.id }).map((l) => [l.status, l.exitCode]), [['failed', 3]]);

    // Shutdown.
    assert.equal(linesOf(server, 'server stopping').length, 1);
    assert.equal(linesOf(server, 'server stopped').length, 1);
    assert.ok(!restarted.output().includes(NAMED_KEY));
  });

  it('logs a run cut short by a crash as lost, and the start-up line says what was recovered', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(server);
    const slow = await createJob(server, 'Slow', 'bash', 'echo up; sleep 300');
    const running = await requestRun(server, slow);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${running.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'the run to start');
    await postJson(server, `/api/runs/${running.id}/pause`, {}, 202);
    const queued = await requestRun(server, slow);
    await server.kill();
    // Read once the killed server's output is read to its end: it reaches this process apart from the answers.
    assert.deepEqual(linesOf(server, 'run paused', { runId: running.id }).map((l) => l.job), ['Slow']);

    const restarted = await startServer({ dataDir: server.dataDir, env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(restarted);
    const lost = linesOf(restarted, 'run finished', { runId: running.id });
    assert.equal(lost.length, 1);
    assert.equal(lost[0].level, 'warn');
    assert.equal(lost[0].status, 'lost');
    assert.equal(lost[0].job, 'Slow', 'the job of a run from before the restart comes from the read model');
    assert.match(String(lost[0].reason), /server stopped while the run was paused/);
    assert.deepEqual(linesOf(restarted, 'server started')[0].recovered, { lost: 1, queued: 1 });
    await eventually(async () => (linesOf(restarted, 'run started', { runId: queued.id }).length === 1 ? true : undefined), 10_000, 'the queued run to start');
  });

  it('logs a graceful stop in order: stopping with the runs still going, each run ended by it, stopped', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS: '1' } });
    servers.push(server);
    const slow = await createJob(server, 'Stopped slow', 'bash', 'echo up; sleep 300');
    const running = await requestRun(server, slow);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${running.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'the run to start');
    await server.stop();
    const lines = server.logLines();
    const at = (event: string): number => lines.findIndex((line) => line.event === event && (event !== 'run finished' || line.runId === running.id));
    assert.deepEqual(linesOf(server, 'server stopping').map((line) => [line.signal, line.runsExecuting]), [['SIGTERM', 1]]);
    assert.deepEqual(linesOf(server, 'run finished', { runId: running.id }).map((line) => line.status), ['cancelled']);
    assert.ok(at('server stopping') < at('run finished') && at('run finished') < at('server stopped'), 'stopping, the run\'s end, stopped');
  });

  it('logs at ENDERCOMPUTE_LOG_LEVEL, and refuses to start with a level it does not know', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_LOG_LEVEL: 'warn' } });
    servers.push(server);
    await getJson(server, '/api/runs');
    assert.equal((await fetch(`${server.url}/api/runs`)).status, 401);
    await server.stop();
    // The start-up lines (where it listens, store, key, sandbox, runner, address) are written at any level; nothing else below warn.
    const info = parseLogLines(server.output()).filter((line) => line.level === 'info');
    assert.deepEqual(info.map((line) => line.context), ['Server', 'Server', 'Server', 'Server', 'Server', 'Server'], JSON.stringify(info));
    assert.match(String(info[0].msg), /^EnderCompute is listening at http:/);
    assert.match(String(info[4].msg), /^Runner: /);
    assert.match(String(info[5].msg), /is running at/);

    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-test-'));
    try {
      const exit = await runServerUntilExit(dataDir, { ENDERCOMPUTE_LOG_LEVEL: 'chatty' });
      assert.equal(exit.code, 1);
      assert.match(exit.stderr, /ENDERCOMPUTE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "chatty"/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('writes a job server’s routine polls at debug, and a refused one at info', async () => {
    const token = 'runner-token-logs-0123456789abcd';
    const server = await startServer({ env: { ENDERCOMPUTE_RUNNER_TOKENS: `poller=${token}` } });
    servers.push(server);
    const report = encodeURIComponent(JSON.stringify({ labels: [], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
    const claim = (bearer: string): Promise<Response> =>
      fetch(`${server.url}/api/runner/claim`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'x-runner-report': report, 'content-type': 'application/json' },
        body: JSON.stringify({ workRoot: '/tmp/poller', wait: 0 }),
      });
    assert.equal((await claim(token)).status, 204);
    assert.equal((await claim('not-a-runner-token-0123456789')).status, 401);
    await server.stop();
    const claims = parseLogLines(server.output()).filter((line) => line.context === 'HTTP' && line.path === '/api/runner/claim');
    assert.deepEqual(claims.map((line) => [line.level, line.status]), [['info', 401]], 'the 204 is a debug line, below the default level');
  });

  it('writes readable lines, not JSON, when stdout is a terminal', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-test-'));
    // `script` gives the server a pseudo-terminal as stdout, as a person's shell would.
    const child = spawn('script', ['-qfec', `${process.execPath} ${SERVER_ENTRY}`, '/dev/null'], { env: serverEnvironment(dataDir, TEST_KEY), stdio: ['pipe', 'pipe', 'pipe'] });
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const url = await eventually(async () => /is running at (http:\/\/[^\s/]+)\//.exec(printed)?.[1], 30_000, 'the server to start');
      assert.equal((await fetch(`${url}/api/health`)).status, 200);
      await eventually(async () => (printed.includes('GET /api/health 200') ? true : undefined), 10_000, 'the request line');
      const plain = printed.replace(/\x1b\[[0-9;]*m/g, '');
      assert.match(plain, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: Server: EnderCompute \S+ is running at http:/m);
      assert.match(plain, /^\[[^\]]+\] INFO: HTTP: GET \/api\/health 200 \{"requestId":/m);
      assert.doesNotMatch(plain, /^\{"level"/m, 'no JSON lines');
      assert.ok(!plain.includes(TEST_KEY));
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
