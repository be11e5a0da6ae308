/** The retention rules as a pure function: which finished runs' output expires, and by which rule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outputsToExpire, sweepIntervalMs, type RetentionCandidate } from '../../src/runs/retention/output-retention.rules';

const NOW = new Date('2026-05-10T12:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const ago = (days: number): string => new Date(NOW.getTime() - days * DAY).toISOString();

function run(jobId: string, number: number, finishedDaysAgo: number | null, expired = false): RetentionCandidate {
  return { id: `${jobId}-${number}`, jobId, number, finishedAt: finishedDaysAgo === null ? null : ago(finishedDaysAgo), outputExpiredAt: expired ? ago(0) : null };
}

describe('outputsToExpire', () => {
  it('keepRuns keeps the newest finished runs by number; queued and running runs neither count nor expire', () => {
    const runs = [run('a', 1, 5), run('a', 2, 4), run('a', 3, null), run('a', 4, 3), run('a', 5, 2), run('a', 6, null)];
    const due = outputsToExpire(runs, { keepRunsOf: (job) => (job === 'a' ? 2 : null), keepOutputDays: null }, NOW);
    assert.deepEqual(due, [{ runId: 'a-2', by: 'keepRuns' }, { runId: 'a-1', by: 'keepRuns' }]);
  });

  it('ranks by run number, not by when runs finished', () => {
    // #3 finished before #2 (it was quicker): #1 and #2 are still the oldest.
    const runs = [run('a', 1, 9), run('a', 2, 1), run('a', 3, 5)];
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => 1, keepOutputDays: null }, NOW).map((d) => d.runId).sort(), ['a-1', 'a-2']);
  });

  it('the age rule expires output finished that many days ago or more; unset keeps it forever', () => {
    const runs = [run('a', 1, 31), run('a', 2, 30), run('a', 3, 29.9), run('b', 1, 400)];
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => null, keepOutputDays: 30 }, NOW), [
      { runId: 'a-2', by: 'age' },
      { runId: 'a-1', by: 'age' },
      { runId: 'b-1', by: 'age' },
    ]);
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => null, keepOutputDays: null }, NOW), []);
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => 10, keepOutputDays: 0.5 }, NOW).length, 4, 'fractions of days count');
  });

  it('either rule suffices; keepRuns is named when both apply; each job has its own keepRuns', () => {
    const runs = [run('a', 1, 40), run('a', 2, 1), run('a', 3, 1), run('b', 1, 40), run('b', 2, 1)];
    const due = outputsToExpire(runs, { keepRunsOf: (job) => (job === 'a' ? 2 : null), keepOutputDays: 30 }, NOW);
    assert.deepEqual(due, [{ runId: 'a-1', by: 'keepRuns' }, { runId: 'b-1', by: 'age' }]);
  });

  it('runs already expired are not listed again, but still count among the newest', () => {
    const runs = [run('a', 1, 5), run('a', 2, 4, true), run('a', 3, 3)];
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => 2, keepOutputDays: null }, NOW), [{ runId: 'a-1', by: 'keepRuns' }]);
    assert.deepEqual(outputsToExpire(runs, { keepRunsOf: () => 1, keepOutputDays: null }, NOW), [{ runId: 'a-1', by: 'keepRuns' }]);
  });
});

describe('sweepIntervalMs', () => {
  it('a tenth of the kept time, between 1 s and 1 min; 1 min without an age rule', () => {
    assert.equal(sweepIntervalMs(null), 60_000);
    assert.equal(sweepIntervalMs(30), 60_000);
    assert.equal(sweepIntervalMs(0.00001), 1_000);
    assert.equal(sweepIntervalMs(0.0005), 4_320);
  });
});
