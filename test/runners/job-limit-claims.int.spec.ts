/**
 * A job's `maxConcurrent` holds on one server while a claim is under way: a job
 * server's claim being appended has taken the job's place before the read model
 * shows it, so neither another job server's claim nor the server's own runner can
 * take the same place meanwhile (before, each looked only at what the read model
 * and its own claims showed, and both runs started).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RunScheduler } from '../../src/runs/execution/run-scheduler';
import { RunsReadModel, type RunRecord } from '../../src/runs/runs.read-model';
import { eventually, expectJson } from '../support/server-process';
import { type HeldAppends, holdAppends, startTestApp, type TestApp } from '../support/test-app';

describe("a job's maxConcurrent with claims under way", () => {
  let t: TestApp;
  let limitedJob: string;

  before(async () => {
    t = await startTestApp({});
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'lim-tpl', interpreter: 'bash', body: 'sleep 30' } }), 201);
    limitedJob = (await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'lim-job', scriptId: script.id, runsOn: ['lim'], maxConcurrent: 1 } }), 201)).id;
  });
  after(async () => {
    await t.close();
  });

  /** A registered job server labelled `lim`: its claim request. */
  async function jobServer(name: string): Promise<(wait: number) => Promise<Response>> {
    const { token } = await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', json: { name } }), 201);
    const report = encodeURIComponent(JSON.stringify({ labels: ['lim'], softwareVersion: 'test', maxConcurrent: 4, running: [] }));
    return (wait) =>
      fetch(`${t.url}/api/runner/claim`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-runner-report': report, 'content-type': 'application/json' },
        body: JSON.stringify({ workRoot: '/tmp/lim', wait }),
      });
  }

  /** Holds back the claims `runner` appends (only its own: the others race it). */
  const holdClaimBy = (runner: string): HeldAppends =>
    holdAppends(t.store, (_stream, events) => events.some((event) => event.type === 'RunClaimed' && (event.data as { runner?: unknown }).runner === runner));
  const requestRun = async (): Promise<string> => (await expectJson<{ id: string }>(await t.request(`/api/jobs/${limitedJob}/runs`, { method: 'POST', json: {} }), 202)).id;
  const runOf = (id: string): Promise<{ status: string; runner: string | null; waitingFor: string | null }> => t.request(`/api/runs/${id}`).then((response) => expectJson(response, 200));
  /** Ends what a test left: the job server's claimed run ends lost with its revocation, the queued one is cancelled. */
  const cleanUp = async (runner: string, queued: string): Promise<void> => {
    assert.equal((await t.request(`/api/runners/${runner}`, { method: 'DELETE' })).status, 204);
    assert.equal((await t.request(`/api/runs/${queued}/cancel`, { method: 'POST' })).status, 202);
  };

  it('gives a second job server nothing while the first one’s claim of the job’s last place is being appended', async () => {
    const first = await requestRun();
    const second = await requestRun();
    const claimOne = await jobServer('lim-1');
    const claimTwo = await jobServer('lim-2');
    const held = holdClaimBy('lim-1');
    try {
      const one = claimOne(5);
      await held.reached;
      const two = await claimTwo(1);
      assert.equal(two.status, 204, `the job's one place is taken: ${two.status === 200 ? await two.text() : ''}`);
      held.release();
      assert.equal((await expectJson<{ run: { runId: string } }>(await one, 200)).run.runId, first);
    } finally {
      held.restore();
    }
    await eventually(async () => ((await runOf(first)).runner === 'lim-1' ? true : undefined), 5_000, 'the claim to show');
    const waiting = await runOf(second);
    assert.deepEqual([waiting.status, waiting.runner], ['queued', null]);
    await cleanUp('lim-1', second);
  });

  it('keeps the server’s own runner from the job’s last place while a job server’s claim of it is being appended', async () => {
    const first = await requestRun();
    const claim = await jobServer('lim-3');
    const held = holdClaimBy('lim-3');
    let second = '';
    try {
      const claimed = claim(5);
      await held.reached;
      // Its next run may run anywhere, here too: the server's runner looks at it at once.
      await expectJson(await t.request(`/api/jobs/${limitedJob}`, { method: 'PUT', json: { runsOn: [] } }), 200);
      second = await requestRun();
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await runOf(second)).runner, null, 'the server’s runner did not take the job’s place');
      held.release();
      assert.equal((await expectJson<{ run: { runId: string } }>(await claimed, 200)).run.runId, first);
    } finally {
      held.restore();
    }
    const waiting = await runOf(second);
    assert.deepEqual([waiting.status, waiting.runner, waiting.waitingFor], ['queued', null, "a place under its job's limit: 1 of its runs is executing (maxConcurrent 1)"]);
    await cleanUp('lim-3', second);
  });

  it('tries a run the log shows taken once, not again and again, while the read model still shows it queued', async () => {
    // Job servers only again, and no limit: nothing but the read model keeps the runners from the run.
    await expectJson(await t.request(`/api/jobs/${limitedJob}`, { method: 'PUT', json: { runsOn: ['lim'], maxConcurrent: null } }), 200);
    const run = await requestRun();
    const claim = await jobServer('lim-4');
    assert.equal((await expectJson<{ run: { runId: string } }>(await claim(5), 200)).run.runId, run);
    await eventually(async () => ((await runOf(run)).runner === 'lim-4' ? true : undefined), 5_000, 'the claim to show');
    // A read model behind the log (another server's claim not applied yet, a stalled projection): the run still
    // looks queued, and any runner could take it.
    const runs = t.app.get(RunsReadModel);
    const current = runs.get(run)!;
    // A copy of the record with what it reads lazily (its request, its output index) read out.
    const stale = { ...current, snapshot: current.snapshot, extra: current.extra, outputChunks: current.outputChunks, phase: 'waiting', runner: null, runsOn: [] } as unknown as RunRecord;
    const queuedFor = runs.queuedFor.bind(runs);
    runs.queuedFor = () => [stale];
    const readStream = t.store.readStream.bind(t.store);
    let attempts = 0;
    t.store.readStream = (stream, options) => {
      if (stream === `run-${run}`) attempts++;
      return readStream(stream, options);
    };
    try {
      t.app.get(RunScheduler).pump();
      // A second job server's claim request, held open meanwhile: it wakes when the scheduler gives its place back.
      const other = await jobServer('lim-5');
      const answer = await other(1);
      assert.equal(answer.status, 204);
      // Before: each failed claim woke the claimers (the scheduler itself too), which went for the same run again
      // at once, hundreds of times until the read model caught up.
      assert.ok(attempts <= 2, `the run was tried ${attempts} times`);
    } finally {
      runs.queuedFor = queuedFor;
      t.store.readStream = readStream;
    }
    assert.equal((await t.request(`/api/runners/lim-4`, { method: 'DELETE' })).status, 204);
  });
});
