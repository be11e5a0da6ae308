/**
 * The SQLite event store: the shared contract (with reopen), then what only this
 * adapter has: its pragmas, group commit, paging, close and crash durability.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EventStoreUnavailableError, StreamConflictError, type EventStore, type NewEvent, type RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { isDiskFull } from '../../src/shared/storage-full';
import { eventStoreContract } from './event-store.contract';

const dir = mkdtempSync(join(tmpdir(), 'endercompute-sqlite-store-'));
let fileCount = 0;
const newFile = (): string => join(dir, `store-${(fileCount += 1)}`, 'events.db');

after(() => rmSync(dir, { recursive: true, force: true }));

eventStoreContract('sqlite', {
  open: async () => SqliteEventStore.open(newFile()),
  reopen: async (store) => {
    assert.ok(store instanceof SqliteEventStore);
    await store.close();
    return SqliteEventStore.open(store.filePath);
  },
});

function event(type: string, data: object = {}): NewEvent {
  return { id: randomUUID(), type, data, metadata: { actor: 'test', at: '2024-01-01T00:00:00.000Z', correlationId: randomUUID(), causationId: null, source: 'test' } };
}

/** Reads a subscription until `count` events arrived, then closes it. */
async function drain(store: EventStore, count: number, options: Parameters<EventStore['subscribeAll']>[0] = {}): Promise<RecordedEvent[]> {
  const received: RecordedEvent[] = [];
  for await (const e of store.subscribeAll(options)) {
    received.push(e);
    if (received.length === count) break;
  }
  return received;
}

