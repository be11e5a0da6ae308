import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { RunWriter } from '../../src/runs/execution/run-writer';
import { SystemClock } from '../../src/shared/clock';
import { RandomIdGenerator } from '../../src/shared/ids';
import { RunnerPresence } from '../../src/runners/runner-presence';
import type { RunnerView } from '../../src/runners/runners.view';
import { createJob, getJson, requestRun, type Run } from '../support/rest';
import { eventually, expectJson } from '../support/server-process';
import { Scrape } from '../support/prometheus';
import { startTestApp, type TestApp } from '../support/test-app';

const ENV_TOKEN = 'env-runner-token-0123456789';
const LOCAL = 'local-runner-1';
const report = { labels: ['linux', 'gpu'], softwareVersion: '9.9.9', maxConcurrent: 2, running: [] };

describe('/api/runners: registering, listing and revoking job servers', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_RUNNER_TOKENS: `build-1=${ENV_TOKEN}`, ENDERCOMPUTE_RUNNER_ID: LOCAL });
  });
  after(async () => {
    await t.close();
  });

  const whoami = (token: string): Promise<Response> => fetch(`${t.url}/api/runner/whoami`, { headers: { authorization: `Bearer ${token}` } });
  const list = async (): Promise<RunnerView[]> => (await getJson<{ items: RunnerView[] }>(t, '/api/runners')).items;
  const register = (name: unknown, actor = 'alice'): Promise<Response> => t.request('/api/runners', { method: 'POST', actor, json: { name } });
  const streamOf = async (stream: string): Promise<Array<{ type: string; data: Record<string, unknown>; metadata: { actor: string } }>> =>
    (await t.store.readStream(stream)) as never;

  it('lists this server\'s local runner online and the environment\'s runners offline until they connect', async () => {
    const items = await list();
    const local = items.find((item) => item.name === LOCAL);
    assert.ok(local, 'the local runner is listed');
    assert.deepEqual({ ...local, lastSeenAt: typeof local.lastSeenAt }, {
      name: LOCAL,
      kind: 'local',
      labels: [],
      status: 'online',
      lastSeenAt: 'string',
      softwareVersion: t.config.version,
      running: [],
      registration: null,
    });
    assert.deepEqual(
      items.find((item) => item.name === 'build-1'),
      { name: 'build-1', kind: 'remote', labels: [], status: 'offline', lastSeenAt: null, softwareVersion: null, running: [], registration: 'environment' },
    );
  });

  let token = '';
  it('registers a runner: 201 with its token, shown once; only a digest reaches the log, with who did it', async () => {
    const registered = await expectJson<{ name: string; token: string }>(await register('gpu-1'), 201);
    assert.equal(registered.name, 'gpu-1');
    assert.match(registered.token, /^ecr_[A-Za-z0-9_-]{43}$/);
    token = registered.token;
    assert.deepEqual(await expectJson(await whoami(token), 200), { name: 'gpu-1' });
    const [event] = await streamOf('runner-gpu-1');
    assert.equal(event.type, 'RunnerRegistered');
    assert.equal(event.metadata.actor, 'alice');
    assert.match(String(event.data.tokenDigest), /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(await getJson(t, '/api/events?limit=1000')).includes(token), 'the audit trail has no token');
    for (const file of ['events.db', 'projections.db']) assert.ok(!readFileSync(join(t.config.dataDir, file)).toString('latin1').includes(token), file);
    const listed = (await list()).find((item) => item.name === 'gpu-1');
    assert.deepEqual(listed, { name: 'gpu-1', kind: 'remote', labels: [], status: 'offline', lastSeenAt: null, softwareVersion: null, running: [], registration: 'api' });
    assert.ok(!JSON.stringify(await list()).includes(token), 'the listing has no token');
  });

  it('refuses a taken name, an environment runner\'s name and the local runner\'s name (409), and bad names (400), writing nothing', async () => {
    const head = await t.head();
    const taken = await expectJson<{ message: string }>(await register('gpu-1'), 409);
    assert.match(taken.message, /A runner named "gpu-1" is registered already/);
    const configured = await expectJson<{ message: string }>(await register('build-1'), 409);
    assert.match(configured.message, /configured by ENDERCOMPUTE_RUNNER_TOKENS/);
    const local = await expectJson<{ message: string }>(await register(LOCAL), 409);
    assert.match(local.message, /a server's own runner/);
    for (const name of ['', '-dash', 'has space', 'x'.repeat(65), 'zoë', 'a/b', 'a,b', 'a=b', 'System', 'runner', 7, null]) {
      const body = await expectJson<{ message: string | string[] }>(await register(name), 400);
      assert.match(String(body.message), /^name(:| must| "(System|runner)" is the name EnderCompute records its own actions under)/, JSON.stringify(name));
    }
    assert.equal((await t.request('/api/runners', { method: 'POST', json: { name: 'ok', labels: ['x'] } })).status, 400, 'an unknown field');
    assert.equal((await t.request('/api/runners', { method: 'POST', json: {} })).status, 400, 'no name');
    assert.equal(await t.head(), head);
  });

  it('records presence sparingly: connected once, then nothing while the lease runs, connected again when the labels change', async () => {
    const presence = t.app.get(RunnerPresence);
    await presence.contact('gpu-1', report);
    await presence.contact('gpu-1', report);
    await presence.contact('gpu-1', { ...report, labels: ['gpu', 'linux', 'gpu'] });
    assert.deepEqual((await streamOf('runner-presence-gpu-1')).map((event) => event.type), ['RunnerConnected']);
    const listed = (await list()).find((item) => item.name === 'gpu-1');
    assert.equal(listed?.status, 'online');
    assert.deepEqual(listed?.labels, ['linux', 'gpu']);
    assert.equal(listed?.softwareVersion, '9.9.9');
    assert.ok(listed?.lastSeenAt !== null && Date.now() - Date.parse(listed!.lastSeenAt) < 10_000);
    assert.deepEqual(presence.online().find((runner) => runner.name === 'gpu-1'), { name: 'gpu-1', kind: 'remote', labels: ['linux', 'gpu'] });
    assert.ok(presence.lastContactAt('gpu-1') instanceof Date);
    assert.equal(presence.lastContactAt('never-seen'), null);
    await presence.contact('gpu-1', { ...report, labels: ['linux'] });
    const events = await streamOf('runner-presence-gpu-1');
    assert.deepEqual(events.map((event) => event.type), ['RunnerConnected', 'RunnerConnected']);
    assert.equal(events[0].metadata.actor, 'gpu-1', 'a connect is the runner\'s own doing');
  });

  it('revokes a runner at once: its token opens nothing, its running runs end lost saying why, and it goes offline', async () => {
    const jobId = await createJob(t, 'remote-job', 'bash', 'echo hi');
    const run = await requestRun(t, jobId, { delaySeconds: 3600 });
    // What the runner protocol does when gpu-1 claims it (the protocol itself is another part).
    const deps = { store: t.store, clock: new SystemClock(), ids: new RandomIdGenerator() };
    const writer = await RunWriter.load(deps, run.id, { actor: 'gpu-1', source: 'runner', correlationId: 'c', causationId: null });
    await writer!.record({ type: 'ClaimRun', runId: run.id, runner: 'gpu-1', runnerLabels: [], workdir: '/w', remote: true, now: new Date(Date.now() + 7200_000).toISOString() });
    await eventually(async () => ((await list()).find((item) => item.name === 'gpu-1')?.running.includes(run.id) ? true : undefined), 5000, 'the claim to show');

    const response = await t.request('/api/runners/gpu-1', { method: 'DELETE', actor: 'bob' });
    assert.equal(response.status, 204);
    assert.equal((await whoami(token)).status, 401, 'the token stopped working at once');
    const lost = await getJson<Run>(t, `/api/runs/${run.id}`);
    assert.equal(lost.status, 'lost');
    assert.equal(lost.reason, 'Its runner "gpu-1" was revoked by bob');
    assert.equal((await list()).find((item) => item.name === 'gpu-1'), undefined, 'a revoked runner is not listed');
    assert.equal(t.app.get(RunnerPresence).isRevoked('gpu-1'), true);
    assert.equal(t.app.get(RunnerPresence).online().find((runner) => runner.name === 'gpu-1'), undefined);
    const registration = await streamOf('runner-gpu-1');
    assert.deepEqual(registration.map((event) => [event.type, event.metadata.actor]), [['RunnerRegistered', 'alice'], ['RunnerRevoked', 'bob']]);
    const presence = await streamOf('runner-presence-gpu-1');
    assert.deepEqual(presence.at(-1), { ...presence.at(-1), type: 'RunnerDisconnected', data: { name: 'gpu-1', reason: 'revoked' } });
    assert.equal(presence.at(-1)?.metadata.actor, 'bob');
    // A revoked runner's contact records nothing.
    await t.app.get(RunnerPresence).contact('gpu-1', report);
    assert.equal((await streamOf('runner-presence-gpu-1')).length, presence.length);
  });

  it('answers revoking again 404, an environment runner 409 saying so, a bad name 400; a revoked name can be registered anew', async () => {
    assert.match((await expectJson<{ message: string }>(await t.request('/api/runners/gpu-1', { method: 'DELETE' }), 404)).message, /No registered runner is named "gpu-1"/);
    assert.match((await expectJson<{ message: string }>(await t.request('/api/runners/nobody', { method: 'DELETE' }), 404)).message, /No registered runner/);
    const configured = await expectJson<{ message: string }>(await t.request('/api/runners/build-1', { method: 'DELETE' }), 409);
    assert.match(configured.message, /configured by ENDERCOMPUTE_RUNNER_TOKENS on this server: remove it from that setting and restart/);
    assert.equal((await whoami(ENV_TOKEN)).status, 200, 'still works');
    assert.equal((await t.request(`/api/runners/${encodeURIComponent('bad name')}`, { method: 'DELETE' })).status, 400);
    const again = await expectJson<{ token: string }>(await register('gpu-1', 'carol'), 201);
    assert.notEqual(again.token, token);
    assert.equal((await whoami(token)).status, 401, 'the old token stays revoked');
    assert.deepEqual(await expectJson(await whoami(again.token), 200), { name: 'gpu-1' });
    assert.equal(t.app.get(RunnerPresence).isRevoked('gpu-1'), false);
  });
});

