/**
 * Placement with two servers on one EventStoreDB (the in-process double): server A's
 * runner has the label `gpu`, server B executes nothing itself
 * (`ENDERCOMPUTE_LOCAL_RUNNER=false`). Every run, requested through either server,
 * executes exactly once, on A; a run whose labels no runner has stays queued, and both
 * servers say what it waits for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface PlacedRun extends Run {
  runner: string | null;
  runsOn: string[];
  waitingFor: string | null;
}

describe('placement with two servers on one EventStoreDB', () => {
  let double: EsdbDouble;
  let a: ServerProcess;
  let b: ServerProcess;

  const start = (runnerId: string, env: Record<string, string>): Promise<ServerProcess> =>
    startServer({ env: { EVENTSTORE_CONNECTION_STRING: double.connectionString, ENDERCOMPUTE_RUNNER_ID: runnerId, ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '2', ...env } });

  before(async () => {
    double = await startEsdbDouble();
    [a, b] = await Promise.all([start('server-a', { ENDERCOMPUTE_RUNNER_LABELS: 'gpu' }), start('server-b', { ENDERCOMPUTE_LOCAL_RUNNER: 'false' })]);
  });
  after(async () => {
    for (const server of [a, b]) {
      await server?.kill();
      server?.cleanup();
    }
    await double?.stop();
  });

  /** A run as `server` shows it once its read models have it (the other server follows the log a moment later). */
  const shown = (server: ServerProcess, id: string): Promise<PlacedRun> =>
    eventually(async () => {
      const response = await server.request(`/api/runs/${id}`);
      return response.status === 200 ? ((await response.json()) as PlacedRun) : undefined;
    }, 5_000, `run ${id} to show`);

  it('executes labelled and unlabelled runs requested through either server on the one runner that may take them, once each', async () => {
    await postJson(a, '/api/scripts', { name: 'hello', body: 'echo "run $ENDERCOMPUTE_RUN_NUMBER"' }, 201);
    const gpu = await postJson<{ id: string }>(a, '/api/jobs', { name: 'on-gpu', scriptId: 'hello', runsOn: ['gpu'] }, 201);
    const any = await postJson<{ id: string }>(a, '/api/jobs', { name: 'anywhere', scriptId: 'hello' }, 201);
    await eventually(async () => ((await b.request(`/api/jobs/${any.id}`)).status === 200 ? true : undefined), 5_000, 'B to show the jobs');

    const requested = await Promise.all(Array.from({ length: 8 }, (_, i) => requestRun(i % 2 === 0 ? a : b, i < 4 ? gpu.id : any.id)));
    const finished = await Promise.all(requested.map(async (run) => waitForRun(a, (await shown(a, run.id)).id, 30_000)));
    assert.deepEqual(finished.map((run) => run.status), Array(8).fill('succeeded'));
    for (const run of requested) {
      const placed = await getJson<PlacedRun>(a, `/api/runs/${run.id}`);
      assert.equal(placed.runner, 'server-a', `${run.id} ran on A, the only server that executes runs`);
      assert.equal(double.log.stream(`run-${run.id}`).filter((record) => record.type === 'RunClaimed').length, 1, `${run.id} was claimed once`);
    }
  });

  it('knows the other server’s runner and its labels from the log: a run it may take waits for its turn there, not for a runner', async () => {
    await postJson(a, '/api/scripts', { name: 'sleeper', body: 'sleep 60' }, 201);
    const busy = await postJson<{ id: string }>(a, '/api/jobs', { name: 'busy-gpu', scriptId: 'sleeper', runsOn: ['gpu'] }, 201);
    // A has two slots: two long runs fill them, the third waits.
    const running = [await requestRun(a, busy.id), await requestRun(a, busy.id)];
    await Promise.all(
      running.map((run) => eventually(async () => ((await getJson<PlacedRun>(a, `/api/runs/${run.id}`)).status === 'running' ? true : undefined), 10_000, `${run.id} to run`)),
    );
    const third = await requestRun(b, busy.id);
    const onB = await eventually(async () => {
      const seen = await getJson<PlacedRun>(b, `/api/runs/${third.id}`);
      return seen.status === 'queued' ? seen : undefined;
    }, 5_000, 'B to show the third run');
    assert.equal(onB.waitingFor, null, 'A’s runner, online with gpu, may take it: B does not say it waits for a runner');
    const onA = await shown(a, third.id);
    assert.equal(onA.status, 'queued');
    assert.equal(onA.waitingFor, 'a free slot: all 2 are taken (ENDERCOMPUTE_MAX_CONCURRENT_RUNS)');
    for (const run of [...running, third]) await postJson(b, `/api/runs/${run.id}/cancel`, {}, 202);
    for (const run of [...running, third]) assert.equal((await waitForRun(a, run.id, 30_000)).status, 'cancelled');
  });

  it('says at start which runner each server has', () => {
    assert.match(a.output(), /Runner: server-a, labels gpu \(it takes runs whose runsOn it has every label of\)/);
    assert.match(b.output(), /Runner: none here \(ENDERCOMPUTE_LOCAL_RUNNER=false\): this server executes no runs itself/);
  });

  it('leaves a run whose labels no runner has queued, and both servers say what it waits for', async () => {
    const tpu = await postJson<{ id: string }>(b, '/api/jobs', { name: 'on-tpu', scriptId: 'hello', runsOn: ['tpu'] }, 201);
    const run = await requestRun(b, tpu.id);
    const onA = await eventually(async () => {
      const seen = await shown(a, run.id);
      return seen.waitingFor !== null ? seen : undefined;
    }, 5_000, 'A to say what the run waits for');
    assert.equal(onA.status, 'queued');
    assert.deepEqual(onA.runsOn, ['tpu']);
    assert.equal(onA.waitingFor, 'a runner with label tpu');
    const onB = await getJson<PlacedRun>(b, `/api/runs/${run.id}`);
    assert.equal(onB.status, 'queued');
    assert.equal(onB.waitingFor, 'a runner with label tpu; this server executes no runs itself (ENDERCOMPUTE_LOCAL_RUNNER=false)');
    assert.equal(double.log.stream(`run-${run.id}`).filter((record) => record.type === 'RunClaimed').length, 0, 'nobody claimed it');
  });
});
