/**
 * Placement over HTTP: a job's `runsOn` (validation, normalisation, edits, the list),
 * each run's copy of it, and the local runner taking only the runs its labels cover:
 * a run it cannot take stays queued saying what it waits for, without holding up the
 * runs behind it; `ENDERCOMPUTE_RUNNER_LABELS` lets it take labelled runs;
 * `ENDERCOMPUTE_LOCAL_RUNNER=false` makes it take none. A job's `maxConcurrent` counts
 * runs executing on other runners too.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../src/jobs/job.view';
import { RunnerPresence } from '../../src/runners/runner-presence';
import { runStream } from '../../src/runs/run.events';
import type { RunView } from '../../src/runs/run.view';
import { eventually, expectJson } from '../support/server-process';
import { startTestApp, type TestApp } from '../support/test-app';

const LABEL_RULE = /is not a label \(1–64 letters, digits, "-", "_", "\." or ":" starting with a letter or digit\)/;

async function createJob(t: TestApp, name: string, fields: Record<string, unknown> = {}): Promise<JobView> {
  if ((await t.request('/api/scripts/echo')).status === 404) {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'echo', body: 'echo "ran on $ENDERCOMPUTE_JOB"' } }), 201);
  }
  return expectJson<JobView>(await t.request('/api/jobs', { method: 'POST', json: { name, scriptId: 'echo', ...fields } }), 201);
}

function requestRun(t: TestApp, jobId: string): Promise<RunView> {
  return t.request(`/api/jobs/${jobId}/runs`, { method: 'POST', json: {} }).then((response) => expectJson<RunView>(response, 202));
}

function getRun(t: TestApp, runId: string): Promise<RunView> {
  return t.request(`/api/runs/${runId}`).then((response) => expectJson<RunView>(response, 200));
}

function finished(t: TestApp, runId: string): Promise<RunView> {
  return eventually(async () => {
    const run = await getRun(t, runId);
    return run.finishedAt !== null ? run : undefined;
  }, 15_000, `run ${runId} to finish`);
}

/** Appends an event to a run's stream as another runner would (a job server, another server). */
async function appendAsOtherRunner(t: TestApp, runId: string, type: string, data: object): Promise<void> {
  const stream = runStream(runId);
  const events = await t.store.readStream(stream);
  const metadata = { actor: 'runner', source: 'runner', correlationId: randomUUID(), causationId: null, at: new Date().toISOString() };
  await t.store.append(stream, [{ id: randomUUID(), type, data: { runId, ...data }, metadata }], events[events.length - 1].revision);
}

