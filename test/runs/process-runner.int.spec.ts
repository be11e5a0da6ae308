/**
 * The process runner against real processes in temporary directories: bash, python3
 * and node scripts, binary output, 50 MB through a slow store, process-group signals
 * and the cleanup of whatever a run leaves behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HIGH_WATER_BATCHES } from '../../src/runs/runner/output-batcher';
import {
  isSameProcessAlive,
  killProcessGroup,
  parseProcStat,
  readProcessStartTicks,
} from '../../src/runs/runner/process-group';
import { DEFAULT_MAX_BATCH_BYTES, startProcess } from '../../src/runs/runner/process-runner';
import type {
  OutputBatch,
  OutputStreamName,
  ProcessExit,
  ProcessStarted,
  RunnerHooks,
  RunnerOptions,
  RunningProcess,
  RunSpec,
} from '../../src/runs/runner/runner.types';

/**
 * The most one read can bring in: it lands in the rest of the area reads go into (see
 * `OutputBatcher.readTarget`), which is at most a batch.
 */
const MAX_READ = DEFAULT_MAX_BATCH_BYTES;

let root = '';
let runCounter = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'endercompute-runner-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function makeSpec(overrides: Partial<RunSpec> = {}): RunSpec {
  runCounter += 1;
  return {
    runId: `run-${randomUUID()}`,
    jobName: 'test-job',
    runNumber: runCounter,
    actor: 'alice',
    interpreter: 'bash',
    scriptBody: '',
    args: [],
    env: {},
    files: [],
    workdir: join(root, 'work', 'test-job', String(runCounter)),
    ...overrides,
  };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An input file for {@link RunSpec.files} and the store that serves it. */
function inputFile(name: string, bytes: Buffer): { entry: RunSpec['files'][number]; bytes: Buffer } {
  return { entry: { name, size: bytes.length, sha256: sha256(bytes) }, bytes };
}

/** Hooks that record everything and check the batch invariants as batches arrive. */
class Recorder {
  readonly batches: OutputBatch[] = [];
  readonly started: ProcessStarted[] = [];
  readonly order: string[] = [];
  readonly live: Array<{ stream: OutputStreamName; chunk: Buffer; offset: number }> = [];
  liveText = '';
  /** How long onStarted takes, to check that no batch overtakes it. */
  startDelayMs = 0;
  private liveWaiters: Array<{ pattern: RegExp; resolve: (match: RegExpMatchArray) => void }> = [];

  constructor(
    private readonly store: Map<string, Buffer> = new Map(),
    private readonly slowOutput?: (batch: OutputBatch) => Promise<void>,
    private readonly maxBatchBytes = DEFAULT_MAX_BATCH_BYTES,
  ) {}

  readonly hooks: RunnerHooks = {
    readFile: async (hash) => {
      const bytes = this.store.get(hash);
      if (bytes === undefined) throw new Error(`no file ${hash}`);
      return bytes;
    },
    onStarted: async (info) => {
      await delay(this.startDelayMs);
      this.order.push('started');
      this.started.push(info);
    },
    onOutput: async (batch) => {
      this.order.push('output');
      assert.equal(this.started.length, 1, 'onStarted comes before any batch');
      assert.equal(batch.offset, this.storedBytes(), 'batches are contiguous');
      assert.ok(batch.bytes.length > 0 && batch.bytes.length <= this.maxBatchBytes, `batch size ${batch.bytes.length}`);
      assert.equal(batch.pieces.reduce((sum, piece) => sum + piece.length, 0), batch.bytes.length);
      batch.pieces.forEach((piece, index) => {
        assert.ok(piece.length > 0);
        if (index > 0) assert.notEqual(piece.stream, batch.pieces[index - 1]!.stream, 'adjacent pieces are merged');
      });
      this.batches.push({ ...batch, bytes: Buffer.from(batch.bytes) });
      if (this.slowOutput !== undefined) await this.slowOutput(batch);
    },
    onLiveChunk: (stream, chunk, offset) => {
      this.live.push({ stream, chunk: Buffer.from(chunk), offset });
      this.liveText += chunk.toString('latin1');
      for (const waiter of [...this.liveWaiters]) {
        const match = this.liveText.match(waiter.pattern);
        if (match !== null) {
          this.liveWaiters = this.liveWaiters.filter((other) => other !== waiter);
          waiter.resolve(match);
        }
      }
    },
  };

