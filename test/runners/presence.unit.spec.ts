import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideContact, decideTimeout, isOnline, presenceTiming } from '../../src/runners/presence.decider';
import type { RunnerRecord } from '../../src/runners/runners.read-model';

const report = { labels: ['linux'], softwareVersion: '1.0.0', maxConcurrent: 4, running: ['r1'] };
const at = (iso: string): Date => new Date(iso);
const record = (overrides: Partial<RunnerRecord> = {}): RunnerRecord => ({
  name: 'a',
  registered: true,
  registeredAt: null,
  registeredBy: null,
  revokedAt: null,
  revokedBy: null,
  kind: 'remote',
  labels: ['linux'],
  softwareVersion: '1.0.0',
  maxConcurrent: 4,
  connected: true,
  lastContactAt: '2026-01-01T00:00:00.000Z',
  disconnectReason: null,
  ...overrides,
});

describe('presence timing', () => {
  it('renews a lease once a minute, or at half the lost time when that is shorter', () => {
    assert.deepEqual(presenceTiming(120), { leaseMs: 60_000, lostMs: 120_000 });
    assert.deepEqual(presenceTiming(600), { leaseMs: 60_000, lostMs: 600_000 });
    assert.deepEqual(presenceTiming(3), { leaseMs: 1500, lostMs: 3000 });
  });
});

describe('decideContact', () => {
  const timing = presenceTiming(120);
  it('connects a runner never seen, one back after being offline, and one that reports other labels, version, capacity or kind', () => {
    const now = at('2026-01-01T00:00:10Z');
    assert.equal(decideContact(null, 'a', 'remote', report, now, timing)?.type, 'RunnerConnected');
    assert.equal(decideContact(record({ connected: false }), 'a', 'remote', report, now, timing)?.type, 'RunnerConnected');
    for (const changed of [{ labels: ['linux', 'gpu'] }, { softwareVersion: '1.0.1' }, { maxConcurrent: 8 }]) {
      assert.equal(decideContact(record(), 'a', 'remote', { ...report, ...changed }, now, timing)?.type, 'RunnerConnected', JSON.stringify(changed));
    }
    assert.equal(decideContact(record(), 'a', 'local', report, now, timing)?.type, 'RunnerConnected');
    assert.deepEqual(decideContact(null, 'a', 'remote', { ...report, labels: [' x', 'GPU', 'x', '', 'gpu'] }, now, timing)?.data, {
      name: 'a',
      kind: 'remote',
      labels: ['x', 'gpu'],
      softwareVersion: '1.0.0',
      maxConcurrent: 4,
      running: ['r1'],
    });
  });

  it('records nothing while the lease runs (the same labels in another order included), and a RunnerSeen once it is due', () => {
    assert.equal(decideContact(record(), 'a', 'remote', report, at('2026-01-01T00:00:59.999Z'), timing), null);
    assert.equal(decideContact(record({ labels: ['b', 'a'] }), 'a', 'remote', { ...report, labels: ['a', 'b'] }, at('2026-01-01T00:00:30Z'), timing), null);
    assert.deepEqual(decideContact(record(), 'a', 'remote', report, at('2026-01-01T00:01:00Z'), timing), { type: 'RunnerSeen', data: { name: 'a', running: ['r1'] } });
  });
});

describe('isOnline and decideTimeout', () => {
  const timing = presenceTiming(120);
  const last = Date.parse('2026-01-01T00:00:00Z');
  it('keeps a connected runner online for the lost time after its last contact, then times it out', () => {
    assert.equal(isOnline(record(), last, at('2026-01-01T00:01:59.999Z'), timing), true);
    assert.equal(isOnline(record(), last, at('2026-01-01T00:02:00Z'), timing), false);
    assert.equal(decideTimeout(record(), last, at('2026-01-01T00:01:59Z'), timing), null);
    assert.deepEqual(decideTimeout(record(), last, at('2026-01-01T00:02:00Z'), timing), { type: 'RunnerDisconnected', data: { name: 'a', reason: 'timed out' } });
  });

  it('never times out a runner that is not connected, and counts one without contact offline', () => {
    assert.equal(decideTimeout(record({ connected: false }), last, at('2026-01-02T00:00:00Z'), timing), null);
    assert.equal(isOnline(record({ connected: false }), last, at('2026-01-01T00:00:01Z'), timing), false);
    assert.equal(isOnline(record(), null, at('2026-01-01T00:00:01Z'), timing), false);
  });
});