describe('placement: a job’s runsOn and the local runner', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('refuses bad labels with a 400 naming each, and records nothing', async () => {
    const job = await createJob(t, 'validated');
    const head = await t.head();
    for (const [runsOn, expected] of [
      [['linux', 'has space'], /runsOn: "has space" is not a label/],
      [[''], /runsOn: "" is not a label/],
      [['-x'], LABEL_RULE],
      [['a'.repeat(65)], /is not a label/],
      ['linux', /runsOn: must be a list of labels/],
      [[7], /runsOn: each label must be a string/],
      [null, /runsOn: must not be null/],
      [Array.from({ length: 33 }, (_, i) => `l${i}`), /runsOn: may hold at most 32 labels, not 33/],
    ] as const) {
      for (const [method, path, body] of [
        ['POST', '/api/jobs', { name: 'never', scriptId: 'echo', runsOn }],
        ['PUT', `/api/jobs/${job.id}`, { runsOn }],
      ] as const) {
        const response = await t.request(path, { method, json: body });
        const { message } = (await response.json()) as { message: string };
        assert.equal(response.status, 400, `${method} ${JSON.stringify(runsOn)}: ${message}`);
        assert.match(message, expected);
      }
    }
    assert.equal(await t.head(), head, 'a refused change appends nothing');
  });

  it('stores labels in lower case, each once; shows them in GET, the list and after PUT; [] means any runner', async () => {
    const plain = await createJob(t, 'anywhere');
    assert.deepEqual(plain.runsOn, [], 'a job without runsOn runs anywhere');
    const job = await createJob(t, 'gpu-box', { runsOn: ['Linux', 'GPU', 'linux'] });
    assert.deepEqual(job.runsOn, ['linux', 'gpu']);
    assert.deepEqual((await expectJson<JobView>(await t.request(`/api/jobs/${job.id}`), 200)).runsOn, ['linux', 'gpu']);
    const listed = (await expectJson<{ items: JobView[] }>(await t.request('/api/jobs?q=gpu-box'), 200)).items;
    assert.deepEqual(listed.map((j) => j.runsOn), [['linux', 'gpu']]);
    const moved = await expectJson<JobView>(await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { runsOn: ['arch:arm64', 'os.debian-12'] } }), 200);
    assert.deepEqual(moved.runsOn, ['arch:arm64', 'os.debian-12']);
    const unchanged = await expectJson<JobView>(await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { description: 'x' } }), 200);
    assert.deepEqual(unchanged.runsOn, ['arch:arm64', 'os.debian-12'], 'an edit of another field keeps the labels');
    const cleared = await expectJson<JobView>(await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { runsOn: [] } }), 200);
    assert.deepEqual(cleared.runsOn, []);
    const page = await (await t.request(`/jobs/${job.id}`)).text();
    assert.match(page, /id="job-runs-on">Any runner</);
  });

  it('sets, shows and clears runsOn from the job form, refusing a bad label beside its field', async () => {
    const scriptId = (await createJob(t, 'form-seed')).scriptId;
    const htmx = (path: string, method: string, fields: Record<string, string>): Promise<Response> =>
      t.request(path, { method, body: new URLSearchParams(fields), headers: { 'hx-request': 'true', 'hx-request-type': 'partial', 'x-actor': 'Ada' } });
    const refused = await htmx('/jobs', 'POST', { name: 'form-job', scriptId, runsOn: 'linux, -bad' });
    assert.equal(refused.status, 422);
    const html = await refused.text();
    assert.match(html, /id="runsOn"[^>]*aria-invalid="true"/);
    assert.match(html, /id="runsOn-error"><li>&quot;-bad&quot; is not a label \(1–64 letters/);
    assert.match(html, /id="runsOn" name="runsOn" value="linux, -bad"/, 'what was typed is kept');
    const created = await htmx('/jobs', 'POST', { name: 'form-job', scriptId, runsOn: 'Linux gpu,linux' });
    assert.equal(created.status, 200);
    const id = (created.headers.get('hx-push-url') ?? '').split('/')[2];
    const job = await expectJson<JobView>(await t.request(`/api/jobs/${id}`), 200);
    assert.deepEqual(job.runsOn, ['linux', 'gpu']);
    assert.match(await (await t.request(`/jobs/${id}`)).text(), /id="job-runs-on">.*runner: linux.*runner: gpu/s);
    const edit = await (await t.request(`/jobs/${id}/edit`)).text();
    assert.match(edit, /id="runsOn" name="runsOn" value="linux, gpu"/, 'the edit form shows the labels');
    const cleared = await htmx(`/jobs/${id}`, 'PUT', { name: 'form-job', scriptId, runsOn: '', version: String(job.version) });
    assert.equal(cleared.status, 200);
    assert.deepEqual((await expectJson<JobView>(await t.request(`/api/jobs/${id}`), 200)).runsOn, []);
  });

  it('keeps a labelled run queued, saying which runner it waits for, while a later run without labels starts and ends', async () => {
    const gpu = await createJob(t, 'needs-gpu', { runsOn: ['linux', 'gpu'] });
    const any = await createJob(t, 'runs-anywhere');
    const waiting = await requestRun(t, gpu.id);
    assert.deepEqual(waiting.runsOn, ['linux', 'gpu'], 'the run takes a copy of the job’s runsOn');
    const later = await requestRun(t, any.id);
    const done = await finished(t, later.id);
    assert.equal(done.status, 'succeeded', 'the run behind it was not held up');
    assert.deepEqual(done.runsOn, []);
    const still = await getRun(t, waiting.id);
    assert.equal(still.status, 'queued');
    assert.equal(still.runner, null);
    assert.equal(still.waitingFor, 'a runner with labels linux, gpu');
    assert.equal(still.reason, null, 'reason keeps its meaning: why a run ended');

    // The copy was taken at request time: editing the job moves later runs only.
    await expectJson(await t.request(`/api/jobs/${gpu.id}`, { method: 'PUT', json: { runsOn: ['windows'] } }), 200);
    assert.deepEqual((await getRun(t, waiting.id)).runsOn, ['linux', 'gpu']);

    const runPage = await (await t.request(`/runs/${waiting.id}`)).text();
    assert.match(runPage, /id="run-waiting-for">waiting for a runner with labels linux, gpu</);
    assert.match(runPage, /id="run-runs-on">a runner with labels <code>linux<\/code>, <code>gpu<\/code></);
    const dashboard = await (await t.request('/')).text();
    assert.match(dashboard, /id="dash-waiting-runner">.*1 queued run waits for a runner/s);

    // A re-run is placed by the job's labels as they are now.
    const rerun = await expectJson<RunView>(await t.request(`/api/runs/${waiting.id}/rerun`, { method: 'POST' }), 202);
    assert.deepEqual(rerun.runsOn, ['windows']);
    assert.equal((await getRun(t, rerun.id)).waitingFor, 'a runner with label windows');
    const note = await (await t.request('/')).text();
    assert.match(note, /2 queued runs wait for a runner/);

    // Cancelled, they no longer wait.
    for (const id of [waiting.id, rerun.id]) await expectJson(await t.request(`/api/runs/${id}/cancel`, { method: 'POST' }), 202);
    assert.doesNotMatch(await (await t.request('/')).text(), /dash-waiting-runner/);
  });

  it('no longer says a run waits for a runner once a runner with its labels is online (a job server in contact)', async () => {
    const job = await createJob(t, 'needs-arm', { runsOn: ['arm64'] });
    const run = await requestRun(t, job.id);
    assert.equal((await getRun(t, run.id)).waitingFor, 'a runner with label arm64');
    assert.match(await (await t.request('/')).text(), /1 queued run waits for a runner/);
    // What the runner protocol does on each request from a job server started with --label arm64.
    await t.app.get(RunnerPresence).contact('pi-1', { labels: ['arm64', 'linux'], softwareVersion: t.config.version, maxConcurrent: 1, running: [] });
    const placed = await getRun(t, run.id);
    assert.equal(placed.status, 'queued', 'it waits for that runner to claim it, not for this server');
    assert.equal(placed.waitingFor, null);
    assert.doesNotMatch(await (await t.request('/')).text(), /dash-waiting-runner/);
    await t.app.get(RunnerPresence).disconnect('pi-1');
    assert.equal((await getRun(t, run.id)).waitingFor, 'a runner with label arm64', 'gone again: it waits for a runner again');
    await expectJson(await t.request(`/api/runs/${run.id}/cancel`, { method: 'POST' }), 202);
  });

  it('counts a job’s runs executing on other runners toward its maxConcurrent', async () => {
    const job = await createJob(t, 'one-at-a-time', { maxConcurrent: 1, runsOn: ['elsewhere'] });
    const first = await requestRun(t, job.id);
    // Another runner (labelled `elsewhere`) claims and starts it: this server only sees it in the log.
    await appendAsOtherRunner(t, first.id, 'RunClaimed', { runner: 'remote-1', workdir: '/srv/work/1' });
    await appendAsOtherRunner(t, first.id, 'RunStarted', { runner: 'remote-1', pid: 1, processStartTicks: null, workdir: '/srv/work/1' });
    await eventually(async () => ((await getRun(t, first.id)).status === 'running' ? true : undefined), 5_000, 'the remote run to show as running');
    await expectJson(await t.request(`/api/jobs/${job.id}`, { method: 'PUT', json: { runsOn: [] } }), 200);
    const second = await requestRun(t, job.id);
    const held = await eventually(async () => {
      const run = await getRun(t, second.id);
      return run.waitingFor !== null ? run : undefined;
    }, 5_000, 'the second run to say why it waits');
    assert.equal(held.status, 'queued');
    assert.equal(held.waitingFor, "a place under its job's limit: 1 of its runs is executing (maxConcurrent 1)");
    // A run that could start would have by now; the remote one ending lets it start here.
    await appendAsOtherRunner(t, first.id, 'RunFinished', { status: 'succeeded', exitCode: 0, signal: null, outputBytes: 0, droppedBytes: 0, reason: null });
    const done = await finished(t, second.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.runner, t.config.runnerId);
  });

  it('describes runsOn in the OpenAPI document of POST and PUT /api/jobs', async () => {
    const document = await expectJson<{ components: { schemas: Record<string, { properties: Record<string, { description?: string; type?: string }> }> } }>(
      await t.request('/api/openapi.json'),
      200,
    );
    for (const dto of ['CreateJobDto', 'UpdateJobDto']) {
      const property = document.components.schemas[dto].properties.runsOn;
      assert.equal(property.type, 'array', dto);
      assert.match(property.description ?? '', /runner/, dto);
    }
  });
});

