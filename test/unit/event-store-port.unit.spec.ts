/** The pure helpers of the event store port: position order, cursors and filters. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { comparePositions, formatPosition, matchesFilter, parsePosition, type Position } from '../../src/event-store/event-store.port';

const pos = (commit: bigint, prepare: bigint = commit): Position => ({ commit, prepare });

describe('comparePositions', () => {
  it('orders by commit first', () => {
    assert.equal(comparePositions(pos(1n, 9n), pos(2n, 0n)), -1);
    assert.equal(comparePositions(pos(2n, 0n), pos(1n, 9n)), 1);
  });

  it('orders by prepare when commits agree', () => {
    assert.equal(comparePositions(pos(5n, 3n), pos(5n, 4n)), -1);
    assert.equal(comparePositions(pos(5n, 4n), pos(5n, 3n)), 1);
  });

  it('is zero for the same position', () => {
    assert.equal(comparePositions(pos(7n, 7n), pos(7n, 7n)), 0);
    assert.equal(comparePositions(pos(0n), pos(0n)), 0);
  });

  it('compares beyond 2^53 exactly', () => {
    const big = 2n ** 63n;
    assert.equal(comparePositions(pos(big), pos(big + 1n)), -1);
    assert.equal(comparePositions(pos(big + 1n), pos(big)), 1);
  });

  it('sorts positions', () => {
    const sorted = [pos(3n), pos(1n, 2n), pos(1n, 1n), pos(2n)].sort(comparePositions);
    assert.deepStrictEqual(sorted, [pos(1n, 1n), pos(1n, 2n), pos(2n), pos(3n)]);
  });
});

describe('formatPosition / parsePosition', () => {
  it('formats a position whose parts agree as one number', () => {
    assert.equal(formatPosition(pos(42n)), '42');
    assert.equal(formatPosition(pos(0n)), '0');
  });

  it('formats differing parts as commit.prepare', () => {
    assert.equal(formatPosition(pos(1024n, 980n)), '1024.980');
  });

  it('round-trips', () => {
    for (const p of [pos(0n), pos(42n), pos(1024n, 980n), pos(18446744073709551615n), pos(18446744073709551615n, 18446744073709551614n)]) {
      assert.deepStrictEqual(parsePosition(formatPosition(p)), p);
    }
  });

  it('parses "n.n" as the same position as "n"', () => {
    assert.deepStrictEqual(parsePosition('42.42'), pos(42n));
  });

  it('rejects junk', () => {
    for (const text of ['', ' ', 'abc', '-1', '1.', '.1', '1.2.3', '1e3', '0x10', ' 42', '42 ', '1,2', '+1', '1.-2', '１２', '123456789012345678901', '42\n']) {
      assert.equal(parsePosition(text), null, JSON.stringify(text));
    }
  });
});

describe('matchesFilter', () => {
  const jobEvent = { stream: 'job-1', type: 'JobCreated' };
  const runEvent = { stream: 'run-j-1-13', type: 'RunFinished' };

  it('lets everything through without a filter, or with an empty one', () => {
    assert.equal(matchesFilter(jobEvent, undefined), true);
    assert.equal(matchesFilter(jobEvent, {}), true);
  });

  it('keeps streams that start with one of the prefixes', () => {
    const filter = { streamPrefixes: ['job-', 'script-'] };
    assert.equal(matchesFilter(jobEvent, filter), true);
    assert.equal(matchesFilter(runEvent, filter), false);
    assert.equal(matchesFilter({ stream: 'jobs-x', type: 'X' }, filter), false);
    assert.equal(matchesFilter({ stream: 'my-job-1', type: 'X' }, filter), false);
  });

  it('keeps the listed event types, exactly', () => {
    const filter = { eventTypes: ['RunFinished', 'JobCreated'] };
    assert.equal(matchesFilter(runEvent, filter), true);
    assert.equal(matchesFilter(jobEvent, filter), true);
    assert.equal(matchesFilter({ stream: 'run-1', type: 'RunFinishedX' }, filter), false);
    assert.equal(matchesFilter({ stream: 'run-1', type: 'runfinished' }, filter), false);
  });

  it('needs both lists to match when both are given', () => {
    const filter = { streamPrefixes: ['run-'], eventTypes: ['RunFinished'] };
    assert.equal(matchesFilter(runEvent, filter), true);
    assert.equal(matchesFilter({ stream: 'run-1', type: 'RunStarted' }, filter), false);
    assert.equal(matchesFilter({ stream: 'job-1', type: 'RunFinished' }, filter), false);
  });

  it('matches nothing with an empty list', () => {
    assert.equal(matchesFilter(jobEvent, { streamPrefixes: [] }), false);
    assert.equal(matchesFilter(jobEvent, { eventTypes: [] }), false);
  });
});
