/** The run decider: request, claim, start, output, finish, and every refusal. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRun, evolveRun, initialRunState, type RunCommand, type RunState } from '../../src/runs/run.decider';
import type { OutputStream, RunEvent, RunRequested } from '../../src/runs/run.events';
import { ConflictError, NotFoundError, ValidationError } from '../../src/shared/domain-errors';
import { spec } from './given-when-then';

const runs = spec<RunCommand, RunState, RunEvent>({ initialState: initialRunState, decide: decideRun, evolve: evolveRun });

const RUN = 'j-1-13';
const SCHEDULED_FOR = '2026-03-02T09:00:00.000Z';
const requestData: RunRequested['data'] = {
  runId: RUN,
  jobId: 'j-1',
  jobName: 'nightly',
  number: 13,
  snapshot: {
    scriptId: 's-1',
    scriptName: 'Build',
    scriptVersion: 2,
    interpreter: 'bash',
    body: 'make all',
    jobVersion: 4,
    args: ['--all', 'extra'],
    env: { CI: '1', EXTRA: 'yes' },
    files: [{ name: 'a.txt', size: 3, sha256: 'a'.repeat(64) }],
    timeoutSeconds: 600,
  },
  extra: { args: ['extra'], env: { EXTRA: 'yes' }, files: [] },
  scheduledFor: null,
  rerunOf: null,
};
const requested: RunEvent = { type: 'RunRequested', data: requestData };
const scheduled: RunEvent = { type: 'RunRequested', data: { ...requestData, scheduledFor: SCHEDULED_FOR } };
const claimed: RunEvent = { type: 'RunClaimed', data: { runId: RUN, runner: 'host#abc123', workdir: '/data/work/nightly-j-1/13' } };
const started: RunEvent = {
  type: 'RunStarted',
  data: { runId: RUN, runner: 'host#abc123', pid: 4242, processStartTicks: '123456', workdir: '/data/work/nightly-j-1/13' },
};

const b64 = (text: string): string => Buffer.from(text).toString('base64');
/** An output event of the current form (raw bytes, as a batch that does not compress is kept). */
const output = (offset: number, text: string): RunEvent => ({
  type: 'RunOutputAppended',
  data: { runId: RUN, offset, length: Buffer.byteLength(text), lines: text.split('\n').length - 1, encoding: 'none', data: b64(text) },
});
/** An output event of the first form: raw base64 with stdout/stderr pieces, as older logs hold them. */
const firstFormOutput = (offset: number, text: string, pieces: Array<{ stream: OutputStream; length: number }>): RunEvent => ({
  type: 'RunOutputAppended',
  data: { runId: RUN, offset, data: b64(text), pieces },
});
const hello = output(0, 'hello');
const finished = (status: 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'lost', outputBytes: number): RunEvent => ({
  type: 'RunFinished',
  data: { runId: RUN, status, exitCode: status === 'succeeded' ? 0 : null, signal: null, outputBytes, droppedBytes: 0, reason: null },
});

const finishedEvent = (status: 'cancelled'): Extract<RunEvent, { type: 'RunFinished' }> => ({
  type: 'RunFinished',
  data: { runId: RUN, status, exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: null },
});

const claim = (now = '2026-03-02T08:00:00.000Z', runner = 'host#abc123', runnerLabels: string[] = []): RunCommand => ({
  type: 'ClaimRun',
  runId: RUN,
  runner,
  runnerLabels,
  workdir: '/data/work/nightly-j-1/13',
  now,
});
const start = (runner = 'host#abc123'): RunCommand => ({
  type: 'StartRun',
  runId: RUN,
  runner,
  pid: 4242,
  processStartTicks: '123456',
  workdir: '/data/work/nightly-j-1/13',
});
const append = (offset: number, text: string, over: Partial<Extract<RunCommand, { type: 'AppendOutput' }>> = {}): RunCommand => ({
  type: 'AppendOutput',
  runId: RUN,
  offset,
  length: Buffer.byteLength(text),
  lines: text.split('\n').length - 1,
  encoding: 'none',
  data: b64(text),
  ...over,
});
const finish = (over: Partial<Extract<RunCommand, { type: 'FinishRun' }>> = {}): RunCommand => ({
  type: 'FinishRun',
  runId: RUN,
  status: 'succeeded',
  exitCode: 0,
  signal: null,
  droppedBytes: 0,
  reason: null,
  ...over,
});

