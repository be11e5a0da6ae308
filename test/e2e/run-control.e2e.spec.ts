/**
 * Queue and run control against the built server as a process, with real bash
 * scripts: the global limit, delays, a cron schedule, cancel (with a background
 * child, and SIGKILL after the grace period), pause and resume, the timeout,
 * re-runs with the old inputs, 409 on finished runs, and the audit trail.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readProcessStat } from '../../src/runs/runner/process-group';
import { createJob, getJson, outputOf, postJson, requestRun, type Run as BaseRun, waitForRun, JSON_HEADERS } from '../support/rest';
import { processesOfRun, processesWithArgument, uniqueSleep } from '../support/run-processes';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface Run extends BaseRun {
  args: string[];
  scheduledFor: string | null;
  signal: string | null;
  durationMs: number | null;
  pausedMs: number;
  rerunOf: string | null;
  cancelRequestedBy: string | null;
  cancelRequestedAt: string | null;
  trigger: { kind: string; cron: string; timeZone: string; slot: string } | null;
}

interface AuditEvent {
  type: string;
  stream: string;
  data: { runId?: string; jobId?: string; slot?: string };
  metadata: { actor: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Run control on the built server', () => {
  let server: ServerProcess;
  let scratch: string;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'endercompute-control-'));
    // The scratch folder is where the scripts keep their own record: bound into their sandboxes.
    server = await startServer({ env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '2', ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1', ENDERCOMPUTE_SANDBOX_BIND: `${scratch}:rw` } });
  });
  after(async () => {
    await server.kill();
    server.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown = {}, actor?: string) =>
    server.request(path, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body), ...(actor ? { actor } : {}) });
  const getRun = (id: string) => getJson<Run>(server, `/api/runs/${id}`);
  const until = (id: string, check: (run: Run) => boolean, what: string, timeoutMs = 10_000) =>
    eventually(async () => {
      const run = await getRun(id);
      return check(run) ? run : undefined;
    }, timeoutMs, what);

  it('with a limit of 2, never runs more than 2 of 5 runs at once, and starts each in turn', async () => {
    const log = join(scratch, 'concurrency.log');
    const jobId = await createJob(server, 'Limited', 'bash', 'echo "+" >> "$LOG"; sleep 0.3; echo "-" >> "$LOG"');
    await server.request(`/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ env: { LOG: log } }) });
    const runs: Run[] = [];
    for (let i = 0; i < 5; i++) runs.push(await postJson<Run>(server, `/api/jobs/${jobId}/runs`, {}, 202));
    const finished = await Promise.all(runs.map((run) => waitForRun(server, run.id)) as Array<Promise<Run>>);
    assert.ok(finished.every((run) => run.status === 'succeeded'));

    // Inside: the scripts' own record of entering and leaving.
    let inside = 0;
    let most = 0;
    for (const mark of readFileSync(log, 'utf8').trim().split('\n')) {
      inside += mark === '+' ? 1 : -1;
      most = Math.max(most, inside);
    }
    assert.equal(most, 2, 'two at once at most, and the limit was used');
    // Outside: the recorded start and finish times never overlap three deep.
    const moments = finished.flatMap((run) => [
      { at: Date.parse(run.startedAt ?? ''), step: 1 },
      { at: Date.parse(run.finishedAt ?? ''), step: -1 },
    ]);
    moments.sort((a, b) => a.at - b.at || a.step - b.step);
    let open = 0;
    for (const moment of moments) assert.ok((open += moment.step) <= 2, 'at most two runs between start and finish');
  });

  it('keeps a delayed run scheduled until its time and starts it no earlier', async () => {
    const jobId = await createJob(server, 'Later', 'bash', 'echo later');
    const delayed = await requestRun(server, jobId, { delaySeconds: 1 });
    const at = new Date(Date.now() + 1_500).toISOString();
    const timed = await requestRun(server, jobId, { at });
    assert.deepEqual([delayed.status, timed.status], ['scheduled', 'scheduled']);
    const [first, second] = (await Promise.all([waitForRun(server, delayed.id), waitForRun(server, timed.id)])) as Run[];
    assert.ok(Date.parse(first.startedAt ?? '') >= Date.parse(delayed.requestedAt) + 1_000, 'the delay was waited');
    assert.equal(second.scheduledFor, at);
    assert.ok(Date.parse(second.startedAt ?? '') >= Date.parse(at), 'not before its time');
  });

  it('fires a cron schedule in its time zone, as the actor schedule', async () => {
    const jobId = await createJob(server, 'Every second', 'bash', 'echo tick');
    const set = await server.request(`/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ schedules: [{ cron: '* * * * * *', timeZone: 'Europe/Berlin' }] }) });
    assert.equal(set.status, 200);
    const fired = await eventually(async () => {
      const { items } = await getJson<{ items: Run[] }>(server, `/api/runs?jobId=${jobId}&status=succeeded`);
      return items.length > 0 ? items[items.length - 1] : undefined;
    }, 5_000, 'the schedule to fire and its run to finish');
    await server.request(`/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ schedules: [] }) });
    assert.equal(fired.requestedBy, 'schedule');
    assert.deepEqual([fired.trigger?.kind, fired.trigger?.cron, fired.trigger?.timeZone], ['schedule', '* * * * * *', 'Europe/Berlin']);
    assert.equal((await outputOf(server, fired.id)).toString(), 'tick\n');
    const events = await getJson<{ items: AuditEvent[] }>(server, `/api/events?type=ScheduleFired`);
    const firing = events.items.find((e) => e.data.jobId === jobId && e.data.slot === fired.trigger?.slot);
    assert.equal(firing?.metadata.actor, 'schedule');
    // The job's events include its schedule's firings, as the Audit page's.
    const ofJob = await getJson<{ items: AuditEvent[] }>(server, `/api/events?jobId=${jobId}&type=ScheduleFired`);
    assert.ok(ofJob.items.some((e) => e.data.slot === fired.trigger?.slot), 'the firing is among the job\'s events');
  });

  it('cancels a run whose script started a background child: the whole group ends, and it says who cancelled', async () => {
    // The child is found by its command line: pids printed inside the sandbox are not the host's.
    const token = uniqueSleep();
    const jobId = await createJob(server, 'Background', 'bash', `sleep ${token} & echo "child started"; wait`);
    const run = await requestRun(server, jobId);
    const printing = await until(run.id, (r) => r.outputBytes > 0, 'the child to start');
    const [child] = processesWithArgument(token);
    assert.ok(child !== undefined && (await processesOfRun(run.id)).includes(child), 'the background child runs');
    const answer = await post(`/api/runs/${run.id}/cancel`, {}, 'carol');
    assert.equal(answer.status, 202);
    const cancelled = await waitForRun(server, printing.id) as Run;
    assert.deepEqual([cancelled.status, cancelled.cancelRequestedBy, cancelled.reason], ['cancelled', 'carol', 'Cancelled by carol']);
    // SIGTERM reaches the script and its child at once: bash dies of it, or (rarely) first sees its
    // child die of it in `wait` and ends with 128 + 15.
    const ended = (cancelled as Run & { exitCode: number | null }).exitCode;
    assert.ok(cancelled.signal === 'SIGTERM' || ended === 143, `ended by ${cancelled.signal ?? `exit code ${ended}`}`);
    assert.deepEqual(await processesOfRun(run.id), [], 'no process of the run is left');
    // Gone, or a zombie its new parent has not collected yet: dead either way.
    assert.ok([undefined, 'Z', 'X'].includes(readProcessStat(child)?.state), 'the background child is gone');
  });

  it('kills with SIGKILL after the grace period a run that ignores SIGTERM', async () => {
    const jobId = await createJob(server, 'Stubborn', 'bash', "trap '' TERM; sleep 300 & echo ready; wait; wait");
    const run = await requestRun(server, jobId);
    await until(run.id, (r) => r.outputBytes > 0, 'the script to be ready');
    await post(`/api/runs/${run.id}/cancel`, {}, 'carol');
    const cancelled = (await waitForRun(server, run.id)) as Run;
    assert.deepEqual([cancelled.status, cancelled.signal], ['cancelled', 'SIGKILL']);
    assert.ok(Date.parse(cancelled.finishedAt ?? '') - Date.parse(cancelled.cancelRequestedAt ?? '') >= 900, 'it had its grace period of 1 s');
    assert.deepEqual(await processesOfRun(run.id), []);
  });

  it('pauses a run: its processes stop and its output stops growing; on resume it grows again', async () => {
    const jobId = await createJob(server, 'Counter', 'bash', 'for i in $(seq 1 400); do echo "line $i"; sleep 0.02; done');
    const run = await requestRun(server, jobId);
    await until(run.id, (r) => r.outputBytes > 0, 'output');
    const paused = await (await post(`/api/runs/${run.id}/pause`, {}, 'bob')).json() as Run;
    assert.equal(paused.status, 'paused');
    await sleep(300); // what was written just before the stop is stored by now
    const pids = await processesOfRun(run.id);
    assert.ok(pids.length > 0 && pids.every((pid) => readProcessStat(pid)?.state === 'T'), 'every process of the run is stopped');
    const before = (await getRun(run.id)).outputBytes;
    await sleep(600);
    const still = await getRun(run.id);
    assert.deepEqual([still.status, still.outputBytes], ['paused', before], 'no output while paused');
    assert.equal((await post(`/api/runs/${run.id}/resume`, {}, 'bob')).status, 202);
    const growing = await until(run.id, (r) => r.outputBytes > before, 'output to grow again');
    assert.equal(growing.status, 'running');
    assert.ok(growing.pausedMs >= 800, `paused time is counted (${growing.pausedMs} ms)`);
    await post(`/api/runs/${run.id}/cancel`, {}, 'bob');
    assert.equal(((await waitForRun(server, run.id)) as Run).status, 'cancelled');
  });

  it('ends a run over its time limit as timed_out and kills its group; paused time does not count', async () => {
    const jobId = await createJob(server, 'Too slow', 'bash', 'echo begin; sleep 300 & wait');
    await server.request(`/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ timeoutSeconds: 1 }) });
    const run = await requestRun(server, jobId);
    await until(run.id, (r) => r.outputBytes > 0, 'the script to begin');
    await post(`/api/runs/${run.id}/pause`);
    await sleep(1_300);
    assert.equal((await getRun(run.id)).status, 'paused', 'still paused after more than its time limit');
    await post(`/api/runs/${run.id}/resume`);
    const ended = (await waitForRun(server, run.id)) as Run;
    assert.deepEqual([ended.status, ended.reason], ['timed_out', 'Timed out after 1 s of running time']);
    const active = (ended.durationMs ?? 0) - ended.pausedMs;
    assert.ok(ended.pausedMs >= 1_200 && active >= 900 && active < 2_500, `ran ~1 s besides ${ended.pausedMs} ms paused (active ${active} ms)`);
    assert.deepEqual(await processesOfRun(run.id), [], 'its group was killed');
  });

  it('re-runs with the old inputs after the job and its template were edited, attributed to who asked', async () => {
    await postJson(server, '/api/scripts', { name: 'versioned', body: 'echo "v1 $* $MODE"' }, 201);
    const job = await postJson<{ id: string }>(server, '/api/jobs', { name: 'Versioned', scriptId: 'versioned', args: ['old'], env: { MODE: 'a' } }, 201);
    const first = (await waitForRun(server, (await requestRun(server, job.id, { args: ['extra'] }, 'alice')).id)) as Run;
    assert.equal((await outputOf(server, first.id)).toString(), 'v1 old extra a\n');
    await server.request('/api/scripts/versioned', { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ body: 'echo "v2 $* $MODE"' }) });
    await server.request(`/api/jobs/${job.id}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ args: ['new'], env: { MODE: 'b' } }) });
    const rerun = await postJson<Run>(server, `/api/runs/${first.id}/rerun`, {}, 202, 'dave');
    assert.deepEqual([rerun.rerunOf, rerun.requestedBy, rerun.args], [first.id, 'dave', ['old', 'extra']]);
    const done = (await waitForRun(server, rerun.id)) as Run;
    assert.equal(done.status, 'succeeded');
    assert.equal((await outputOf(server, done.id)).toString(), 'v1 old extra a\n');
    const fresh = (await waitForRun(server, (await requestRun(server, job.id)).id)) as Run;
    assert.equal((await outputOf(server, fresh.id)).toString(), 'v2 new b\n', 'a new run uses the edited job');
  });

  it('answers 409 for control actions on a finished run, and records every control action in /api/events with its actor', async () => {
    const { items: finished } = await getJson<{ items: Run[] }>(server, '/api/runs?status=succeeded&limit=1');
    for (const action of ['cancel', 'pause', 'resume']) {
      const response = await post(`/api/runs/${finished[0].id}/${action}`, {}, 'mallory');
      assert.equal(response.status, 409);
      assert.match(((await response.json()) as { message: string }).message, /has already finished \(succeeded\): it cannot be/);
    }
    const { items } = await getJson<{ items: AuditEvent[] }>(server, '/api/events?type=RunCancelRequested,RunPaused,RunResumed&limit=1000');
    const seen = new Set(items.map((e) => `${e.type} by ${e.metadata.actor}`));
    for (const expected of ['RunCancelRequested by carol', 'RunPaused by bob', 'RunResumed by bob', 'RunPaused by anonymous', 'RunResumed by anonymous']) {
      assert.ok(seen.has(expected), `${expected} is in the log`);
    }
    assert.ok(!items.some((e) => e.metadata.actor === 'mallory'), 'refused actions are not recorded');
    const rerun = await getJson<{ items: AuditEvent[] }>(server, '/api/events?type=RunRequested&actor=dave');
    assert.equal(rerun.items.length, 1);
  });
});