describe('Runner presence: silence means offline', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ ENDERCOMPUTE_RUNNER_LOST_SECONDS: '2' });
  });
  after(async () => {
    await t.close();
  });

  /** What /metrics and the health details say; they must agree. */
  const connected = async (): Promise<number> => {
    const gauge = new Scrape(await (await t.request('/metrics')).text()).value('endercompute_job_servers_connected');
    const health = await getJson<{ details: { jobServersConnected: number } }>(t, '/api/health?details=1');
    assert.equal(health.details.jobServersConnected, gauge, 'health and metrics agree');
    return gauge;
  };

  it('records a runner silent for ENDERCOMPUTE_RUNNER_LOST_SECONDS as timed out, once, and lists it offline with its last contact', async () => {
    const presence = t.app.get(RunnerPresence);
    assert.equal(await connected(), 0, 'the local runner is no job server');
    await presence.contact('edge-1', report);
    assert.equal(await connected(), 1);
    const seen = presence.lastContactAt('edge-1');
    // The sweep (every second here) records it.
    await eventually(async () => ((await t.store.readStream('runner-presence-edge-1')).length === 2 ? true : undefined), 10_000, 'the time-out');
    const offline = (await getJson<{ items: RunnerView[] }>(t, '/api/runners')).items.find((runner) => runner.name === 'edge-1');
    assert.equal(offline?.status, 'offline');
    assert.equal(offline?.lastSeenAt, seen?.toISOString());
    assert.equal(await connected(), 0);
    const events = (await t.store.readStream('runner-presence-edge-1')).map((event) => [event.type, event.data, event.metadata.actor]);
    assert.deepEqual(events, [
      ['RunnerConnected', { name: 'edge-1', kind: 'remote', labels: ['linux', 'gpu'], softwareVersion: '9.9.9', maxConcurrent: 2, running: [] }, 'edge-1'],
      ['RunnerDisconnected', { name: 'edge-1', reason: 'timed out' }, 'system'],
    ]);
    await presence.sweep();
    assert.equal((await t.store.readStream('runner-presence-edge-1')).length, 2, 'timed out once');
    assert.equal(presence.online().some((runner) => runner.name === 'edge-1'), false);
    // The local runner renews its lease (every second here) and stays online.
    assert.equal(presence.online().find((runner) => runner.name === t.config.runnerId)?.kind, 'local');
  });

  it('comes back online with RunnerConnected, and a goodbye takes it offline at once', async () => {
    const presence = t.app.get(RunnerPresence);
    await presence.contact('edge-1', report);
    assert.ok(presence.online().some((runner) => runner.name === 'edge-1'));
    assert.equal(await connected(), 1);
    await presence.disconnect('edge-1');
    assert.equal(await connected(), 0);
    assert.ok(!presence.online().some((runner) => runner.name === 'edge-1'));
    const types = (await t.store.readStream('runner-presence-edge-1')).map((event) => event.type);
    assert.deepEqual(types, ['RunnerConnected', 'RunnerDisconnected', 'RunnerConnected', 'RunnerDisconnected']);
    assert.deepEqual((await t.store.readStream('runner-presence-edge-1')).at(-1)?.data, { name: 'edge-1', reason: 'goodbye' });
  });
});

