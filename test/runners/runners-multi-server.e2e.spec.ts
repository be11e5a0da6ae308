/**
 * Runners on several servers sharing one EventStoreDB (the in-process double): every
 * server sees every server's local runner, a token registered through one server works
 * on the other and its revocation closes it there too, a crashed server's runner is
 * timed out once however many servers notice, and a stopped one says goodbye.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { getJson, postJson } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

interface Runner {
  name: string;
  kind: string;
  labels: string[];
  status: string;
}

describe('Runners on two servers sharing one EventStoreDB', () => {
  let double: EsdbDouble;
  let a: ServerProcess;
  let b: ServerProcess;
  const extra: ServerProcess[] = [];

  const start = (runnerId: string, env: Record<string, string> = {}): Promise<ServerProcess> =>
    startServer({
      env: { EVENTSTORE_CONNECTION_STRING: double.connectionString, ENDERCOMPUTE_RUNNER_ID: runnerId, ENDERCOMPUTE_RUNNER_LOST_SECONDS: '4', ...env },
    });
  const runners = async (server: ServerProcess): Promise<Runner[]> => (await getJson<{ items: Runner[] }>(server, '/api/runners')).items;
  const whoami = (server: ServerProcess, token: string): Promise<number> =>
    fetch(`${server.url}/api/runner/whoami`, { headers: { authorization: `Bearer ${token}` } }).then((response) => response.status);
  const presenceEvents = async (server: ServerProcess, name: string): Promise<Array<{ type: string; data: { reason?: string } }>> =>
    (await getJson<{ items: Array<{ type: string; data: { reason?: string } }> }>(server, `/api/events?limit=1000&stream=${encodeURIComponent(`runner-presence-${name}`)}`)).items;

  before(async () => {
    double = await startEsdbDouble();
    [a, b] = await Promise.all([start('server-a'), start('server-b', { ENDERCOMPUTE_RUNNER_LABELS: 'linux' })]);
  });
  after(async () => {
    for (const server of new Set([a, b, ...extra])) {
      await server.kill();
      server.cleanup();
    }
    await double.stop();
  });

  it('lists both servers\' local runners online, with their labels, on each server', async () => {
    for (const server of [a, b]) {
      const listed = await eventually(async () => {
        const items = (await runners(server)).filter((runner) => runner.kind === 'local' && runner.status === 'online');
        return items.length === 2 ? items : undefined;
      }, 10_000, 'both local runners online');
      assert.deepEqual(listed.map((runner) => [runner.name, runner.labels]), [['server-a', []], ['server-b', ['linux']]]);
    }
  });

  it('opens a token registered through one server on the other, and closes it on both when revoked', async () => {
    const { token } = await postJson<{ token: string }>(a, '/api/runners', { name: 'shared-1' }, 201, 'alice');
    assert.equal(await whoami(a, token), 200);
    await eventually(async () => ((await whoami(b, token)) === 200 ? true : undefined), 5_000, 'B to accept the token');
    const revoked = await b.request('/api/runners/shared-1', { method: 'DELETE', actor: 'bob' });
    assert.equal(revoked.status, 204);
    assert.equal(await whoami(b, token), 401, 'refused at once where it was revoked');
    await eventually(async () => ((await whoami(a, token)) === 401 ? true : undefined), 5_000, 'A to refuse the token');
  });

  it('times out a crashed server\'s runner once, though both servers notice', async () => {
    const c = await start('server-c');
    extra.push(c);
    await eventually(async () => ((await runners(a)).some((runner) => runner.name === 'server-c' && runner.status === 'online') ? true : undefined), 10_000, 'server-c online on A');
    await c.kill();
    await eventually(async () => ((await runners(a)).find((runner) => runner.name === 'server-c')?.status === 'offline' ? true : undefined), 15_000, 'server-c offline on A');
    await eventually(async () => ((await presenceEvents(a, 'server-c')).some((event) => event.type === 'RunnerDisconnected') ? true : undefined), 15_000, 'the time-out recorded');
    // Both servers sweep every two seconds here: give the slower one time to try.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const ends = (await presenceEvents(a, 'server-c')).filter((event) => event.type === 'RunnerDisconnected');
    assert.deepEqual(ends.map((event) => event.data.reason), ['timed out']);
    assert.equal((await runners(b)).find((runner) => runner.name === 'server-c')?.status, 'offline');
  });

  it('records a stopped server\'s runner going offline at once, with its goodbye', async () => {
    await b.stop();
    const events = await presenceEvents(a, 'server-b');
    assert.deepEqual({ type: events.at(-1)?.type, reason: events.at(-1)?.data.reason }, { type: 'RunnerDisconnected', reason: 'goodbye' });
    await eventually(async () => ((await runners(a)).find((runner) => runner.name === 'server-b')?.status === 'offline' ? true : undefined), 5_000, 'server-b offline on A');
  });
});
