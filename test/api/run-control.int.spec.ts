/**
 * Queue and run control over REST, in process on a real embedded store: per-job
 * limits without head-of-line blocking, visible queue positions, dequeue and
 * re-time, control actions on finished runs, re-run of a removed job, the job
 * fields for limits and schedules, and the filters by outcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, expectJson } from '../support/server-process';
import { scriptGates } from '../support/script-gates';
import { startTestApp, type TestApp } from '../support/test-app';

interface Run {
  id: string;
  number: number;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  scheduledFor: string | null;
  queuePosition: number | null;
  waitingFor: string | null;
  reason: string | null;
  cancelRequestedBy: string | null;
  actions: { cancel: boolean; pause: boolean; resume: boolean; reschedule: boolean };
}

interface Job {
  id: string;
  maxConcurrent: number | null;
  schedules: Array<{ cron: string; timeZone: string; nextAt: string | null; lastSlot: string | null }>;
  lastOutcome: string | null;
}

async function messageOf(response: Response): Promise<string> {
  return ((await response.json()) as { message: string }).message;
}

/** Waits until the file named by $GATE exists: a run that ends exactly when the test says so. */
const GATED = 'while [ ! -e "$GATE" ]; do sleep 0.02; done; echo through';

describe('REST: queue and run control', () => {
  let t: TestApp;
  const gates = scriptGates();
  let serial: string;
  let free: string;

  before(async () => {
    t = await startTestApp({ ...gates.sandboxEnv, ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '3', ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1', ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS: '0' });
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'gated', body: GATED } }), 201);
    serial = (await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Serial', scriptId: 'gated', maxConcurrent: 1, tags: ['nightly'] } }), 201)).id;
    free = (await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Free', scriptId: 'gated', tags: ['adhoc'] } }), 201)).id;
  });
  after(async () => {
    gates.openAll();
    await t.close();
    gates.remove();
  });

  /** A new closed gate, and the function that opens it. */
  function gate(): { env: { GATE: string }; open: () => void } {
    const { path, open } = gates.gate();
    return { env: { GATE: path }, open };
  }
  const post = (path: string, json: unknown = {}, actor?: string) => t.request(path, { method: 'POST', json, ...(actor ? { actor } : {}) });
  const getRun = async (id: string) => expectJson<Run>(await t.request(`/api/runs/${id}`), 200);
  const until = (id: string, status: string) =>
    eventually(async () => {
      const run = await getRun(id);
      return run.status === status ? run : undefined;
    }, 10_000, `run ${id} to be ${status}`);

  it('keeps a job to its maxConcurrent while other jobs go ahead, and shows the queue positions', async () => {
    const g = gate();
    const serialRuns = [];
    for (let i = 0; i < 3; i++) serialRuns.push(await expectJson<Run>(await post(`/api/jobs/${serial}/runs`, { env: g.env }), 202));
    const freeRun = await expectJson<Run>(await post(`/api/jobs/${free}/runs`, { env: g.env }), 202);
    await until(serialRuns[0].id, 'running');
    // Serial #2 and #3 were requested first, yet Free #1 runs: a job at its limit holds nobody else up.
    await until(freeRun.id, 'running');
    const queued = (await expectJson<{ items: Run[] }>(await t.request(`/api/runs?status=queued&jobId=${serial}`), 200)).items;
    assert.deepEqual(
      queued.map((r) => [r.number, r.queuePosition, r.waitingFor]),
      [
        [3, 2, "a place under its job's limit: 1 of its runs is executing (maxConcurrent 1)"],
        [2, 1, "a place under its job's limit: 1 of its runs is executing (maxConcurrent 1)"],
      ],
    );
    assert.equal((await getRun(freeRun.id)).waitingFor, null, 'a running run waits for nothing');
    // The third slot goes to Free #2; Free #3 then waits for a slot, and says so.
    const free2 = await expectJson<Run>(await post(`/api/jobs/${free}/runs`, { env: g.env }), 202);
    await until(free2.id, 'running');
    const free3 = await expectJson<Run>(await post(`/api/jobs/${free}/runs`, { env: g.env }), 202);
    assert.equal((await getRun(free3.id)).waitingFor, 'a free slot: all 3 are taken (ENDERCOMPUTE_MAX_CONCURRENT_RUNS)');
    g.open();
    await until(free3.id, 'succeeded');
    const done = await Promise.all(serialRuns.map((r) => until(r.id, 'succeeded')));
    for (let i = 1; i < done.length; i++) {
      assert.ok(Date.parse(done[i].startedAt ?? '') >= Date.parse(done[i - 1].finishedAt ?? ''), `Serial #${i + 1} started after #${i} finished`);
    }
  });

  it('dequeues and re-times a waiting run, refuses to re-time a running one, and records who did what', async () => {
    const g = gate();
    const running = await expectJson<Run>(await post(`/api/jobs/${serial}/runs`, { env: g.env }), 202);
    await until(running.id, 'running');
    const waiting = await expectJson<Run>(await post(`/api/jobs/${serial}/runs`, { env: g.env }), 202);
    assert.equal(waiting.status, 'queued');
    assert.deepEqual(waiting.actions, { cancel: true, pause: false, resume: false, reschedule: true });

    const later = await expectJson<Run>(await post(`/api/runs/${waiting.id}/reschedule`, { delaySeconds: 3600 }, 'bob'), 202);
    assert.equal(later.status, 'scheduled');
    assert.ok(Date.parse(later.scheduledFor ?? '') > Date.now() + 3500_000);
    // A new time says which time zone it is in, as a new run's does.
    const zoneless = await post(`/api/runs/${waiting.id}/reschedule`, { at: '2099-06-01T09:00' }, 'bob');
    assert.equal(zoneless.status, 400);
    assert.match(await messageOf(zoneless), /at: "2099-06-01T09:00" has no time zone: add Z or an offset/);
    const inBerlin = await expectJson<Run>(await post(`/api/runs/${waiting.id}/reschedule`, { at: '2099-06-01T09:00:00+02:00' }, 'bob'), 202);
    assert.equal(inBerlin.scheduledFor, '2099-06-01T07:00:00.000Z');
    const back = await expectJson<Run>(await post(`/api/runs/${waiting.id}/reschedule`, {}, 'bob'), 202);
    assert.deepEqual([back.status, back.scheduledFor], ['queued', null]);

    const refused = await post(`/api/runs/${running.id}/reschedule`, { delaySeconds: 10 });
    assert.equal(refused.status, 409);
    assert.match((await messageOf(refused)), /is running: only a queued or scheduled run can be re-timed/);

    const cancelled = await expectJson<Run>(await post(`/api/runs/${waiting.id}/cancel`, {}, 'carol'), 202);
    assert.deepEqual([cancelled.status, cancelled.startedAt, cancelled.cancelRequestedBy, cancelled.reason], ['cancelled', null, 'carol', 'Cancelled by carol before it started']);

    g.open();
    await until(running.id, 'succeeded');
    const events = await expectJson<{ items: Array<{ type: string; metadata: { actor: string } }> }>(await t.request(`/api/events?stream=run-${waiting.id}`), 200);
    assert.deepEqual(
      events.items.map((e) => `${e.type} by ${e.metadata.actor}`),
      ['RunRequested by anonymous', 'RunRescheduled by bob', 'RunRescheduled by bob', 'RunRescheduled by bob', 'RunCancelRequested by carol', 'RunFinished by carol'],
    );
  });

  it('answers 409 with a clear message for control actions on a finished run, and 404 for an unknown one, changing nothing', async () => {
    const g = gate();
    g.open();
    const run = await expectJson<Run>(await post(`/api/jobs/${free}/runs`, { env: g.env }), 202);
    const done = await until(run.id, 'succeeded');
    assert.deepEqual(done.actions, { cancel: false, pause: false, resume: false, reschedule: false });
    const head = await t.head();
    for (const [action, verb] of [
      ['cancel', 'cancelled'],
      ['pause', 'paused'],
      ['resume', 'resumed'],
      ['reschedule', 're-timed'],
    ]) {
      const response = await post(`/api/runs/${run.id}/${action}`);
      assert.equal(response.status, 409, action);
      assert.equal(await messageOf(response), `Run Free #${done.number} has already finished (succeeded): it cannot be ${verb}`);
    }
    for (const action of ['cancel', 'pause', 'resume', 'reschedule', 'rerun']) {
      assert.equal((await post(`/api/runs/nope-1/${action}`)).status, 404, action);
    }
    assert.equal(await t.head(), head, 'refused actions record nothing');
    const bad = await post(`/api/runs/${run.id}/reschedule`, { at: 'tomorrow' });
    assert.equal(bad.status, 400);
  });

  it('pauses only a running run: a queued one is refused with a reason', async () => {
    const g = gate();
    const running = await expectJson<Run>(await post(`/api/jobs/${serial}/runs`, { env: g.env }), 202);
    await until(running.id, 'running');
    const queued = await expectJson<Run>(await post(`/api/jobs/${serial}/runs`, { env: g.env }), 202);
    const refused = await post(`/api/runs/${queued.id}/pause`);
    assert.equal(refused.status, 409);
    assert.match((await messageOf(refused)), /is waiting to start: only a running run can be paused/);
    assert.equal((await post(`/api/runs/${queued.id}/resume`)).status, 409);
    const paused = await expectJson<Run>(await post(`/api/runs/${running.id}/pause`, {}, 'bob'), 202);
    assert.equal(paused.status, 'paused');
    // Pausing twice changes nothing and is not an error.
    assert.equal((await expectJson<Run>(await post(`/api/runs/${running.id}/pause`), 202)).status, 'paused');
    g.open();
    await expectJson(await post(`/api/runs/${running.id}/resume`, {}, 'bob'), 202);
    await until(running.id, 'succeeded');
    await until(queued.id, 'succeeded');
  });

  it('refuses to re-run a run of a removed job', async () => {
    const g = gate();
    g.open();
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'short', body: 'echo short' } }), 201);
    const job = await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Gone soon', scriptId: 'short' } }), 201);
    const run = await expectJson<Run>(await post(`/api/jobs/${job.id}/runs`), 202);
    await until(run.id, 'succeeded');
    assert.equal((await t.request(`/api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
    const refused = await post(`/api/runs/${run.id}/rerun`);
    assert.equal(refused.status, 409);
    assert.equal((await messageOf(refused)), 'Job "Gone soon" was removed: its runs cannot be re-run');
  });

  it('keeps maxConcurrent and schedules on the job, with when each schedule fires next, and refuses invalid ones by field', async () => {
    const job = await expectJson<Job>(
      await t.request(`/api/jobs/${serial}`, { method: 'PUT', json: { maxConcurrent: 2, schedules: [{ cron: '0 3 * * *', timeZone: 'Europe/Berlin' }, { cron: '@hourly' }] } }),
      200,
    );
    assert.equal(job.maxConcurrent, 2);
    assert.deepEqual(job.schedules.map((s) => [s.cron, s.timeZone, s.lastSlot]), [
      ['0 3 * * *', 'Europe/Berlin', null],
      ['@hourly', 'UTC', null],
    ]);
    const berlin = new Date(job.schedules[0].nextAt ?? '');
    assert.ok(berlin.getTime() > Date.now());
    assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(berlin), '03:00');

    const invalid = await t.request('/api/jobs', {
      method: 'POST',
      json: { name: 'Bad', scriptId: 'gated', maxConcurrent: 0, schedules: [{ cron: '99 * * * *', timeZone: 'UTC' }, { cron: '0 1 * * *', timeZone: 'Moon/Base' }] },
    });
    assert.equal(invalid.status, 400);
    const message = await messageOf(invalid);
    assert.match(message, /maxConcurrent must be a whole number from 1 to 1024, or null for no limit of its own/);
    assert.match(message, /schedules: \[0\]\.cron "99 \* \* \* \*" is not a valid cron expression/);
    assert.match(message, /\[1\]\.timeZone must be an IANA time zone/);

    const cleared = await expectJson<Job>(await t.request(`/api/jobs/${serial}`, { method: 'PUT', json: { maxConcurrent: null, schedules: [] } }), 200);
    assert.deepEqual([cleared.maxConcurrent, cleared.schedules], [null, []]);
  });

  it('filters runs by outcome and jobs by tag and last outcome', async () => {
    await expectJson(await t.request('/api/scripts', { method: 'POST', json: { name: 'sleeper', body: 'sleep 30' } }), 201);
    const slow = await expectJson<Job>(await t.request('/api/jobs', { method: 'POST', json: { name: 'Slow', scriptId: 'sleeper', timeoutSeconds: 1, tags: ['nightly'] } }), 201);
    const run = await expectJson<Run>(await post(`/api/jobs/${slow.id}/runs`), 202);
    const timedOut = await until(run.id, 'timed_out');
    assert.match(timedOut.reason ?? '', /^Timed out after 1 s of running time$/);

    const byStatus = async (status: string) => (await expectJson<{ items: Run[] }>(await t.request(`/api/runs?status=${status}`), 200)).items.map((r) => r.id);
    assert.deepEqual(await byStatus('timed_out'), [run.id]);
    assert.ok((await byStatus('cancelled')).length >= 1);
    assert.ok((await byStatus('finished')).includes(run.id));
    assert.equal((await t.request('/api/runs?status=exploded')).status, 400);

    const jobs = async (query: string) => (await expectJson<{ items: Array<{ name: string }> }>(await t.request(`/api/jobs?${query}`), 200)).items.map((j) => j.name);
    assert.deepEqual(await jobs('tag=nightly'), ['Serial', 'Slow']);
    assert.deepEqual(await jobs('tag=nightly&lastOutcome=timed_out'), ['Slow']);
    assert.deepEqual(await jobs('lastOutcome=succeeded'), ['Free', 'Serial']);
    assert.deepEqual(await jobs('lastStatus=timed_out'), ['Slow']);
    assert.equal((await t.request('/api/jobs?lastOutcome=running')).status, 400, 'an outcome is how a run ended');
    const slowView = await expectJson<Job>(await t.request(`/api/jobs/${slow.id}`), 200);
    assert.equal(slowView.lastOutcome, 'timed_out');
  });

  it('lists every job as its own answer shows it (last run and outcome, schedules, template), a run still going and a job never run included', async () => {
    // The list looks them up for many jobs at once; a job's own answer, one by one.
    const slow = await expectJson<Job>(await t.request('/api/jobs/Slow'), 200);
    const going = await expectJson<Run>(await post(`/api/jobs/${slow.id}/runs`), 202);
    await until(going.id, 'running');
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: 'Never run', scriptId: 'sleeper' } }), 201);
    const schedules = [{ cron: '0 3 * * *', timeZone: 'Europe/Paris' }, { cron: '*/5 * * * *', timeZone: 'UTC' }, { cron: '@weekly', timeZone: 'UTC' }];
    await expectJson(await t.request('/api/jobs', { method: 'POST', json: { name: 'Scheduled', scriptId: 'short', schedules } }), 201);
    type Listed = Job & { name: string; lastRun: (Partial<Run> & { durationMs?: number }) | null; schedules: Array<{ cron: string }>; scriptName: string | null };
    // All of it but the running time, which moves between the two answers.
    const shown = (job: Listed) => ({ ...job, lastRun: job.lastRun && { ...job.lastRun, durationMs: undefined } });
    const listed = (await expectJson<{ items: Listed[] }>(await t.request('/api/jobs'), 200)).items;
    const own = await Promise.all(listed.map(async (job) => expectJson<Listed>(await t.request(`/api/jobs/${job.id}`), 200)));
    assert.deepEqual(listed.map(shown), own.map(shown));
    assert.deepEqual(listed.find((job) => job.name === 'Scheduled')?.schedules.map((schedule) => schedule.cron), ['0 3 * * *', '*/5 * * * *', '@weekly'], 'in the order given');
    assert.ok(new Set(listed.map((job) => job.scriptName)).size >= 2, 'jobs of several templates are compared');
    const slowListed = listed.find((job) => job.id === slow.id);
    assert.deepEqual([slowListed?.lastRun?.id, slowListed?.lastRun?.status, slowListed?.lastOutcome], [going.id, 'running', 'timed_out']);
    const never = listed.find((job) => job.name === 'Never run')!;
    assert.deepEqual([never.lastRun, never.lastOutcome], [null, null]);
    assert.ok(listed.filter((job) => job.lastRun !== null).length >= 3, 'jobs with runs are compared too');
    // The jobs page looks them up for its page of jobs at once, too.
    const page = await (await t.request('/jobs?q=Slow')).text();
    assert.ok(page.includes(`href="/runs/${going.id}"`), 'the page links the run still going as the last run');
    assert.match(page, /last finished: timed out/i);
  });
});
