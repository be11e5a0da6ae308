/**
 * History's pure parts: restore decisions of both deciders, versions folded from a stream,
 * field diffs, `asOf` times, and the not-found message naming removed ones by their former
 * name (with the templates' read model that remembers them).
 */
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
import Database from 'better-sqlite3';
import { notFoundMessage, REMOVALS_NAMED } from '../../src/history/histories';
import { MAX_MESSAGE_LENGTH } from '../../src/http/error-body';
import { ScriptsReadModel } from '../../src/scripts/scripts.read-model';
import type { Removal } from '../../src/shared/removals';

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

describe('not found: a removed one\'s former name', () => {
  const removal = (n: number, by = 'alice'): Removal => ({ id: `id${String(n).padStart(10, '0')}`, name: 'Nightly', removedAt: `2026-11-${10 + n}T10:00:00.000Z`, removedBy: by });

  it('is the plain message when no removed one had the name, and names the one that did', () => {
    assert.equal(notFoundMessage('job', '/api/jobs', 'nightly', { items: [], total: 0 }), 'No job "nightly" exists');
    assert.equal(
      notFoundMessage('job', '/api/jobs', 'nightly', { items: [removal(1)], total: 1 }),
      'No job is named "nightly" now. A job of that name was removed at 2026-11-11T10:00:00.000Z by alice: its id is id0000000001, and its versions stay readable at GET /api/jobs/id0000000001/versions',
    );
  });

  it('lists several newest first as given, says how many more, and stays whole in an error body', () => {
    assert.equal(
      notFoundMessage('script template', '/api/scripts', 'x', { items: [removal(3, 'bob'), removal(2)], total: 4 }),
      'No script template is named "x" now. 4 script templates of that name were removed, newest first: id0000000003 at 2026-11-13T10:00:00.000Z by bob; ' +
        'id0000000002 at 2026-11-12T10:00:00.000Z by alice; and 2 more. Their versions stay readable at GET /api/scripts/<id>/versions',
    );
    // Long names and actors: fewer are listed (never none), the count stays right, nothing is cut.
    const long = 'n'.repeat(100);
    const items = [5, 4, 3, 2, 1].map((n) => removal(n, 'a'.repeat(64)));
    const message = notFoundMessage('script template', '/api/scripts', long, { items, total: 9 });
    assert.ok(message.length <= MAX_MESSAGE_LENGTH, `${message.length} characters`);
    const listed = [...message.matchAll(/id\d{10}/g)].length;
    assert.ok(listed >= 1 && listed < REMOVALS_NAMED, `${listed} listed`);
    assert.match(message, new RegExp(`; and ${9 - listed} more\\. Their versions stay readable at GET /api/scripts/<id>/versions$`));
  });

  it('is remembered by the templates\' read model under the name then, case-insensitively, once however often applied', () => {
    const scripts = new ScriptsReadModel();
    scripts.open(new Database(':memory:'));
    let revision = 0;
    const event = (id: string, type: string, data: Record<string, unknown>, actor = 'alice'): RecordedEvent => ({
      id: `e${revision}`, stream: `script-${id}`, revision: BigInt(revision), position: { commit: BigInt(revision), prepare: BigInt(revision) }, type, data: { scriptId: id, ...data },
      metadata: { actor, at: `2026-11-0${++revision}T00:00:00.000Z`, correlationId: 'c', causationId: null, source: 'api' },
    });
    const events = [
      event('s1', 'ScriptCreated', { name: 'Build', interpreter: 'bash', body: 'a' }),
      event('s1', 'ScriptUpdated', { name: 'Release' }),
      event('s1', 'ScriptRemoved', {}, 'bob'),
      event('s2', 'ScriptCreated', { name: 'release', interpreter: 'bash', body: 'b' }),
      event('s2', 'ScriptRemoved', {}, 'carol'),
    ];
    for (const e of events) for (let i = 0; i < 2; i++) scripts.apply(e);
    assert.deepEqual(scripts.removedNamed('RELEASE', 5), {
      items: [
        { id: 's2', name: 'release', removedAt: '2026-11-05T00:00:00.000Z', removedBy: 'carol' },
        { id: 's1', name: 'Release', removedAt: '2026-11-03T00:00:00.000Z', removedBy: 'bob' },
      ],
      total: 2,
    });
    assert.deepEqual(scripts.removedNamed('release', 1), { items: [{ id: 's2', name: 'release', removedAt: '2026-11-05T00:00:00.000Z', removedBy: 'carol' }], total: 2 });
    assert.deepEqual(scripts.removedNamed('build', 5), { items: [], total: 0 }, 'only the name it had when removed');
  });
});
