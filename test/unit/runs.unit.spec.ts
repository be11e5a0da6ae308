/** Pure helpers of the runs feature: the status query and how a process exit reads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { outcomeOf } from '../../src/runs/execution/run-executor';
import type { ProcessExit } from '../../src/runs/runner/runner.types';
import { parseStatuses } from '../../src/runs/runs.controller';
import { ValidationError } from '../../src/shared/domain-errors';

describe('parseStatuses', () => {
  it('means every status when absent', () => {
    assert.equal(parseStatuses(undefined), undefined);
  });

  it('reads one status', () => {
    assert.deepStrictEqual(parseStatuses('running'), ['running']);
    assert.deepStrictEqual(parseStatuses('timed_out'), ['timed_out']);
  });

  it('expands the groups active and finished', () => {
    assert.deepStrictEqual(parseStatuses('active'), ['scheduled', 'queued', 'running', 'paused']);
    assert.deepStrictEqual(parseStatuses('finished'), ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);
  });

  it('reads a comma list in order, without duplicates', () => {
    assert.deepStrictEqual(parseStatuses('failed,queued'), ['failed', 'queued']);
    assert.deepStrictEqual(parseStatuses('running,active'), ['running', 'scheduled', 'queued', 'paused']);
    assert.deepStrictEqual(parseStatuses('failed,failed,finished'), ['failed', 'succeeded', 'cancelled', 'timed_out', 'lost']);
    assert.equal(parseStatuses('active,finished')?.length, 9);
  });

  it('refuses an unknown word with a ValidationError listing the choices', () => {
    for (const [raw, word] of [
      ['bogus', 'bogus'],
      ['running,bogus', 'bogus'],
      ['Running', 'Running'],
      ['', ''],
      ['running,', ''],
      ['all', 'all'],
    ]) {
      assert.throws(
        () => parseStatuses(raw),
        (error: unknown) => {
          assert.ok(error instanceof ValidationError, String(error));
          assert.equal(
            error.message,
            `status: "${word}" is not one of scheduled, queued, running, paused, succeeded, failed, cancelled, timed_out, lost, active, finished`,
          );
          assert.deepStrictEqual(error.problems, [error.message]);
          return true;
        },
        raw,
      );
    }
  });
});

describe('outcomeOf', () => {
  const exit = (over: Partial<ProcessExit>): ProcessExit => ({ exitCode: null, signal: null, startError: null, outputBytes: 0, droppedBytes: 0, ...over });

  it('succeeds on exit code 0', () => {
    assert.deepStrictEqual(outcomeOf(exit({ exitCode: 0 })), { status: 'succeeded', reason: null });
  });

  it('fails on a non-zero exit code, without a reason (the code says it)', () => {
    assert.deepStrictEqual(outcomeOf(exit({ exitCode: 1 })), { status: 'failed', reason: null });
    assert.deepStrictEqual(outcomeOf(exit({ exitCode: 137 })), { status: 'failed', reason: null });
  });

  it('fails when a signal ended the process, naming the signal', () => {
    assert.deepStrictEqual(outcomeOf(exit({ signal: 'SIGKILL' })), { status: 'failed', reason: 'Ended by signal SIGKILL' });
    assert.deepStrictEqual(outcomeOf(exit({ signal: 'SIGSEGV' })), { status: 'failed', reason: 'Ended by signal SIGSEGV' });
  });

  it('fails with the start error when the process never started, whatever else is set', () => {
    assert.deepStrictEqual(outcomeOf(exit({ startError: 'spawn nope ENOENT' })), { status: 'failed', reason: 'spawn nope ENOENT' });
    assert.deepStrictEqual(outcomeOf(exit({ startError: 'boom', exitCode: 0 })), { status: 'failed', reason: 'boom' });
  });

  it('ignores output counts', () => {
    assert.deepStrictEqual(outcomeOf(exit({ exitCode: 0, outputBytes: 10, droppedBytes: 5 })), { status: 'succeeded', reason: null });
  });
});
