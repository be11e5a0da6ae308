/**
 * The process runner inside the bubblewrap sandbox, with real processes: what a job
 * can see of the machine, that nothing it starts outlives it, that signals keep their
 * meaning through the sandbox's init, and that exits are reported exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startProcess } from '../../src/runs/runner/process-runner';
import type { OutputBatch, ProcessExit, RunningProcess, RunSpec } from '../../src/runs/runner/runner.types';
import { bwrapArguments, OUTPUT_SEND_BUFFER_BYTES, parseSandboxBinds, visibleSearchPath, type SandboxSettings } from '../../src/runs/runner/sandbox';
import { processesWithArgument, processState, uniqueSleep } from '../support/run-processes';

let root = '';
let dataDir = '';
let serverHome = '';
let secretFile = '';
let shared = '';
let sandbox: SandboxSettings;
let counter = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'endercompute-sandbox-'));
  dataDir = join(root, 'data');
  serverHome = join(root, 'home');
  secretFile = join(root, 'connection-string');
  shared = join(root, 'shared-cache');
  for (const dir of [dataDir, serverHome, shared]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dataDir, 'key.json'), '{"key":"server-secret"}');
  writeFileSync(join(serverHome, '.secret'), 'home-secret');
  writeFileSync(secretFile, 'esdb://admin:changeit@localhost:2113');
  writeFileSync(join(shared, 'cached.txt'), 'from the cache');
  sandbox = {
    bwrapPath: '/usr/bin/bwrap',
    perlPath: '/usr/bin/perl',
    hidden: [
      { path: dataDir, kind: 'directory' },
      { path: serverHome, kind: 'directory' },
      { path: secretFile, kind: 'file' },
    ],
    binds: [{ path: shared, mode: 'rw' }],
  };
});
after(() => rmSync(root, { recursive: true, force: true }));

function spec(scriptBody: string, overrides: Partial<RunSpec> = {}): RunSpec {
  counter += 1;
  return {
    runId: `run-${randomUUID()}`,
    jobName: 'probe',
    runNumber: counter,
    actor: 'alice',
    interpreter: 'bash',
    scriptBody,
    args: [],
    env: {},
    files: [],
    workdir: join(dataDir, 'work', 'probe', String(counter)),
    ...overrides,
  };
}

interface Started {
  running: RunningProcess;
  output: () => string;
  waitFor: (pattern: RegExp) => Promise<void>;
}

async function start(runSpec: RunSpec): Promise<Started> {
  let text = '';
  let live = '';
  const running = await startProcess(
    runSpec,
    {
      readFile: async () => Buffer.alloc(0),
      onStarted: async () => undefined,
      onOutput: async (batch: OutputBatch) => {
        text += batch.bytes.toString('utf8');
      },
      onLiveChunk: (_stream, chunk) => {
        live += chunk.toString('utf8');
      },
    },
    { sandbox, flushIntervalMs: 5 },
  );
  const waitFor = async (pattern: RegExp): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!pattern.test(live)) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern} in ${JSON.stringify(live)}`);
      await delay(10);
    }
  };
  return { running, output: () => text, waitFor };
}

async function runToEnd(scriptBody: string, overrides: Partial<RunSpec> = {}): Promise<{ exit: ProcessExit; output: string }> {
  const started = await start(spec(scriptBody, overrides));
  const exit = await started.running.done;
  return { exit, output: started.output() };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await delay(20);
  }
}

describe('the run sandbox', { timeout: 120_000 }, () => {
  test('a job sees the system read-only, its work directory read-write at the same path, and nothing of the server', async () => {
    const probe = [
      'set -u',
      'echo "pwd=$(pwd)"',
      'echo "workdir=$ENDERCOMPUTE_WORKDIR"',
      'echo "home=$HOME"',
      'touch "$HOME/h" && echo home-writable',
      'touch /tmp/t && echo tmp-writable',
      'touch made-here && echo workdir-writable',
      `cat ${join(dataDir, 'key.json')} 2>/dev/null || echo no-key-file`,
      `ls -A ${dataDir} | tr '\\n' ' '; echo`,
      `cat ${join(serverHome, '.secret')} 2>/dev/null || echo no-home-secret`,
      `cat ${secretFile} 2>/dev/null | grep -c changeit || echo no-connection-string`,
      `cat ${join(shared, 'cached.txt')}; echo; echo more >> ${join(shared, 'cached.txt')} && echo bind-writable`,
      'touch /usr/evil 2>/dev/null || echo system-read-only',
      "echo processes=$(ls /proc | grep -c '^[0-9]')",
      "echo init-env=$(tr '\\0' '\\n' < /proc/1/environ | cut -d= -f1 | tr '\\n' ' ')",
      'echo parent-env-has-key=$(tr "\\0" "\\n" < /proc/$PPID/environ | grep -c ENDERCOMPUTE_KEY)',
    ].join('\n');
    const runSpec = spec(probe);
    const { exit, output } = await runToEnd(probe, { workdir: runSpec.workdir });
    assert.equal(exit.exitCode, 0, output);
    const lines = output.split('\n');
    assert.ok(lines.includes(`pwd=${runSpec.workdir}`), output);
    assert.ok(lines.includes(`workdir=${runSpec.workdir}`), output);
    assert.ok(lines.includes(`home=${join(runSpec.workdir, '.endercompute-home')}`), output);
    for (const line of ['home-writable', 'tmp-writable', 'workdir-writable', 'no-key-file', 'no-home-secret', 'no-connection-string', 'from the cache', 'bind-writable', 'system-read-only']) {
      assert.ok(lines.includes(line), `${line} in:\n${output}`);
    }
    // The data directory shows only the path down to this run's own directory.
    assert.ok(lines.includes('work '), output);
    // Its own processes only: the init, bash, ls, grep (and the subshell).
    const processes = Number(/processes=(\d+)/.exec(output)?.[1]);
    assert.ok(processes > 0 && processes <= 6, output);
    // The init was started with nothing but the directory bubblewrap put it in.
    assert.match(output, /init-env=PWD\n/);
    assert.match(output, /parent-env-has-key=0\n/);
    assert.ok(statSync(join(runSpec.workdir, 'made-here')).isFile());
  });

  test('reports exits exactly: an exit code, a signal, and 143 apart from SIGTERM', async () => {
    assert.deepEqual((await runToEnd('echo hi; exit 3')).exit, { exitCode: 3, signal: null, startError: null, outputBytes: 3, droppedBytes: 0 });
    assert.equal((await runToEnd('exit 143')).exit.exitCode, 143);
    const killed = await runToEnd('kill -TERM $$');
    assert.equal(killed.exit.exitCode, null);
    assert.equal(killed.exit.signal, 'SIGTERM');
    const segv = await runToEnd('kill -SEGV $$');
    assert.equal(segv.exit.signal, 'SIGSEGV');
  });

  test('the exact status arrives even when signals keep coming as the script ends (lines the init never reads)', async () => {
    // A cancel sends TERM and then CONT; the init may end with those lines unread, which
    // resets the socket they came on. The status must not travel on that socket.
    for (let round = 0; round < 15; round++) {
      const started = await start(spec("trap 'exit 7' TERM; echo ready; while :; do sleep 0.01; done"));
      await started.waitFor(/ready\n/);
      let ended = false;
      void started.running.done.then(() => (ended = true));
      started.running.signalGroup('SIGTERM');
      while (!ended) {
        started.running.signalGroup('SIGCONT');
        await delay(1);
      }
      const exit = await started.running.done;
      assert.deepEqual([exit.exitCode, exit.signal, exit.startError], [7, null, null], `round ${round}`);
    }
  });

  test('stdout and stderr keep the order written', async () => {
    const { output } = await runToEnd('for i in $(seq 1 200); do echo "out $i"; echo "err $i" >&2; done');
    assert.equal(output, Array.from({ length: 200 }, (_, i) => `out ${i + 1}\nerr ${i + 1}\n`).join(''));
  });

  test('the output channel lets a run write ahead: its send buffer is grown as far as the kernel allows', async () => {
    // Linux caps SO_SNDBUF at net.core.wmem_max and doubles what it grants; the default buffer is wmem_default.
    const sysctl = (name: string): number => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
    const expected = 2 * Math.min(OUTPUT_SEND_BUFFER_BYTES, sysctl('wmem_max'));
    const probe = 'import socket\nout = socket.fromfd(1, socket.AF_UNIX, socket.SOCK_STREAM)\nprint(out.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))';
    const { exit, output } = await runToEnd(probe, { interpreter: 'python3' });
    assert.equal(exit.exitCode, 0, output);
    assert.equal(Number(output.trim()), expected, `send buffer ${output.trim()}, default ${sysctl('wmem_default')}`);
    assert.ok(expected > sysctl('wmem_default'));
  });

  test('nothing a run starts outlives it, and the run ends with the script\'s exit code at once', async () => {
    const shapes: Array<[string, (token: string) => string]> = [
      ['setsid env -i daemon with closed pipes', (t) => `setsid env -i /bin/sleep ${t} </dev/null >/dev/null 2>&1 &`],
      ['env -i setsid writer holding the pipe', (t) => `env -i setsid sh -c 'while :; do echo x; sleep 0.3; done; sleep ${t}' &`],
      ['double fork', (t) => `( ( sleep ${t} & ) & )`],
      ['ignores SIGTERM and SIGHUP', (t) => `nohup sh -c "trap '' TERM HUP; sleep ${t}" >/dev/null 2>&1 &`],
    ];
    for (const [what, line] of shapes) {
      const token = uniqueSleep();
      const started = await start(spec(`${line(token)}\nsleep 0.3\necho done\nexit 7`));
      await started.waitFor(/done\n/);
      const scriptEnded = Date.now();
      const exit = await started.running.done;
      assert.equal(exit.exitCode, 7, what);
      assert.ok(Date.now() - scriptEnded < 1_000, `${what}: ended ${Date.now() - scriptEnded} ms after the script`);
      assert.deepEqual(processesWithArgument(token), [], `${what}: nothing left`);
    }
  });

  test('SIGTERM reaches every process; a trap still runs and its output is kept', async () => {
    const token = uniqueSleep();
    const started = await start(
      spec(
        [
          `setsid bash -c 'trap "echo daemon-got-TERM; exit 0" TERM; echo daemon-ready; while true; do sleep 0.05; done' 2>/dev/null &`,
          `trap 'echo main-got-TERM; sleep 0.2; echo trap-finished; trap - TERM; kill -TERM $$' TERM`,
          'echo ready',
          `sleep ${token} & wait`,
        ].join('\n'),
      ),
    );
    await started.waitFor(/daemon-ready\n/);
    await started.waitFor(/^ready\n|\nready\n/);
    assert.equal(started.running.signalGroup('SIGTERM'), true);
    const exit = await started.running.done;
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(exit.exitCode, null);
    assert.match(started.output(), /main-got-TERM\n/);
    assert.match(started.output(), /trap-finished\n/);
    assert.match(started.output(), /daemon-got-TERM\n/);
    assert.deepEqual(processesWithArgument(token), []);
    assert.equal(started.running.signalGroup('SIGTERM'), false, 'nothing to signal once done');
  });

  test('SIGSTOP and SIGCONT reach every process, even one that left the session; SIGKILL ends one that ignores SIGTERM', async () => {
    const token = uniqueSleep();
    const started = await start(spec(`trap '' TERM; setsid sh -c "trap '' TERM; sleep ${token}" & echo ready; while :; do sleep 0.05; done`));
    await started.waitFor(/ready\n/);
    await eventually(() => processesWithArgument(token).length === 1, 'the daemon runs');
    const [daemon] = processesWithArgument(token);
    started.running.signalGroup('SIGSTOP');
    await eventually(() => processState(daemon!) === 'T', 'the daemon is stopped');
    started.running.signalGroup('SIGCONT');
    await eventually(() => processState(daemon!) === 'S', 'the daemon runs again');
    started.running.signalGroup('SIGTERM');
    await delay(300);
    assert.equal(processesWithArgument(token).length, 1, 'SIGTERM is ignored');
    started.running.signalGroup('SIGKILL');
    const exit = await started.running.done;
    assert.equal(exit.signal, 'SIGKILL');
    assert.deepEqual(processesWithArgument(token), []);
  });

  test('a job cannot signal the server or anything outside', async () => {
    const outside = uniqueSleep();
    const { spawn } = await import('node:child_process');
    const neighbour = spawn('sleep', [outside], { stdio: 'ignore' });
    try {
      const { exit, output } = await runToEnd(`kill -9 ${process.pid} ${neighbour.pid} 2>/dev/null; pkill -9 -f ${outside}; kill -9 -1 2>/dev/null; echo still-here`);
      assert.equal(exit.exitCode, 0, output);
      assert.equal(output, 'still-here\n');
      assert.equal(processesWithArgument(outside).length, 1, 'the process outside the sandbox lives');
    } finally {
      neighbour.kill('SIGKILL');
    }
  });

  test('PATH leaves out hidden directories; a missing interpreter is a clear start error', async () => {
    assert.equal(
      visibleSearchPath(`${serverHome}/.pyenv/shims:/usr/bin:${shared}/bin:relative`, sandbox),
      `/usr/bin:${shared}/bin:relative`,
    );
    const { exit } = await runToEnd('exit 0', { interpreter: join(serverHome, 'nope') });
    assert.match(exit.startError ?? '', /nope/);
  });

  test('the script gets the umask it is given, and an environment with Perl variables that do not disturb the init', async () => {
    let text = '';
    const umask = await startProcess(spec('umask; echo "$PERL5OPT"', { env: { PERL5OPT: '-Mstrict -w', PERL5LIB: '/nonexistent' } }), {
      readFile: async () => Buffer.alloc(0),
      onStarted: async () => undefined,
      onOutput: async (batch) => {
        text += batch.bytes.toString();
      },
    }, { sandbox, umask: 0o027 });
    const exit = await umask.done;
    assert.equal(exit.exitCode, 0);
    assert.equal(text, '0027\n-Mstrict -w\n');
  });

  test('bwrap arguments: covers before what lies inside them, binds by mode, and the configuration syntax', () => {
    const workdir = join(dataDir, 'work', 'x', '1');
    const args = bwrapArguments(sandbox, workdir).join(' ');
    assert.ok(args.includes(`--tmpfs ${dataDir}`) && args.includes(`--bind ${workdir} ${workdir}`));
    assert.ok(args.indexOf(`--tmpfs ${dataDir}`) < args.indexOf(`--bind ${workdir} ${workdir}`));
    assert.ok(args.includes(`--bind ${workdir}/.endercompute-tmp /tmp`));
    assert.ok(args.includes(`--ro-bind /dev/null ${secretFile}`));
    assert.ok(args.includes('--unshare-pid') && args.includes('--die-with-parent') && args.includes('--as-pid-1'));
    assert.deepEqual(parseSandboxBinds('/srv/cache:rw, /opt/sdk:ro,/opt/plain'), {
      binds: [
        { path: '/srv/cache', mode: 'rw' },
        { path: '/opt/sdk', mode: 'ro' },
        { path: '/opt/plain', mode: 'ro' },
      ],
      problems: [],
    });
    assert.equal(parseSandboxBinds('relative:rw,/a:rx').problems.length, 2);
  });
});
