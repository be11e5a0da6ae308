/**
 * A server stops promptly while a job server is connected. Node's `server.close()`
 * keeps serving requests on open keep-alive connections, and a job server polls on one
 * without a pause: the server must tell it to let go (`Connection: close`) or it never
 * finishes closing. The job server rides out the stop and takes runs again once the
 * server is back.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, describe, it } from 'node:test';
import { startJobServer, type JobServerProcess } from '../support/job-server-process';
import { getJson, postJson, requestRun, waitForRun } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

const TOKEN = 'runner-token-stop-0123456789abcdef';
const POLLER_TOKEN = 'runner-token-poller-0123456789abcdef';

/**
 * A client polling claims without a pause on one keep-alive connection (as a busy job
 * server may), until `stop` says so: what keeps a server that only calls `close()` open.
 */
function pollWithoutPause(url: string): { stop: () => void; answered: () => number } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const report = encodeURIComponent(JSON.stringify({ labels: [], softwareVersion: 'test', maxConcurrent: 0, running: [] }));
  let stopped = false;
  let answered = 0;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const body = JSON.stringify({ workRoot: '/nonexistent/poller', wait: 0 });
      const request = httpRequest(`${url}/api/runner/claim`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${POLLER_TOKEN}`, 'content-type': 'application/json', 'x-runner-report': report },
      }, (response) => {
        response.resume();
        response.once('end', () => {
          answered++;
          resolve();
        });
      });
      request.once('error', () => setTimeout(resolve, 50));
      request.end(body);
    });
  void (async () => {
    while (!stopped) await once();
  })();
  return { stop: () => ((stopped = true), agent.destroy()), answered: () => answered };
}

describe('Stopping a server with a job server connected', () => {
  let server: ServerProcess | undefined;
  let jobServer: JobServerProcess | undefined;
  after(async () => {
    await jobServer?.kill();
    jobServer?.cleanup();
    await server?.kill();
    server?.cleanup();
  });

  it('stops within seconds while a run prints on it, and the job server goes on after the restart', async () => {
    const env = { ENDERCOMPUTE_RUNNER_TOKENS: `js-stop=${TOKEN},poller=${POLLER_TOKEN}`, ENDERCOMPUTE_LOCAL_RUNNER: 'false' };
    server = await startServer({ env });
    const port = new URL(server.url).port;
    jobServer = await startJobServer({ url: server.url, token: TOKEN, name: 'js-stop' });
    await eventually(async () => {
      const { items } = await getJson<{ items: Array<{ name: string; status: string }> }>(server!, '/api/runners');
      return items.some((runner) => runner.name === 'js-stop' && runner.status === 'online') ? true : undefined;
    }, 10_000, 'the job server to be online');
    // A run printing on the job server: its output uploads and a held control request, beside a held claim.
    await postJson(server, '/api/scripts', { name: 'chatty', interpreter: 'bash', body: 'while :; do echo tick; sleep 0.02; done' }, 201);
    const chatty = await postJson<{ id: string }>(server, '/api/jobs', { name: 'chatty', scriptId: 'chatty' }, 201);
    const printing = await requestRun(server, chatty.id);
    await eventually(async () => {
      const run = await getJson<{ status: string; outputBytes: number }>(server!, `/api/runs/${printing.id}`);
      return run.status === 'running' && run.outputBytes > 0 ? true : undefined;
    }, 20_000, 'the run to print on the job server');
    await new Promise((resolve) => setTimeout(resolve, 500));

    const poller = pollWithoutPause(server.url);
    await eventually(async () => (poller.answered() > 10 ? true : undefined), 10_000, 'the poller to be answered');
    const stopping = Date.now();
    await server.stop();
    const tookMs = Date.now() - stopping;
    poller.stop();
    assert.ok(tookMs < 8_000, `the server took ${tookMs} ms to stop`);
    assert.match(server.output(), /"event":"server stopped"/, "a clean stop, not a kill");
    assert.equal(jobServer.child.exitCode, null, 'the job server keeps running while the server is away');

    server = await startServer({ dataDir: server.dataDir, env: { ...env, PORT: port } });
    // The run went on printing while the server was away; it is still this job server's.
    assert.equal((await postJson<{ status: string }>(server, `/api/runs/${printing.id}/cancel`, {}, 202)).status !== undefined, true);
    assert.equal(((await waitForRun(server, printing.id, 30_000)) as { status: string }).status, 'cancelled');
    await postJson(server, '/api/scripts', { name: 'after-stop', interpreter: 'bash', body: 'echo back' }, 201);
    const job = await postJson<{ id: string }>(server, '/api/jobs', { name: 'after-stop', scriptId: 'after-stop' }, 201);
    const run = (await waitForRun(server, (await requestRun(server, job.id)).id, 30_000)) as unknown as { status: string; runner: string | null };
    assert.deepEqual([run.status, run.runner], ['succeeded', 'js-stop']);
  });
});
