/**
 * The shared key's weekly schedule and its fingerprint.
 *
 * The schedule works in the server's local time, and `process.env.TZ` cannot be
 * changed reliably once Node runs, so every date here is built with the local-time
 * constructor `new Date(year, monthIndex, day, …)`: the expectations hold in any
 * time zone the tests run in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { lastMondayMidnight, nextMondayMidnight } from '../../src/auth/key-schedule';
import { keyFingerprint } from '../../src/auth/key-service';

/** Local time; `month` counts from 1 to keep the cases readable. */
const local = (year: number, month: number, day: number, h = 0, m = 0, s = 0, ms = 0): Date => new Date(year, month - 1, day, h, m, s, ms);

function assertLocalMondayMidnight(actual: Date, year: number, month: number, day: number): void {
  assert.equal(actual.getTime(), local(year, month, day).getTime(), `expected ${local(year, month, day).toString()}, got ${actual.toString()}`);
  assert.equal(actual.getDay(), 1);
  assert.deepStrictEqual([actual.getHours(), actual.getMinutes(), actual.getSeconds(), actual.getMilliseconds()], [0, 0, 0, 0]);
}

describe('key schedule', () => {
  describe('lastMondayMidnight', () => {
    it('is the same instant at exactly Monday 00:00', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 2)), 2026, 3, 2);
    });

    it('is that Monday later on Monday', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 2, 0, 0, 0, 1)), 2026, 3, 2);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 2, 23, 59, 59, 999)), 2026, 3, 2);
    });

    it('is the Monday six days earlier on a Sunday, across a month end', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 1, 12)), 2026, 2, 23);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 1, 23, 59, 59, 999)), 2026, 2, 23);
    });

    it('is the Monday of the week midweek', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 4, 15, 30)), 2026, 3, 2);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 7, 0, 0)), 2026, 3, 2);
    });

    it('reaches back across a year end', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2027, 1, 1, 8)), 2026, 12, 28);
      assertLocalMondayMidnight(lastMondayMidnight(local(2027, 1, 3, 23, 59)), 2026, 12, 28);
    });

    it('handles a leap day', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2028, 2, 29, 10)), 2028, 2, 28);
      assertLocalMondayMidnight(lastMondayMidnight(local(2028, 3, 5, 10)), 2028, 2, 28);
    });

    it('is local midnight in the week a daylight-saving change falls in (EU and US dates)', () => {
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 29, 12)), 2026, 3, 23);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 3, 31, 12)), 2026, 3, 30);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 10, 25, 12)), 2026, 10, 19);
      assertLocalMondayMidnight(lastMondayMidnight(local(2026, 11, 2, 12)), 2026, 11, 2);
    });

    it('does not change the date it is given', () => {
      const now = local(2026, 3, 4, 15, 30);
      const before = now.getTime();
      lastMondayMidnight(now);
      nextMondayMidnight(now);
      assert.equal(now.getTime(), before);
    });
  });

  describe('nextMondayMidnight', () => {
    it('is a week later at exactly Monday 00:00 (strictly after now)', () => {
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 3, 2)), 2026, 3, 9);
    });

    it('is the next day on Sunday, up to the last millisecond, across a month end', () => {
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 3, 1, 0, 0)), 2026, 3, 2);
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 3, 1, 23, 59, 59, 999)), 2026, 3, 2);
    });

    it('crosses a month end and a year end', () => {
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 1, 28, 9)), 2026, 2, 2);
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 12, 31, 23)), 2027, 1, 4);
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 12, 28, 0, 0, 0, 1)), 2027, 1, 4);
    });

    it('crosses a leap day', () => {
      assertLocalMondayMidnight(nextMondayMidnight(local(2028, 2, 29)), 2028, 3, 6);
    });

    it('lands on local midnight across a daylight-saving change', () => {
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 3, 29, 12)), 2026, 3, 30);
      assertLocalMondayMidnight(nextMondayMidnight(local(2026, 10, 25, 12)), 2026, 10, 26);
    });

    it('is always after now and at most a week later', () => {
      for (let hour = 0; hour < 24 * 8; hour += 5) {
        const now = local(2026, 12, 24, hour, 17);
        const next = nextMondayMidnight(now);
        const last = lastMondayMidnight(now);
        assert.ok(last.getTime() <= now.getTime() && now.getTime() < next.getTime(), now.toString());
        assert.equal(next.getDay(), 1);
        assert.ok(next.getTime() - now.getTime() <= 7 * 24 * 3600_000 + 3600_000);
      }
    });
  });
});