describe('placement: ENDERCOMPUTE_RUNNER_LABELS', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_RUNNER_LABELS: ' Linux , x86_64 ' });
  });
  after(async () => {
    await t.close();
  });

  it('gives the local runner its labels: it executes a run whose runsOn it covers, and leaves one it does not', async () => {
    assert.deepEqual(t.config.runnerLabels, ['linux', 'x86_64']);
    const linux = await createJob(t, 'on-linux', { runsOn: ['linux'] });
    const gpu = await createJob(t, 'on-linux-gpu', { runsOn: ['linux', 'gpu'] });
    const blocked = await requestRun(t, gpu.id);
    const run = await requestRun(t, linux.id);
    const done = await finished(t, run.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.runner, t.config.runnerId, 'the local runner executed it');
    const waiting = await getRun(t, blocked.id);
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.waitingFor, 'a runner with labels linux, gpu');
  });
});

describe('placement: ENDERCOMPUTE_LOCAL_RUNNER=false', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_LOCAL_RUNNER: 'false' });
  });
  after(async () => {
    await t.close();
  });

  it('executes nothing itself: every run stays queued, saying it waits for a runner and why', async () => {
    const job = await createJob(t, 'anything');
    const labelled = await createJob(t, 'labelled', { runsOn: ['linux'] });
    const run = await requestRun(t, job.id);
    const other = await requestRun(t, labelled.id);
    // Long enough for a run to start and end here (they take milliseconds) had the runner been on.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const still = await getRun(t, run.id);
    assert.equal(still.status, 'queued');
    assert.equal(still.runner, null);
    assert.equal(still.waitingFor, 'a runner (none is online); this server executes no runs itself (ENDERCOMPUTE_LOCAL_RUNNER=false)');
    assert.equal((await getRun(t, other.id)).waitingFor, 'a runner with label linux; this server executes no runs itself (ENDERCOMPUTE_LOCAL_RUNNER=false)');
    assert.match(await (await t.request('/')).text(), /2 queued runs wait for a runner/);
  });
});
