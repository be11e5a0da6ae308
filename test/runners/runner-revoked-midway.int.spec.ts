/**
 * A runner revoked while one of its requests is under way. A revocation ends the runs
 * its read model shows the runner executing; what it cannot see yet must end the same:
 *
 * - a claim being appended at that moment: the run ends lost and the revoked runner is
 *   handed nothing (the answer would carry the run's script, environment and files);
 * - an output upload still arriving: the rest is refused with 410 and nothing stored
 *   after the end counts. `RunFinished` said how much output the run had, and the run,
 *   its `/output` and its live stream keep to it (the lost rule ends runs the same way).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually, expectJson } from '../support/server-process';
import { holdAppends, startTestApp, type TestApp } from '../support/test-app';

const MiB = 1024 * 1024;

describe('runner protocol: a runner revoked while a request is under way', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({});
  });
  after(async () => {
    await t.close();
  });

  /** A registered runner labelled `label`, its protocol requests, and a queued run only it can take. */
  async function runnerWithRun(label: string): Promise<{ name: string; headers: Record<string, string>; runner: (path: string, body: unknown) => Promise<Response>; runId: string }> {
    const name = `${label}-runner`;
    const { token } = await expectJson<{ token: string }>(await t.request('/api/runners', { method: 'POST', json: { name } }), 201);
    const report = encodeURIComponent(JSON.stringify({ labels: [label], softwareVersion: 'test', maxConcurrent: 1, running: [] }));
    const headers = { authorization: `Bearer ${token}`, 'x-runner-report': report };
    const runner = (path: string, body: unknown): Promise<Response> =>
      fetch(`${t.url}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const script = await expectJson<{ id: string }>(await t.request('/api/scripts', { method: 'POST', json: { name: `${label}-tpl`, interpreter: 'bash', body: 'true' } }), 201);
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: `${label}-job`, scriptId: script.id, runsOn: [label] } }), 201);
    const run = await expectJson<{ id: string }>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    return { name, headers, runner, runId: run.id };
  }

  it('hands a claim recorded as its runner was revoked to nobody: the run ends lost', async () => {
    const { name, runner, runId } = await runnerWithRun('clm');
    // The claim's append waits until the revocation is done: the revocation cannot see the claim.
    const held = holdAppends(t.store, (stream, events) => stream === `run-${runId}` && events.some((event) => event.type === 'RunClaimed'));
    try {
      const claim = runner('/api/runner/claim', { workRoot: '/tmp/clm', wait: 5 });
      await held.reached;
      assert.equal((await t.request(`/api/runners/${name}`, { method: 'DELETE', actor: 'bob' })).status, 204);
      assert.equal((await expectJson<{ status: string }>(await t.request(`/api/runs/${runId}`), 200)).status, 'queued', 'the revocation did not see the claim');
      held.release();
      const answer = await claim;
      assert.equal(answer.status, 204, `the revoked runner is handed nothing: ${await answer.text()}`);
    } finally {
      held.restore();
    }
    const run = await expectJson<{ status: string; reason: string; runner: string }>(await t.request(`/api/runs/${runId}`), 200);
    assert.deepEqual([run.status, run.reason, run.runner], ['lost', `Its runner "${name}" was revoked`, name]);
  });

  it('stores nothing more of an upload once the run ended: the run, its output and its live stream keep the bytes RunFinished counted', async () => {
    const { name, headers, runner, runId } = await runnerWithRun('upl');
    assert.equal((await expectJson<{ run: { runId: string } }>(await runner('/api/runner/claim', { workRoot: '/tmp/upl', wait: 5 }), 200)).run.runId, runId);
    await expectJson(await runner(`/api/runner/runs/${runId}/started`, { pid: 4242, processStartTicks: null, workdir: `/tmp/upl/${runId}` }), 200);

    // An upload that sends 5 MiB (one 4 MiB batch is stored at once), then waits until the run has ended, then sends 5 MiB more.
    const first = Buffer.alloc(5 * MiB, 'a');
    let sendRest: () => void = () => undefined;
    const restAllowed = new Promise<void>((resolve) => (sendRest = resolve));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(first);
        await restAllowed;
        controller.enqueue(Buffer.alloc(5 * MiB, 'b'));
        controller.close();
      },
    });
    const upload = fetch(`${t.url}/api/runner/runs/${runId}/output?offset=0`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    await eventually(async () => ((await expectJson<{ outputBytes: number }>(await t.request(`/api/runs/${runId}`), 200)).outputBytes >= 4 * MiB ? true : undefined), 10_000, 'the first batch to be stored');
    assert.equal((await t.request(`/api/runners/${name}`, { method: 'DELETE', actor: 'bob' })).status, 204);
    const ended = await expectJson<{ status: string; outputBytes: number }>(await t.request(`/api/runs/${runId}`), 200);
    assert.equal(ended.status, 'lost');
    sendRest();

    const answer = await upload;
    assert.equal(answer.status, 410, `the rest of the upload is refused: ${await answer.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await expectJson<{ status: string; outputBytes: number }>(await t.request(`/api/runs/${runId}`), 200);
    assert.deepEqual([now.status, now.outputBytes], ['lost', ended.outputBytes], 'the run keeps the output its end counted');
    const output = Buffer.from(await (await t.request(`/api/runs/${runId}/output`)).arrayBuffer());
    assert.equal(output.length, ended.outputBytes);
    assert.equal(createHash('sha256').update(output).digest('hex'), createHash('sha256').update(first.subarray(0, ended.outputBytes)).digest('hex'));
    const stream = await (await t.request(`/api/runs/${runId}/output/stream`)).text();
    assert.ok(stream.includes(`id: ${ended.outputBytes}\nevent: end\n`), `the live stream ends at ${ended.outputBytes}: ${stream.slice(-300)}`);
  });
});
