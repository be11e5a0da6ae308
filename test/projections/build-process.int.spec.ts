/**
 * The server's side of a build in a process of its own (`processProjectionBuilder`): the
 * child's lines reach the server's log, a child that dies or fails leaves the build to
 * the server (false), with what it wrote on stderr; a stop ends the child; and the real
 * build process ends once the server is gone (its IPC channel closed).
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { processProjectionBuilder } from '../../src/projections/build-process';
import { recordingReporter } from './engine-fixtures';

const dir = mkdtempSync(join(tmpdir(), 'endercompute-build-process-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in build process: `body` runs once the request arrived (as `request`). */
function childScript(name: string, body: string): string {
  const file = join(dir, `${name}.js`);
  writeFileSync(file, `process.once('message', (request) => {\n${body}\n});\n`);
  return file;
}

const LOG = { store: 'sqlite' as const, file: join(dir, 'events.db') };

describe('Building the read models in a process of its own', () => {
  it('passes on the child\'s lines and resolves true once it built', async () => {
    const entry = childScript(
      'builds',
      `process.send({ kind: 'line', level: 'warn', text: 'building ' + request.target + ' from ' + request.log.file });
       process.send({ kind: 'built', applied: 3 }, () => process.exit(0));`,
    );
    const reporter = recordingReporter();
    assert.equal(await processProjectionBuilder(entry, LOG)('/data/projections.db', reporter, new AbortController().signal), true);
    assert.deepEqual(reporter.lines, [`warn: building /data/projections.db from ${LOG.file}`]);
  });

  it('resolves false when the child fails, dies or ends without building, saying why', async () => {
    const failing = childScript('fails', `process.send({ kind: 'failed', message: 'no room' }, () => process.exit(0));`);
    const reporter = recordingReporter();
    assert.equal(await processProjectionBuilder(failing, LOG)('/x', reporter, new AbortController().signal), false);
    assert.deepEqual(reporter.lines, ['warn: Projections: the build process stopped: no room']);

    const dying = childScript('dies', `process.stderr.write('Error: out of its mind\\n'); process.exit(3);`);
    const died = recordingReporter();
    assert.equal(await processProjectionBuilder(dying, LOG)('/x', died, new AbortController().signal), false);
    assert.deepEqual(died.lines, ['warn: Projections: the build process ended with exit code 3: Error: out of its mind']);

    const killed = childScript('killed', `process.kill(process.pid, 'SIGKILL');`);
    const wasKilled = recordingReporter();
    assert.equal(await processProjectionBuilder(killed, LOG)('/x', wasKilled, new AbortController().signal), false);
    assert.deepEqual(wasKilled.lines, ['warn: Projections: the build process ended with SIGKILL']);
  });

  it('ends the child when the engine stops first, and resolves false', async () => {
    const pidFile = join(dir, 'slow.pid');
    const slow = childScript('slow', `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`);
    const stopping = new AbortController();
    const reporter = recordingReporter();
    const outcome = processProjectionBuilder(slow, LOG)('/x', reporter, stopping.signal);
    await waitForFile(pidFile);
    stopping.abort();
    assert.equal(await outcome, false);
    assert.deepEqual(reporter.lines, [], 'a stop asked for is no news');
  });

  it('the real build process ends when the server goes away before it finished', async () => {
    const child = fork(resolve(__dirname, '../../src/tools/projection-build.child.js'), [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise((ready) => child.once('spawn', ready));
    child.disconnect();
    assert.equal(await withTimeout(exited, 10_000), 1);
  });
});

async function waitForFile(file: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(file), `${file} to be written`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
