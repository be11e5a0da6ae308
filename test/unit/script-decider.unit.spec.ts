/** The script template decider: every command, the events it yields and every refusal. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideScript, evolveScript, initialScriptState, type ScriptCommand, type ScriptState } from '../../src/scripts/script.decider';
import type { ScriptEvent } from '../../src/scripts/script.events';
import { ConflictError, NotFoundError } from '../../src/shared/domain-errors';
import { spec } from './given-when-then';

const scripts = spec<ScriptCommand, ScriptState, ScriptEvent>({ initialState: initialScriptState, decide: decideScript, evolve: evolveScript });

const ID = 's-1';
const created: ScriptEvent = { type: 'ScriptCreated', data: { scriptId: ID, name: 'Build', interpreter: 'bash', body: 'make all' } };
const removed: ScriptEvent = { type: 'ScriptRemoved', data: { scriptId: ID } };

const create = (over: Partial<Extract<ScriptCommand, { type: 'CreateScript' }>> = {}): ScriptCommand => ({
  type: 'CreateScript',
  scriptId: ID,
  name: 'Build',
  interpreter: 'bash',
  body: 'make all',
  nameTakenBy: null,
  ...over,
});
const update = (changes: { name?: string; interpreter?: string; body?: string }, nameTakenBy: { id: string; name: string } | null = null): ScriptCommand => ({
  type: 'UpdateScript',
  scriptId: ID,
  changes,
  nameTakenBy,
});
const remove = (usedByJobs: string[] = []): ScriptCommand => ({ type: 'RemoveScript', scriptId: ID, usedByJobs });

describe('script decider', () => {
  describe('CreateScript', () => {
    it('records ScriptCreated with every field, and the template becomes active', () => {
      const state = scripts.given().when(create()).then([created]);
      assert.deepStrictEqual(state, { status: 'active', scriptId: ID, name: 'Build', interpreter: 'bash', body: 'make all' });
    });

    it('accepts a name whose holder is this very template', () => {
      scripts.given().when(create({ nameTakenBy: { id: ID, name: 'build' } })).then([created]);
    });

    it('refuses a name another template holds, naming the holder as it is spelled', () => {
      scripts
        .given()
        .when(create({ name: 'BUILD', nameTakenBy: { id: 's-2', name: 'Build' } }))
        .thenThrows(ConflictError, /^A script template named "Build" already exists$/);
    });

    it('refuses an id that already exists', () => {
      scripts.given(created).when(create()).thenThrows(ConflictError, /^Script template s-1 already exists$/);
    });

    it('refuses an id whose template was removed (ids are never reused)', () => {
      scripts.given(created, removed).when(create()).thenThrows(ConflictError, /s-1 already exists/);
    });
  });

  describe('UpdateScript', () => {
    it('records only the fields that changed', () => {
      const state = scripts
        .given(created)
        .when(update({ name: 'Build', interpreter: 'bash', body: 'make test' }))
        .then([{ type: 'ScriptUpdated', data: { scriptId: ID, body: 'make test' } }]);
      assert.deepStrictEqual(state, { status: 'active', scriptId: ID, name: 'Build', interpreter: 'bash', body: 'make test' });
    });

    it('records every changed field in one event', () => {
      scripts
        .given(created)
        .when(update({ name: 'Compile', interpreter: 'python3', body: 'print(1)' }))
        .then([{ type: 'ScriptUpdated', data: { scriptId: ID, name: 'Compile', interpreter: 'python3', body: 'print(1)' } }]);
    });

    it('records nothing when nothing changes', () => {
      scripts.given(created).when(update({ name: 'Build', interpreter: 'bash', body: 'make all' })).then([]);
    });

    it('records nothing for an empty change set', () => {
      scripts.given(created).when(update({})).then([]);
    });

    it('treats an empty body as a change, not as "absent"', () => {
      scripts.given(created).when(update({ body: '' })).then([{ type: 'ScriptUpdated', data: { scriptId: ID, body: '' } }]);
    });

    it('compares against the latest update, not the creation', () => {
      const changed: ScriptEvent = { type: 'ScriptUpdated', data: { scriptId: ID, body: 'make test' } };
      scripts.given(created, changed).when(update({ body: 'make test' })).then([]);
      scripts.given(created, changed).when(update({ body: 'make all' })).then([{ type: 'ScriptUpdated', data: { scriptId: ID, body: 'make all' } }]);
    });

    it('accepts a rename whose name holder is the template itself (a change of case)', () => {
      scripts
        .given(created)
        .when(update({ name: 'BUILD' }, { id: ID, name: 'Build' }))
        .then([{ type: 'ScriptUpdated', data: { scriptId: ID, name: 'BUILD' } }]);
    });

    it('refuses a rename to a name another template holds', () => {
      scripts
        .given(created)
        .when(update({ name: 'deploy', body: 'x' }, { id: 's-9', name: 'Deploy' }))
        .thenThrows(ConflictError, /^A script template named "Deploy" already exists$/);
    });

    it('refuses an absent template', () => {
      scripts.given().when(update({ body: 'x' })).thenThrows(NotFoundError, /^Script template s-1 does not exist$/);
    });

    it('refuses a removed template, naming it', () => {
      scripts.given(created, removed).when(update({ body: 'x' })).thenThrows(NotFoundError, /^Script template "Build" was removed$/);
    });

    it('refuses a no-op update of a removed template too', () => {
      scripts.given(created, removed).when(update({})).thenThrows(NotFoundError, /was removed/);
    });
  });

  describe('RemoveScript', () => {
    it('records ScriptRemoved when no job uses the template', () => {
      const state = scripts.given(created).when(remove()).then([removed]);
      assert.deepStrictEqual(state, { status: 'removed', scriptId: ID, name: 'Build' });
    });

    it('refuses while one job uses it, naming the job', () => {
      scripts
        .given(created)
        .when(remove(['nightly']))
        .thenThrows(ConflictError, /^Script template is used by job "nightly": change or remove it first$/);
    });

    it('refuses while several jobs use it, naming every job', () => {
      scripts
        .given(created)
        .when(remove(['nightly', 'release']))
        .thenThrows(ConflictError, /^Script template is used by jobs "nightly", "release": change or remove them first$/);
    });

    it('refuses an absent template', () => {
      scripts.given().when(remove()).thenThrows(NotFoundError, /s-1 does not exist/);
    });

    it('refuses to remove twice', () => {
      scripts.given(created, removed).when(remove()).thenThrows(NotFoundError, /"Build" was removed/);
    });
  });

  describe('evolveScript', () => {
    it('starts absent', () => {
      scripts.given().thenState({ status: 'absent' });
    });

    it('folds a whole history', () => {
      scripts
        .given(
          created,
          { type: 'ScriptUpdated', data: { scriptId: ID, name: 'Compile' } },
          { type: 'ScriptUpdated', data: { scriptId: ID, interpreter: 'sh' } },
        )
        .thenState({ status: 'active', scriptId: ID, name: 'Compile', interpreter: 'sh', body: 'make all' });
    });

    it('keeps the name the template had when it was removed', () => {
      scripts.given(created, { type: 'ScriptUpdated', data: { scriptId: ID, name: 'Old' } }, removed).thenState({ status: 'removed', scriptId: ID, name: 'Old' });
    });

    it('ignores updates and removals that do not apply', () => {
      scripts.given({ type: 'ScriptUpdated', data: { scriptId: ID, body: 'x' } }).thenState({ status: 'absent' });
      scripts.given(removed).thenState({ status: 'absent' });
      scripts
        .given(created, removed, { type: 'ScriptUpdated', data: { scriptId: ID, name: 'Again' } }, removed)
        .thenState({ status: 'removed', scriptId: ID, name: 'Build' });
    });
  });
});

describe('script decider: DeclareUse', () => {
  const declare: ScriptCommand = { type: 'DeclareUse', scriptId: ID, jobId: 'j-1', jobRevision: 3 };
  const declared: ScriptEvent = { type: 'ScriptUseDeclared', data: { scriptId: ID, jobId: 'j-1', jobRevision: 3 } };

  it('records that a job is about to use an active template, which stays as it was', () => {
    const state = scripts.given(created).when(declare).then([declared]);
    assert.deepStrictEqual(state, { status: 'active', scriptId: ID, name: 'Build', interpreter: 'bash', body: 'make all' });
  });

  it('refuses a removed or absent template', () => {
    scripts.given(created, removed).when(declare).thenThrows(NotFoundError, /^Script template "Build" was removed$/);
    scripts.given().when(declare).thenThrows(NotFoundError, /does not exist/);
  });
});
