/**
 * Run isolation against the built server, probed the way a hostile job would: job
 * scripts that look for keys, read and rewrite the event log, read other jobs'
 * secrets, kill what they can see and leave daemons behind. The data directory's
 * path is handed to the probes as an argument, so only the sandbox stands between
 * them and the server's files.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createJob, getJson, outputOf, postJson, requestRun, waitForRun, type Run } from '../support/rest';
import { processesWithArgument, uniqueSleep } from '../support/run-processes';
import { spawn } from 'node:child_process';
import { eventually, exitedAndRead, productionNodeFlags, SERVER_ENTRY, serverEnvironment, startServer, type ServerProcess } from '../support/server-process';

const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdefgh';
const DOTENV_SECRET = 'dotenv-secret-value-4711';
const JOB_SECRET = 'other-jobs-secret-value-0815';

interface RunWithSignal extends Run {
  signal: string | null;
}

async function eventCount(server: ServerProcess): Promise<number> {
  let count = 0;
  let after: string | null = null;
  for (;;) {
    const page: { items: unknown[]; next: string | null } = await getJson(server, `/api/events?limit=1000${after !== null ? `&after=${after}` : ''}`);
    count += page.items.length;
    if (page.next === null || page.items.length === 0) return count;
    after = page.next;
  }
}

describe('Run isolation on the built server', { timeout: 180_000 }, () => {
  let server: ServerProcess;
  let cwd: string;

  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'endercompute-isolation-cwd-'));
    writeFileSync(join(cwd, '.env'), `SOME_SERVER_SECRET=${DOTENV_SECRET}\n`);
    server = await startServer({
      generatedKey: true,
      cwd,
      env: { ENDERCOMPUTE_KEYS: `alice=${ALICE_KEY},bob=${BOB_KEY}`, ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1' },
    });
  });
  after(async () => {
    await server.kill();
    server.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('reports the sandbox in health and at start', async () => {
    const health = await getJson<{ sandbox: string }>(server, '/api/health');
    assert.equal(health.sandbox, 'bwrap');
    assert.match(server.output(), /Runs are isolated: each in its own bubblewrap sandbox/);
  });

  it('keeps the server\'s files private: data dir 0700, event log and key file 0600', () => {
    assert.equal(statSync(server.dataDir).mode & 0o777, 0o700);
    for (const file of ['events.db', 'key.json']) assert.equal(statSync(join(server.dataDir, file)).mode & 0o777, 0o600, file);
  });

  it('a job reads no key, no other job\'s secret and no byte of the log, and can change nothing', async () => {
    // Another job whose environment holds a secret, run once so its value is in the log.
    await postJson(server, '/api/scripts', { name: 'holder', body: 'echo "holding"' }, 201);
    const holder = await postJson<{ id: string }>(server, '/api/jobs', { name: 'holder', scriptId: 'holder', env: { TOKEN: JOB_SECRET } }, 201);
    await waitForRun(server, (await requestRun(server, holder.id)).id);

    const probe = [
      'data="$1"; cwd="$2"',
      'echo "--- key file"; cat "$data/key.json" 2>&1',
      'echo "--- .env"; cat "$cwd/.env" 2>&1',
      'echo "--- environments"; for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$f"; done 2>&1 | grep -i -e KEY -e TOKEN -e SECRET',
      'echo "--- log bytes"; head -c 64 "$data/events.db" 2>&1 | od -c | head -2',
      'echo "--- search"; grep -r -a -l -e "$3" "$data" "$cwd" /tmp "$HOME" 2>/dev/null | head -5',
      'echo "--- forge"',
      `python3 - "$data/events.db" <<'PY' 2>&1
import sqlite3, sys
try:
    db = sqlite3.connect(sys.argv[1])
    db.execute("UPDATE events SET data = data WHERE 0")
    db.execute("INSERT INTO events (stream, revision, type, data, metadata) VALUES ('script-forged', 0, 'ScriptCreated', '{}', '{\\"actor\\":\\"alice\\"}')")
    db.commit()
    print("FORGED")
except Exception as error:
    print("refused:", type(error).__name__)
PY`,
      'echo "--- kill everything"; kill -9 -1 2>/dev/null; echo "still here"',
    ].join('\n');
    const jobId = await createJob(server, 'probe', 'bash', probe);
    const before = await eventCount(server);
    const requested = await postJson<Run>(server, `/api/jobs/${jobId}/runs`, { args: [server.dataDir, cwd, JOB_SECRET] }, 202, 'mallory');
    const run = await waitForRun(server, requested.id);
    assert.equal(run.status, 'succeeded');
    const output = (await outputOf(server, run.id)).toString('utf8');

    for (const secret of [server.key, ALICE_KEY, BOB_KEY, DOTENV_SECRET, JOB_SECRET]) {
      // The secret may appear in the probe's own command line (the search argument), never in what it read.
      const readBack = output.split('\n').filter((line) => line.includes(secret) && !line.startsWith('---'));
      assert.deepEqual(readBack, [], `the job read ${secret === JOB_SECRET ? 'the other job\'s secret' : 'a key'}:\n${output}`);
    }
    assert.match(output, /--- key file\ncat: .*key\.json: No such file or directory/);
    assert.match(output, /--- \.env\n(cat: .*\.env: .*\n)?--- environments/);
    assert.match(output, /--- search\n--- forge/);
    assert.doesNotMatch(output, /FORGED/);
    assert.match(output, /refused: OperationalError/);
    assert.match(output, /still here/);

    // The server lives, and the log holds the probe's own run events and nothing else.
    assert.equal((await getJson<{ status: string }>(server, '/api/health')).status, 'ok');
    const events: { items: Array<{ stream: string }> } = await getJson(server, `/api/events?limit=1000`);
    assert.ok(events.items.every((event) => event.stream !== 'script-forged'));
    // Added: the probe run's own events (facts and output), and its admission on its job's stream.
    const added = (await eventCount(server)) - before;
    const facts: { items: unknown[] } = await getJson(server, `/api/events?stream=run-${run.id}&limit=1000`);
    const batches: { items: unknown[] } = await getJson(server, `/api/events?stream=output-${run.id}&limit=1000`);
    assert.ok(batches.items.length > 0, 'the probe wrote output');
    assert.equal(added, facts.items.length + batches.items.length + 1);
  });

  it('nothing a run starts outlives it; each run ends with the script\'s own exit code within a second of its end', async () => {
    const shapes: Array<[string, (token: string) => string]> = [
      ['setsid env -i daemon', (t) => `setsid env -i /bin/sleep ${t} </dev/null >/dev/null 2>&1 &`],
      ['writer that keeps the pipe', (t) => `env -i setsid sh -c 'while :; do echo x; sleep 0.3; done; : ${t}' &`],
      ['double fork', (t) => `( ( exec -a sleeper sleep ${t} & ) & )`],
      ['ignores SIGTERM', (t) => `nohup sh -c "trap '' TERM HUP; sleep ${t}" >/dev/null 2>&1 &`],
    ];
    for (const [what, line] of shapes) {
      const token = uniqueSleep();
      const jobId = await createJob(server, `daemon ${what}`, 'bash', `${line(token)}\nsleep 0.5\necho "ended at $(date +%s%3N)"\nexit 5`);
      const run = await waitForRun(server, (await requestRun(server, jobId)).id);
      assert.equal(run.status, 'failed', what);
      assert.equal(run.exitCode, 5, what);
      const endedAt = Number(/ended at (\d+)/.exec((await outputOf(server, run.id)).toString())?.[1]);
      const lag = Date.parse(run.finishedAt!) - endedAt;
      assert.ok(lag < 1_000, `${what}: finished ${lag} ms after the script's end`);
      assert.deepEqual(processesWithArgument(token), [], `${what}: a process outlived its run`);
    }
  });

  it('cancel ends a script that ignores SIGTERM and forks, within the grace period', async () => {
    const token = uniqueSleep();
    const jobId = await createJob(server, 'stubborn', 'bash', `trap '' TERM\nsetsid sh -c "trap '' TERM; sleep ${token}" &\necho ready\nwhile :; do sleep 0.1; done`);
    const requested = await requestRun(server, jobId);
    await eventually(async () => ((await outputOf(server, requested.id)).toString().includes('ready') ? true : undefined), 10_000, 'the script to start');
    const cancelledAt = Date.now();
    await expectStatus(server.request(`/api/runs/${requested.id}/cancel`, { method: 'POST', actor: 'alice' }), 202);
    const run = await waitForRun(server, requested.id);
    assert.equal(run.status, 'cancelled');
    assert.ok(Date.now() - cancelledAt < 1_000 + 1_500, `ended ${Date.now() - cancelledAt} ms after the cancel (grace 1 s)`);
    assert.deepEqual(processesWithArgument(token), []);
  });

  it('a SIGTERM trap\'s output during cancel is kept, and the run reports the signal it died of', async () => {
    const jobId = await createJob(server, 'trapper', 'bash', `trap 'echo cleaning up; sleep 0.2; echo cleaned; trap - TERM; kill -TERM $$' TERM\necho ready\nwhile :; do sleep 0.05; done`);
    const requested = await requestRun(server, jobId);
    await eventually(async () => ((await outputOf(server, requested.id)).toString().includes('ready') ? true : undefined), 10_000, 'the script to start');
    await expectStatus(server.request(`/api/runs/${requested.id}/cancel`, { method: 'POST', actor: 'alice' }), 202);
    const run = (await waitForRun(server, requested.id)) as RunWithSignal;
    assert.equal(run.status, 'cancelled');
    assert.equal(run.signal, 'SIGTERM');
    assert.equal(run.exitCode, null);
    // (bash reports its foreground `sleep`, which got SIGTERM too, as "Terminated".)
    assert.match((await outputOf(server, run.id)).toString(), /^ready\n(Terminated\n)?cleaning up\ncleaned\n$/);
  });
});

describe('Choosing the sandbox', { timeout: 60_000 }, () => {
  it('ENDERCOMPUTE_SANDBOX=none runs jobs unisolated and says so at start, in health and on the dashboard', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_SANDBOX: 'none' } });
    try {
      assert.match(server.output(), /WARNING: runs are NOT isolated: ENDERCOMPUTE_SANDBOX=none/);
      assert.equal((await getJson<{ sandbox: string }>(server, '/api/health')).sandbox, 'none');
      const page = await (await server.request('/')).text();
      assert.match(page, /Jobs are not isolated on this server/);
      const jobId = await createJob(server, 'plain', 'bash', 'echo "data dir visible: $(test -e "$1/events.db" && echo yes)"');
      const run = await waitForRun(server, (await requestRun(server, jobId, { args: [server.dataDir] })).id);
      assert.equal((await outputOf(server, run.id)).toString(), 'data dir visible: yes\n');
    } finally {
      await server.kill();
      server.cleanup();
    }
  });

  /** Starts a server that must refuse to start: its exit code and what it wrote where. */
  async function refusedStart(env: Record<string, string> | ((dataDir: string) => Record<string, string>)): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-refused-'));
    const child = spawn(process.execPath, [...productionNodeFlags(), SERVER_ENTRY], {
      env: serverEnvironment(dataDir, 'test-key-0123456789abcdef', typeof env === 'function' ? env(dataDir) : env),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await exitedAndRead(child);
    rmSync(dataDir, { recursive: true, force: true });
    return { code, stdout, stderr };
  }

  /** A start refused with one plain message on stderr, and no stack trace anywhere. */
  function assertPlainRefusal(refused: { code: number | null; stdout: string; stderr: string }, message: RegExp): void {
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, message);
    assert.equal(refused.stderr.split('\n').filter((line) => line !== '').length, 1, refused.stderr);
    assert.doesNotMatch(refused.stdout + refused.stderr, /"stack"|\n\s+at /, 'no stack trace');
  }

  it('ENDERCOMPUTE_SANDBOX=bwrap with a missing bubblewrap refuses to start, saying how to install it', async () => {
    assertPlainRefusal(
      await refusedStart({ ENDERCOMPUTE_SANDBOX: 'bwrap', ENDERCOMPUTE_BWRAP: '/nonexistent/bwrap' }),
      /^EnderCompute could not start: ENDERCOMPUTE_SANDBOX=bwrap, but the sandbox does not work here: no bubblewrap: interpreter \/nonexistent\/bwrap does not exist\. To fix it, install bubblewrap \(Debian\/Ubuntu: apt-get install bubblewrap;/,
    );
  });

  it('a sandbox bind that does not exist, or that breaks the sandbox, refuses to start even under auto: never jobs unisolated', async () => {
    assertPlainRefusal(
      await refusedStart({ ENDERCOMPUTE_SANDBOX_BIND: '/nonexistent-endercompute:rw' }),
      /^EnderCompute could not start: ENDERCOMPUTE_SANDBOX_BIND names paths that do not exist: \/nonexistent-endercompute$/m,
    );
    // A bind of a path the sandbox hides (the data dir with the log and the keys) would show it.
    assertPlainRefusal(
      await refusedStart((dataDir) => ({ ENDERCOMPUTE_SANDBOX_BIND: `${dataDir}:ro` })),
      /^EnderCompute could not start: ENDERCOMPUTE_SANDBOX_BIND names paths the sandbox hides from jobs \(the data directory, HOME, secrets\): \/\S+endercompute-refused-\S+$/m,
    );
    for (const bind of ['/dev:ro', '/:rw']) {
      assertPlainRefusal(
        await refusedStart({ ENDERCOMPUTE_SANDBOX_BIND: bind }),
        /^EnderCompute could not start: ENDERCOMPUTE_SANDBOX_BIND breaks the sandbox \(it works without it\): .+\. Bind only the paths jobs need/,
      );
    }
  });

  it('a data directory left open to others is tightened at start, and the server says so', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-open-'));
    const first = await startServer({ dataDir });
    await first.stop();
    // As an older version or a careless copy would leave them.
    chmodSync(join(dataDir, 'events.db'), 0o644);
    chmodSync(dataDir, 0o755);
    mkdirSync(join(dataDir, 'work'), { recursive: true });
    chmodSync(join(dataDir, 'work'), 0o755);
    const second = await startServer({ dataDir });
    try {
      assert.match(second.output(), new RegExp(`${join(dataDir, 'events.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was open to other users \\(mode 0644\\); it is now 0600`));
      assert.match(second.output(), /work was open to other users \(mode 0755\); it is now 0700/);
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dataDir, 'work')).mode & 0o777, 0o700);
      assert.equal(statSync(join(dataDir, 'events.db')).mode & 0o777, 0o600);
    } finally {
      await second.kill();
      second.cleanup();
    }
  });
});

async function expectStatus(response: Promise<Response>, status: number): Promise<void> {
  const answer = await response;
  assert.equal(answer.status, status, await answer.text());
}
