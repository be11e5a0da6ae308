/** The runs read model's queue and control state, the actions a run offers, and the pure helpers of the control handlers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { controlCommandFor, rerunRequestOf } from '../../src/runs/run-control.handler';
import type { RunRequested } from '../../src/runs/run.events';
import { actionsOf, pausedMsOf } from '../../src/runs/run.view';
import Database from 'better-sqlite3';
import { RunsReadModel, type RunRecord } from '../../src/runs/runs.read-model';
import { ValidationError } from '../../src/shared/domain-errors';

let position = 0;
function recorded(stream: string, type: string, data: unknown, at: string, actor = 'alice'): RecordedEvent {
  position++;
  return {
    id: `e-${position}`,
    stream,
    revision: BigInt(position),
    position: { commit: BigInt(position), prepare: BigInt(position) },
    type,
    data,
    metadata: { actor, at, correlationId: 'c', causationId: null, source: 'api' },
  };
}

const snapshot: RunRequested['data']['snapshot'] = {
  scriptId: 's',
  scriptName: 'S',
  scriptVersion: 0,
  interpreter: 'bash',
  body: 'true',
  jobVersion: 0,
  args: ['a'],
  env: { X: '1' },
  files: [],
  timeoutSeconds: 60,
};

function requestData(jobId: string, number: number, scheduledFor: string | null = null): RunRequested['data'] {
  return { runId: `${jobId}-${number}`, jobId, jobName: jobId, number, snapshot, extra: { args: [], env: {}, files: [] }, scheduledFor, rerunOf: null, trigger: null };
}

function request(model: RunsReadModel, jobId: string, number: number, at: string, scheduledFor: string | null = null): string {
  model.apply(recorded(`run-${jobId}-${number}`, 'RunRequested', requestData(jobId, number, scheduledFor), at));
  return `${jobId}-${number}`;
}

/** A runs read model on a database of its own, as the engine gives it one. */
function openRuns(): RunsReadModel {
  const model = new RunsReadModel();
  model.open(new Database(':memory:'));
  return model;
}

const NOW = new Date('2026-06-01T12:00:00.000Z');

describe('RunsReadModel: the queue', () => {
  it('is first in, first out, a scheduled run joining when its time comes; positions count from 1', () => {
    const model = openRuns();
    const a = request(model, 'j', 1, '2026-06-01T11:00:00.000Z');
    // Requested early but for 11:30: it joined the queue at 11:30, after b.
    const c = request(model, 'j', 2, '2026-06-01T10:00:00.000Z', '2026-06-01T11:30:00.000Z');
    const b = request(model, 'k', 1, '2026-06-01T11:10:00.000Z');
    const later = request(model, 'k', 2, '2026-06-01T11:20:00.000Z', '2026-06-01T13:00:00.000Z');
    assert.deepEqual(model.queued(NOW).map((r) => r.id), [a, b, c]);
    assert.deepEqual([a, b, c, later].map((id) => model.queuePosition(model.get(id)!, NOW)), [1, 2, 3, null]);
    assert.equal(model.statusOf(model.get(later)!, NOW), 'scheduled');
  });

  it('moves a re-timed run and takes a cancelled one out', () => {
    const model = openRuns();
    const a = request(model, 'j', 1, '2026-06-01T11:00:00.000Z');
    const b = request(model, 'j', 2, '2026-06-01T11:01:00.000Z');
    model.apply(recorded(`run-${a}`, 'RunRescheduled', { runId: a, scheduledFor: '2026-06-01T13:00:00.000Z' }, '2026-06-01T11:02:00.000Z'));
    assert.deepEqual(model.queued(NOW).map((r) => r.id), [b]);
    assert.equal(model.statusOf(model.get(a)!, NOW), 'scheduled');
    assert.equal(model.nextScheduledTime(NOW), Date.parse('2026-06-01T13:00:00.000Z'));
    model.apply(recorded(`run-${b}`, 'RunCancelRequested', { runId: b }, '2026-06-01T11:03:00.000Z', 'carol'));
    model.apply(recorded(`run-${b}`, 'RunFinished', { runId: b, status: 'cancelled', exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: 'Cancelled by carol before it started' }, '2026-06-01T11:03:00.000Z', 'carol'));
    assert.deepEqual(model.queued(NOW), []);
    assert.equal(model.get(b)?.cancelRequestedBy, 'carol');
    assert.equal(model.statusOf(model.get(b)!, NOW), 'cancelled');
  });

  it('counts a job’s claimed, running and paused runs for its limit', () => {
    const model = openRuns();
    const a = request(model, 'j', 1, '2026-06-01T11:00:00.000Z');
    const b = request(model, 'j', 2, '2026-06-01T11:00:01.000Z');
    request(model, 'k', 1, '2026-06-01T11:00:02.000Z');
    model.apply(recorded(`run-${a}`, 'RunClaimed', { runId: a, runner: 'r', workdir: '/w' }, '2026-06-01T11:00:03.000Z', 'runner'));
    model.apply(recorded(`run-${a}`, 'RunStarted', { runId: a, runner: 'r', pid: 10, processStartTicks: '1', workdir: '/w' }, '2026-06-01T11:00:04.000Z', 'runner'));
    model.apply(recorded(`run-${a}`, 'RunPaused', { runId: a }, '2026-06-01T11:00:05.000Z'));
    model.apply(recorded(`run-${b}`, 'RunClaimed', { runId: b, runner: 'r', workdir: '/w' }, '2026-06-01T11:00:06.000Z', 'runner'));
    assert.deepEqual(model.executingRunIdsForJob('j').sort(), [a, b]);
    assert.deepEqual(model.executingRunIdsForJob('k'), []);
  });
});

