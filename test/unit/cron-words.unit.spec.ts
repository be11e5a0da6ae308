/** Schedules in words and their next times (src/schedules/cron-words.ts, cron.ts): pure, no clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scheduleProblems, upcomingSlots } from '../../src/schedules/cron';
import { cronInWords } from '../../src/schedules/cron-words';

describe('schedules in words', () => {
  it('puts five- and six-field patterns and the @ names in words, lower-case first, in 24-hour time', () => {
    assert.equal(cronInWords('*/2 * * * *'), 'every 2 minutes');
    assert.equal(cronInWords('30 2 * * 1-5'), 'at 02:30, Monday through Friday');
    assert.equal(cronInWords('30 14 * * *'), 'at 14:30');
    assert.equal(cronInWords('*/10 * * * * *'), 'every 10 seconds');
    assert.equal(cronInWords('@daily'), 'at 00:00');
    assert.equal(cronInWords('@hourly'), 'every hour');
    assert.equal(cronInWords('not a cron'), null, 'no words rather than an exception');
  });

  it('answers the next times after a moment, in the schedule’s own zone', () => {
    const after = new Date('2026-03-28T23:00:00Z');
    const times = upcomingSlots({ cron: '30 2 * * *', timeZone: 'Europe/Berlin' }, after, 3).map((date) => date.toISOString());
    // 29 March 2026 skips 02:00–03:00 in Berlin (croner decides that day's slot); the days after are 02:30 summer time, 00:30 UTC.
    assert.equal(times.length, 3);
    assert.deepEqual(times.slice(1), ['2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
  });

  it('reports the cron’s and the time zone’s problems of one schedule together', () => {
    const problems = scheduleProblems([{ cron: '* *', timeZone: 'Nowhere/Atlantis' }]);
    assert.deepEqual(problems, [
      'schedules[0].timeZone must be an IANA time zone such as "UTC" or "Europe/Berlin": "Nowhere/Atlantis" is not one',
      'schedules[0].cron "* *" is not a valid cron expression: it needs five fields (minute, hour, day of month, month, day of week), six with seconds first, or a name such as @daily',
    ]);
  });
});
