/**
 * The built server on a damaged, emptied or lost embedded log: it refuses to start,
 * exits with 1 and says on stderr which file is wrong, what is wrong with it and what to
 * do, without a stack trace; it never starts with an empty history over a log that
 * existed, unless told to with ENDERCOMPUTE_NEW_LOG=1. A healthy log, after a clean stop
 * or a kill -9, still starts.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, openSync, closeSync, rmSync, statSync, truncateSync, writeSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { getJson, postJson } from '../support/rest';
import { runServerUntilExit, type ServerExit } from '../support/server-exit';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

const PAGE = 65_536;

describe('A damaged embedded log at start', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  let original: string;

  before(async () => {
    // A log of several pages, written by a server that then stopped cleanly (so the
    // whole log is in events.db, none left in a -wal file), with its runner-id beside it.
    original = mkdtempSync(join(tmpdir(), 'endercompute-damage-'));
    dirs.push(original);
    const server = await startServer({ dataDir: original });
    for (let i = 0; i < 6; i++) {
      await postJson(server, '/api/scripts', { name: `big-${i}`, interpreter: 'bash', body: `# ${'x'.repeat(60_000)}\necho ${i}` }, 201);
    }
    await server.stop();
    assert.ok(statSync(join(original, 'events.db')).size >= 4 * PAGE, 'the log spans several pages');
    assert.ok(existsSync(join(original, 'runner-id')));
  });

  after(async () => {
    for (const server of servers) await server.kill();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the healthy data dir, damaged by `damage(pathOfEventsDb)`. */
  function damagedCopy(damage: (log: string) => void): { dataDir: string; log: string } {
    const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-damaged-'));
    dirs.push(dataDir);
    cpSync(original, dataDir, { recursive: true });
    const log = join(dataDir, 'events.db');
    damage(log);
    return { dataDir, log };
  }

  function assertRefused(exit: ServerExit, log: string, problem: RegExp): void {
    assert.equal(exit.code, 1, `exit code; stderr:\n${exit.stderr}`);
    assert.ok(exit.stderr.includes(`The event log ${log} `), `names the file:\n${exit.stderr}`);
    assert.match(exit.stderr, problem);
    assert.doesNotMatch(exit.stderr, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(exit.stdout, /is running at/);
  }

  const cutBy = (bytes: number) => (log: string) => truncateSync(log, statSync(log).size - bytes);

  it('refuses a log with 4 KiB cut off its end, saying it is cut short and to restore it from a backup', async () => {
    const { dataDir, log } = damagedCopy(cutBy(4096));
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is cut short: it has \d+ bytes, and its own header says \d+ .*restore the file from a backup/s);
  });

  it('refuses a log with 64 KiB (a whole page) cut off its end', async () => {
    const { dataDir, log } = damagedCopy(cutBy(PAGE));
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is cut short.*restore the file from a backup/s);
  });

  it('refuses an empty (0-byte) log, and says how to start a new one on purpose', async () => {
    const { dataDir, log } = damagedCopy((file) => truncateSync(file, 0));
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is empty \(0 bytes\).*restore the file from a backup.*ENDERCOMPUTE_NEW_LOG=1/s);
    assert.equal(statSync(log).size, 0, 'the file is left as it was');
  });

  it('refuses a missing log in a data dir a server used before', async () => {
    const { dataDir, log } = damagedCopy((file) => rmSync(file));
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is missing, but its data directory was used by a server before \(it holds runner-id[^)]*\).*ENDERCOMPUTE_NEW_LOG=1/s);
    assert.equal(existsSync(log), false, 'no empty log was created');
  });

  it('refuses a file that is not an SQLite database', async () => {
    const { dataDir, log } = damagedCopy((file) => writeFileSync(file, 'not a database\n'.repeat(10_000)));
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is not an SQLite database/);
  });

  it('refuses a log damaged inside (a page overwritten, size and header intact), as SQLite finds it on reading', async () => {
    const { dataDir, log } = damagedCopy((file) => {
      const fd = openSync(file, 'r+');
      try {
        // Every b-tree page after the first: the events table and its indexes.
        for (let page = 1; page * PAGE < statSync(file).size; page++) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, page * PAGE);
      } finally {
        closeSync(fd);
      }
    });
    const exit = await runServerUntilExit(dataDir);
    assertRefused(exit, log, /is damaged \(SQLite: .*\).*restore the file from a backup/s);
  });

  it('answers 503 naming the file when SQLite finds damage while the server runs, and health turns 503', async () => {
    // A log larger than SQLite's page cache (16 MiB with better-sqlite3), so that reading
    // it again after the damage goes to the file.
    const { dataDir, log } = damagedCopy(() => undefined);
    const store = SqliteEventStore.open(log);
    const bulk = 'x'.repeat(200_000);
    for (let i = 0; i < 120; i++) {
      await store.append(`filler-${i}`, [{ id: randomUUID(), type: 'Filler', data: { bulk }, metadata: { actor: 'test', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'test' } }], 'no_stream');
    }
    await store.close();
    const server = await startServer({ dataDir });
    servers.push(server);
    const fd = openSync(log, 'r+');
    try {
      for (let page = 1; page * PAGE < statSync(log).size; page++) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, page * PAGE);
    } finally {
      closeSync(fd);
    }
    const answer = await server.request('/api/events?limit=500');
    assert.equal(answer.status, 503);
    const body = (await answer.json()) as { message: string };
    assert.match(body.message, new RegExp(`^The event log ${log.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged \\(SQLite: .+\\)\\. Stop the server and restore the file from a backup`));
    assert.equal((await fetch(`${server.url}/api/health`)).status, 503);
    // Told on stderr too, which reaches this process apart from the answer.
    await eventually(async () => (server.output().includes(body.message) ? true : undefined), 5_000, 'the message on stderr');
    assert.doesNotMatch(server.output(), /\n\s+at /);
  });

  it('starts a new, empty log over an empty file when told to with ENDERCOMPUTE_NEW_LOG=1', async () => {
    const { dataDir } = damagedCopy((file) => truncateSync(file, 0));
    const server = await startServer({ dataDir, env: { ENDERCOMPUTE_NEW_LOG: '1' } });
    servers.push(server);
    assert.deepEqual((await getJson<{ items: unknown[] }>(server, '/api/scripts')).items, []);
  });

  it('starts on a healthy log, after a clean stop and after kill -9 with changes still in the -wal file', async () => {
    const { dataDir, log } = damagedCopy(() => undefined);
    // ENDERCOMPUTE_NEW_LOG never replaces a log that is there: it is only warned about.
    const first = await startServer({ dataDir, env: { ENDERCOMPUTE_NEW_LOG: '1' } });
    servers.push(first);
    assert.ok(first.output().includes(`Warning: ENDERCOMPUTE_NEW_LOG is set, but ${log} exists and is used as it is`), first.output());
    assert.equal((await getJson<{ items: unknown[] }>(first, '/api/scripts')).items.length, 6);
    await postJson(first, '/api/scripts', { name: 'after', interpreter: 'bash', body: 'echo after' }, 201);
    await first.kill();
    const second = await startServer({ dataDir });
    servers.push(second);
    assert.equal((await getJson<{ items: unknown[] }>(second, '/api/scripts')).items.length, 7);
  });
});