describe('SqliteEventStore', () => {
  let store: SqliteEventStore;
  before(() => {
    store = SqliteEventStore.open(newFile());
  });
  after(() => store.close());

  describe('opening', () => {
    it('runs with WAL, synchronous FULL, a busy timeout and a 2 MiB page cache', () => {
      assert.deepEqual(store.readPragmas(), { journalMode: 'wal', synchronous: 2, busyTimeoutMs: 5000, cacheKib: 2000 });
    });

    it('creates missing parent directories and the schema, with the constraints the store relies on', async () => {
      const file = join(dir, 'deep', 'er', 'still', 'events.db');
      const fresh = SqliteEventStore.open(file);
      await fresh.close();
      assert.ok(existsSync(file));
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', 'WAL is recorded in the file');
        const columns = (db.pragma('table_info(events)') as Array<{ name: string; type: string; pk: number }>).map((c) => [c.name, c.type, c.pk]);
        assert.deepEqual(columns, [
          ['position', 'INTEGER', 1], ['id', 'TEXT', 0], ['stream', 'TEXT', 0], ['revision', 'INTEGER', 0], ['type', 'TEXT', 0], ['metadata', 'TEXT', 0], ['data', 'TEXT', 0],
        ]);
        const uniques = (db.pragma('index_list(events)') as Array<{ name: string; unique: number }>)
          .filter((index) => index.unique === 1)
          .map((index) => (db.pragma(`index_info(${JSON.stringify(index.name)})`) as Array<{ name: string }>).map((c) => c.name).join(','))
          .sort();
        assert.deepEqual(uniques, ['id', 'stream,revision']);
        const autoincrement = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_sequence'").get() as { n: number };
        assert.equal(autoincrement.n, 1, 'positions use AUTOINCREMENT');
      } finally {
        db.close();
      }
    });
  });

  describe('deleting streams', () => {
    /** Bytes of the file plus its WAL after a checkpoint: what the log occupies on disk. */
    const onDisk = (file: string): number => {
      const db = new Database(file);
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        db.close();
      }
      return statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    };

    it('a new log uses incremental auto-vacuum and gives the pages of a deleted stream back', async () => {
      const file = newFile();
      const own = SqliteEventStore.open(file);
      try {
        await own.append('run-a', [event('Fact')], 'no_stream');
        for (let i = 0; i < 8; i++) await own.append('output-a', [event('Out', { bytes: randomBytes(200_000).toString('base64') })], i === 0 ? 'no_stream' : BigInt(i - 1));
        const full = onDisk(file);
        await own.deleteStream('output-a');
        const after = onDisk(file);
        const check = new Database(file, { readonly: true });
        assert.equal(Number(check.pragma('auto_vacuum', { simple: true })), 2, 'auto_vacuum = INCREMENTAL');
        check.close();
        assert.ok(after < full / 4, `the file shrank from ${full} to ${after} bytes`);
        assert.equal((await own.readStream('run-a')).length, 1);
      } finally {
        await own.close();
      }
    });

    it('under steady retention (write one output, delete the one before) the file stops growing', { timeout: 60_000 }, async () => {
      const file = newFile();
      const own = SqliteEventStore.open(file);
      const sizes: number[] = [];
      try {
        for (let run = 0; run < 12; run++) {
          await own.append(`run-${run}`, [event('Fact')], 'no_stream');
          for (let i = 0; i < 4; i++) await own.append(`output-${run}`, [event('Out', { bytes: randomBytes(150_000).toString('base64') })], i === 0 ? 'no_stream' : BigInt(i - 1));
          if (run > 0) await own.deleteStream(`output-${run - 1}`);
          sizes.push(onDisk(file));
        }
      } finally {
        await own.close();
      }
      const settled = sizes.slice(3);
      assert.ok(Math.max(...settled) <= settled[0] * 1.2, `sizes after the first runs: ${settled.join(', ')}`);
    });
  });

  describe('group commit', () => {
    it('commits many concurrent appends to different streams in one transaction', async () => {
      const before = store.groupCommitStats;
      const streams = Array.from({ length: 200 }, (_, i) => `group-${randomUUID()}-${i}`);
      const results = await Promise.all(streams.map((stream) => store.append(stream, [event('Output')], 'no_stream')));
      const stats = store.groupCommitStats;
      assert.deepEqual(stats, { transactions: before.transactions + 1, appends: before.appends + 200 });
      // One transaction, in call order: the positions are consecutive.
      const first = results[0].position.commit;
      assert.deepEqual(results.map((r) => r.position.commit), results.map((_, i) => first + BigInt(i)));
      for (const stream of streams) assert.equal((await store.readStream(stream)).length, 1);
    });

    it('a failing append in a group rolls back only itself', async () => {
      const existing = `group-${randomUUID()}`;
      const taken = event('Taken');
      await store.append(existing, [taken], 'no_stream');
      const before = store.groupCommitStats;

      const partial = `group-${randomUUID()}`;
      const [a, conflict, c, duplicate, chained, chainedNext] = await Promise.allSettled([
        store.append(`group-${randomUUID()}`, [event('A')], 'no_stream'),
        store.append(existing, [event('B')], 'no_stream'),
        store.append(`group-${randomUUID()}`, [event('C'), event('C')], 'any'),
        // Its second event reuses a stored id: the first, already inserted, must go too.
        store.append(partial, [event('D'), { ...event('D'), id: taken.id }], 'no_stream'),
        store.append(`${existing}-chain`, [event('E')], 'no_stream'),
        store.append(`${existing}-chain`, [event('F')], 0n),
      ]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(c.status, 'fulfilled');
      assert.equal(chained.status, 'fulfilled');
      assert.equal(chainedNext.status, 'fulfilled', 'an append sees the earlier appends of its own group');
      assert.ok(conflict.status === 'rejected' && conflict.reason instanceof StreamConflictError && conflict.reason.actual === 0n);
      assert.ok(duplicate.status === 'rejected' && duplicate.reason instanceof Error && /already stored/.test(duplicate.reason.message), String(duplicate.status === 'rejected' && duplicate.reason));
      assert.deepEqual(await store.readStream(partial), []);
      assert.equal((await store.readStream(existing)).length, 1);
      assert.equal(c.status === 'fulfilled' && c.value.nextRevision, 1n);
      assert.deepEqual(store.groupCommitStats, { transactions: before.transactions + 1, appends: before.appends + 6 });
    });

    it('fails the whole group as "disk full" when the file cannot grow (SQLite then rolls the transaction back itself)', async () => {
      const full = SqliteEventStore.open(newFile());
      try {
        await full.append('before', [event('Stored')], 'no_stream');
        // The store's own connection: its file may not grow any more (as on a full disk, SQLITE_FULL).
        const db = (full as unknown as { db: Database.Database }).db;
        const pages = Number(db.pragma('page_count', { simple: true }));
        db.pragma(`max_page_count = ${pages + 2}`);
        const [small, large] = await Promise.allSettled([
          full.append('small', [event('Small')], 'no_stream'),
          full.append('large', [event('Large', { text: 'x'.repeat(1024 * 1024) })], 'no_stream'),
        ]);
        for (const outcome of [small, large]) {
          assert.ok(outcome.status === 'rejected', 'nothing of the group is stored');
          assert.ok(outcome.reason instanceof EventStoreUnavailableError, String(outcome.reason));
          assert.equal(isDiskFull(outcome.reason), true, `said as a full disk: ${(outcome.reason as Error).message}`);
          assert.doesNotMatch((outcome.reason as Error).message, /savepoint/);
        }
        db.pragma('max_page_count = 4294967294');
        assert.deepEqual(await full.readStream('small'), []);
        await full.append('small', [event('Small')], 'no_stream');
        assert.deepEqual((await full.readStream('before')).map((stored) => stored.type), ['Stored']);
      } finally {
        await full.close();
      }
    });
  });

  describe('append validation', () => {
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['a function in data', () => store.append('v-1', [event('T', { f: () => 1 })], 'any'), /property "f" is a function/],
      ['a symbol in data', () => store.append('v-1', [event('T', { s: Symbol('x') })], 'any'), /property "s" is a symbol/],
      ['NaN', () => store.append('v-1', [event('T', { n: Number.NaN })], 'any'), /property "n" is NaN/],
      ['Infinity in an array', () => store.append('v-1', [event('T', { list: [1, Infinity] })], 'any'), /item 1 is Infinity/],
      ['undefined in an array', () => store.append('v-1', [event('T', { list: [undefined] })], 'any'), /item 0 is undefined/],
      ['a Map', () => store.append('v-1', [event('T', { m: new Map([[1, 2]]) })], 'any'), /property "m" is a Map/],
      ['a typed array', () => store.append('v-1', [event('T', { u: new Uint8Array(2) })], 'any'), /property "u" is a Uint8Array/],
      ['a string as data', () => store.append('v-1', [{ ...event('T'), data: 'text' }], 'any'), /data must be a JSON object or array/],
      ['metadata that is an array', () => store.append('v-1', [{ ...event('T'), metadata: [] as never }], 'any'), /metadata must be an object/],
      ['an id that is not a UUID', () => store.append('v-1', [{ ...event('T'), id: 'event-1' }], 'any'), /needs a UUID id/],
      ['an empty type', () => store.append('v-1', [event('')], 'any'), /non-empty type/],
      ['the same id twice', () => { const e = event('T'); return store.append('v-1', [e, e], 'any'); }, /repeats the id/],
      ['an empty stream name', () => store.append('', [event('T')], 'any'), /stream name/],
      ['a number as expected revision', () => store.append('v-1', [event('T')], 0 as unknown as bigint), /expected revision must be/],
      ['a negative expected revision', () => store.append('v-1', [event('T')], -1n), /expected revision must be/],
    ];
    for (const [name, append, message] of cases) {
      it(`rejects ${name} with a TypeError and stores nothing`, async () => {
        await assert.rejects(append(), (error: unknown) => error instanceof TypeError && message.test(error.message));
        assert.deepEqual(await store.readStream('v-1'), []);
      });
    }

    it('drops undefined properties and stores Dates as their ISO text, as JSON does', async () => {
      const stream = `v-${randomUUID()}`;
      await store.append(stream, [event('T', { kept: 1, dropped: undefined, when: new Date('2024-05-06T07:08:09.010Z') })], 'no_stream');
      const [read] = await store.readStream(stream);
      assert.deepEqual(read.data, { kept: 1, when: '2024-05-06T07:08:09.010Z' });
    });

    it('serialises when append is called, so later changes to the objects do not leak in', async () => {
      const stream = `v-${randomUUID()}`;
      const data = { value: 'original' };
      const pending = store.append(stream, [event('T', data)], 'no_stream');
      data.value = 'changed';
      await pending;
      assert.deepEqual((await store.readStream(stream))[0].data, { value: 'original' });
    });
  });

  describe('reads and subscriptions', () => {
    it('stores a 1 MiB event and delivers it through a subscription', async () => {
      const start = (await store.headPosition()) ?? undefined;
      const stream = `big-${randomUUID()}`;
      const bytes = randomBytes(786_432).toString('base64');
      assert.equal(bytes.length, 1_048_576);
      await store.append(stream, [event('RunOutputAppended', { bytes })], 'no_stream');
      const [delivered] = await drain(store, 1, { after: start, filter: { streamPrefixes: [stream] } });
      assert.equal((delivered.data as { bytes: string }).bytes, bytes);
    });

    it('pages through a long log, filtered and not, without gap or duplicate', { timeout: 60_000 }, async () => {
      const own = SqliteEventStore.open(newFile());
      try {
        const total = 20_000;
        for (let b = 0; b < total / 500; b += 1) {
          const batch = Array.from({ length: 500 }, (_, i) => event((b * 500 + i) % 97 === 0 ? 'Rare' : 'Common', { n: b * 500 + i }));
          await own.append(`page-${b % 7}`, batch, 'any');
        }
        const numbers = (events: RecordedEvent[]): number[] => events.map((e) => (e.data as { n: number }).n);
        const all = await drain(own, total);
        assert.deepEqual(numbers(all), Array.from({ length: total }, (_, i) => i));
        const rare = await drain(own, Math.ceil(total / 97), { filter: { eventTypes: ['Rare'] } });
        assert.deepEqual(numbers(rare), Array.from({ length: Math.ceil(total / 97) }, (_, i) => i * 97));
        // A filter that matches nothing in the first scan windows must keep scanning, not wait.
        const marker = event('Marker', { n: -1 });
        await own.append('page-marker', [marker], 'no_stream');
        const [found] = await drain(own, 1, { filter: { eventTypes: ['Marker'] } });
        assert.equal(found.id, marker.id);
        // Pages of large events stop early by size; the sequence must not notice.
        const bigStream = 'page-big';
        for (let i = 0; i < 12; i += 1) await own.append(bigStream, [event('Big', { n: total + i, bytes: 'x'.repeat(1_000_000) })], 'any');
        const big = await drain(own, 12, { after: found.position, filter: { streamPrefixes: ['page-'] } });
        assert.deepEqual(numbers(big), Array.from({ length: 12 }, (_, i) => total + i));
      } finally {
        await own.close();
      }
    });
  });

  describe('closing', () => {
    it('writes appends queued before close, then refuses new work', async () => {
      const own = SqliteEventStore.open(newFile());
      const stream = `close-${randomUUID()}`;
      const pending = own.append(stream, [event('Last')], 'no_stream');
      await own.close();
      assert.equal((await pending).nextRevision, 0n);
      await assert.rejects(own.append(stream, [event('Late')], 'any'), EventStoreUnavailableError);
      await assert.rejects(own.readStream(stream), EventStoreUnavailableError);
      await assert.rejects(own.ping(), EventStoreUnavailableError);
      assert.deepEqual(await own.subscribeAll()[Symbol.asyncIterator]().next(), { done: true, value: undefined });
      await own.close();

      const reopened = SqliteEventStore.open(own.filePath);
      try {
        assert.equal((await reopened.readStream(stream)).length, 1);
      } finally {
        await reopened.close();
      }
    });

    it('keeps every acknowledged append when the process is killed with SIGKILL', { timeout: 60_000 }, async () => {
      const file = newFile();
      const moduleFile = join(__dirname, '..', '..', 'src', 'event-store', 'sqlite-event-store.js');
      const script = `
        const { SqliteEventStore } = require(${JSON.stringify(moduleFile)});
        const { randomUUID } = require('node:crypto');
        const store = SqliteEventStore.open(${JSON.stringify(file)});
        const meta = { actor: 'crash', at: '2024-01-01T00:00:00.000Z', correlationId: 'c', causationId: null, source: 'test' };
        (async () => {
          for (let i = 0; ; i += 1) {
            await store.append('crash-1', [{ id: randomUUID(), type: 'Tick', data: { i }, metadata: meta }], i === 0 ? 'no_stream' : BigInt(i - 1));
            process.stdout.write('acked ' + i + '\\n');
          }
        })();`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let lastAcked = -1;
      await new Promise<void>((resolve, reject) => {
        let buffered = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const line of lines) lastAcked = Number(line.slice('acked '.length));
          if (lastAcked >= 50 && child.exitCode === null) {
            // Kill while appends are still in flight; every "acked" already read must survive.
            child.kill('SIGKILL');
          }
        });
        child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited without being killed (${signal})`))));
        child.on('error', reject);
      });
      const reopened = SqliteEventStore.open(file);
      try {
        const events = await reopened.readStream('crash-1');
        assert.ok(events.length >= lastAcked + 1, `${events.length} events stored, ${lastAcked + 1} acknowledged`);
        assert.deepEqual(events.map((e) => (e.data as { i: number }).i), events.map((_, i) => i));
      } finally {
        await reopened.close();
      }
    });
  });
});