describe('RunsReadModel: placement', () => {
  it('keeps each run’s runsOn (lower case; [] for runs recorded before it existed) and lists the queue a runner’s labels cover, in order', () => {
    const model = openRuns();
    const labelled = (jobId: string, number: number, at: string, runsOn: string[]): string => {
      model.apply(recorded(`run-${jobId}-${number}`, 'RunRequested', { ...requestData(jobId, number), runsOn }, at));
      return `${jobId}-${number}`;
    };
    const old = request(model, 'old', 1, '2026-06-01T11:00:00.000Z');
    const gpu = labelled('gpu', 1, '2026-06-01T11:01:00.000Z', ['Linux', 'GPU']);
    const linux = labelled('lin', 1, '2026-06-01T11:02:00.000Z', ['linux']);
    const none = labelled('any', 1, '2026-06-01T11:03:00.000Z', []);
    assert.deepEqual(model.get(old)?.runsOn, [], 'a RunRequested without runsOn: any runner');
    assert.deepEqual(model.get(gpu)?.runsOn, ['linux', 'gpu']);
    const ids = (labels: string[]): string[] => model.queuedFor(labels, NOW).map((run) => run.id);
    assert.deepEqual(ids([]), [old, none]);
    assert.deepEqual(ids(['linux']), [old, linux, none]);
    assert.deepEqual(ids(['gpu', 'linux', 'x86_64']), [old, gpu, linux, none]);
    assert.deepEqual(model.queuedFor(['linux'], NOW, 1, model.get(old)).map((run) => run.id), [linux], 'paged after a run, skipping what it cannot take');
    const counts = model.queuedByRunsOn(NOW).map(({ runsOn, count }) => [runsOn.join(','), count]).sort();
    assert.deepEqual(counts, [['', 2], ['linux', 1], ['linux,gpu', 1]]);
  });
});

