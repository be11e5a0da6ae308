/**
 * The control request of the runner protocol answers at once when what the server
 * wants differs from what the runner applied, and is held otherwise. A run that is
 * ending on the runner (its `cancelling` says so: a time limit, a stop) cannot be
 * paused any more: a pause asked for meanwhile is no difference, or the runner and
 * the server would ask and answer each other without a pause until the end arrived.
 * A claim held open is given nothing once its runner stopped waiting for it. At its
 * goodbye, the runs a job server claimed but never started and does not list end lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../../src/blobs/blob-store';
import { eventually, expectJson } from '../support/server-process';
import { holdAppends, startTestApp, type TestApp } from '../support/test-app';

describe('runner protocol: control', () => {
  let t: TestApp;
  let token: string;
  const report = encodeURIComponent(JSON.stringify({ labels: ['ctl'], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
  const runnerWith = (signal: AbortSignal | undefined, path: string, body: unknown): Promise<Response> =>
    fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-runner-report': report },
      body: JSON.stringify(body),
      signal,
    });
  const runner = (path: string, body: unknown): Promise<Response> => runnerWith(undefined, path, body);

  before(async () => {
    t = await startTestApp({});
    token = (await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', json: { name: 'ctl-runner' } }), 201)).token;
  });
  after(async () => {
    await t.close();
  });

  it('holds the answer for a pause of a run the runner is ending, and answers a pause of one it runs at once', async () => {
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'ctl-tpl', interpreter: 'bash', body: 'sleep 30' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'ctl-job', scriptId: script.id, runsOn: ['ctl'] } }), 201);
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    const claimed = await expectJson<{ run: { runId: string } }>(await runner('/api/runner/claim', { workRoot: '/tmp/ctl', wait: 5 }), 200);
    assert.equal(claimed.run.runId, run.id);
    await expectJson(await runner(`/api/runner/runs/${run.id}/started`, { pid: 4242, processStartTicks: null, workdir: `/tmp/ctl/${run.id}` }), 200);
    assert.equal((await t.request(`/api/runs/${run.id}/pause`, { method: 'POST' })).status, 202);

    const control = async (applied: { paused: boolean; cancelling: boolean }): Promise<{ ms: number; wanted: { paused: boolean } }> => {
      const sent = Date.now();
      const answer = await expectJson<{ runs: Array<{ id: string; paused: boolean }> }>(await runner('/api/runner/control', { runs: [{ id: run.id, ...applied }], wait: 2 }), 200);
      return { ms: Date.now() - sent, wanted: answer.runs[0]! };
    };
    const ending = await control({ paused: false, cancelling: true });
    assert.equal(ending.wanted.paused, true, 'the pause is still what the server wants');
    assert.ok(ending.ms >= 1_500, `held for the wait (${ending.ms} ms), not answered at once`);
    const running = await control({ paused: false, cancelling: false });
    assert.ok(running.ms < 1_000, `answered at once (${running.ms} ms)`);
  });

  it('gives nothing to a held claim whose runner stopped waiting: the run stays queued for another', async () => {
    const gaveUp = new AbortController();
    const held = runnerWith(gaveUp.signal, '/api/runner/claim', { workRoot: '/tmp/ctl', wait: 10 }).catch(() => null);
    await new Promise((resolve) => setTimeout(resolve, 300));
    gaveUp.abort();
    await held;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'left-tpl', interpreter: 'bash', body: 'true' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'left-job', scriptId: script.id, runsOn: ['ctl'] } }), 201);
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await expectJson<{ status: string; runner: string | null }>(await t.request(`/api/runs/${run.id}`), 200);
    assert.deepEqual([now.status, now.runner], ['queued', null]);
    // Taken by the next claim, as any queued run.
    const next = await expectJson<{ run: { runId: string } }>(await runner('/api/runner/claim', { workRoot: '/tmp/ctl', wait: 5 }), 200);
    assert.equal(next.run.runId, run.id);
  });

  it('lets go of an input file whose download the job server gave up: its read of the file ends', async () => {
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'file-tpl', interpreter: 'bash', body: 'true' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'file-job', scriptId: script.id, runsOn: ['ctl'] } }), 201);
    const form = new FormData();
    form.set('file', new Blob([Buffer.alloc(32 * 1024 * 1024, 'f')]), 'large.bin');
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', body: form }), 202);
    const claimed = await expectJson<{ run: { runId: string; files: Array<{ sha256: string }> } }>(await runner('/api/runner/claim', { workRoot: '/tmp/ctl', wait: 5 }), 200);
    assert.equal(claimed.run.runId, run.id);
    // Each read of a stored file, and whether it ended (read to its end, or given up).
    const blobs = t.app.get(BlobStore);
    const read = blobs.read.bind(blobs);
    let ended = 0;
    blobs.read = async function* (sha256: string) {
      try {
        yield* read(sha256);
      } finally {
        ended++;
      }
    };
    const gaveUp = new AbortController();
    const answer = await fetch(`${t.url}/api/runner/runs/${run.id}/files/${claimed.run.files[0]!.sha256}`, {
      headers: { authorization: `Bearer ${token}`, 'x-runner-report': report },
      signal: gaveUp.signal,
    });
    await answer.body!.getReader().read();
    gaveUp.abort();
    await eventually(async () => (ended === 1 ? true : undefined), 5_000, 'the server to stop reading the file it was sending');
  });

  it('ends lost at its goodbye the runs a job server claimed and never started, and leaves the ones it still lists', async () => {
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'bye-tpl', interpreter: 'bash', body: 'true' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'bye-job', scriptId: script.id, runsOn: ['ctl'] } }), 201);
    const claimOne = async (): Promise<string> => {
      const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
      const claimed = await expectJson<{ run: { runId: string } }>(await runner('/api/runner/claim', { workRoot: '/tmp/ctl', wait: 5 }), 200);
      assert.equal(claimed.run.runId, run.id);
      return run.id;
    };
    // Its answer "never arrived": the job server does not list it.
    const unknown = await claimOne();
    const listed = await claimOne();
    // Without a report the server cannot tell which runs the job server still has: it ends none (204, as always).
    const bare = await fetch(`${t.url}/api/runner/goodbye`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(bare.status, 204);
    assert.equal((await expectJson<{ status: string }>(await t.request(`/api/runs/${unknown}`), 200)).status, 'queued');
    const byeReport = encodeURIComponent(JSON.stringify({ labels: ['ctl'], softwareVersion: 'test', maxConcurrent: 1, running: [listed] }));
    const bye = await fetch(`${t.url}/api/runner/goodbye`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-runner-report': byeReport }, body: '{}' });
    assert.equal(bye.status, 204);
    const ended = await expectJson<{ status: string; reason: string }>(await t.request(`/api/runs/${unknown}`), 200);
    assert.deepEqual([ended.status, ended.reason], ['lost', 'Its job server ctl-runner stopped without starting it']);
    const kept = await expectJson<{ status: string; runner: string }>(await t.request(`/api/runs/${listed}`), 200);
    assert.deepEqual([kept.status, kept.runner], ['queued', 'ctl-runner'], 'still claimed (shown queued until it starts)');
    const runners = await expectJson<{ items: Array<{ name: string; status: string }> }>(await t.request('/api/runners'), 200);
    assert.equal(runners.items.find((item) => item.name === 'ctl-runner')?.status, 'offline');
  });

  it('ends lost at its goodbye a run whose claim was still being appended when the job server stopped', async () => {
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: 'bye2-tpl', interpreter: 'bash', body: 'true' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'bye2-job', scriptId: script.id, runsOn: ['ctl'] } }), 201);
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    const held = holdAppends(t.store, (_stream, events) => events.some((event) => event.type === 'RunClaimed'));
    try {
      // The job server stops while its held claim is being recorded: it gives the request up and says goodbye.
      const gaveUp = new AbortController();
      const claim = runnerWith(gaveUp.signal, '/api/runner/claim', { workRoot: '/tmp/ctl', wait: 5 }).catch(() => null);
      await held.reached;
      gaveUp.abort();
      await claim;
      const byeReport = encodeURIComponent(JSON.stringify({ labels: ['ctl'], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
      const bye = fetch(`${t.url}/api/runner/goodbye`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-runner-report': byeReport }, body: '{}' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      held.release();
      assert.equal((await bye).status, 204);
    } finally {
      held.restore();
    }
    // Before, the goodbye looked only at the read model, which did not show the claim yet: the run stayed claimed.
    const ended = await expectJson<{ status: string; reason: string }>(await t.request(`/api/runs/${run.id}`), 200);
    assert.deepEqual([ended.status, ended.reason], ['lost', 'Its job server ctl-runner stopped without starting it']);
  });
});
