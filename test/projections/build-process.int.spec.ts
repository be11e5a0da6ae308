/**
 * The server's side of a build in a process of its own (`processProjectionBuilder`): the
 * child's lines reach the server's log, a child that cannot start, dies or fails leaves
 * the build to the server (false), with what it wrote on stderr; a stop ends the child;
 * and the real build process ends once the server is gone (its IPC channel closed),
 * without installing what it built.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { processProjectionBuilder } from '../../src/projections/build-process';
import { createTemplates, recordingReporter } from './engine-fixtures';

const dir = mkdtempSync(join(tmpdir(), 'endercompute-build-process-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in build process: `body` runs once the request arrived (as `request`). */
function childScript(name: string, body: string): string {
  const file = join(dir, `${name}.js`);
  writeFileSync(file, `process.once('message', (request) => {\n${body}\n});\n`);
  return file;
}

const LOG = { store: 'sqlite' as const, file: join(dir, 'events.db') };
const ignoreProgress = (): void => undefined;

describe('Building the read models in a process of its own', () => {
  it('passes on the child\'s lines and progress, and resolves true once it built', async () => {
    const entry = childScript(
      'builds',
      `process.send({ kind: 'line', level: 'warn', text: 'building ' + request.target + ' from ' + request.log.file });
       process.send({ kind: 'progress', applied: 2, percent: 66, stage: 'applying' });
       process.send({ kind: 'built', applied: 3 }, () => process.exit(0));`,
    );
    const reporter = recordingReporter();
    const progress: unknown[] = [];
    assert.equal(await processProjectionBuilder(entry, LOG)('/data/projections.db', reporter, new AbortController().signal, (done) => progress.push(done)), true);
    assert.deepEqual(reporter.lines, [`warn: building /data/projections.db from ${LOG.file}`]);
    assert.deepEqual(progress, [{ applied: 2, percent: 66, stage: 'applying' }]);
  });

  it('resolves false when the child fails, dies or ends without building, saying why', async () => {
    const failing = childScript('fails', `process.send({ kind: 'failed', message: 'no room' }, () => process.exit(0));`);
    const reporter = recordingReporter();
    assert.equal(await processProjectionBuilder(failing, LOG)('/x', reporter, new AbortController().signal, ignoreProgress), false);
    assert.deepEqual(reporter.lines, ['warn: Projections: the build process stopped: no room']);

    const dying = childScript('dies', `process.stderr.write('Error: out of its mind\\n'); process.exit(3);`);
    const died = recordingReporter();
    assert.equal(await processProjectionBuilder(dying, LOG)('/x', died, new AbortController().signal, ignoreProgress), false);
    assert.deepEqual(died.lines, ['warn: Projections: the build process ended with exit code 3: Error: out of its mind']);

    const killed = childScript('killed', `process.kill(process.pid, 'SIGKILL');`);
    const wasKilled = recordingReporter();
    assert.equal(await processProjectionBuilder(killed, LOG)('/x', wasKilled, new AbortController().signal, ignoreProgress), false);
    assert.deepEqual(wasKilled.lines, ['warn: Projections: the build process ended with SIGKILL']);

    const unstartable = recordingReporter();
    const noNode = join(dir, 'no-such-node');
    assert.equal(await withTimeout(processProjectionBuilder(failing, LOG, noNode)('/x', unstartable, new AbortController().signal, ignoreProgress), 10_000), false);
    assert.match(unstartable.lines.join('\n'), /warn: Projections: the build process could not be started or reached: spawn .*no-such-node ENOENT/);
  });

  it('ends the child when the engine stops first, and resolves false', async () => {
    const pidFile = join(dir, 'slow.pid');
    const slow = childScript('slow', `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`);
    const stopping = new AbortController();
    const reporter = recordingReporter();
    const outcome = processProjectionBuilder(slow, LOG)('/x', reporter, stopping.signal, ignoreProgress);
    await waitForFile(pidFile);
    stopping.abort();
    assert.equal(await outcome, false);
    assert.deepEqual(reporter.lines, [], 'a stop asked for is no news');
  });

  it('the real build process ends when the server goes away, and installs nothing', async () => {
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    await createTemplates(store, 0, 200);
    await store.close();
    const target = join(dir, 'projections.db');
    const child = fork(resolve(__dirname, '../../src/tools/projection-build.child.js'), [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise((ready) => child.once('spawn', ready));
    child.send({ log: LOG, target });
    child.disconnect();
    assert.equal(await withTimeout(exited, 10_000), 1);
    assert.equal(existsSync(target), false, 'nobody waits for it: not installed');
  });

  it('the real build process says why when it cannot open the log', async () => {
    const target = join(dir, 'unopened.db');
    const child = fork(resolve(__dirname, '../../src/tools/projection-build.child.js'), [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const messages: Array<{ kind: string; message?: string }> = [];
    child.on('message', (message: { kind: string }) => messages.push(message));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const notALog = join(dir, 'not-a-log.db');
    writeFileSync(notALog, 'this is not an SQLite database, and long enough to have a header of its own\n'.repeat(20));
    child.send({ log: { store: 'sqlite', file: notALog }, target });
    assert.equal(await withTimeout(exited, 10_000), 0);
    const last = messages.at(-1);
    assert.equal(last?.kind, 'failed');
    assert.match(last?.message ?? '', /not a database|not an SQLite/i, 'with SQLite\'s reason');
    assert.equal(existsSync(target), false);
  });

  it('the real build process ignores a signal to the server\'s process group, and builds', async () => {
    const big = join(dir, 'big');
    mkdirSync(big);
    const store = SqliteEventStore.open(join(big, 'events.db'));
    await createTemplates(store, 0, 3000);
    await store.close();
    const target = join(big, 'projections.db');
    const child = fork(resolve(__dirname, '../../src/tools/projection-build.child.js'), [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const messages: Array<{ kind: string; stage?: string }> = [];
    child.on('message', (message: { kind: string }) => messages.push(message));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise((ready) => child.once('spawn', ready));
    child.send({ log: { store: 'sqlite', file: join(big, 'events.db') }, target });
    // Its first line says it began: its modules, and so its handlers, are loaded by then.
    await eventuallyTrue(() => messages.length > 0);
    assert.match(JSON.stringify(messages[0]), /the build process \(pid \d+\) reads the log/);
    child.kill('SIGINT');
    child.kill('SIGTERM');
    child.kill('SIGHUP');
    assert.equal(await withTimeout(exited, 30_000), 0);
    assert.deepEqual(messages.at(-1), { kind: 'built', applied: 3000 });
    assert.equal(existsSync(target), true);
    // How far it came, for the server to show: its batch applied, then the indexes begun.
    const progress = messages.filter((message) => message.kind === 'progress');
    assert.deepEqual(progress.at(-1), { kind: 'progress', applied: 3000, percent: 100, stage: 'indexing' });
    assert.ok(progress.some((message) => message.stage === 'applying'), JSON.stringify(progress));
  });
});

async function waitForFile(file: string): Promise<void> {
  await eventuallyTrue(() => existsSync(file));
}

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), 'the condition within 10 s');
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