  storedBytes(): number {
    return this.batches.reduce((sum, batch) => sum + batch.bytes.length, 0);
  }

  output(): Buffer {
    return Buffer.concat(this.batches.map((batch) => batch.bytes));
  }

  /** The bytes of one stream, in order, taken apart by the batches' pieces. */
  streamBytes(stream: OutputStreamName): Buffer {
    const parts: Buffer[] = [];
    for (const batch of this.batches) {
      let at = 0;
      for (const piece of batch.pieces) {
        if (piece.stream === stream) parts.push(batch.bytes.subarray(at, at + piece.length));
        at += piece.length;
      }
    }
    return Buffer.concat(parts);
  }

  /** All pieces across batches, with adjacent same-stream pieces merged. */
  mergedPieces(): Array<{ stream: OutputStreamName; text: string }> {
    const merged: Array<{ stream: OutputStreamName; text: string }> = [];
    for (const batch of this.batches) {
      let at = 0;
      for (const piece of batch.pieces) {
        const text = batch.bytes.subarray(at, at + piece.length).toString('utf8');
        at += piece.length;
        const last = merged[merged.length - 1];
        if (last !== undefined && last.stream === piece.stream) last.text += text;
        else merged.push({ stream: piece.stream, text });
      }
    }
    return merged;
  }

  /** Resolves when the live output matches `pattern`. */
  waitForLive(pattern: RegExp): Promise<RegExpMatchArray> {
    const match = this.liveText.match(pattern);
    if (match !== null) return Promise.resolve(match);
    return new Promise((resolve) => this.liveWaiters.push({ pattern, resolve }));
  }
}

async function run(
  spec: RunSpec,
  recorder: Recorder,
  options?: RunnerOptions,
): Promise<{ running: RunningProcess; exit: ProcessExit }> {
  const running = await startProcess(spec, recorder.hooks, options);
  return { running, exit: await running.done };
}

/** Polls until `check` holds (a SIGKILLed process needs a moment to disappear). */
async function eventually(check: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await delay(20);
  }
}

/** A pid printed as `<label> <pid>` in the live output, with its start time read at once. */
async function pidFromOutput(recorder: Recorder, label: string): Promise<{ pid: number; ticks: string }> {
  const match = await recorder.waitForLive(new RegExp(`${label} (\\d+)\\n`));
  const pid = Number(match[1]);
  const ticks = readProcessStartTicks(pid);
  assert.ok(ticks !== null, `${label} ${pid} is running when reported`);
  return { pid, ticks };
}