const waitingState: RunState = {
  phase: 'waiting',
  runId: RUN,
  jobName: 'nightly',
  number: 13,
  scheduledFor: null,
  runner: null,
  runsOn: [],
  outputBytes: 0,
  cancelRequested: false,
  finishedStatus: null,
  outputExpiredBy: null,
};

describe('run decider', () => {
  describe('RequestRun', () => {
    it('records RunRequested with the whole snapshot; the run waits', () => {
      const state = runs.given().when({ type: 'RequestRun', ...requestData }).then([requested]);
      assert.deepStrictEqual(state, waitingState);
    });

    it('records a scheduled time and a re-run origin', () => {
      const data = { ...requestData, scheduledFor: SCHEDULED_FOR, rerunOf: 'j-1-12' };
      const state = runs.given().when({ type: 'RequestRun', ...data }).then([{ type: 'RunRequested', data }]);
      assert.deepStrictEqual(state, { ...waitingState, scheduledFor: SCHEDULED_FOR });
    });

    it('refuses a run id that exists', () => {
      runs.given(requested).when({ type: 'RequestRun', ...requestData }).thenThrows(ConflictError, /^Run j-1-13 already exists$/);
      runs.given(requested, finished('cancelled', 0)).when({ type: 'RequestRun', ...requestData }).thenThrows(ConflictError, /already exists/);
    });
  });

  describe('ClaimRun', () => {
    it('records RunClaimed for a waiting run (the clock reading is not recorded)', () => {
      const state = runs.given(requested).when(claim()).then([claimed]);
      assert.deepStrictEqual(state, { ...waitingState, phase: 'claimed', runner: 'host#abc123' });
    });

    it('refuses a scheduled run before its time, saying when', () => {
      runs
        .given(scheduled)
        .when(claim('2026-03-02T08:59:59.999Z'))
        .thenThrows(ConflictError, /^Run nightly #13 is scheduled for 2026-03-02T09:00:00\.000Z$/);
    });

    it('claims a scheduled run at and after its time', () => {
      runs.given(scheduled).when(claim(SCHEDULED_FOR)).then([claimed]);
      runs.given(scheduled).when(claim('2026-03-02T09:00:00.001Z')).then([claimed]);
    });

    it('refuses to claim twice, even for the same runner', () => {
      runs.given(requested, claimed).when(claim()).thenThrows(ConflictError, /^Run nightly #13 is starting: it cannot be started again$/);
      runs.given(requested, claimed).when(claim(undefined, 'other#1')).thenThrows(ConflictError, /is starting/);
    });

    it('refuses a running or finished run', () => {
      runs.given(requested, claimed, started).when(claim()).thenThrows(ConflictError, /^Run nightly #13 is running: it cannot be started again$/);
      runs
        .given(requested, finished('cancelled', 0))
        .when(claim())
        .thenThrows(ConflictError, /^Run nightly #13 is finished \(cancelled\): it cannot be started again$/);
    });

    it('refuses an absent run', () => {
      runs.given().when(claim()).thenThrows(NotFoundError, /^Run j-1-13 does not exist$/);
    });

    it('lets a runner with every label of the run claim it, and refuses one that lacks any, naming both sides', () => {
      const labelled: RunEvent = { type: 'RunRequested', data: { ...requestData, runsOn: ['linux', 'gpu'] } };
      const state = runs.given(labelled).when(claim(undefined, undefined, ['gpu', 'linux', 'x86_64'])).then([claimed]);
      assert.deepEqual(state.runsOn, ['linux', 'gpu']);
      runs
        .given(labelled)
        .when(claim(undefined, undefined, ['linux']))
        .thenThrows(ConflictError, /^Run nightly #13 runs on a runner with labels linux, gpu: runner host#abc123 has linux$/);
      runs.given(labelled).when(claim()).thenThrows(ConflictError, /runner host#abc123 has no labels$/);
    });

    it('reads a run requested before placement existed (no runsOn) as one any runner may claim', () => {
      const state = runs.given(requested).when(claim()).then([claimed]);
      assert.deepEqual(state.runsOn, []);
      runs.given(requested).when(claim(undefined, undefined, ['linux'])).then([claimed]);
    });
  });

  describe('StartRun', () => {
    it('records RunStarted with runner, pid, start ticks and work directory', () => {
      const state = runs.given(requested, claimed).when(start()).then([started]);
      assert.deepStrictEqual(state, { ...waitingState, phase: 'running', runner: 'host#abc123' });
    });

    it('refuses a runner other than the one that claimed it', () => {
      runs.given(requested, claimed).when(start('other#1')).thenThrows(ConflictError, /^Run nightly #13 was not claimed by runner other#1$/);
    });

    it('refuses a run nobody claimed', () => {
      runs.given(requested).when(start()).thenThrows(ConflictError, /was not claimed by runner host#abc123/);
    });

    it('refuses to start twice', () => {
      runs.given(requested, claimed, started).when(start()).thenThrows(ConflictError, /was not claimed by runner host#abc123/);
    });

    it('refuses a finished run', () => {
      runs.given(requested, claimed, finished('lost', 0)).when(start()).thenThrows(ConflictError, /not claimed/);
    });

    it('refuses an absent run', () => {
      runs.given().when(start()).thenThrows(NotFoundError, /^Run j-1-13 does not exist$/);
    });
  });

  describe('AppendOutput', () => {
    it('records a batch at offset 0 and counts its bytes', () => {
      const state = runs.given(requested, claimed, started).when(append(0, 'hello')).then([hello]);
      assert.equal(state.outputBytes, 5);
    });

    it('records the next batch at the next offset, after output of the first form', () => {
      const state = runs
        .given(requested, claimed, started, firstFormOutput(0, 'hello', [{ stream: 'stderr', length: 4 }, { stream: 'stdout', length: 1 }]))
        .when(append(5, 'oops\nok'))
        .then([output(5, 'oops\nok')]);
      assert.equal(state.outputBytes, 12);
    });

    it('counts bytes, not characters, and a compressed batch by its recorded length', () => {
      const state = runs.given(requested, claimed, started).when(append(0, 'héllo ✓')).then([output(0, 'héllo ✓')]);
      assert.equal(state.outputBytes, 10);
      const compressed = runs
        .given(requested, claimed, started)
        .when(append(0, '', { length: 1000, lines: 0, encoding: 'deflate-raw', data: 'S0wcBQA=' }))
        .then([{ type: 'RunOutputAppended', data: { runId: RUN, offset: 0, length: 1000, lines: 0, encoding: 'deflate-raw', data: 'S0wcBQA=' } }]);
      assert.equal(compressed.outputBytes, 1000);
    });

    it('refuses a batch at the wrong offset: a gap or an overlap', () => {
      runs
        .given(requested, claimed, started, hello)
        .when(append(6, 'x'))
        .thenThrows(ConflictError, /^Run nightly #13 has 5 bytes of output, not 6$/);
      runs
        .given(requested, claimed, started, hello)
        .when(append(0, 'hello'))
        .thenThrows(ConflictError, /has 5 bytes of output, not 0/);
    });

    it('refuses a batch whose length or newline count cannot be right', () => {
      runs
        .given(requested, claimed, started)
        .when(append(0, 'hello', { length: 4 }))
        .thenThrows(ValidationError, /^the batch holds 5 bytes, not the 4 it says$/);
      runs
        .given(requested, claimed, started)
        .when(append(0, 'hello', { lines: 6 }))
        .thenThrows(ValidationError, /a batch needs a byte length and a newline count, got 5 and 6/);
      runs
        .given(requested, claimed, started)
        .when(append(0, 'hello', { length: -1 }))
        .thenThrows(ValidationError, /a batch needs a byte length/);
    });

    it('refuses output before the run started', () => {
      runs.given(requested).when(append(0, 'x')).thenThrows(ConflictError, /^Run nightly #13 is waiting to start: it takes no output$/);
      runs.given(requested, claimed).when(append(0, 'x')).thenThrows(ConflictError, /is starting: it takes no output/);
    });

    it('refuses output after the run finished', () => {
      runs
        .given(requested, claimed, started, hello, finished('succeeded', 5))
        .when(append(5, 'late'))
        .thenThrows(ConflictError, /^Run nightly #13 is finished \(succeeded\): it takes no output$/);
    });

    it('refuses an absent run', () => {
      runs.given().when(append(0, 'x')).thenThrows(NotFoundError, /^Run j-1-13 does not exist$/);
    });
  });

  describe('FinishRun', () => {
    it('records RunFinished with the output byte count the run has', () => {
      const state = runs
        .given(requested, claimed, started, hello)
        .when(finish({ droppedBytes: 7 }))
        .then([
          {
            type: 'RunFinished',
            data: { runId: RUN, status: 'succeeded', exitCode: 0, signal: null, outputBytes: 5, droppedBytes: 7, reason: null },
          },
        ]);
      assert.deepStrictEqual(state, { ...waitingState, phase: 'finished', runner: 'host#abc123', outputBytes: 5, finishedStatus: 'succeeded' });
    });

    it('ends a run only while it waits for its runner to start it, when asked so (a goodbye), without recording the ask', () => {
      const lost = { status: 'lost', exitCode: null, reason: 'Its job server x stopped without starting it', unlessStarted: true } as const;
      runs
        .given(requested, claimed)
        .when(finish(lost))
        .then([{ type: 'RunFinished', data: { runId: RUN, status: 'lost', exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: lost.reason } }]);
      runs.given(requested, claimed, started).when(finish(lost)).thenThrows(ConflictError, /is not waiting to be started by its runner/);
      runs.given(requested).when(finish(lost)).thenThrows(ConflictError, /is not waiting to be started by its runner/);
    });

    it('records a failure with its signal and reason', () => {
      runs
        .given(requested, claimed, started)
        .when(finish({ status: 'failed', exitCode: null, signal: 'SIGKILL', reason: 'Ended by signal SIGKILL' }))
        .then([
          {
            type: 'RunFinished',
            data: { runId: RUN, status: 'failed', exitCode: null, signal: 'SIGKILL', outputBytes: 0, droppedBytes: 0, reason: 'Ended by signal SIGKILL' },
          },
        ]);
    });

    it('finishes a run that never started (cancelled while waiting, or lost after its claim)', () => {
      runs.given(requested).when(finish({ status: 'cancelled', exitCode: null })).then([finished('cancelled', 0)]);
      runs.given(requested, claimed).when(finish({ status: 'lost', exitCode: null })).then([finished('lost', 0)]);
    });

    it('refuses to finish twice, saying how it ended', () => {
      runs
        .given(requested, claimed, started, finished('timed_out', 0))
        .when(finish())
        .thenThrows(ConflictError, /^Run nightly #13 has already finished \(timed_out\)$/);
    });

    it('refuses an absent run', () => {
      runs.given().when(finish()).thenThrows(NotFoundError, /^Run j-1-13 does not exist$/);
    });
  });

  describe('control: the commands a person gives about a run', () => {
    const cancel = (actor = 'carol'): RunCommand => ({ type: 'CancelRun', runId: RUN, actor });
    const pause: RunCommand = { type: 'PauseRun', runId: RUN };
    const resume: RunCommand = { type: 'ResumeRun', runId: RUN };
    const reschedule = (scheduledFor: string | null): RunCommand => ({ type: 'RescheduleRun', runId: RUN, scheduledFor });
    const cancelRequested: RunEvent = { type: 'RunCancelRequested', data: { runId: RUN } };
    const paused: RunEvent = { type: 'RunPaused', data: { runId: RUN } };
    const resumed: RunEvent = { type: 'RunResumed', data: { runId: RUN } };
    const runningState: RunState = { ...waitingState, phase: 'running', runner: 'host#abc123' };

    describe('CancelRun', () => {
      it('dequeues a waiting run at once: the request and its end, as cancelled, in one append, naming who', () => {
        const state = runs
          .given(requested)
          .when(cancel())
          .then([
            cancelRequested,
            {
              type: 'RunFinished',
              data: { runId: RUN, status: 'cancelled', exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: 'Cancelled by carol before it started' },
            },
          ]);
        assert.deepStrictEqual(state, { ...waitingState, phase: 'finished', cancelRequested: true, finishedStatus: 'cancelled' });
      });

      it('dequeues a scheduled run the same way', () => {
        runs.given(scheduled).when(cancel('dave')).then([cancelRequested, { ...finishedEvent('cancelled'), data: { ...finishedEvent('cancelled').data, reason: 'Cancelled by dave before it started' } }]);
      });

      it('only records the request for a run that is starting, running or paused: the runner stops it', () => {
        for (const given of [[requested, claimed], [requested, claimed, started], [requested, claimed, started, paused]]) {
          runs.given(...given).when(cancel()).then([cancelRequested]);
        }
      });

      it('continues a paused run once cancelled (it must run to act on SIGTERM)', () => {
        runs.given(requested, claimed, started, paused, cancelRequested).thenState({ ...runningState, cancelRequested: true });
      });

      it('records nothing when a cancel is already under way', () => {
        runs.given(requested, claimed, started, cancelRequested).when(cancel('someone else')).then([]);
      });

      it('refuses a finished run, saying how it ended', () => {
        for (const status of ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'] as const) {
          runs
            .given(requested, claimed, started, finished(status, 0))
            .when(cancel())
            .thenThrows(ConflictError, new RegExp(`^Run nightly #13 has already finished \\(${status}\\): it cannot be cancelled$`));
        }
      });

      it('refuses an absent run', () => {
        runs.given().when(cancel()).thenThrows(NotFoundError, /^Run j-1-13 does not exist$/);
      });
    });

    describe('PauseRun and ResumeRun', () => {
      it('pauses a running run and resumes it', () => {
        const pausedState = runs.given(requested, claimed, started).when(pause).then([paused]);
        assert.deepStrictEqual(pausedState, { ...runningState, phase: 'paused' });
        const resumedState = runs.given(requested, claimed, started, paused).when(resume).then([resumed]);
        assert.deepStrictEqual(resumedState, runningState);
      });

      it('records nothing for a pause of a paused run or a resume of a running one', () => {
        runs.given(requested, claimed, started, paused).when(pause).then([]);
        runs.given(requested, claimed, started).when(resume).then([]);
        runs.given(requested, claimed, started, paused, resumed).when(resume).then([]);
      });

      it('refuses to pause a run that is not running yet, saying why', () => {
        runs.given(requested).when(pause).thenThrows(ConflictError, /^Run nightly #13 is waiting to start: only a running run can be paused$/);
        runs.given(requested, claimed).when(pause).thenThrows(ConflictError, /^Run nightly #13 is starting: only a running run can be paused$/);
      });

      it('refuses to pause a run being cancelled', () => {
        runs.given(requested, claimed, started, cancelRequested).when(pause).thenThrows(ConflictError, /^Run nightly #13 is being cancelled: it cannot be paused$/);
      });

      it('refuses to resume a run that is not paused', () => {
        runs.given(requested).when(resume).thenThrows(ConflictError, /^Run nightly #13 is waiting to start: only a paused run can be resumed$/);
        runs.given(requested, claimed).when(resume).thenThrows(ConflictError, /is starting: only a paused run can be resumed/);
      });

      it('refuses both on a finished run', () => {
        runs.given(requested, claimed, started, finished('failed', 0)).when(pause).thenThrows(ConflictError, /^Run nightly #13 has already finished \(failed\): it cannot be paused$/);
        runs.given(requested, claimed, started, paused, finished('lost', 0)).when(resume).thenThrows(ConflictError, /^Run nightly #13 has already finished \(lost\): it cannot be resumed$/);
      });

      it('refuses an absent run', () => {
        runs.given().when(pause).thenThrows(NotFoundError, /does not exist/);
        runs.given().when(resume).thenThrows(NotFoundError, /does not exist/);
      });
    });

    describe('output and the end of a paused or cancelled run', () => {
      it('takes the last output of a paused run (written before SIGSTOP)', () => {
        runs.given(requested, claimed, started, paused).when(append(0, 'hello')).then([hello]);
      });

      it('finishes a paused run, and a run being cancelled as cancelled', () => {
        runs.given(requested, claimed, started, paused).when(finish({ status: 'lost', exitCode: null })).then([finished('lost', 0)]);
        runs.given(requested, claimed, started, cancelRequested).when(finish({ status: 'cancelled', exitCode: null })).then([finished('cancelled', 0)]);
      });

      it('still records the start of a run cancelled while it was starting (its pid is needed to stop it)', () => {
        runs.given(requested, claimed, cancelRequested).when(start()).then([started]);
      });
    });

    describe('RescheduleRun', () => {
      it('re-times a queued run, and a scheduled one, to a time or to now', () => {
        const later = '2026-03-03T10:00:00.000Z';
        const state = runs.given(requested).when(reschedule(later)).then([{ type: 'RunRescheduled', data: { runId: RUN, scheduledFor: later } }]);
        assert.deepStrictEqual(state, { ...waitingState, scheduledFor: later });
        runs.given(scheduled).when(reschedule(null)).then([{ type: 'RunRescheduled', data: { runId: RUN, scheduledFor: null } }]);
      });

      it('records nothing for the time it already has', () => {
        runs.given(scheduled).when(reschedule(SCHEDULED_FOR)).then([]);
        runs.given(requested).when(reschedule(null)).then([]);
      });

      it('lets a run re-timed to now be claimed before its old time', () => {
        runs.given(scheduled, { type: 'RunRescheduled', data: { runId: RUN, scheduledFor: null } }).when(claim('2026-03-02T08:00:00.000Z')).then([claimed]);
      });

      it('refuses a run that started or finished', () => {
        runs.given(requested, claimed).when(reschedule(null)).thenThrows(ConflictError, /^Run nightly #13 is starting: only a queued or scheduled run can be re-timed$/);
        runs.given(requested, claimed, started).when(reschedule(null)).thenThrows(ConflictError, /is running: only a queued or scheduled run can be re-timed/);
        runs.given(requested, finished('cancelled', 0)).when(reschedule(null)).thenThrows(ConflictError, /^Run nightly #13 has already finished \(cancelled\): it cannot be re-timed$/);
      });

      it('refuses an absent run', () => {
        runs.given().when(reschedule(null)).thenThrows(NotFoundError, /does not exist/);
      });
    });
  });

  describe('evolveRun', () => {
    it('starts absent', () => {
      runs.given().thenState(initialRunState);
      assert.equal(initialRunState.phase, 'absent');
    });

    it('folds a whole run', () => {
      runs
        .given(requested, claimed, started, hello, output(5, 'abc'), finished('failed', 8))
        .thenState({ ...waitingState, phase: 'finished', runner: 'host#abc123', outputBytes: 8, finishedStatus: 'failed' });
    });

    it('takes the output count of RunFinished as final', () => {
      runs.given(requested, claimed, started, hello, finished('succeeded', 9)).thenState({
        ...waitingState,
        phase: 'finished',
        runner: 'host#abc123',
        outputBytes: 9,
        finishedStatus: 'succeeded',
      });
    });
  });

  describe('ExpireOutput (retention)', () => {
    const expire = (by: 'keepRuns' | 'age'): RunCommand => ({ type: 'ExpireOutput', runId: RUN, by });
    const expired = (by: 'keepRuns' | 'age'): RunEvent => ({ type: 'RunOutputExpired', data: { runId: RUN, by } });

    it("records a finished run's expiry with the rule that expired it", () => {
      const state = runs.given(requested, claimed, started, finished('succeeded', 10)).when(expire('age')).then([expired('age')]);
      assert.equal(state.outputExpiredBy, 'age');
      assert.equal(state.phase, 'finished', 'every other fact stays');
      assert.equal(state.outputBytes, 10);
    });

    it('records nothing the second time, whichever rule asks', () => {
      runs.given(requested, claimed, started, finished('failed', 3), expired('keepRuns')).when(expire('age')).then([]);
    });

    it('refuses a run that has not finished: queued, claimed, running', () => {
      runs.given(requested).when(expire('keepRuns')).thenThrows(ConflictError, /only a finished run's output expires/);
      runs.given(requested, claimed).when(expire('keepRuns')).thenThrows(ConflictError, /only a finished run's output expires/);
      runs.given(requested, claimed, started).when(expire('age')).thenThrows(ConflictError, /only a finished run's output expires/);
      runs.given().when(expire('age')).thenThrows(NotFoundError, /does not exist/);
    });

    it('an expired run takes no more output and cannot finish again', () => {
      runs.given(requested, claimed, started, finished('succeeded', 0), expired('age')).when(finish()).thenThrows(ConflictError, /already finished/);
    });
  });
});
