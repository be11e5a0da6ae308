import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunView } from '../../src/runs/run.view';
import { eventually, expectJson } from '../support/server-process';
import { scriptGates } from '../support/script-gates';
import { startTestApp, type TestApp } from '../support/test-app';

type Run = RunView;

describe('REST: runs', () => {
  let t: TestApp;
  let jobId: string;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '2' });
    await expectJson(
      await t.request('/api/scripts', {
        method: 'POST',
        json: { name: 'echo', body: 'printf "args:%s;" "$@"; echo; echo "env:$GREETING"; [ -f extra.txt ] && cat extra.txt; exit ${CODE:-0}' },
      }),
      201,
    );
    const job = await expectJson<{ id: string }>(
      await t.request('/api/jobs', { method: 'POST', json: { name: 'Echo job', scriptId: 'echo', args: ['one'], env: { GREETING: 'hi' } } }),
      201,
    );
    jobId = job.id;
  });
  after(async () => {
    await eventually(async () => ((await listRuns('status=active')).length === 0 ? true : undefined), 15_000, 'active runs to end');
    await t.close();
  });

  async function listRuns(query: string): Promise<Run[]> {
    return (await expectJson<{ items: Run[] }>(await t.request(`/api/runs?${query}`), 200)).items;
  }

  async function finished(id: string): Promise<Run> {
    return eventually(async () => {
      const run = await expectJson<Run>(await t.request(`/api/runs/${id}`), 200);
      return run.finishedAt !== null ? run : undefined;
    }, 15_000, `run ${id} to finish`);
  }

  it('starts a run with extra arguments and env, numbers it, and records who, when and what came out', async () => {
    const response = await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', actor: 'dave', json: { args: ['two words'], env: { CODE: '3' } } });
    const run = await expectJson<Run>(response, 202);
    assert.deepEqual({ number: run.number, args: run.args, requestedBy: run.requestedBy }, { number: 1, args: ['one', 'two words'], requestedBy: 'dave' });
    const done = await finished(run.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.exitCode, 3);
    const ran = done as unknown as { script: { version: number }; version: number };
    assert.equal(ran.script.version, 1, 'it ran version 1 of a template never edited: versions start at 1');
    assert.ok(ran.version >= 1);
    assert.match(await (await t.request(`/runs/${run.id}`)).text(), /version 1</, 'the run page says the same version');
    assert.ok(done.requestedAt <= (done.startedAt ?? '') && (done.startedAt ?? '') <= (done.finishedAt ?? ''));
    const output = await t.request(`/api/runs/${run.id}/output`);
    assert.equal(output.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await output.text(), 'args:one;args:two words;\nenv:hi\n');
    const tail = await t.request(`/api/runs/${run.id}/output?offset=20`);
    assert.equal(await tail.text(), 'args:one;args:two words;\nenv:hi\n'.slice(20));
    const job = await expectJson<{ lastRun: { number: number; status: string } }>(await t.request(`/api/jobs/${jobId}`), 200);
    assert.deepEqual({ number: job.lastRun.number, status: job.lastRun.status }, { number: 1, status: 'failed' });
  });

  it('takes extra input files as multipart, beside the script', async () => {
    const form = new FormData();
    form.append('args', 'solo');
    form.append('file', new Blob(['extra file\n']), 'extra.txt');
    const run = await expectJson<Run>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', body: form }), 202);
    assert.deepEqual(run.args, ['one', 'solo']);
    assert.deepEqual(run.files.map((f) => f.name), ['extra.txt']);
    const done = await finished(run.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(await (await t.request(`/api/runs/${run.id}/output`)).text(), 'args:one;args:solo;\nenv:hi\nextra file\n');
  });

  it('keeps a delayed run scheduled until its time, then runs it', async () => {
    const run = await expectJson<Run>(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: { delaySeconds: 1 } }), 202);
    assert.equal(run.status, 'scheduled');
    assert.ok(run.scheduledFor !== null);
    const scheduled = await listRuns('status=scheduled');
    assert.ok(scheduled.some((r) => r.id === run.id));
    const done = await finished(run.id);
    assert.equal(done.status, 'succeeded');
    assert.ok(Date.parse(done.startedAt ?? '') >= Date.parse(run.scheduledFor ?? ''), 'started no earlier than its time');
  });

  it('lists runs newest first with filters and a paging cursor', async () => {
    for (let i = 0; i < 3; i++) await expectJson(await t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', actor: 'erin', json: {} }), 202);
    await eventually(async () => ((await listRuns('status=active')).length === 0 ? true : undefined), 15_000, 'runs to end');
    const mine = await listRuns('by=erin');
    assert.equal(mine.length, 3);
    assert.deepEqual(mine.map((r) => r.number), [...mine.map((r) => r.number)].sort((a, b) => b - a), 'newest first');
    const page1 = await expectJson<{ items: Run[]; next: string | null }>(await t.request('/api/runs?limit=2&status=finished'), 200);
    assert.equal(page1.items.length, 2);
    assert.ok(page1.next !== null);
    const page2 = await expectJson<{ items: Run[]; next: string | null }>(await t.request(`/api/runs?limit=2&status=finished&before=${page1.next}`), 200);
    assert.ok(page2.items.every((r) => r.number < page1.items[1].number));
    const failed = await listRuns(`status=failed&jobId=${encodeURIComponent('echo job')}`);
    assert.deepEqual(failed.map((r) => r.number), [1]);
    const text = await listRuns('q=two%20words');
    assert.deepEqual(text.map((r) => r.number), [1]);
  });

  it('stores large binary output byte for byte', async () => {
    await expectJson(
      await t.request('/api/scripts', {
        method: 'POST',
        json: { name: 'binary', interpreter: 'python3', body: 'import sys\nfor i in range(40):\n    sys.stdout.buffer.write(bytes(range(256)) * 1000)\nsys.stdout.buffer.write(b"\\x00\\xff\\xfe end")\n' },
      }),
      201,
    );
    const job = await expectJson<{ id: string }>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Binary', scriptId: 'binary' } }), 201);
    const run = await expectJson<Run>(await t.request(`/api/jobs/${job.id}/runs`, { method: 'POST', json: {} }), 202);
    const done = await finished(run.id);
    const expected = Buffer.concat([...Array.from({ length: 40 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1').repeat(1000)).map((s) => Buffer.from(s, 'latin1')), Buffer.from('\x00\xff\xfe end', 'latin1')]);
    assert.equal(done.outputBytes, expected.length);
    const body = Buffer.from(await (await t.request(`/api/runs/${run.id}/output`)).arrayBuffer());
    assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(expected).digest('hex'));
  });

  it('records every step of a run in /api/events with its actor', async () => {
    const events = await expectJson<{ items: Array<{ type: string; stream: string; metadata: { actor: string }; data: { bytes?: number } }> }>(
      await t.request(`/api/events?jobId=${jobId}&limit=1000`),
      200,
    );
    const types = events.items.filter((e) => e.stream === `run-${jobId}-1`).map((e) => e.type);
    assert.deepEqual(types.filter((type) => type !== 'RunOutputAppended'), ['RunRequested', 'RunClaimed', 'RunStarted', 'RunFinished']);
    assert.equal(events.items.find((e) => e.stream === `run-${jobId}-1` && e.type === 'RunRequested')?.metadata.actor, 'dave');
    const output = events.items.find((e) => e.type === 'RunOutputAppended');
    assert.ok(output && typeof output.data.bytes === 'number', 'output bytes are summarised, not dumped');
    const byActor = await expectJson<{ items: Array<{ type: string; metadata: { actor: string } }> }>(await t.request('/api/events?actor=erin'), 200);
    // Each request: the job admits the run, then the run is requested.
    assert.deepEqual(byActor.items.map((e) => e.type), ['JobRunAdmitted', 'RunRequested', 'JobRunAdmitted', 'RunRequested', 'JobRunAdmitted', 'RunRequested']);
    assert.ok(byActor.items.every((e) => e.metadata.actor === 'erin'));
  });
});

describe('REST: runs in the order they finished (sort=finished)', () => {
  const gates = scriptGates('endercompute-sort-');
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '3', ...gates.sandboxEnv });
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'wait-for', body: 'while [ ! -e "$1" ]; do sleep 0.02; done; echo done' } }), 201);
    for (const name of ['Slow', 'Quick']) await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name, scriptId: 'wait-for' } }), 201);
  });
  after(async () => {
    gates.openAll();
    await t.close();
    gates.remove();
  });

  const page = async (query: string) => expectJson<{ items: Run[]; next: string | null }>(await t.request(`/api/runs?${query}`), 200);
  const ids = (runs: Run[]) => runs.map((r) => r.id);
  const start = async (job: string, gate: string) => (await expectJson<Run>(await t.request(`/api/jobs/${job}/runs`, { method: 'POST', json: { args: [gate] } }), 202)).id;
  const finishedRun = (id: string) =>
    eventually(async () => {
      const run = await expectJson<Run>(await t.request(`/api/runs/${id}`), 200);
      return run.finishedAt !== null ? run : undefined;
    }, 15_000, `run ${id} to finish`);

  it('lists finished runs latest to finish first, pages them with a cursor of that order, and leaves out runs still going', async () => {
    const [a, b, c, d] = [gates.gate(), gates.gate(), gates.gate(), gates.gate()];
    // Requested a, b, c, d; finished c, a, b; d still running.
    const slow1 = await start('slow', a.path);
    const quick1 = await start('quick', b.path);
    const slow2 = await start('slow', c.path);
    const running = await start('quick', d.path);
    for (const [gate, id] of [[c, slow2], [a, slow1], [b, quick1]] as const) {
      gate.open();
      await finishedRun(id);
    }

    assert.deepEqual(ids((await page('')).items), [running, slow2, quick1, slow1], 'the default order is still by request');
    const all = await page('sort=finished');
    assert.deepEqual(ids(all.items), [quick1, slow1, slow2]);
    assert.ok(all.items.every((run, i) => i === 0 || (run.finishedAt ?? '') <= (all.items[i - 1].finishedAt ?? '')));
    const first = await page('sort=finished&limit=2');
    assert.deepEqual(ids(first.items), [quick1, slow1]);
    assert.ok(first.next !== null);
    const second = await page(`sort=finished&limit=2&before=${first.next}`);
    assert.deepEqual(ids(second.items), [slow2]);
    assert.equal(second.next, null);
    assert.deepEqual(ids((await page('sort=finished&jobId=slow')).items), [slow1, slow2]);
    assert.deepEqual(ids((await page('sort=finished&status=active')).items), []);
    assert.deepEqual(ids((await page('sort=requested&status=finished')).items), [slow2, quick1, slow1]);
    d.open();
    await finishedRun(running);
    assert.deepEqual(ids((await page('sort=finished&limit=1')).items), [running]);
  });

  it('refuses a sort it does not know by name', async () => {
    for (const query of ['sort=newest', 'sort=', 'sort=finished&sort=finished']) {
      const response = await t.request(`/api/runs?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(((await response.json()) as { message: string }).message, /sort must be requested or finished/, query);
    }
  });
});
