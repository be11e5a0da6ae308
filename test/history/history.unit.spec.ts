/** History's pure parts: restore decisions of both deciders, versions folded from a stream, field diffs, and `asOf` times. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideJob, evolveJob, initialJobState, type JobCommand, type JobState } from '../../src/jobs/job.decider';
import type { JobDefinition, JobEvent, JobFile } from '../../src/jobs/job.events';
import { decideScript, evolveScript, initialScriptState, type ScriptCommand, type ScriptState } from '../../src/scripts/script.decider';
import type { ScriptEvent } from '../../src/scripts/script.events';
import { ConflictError, NotFoundError, ValidationError } from '../../src/shared/domain-errors';
import { changeViews, displayLines } from '../../src/history/diff-view';
import { fieldChanges, foldVersions } from '../../src/history/versions';
import { parseAsOf } from '../../src/history/as-of';
import { jobDecider } from '../../src/jobs/job.handlers';
import { JOB_EVENT_TYPES } from '../../src/jobs/job.events';
import type { RecordedEvent } from '../../src/event-store/event-store.port';
import { spec } from '../unit/given-when-then';

const jobs = spec<JobCommand, JobState, JobEvent>({ initialState: initialJobState, decide: decideJob, evolve: evolveJob });
const scripts = spec<ScriptCommand, ScriptState, ScriptEvent>({ initialState: initialScriptState, decide: decideScript, evolve: evolveScript });

const ID = 'j-1';
const definition: Required<JobDefinition> = {
  name: 'nightly', description: '', scriptId: 's-1', args: ['a'], env: { A: '1' }, tags: [], timeoutSeconds: null,
  maxConcurrent: null, schedules: [], keepWorkdir: false, keepRuns: null, runsOn: [], artifacts: [],
};
const fileA: JobFile = { name: 'a.txt', size: 3, sha256: 'a'.repeat(64) };
const fileB: JobFile = { name: 'b.txt', size: 4, sha256: 'b'.repeat(64) };
const created: JobEvent = { type: 'JobCreated', data: { jobId: ID, ...definition } };
const restore = (over: Partial<Extract<JobCommand, { type: 'RestoreJob' }>> = {}): JobCommand => ({
  type: 'RestoreJob', jobId: ID, version: 2, definition: { ...definition, args: ['b'] }, files: [fileA], nameTakenBy: null, scriptExists: true, missingFiles: [], ...over,
});

describe('job decider: RestoreJob', () => {
  it('changes the fields that differ in one JobUpdated, then removes and attaches files to match', () => {
    jobs.given(created, { type: 'JobFileAttached', data: { jobId: ID, file: fileB } }).when(restore()).then([
      { type: 'JobUpdated', data: { jobId: ID, args: ['b'] } },
      { type: 'JobFileRemoved', data: { jobId: ID, name: 'b.txt' } },
      { type: 'JobFileAttached', data: { jobId: ID, file: fileA } },
    ]);
  });
  it('records nothing when the job already equals the version', () => {
    jobs.given(created).when(restore({ definition, files: [] })).then([]);
  });
  it('refuses, naming the reason: the name taken, the template removed, a file expired', () => {
    jobs.given(created).when(restore({ definition: { ...definition, name: 'old' }, nameTakenBy: { id: 'j-2', name: 'Old' } })).thenThrows(ConflictError, /version 2 cannot be restored: its name "old" is now taken by another job \("Old"\)/i);
    jobs.given(created).when(restore({ definition: { ...definition, scriptId: 's-0' }, scriptExists: false })).thenThrows(ConflictError, /its script template \(s-0\) was removed/);
    jobs.given(created).when(restore({ missingFiles: ['a.txt'] })).thenThrows(ConflictError, /the bytes of its input file "a.txt" expired/);
    // Its own name, or a file it still has, is no reason.
    jobs.given(created, { type: 'JobFileAttached', data: { jobId: ID, file: fileA } }).when(restore({ nameTakenBy: { id: ID, name: 'nightly' }, missingFiles: ['a.txt'] })).then([{ type: 'JobUpdated', data: { jobId: ID, args: ['b'] } }]);
  });
  it('refuses a removed or absent job as not found, and a version with invalid controls as invalid', () => {
    jobs.given(created, { type: 'JobRemoved', data: { jobId: ID } }).when(restore()).thenThrows(NotFoundError, /was removed/);
    jobs.given().when(restore()).thenThrows(NotFoundError, /does not exist/);
    jobs.given(created).when(restore({ definition: { ...definition, maxConcurrent: 0 } })).thenThrows(ValidationError, /maxConcurrent/);
  });
});

describe('script decider: RestoreScript', () => {
  const scriptCreated: ScriptEvent = { type: 'ScriptCreated', data: { scriptId: 's-1', name: 'Build', interpreter: 'bash', body: 'make' } };
  const restoreScript = (over: Partial<Extract<ScriptCommand, { type: 'RestoreScript' }>> = {}): ScriptCommand => ({
    type: 'RestoreScript', scriptId: 's-1', version: 1, target: { name: 'Build', interpreter: 'bash', body: 'make all' }, nameTakenBy: null, ...over,
  });
  it('updates the fields that differ, or nothing', () => {
    scripts.given(scriptCreated).when(restoreScript()).then([{ type: 'ScriptUpdated', data: { scriptId: 's-1', body: 'make all' } }]);
    scripts.given(scriptCreated).when(restoreScript({ target: { name: 'Build', interpreter: 'bash', body: 'make' } })).then([]);
  });
  it('refuses a name now taken by another template', () => {
    scripts.given(scriptCreated).when(restoreScript({ target: { name: 'Old', interpreter: 'bash', body: 'make' }, nameTakenBy: { id: 's-2', name: 'old' } })).thenThrows(ConflictError, /its name "Old" is now taken by another template/);
  });
});

describe('versions and diffs', () => {
  const recorded = (revision: number, type: string, data: unknown, restoredFrom?: number): RecordedEvent => ({
    id: `e${revision}`, stream: `job-${ID}`, revision: BigInt(revision), position: { commit: BigInt(revision), prepare: BigInt(revision) }, type, data,
    metadata: { actor: `p${revision}`, at: `2026-01-0${revision + 1}T00:00:00.000Z`, correlationId: 'c', causationId: null, source: 'web', ...(restoredFrom ? { restoredFrom } : {}) },
  });
  it('numbers versions by revision + 1, skipping bookkeeping events and unknown types', () => {
    const seen: Array<[number, string, number | null]> = [];
    foldVersions(
      [recorded(0, 'JobCreated', { jobId: ID, ...definition }), recorded(1, 'JobRunAdmitted', { jobId: ID, runId: 'r', number: 1 }), recorded(2, 'SomethingNewer', {}), recorded(3, 'JobUpdated', { jobId: ID, args: ['z'] }, 1)],
      jobDecider, JOB_EVENT_TYPES, (v) => seen.push([v.version, v.actor, v.restoredFrom]),
    );
    assert.deepEqual(seen, [[1, 'p0', null], [4, 'p3', 1]]);
  });
  it('lists every field that differs, whatever its name, and none that does not', () => {
    assert.deepEqual(fieldChanges({ a: 1, env: { x: '1', y: '2' }, gone: true }, { a: 1, env: { y: '2', x: '1' }, runsOn: ['gpu'] }), [
      { field: 'runsOn', before: undefined, after: ['gpu'] },
      { field: 'gone', before: true, after: undefined },
    ]);
  });
  it('shows a script body as a line diff, folding long unchanged stretches, and other values line by line', () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    const after = before.replace('line 10', 'line ten');
    const [body] = changeViews([{ field: 'body', before, after }]);
    assert.equal(body.label, 'Script');
    assert.deepEqual(body.rows.filter((r) => r.op !== 'same'), [
      { op: 'skip', text: '7 unchanged lines' },
      { op: 'del', text: 'line 10' },
      { op: 'add', text: 'line ten' },
      { op: 'skip', text: '6 unchanged lines' },
    ]);
    assert.deepEqual(displayLines({ B: '2', A: '1' }), ['A=1', 'B=2']);
    assert.deepEqual(displayLines([{ cron: '0 3 * * *', timeZone: 'UTC' }]), ['0 3 * * * (UTC)']);
    assert.deepEqual(displayLines(null), []);
    const [env] = changeViews([{ field: 'env', before: { A: '1', B: '2' }, after: { A: '1', B: '3' } }]);
    assert.deepEqual(env.rows, [{ op: 'same', text: 'A=1' }, { op: 'del', text: 'B=2' }, { op: 'add', text: 'B=3' }]);
    assert.equal(changeViews([{ field: 'artifacts', before: [], after: ['dist/*'] }])[0].label, 'artifacts', 'a field added later shows under its own name');
  });
});

describe('parseAsOf', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  it('reads ISO 8601 times with a zone, seconds optional, a time to the second or minute as its end', () => {
    assert.equal(parseAsOf('2026-05-01T10:00:00Z', now)?.toISOString(), '2026-05-01T10:00:00.999Z');
    assert.equal(parseAsOf('2026-05-01T12:30+02:00', now)?.toISOString(), '2026-05-01T10:30:59.999Z');
    assert.equal(parseAsOf('2026-05-01T10:00:00.123456Z', now)?.toISOString(), '2026-05-01T10:00:00.123Z');
    assert.equal(parseAsOf('2026-05-01T10:00:00.000Z', now)?.toISOString(), '2026-05-01T10:00:00.000Z', 'given to the millisecond: as it is');
    assert.equal(parseAsOf('2026-06-01T12:00:00Z', now)?.toISOString(), now.toISOString(), 'the second under way: up to now');
    assert.equal(parseAsOf(undefined, now), undefined);
  });
  it('refuses what is not such a time, no real date, or the future, naming the problem', () => {
    for (const [text, problem] of [
      ['', /is not an ISO 8601 time/],
      ['1717236000', /is not an ISO 8601 time/],
      ['2026-05-01', /add a time zone/],
      ['2026-05-01T10:00', /add a time zone/],
      ['2026-04-31T10:00:00Z', /not a real date/],
      ['2026-05-01T10:60:00Z', /not a real date/],
      ['2026-06-01T12:00:01Z', /in the future/],
    ] as const) {
      assert.throws(() => parseAsOf(text, now), (error: unknown) => error instanceof ValidationError && problem.test(error.message) && /^asOf: /.test(error.problems[0]), text);
    }
  });
});