describe('RunsReadModel: pause, cancel and the last outcome', () => {
  function started(model: RunsReadModel, id: string): void {
    model.apply(recorded(`run-${id}`, 'RunClaimed', { runId: id, runner: 'r', workdir: '/w' }, '2026-06-01T11:00:00.000Z', 'runner'));
    model.apply(recorded(`run-${id}`, 'RunStarted', { runId: id, runner: 'r', pid: 10, processStartTicks: '1', workdir: '/w' }, '2026-06-01T11:00:00.000Z', 'runner'));
  }

  it('shows paused, adds up paused time (also the pause going on now), and offers what the state allows', () => {
    const model = openRuns();
    const id = request(model, 'j', 1, '2026-06-01T10:59:00.000Z');
    // Records are read from the database: each look is a fresh one.
    const run = (): RunRecord => model.get(id)!;
    assert.deepEqual(actionsOf(run()), { cancel: true, pause: false, resume: false, reschedule: true });
    started(model, id);
    assert.deepEqual(actionsOf(run()), { cancel: true, pause: true, resume: false, reschedule: false });
    model.apply(recorded(`run-${id}`, 'RunPaused', { runId: id }, '2026-06-01T11:00:10.000Z', 'bob'));
    assert.equal(model.statusOf(run(), NOW), 'paused');
    assert.deepEqual(actionsOf(run()), { cancel: true, pause: false, resume: true, reschedule: false });
    model.apply(recorded(`run-${id}`, 'RunResumed', { runId: id }, '2026-06-01T11:00:40.000Z', 'bob'));
    assert.equal(model.statusOf(run(), NOW), 'running');
    model.apply(recorded(`run-${id}`, 'RunPaused', { runId: id }, '2026-06-01T11:59:00.000Z', 'bob'));
    assert.equal(pausedMsOf(run(), NOW), 30_000 + 60_000);
    model.apply(recorded(`run-${id}`, 'RunCancelRequested', { runId: id }, '2026-06-01T11:59:30.000Z', 'carol'));
    assert.equal(model.statusOf(run(), NOW), 'running', 'a cancelled paused run continues so that it can end');
    assert.equal(pausedMsOf(run(), NOW), 30_000 + 30_000);
    assert.deepEqual(actionsOf(run()), { cancel: false, pause: false, resume: false, reschedule: false });
    model.apply(recorded(`run-${id}`, 'RunFinished', { runId: id, status: 'cancelled', exitCode: null, signal: 'SIGTERM', outputBytes: 0, droppedBytes: 0, reason: 'Cancelled by carol' }, '2026-06-01T11:59:31.000Z', 'runner'));
    assert.equal(model.statusOf(run(), NOW), 'cancelled');
    const stackTraceLimit = Error.stackTraceLimit;
    assert.deepEqual(actionsOf(run()), { cancel: false, pause: false, resume: false, reschedule: false });
    assert.equal(Error.stackTraceLimit, stackTraceLimit, 'refusals are weighed without stack traces, and the limit is put back');
    assert.ok((new Error('after').stack ?? '').includes('\n    at '), 'errors thrown afterwards have their stack again');
  });

  it('knows how a job’s most recently finished run ended, whatever runs now', () => {
    const model = openRuns();
    const a = request(model, 'j', 1, '2026-06-01T10:00:00.000Z');
    const b = request(model, 'j', 2, '2026-06-01T10:00:01.000Z');
    request(model, 'j', 3, '2026-06-01T10:00:02.000Z');
    assert.equal(model.latestFinishedForJob('j'), undefined);
    const finish = (id: string, status: string, at: string): void =>
      model.apply(recorded(`run-${id}`, 'RunFinished', { runId: id, status, exitCode: null, signal: null, outputBytes: 0, droppedBytes: 0, reason: null }, at, 'runner'));
    finish(b, 'failed', '2026-06-01T10:05:00.000Z');
    finish(a, 'succeeded', '2026-06-01T10:06:00.000Z');
    assert.equal(model.latestFinishedForJob('j')?.id, a, 'the latest to finish, not the latest requested');
  });
});

