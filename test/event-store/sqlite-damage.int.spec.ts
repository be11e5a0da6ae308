/**
 * Damage the embedded store finds while it runs: SQLite's SQLITE_CORRUPT on a read or an
 * append becomes EventLogDamagedError, which names the file and says what to do, and is
 * an UnavailableError (so HTTP answers 503 with that message, never a stack trace).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { NewEvent } from '../../src/event-store/event-store.port';
import { EventLogDamagedError } from '../../src/event-store/sqlite/log-file-check';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { UnavailableError } from '../../src/shared/domain-errors';

const PAGE = 65_536;

function event(size: number): NewEvent {
  return { id: randomUUID(), type: 'Filler', data: { text: 'x'.repeat(size) }, metadata: { actor: 'test', at: '2024-01-01T00:00:00.000Z', correlationId: randomUUID(), causationId: null, source: 'test' } };
}

describe('SqliteEventStore on a file damaged inside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'endercompute-sqlite-damage-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports SQLITE_CORRUPT on reads and appends as EventLogDamagedError naming the file', async () => {
    const file = join(dir, 'events.db');
    const store = SqliteEventStore.open(file);
    for (let i = 0; i < 8; i++) await store.append(`filler-${i}`, [event(50_000)], 'no_stream');
    await store.close();
    // Every page after the first (the schema): the events table and its indexes.
    const fd = openSync(file, 'r+');
    for (let page = 1; page * PAGE < statSync(file).size; page++) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, page * PAGE);
    closeSync(fd);

    const reopened = SqliteEventStore.open(file);
    try {
      const expectDamage = (error: unknown): boolean => {
        assert.ok(error instanceof EventLogDamagedError, `got ${String(error)}`);
        assert.ok(error instanceof UnavailableError);
        assert.match(error.message, new RegExp(`^The event log ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged \\(SQLite: .+\\)\\. Stop the server and restore the file from a backup`));
        return true;
      };
      await assert.rejects(reopened.readAll(), expectDamage);
      await assert.rejects(reopened.readStream('filler-3'), expectDamage);
      await assert.rejects(reopened.append('filler-3', [event(10)], 0n), expectDamage);
      const subscription = reopened.subscribeAll();
      await assert.rejects(subscription[Symbol.asyncIterator]().next(), expectDamage);
      await subscription.close();
    } finally {
      await reopened.close();
    }
  });
});