describe('The local runner in presence', () => {
  it('renews its lease well before other servers would count it lost', async () => {
    // Lost after 2 s: a lease of 1 s. Renewing only when the timer ticked once a lease left
    // every other tick without a renewal, so the log went the whole lost time without one.
    const t = await startTestApp({ ENDERCOMPUTE_RUNNER_ID: 'steady', ENDERCOMPUTE_RUNNER_LOST_SECONDS: '2' });
    try {
      await delay(5_000);
      const events = await t.store.readStream('runner-presence-steady');
      const times = events.map((event) => Date.parse(event.metadata.at));
      const gaps = times.slice(1).map((at, n) => at - times[n]!);
      assert.ok(gaps.length >= 3, `renewed ${gaps.length} times in 5 s`);
      assert.ok(Math.max(...gaps) <= 1_500, `the longest time between two records of its presence: ${Math.max(...gaps)} ms (lost after 2,000)`);
      assert.deepEqual([...new Set(events.map((event) => event.type))], ['RunnerConnected', 'RunnerSeen']);
    } finally {
      await t.close();
    }
  });

  it('carries ENDERCOMPUTE_RUNNER_LABELS', async () => {
    const t = await startTestApp({ ENDERCOMPUTE_RUNNER_ID: 'labelled', ENDERCOMPUTE_RUNNER_LABELS: 'Linux,arch:amd64' });
    try {
      const local = (await getJson<{ items: RunnerView[] }>(t, '/api/runners')).items.find((item) => item.name === 'labelled');
      assert.deepEqual([local?.kind, local?.status, local?.labels], ['local', 'online', ['linux', 'arch:amd64']]);
      assert.deepEqual(t.app.get(RunnerPresence).online(), [{ name: 'labelled', kind: 'local', labels: ['linux', 'arch:amd64'] }]);
    } finally {
      await t.close();
    }
  });

  it('is not there with ENDERCOMPUTE_LOCAL_RUNNER=false: nothing recorded, nothing listed, nothing online', async () => {
    const t = await startTestApp({ ENDERCOMPUTE_RUNNER_ID: 'idle', ENDERCOMPUTE_LOCAL_RUNNER: 'false' });
    try {
      assert.deepEqual((await getJson<{ items: RunnerView[] }>(t, '/api/runners')).items, []);
      assert.deepEqual(t.app.get(RunnerPresence).online(), []);
      assert.deepEqual(await t.store.readStream('runner-presence-idle'), []);
      // Its presence from an earlier start, when its local runner was on, is in the log: still not listed.
      const metadata = { actor: 'idle', at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'runner' };
      const { position } = await t.store.append(
        'runner-presence-idle',
        [{ id: randomUUID(), type: 'RunnerConnected', data: { name: 'idle', kind: 'local', labels: [], softwareVersion: 'older', maxConcurrent: 4, running: [] }, metadata }],
        'no_stream',
      );
      await t.app.get(ProjectionEngine).waitFor(position);
      assert.deepEqual((await getJson<{ items: RunnerView[] }>(t, '/api/runners')).items, []);
    } finally {
      await t.close();
    }
  });
});
