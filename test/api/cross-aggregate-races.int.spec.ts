/**
 * Rules one aggregate checks against another, raced over HTTP on the embedded store
 * (issue 10, item 3): a job is removed only when none of its runs is unfinished, and a
 * removed job never gets, or executes, a run — whether the run is requested, re-run or
 * fired by a schedule at the same moment as the removal; a template is removed only
 * when no job uses it, and no job is created on, or moved to, a removed template. Each race is run many times;
 * the answers must always tell one consistent story, and the log must agree.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { comparePositions, type NewEvent, type RecordedEvent } from '../../src/event-store/event-store.port';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const ROUNDS = 30;

/** Resolves after `count` turns of the event loop. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Run {
  id: string;
  jobId: string;
  status: string;
  reason: string | null;
}

describe('Races across aggregates (embedded store)', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'quick', body: 'echo ran' } }), 201);
  });
  after(async () => {
    await t.close();
  });

  async function streamOf(stream: string): Promise<RecordedEvent[]> {
    return t.store.readStream(stream);
  }

  /** Every run stream of a job in the log (runs are numbered from 1; voided requests included). */
  async function runStreamsOf(jobId: string): Promise<RecordedEvent[][]> {
    const streams: RecordedEvent[][] = [];
    for (let n = 1; ; n++) {
      const events = await streamOf(`run-${jobId}-${n}`);
      if (events.length === 0) return streams;
      streams.push(events);
    }
  }

  /** A removed job: not one of its run streams holds a run (only voided requests), so nothing of it ever runs. */
  async function assertNoRunOfRemovedJob(jobId: string, label: string): Promise<void> {
    const types = (await runStreamsOf(jobId)).map((events) => events.map((e) => e.type));
    assert.ok(
      types.every((list) => list.length === 1 && list[0] === 'RunRequestVoided'),
      `${label}: the removed job has runs: ${JSON.stringify(types)}`,
    );
  }

  it('never answers 204 to a removal and 202 to a run request of the same job at the same moment', async () => {
    let removed = 0;
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `race ${round}`, scriptId: 'quick' } }), 201);
      const requests = Array.from({ length: 4 }, () => t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: { delaySeconds: 2 } }));
      const removal = t.request(`/api/jobs/${job.id}`, { method: 'DELETE' });
      const [deleted, ...started] = await Promise.all([removal, ...requests]);
      const statuses = started.map((answer) => answer.status);
      const accepted = statuses.filter((status) => status === 202).length;
      assert.ok(statuses.every((status) => status === 202 || status === 404 || status === 409), `round ${round}: ${statuses.join(',')}`);
      if (deleted.status === 204) {
        removed++;
        assert.equal(accepted, 0, `round ${round}: the job was removed, yet ${accepted} run request(s) answered 202`);
        await assertNoRunOfRemovedJob(job.id, `round ${round}`);
      } else {
        refused++;
        const body = (await deleted.json()) as { message: string };
        assert.equal(deleted.status, 409, `round ${round}: ${JSON.stringify(body)}`);
        assert.match(body.message, /not finished|requested at this very moment/);
        assert.ok(accepted > 0, `round ${round}: the removal was refused although no run was accepted`);
      }
    }
    // Both outcomes occur, so the race was really run both ways.
    assert.ok(removed > 0 && refused > 0, `removed ${removed}, refused ${refused}`);
  });

  it('never re-runs a run of a job removed at the same moment', async () => {
    let removed = 0;
    for (let round = 0; round < ROUNDS / 2; round++) {
      const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `rerun race ${round}`, scriptId: 'quick' } }), 201);
      const first = await expectJson<Run>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
      await eventually(async () => ((await expectJson<Run>(await t.request(`/api/runs/${first.id}`), 200)).status === 'succeeded' ? true : undefined), 10_000, 'the first run');
      const [deleted, ...reruns] = await Promise.all([
        t.request(`/api/jobs/${job.id}`, { method: 'DELETE' }),
        ...Array.from({ length: 3 }, () => t.request(`/api/runs/${first.id}/rerun`, { method: 'POST' })),
      ]);
      const statuses = reruns.map((answer) => answer.status);
      if (deleted.status === 204) {
        removed++;
        assert.deepEqual(statuses.filter((status) => status === 202), [], `round ${round}: ${statuses.join(',')}`);
        const streams = await runStreamsOf(job.id);
        assert.ok(streams.slice(1).every((events) => events.length === 1 && events[0].type === 'RunRequestVoided'), `round ${round}`);
      } else {
        assert.equal(deleted.status, 409, `round ${round}`);
        // Let its re-runs end, so later rounds do not wait behind them.
        await eventually(async () => {
          const runs = await expectJson<{ items: Run[] }>(await t.request(`/api/runs?jobId=${job.id}&status=active`), 200);
          return runs.items.length === 0 ? true : undefined;
        }, 15_000, 're-runs to finish');
      }
    }
    assert.ok(removed > 0, 'some removals won');
  });

  it('never attaches files to a job removed at the same moment', async () => {
    let removed = 0;
    for (let round = 0; round < ROUNDS / 2; round++) {
      const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `files race ${round}`, scriptId: 'quick' } }), 201);
      const upload = (): Promise<Response> => {
        const form = new FormData();
        form.append('file', new Blob([`round ${round}`]), 'input.txt');
        return t.request(`/api/jobs/${job.id}/files`, { method: 'POST', body: form });
      };
      const [deleted, ...uploads] = await Promise.all([turns(round % 4).then(() => t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })), upload(), upload()]);
      const types = (await streamOf(`job-${job.id}`)).map((event) => event.type);
      if (deleted.status === 204) {
        removed++;
        assert.deepEqual(uploads.map((answer) => answer.status).filter((status) => status === 201), [], `round ${round}`);
        assert.equal(types.at(-1), 'JobRemoved', `round ${round}: nothing after the removal (${types.join(',')})`);
      } else {
        assert.equal(deleted.status, 409, `round ${round}: ${await deleted.text()}`);
      }
    }
    assert.ok(removed > 0, 'some removals won');
  });

  it('stops firing a schedule once its job is removed, and never runs it after', async () => {
    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', { method: 'POST', json: { name: 'every second', scriptId: 'quick', schedules: [{ cron: '* * * * * *' }] } }),
      201,
    );
    await eventually(async () => ((await runStreamsOf(job.id)).length >= 2 ? true : undefined), 10_000, 'the schedule to fire');
    // Removal is refused while a fired run is unfinished; it wins in a gap between firings.
    await eventually(async () => ((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })).status === 204 ? true : undefined), 20_000, 'a removal to win');
    const removal = (await streamOf(`job-${job.id}`)).at(-1);
    assert.equal(removal?.type, 'JobRemoved');
    const before = (event: RecordedEvent | undefined): boolean => event !== undefined && removal !== undefined && comparePositions(event.position, removal.position) < 0;
    await delay(2_500);
    for (const events of await runStreamsOf(job.id)) {
      if (events[0].type === 'RunRequestVoided') continue;
      assert.ok(before(events[0]), 'no run requested after the removal');
      assert.equal(events.at(-1)?.type, 'RunFinished', 'every run of it ended before the removal');
      assert.ok(before(events.at(-1)));
    }
    assert.equal((await streamOf(`job-${job.id}`)).at(-1)?.type, 'JobRemoved', 'nothing admitted after the removal');
  });

  it('cancels, never runs, a waiting run of a removed job found in an old log', async () => {
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts/quick'), 200);
    const jobId = 'oldlogjob001';
    const meta = { actor: 'old', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
    const event = (type: string, data: unknown): NewEvent => ({ id: randomUUID(), type, data, metadata: meta });
    // Written by a version that let a removal and a request race: the job is gone, its run still waits.
    await t.store.append(`job-${jobId}`, [event('JobCreated', { jobId, name: 'old race', description: '', scriptId: script.id, args: [], env: {}, tags: [], timeoutSeconds: null })], 'no_stream');
    const snapshot = { scriptId: script.id, scriptName: 'quick', scriptVersion: 0, interpreter: 'bash', body: 'echo ran', jobVersion: 0, args: [], env: {}, files: [], timeoutSeconds: null };
    await t.store.append(`job-${jobId}`, [event('JobRemoved', { jobId })], 0n);
    const { position } = await t.store.append(
      `run-${jobId}-1`,
      [event('RunRequested', { runId: `${jobId}-1`, jobId, jobName: 'old race', number: 1, snapshot, extra: { args: [], env: {}, files: [] }, scheduledFor: null, rerunOf: null, trigger: null })],
      'no_stream',
    );
    await t.app.get(ProjectionEngine).waitFor(position);
    const run = await eventually(async () => {
      const current = await expectJson<Run>(await t.request(`/api/runs/${jobId}-1`), 200);
      return current.status === 'cancelled' ? current : undefined;
    }, 10_000, 'the run to be cancelled');
    assert.match(run.reason ?? '', /job was removed before the run started/);
    const types = (await streamOf(`run-${jobId}-1`)).map((e) => e.type);
    assert.deepEqual(types, ['RunRequested', 'RunFinished'], 'never claimed, never started');
  });

  it('never leaves a job on a template removed at the same moment it was created on it or pointed at it', async () => {
    const outcomes = { removed: 0, refused: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const template = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: `tmpl ${round}`, body: 'true' } }), 201);
      const other = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `moved ${round}`, scriptId: 'quick' } }), 201);
      // The removal is sent a few event-loop turns later round by round, so each side sometimes arrives first.
      const [deleted, moved, ...created] = await Promise.all([
        turns(round % 10).then(() => t.request(`/api/scripts/${template.id}`, { method: 'DELETE' })),
        t.request(`/api/jobs/${other.id}`, { method: 'PUT', json: { scriptId: template.id } }),
        ...Array.from({ length: 3 }, (_, n) => t.request('/api/jobs', { method: 'POST', json: { name: `on tmpl ${round}.${n}`, scriptId: template.id } })),
      ]);
      const statuses = [moved.status, ...created.map((answer) => answer.status)];
      const users = (await expectJson<{ items: Array<{ scriptId: string }> }>(await t.request('/api/jobs'), 200)).items.filter((job) => job.scriptId === template.id);
      if (deleted.status === 204) {
        outcomes.removed++;
        assert.ok(statuses.every((status) => status === 400), `round ${round}: template removed, yet ${statuses.join(',')}`);
        assert.deepEqual(users, [], `round ${round}: a job uses the removed template`);
      } else {
        outcomes.refused++;
        assert.equal(deleted.status, 409, `round ${round}: ${await deleted.text()}`);
        assert.ok(users.length > 0 && statuses.some((status) => status === 200 || status === 201), `round ${round}: refused, yet no job uses it`);
      }
    }
    assert.ok(outcomes.removed > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
  });

  it('refuses a run of a job on a removed template (an old log) before storing its files', async () => {
    const meta = { actor: 'old', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'api' };
    const event = (type: string, data: unknown): NewEvent => ({ id: randomUUID(), type, data, metadata: meta });
    await t.store.append('script-oldtemplat1', [event('ScriptCreated', { scriptId: 'oldtemplat1', name: 'gone', interpreter: 'bash', body: 'true' })], 'no_stream');
    await t.store.append('job-oldjobonrm1', [event('JobCreated', { jobId: 'oldjobonrm1', name: 'orphan', description: '', scriptId: 'oldtemplat1', args: [], env: {}, tags: [], timeoutSeconds: null })], 'no_stream');
    const { position } = await t.store.append('script-oldtemplat1', [event('ScriptRemoved', { scriptId: 'oldtemplat1' })], 0n);
    await t.app.get(ProjectionEngine).waitFor(position);
    const head = await t.head();
    const form = new FormData();
    form.append('file', new Blob(['bytes that must not be stored']), 'input.txt');
    const refused = await expectJson<{ message: string }>(await t.request('/api/jobs/oldjobonrm1/runs', { method: 'POST', body: form }), 409);
    assert.match(refused.message, /uses a script template that \("gone"\) was removed/);
    assert.equal(await t.head(), head, 'nothing stored');
  });

  it('keeps the version of a job when runs are requested, so an open edit stays current', async () => {
    const job = await expectJson<{ id: string; version: number }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'edited while run', scriptId: 'quick' } }), 201);
    await Promise.all(Array.from({ length: 5 }, () => t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: { delaySeconds: 60 } })));
    const after = await expectJson<{ version: number }>(await t.request(`/api/jobs/${job.id}`), 200);
    assert.equal(after.version, job.version);
    // Edits racing with requests: each edit lands (bookkeeping is not a change), none is lost.
    const edits = await Promise.all([
      t.request(`/api/jobs/${job.id}`, { method: 'PUT', headers: { 'if-match': `"${job.version}"` }, json: { description: 'edited' } }),
      ...Array.from({ length: 5 }, () => t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: { delaySeconds: 60 } })),
    ]);
    assert.deepEqual(edits.map((answer) => answer.status), [200, 202, 202, 202, 202, 202]);
    const edited = await expectJson<{ version: number; description: string }>(await t.request(`/api/jobs/${job.id}`), 200);
    assert.equal(edited.description, 'edited');
    const runs = await expectJson<{ items: Array<{ number: number }> }>(await t.request(`/api/runs?jobId=${job.id}&limit=100`), 200);
    // Numbered once each, and listed (newest first) in the order of their numbers, though requested at once.
    assert.deepEqual(runs.items.map((run) => run.number), Array.from({ length: 10 }, (_, n) => 10 - n));
  });
});
