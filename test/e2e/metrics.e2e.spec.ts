import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createJob, getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { Scrape } from '../support/prometheus';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** `GET /metrics` with the given Authorization (none when null), parsed. */
async function scrape(server: ServerProcess, authorization: string | null = `Bearer ${METRICS_TOKEN}`): Promise<Scrape> {
  const response = await fetch(`${server.url}/metrics`, { headers: authorization === null ? {} : { authorization } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(String(response.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
  return new Scrape(text);
}

describe('GET /metrics on the built server', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) {
      await server.kill();
      server.cleanup();
    }
  });

  it('answers the key or the metrics token only, and the token opens nothing else', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_METRICS_TOKEN: METRICS_TOKEN } });
    servers.push(server);
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789abcdef' }, { accept: 'text/html' }]) {
      const refused = await fetch(`${server.url}/metrics`, { headers: headers as Record<string, string> });
      assert.equal(refused.status, 401);
      assert.match(String(refused.headers.get('content-type')), /application\/json/, 'never the app shell');
      assert.deepEqual(await refused.json(), { statusCode: 401, error: 'Unauthorized', message: 'You are not authenticated' });
    }
    await scrape(server);
    await scrape(server, `Bearer ${server.key}`);
    // The key is checked before the request's shape: a stranger's stray parameter gets a 401, not a 400.
    assert.equal((await fetch(`${server.url}/metrics?x=1`)).status, 401);
    const stray = await fetch(`${server.url}/metrics?x=1`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(stray.status, 400);
    assert.match(((await stray.json()) as { message: string }).message, /\bx\b/);
    for (const path of ['/api/runs', '/api/jobs', '/api/events', '/api/health?details=1']) {
      const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(response.status, 401, `${path} refuses the metrics token`);
    }
  });

  it('counts runs by status, their durations per job, their output bytes, the queue, running and paused runs', async () => {
    const server = await startServer({ env: { ENDERCOMPUTE_METRICS_TOKEN: METRICS_TOKEN, ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' } });
    servers.push(server);
    const echo = await createJob(server, 'Echo', 'bash', 'head -c "$((1000 * $1))" /dev/zero | tr "\\0" a; echo');
    const fail = await createJob(server, 'Fail', 'bash', 'echo failing >&2; exit 3');
    const finished: Run[] = [];
    for (const size of [1, 20, 300]) finished.push(await waitForRun(server, (await requestRun(server, echo, { args: [String(size)] })).id));
    finished.push(await waitForRun(server, (await requestRun(server, fail)).id));
    const scheduled = await requestRun(server, echo, { delaySeconds: 3600, args: ['1'] });
    assert.equal(scheduled.status, 'scheduled');

    const first = await eventually(async () => {
      const s = await scrape(server);
      return s.value('endercompute_projection_lag_events') === 0 ? s : undefined;
    }, 10_000, 'the read models to catch up');
    assert.equal(first.value('endercompute_runs', { status: 'succeeded' }), 3);
    assert.equal(first.value('endercompute_runs', { status: 'failed' }), 1);
    assert.equal(first.value('endercompute_runs', { status: 'scheduled' }), 1);
    assert.equal(first.value('endercompute_runs', { status: 'queued' }), 0);
    for (const status of ['running', 'paused', 'cancelled', 'timed_out', 'lost']) assert.equal(first.value('endercompute_runs', { status }), 0, status);
    // The same counts as the API's lists.
    for (const status of ['succeeded', 'failed', 'scheduled']) {
      const listed = await getJson<{ items: Run[] }>(server, `/api/runs?status=${status}&limit=100`);
      assert.equal(first.value('endercompute_runs', { status }), listed.items.length, status);
    }
    const echoDurations = first.histogram('endercompute_run_duration_seconds', { job: 'Echo', status: 'succeeded' });
    assert.equal(echoDurations.count, 3);
    const recorded = finished.slice(0, 3).reduce((sum, run) => sum + (Date.parse(run.finishedAt!) - Date.parse(run.startedAt!)) / 1000, 0);
    assert.ok(Math.abs(echoDurations.sum - recorded) < 0.01, `histogram sum ${echoDurations.sum} s, runs' own ${recorded} s`);
    assert.equal(first.histogram('endercompute_run_duration_seconds', { job: 'Fail', status: 'failed' }).count, 1);
    assert.equal(first.histogram('endercompute_run_duration_seconds').count, 4, 'the scheduled run never started: not counted');
    const written = finished.reduce((sum, run) => sum + run.outputBytes, 0);
    assert.equal(written, 1001 + 20_001 + 300_001 + 'failing\n'.length);
    assert.equal(first.value('endercompute_run_output_bytes_total'), written);
    assert.ok(first.histogram('endercompute_event_store_append_seconds', { outcome: 'ok' }).count >= 12, 'appends are timed');
    assert.equal(first.value('endercompute_job_servers_connected'), 0);
    assert.match(first.family('endercompute_job_servers_connected').help, /Job servers \(remote runners\) connected to this server/);
    assert.equal(first.histogram('endercompute_http_request_duration_seconds', { method: 'POST', route: '/api/jobs/:id/runs', status_class: '2xx' }).count, 5);
    assert.ok(first.histogram('endercompute_http_request_duration_seconds', { method: 'GET', route: '/api/runs/:id', status_class: '2xx' }).count >= 4);
    assert.ok(first.value('process_cpu_seconds_total') > 0, 'process metrics');
    assert.ok(first.value('nodejs_heap_size_total_bytes') > 0, 'Node.js metrics');

    // One run paused, one waiting behind it (one run at a time).
    const sleeper = await createJob(server, 'Sleeper', 'bash', 'echo up; sleep 60');
    const paused = await requestRun(server, sleeper);
    await eventually(async () => ((await getJson<Run>(server, `/api/runs/${paused.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'the sleeper to start');
    await postJson(server, `/api/runs/${paused.id}/pause`, {}, 202);
    const waiting = await requestRun(server, sleeper);
    assert.equal(waiting.status, 'queued');
    const busy = await eventually(async () => {
      const s = await scrape(server);
      return s.value('endercompute_runs_paused') === 1 ? s : undefined;
    }, 10_000, 'the pause to show');
    assert.equal(busy.value('endercompute_runs_running'), 0);
    assert.equal(busy.value('endercompute_queue_length'), 1);
    assert.equal(busy.value('endercompute_runs', { status: 'paused' }), 1);
    assert.equal(busy.value('endercompute_runs', { status: 'queued' }), 1);

    await postJson(server, `/api/runs/${waiting.id}/cancel`, {}, 202);
    await postJson(server, `/api/runs/${paused.id}/cancel`, {}, 202);
    await waitForRun(server, paused.id);
    const end = await eventually(async () => {
      const s = await scrape(server);
      return s.value('endercompute_runs', { status: 'cancelled' }) === 2 ? s : undefined;
    }, 10_000, 'both cancels to show');
    assert.equal(end.value('endercompute_queue_length'), 0);
    assert.equal(end.value('endercompute_runs_paused'), 0);
    assert.equal(end.histogram('endercompute_run_duration_seconds', { job: 'Sleeper', status: 'cancelled' }).count, 1, 'the queued run never started');
    assert.equal(end.value('endercompute_run_output_bytes_total'), written + 'up\n'.length);
  });
});
