/**
 * The runner registry with real `endercompute runner` processes against the built
 * server: a job server registered through the API shows online with its labels and
 * version (on the list, /metrics and the health details), its running run is listed,
 * revoking it ends that run `lost` saying who revoked it, kills the run on the job
 * server and stops the job server; a job server that stops says goodbye (offline at
 * once); one killed with SIGKILL goes offline after ENDERCOMPUTE_RUNNER_LOST_SECONDS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { Scrape } from '../support/prometheus';
import { getJson, postJson, requestRun, type Run } from '../support/rest';
import { processesWithArgument, processState, uniqueSleep } from '../support/run-processes';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface Runner {
  name: string;
  kind: string;
  labels: string[];
  status: string;
  lastSeenAt: string | null;
  softwareVersion: string | null;
  running: string[];
  registration: string | null;
}

const ENV_TOKEN = 'env-runner-token-0123456789abcdef';
const LOST_SECONDS = 5;

describe('Job servers as the registry sees them', () => {
  let server: ServerProcess;
  const jobServers: JobServerProcess[] = [];

  before(async () => {
    server = await startServer({ env: { ENDERCOMPUTE_RUNNER_TOKENS: `env-1=${ENV_TOKEN}`, ENDERCOMPUTE_RUNNER_LOST_SECONDS: String(LOST_SECONDS), ENDERCOMPUTE_CANCEL_GRACE_SECONDS: '1' } });
  });
  after(async () => {
    for (const jobServer of jobServers) {
      await jobServer.kill();
      jobServer.cleanup();
    }
    await server.kill();
    server.cleanup();
  });

  const runner = async (name: string): Promise<Runner | undefined> => (await getJson<{ items: Runner[] }>(server, '/api/runners')).items.find((item) => item.name === name);
  const connected = async (): Promise<number> => {
    const response = await server.request('/metrics');
    return new Scrape(await response.text()).value('endercompute_job_servers_connected');
  };
  const presence = async (name: string): Promise<Array<{ type: string; data: { reason?: string }; metadata: { actor: string } }>> =>
    (await getJson<{ items: Array<{ type: string; data: { reason?: string }; metadata: { actor: string } }> }>(server, `/api/events?limit=1000&stream=runner-presence-${name}`)).items;

  it('shows a registered job server online with its labels and version, and what it runs; revoking it ends its run lost and stops it', async () => {
    const { token } = await postJson<{ token: string }>(server, '/api/runners', { name: 'builder-1' }, 201, 'alice');
    const jobServer = await startJobServer({ url: server.url, token, labels: ['Linux', 'gpu'], maxConcurrent: 2 });
    jobServers.push(jobServer);
    const version = (await getJson<{ version: string }>(server, '/api/health')).version;
    const online = await eventually(async () => {
      const item = await runner('builder-1');
      return item?.status === 'online' ? item : undefined;
    }, 10_000, 'builder-1 online');
    assert.deepEqual({ ...online, lastSeenAt: null }, {
      name: 'builder-1',
      kind: 'remote',
      labels: ['linux', 'gpu'],
      status: 'online',
      lastSeenAt: null,
      softwareVersion: version,
      running: [],
      registration: 'api',
    });
    assert.ok(Date.now() - Date.parse(online.lastSeenAt!) < 30_000);
    assert.equal(await connected(), 1);
    assert.equal((await getJson<{ details: { jobServersConnected: number } }>(server, '/api/health?details=1')).details.jobServersConnected, 1);

    const mark = uniqueSleep();
    await postJson(server, '/api/scripts', { name: 'gpu-sleep', interpreter: 'bash', body: `echo begun; sleep ${mark}` }, 201);
    const job = await postJson<{ id: string }>(server, '/api/jobs', { name: 'gpu-sleep', scriptId: 'gpu-sleep', runsOn: ['gpu'] }, 201);
    const run = await requestRun(server, job.id);
    await eventually(async () => ((await runner('builder-1'))?.running.includes(run.id) ? true : undefined), 20_000, 'the run listed on builder-1');
    const [pid] = await eventually(async () => {
      const found = processesWithArgument(mark);
      return found.length > 0 ? found : undefined;
    }, 20_000, "the run's sleep on the job server");

    assert.equal((await server.request('/api/runners/builder-1', { method: 'DELETE', actor: 'bob' })).status, 204);
    const lost = await getJson<Run & { runner: string }>(server, `/api/runs/${run.id}`);
    assert.deepEqual([lost.status, lost.reason, lost.runner], ['lost', 'Its runner "builder-1" was revoked by bob', 'builder-1']);
    // The job server hears its token refused at its next request: it kills its runs and stops.
    assert.equal(await jobServer.exited, 1);
    await eventually(async () => (processState(pid) === null ? true : undefined), 10_000, 'the run killed on the job server');
    assert.equal(await runner('builder-1'), undefined, 'a revoked runner is not listed');
    assert.equal(await connected(), 0);
    const events = await presence('builder-1');
    assert.deepEqual([events[0].type, events[0].metadata.actor], ['RunnerConnected', 'builder-1']);
    assert.deepEqual([events.at(-1)?.type, events.at(-1)?.data.reason, events.at(-1)?.metadata.actor], ['RunnerDisconnected', 'revoked', 'bob']);
    assert.ok(!server.output().includes(token) && !server.output().includes(ENV_TOKEN), 'the server logs no runner token');
    // Log lines reach this process through the server's stdout, maybe after the answers.
    await eventually(async () => (/bob revoked the runner builder-1; 1 of its run\(s\) ended lost/.test(server.output()) ? true : undefined), 5_000, 'the revocation in the log');
    assert.match(server.output(), /alice registered the runner builder-1/);
  });

  it('records a job server that stops as offline at once, and one killed with SIGKILL after the lost time', async () => {
    const stopping = await startJobServer({ url: server.url, token: ENV_TOKEN, labels: ['env'] });
    jobServers.push(stopping);
    await eventually(async () => ((await runner('env-1'))?.status === 'online' ? true : undefined), 10_000, 'env-1 online');
    assert.equal((await runner('env-1'))?.registration, 'environment');
    await stopping.stop();
    await eventually(async () => ((await runner('env-1'))?.status === 'offline' ? true : undefined), 5_000, 'env-1 offline after its goodbye');
    assert.equal((await presence('env-1')).at(-1)?.data.reason, 'goodbye');

    const crashing = await startJobServer({ url: server.url, token: ENV_TOKEN, labels: ['env'] });
    jobServers.push(crashing);
    await eventually(async () => ((await runner('env-1'))?.status === 'online' ? true : undefined), 10_000, 'env-1 online again');
    await crashing.kill();
    await eventually(async () => ((await runner('env-1'))?.status === 'offline' ? true : undefined), LOST_SECONDS * 1000 + 15_000, 'env-1 offline after the lost time');
    const lastSeenAt = Date.parse((await runner('env-1'))?.lastSeenAt ?? '');
    assert.ok(Date.now() - lastSeenAt >= LOST_SECONDS * 1000, 'not offline before the lost time since its last contact');
    await eventually(async () => ((await presence('env-1')).at(-1)?.data.reason === 'timed out' ? true : undefined), 10_000, 'the time-out recorded');
  });
});
