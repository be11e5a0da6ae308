/**
 * The transfer command, run as users run it (`node dist/src/tools/transfer-log.js`):
 * an embedded log → EventStoreDB (the double) → a new embedded log, equal in every
 * event's id, stream, revision, type, data and metadata, and in order; re-runs that
 * copy nothing, a transfer that resumes, and refusals that write nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EsdbEventStore } from '../../src/event-store/esdb-event-store';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';

const TOOL = resolve(__dirname, '../../src/tools/transfer-log.js');
const dir = mkdtempSync(join(tmpdir(), 'endercompute-transfer-'));

function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [TOOL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

let at = Date.parse('2025-01-06T09:00:00.000Z');
function event(type: string, data: object, extra: Record<string, unknown> = {}): NewEvent {
  at += 1;
  return {
    id: randomUUID(),
    type,
    data,
    metadata: { actor: 'zoë', at: new Date(at).toISOString(), correlationId: randomUUID(), causationId: null, source: 'api', ...extra },
  };
}

/** A log shaped like a server's: interleaved streams, a long stream, large output batches, odd characters. */
async function seed(store: EventStore): Promise<number> {
  let count = 0;
  const append = async (stream: string, events: NewEvent[], expected: 'no_stream' | bigint) => {
    await store.append(stream, events, expected);
    count += events.length;
  };
  await append('script-s1', [event('ScriptCreated', { scriptId: 's1', name: 'Build ✓', interpreter: 'bash', body: 'echo "é\u0000"\n' })], 'no_stream');
  await append('names-script-abc', [event('NameReserved', { kind: 'script', name: 'Build ✓', ownerId: 's1' })], 'no_stream');
  await append('job-j1', [event('JobCreated', { jobId: 'j1', name: 'Nightly', args: ['--a b'], env: { K: 'v' }, tags: [], timeoutSeconds: null })], 'no_stream');
  for (let r = 1; r <= 3; r++) {
    await append(`run-j1-${r}`, [event('RunRequested', { runId: `j1-${r}`, number: r }, { runner: null }), event('RunClaimed', { runId: `j1-${r}`, runner: 'a' })], 'no_stream');
  }
  // Output of three runs, interleaved as concurrent runs write it; two batches of ~300 KiB each.
  const big = randomBytes(300 * 1024).toString('base64');
  for (let i = 0; i < 6; i++) {
    const r = (i % 3) + 1;
    await append(`run-j1-${r}`, [event('RunOutputAppended', { offset: i, data: i < 2 ? big : 'aGk=', pieces: [{ stream: 'stdout', length: 2 }] }, { causationId: randomUUID() })], BigInt(1 + Math.floor(i / 3)));
  }
  // One long stream, longer than one append of the copy.
  const chunk = Array.from({ length: 700 }, (_, i) => event('BlobChunkStored', { sha256: 'f'.repeat(64), index: i, data: 'AA==' }));
  for (let i = 0; i < chunk.length; i += 100) await append('blob-f', chunk.slice(i, i + 100), i === 0 ? 'no_stream' : BigInt(i - 1));
  await append('keys-shared', [event('KeyRotated', { fingerprint: '0123456789abcdef' }, { actor: 'system', source: 'system' })], 'no_stream');
  return count;
}

/** Everything a transfer must keep, in log order. */
async function contents(store: EventStore): Promise<Array<Omit<RecordedEvent, 'position'>>> {
  return (await store.readAll()).map(({ id, stream, revision, type, data, metadata }) => ({ id, stream, revision, type, data, metadata }));
}

/** The contents of a store this test opens only to read them. */
async function contentsThenClose(store: EventStore): ReturnType<typeof contents> {
  try {
    return await contents(store);
  } finally {
    await store.close();
  }
}

