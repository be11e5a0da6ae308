import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evolveJob, initialJobState } from '../../src/jobs/job.decider';
import type { JobEvent } from '../../src/jobs/job.events';
import { readableJobEvent } from '../../src/jobs/job.upcast';
import { evolveScript, initialScriptState } from '../../src/scripts/script.decider';
import type { ScriptEvent } from '../../src/scripts/script.events';
import { readableScriptEvent } from '../../src/scripts/script.upcast';

const created: JobEvent = {
  type: 'JobCreated',
  data: { jobId: 'j1', name: 'nightly', description: 'd', scriptId: 's1', args: ['a'], env: { A: '1' }, tags: ['t'], timeoutSeconds: 60, maxConcurrent: 2, schedules: [] },
};

describe('Upcast of job and template events recorded with impossible values (before null was refused)', () => {
  it('passes valid events through untouched', () => {
    assert.equal(readableJobEvent(created), created);
    const update: JobEvent = { type: 'JobUpdated', data: { jobId: 'j1', timeoutSeconds: null, maxConcurrent: null, tags: [] } };
    assert.equal(readableJobEvent(update), update);
  });

  it('reads an impossible value in JobUpdated as "not changed", in the decider too', () => {
    const bad = { type: 'JobUpdated', data: { jobId: 'j1', tags: null, args: null, env: null, name: null, description: 7, schedules: null, timeoutSeconds: 'x', scriptId: '' } } as unknown as JobEvent;
    const state = [created, bad].reduce(evolveJob, initialJobState);
    assert.equal(state.status, 'active');
    if (state.status !== 'active') return;
    assert.deepEqual([state.name, state.args, state.env, state.tags, state.description, state.schedules, state.timeoutSeconds, state.scriptId], ['nightly', ['a'], { A: '1' }, ['t'], 'd', [], 60, 's1']);
  });

  it('reads an impossible value in JobCreated as its default', () => {
    const bad = { type: 'JobCreated', data: { ...created.data, args: null, tags: [null], env: { A: 1 } } } as unknown as JobEvent;
    const event = readableJobEvent(bad);
    assert.equal(event.type, 'JobCreated');
    if (event.type !== 'JobCreated') return;
    assert.deepEqual([event.data.args, event.data.tags, event.data.env, event.data.name], [[], [], {}, 'nightly']);
  });

  it('does the same for templates: ScriptUpdated {body: null} changes nothing', () => {
    const scriptCreated: ScriptEvent = { type: 'ScriptCreated', data: { scriptId: 's1', name: 'build', interpreter: 'bash', body: 'make' } };
    const bad = { type: 'ScriptUpdated', data: { scriptId: 's1', body: null, interpreter: null, name: '' } } as unknown as ScriptEvent;
    assert.equal(readableScriptEvent(scriptCreated), scriptCreated);
    const state = [scriptCreated, bad].reduce(evolveScript, initialScriptState);
    assert.equal(state.status, 'active');
    if (state.status !== 'active') return;
    assert.deepEqual([state.name, state.interpreter, state.body], ['build', 'bash', 'make']);
  });
});
