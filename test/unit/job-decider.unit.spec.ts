/** The job decider: every command, the events it yields and every refusal. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideJob, evolveJob, initialJobState, requireActive, type JobCommand, type JobState } from '../../src/jobs/job.decider';
import type { JobDefinition, JobEvent, JobFile } from '../../src/jobs/job.events';
import { ConflictError, NotFoundError, ValidationError } from '../../src/shared/domain-errors';
import { spec } from './given-when-then';

const jobs = spec<JobCommand, JobState, JobEvent>({ initialState: initialJobState, decide: decideJob, evolve: evolveJob });

const ID = 'j-1';
const definition: Required<JobDefinition> = {
  name: 'nightly',
  description: 'Runs every test',
  scriptId: 's-1',
  args: ['--all', '-v'],
  env: { CI: '1', LANG: 'C' },
  tags: ['ci'],
  timeoutSeconds: 600,
  maxConcurrent: null,
  schedules: [],
  keepWorkdir: false,
  keepRuns: null,
  artifacts: [],
  runsOn: [],
};
const created: JobEvent = { type: 'JobCreated', data: { jobId: ID, ...definition } };
const removed: JobEvent = { type: 'JobRemoved', data: { jobId: ID } };
const fileA: JobFile = { name: 'a.txt', size: 3, sha256: 'a'.repeat(64) };
const fileB: JobFile = { name: 'b.bin', size: 10, sha256: 'b'.repeat(64) };
const attached = (file: JobFile): JobEvent => ({ type: 'JobFileAttached', data: { jobId: ID, file } });
const activeState = (over: Partial<Extract<JobState, { status: 'active' }>> = {}): JobState => ({
  status: 'active',
  jobId: ID,
  files: [],
  ...definition,
  ...over,
});

const create = (over: Partial<Extract<JobCommand, { type: 'CreateJob' }>> = {}): JobCommand => ({
  type: 'CreateJob',
  jobId: ID,
  definition,
  nameTakenBy: null,
  scriptExists: true,
  ...over,
});
const update = (changes: Partial<JobDefinition>, over: Partial<Extract<JobCommand, { type: 'UpdateJob' }>> = {}): JobCommand => ({
  type: 'UpdateJob',
  jobId: ID,
  changes,
  nameTakenBy: null,
  scriptExists: true,
  ...over,
});
const attach = (...files: JobFile[]): JobCommand => ({ type: 'AttachJobFiles', jobId: ID, files });
const removeFile = (name: string): JobCommand => ({ type: 'RemoveJobFile', jobId: ID, name });
const removeJob = (activeRuns: number[] = []): JobCommand => ({ type: 'RemoveJob', jobId: ID, activeRuns });

describe('job decider', () => {
  describe('CreateJob', () => {
    it('records JobCreated with the whole definition; the job starts with no files', () => {
      const state = jobs.given().when(create()).then([created]);
      assert.deepStrictEqual(state, activeState());
    });

    it('accepts a name whose holder is this very job', () => {
      jobs.given().when(create({ nameTakenBy: { id: ID, name: 'Nightly' } })).then([created]);
    });

    it('refuses a name another job holds', () => {
      jobs.given().when(create({ nameTakenBy: { id: 'j-2', name: 'Nightly' } })).thenThrows(ConflictError, /^A job named "Nightly" already exists$/);
    });

    it('refuses an unknown script template', () => {
      jobs
        .given()
        .when(create({ scriptExists: false }))
        .thenThrows(ValidationError, /^scriptId: no script template "s-1" exists$/);
    });

    it('names an unknown script template together with the other problems of the definition', () => {
      jobs
        .given()
        .when(create({ scriptExists: false, definition: { ...definition, maxConcurrent: 0, keepRuns: 0 } }))
        .thenThrows(ValidationError, /^scriptId: no script template "s-1" exists; maxConcurrent must be .*; keepRuns must be /);
      jobs
        .given(created)
        .when(update({ scriptId: 's-404', maxConcurrent: 0 }, { scriptExists: false }))
        .thenThrows(ValidationError, /^scriptId: no script template "s-404" exists; maxConcurrent must be /);
    });

    it('refuses an id that already exists, also when that job was removed', () => {
      jobs.given(created).when(create()).thenThrows(ConflictError, /^Job j-1 already exists$/);
      jobs.given(created, removed).when(create()).thenThrows(ConflictError, /^Job j-1 already exists$/);
    });
  });

  describe('UpdateJob', () => {
    it('records only the fields that changed, comparing lists and maps by value', () => {
      const state = jobs
        .given(created)
        .when(update({ ...definition, args: ['--all', '-v'], env: { CI: '1', LANG: 'C' }, tags: ['ci', 'slow'], timeoutSeconds: null }))
        .then([{ type: 'JobUpdated', data: { jobId: ID, tags: ['ci', 'slow'], timeoutSeconds: null } }]);
      assert.deepStrictEqual(state, activeState({ tags: ['ci', 'slow'], timeoutSeconds: null }));
    });

    it('records a change of every field', () => {
      const next: JobDefinition = {
        name: 'weekly',
        description: '',
        scriptId: 's-2',
        args: [],
        env: {},
        tags: [],
        timeoutSeconds: 30,
        maxConcurrent: 1,
        schedules: [{ cron: '0 3 * * *', timeZone: 'Europe/Berlin' }],
      };
      jobs.given(created).when(update(next)).then([{ type: 'JobUpdated', data: { jobId: ID, ...next } }]);
    });

    it('sees a reordered argument list as a change', () => {
      jobs.given(created).when(update({ args: ['-v', '--all'] })).then([{ type: 'JobUpdated', data: { jobId: ID, args: ['-v', '--all'] } }]);
    });

    it('records nothing when nothing changes', () => {
      jobs.given(created).when(update({ ...definition })).then([]);
      jobs.given(created).when(update({})).then([]);
    });

    it(
      'records nothing for the same environment written in another key order',

      () => {
        jobs.given(created).when(update({ env: { LANG: 'C', CI: '1' } })).then([]);
      },
    );

    it('accepts a rename whose name holder is the job itself', () => {
      jobs
        .given(created)
        .when(update({ name: 'NIGHTLY' }, { nameTakenBy: { id: ID, name: 'nightly' } }))
        .then([{ type: 'JobUpdated', data: { jobId: ID, name: 'NIGHTLY' } }]);
    });

    it('refuses a rename to a name another job holds', () => {
      jobs
        .given(created)
        .when(update({ name: 'weekly' }, { nameTakenBy: { id: 'j-2', name: 'Weekly' } }))
        .thenThrows(ConflictError, /^A job named "Weekly" already exists$/);
    });

    it('checks the name only when it changes', () => {
      jobs
        .given(created)
        .when(update({ name: 'nightly', description: 'new' }, { nameTakenBy: { id: 'j-2', name: 'nightly' } }))
        .then([{ type: 'JobUpdated', data: { jobId: ID, description: 'new' } }]);
    });

    it('refuses a change to an unknown script template', () => {
      jobs
        .given(created)
        .when(update({ scriptId: 's-404' }, { scriptExists: false }))
        .thenThrows(ValidationError, /^scriptId: no script template "s-404" exists$/);
    });

    it('still allows other edits when the unchanged template no longer exists', () => {
      jobs
        .given(created)
        .when(update({ scriptId: 's-1', tags: [] }, { scriptExists: false }))
        .then([{ type: 'JobUpdated', data: { jobId: ID, tags: [] } }]);
    });

    it('refuses an absent job', () => {
      jobs.given().when(update({ description: 'x' })).thenThrows(NotFoundError, /^Job j-1 does not exist$/);
    });

    it('refuses a removed job, naming it', () => {
      jobs.given(created, removed).when(update({ description: 'x' })).thenThrows(NotFoundError, /^Job "nightly" was removed$/);
    });
  });

  describe('AttachJobFiles', () => {
    it('records one JobFileAttached per file, in the order given', () => {
      const state = jobs.given(created).when(attach(fileA, fileB)).then([attached(fileA), attached(fileB)]);
      assert.deepStrictEqual(state, activeState({ files: [fileA, fileB] }));
    });

    it('records nothing when no file is given', () => {
      jobs.given(created).when(attach()).then([]);
    });

    it('records nothing when identical content is attached again under the same name', () => {
      jobs.given(created, attached(fileA)).when(attach({ ...fileA })).then([]);
    });

    it('records only the files that differ from what is attached', () => {
      jobs.given(created, attached(fileA)).when(attach(fileA, fileB)).then([attached(fileB)]);
    });

    it('replaces a file attached again under the same name with other content', () => {
      const newA: JobFile = { name: 'a.txt', size: 5, sha256: 'c'.repeat(64) };
      const state = jobs.given(created, attached(fileA), attached(fileB)).when(attach(newA)).then([attached(newA)]);
      assert.deepStrictEqual(state, activeState({ files: [fileB, newA] }));
    });

    it('attaches the same content under another name', () => {
      const copy: JobFile = { ...fileA, name: 'copy.txt' };
      jobs.given(created, attached(fileA)).when(attach(copy)).then([attached(copy)]);
    });

    it('refuses the same file name twice in one attach, even with the same content', () => {
      jobs
        .given(created)
        .when(attach(fileA, fileB, { ...fileA, sha256: 'd'.repeat(64) }))
        .thenThrows(ValidationError, /^file: "a\.txt" is given twice$/);
      jobs.given(created, attached(fileA)).when(attach(fileA, fileA)).thenThrows(ValidationError, /"a\.txt" is given twice/);
    });

    it('refuses an absent or removed job', () => {
      jobs.given().when(attach(fileA)).thenThrows(NotFoundError, /^Job j-1 does not exist$/);
      jobs.given(created, removed).when(attach(fileA)).thenThrows(NotFoundError, /^Job "nightly" was removed$/);
    });
  });

  describe('RemoveJobFile', () => {
    it('records JobFileRemoved for an attached file', () => {
      const state = jobs
        .given(created, attached(fileA), attached(fileB))
        .when(removeFile('a.txt'))
        .then([{ type: 'JobFileRemoved', data: { jobId: ID, name: 'a.txt' } }]);
      assert.deepStrictEqual(state, activeState({ files: [fileB] }));
    });

    it('refuses a file name the job does not have, naming job and file', () => {
      jobs
        .given(created, attached(fileA))
        .when(removeFile('missing.txt'))
        .thenThrows(NotFoundError, /^Job "nightly" has no input file named "missing\.txt"$/);
    });

    it('refuses to remove the same file twice', () => {
      jobs
        .given(created, attached(fileA), { type: 'JobFileRemoved', data: { jobId: ID, name: 'a.txt' } })
        .when(removeFile('a.txt'))
        .thenThrows(NotFoundError, /no input file named "a\.txt"/);
    });

    it('matches file names exactly (case-sensitive)', () => {
      jobs.given(created, attached(fileA)).when(removeFile('A.TXT')).thenThrows(NotFoundError, /"A\.TXT"/);
    });

    it('refuses an absent or removed job', () => {
      jobs.given().when(removeFile('a.txt')).thenThrows(NotFoundError, /does not exist/);
      jobs.given(created, attached(fileA), removed).when(removeFile('a.txt')).thenThrows(NotFoundError, /"nightly" was removed/);
    });
  });

  describe('AdmitRun', () => {
    const admit: JobCommand = { type: 'AdmitRun', jobId: ID, runId: `${ID}-4`, number: 4 };
    const admitted: JobEvent = { type: 'JobRunAdmitted', data: { jobId: ID, runId: `${ID}-4`, number: 4 } };

    it('admits a run of an active job, which stays as it was', () => {
      const state = jobs.given(created).when(admit).then([admitted]);
      assert.deepStrictEqual(state, activeState());
    });

    it('refuses a removed or absent job', () => {
      jobs.given(created, removed).when(admit).thenThrows(NotFoundError, /^Job "nightly" was removed$/);
      jobs.given().when(admit).thenThrows(NotFoundError, /does not exist/);
    });

    it('is bookkeeping: admissions and fences change nothing of the job', () => {
      const fenced: JobEvent = { type: 'JobChangeFenced', data: { jobId: ID, reason: 'x' } };
      jobs.given(fenced).thenState(initialJobState);
      jobs.given(created, admitted, fenced).thenState(activeState());
    });
  });

  describe('RemoveJob', () => {
    it('records JobRemoved when no run is active', () => {
      const state = jobs.given(created, attached(fileA)).when(removeJob()).then([removed]);
      assert.deepStrictEqual(state, { status: 'removed', jobId: ID, name: 'nightly' });
    });

    it('refuses while runs are active, naming their numbers', () => {
      jobs
        .given(created)
        .when(removeJob([3, 5]))
        .thenThrows(ConflictError, /^Job "nightly" has runs that are not finished \(#3, #5\): cancel them first$/);
      jobs.given(created).when(removeJob([12])).thenThrows(ConflictError, /\(#12\)/);
    });

    it('refuses an absent job, and to remove twice', () => {
      jobs.given().when(removeJob()).thenThrows(NotFoundError, /^Job j-1 does not exist$/);
      jobs.given(created, removed).when(removeJob()).thenThrows(NotFoundError, /^Job "nightly" was removed$/);
    });
  });

  describe('artifacts', () => {
    it('reads a definition recorded before artifacts existed (or with an impossible value) as declaring none, and records a change', () => {
      const { artifacts: _a, ...older } = definition;
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...older } }).thenState(activeState());
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...definition, artifacts: 'dist/*' as unknown as string[] } }).thenState(activeState());
      const changed: JobEvent = { type: 'JobUpdated', data: { jobId: ID, artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] } };
      const state = jobs.given(created).when(update({ artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] })).then([changed]);
      assert.deepStrictEqual(state, activeState({ artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] }));
      jobs.given(created, changed).when(update({ artifacts: ['dist/*.tar.gz', 'reports/**/*.xml'] })).then([]);
    });

    it('refuses absolute patterns, ".." segments, negations and empty patterns, naming each', () => {
      for (const [pattern, problem] of [
        ['/etc/passwd', /must be relative to the work directory/],
        ['../other/*', /must not contain "\.\."/],
        ['dist/../../x', /must not contain "\.\."/],
        ['!dist/*', /must not start with "!"/],
        ['  ', /must not be empty/],
      ] as const) {
        jobs.given(created).when(update({ artifacts: ['ok/*', pattern] })).thenThrows(ValidationError, problem);
      }
    });
  });

  describe('keepWorkdir', () => {
    it('reads a definition recorded before it existed as false, records a change, and records nothing for the same value', () => {
      const { keepWorkdir: _k, ...older } = definition;
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...older } }).thenState(activeState());
      jobs.given().when(create({ definition: older })).then([created]);
      const kept: JobEvent = { type: 'JobUpdated', data: { jobId: ID, keepWorkdir: true } };
      const state = jobs.given(created).when(update({ keepWorkdir: true })).then([kept]);
      assert.deepStrictEqual(state, activeState({ keepWorkdir: true }));
      jobs.given(created, kept).when(update({ keepWorkdir: true })).then([]);
      jobs.given(created, kept).when(update({ keepWorkdir: false })).then([{ type: 'JobUpdated', data: { jobId: ID, keepWorkdir: false } }]);
    });
  });

  describe('placement: runsOn', () => {
    it('records labels given at creation and changed ones; the same labels again record nothing; [] clears them', () => {
      const state = jobs.given().when(create({ definition: { ...definition, runsOn: ['linux', 'gpu'] } })).then([
        { type: 'JobCreated', data: { jobId: ID, ...definition, runsOn: ['linux', 'gpu'] } },
      ]);
      assert.deepStrictEqual(state, activeState({ runsOn: ['linux', 'gpu'] }));
      const labelled: JobEvent = { type: 'JobUpdated', data: { jobId: ID, runsOn: ['linux'] } };
      jobs.given(created).when(update({ runsOn: ['linux'] })).then([labelled]);
      jobs.given(created, labelled).when(update({ runsOn: ['linux'] })).then([]);
      jobs.given(created, labelled).when(update({ runsOn: [] })).then([{ type: 'JobUpdated', data: { jobId: ID, runsOn: [] } }]);
    });

    it('reads a JobCreated recorded before runsOn existed as runnable anywhere (upcast), and a later edit keeps it', () => {
      const { runsOn: _r, ...older } = definition;
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...older } }).thenState(activeState({ runsOn: [] }));
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...older } }, { type: 'JobUpdated', data: { jobId: ID, tags: ['x'] } }).thenState(activeState({ runsOn: [], tags: ['x'] }));
    });

    it('refuses a label outside the syntax, naming it', () => {
      jobs.given(created).when(update({ runsOn: ['linux', 'has space'] })).thenThrows(ValidationError, /^runsOn: "has space" is not a label \(1–64 letters/);
      jobs.given().when(create({ definition: { ...definition, runsOn: [''] } })).thenThrows(ValidationError, /^runsOn: "" is not a label/);
    });
  });

  describe('run control fields: maxConcurrent and schedules', () => {
    const nightly = { cron: '30 2 * * 1-5', timeZone: 'Europe/Berlin' };

    it('records a limit and schedules given at creation', () => {
      const withControls = { ...definition, maxConcurrent: 1, schedules: [nightly] };
      const state = jobs.given().when(create({ definition: withControls })).then([{ type: 'JobCreated', data: { jobId: ID, ...withControls } }]);
      assert.deepStrictEqual(state, activeState({ maxConcurrent: 1, schedules: [nightly] }));
    });

    it('fills in no limit and no schedules when a definition leaves them out (the web form, older clients)', () => {
      const { maxConcurrent: _m, schedules: _s, ...plain } = definition;
      jobs.given().when(create({ definition: plain })).then([created]);
    });

    it('reads a JobCreated recorded before these fields existed as no limit and no schedules (upcast)', () => {
      const { maxConcurrent: _m, schedules: _s, ...plain } = definition;
      jobs.given({ type: 'JobCreated', data: { jobId: ID, ...plain } }).thenState(activeState());
    });

    it('records a changed limit, its removal, and changed schedules; the same schedules again record nothing', () => {
      const state = jobs
        .given(created)
        .when(update({ maxConcurrent: 2, schedules: [nightly] }))
        .then([{ type: 'JobUpdated', data: { jobId: ID, maxConcurrent: 2, schedules: [nightly] } }]);
      assert.deepStrictEqual(state, activeState({ maxConcurrent: 2, schedules: [nightly] }));
      const limited: JobEvent = { type: 'JobUpdated', data: { jobId: ID, maxConcurrent: 2, schedules: [nightly] } };
      jobs.given(created, limited).when(update({ maxConcurrent: null })).then([{ type: 'JobUpdated', data: { jobId: ID, maxConcurrent: null } }]);
      jobs.given(created, limited).when(update({ schedules: [{ ...nightly }], maxConcurrent: 2 })).then([]);
      jobs.given(created, limited).when(update({ schedules: [] })).then([{ type: 'JobUpdated', data: { jobId: ID, schedules: [] } }]);
    });

    it('refuses a limit below 1, above the maximum, or not whole', () => {
      for (const maxConcurrent of [0, -1, 1.5, 1025]) {
        jobs.given(created).when(update({ maxConcurrent })).thenThrows(ValidationError, /^maxConcurrent must be a whole number from 1 to 1024/);
        jobs.given().when(create({ definition: { ...definition, maxConcurrent } })).thenThrows(ValidationError, /maxConcurrent/);
      }
    });

    it('refuses an invalid cron expression, naming the schedule and what is wrong', () => {
      jobs
        .given(created)
        .when(update({ schedules: [nightly, { cron: '61 * * * *', timeZone: 'UTC' }] }))
        .thenThrows(ValidationError, /^schedules\[1\]\.cron "61 \* \* \* \*" is not a valid cron expression: .*minute/);
      jobs.given(created).when(update({ schedules: [{ cron: 'every day', timeZone: 'UTC' }] })).thenThrows(ValidationError, /schedules\[0\]\.cron/);
    });

    it('refuses an unknown time zone, a pattern that never matches, and a repeated schedule', () => {
      jobs.given(created).when(update({ schedules: [{ cron: '0 3 * * *', timeZone: 'Mars/Olympus' }] })).thenThrows(ValidationError, /^schedules\[0\]\.timeZone must be an IANA time zone/);
      jobs.given(created).when(update({ schedules: [{ cron: '0 0 30 2 *', timeZone: 'UTC' }] })).thenThrows(ValidationError, /^schedules\[0\]\.cron "0 0 30 2 \*" never matches any time$/);
      jobs.given(created).when(update({ schedules: [nightly, { ...nightly }] })).thenThrows(ValidationError, /^schedules\[1\] repeats an earlier schedule$/);
    });

    it('accepts the same pattern in another time zone, six fields with seconds, and @daily', () => {
      const schedules = [nightly, { ...nightly, timeZone: 'UTC' }, { cron: '*/10 * * * * *', timeZone: 'UTC' }, { cron: '@daily', timeZone: 'Asia/Tokyo' }];
      jobs.given(created).when(update({ schedules })).then([{ type: 'JobUpdated', data: { jobId: ID, schedules } }]);
    });

    it('refuses more than ten schedules', () => {
      const schedules = Array.from({ length: 11 }, (_, minute) => ({ cron: `${minute} * * * *`, timeZone: 'UTC' }));
      jobs.given(created).when(update({ schedules })).thenThrows(ValidationError, /^schedules must have at most 10 entries$/);
    });
  });

  describe('evolveJob', () => {
    it('starts absent', () => {
      jobs.given().thenState({ status: 'absent' });
    });

    it('keeps the name of the job at its removal', () => {
      jobs.given(created, { type: 'JobUpdated', data: { jobId: ID, name: 'renamed' } }, removed).thenState({ status: 'removed', jobId: ID, name: 'renamed' });
    });

    it('ignores events that do not apply to an absent or removed job', () => {
      jobs.given({ type: 'JobUpdated', data: { jobId: ID, name: 'x' } }, attached(fileA), removed).thenState({ status: 'absent' });
      jobs
        .given(created, removed, { type: 'JobUpdated', data: { jobId: ID, name: 'x' } }, attached(fileA), { type: 'JobFileRemoved', data: { jobId: ID, name: 'a.txt' } }, removed)
        .thenState({ status: 'removed', jobId: ID, name: 'nightly' });
    });

    it('requireActive returns the active state itself', () => {
      const state = jobs.given(created).state;
      assert.equal(requireActive(state, ID), state);
    });
  });
});