describe('transfer-log: moving a log between the embedded store and EventStoreDB', () => {
  let double: EsdbDouble;
  let source: SqliteEventStore;
  let original: Awaited<ReturnType<typeof contents>>;
  let total = 0;
  const sourceSpec = `sqlite:${join(dir, 'source.db')}`;

  before(async () => {
    double = await startEsdbDouble();
    source = SqliteEventStore.open(join(dir, 'source.db'));
    total = await seed(source);
    original = await contents(source);
  });
  after(async () => {
    await source.close();
    await double.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies SQLite → EventStoreDB → SQLite with ids, streams, revisions, types, data, metadata and order intact', async () => {
    assert.equal(total, 716);
    const there = await run('--from', sourceSpec, '--to', double.connectionString);
    assert.equal(there.stderr, '');
    assert.equal(there.code, 0);
    assert.equal(there.stdout, `Copying ${sourceSpec} → EventStoreDB at 127.0.0.1:${double.port}\n${firstProgressLine(there.stdout)}Done: 716/716 events (100%) in 8 streams: 716 copied, 0 already there.\n`);
    assert.deepEqual(await contentsThenClose(EsdbEventStore.connect(double.connectionString)), original);

    const backSpec = `sqlite:${join(dir, 'back.db')}`;
    const back = await run('--from', double.connectionString, '--to', backSpec);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /Done: 716\/716 events \(100%\) in 8 streams: 716 copied, 0 already there\.\n$/);
    assert.deepEqual(await contentsThenClose(SqliteEventStore.open(join(dir, 'back.db'))), original);
  });

  it('copies nothing when run again, on both stores', async () => {
    const storedBefore = double.log.length;
    const again = await run('--from', sourceSpec, '--to', double.connectionString);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Done: 716\/716 events \(100%\) in 8 streams: 0 copied, 716 already there\.\n$/);
    assert.equal(double.log.length, storedBefore);
    const back = await run('--from', double.connectionString, '--to', `sqlite:${join(dir, 'back.db')}`);
    assert.match(back.stdout, /0 copied, 716 already there\.\n$/);
  });

  it('finishes a transfer that was cut short', async () => {
    const partial = SqliteEventStore.open(join(dir, 'partial.db'));
    // What a transfer stopped after 400 events leaves: a prefix of the log, in order.
    for (const e of original.slice(0, 400)) await partial.append(e.stream, [e], e.revision === 0n ? 'no_stream' : e.revision - 1n);
    await partial.close();
    const dry = await run('--from', sourceSpec, '--to', `sqlite:${join(dir, 'partial.db')}`, '--dry-run');
    assert.match(dry.stdout, /Would copy 316 of 716 events; 400 are already there\.\n$/);
    const rest = await run('--from', sourceSpec, '--to', `sqlite:${join(dir, 'partial.db')}`);
    assert.match(rest.stdout, /316 copied, 400 already there\.\n$/);
    assert.deepEqual(await contentsThenClose(SqliteEventStore.open(join(dir, 'partial.db'))), original);
  });

  it('refuses, writing nothing, when the target holds other events in the same streams', async () => {
    const other = SqliteEventStore.open(join(dir, 'other.db'));
    const foreign = event('JobCreated', { jobId: 'j1', name: 'Someone else' });
    await other.append('job-j1', [foreign], 'no_stream');
    await other.close();
    const refused = await run('--from', sourceSpec, '--to', `sqlite:${join(dir, 'other.db')}`);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `Nothing was copied: 1 stream(s) cannot be transferred as they are:\n  - job-j1: the target holds another event at revision 0 (JobCreated ${foreign.id})\n`,
    );
    assert.deepEqual((await contentsThenClose(SqliteEventStore.open(join(dir, 'other.db')))).map((e) => e.id), [foreign.id]);
  });

  it('leaves out streams deleted on EventStoreDB (still in $all until a scavenge)', async () => {
    const own = await startEsdbDouble();
    try {
      const store = EsdbEventStore.connect(own.connectionString);
      await store.append('run-x-1', [event('RunRequested', { runId: 'x-1' })], 'no_stream');
      await store.append('output-x-1', [event('RunOutputAppended', { runId: 'x-1', offset: 0, length: 2, lines: 0, encoding: 'none', data: 'aGk=' })], 'no_stream');
      await store.append('run-x-1', [event('RunOutputExpired', { runId: 'x-1', by: 'age' })], 0n);
      await store.deleteStream('output-x-1');
      assert.equal((await store.readAll()).filter((e) => e.stream === 'output-x-1').length, 1, 'still in $all');
      await store.close();
      const target = join(dir, 'without-deleted.db');
      const copied = await run('--from', own.connectionString, '--to', `sqlite:${target}`);
      assert.equal(copied.code, 0, copied.stderr);
      assert.match(copied.stdout, /Done: 2\/2 events \(100%\) in 1 streams: 2 copied, 0 already there\.\n$/);
      assert.deepEqual((await contentsThenClose(SqliteEventStore.open(target))).map((e) => `${e.stream}/${e.type}`), ['run-x-1/RunRequested', 'run-x-1/RunOutputExpired']);
    } finally {
      await own.stop();
    }
  });

  it('explains its arguments', async () => {
    const missing = await run('--from', sourceSpec);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^Give both --from and --to\n\nMoves an EnderCompute event log/);
    const noSource = await run('--from', `sqlite:${join(dir, 'nope.db')}`, '--to', double.connectionString);
    assert.equal(noSource.code, 2);
    assert.match(noSource.stderr, /^The source .*nope\.db does not exist\n/);
    const unknown = await run('--from', 'mysql://x', '--to', sourceSpec);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /A store is sqlite:<path> or an esdb:\/\/ connection string, not "mysql:\/\/x"/);
  });
});

/** The throttled progress line a non-terminal gets first (its numbers depend on timing). */
function firstProgressLine(stdout: string): string {
  const match = /\n(\d+\/716 events \(\d+%\) in 8 streams: \d+ copied, 0 already there\n)/.exec(stdout);
  return match ? match[1] : '';
}
