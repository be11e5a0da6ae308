/**
 * What survives a stop of the built server, beyond the kill -9 of a running run
 * in server.e2e.spec.ts: a paused run cut off by kill -9 (its stopped processes
 * too) while a scheduled run waits; a graceful SIGTERM that gives running runs
 * their grace period and records how each ended; and a schedule that came due
 * while the server was down, which fires once at start.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createJob, getJson, JSON_HEADERS, outputOf, requestRun, type Run as BaseRun, waitForRun } from '../support/rest';
import { processesOfRun } from '../support/run-processes';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface Run extends BaseRun {
  scheduledFor: string | null;
  trigger: { slot: string } | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Runs across a stop of the built server', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.kill();
    for (const server of servers) server.cleanup();
  });

  async function start(dataDir?: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const server = await startServer({ dataDir, env: { ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '2', ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1', ...env } });
    servers.push(server);
    return server;
  }

  for (const sandbox of ['bwrap', 'none'] as const) {
    it(`ends a paused run cut short by kill -9 as lost, with nothing of it left, keeps its output, and still runs a scheduled run (sandbox: ${sandbox})`, async () => {
      const env = { ENDERCOMPUTE_SANDBOX: sandbox };
      const server = await start(undefined, env);
      const slowJob = await createJob(server, 'Paused slow', 'bash', 'echo started; sleep 300 & wait');
      const laterJob = await createJob(server, 'Later', 'bash', 'echo later');
      const paused = await requestRun(server, slowJob);
      await eventually(async () => ((await getJson<Run>(server, `/api/runs/${paused.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'output');
      assert.equal((await server.request(`/api/runs/${paused.id}/pause`, { method: 'POST' })).status, 202);
      const scheduled = (await requestRun(server, laterJob, { delaySeconds: 3 })) as Run;
      assert.equal(scheduled.status, 'scheduled');
      assert.ok((await processesOfRun(paused.id)).length >= 2);

      await server.kill();
      if (sandbox === 'bwrap') {
        // A sandbox ends with the server that started it, even one killed with SIGKILL.
        await eventually(async () => ((await processesOfRun(paused.id)).length === 0 ? true : undefined), 3_000, 'the sandbox to end with the server');
      }
      const restarted = await start(server.dataDir, env);
      const lost = await getJson<Run>(restarted, `/api/runs/${paused.id}`);
      assert.equal(lost.status, 'lost');
      assert.match(
        String(lost.reason),
        sandbox === 'bwrap'
          ? /^The server stopped while the run was paused; its process was gone$/
          : /^The server stopped while the run was paused; \d+ leftover process\(es\) were killed$/,
      );
      assert.deepEqual(await processesOfRun(paused.id), [], 'stopped processes are killed too');
      assert.equal((await outputOf(restarted, paused.id)).toString(), 'started\n');
      const later = (await waitForRun(restarted, scheduled.id)) as Run;
      assert.equal(later.status, 'succeeded');
      assert.ok(Date.parse(later.startedAt ?? '') >= Date.parse(scheduled.scheduledFor ?? ''), 'still not before its time');
    });
  }

  it('on SIGTERM gives running runs their grace period, cancels what is left, records how each ended, and keeps the queue', async () => {
    const server = await start(undefined, { ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS: '1' });
    const endless = await createJob(server, 'Endless', 'bash', 'echo on; sleep 300 & wait');
    const brief = await createJob(server, 'Brief', 'bash', 'echo on; sleep 0.5; echo off');
    const long = await requestRun(server, endless);
    const short = await requestRun(server, brief);
    const queued = await requestRun(server, brief);
    await eventually(async () => {
      const [a, b] = await Promise.all([getJson<Run>(server, `/api/runs/${long.id}`), getJson<Run>(server, `/api/runs/${short.id}`)]);
      return a.outputBytes > 0 && b.outputBytes > 0 ? true : undefined;
    }, 10_000, 'both runs to print');
    assert.equal((await getJson<Run>(server, `/api/runs/${queued.id}`)).status, 'queued');

    const stopping = Date.now();
    await server.stop();
    assert.ok(Date.now() - stopping < 6_000, 'the stop is bounded by the grace periods');
    assert.deepEqual(await processesOfRun(long.id), [], 'nothing of the cancelled run survives the server');

    const restarted = await start(server.dataDir);
    const ended = await getJson<Run>(restarted, `/api/runs/${long.id}`);
    assert.deepEqual([ended.status, ended.reason], ['cancelled', 'The server was stopped before the run finished']);
    const finishedInTime = await getJson<Run>(restarted, `/api/runs/${short.id}`);
    assert.equal(finishedInTime.status, 'succeeded', 'a run that ends within the grace period ends normally');
    assert.equal((await outputOf(restarted, short.id)).toString(), 'on\noff\n');
    const ranLater = (await waitForRun(restarted, queued.id)) as Run;
    assert.equal(ranLater.status, 'succeeded', 'the queued run ran after the restart');
    assert.ok(Date.parse(ranLater.startedAt ?? '') > Date.parse(finishedInTime.finishedAt ?? ''));
    const events = await getJson<{ items: Array<{ type: string; metadata: { actor: string } }> }>(restarted, `/api/events?stream=run-${long.id}`);
    assert.deepEqual(events.items.map((e) => e.type).filter((t) => t !== 'RunOutputAppended'), ['RunRequested', 'RunClaimed', 'RunStarted', 'RunFinished']);
  });

  it('fires a schedule that came due while the server was down once at start, not once per missed slot', async () => {
    const server = await start();
    const jobId = await createJob(server, 'Ticking', 'bash', 'true');
    // Two slots a second apart, both while the server will be down; the next ones are a minute later.
    const first = Math.ceil((Date.now() + 1_500) / 1_000) * 1_000;
    const seconds = [first, first + 1_000].map((ms) => new Date(ms).getUTCSeconds());
    const set = await server.request(`/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ schedules: [{ cron: `${seconds.join(',')} * * * * *`, timeZone: 'UTC' }] }) });
    assert.equal(set.status, 200);
    await server.stop();
    assert.ok(Date.now() < first, 'the server was down before the first slot');
    await sleep(first + 1_500 - Date.now());
    const restarted = await start(server.dataDir);
    const fired = (await eventually(async () => {
      const { items } = await getJson<{ items: Run[] }>(restarted, `/api/runs?jobId=${jobId}`);
      return items.length > 0 ? items : undefined;
    }, 5_000, 'the missed schedule to fire')) as Run[];
    await sleep(1_000);
    const { items } = await getJson<{ items: Run[] }>(restarted, `/api/runs?jobId=${jobId}`);
    assert.equal(items.length, 1, 'one run for two missed slots');
    assert.equal(fired[0].trigger?.slot, new Date(first + 1_000).toISOString(), 'for the latest missed slot');
    assert.equal(fired[0].requestedBy, 'schedule');
  });
});