describe('RunsReadModel: output stored after the end', () => {
  /**
   * A run of `r1` ended lost with 6 bytes of output, and a batch of 5 more stored `late` (after the end) or
   * `between` (after the lost rule read the output's end, before the end was recorded): the output the read
   * model keeps, as [outputBytes, chunks], on a database kept up to date and on one being built.
   */
  function keptOutput(late: 'after' | 'between'): Array<[number, number[][]]> {
    return [false, true].map((building) => {
      const model = new RunsReadModel();
      model.open(new Database(':memory:'), { building });
      const id = request(model, `out-${late}`, 1, '2026-06-01T11:00:00.000Z');
      const batch = (offset: number, text: string): RecordedEvent =>
        recorded(`output-${id}`, 'RunOutputAppended', { runId: id, offset, data: Buffer.from(text).toString('base64') }, '2026-06-01T11:00:02.000Z', 'runner');
      // Made when applied: `recorded` numbers events in the order they are made.
      const end = (): RecordedEvent => recorded(`run-${id}`, 'RunFinished', { runId: id, status: 'lost', exitCode: null, signal: null, outputBytes: 6, droppedBytes: 0, reason: 'Its runner "r1" was revoked by bob' }, '2026-06-01T11:00:03.000Z', 'bob');
      model.apply(recorded(`run-${id}`, 'RunClaimed', { runId: id, runner: 'r1', workdir: '/w' }, '2026-06-01T11:00:01.000Z', 'r1'));
      model.apply(recorded(`run-${id}`, 'RunStarted', { runId: id, pid: 1, processStartTicks: null }, '2026-06-01T11:00:01.000Z', 'r1'));
      model.apply(batch(0, 'hello\n'));
      const lateBatch = (): RecordedEvent => batch(6, 'late\n');
      for (const next of late === 'after' ? [end, lateBatch] : [lateBatch, end]) model.apply(next());
      model.beforeCheckpoint?.();
      const run = model.get(id)!;
      return [run.outputBytes, run.outputChunks.map((chunk) => [chunk.offset, chunk.length])];
    });
  }

  it('leaves out a batch stored after the end: the run keeps the output RunFinished counted, live and in a rebuild', () => {
    assert.deepEqual(keptOutput('after'), [[6, [[0, 6]]], [6, [[0, 6]]]]);
  });

  it('drops a batch stored between the reading of the output’s end and the end itself: it lies beyond RunFinished.outputBytes', () => {
    assert.deepEqual(keptOutput('between'), [[6, [[0, 6]]], [6, [[0, 6]]]]);
  });
});

describe('control handler helpers', () => {
  const context = { actor: 'carol', source: 'api', correlationId: 'c', causationId: null };

  it('turns each API action into its decider command, a cancel naming who', () => {
    assert.deepEqual(controlCommandFor('r', { type: 'cancel' }, context, NOW), { type: 'CancelRun', runId: 'r', actor: 'carol' });
    assert.deepEqual(controlCommandFor('r', { type: 'pause' }, context, NOW), { type: 'PauseRun', runId: 'r' });
    assert.deepEqual(controlCommandFor('r', { type: 'resume' }, context, NOW), { type: 'ResumeRun', runId: 'r' });
  });

  it('reads a re-time like a new run: a delay, a time, a past time or nothing meaning now', () => {
    const reschedule = (at?: string, delaySeconds?: number) => controlCommandFor('r', { type: 'reschedule', at, delaySeconds }, context, NOW);
    assert.deepEqual(reschedule(undefined, 90), { type: 'RescheduleRun', runId: 'r', scheduledFor: '2026-06-01T12:01:30.000Z' });
    assert.deepEqual(reschedule('2026-06-02T08:00:00+02:00'), { type: 'RescheduleRun', runId: 'r', scheduledFor: '2026-06-02T06:00:00.000Z' });
    assert.deepEqual(reschedule('2020-01-01T00:00:00Z'), { type: 'RescheduleRun', runId: 'r', scheduledFor: null });
    assert.deepEqual(reschedule(), { type: 'RescheduleRun', runId: 'r', scheduledFor: null });
    assert.throws(() => reschedule('2026-06-02T08:00:00Z', 5), (error: unknown) => error instanceof ValidationError && /either at or delaySeconds/.test(error.message));
  });

  it('re-runs with the original snapshot and extras, under the job’s current name and runsOn, now, pointing back', () => {
    const original: RunRequested['data'] = { ...requestData('j', 4, '2026-06-01T13:00:00.000Z'), extra: { args: ['x'], env: { Y: '2' }, files: [] }, runsOn: ['old-box'] };
    assert.deepEqual(rerunRequestOf(original, 'renamed', ['linux', 'gpu']), {
      jobId: 'j',
      jobName: 'renamed',
      snapshot: original.snapshot,
      extra: original.extra,
      scheduledFor: null,
      rerunOf: 'j-4',
      trigger: null,
      runsOn: ['linux', 'gpu'],
    });
  });
});