/**
 * The schedule evaluated in a child process started with `TZ=zone` (the only reliable
 * way to pick a zone), for local times given as [year, month (1-12), day, hour].
 * Returns `[last, next]` as UTC ISO strings per input.
 */
function scheduleInZone(zone: string, inputs: Array<[number, number, number, number]>): Array<[string, string]> {
  const modulePath = join(__dirname, '../../src/auth/key-schedule.js');
  const script = `
    const { lastMondayMidnight, nextMondayMidnight } = require(${JSON.stringify(modulePath)});
    const inputs = ${JSON.stringify(inputs)};
    process.stdout.write(JSON.stringify(inputs.map(([y, m, d, h]) => {
      const now = new Date(y, m - 1, d, h);
      return [lastMondayMidnight(now).toISOString(), nextMondayMidnight(now).toISOString()];
    })));`;
  const child = spawnSync(process.execPath, ['-e', script], { env: { TZ: zone }, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Array<[string, string]>;
}

describe('key schedule in named time zones', () => {
  it('Europe/Berlin: Monday midnight on both sides of both daylight-saving changes', () => {
    assert.deepStrictEqual(
      scheduleInZone('Europe/Berlin', [
        [2026, 3, 29, 12],
        [2026, 3, 31, 12],
        [2026, 10, 25, 12],
        [2026, 12, 31, 23],
      ]),
      [
        ['2026-03-22T23:00:00.000Z', '2026-03-29T22:00:00.000Z'],
        ['2026-03-29T22:00:00.000Z', '2026-04-05T22:00:00.000Z'],
        ['2026-10-18T22:00:00.000Z', '2026-10-25T23:00:00.000Z'],
        ['2026-12-27T23:00:00.000Z', '2027-01-03T23:00:00.000Z'],
      ],
    );
  });

  it('America/New_York: Monday midnight across the US changes', () => {
    assert.deepStrictEqual(
      scheduleInZone('America/New_York', [
        [2026, 3, 8, 12],
        [2026, 11, 1, 12],
      ]),
      [
        ['2026-03-02T05:00:00.000Z', '2026-03-09T04:00:00.000Z'],
        ['2026-10-26T04:00:00.000Z', '2026-11-02T05:00:00.000Z'],
      ],
    );
  });

  it(
    'Asia/Beirut and Atlantic/Azores: Monday midnight when the Sunday starts at 01:00 (midnight skipped)',

    () => {
      // Beirut: UTC+2 before, UTC+3 after 2026-03-29 00:00. Azores: UTC-1 before, UTC+0 after.
      assert.deepStrictEqual(scheduleInZone('Asia/Beirut', [[2026, 3, 29, 12]]), [['2026-03-22T22:00:00.000Z', '2026-03-29T21:00:00.000Z']]);
      assert.deepStrictEqual(scheduleInZone('Atlantic/Azores', [[2026, 3, 29, 12]]), [['2026-03-23T01:00:00.000Z', '2026-03-30T00:00:00.000Z']]);
    },
  );
});

describe('keyFingerprint', () => {
  const key = 'correct-horse-battery-staple';

  it('is 16 lowercase hex characters', () => {
    assert.match(keyFingerprint(key), /^[0-9a-f]{16}$/);
    assert.match(keyFingerprint(''), /^[0-9a-f]{16}$/);
  });

  it('is stable: the same key always gives the same, known fingerprint', () => {
    assert.equal(keyFingerprint(key), 'f17faa1883d4b6d1');
    assert.equal(keyFingerprint(key), keyFingerprint(`${key}`));
  });

  it('tells keys apart, even ones that differ in one character', () => {
    assert.notEqual(keyFingerprint(key), keyFingerprint('correct-horse-battery-staplf'));
    assert.notEqual(keyFingerprint('a'.repeat(32)), keyFingerprint('a'.repeat(33)));
  });

  it('does not contain the key, nor the plain SHA-256 of it', () => {
    const hexKey = '0123456789abcdef0123';
    assert.ok(!keyFingerprint(hexKey).includes(hexKey.slice(0, 16)));
    assert.ok(!keyFingerprint(key).includes(key));
    assert.notEqual(keyFingerprint(key), createHash('sha256').update(key).digest('hex').slice(0, 16));
  });
});
