import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { KEY_STREAM, keyFingerprint, KeyService } from '../../src/auth/key-service';
import { loadConfig } from '../../src/config/app-config';
import type { EventStore } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { Clock } from '../../src/shared/clock';
import { RandomIdGenerator } from '../../src/shared/ids';

class FixedClock extends Clock {
  constructor(public current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
}

describe('KeyService: the generated key and its Monday renewal', () => {
  let dataDir: string;
  let store: EventStore;
  const services: KeyService[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'endercompute-keys-'));
    store = SqliteEventStore.open(join(dataDir, 'events.db'));
  });
  afterEach(async () => {
    for (const service of services.splice(0)) service.onApplicationShutdown();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  after(() => undefined);

  const keyService = (clock: Clock, env: Record<string, string> = {}): KeyService => {
    const service = new KeyService(loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir, ...env }), store, clock, new RandomIdGenerator());
    services.push(service);
    return service;
  };

  it('generates a key on first start, keeps it in a private file, and records only its fingerprint', async () => {
    const service = keyService(new FixedClock(new Date(2026, 10, 25, 12, 0)));
    await service.start();
    const key = service.currentKey;
    assert.ok(key.length >= 32);
    assert.deepEqual(service.verify(key), { valid: true, name: null });
    assert.deepEqual(service.verify(`${key}x`), { valid: false });
    const file = join(dataDir, 'key.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).key, key);
    const events = await store.readStream(KEY_STREAM);
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'KeyRotated');
    assert.deepEqual(events[0].data, { fingerprint: keyFingerprint(key), reason: 'generated', validUntil: new Date(2026, 10, 30).toISOString() });
    assert.equal(events[0].metadata.actor, 'system');
    assert.ok(!JSON.stringify(events.map((e) => [e.data, e.metadata])).includes(key), 'the key itself is not in the log');
  });

  it('keeps the key through restarts in the same week, and renews it once a Monday has passed', async () => {
    const clock = new FixedClock(new Date(2026, 10, 25, 12, 0)); // a Wednesday
    const first = keyService(clock);
    await first.start();
    const key = first.currentKey;

    clock.current = new Date(2026, 10, 29, 23, 59); // Sunday night: same week
    const sameWeek = keyService(clock);
    await sameWeek.start();
    assert.equal(sameWeek.currentKey, key);

    clock.current = new Date(2026, 10, 30, 0, 1); // Monday 00:01
    const nextWeek = keyService(clock);
    await nextWeek.start();
    assert.notEqual(nextWeek.currentKey, key);
    assert.deepEqual(nextWeek.verify(key), { valid: false }, 'the old key stops working');
    const reasons = (await store.readStream(KEY_STREAM)).map((event) => (event.data as { reason: string }).reason);
    assert.deepEqual(reasons, ['generated', 'renewed']);
  });

  it('uses a fixed key as given, never renews it, and checks named keys', async () => {
    const service = keyService(new FixedClock(new Date()), { ENDERCOMPUTE_KEY: 'fixed-key-0123456789', ENDERCOMPUTE_KEYS: 'bob=bob-key-0123456789abc' });
    await service.start();
    assert.deepEqual(service.verify('fixed-key-0123456789'), { valid: true, name: null });
    assert.deepEqual(service.verify('bob-key-0123456789abc'), { valid: true, name: 'bob' });
    assert.deepEqual(service.verify(''), { valid: false });
    assert.equal((await store.readStream(KEY_STREAM)).length, 0);
  });

  it('replaces a damaged key file with a new key', async () => {
    writeFileSync(join(dataDir, 'key.json'), '{"key": 5}');
    const service = keyService(new FixedClock(new Date()));
    await service.start();
    assert.ok(service.currentKey.length >= 32);
  });
});