describe('startProcess', { timeout: 120_000 }, () => {
  test('runs a bash script with arguments, environment and an input file, and reports exit code 3', async () => {
    const greeting = inputFile('greeting.txt', Buffer.from('hello from a file\n'));
    const spec = makeSpec({
      scriptBody: [
        'set -eu',
        'printf "args:%s|%s|%s\\n" "$#" "$1" "$2"',
        'printf "env:%s\\n" "$GREETING"',
        'printf "file:%s\\n" "$(cat greeting.txt)"',
        'printf "cwd:%s\\n" "$PWD"',
        'printf "script:%s\\n" "$0"',
        'printf "files:%s\\n" "$(ls -A | tr "\\n" " ")"',
        'exit 3',
      ].join('\n'),
      args: ['one two', 'x*'],
      env: { GREETING: 'hi there' },
      files: [greeting.entry],
    });
    // Left over from a crashed attempt: must be wiped.
    mkdirSync(join(spec.workdir, 'stale-dir'), { recursive: true });
    writeFileSync(join(spec.workdir, 'stale.txt'), 'old');
    const recorder = new Recorder(new Map([[greeting.entry.sha256, greeting.bytes]]));
    recorder.startDelayMs = 300;

    const { running, exit } = await run(spec, recorder, { flushIntervalMs: 1 });

    const scriptPath = join(spec.workdir, '.endercompute-script.sh');
    const expected = [
      'args:2|one two|x*',
      'env:hi there',
      'file:hello from a file',
      `cwd:${spec.workdir}`,
      `script:${scriptPath}`,
      'files:.endercompute-artifacts .endercompute-script.sh greeting.txt ',
      '',
    ].join('\n');
    assert.equal(recorder.output().toString(), expected);
    assert.deepEqual(exit, { exitCode: 3, signal: null, startError: null, outputBytes: Buffer.byteLength(expected), droppedBytes: 0 });
    assert.equal(recorder.started.length, 1);
    const started = recorder.started[0]!;
    assert.equal(started.pid, running.pid);
    assert.equal(started.workdir, spec.workdir);
    assert.equal(started.scriptPath, scriptPath);
    assert.match(started.processStartTicks ?? '', /^\d+$/);
    assert.equal(recorder.order[0], 'started');
    assert.equal(statSync(scriptPath).mode & 0o777, 0o700);
    // The artifacts directory ($ENDERCOMPUTE_ARTIFACTS_DIR) is made before the script starts.
    assert.deepEqual(readdirSync(spec.workdir).sort(), ['.endercompute-artifacts', '.endercompute-script.sh', 'greeting.txt']);
    assert.equal(running.signalGroup('SIGTERM'), false, 'nothing to signal once done');
  });

  test('gives the process a clean environment with the ENDERCOMPUTE_* variables, which the job cannot override', async () => {
    const saved = { key: process.env.ENDERCOMPUTE_KEY, lang: process.env.LANG };
    process.env.ENDERCOMPUTE_KEY = 'secret';
    try {
      const basePath = '/usr/local/bin:/usr/bin:/bin';
      const script = 'process.stdout.write(JSON.stringify(process.env))';
      for (const [serverLang, expectedLang] of [['fr_FR.UTF-8', 'fr_FR.UTF-8'], [undefined, 'C.UTF-8']] as const) {
        if (serverLang === undefined) delete process.env.LANG;
        else process.env.LANG = serverLang;
        const spec = makeSpec({
          interpreter: 'node',
          scriptBody: script,
          env: { JOB_VAR: 'job value', ENDERCOMPUTE_RUN_ID: 'forged', ENDERCOMPUTE_ACTOR: 'mallory', ENDERCOMPUTE_ARTIFACTS_DIR: '/etc' },
        });
        const recorder = new Recorder();
        const { exit } = await run(spec, recorder, { basePath });
        assert.equal(exit.exitCode, 0);
        const env = JSON.parse(recorder.output().toString()) as Record<string, string>;
        assert.deepEqual(env, {
          PATH: basePath,
          HOME: process.env.HOME,
          LANG: expectedLang,
          PWD: spec.workdir,
          JOB_VAR: 'job value',
          ENDERCOMPUTE_RUN_ID: spec.runId,
          ENDERCOMPUTE_JOB: 'test-job',
          ENDERCOMPUTE_RUN_NUMBER: String(spec.runNumber),
          ENDERCOMPUTE_ACTOR: 'alice',
          ENDERCOMPUTE_WORKDIR: spec.workdir,
          ENDERCOMPUTE_ARTIFACTS_DIR: `${spec.workdir}/.endercompute-artifacts`,
        });
        assert.equal(env.ENDERCOMPUTE_KEY, undefined);
      }
    } finally {
      if (saved.key === undefined) delete process.env.ENDERCOMPUTE_KEY;
      else process.env.ENDERCOMPUTE_KEY = saved.key;
      if (saved.lang === undefined) delete process.env.LANG;
      else process.env.LANG = saved.lang;
    }
  });

  test('keeps stdout and stderr in exactly the order the script wrote them: one pipe for both', async () => {
    // Without sleeps: two pipes read separately would come back in blocks.
    const scriptBody = 'for i in $(seq 1 300); do echo "out $i"; echo "err $i" >&2; done; set -x; : traced; echo after-trace';
    const expected = Array.from({ length: 300 }, (_, index) => `out ${index + 1}\nerr ${index + 1}\n`).join('') + '+ : traced\n+ echo after-trace\nafter-trace\n';
    for (const flushIntervalMs of [60_000, 0]) {
      const recorder = new Recorder();
      const { exit } = await run(makeSpec({ scriptBody }), recorder, { flushIntervalMs });
      assert.equal(exit.exitCode, 0);
      assert.equal(recorder.output().toString(), expected);
      assert.ok(recorder.batches.every((batch) => batch.pieces.every((piece) => piece.stream === 'stdout')));
    }
  });

  test('passes binary output (NUL, invalid UTF-8, all 256 byte values) through byte-exact, live and stored', async () => {
    const allBytes = Buffer.from(Array.from({ length: 256 * 4 }, (_, index) => index % 256));
    const data = Buffer.concat([allBytes, Buffer.from([0, 0, 0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80, 0xf0, 0x28])]);
    const file = inputFile('data.bin', data);
    const recorder = new Recorder(new Map([[file.entry.sha256, file.bytes]]));
    const spec = makeSpec({ scriptBody: 'cat data.bin; cat data.bin >&2; cat data.bin', files: [file.entry] });

    const { exit } = await run(spec, recorder);

    assert.equal(exit.exitCode, 0);
    assert.equal(exit.outputBytes, data.length * 3);
    assert.ok(recorder.output().equals(Buffer.concat([data, data, data])));
    assert.ok(readFileSync(join(spec.workdir, 'data.bin')).equals(data));
    // The live chunks, placed at their offsets, are exactly the stored output.
    const liveOutput = Buffer.alloc(exit.outputBytes);
    let covered = 0;
    for (const { chunk, offset } of recorder.live) {
      assert.equal(offset, covered);
      chunk.copy(liveOutput, offset);
      covered += chunk.length;
    }
    assert.equal(covered, exit.outputBytes);
    assert.ok(liveOutput.equals(recorder.output()));
  });

  test('hands every batch that waited to onOutputBatches at once, in order, byte-exact and bounded', async () => {
    const total = 20 * 1024 * 1024;
    const deliveries: number[] = [];
    let settled = 0;
    let read = 0;
    let maxPending = 0;
    const hash = createHash('sha256');
    const hooks: RunnerHooks = {
      readFile: async () => Buffer.alloc(0),
      onStarted: async () => undefined,
      onLiveChunk: (_stream, chunk) => {
        read += chunk.length;
        maxPending = Math.max(maxPending, read - settled);
      },
      onOutput: async () => assert.fail('onOutputBatches is used when given'),
      onOutputBatches: async (batches) => {
        deliveries.push(batches.length);
        for (const batch of batches) {
          assert.equal(batch.offset, settled, 'batches come in order, without gaps');
          hash.update(batch.bytes);
          settled += batch.bytes.length;
        }
        // A slow store: batches pile up meanwhile.
        await delay(20);
      },
    };
    const spec = makeSpec({ interpreter: 'node', scriptBody: `process.stdout.write(Buffer.alloc(${total}, 'abc\\n'));` });
    const exit = await (await startProcess(spec, hooks)).done;
    assert.equal(exit.exitCode, 0);
    assert.equal(settled, total);
    assert.equal(hash.digest('hex'), createHash('sha256').update(Buffer.alloc(total, 'abc\n')).digest('hex'));
    assert.ok(deliveries.some((count) => count > 1), `several batches in one delivery (${deliveries.join(', ')})`);
    assert.ok(maxPending <= HIGH_WATER_BATCHES * DEFAULT_MAX_BATCH_BYTES + MAX_READ, `pending bytes peaked at ${maxPending}`);
  });

  test('stores 50 MB byte-exact through a slow onOutput while pending bytes stay bounded', async (t) => {
    const blocks = 50;
    const blockBytes = 1024 * 1024;
    // The same xorshift32 generator runs in the script and here.
    const generator = `
      let x = 2463534242;
      function block(size) {
        const out = Buffer.allocUnsafe(size);
        for (let i = 0; i < size; i += 4) {
          x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
          out.writeUInt32LE(x, i);
        }
        return out;
      }`;
    const expectedHash = createHash('sha256');
    const makeBlock = new Function(`${generator}; return block;`)() as (size: number) => Buffer;
    for (let index = 0; index < blocks; index++) expectedHash.update(makeBlock(blockBytes));

    let read = 0;
    let settled = 0;
    let maxPending = 0;
    const hash = createHash('sha256');
    // Only totals are kept: this test is about memory.
    const hooks: RunnerHooks = {
      readFile: async () => Buffer.alloc(0),
      onStarted: async () => undefined,
      onLiveChunk: (_stream, chunk) => {
        read += chunk.length;
        maxPending = Math.max(maxPending, read - settled);
      },
      onOutput: async (batch) => {
        assert.equal(batch.offset, settled);
        assert.deepEqual(batch.pieces, [{ stream: 'stdout', length: batch.bytes.length }]);
        hash.update(batch.bytes);
        await delay(5);
        settled += batch.bytes.length;
      },
    };
    const spec = makeSpec({
      interpreter: 'node',
      scriptBody: `${generator}\nfor (let b = 0; b < ${blocks}; b++) process.stdout.write(block(${blockBytes}));`,
    });

    const exit = await (await startProcess(spec, hooks)).done;

    assert.equal(exit.exitCode, 0);
    assert.equal(exit.outputBytes, blocks * blockBytes);
    assert.equal(settled, blocks * blockBytes);
    assert.equal(hash.digest('hex'), expectedHash.digest('hex'));
    const bound = HIGH_WATER_BATCHES * DEFAULT_MAX_BATCH_BYTES + MAX_READ;
    t.diagnostic(`pending bytes peaked at ${maxPending} (bound ${bound})`);
    assert.ok(maxPending <= bound, `pending bytes peaked at ${maxPending}, bound ${bound}`);
    // The store really was the bottleneck: without backpressure pending would have grown past the high-water mark.
    assert.ok(maxPending > HIGH_WATER_BATCHES * DEFAULT_MAX_BATCH_BYTES, `pending bytes only reached ${maxPending}`);
  });

  test('runs python3 and node scripts with fitting file names', async () => {
    const python = new Recorder();
    const pythonSpec = makeSpec({
      interpreter: 'python3',
      scriptBody: [
        'import os, sys',
        'print(os.path.basename(__file__), sys.argv[1:], os.getcwd() == os.environ["ENDERCOMPUTE_WORKDIR"])',
        'sys.exit(5)',
      ].join('\n'),
      args: ['a', 'b c'],
    });
    const pythonRun = await run(pythonSpec, python);
    assert.equal(python.output().toString(), ".endercompute-script.py ['a', 'b c'] True\n");
    assert.equal(pythonRun.exit.exitCode, 5);

    const node = new Recorder();
    const nodeSpec = makeSpec({
      interpreter: 'node',
      scriptBody: [
        "const path = require('node:path');",
        'console.log(path.basename(__filename), JSON.stringify(process.argv.slice(2)), process.cwd() === process.env.ENDERCOMPUTE_WORKDIR);',
        'process.exitCode = 4;',
      ].join('\n'),
      args: ['--flag', 'x y'],
    });
    const nodeRun = await run(nodeSpec, node);
    assert.equal(node.output().toString(), '.endercompute-script.js ["--flag","x y"] true\n');
    assert.equal(nodeRun.exit.exitCode, 4);
  });

  test('reports an interpreter that cannot be started as startError, without output', async () => {
    const notExecutable = join(root, 'not-executable');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    chmodSync(notExecutable, 0o644);
    const cases: Array<[string, RegExp]> = [
      ['endercompute-no-such-interpreter', /^interpreter endercompute-no-such-interpreter not found in PATH/],
      [notExecutable, new RegExp(`^interpreter ${notExecutable} is not executable \\(permission denied\\)$`)],
      [root, new RegExp(`^interpreter ${root} is not a regular file$`)],
    ];
    for (const [interpreter, message] of cases) {
      const recorder = new Recorder();
      const spec = makeSpec({ interpreter, scriptBody: 'echo never' });
      const { running, exit } = await run(spec, recorder);
      assert.equal(running.pid, null);
      assert.equal(running.signalGroup('SIGTERM'), false);
      assert.match(exit.startError ?? '', message);
      assert.deepEqual({ ...exit, startError: null }, { exitCode: null, signal: null, startError: null, outputBytes: 0, droppedBytes: 0 });
      assert.deepEqual(recorder.order, []);
    }
  });

  test('throws when the work directory cannot be prepared', async () => {
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, 'x');
    await assert.rejects(startProcess(makeSpec({ workdir: join(blocker, 'run') }), new Recorder().hooks), /^Error: cannot prepare work directory/);
    await assert.rejects(startProcess(makeSpec({ workdir: 'relative/dir' }), new Recorder().hooks), /not a normalised absolute path/);
    await assert.rejects(startProcess(makeSpec({ workdir: '/' }), new Recorder().hooks), /not a normalised absolute path/);

    const evil = inputFile('../evil.txt', Buffer.from('x'));
    const spec = makeSpec({ files: [evil.entry] });
    await assert.rejects(startProcess(spec, new Recorder(new Map([[evil.entry.sha256, evil.bytes]])).hooks), /not a plain file name/);
    assert.equal(existsSync(join(spec.workdir, '..', 'evil.txt')), false);

    const tampered = inputFile('in.txt', Buffer.from('expected'));
    await assert.rejects(
      startProcess(makeSpec({ files: [tampered.entry] }), new Recorder(new Map([[tampered.entry.sha256, Buffer.from('other')]])).hooks),
      /in\.txt: content does not match/,
    );
    await assert.rejects(startProcess(makeSpec(), new Recorder().hooks, { maxBatchBytes: 8 * 1024 * 1024 }), RangeError);
  });

  test('writes an input file as its parts arrive, and refuses parts that do not add up to it', async () => {
    const parts = [Buffer.alloc(300_000, 1), Buffer.alloc(200_000, 2), Buffer.from('end')];
    const file = inputFile('big.bin', Buffer.concat(parts));
    const streamed = (chunks: Buffer[]): RunnerHooks['readFile'] =>
      async function* () {
        for (const chunk of chunks) yield chunk;
      };
    const recorder = new Recorder();
    const spec = makeSpec({ scriptBody: 'wc -c < big.bin', files: [file.entry] });
    const running = await startProcess(spec, { ...recorder.hooks, readFile: streamed(parts) });
    assert.equal((await running.done).exitCode, 0);
    assert.equal(recorder.output().toString().trim(), String(file.bytes.length));
    assert.ok(readFileSync(join(spec.workdir, 'big.bin')).equals(file.bytes));
    for (const wrong of [parts.slice(0, 2), [...parts, Buffer.from('!')], [parts[1]!, parts[0]!, parts[2]!]]) {
      await assert.rejects(startProcess(makeSpec({ files: [file.entry] }), { ...new Recorder().hooks, readFile: streamed(wrong) }), /big\.bin: content does not match/);
    }
  });

  test('signalGroup(SIGTERM) reaches a background child of the script', async () => {
    const recorder = new Recorder();
    const spec = makeSpec({
      scriptBody: [
        // The loop's stderr is muted: bash reports its killed `sleep` there ("Terminated") at random.
        `bash -c 'trap "echo child-got-TERM; exit 0" TERM; echo "child-ready $$"; while true; do sleep 0.05; done 2>/dev/null' &`,
        'wait',
      ].join('\n'),
    });
    const running = await startProcess(spec, recorder.hooks);
    const child = await pidFromOutput(recorder, 'child-ready');

    assert.equal(running.signalGroup('SIGTERM'), true);
    const exit = await running.done;

    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(exit.exitCode, null);
    assert.equal(recorder.output().toString(), `child-ready ${child.pid}\nchild-got-TERM\n`);
    await eventually(() => !isSameProcessAlive(child.pid, child.ticks), 'the child is gone');
    assert.equal(running.signalGroup('SIGTERM'), false);
  });

  test('kills what the script left running when it exits', async () => {
    const variants = [
      ['holding the output pipes', 'sleep 1000 &'],
      ['not holding the pipes', 'sleep 1000 >/dev/null 2>&1 &'],
      ['without the run marker in its environment', 'env -i sleep 1000 &'],
      ['escaped from the group with setsid', 'setsid sleep 1000 &'],
    ];
    for (const [what, line] of variants) {
      const recorder = new Recorder();
      const started = Date.now();
      const running = await startProcess(makeSpec({ scriptBody: `${line}\necho "bg $!"\nexit 0` }), recorder.hooks);
      const child = await pidFromOutput(recorder, 'bg');
      const exit = await running.done;
      assert.equal(exit.exitCode, 0, what);
      assert.ok(Date.now() - started < 3_000, `${what}: finished in ${Date.now() - started} ms`);
      await eventually(() => !isSameProcessAlive(child.pid, child.ticks), `${what}: the background process is gone`);
    }
  });

  test('does not wait forever for a process that escaped both the group and the run marker', async () => {
    const recorder = new Recorder();
    const running = await startProcess(makeSpec({ scriptBody: 'setsid env -i sleep 1000 &\necho "bg $!"\nexit 0' }), recorder.hooks);
    const escaped = await pidFromOutput(recorder, 'bg');
    try {
      const started = Date.now();
      const exit = await running.done;
      assert.equal(exit.exitCode, 0);
      assert.equal(recorder.output().toString(), `bg ${escaped.pid}\n`);
      assert.ok(Date.now() - started < 5_000, `finished in ${Date.now() - started} ms`);
    } finally {
      try {
        process.kill(escaped.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  test('truncates output beyond maxOutputBytes with a visible notice, without blocking the process', async () => {
    const recorder = new Recorder();
    const { exit } = await run(makeSpec({ scriptBody: "head -c 10000 /dev/zero | tr '\\0' a" }), recorder, { maxOutputBytes: 4096 });
    const notice = '\n[EnderCompute: output truncated, 5904 bytes dropped]\n';
    assert.equal(recorder.output().toString(), 'a'.repeat(4096) + notice);
    assert.deepEqual(exit, { exitCode: 0, signal: null, startError: null, outputBytes: 4096 + notice.length, droppedBytes: 5904 });
    const last = recorder.batches[recorder.batches.length - 1]!;
    assert.equal(last.bytes.toString(), notice);
    assert.deepEqual(last.pieces, [{ stream: 'stderr', length: notice.length }]);

    // 20 MB into a store that takes 200 ms per batch: dropped bytes are read at full speed.
    const slow = new Recorder(new Map(), () => delay(200));
    const started = Date.now();
    const big = await run(makeSpec({ scriptBody: 'head -c 20000000 /dev/zero' }), slow, { maxOutputBytes: 1000 });
    assert.equal(big.exit.droppedBytes, 20_000_000 - 1000);
    assert.equal(slow.output().subarray(0, 1000).equals(Buffer.alloc(1000)), true);
    assert.equal(slow.output().subarray(1000).toString(), '\n[EnderCompute: output truncated, 19999000 bytes dropped]\n');
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.equal(slow.batches.length, 2);
  });

  test('reports the signal that killed the process', async () => {
    const recorder = new Recorder();
    const { exit } = await run(makeSpec({ scriptBody: 'echo before\nkill -KILL $$\necho after' }), recorder);
    assert.deepEqual(exit, { exitCode: null, signal: 'SIGKILL', startError: null, outputBytes: 7, droppedBytes: 0 });
    assert.equal(recorder.output().toString(), 'before\n');
  });

  test('kills the process group and rejects done when onOutput fails', async () => {
    const diskFull = new Error('ENOSPC: no space left on device');
    let calls = 0;
    const recorder = new Recorder(new Map(), async () => {
      calls += 1;
      throw diskFull;
    });
    const running = await startProcess(
      makeSpec({ scriptBody: 'sleep 1000 &\necho "bg $!"\nwhile true; do echo tick; sleep 0.01; done' }),
      recorder.hooks,
    );
    const child = await pidFromOutput(recorder, 'bg');
    await assert.rejects(running.done, (error) => error === diskFull);
    assert.equal(calls, 1, 'no batch is handed over after a failure');
    await eventually(() => !isSameProcessAlive(child.pid, child.ticks), 'the background child is gone');
    await eventually(() => !isSameProcessAlive(running.pid!, recorder.started[0]!.processStartTicks), 'the script is gone');
  });

  test('kills the process group and rejects done when onStarted fails, handing over no batch', async () => {
    const unrecorded = new Error('cannot record RunStarted');
    const recorder = new Recorder();
    recorder.hooks.onStarted = async () => {
      await delay(200);
      throw unrecorded;
    };
    const running = await startProcess(makeSpec({ scriptBody: 'sleep 1000 &\necho "bg $!"\nwhile true; do echo tick; sleep 0.01; done' }), recorder.hooks);
    const child = await pidFromOutput(recorder, 'bg');
    await assert.rejects(running.done, (error) => error === unrecorded);
    assert.equal(recorder.batches.length, 0);
    await eventually(() => !isSameProcessAlive(child.pid, child.ticks), 'the background child is gone');
  });

  test('measures throughput into a no-op onOutput', async (t) => {
    const bytes = 512 * 1024 * 1024;
    const hooks: RunnerHooks = {
      readFile: async () => Buffer.alloc(0),
      onStarted: async () => undefined,
      onOutput: async () => undefined,
    };
    const started = process.hrtime.bigint();
    const running = await startProcess(makeSpec({ scriptBody: `head -c ${bytes} /dev/zero` }), hooks);
    const exit = await running.done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(exit.outputBytes, bytes);
    t.diagnostic(`throughput: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s (${bytes / 1024 / 1024} MiB in ${seconds.toFixed(2)} s)`);
  });
});

describe('process-group helpers', () => {
  test('parseProcStat counts fields from the last parenthesis', () => {
    const fields = Array.from({ length: 50 }, (_, index) => String(index + 3));
    fields[0] = 'S';
    fields[22 - 3] = '424242';
    assert.deepEqual(parseProcStat(`123 (a) b) (c) ${fields.join(' ')}\n`), { state: 'S', startTicks: '424242' });
    assert.equal(parseProcStat('garbage'), null);
    assert.equal(parseProcStat('1 (x) S 1'), null);
  });

  test('reads start ticks of a process whose name has spaces and parentheses, and tells a reused pid apart', async () => {
    const oddName = 'we ird) (x';
    const program = join(root, oddName);
    copyFileSync('/usr/bin/sleep', program);
    chmodSync(program, 0o755);
    const child = spawn(program, ['30'], { detached: true, stdio: 'ignore' });
    const pid = child.pid!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const prefix = `${pid} (${oddName}) `;
      assert.ok(stat.startsWith(prefix), stat);
      const expected = stat.slice(prefix.length).split(' ')[22 - 3]!;
      assert.match(expected, /^\d+$/);

      assert.equal(readProcessStartTicks(pid), expected);
      assert.equal(isSameProcessAlive(pid, expected), true);
      assert.equal(isSameProcessAlive(pid, String(BigInt(expected) + 1n)), false);
      assert.equal(isSameProcessAlive(pid, null), false);
      assert.equal(killProcessGroup(pid, 'SIGTERM'), true);
      await exited;
      assert.equal(isSameProcessAlive(pid, expected), false);
      assert.equal(killProcessGroup(pid, 'SIGTERM'), false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('refuses pids that would signal this process, its group or everything', () => {
    // Signal 0 only checks: were a guard missing, these would return true instead of signalling anything.
    for (const pid of [0, 1, -1, -process.pid, 1.5, Number.NaN, process.pid]) {
      assert.equal(killProcessGroup(pid, 0), false, `pid ${pid}`);
    }
    assert.equal(readProcessStartTicks(-1), null);
    assert.equal(readProcessStartTicks(0x3fffffff), null);
    assert.match(readProcessStartTicks(process.pid) ?? '', /^\d+$/);
  });
});
