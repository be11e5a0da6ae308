import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLI_ENTRY, runCli } from '../support/cli';
import { createJob, getJson, requestRun, type Run } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

/**
 * A proxy in front of the server that cuts the first live-output stream right
 * after it has passed one whole `output` event on, as a flaky network would,
 * and notes the `Last-Event-ID` of every stream request.
 */
function cuttingProxy(target: URL, mode: 'cut' | 'refuse' | 'starting' = 'cut'): { server: Server; streams: Array<string | undefined>; cut: Promise<void> } {
  const streams: Array<string | undefined> = [];
  let cutDone: () => void = () => undefined;
  const cut = new Promise<void>((resolve) => (cutDone = resolve));
  const server = createServer((req, res) => {
    const isStream = (req.url ?? '').includes('/output/stream');
    if (isStream) streams.push(req.headers['last-event-id'] as string | undefined);
    const cutThis = isStream && streams.length === 1;
    if (isStream && mode === 'refuse') {
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 403, message: 'Not for you' }));
      return;
    }
    // A server that restarted and is still starting, for more requests than the ten failed attempts in a row a follower gives up after.
    if (isStream && mode === 'starting' && streams.length <= STARTING_ANSWERS) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' }).end(JSON.stringify({ statusCode: 503, message: 'EnderCompute is starting; try again in a moment' }));
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        let seen = '';
        answer.on('data', (chunk: Buffer) => {
          if (res.writableEnded) return;
          res.write(chunk);
          seen += chunk.toString();
          if (cutThis && /event: output\n[\s\S]*?\n\n/.test(seen)) {
            // Everything written so far reaches the client, then the connection ends mid-answer.
            res.socket?.end();
            answer.destroy();
            cutDone();
          }
        });
        answer.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { server, streams, cut };
}

/** How many stream requests the `starting` proxy answers 503 (more than the 10 failed attempts in a row a follower gives up after). */
const STARTING_ANSWERS = 12;

describe('endercompute runs output --follow on the live stream (built server)', () => {
  const gates = scriptGates('endercompute-follow-');
  let server: ServerProcess;

  before(async () => {
    server = await startServer({ env: gates.sandboxEnv });
  });
  after(async () => {
    gates.openAll();
    await server.stop();
    server.cleanup();
    gates.remove();
  });

  it('picks up after a dropped connection from the last byte it got: nothing lost, nothing twice, and the run\'s exit code', async () => {
    const [first, second] = [gates.gate(), gates.gate()];
    const jobId = await createJob(server, 'Parts', 'bash', `echo "part 1"\n${first.wait}\necho "part 2"\n${second.wait}\necho "part 3"\nexit 4\n`);
    const run = await requestRun(server, jobId);
    const proxy = cuttingProxy(new URL(server.url));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
      const following = runCli({ url: proxyUrl, key: server.key }, ['runs', 'output', run.id, '--follow']);
      await proxy.cut;
      // Output written while the follower is away must reach it on reconnection.
      first.open();
      await eventually(async () => ((await getJson<Run>(server, `/api/runs/${run.id}`)).outputBytes >= 'part 1\npart 2\n'.length ? true : undefined), 15_000, 'part 2');
      await eventually(async () => (proxy.streams.length >= 2 ? true : undefined), 15_000, 'the follower to reconnect');
      second.open();
      const result = await following;
      assert.equal(result.stdout.toString(), 'part 1\npart 2\npart 3\n');
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /Parts #1: failed \(exit code 4\)/);
      assert.deepEqual(proxy.streams, [undefined, String('part 1\n'.length)], 'the second request resumes after the bytes received');
    } finally {
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  it('stops on a refusal of the stream, without asking again', async () => {
    const jobId = await createJob(server, 'Short', 'bash', 'echo short\n');
    const run = await requestRun(server, jobId);
    const proxy = cuttingProxy(new URL(server.url), 'refuse');
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
      const result = await runCli({ url: proxyUrl, key: server.key }, ['runs', 'output', run.id, '--follow']);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, '403: Not for you\n');
      assert.equal(proxy.streams.length, 1);
    } finally {
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  it('waits for a server that says it is starting (503 with Retry-After), however many attempts that takes', async () => {
    const jobId = await createJob(server, 'After a restart', 'bash', 'echo "still here"\n');
    const run = await requestRun(server, jobId);
    const proxy = cuttingProxy(new URL(server.url), 'starting');
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
      const result = await runCli({ url: proxyUrl, key: server.key }, ['runs', 'output', run.id, '--follow']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'still here\n');
      assert.equal(proxy.streams.length, STARTING_ANSWERS + 1, 'asked again after each 503, then followed');
      // Said once why it waits, then how the run ended, and nothing else (no warning of listeners piling up).
      assert.equal(result.stderr, '503: EnderCompute is starting; try again in a moment (waiting for it to start)\n\nAfter a restart #1: succeeded (exit code 0)\n');
    } finally {
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  /**
   * A server of its own with a run that prints `line` and then waits, followed by the CLI
   * (waiting 3 s for a restart); resolves once the follower has printed the line.
   */
  async function followedOnOwnServer(jobName: string, line: string, env: Record<string, string> = {}) {
    const gate = gates.gate();
    const other = await startServer({ env: { ...gates.sandboxEnv, ...env } });
    const jobId = await createJob(other, jobName, 'bash', `echo ${line}\n${gate.wait}\n`);
    const run = await requestRun(other, jobId);
    await eventually(async () => ((await getJson<Run>(other, `/api/runs/${run.id}`)).outputBytes > 0 ? true : undefined), 15_000, 'the run to print');
    const child = spawn(process.execPath, [CLI_ENTRY, 'runs', 'output', run.id, '--follow'], {
      env: { PATH: process.env.PATH ?? '', ENDERCOMPUTE_URL: other.url, ENDERCOMPUTE_KEY: other.key, ENDERCOMPUTE_WAIT_FOR_START: '3' },
    });
    const printed = { stdout: '', stderr: '' };
    child.stderr.on('data', (chunk: Buffer) => (printed.stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => ((printed.stdout += chunk.toString()) === `${line}\n` ? resolve() : undefined)));
    const done = (): void => {
      gate.open();
      other.cleanup();
    };
    return { other, exited, printed, done };
  }

  it('gives up with exit 1 and says why when the server stays gone', async () => {
    const { other, exited, printed, done } = await followedOnOwnServer('Forever', 'waiting');
    try {
      // The server dies and does not come back: after 3 s and its ten attempts, the follower gives up.
      await other.kill();
      assert.equal(await exited, 1);
      assert.equal(printed.stdout, 'waiting\n');
      assert.match(printed.stderr, /^Cannot reach EnderCompute at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    } finally {
      done();
    }
  });

  it('follows on across a restart that keeps the server away for longer than its ten attempts, and says why it keeps trying', async () => {
    const [first, second] = [gates.gate(), gates.gate()];
    const jobId = await createJob(server, 'Restarted', 'bash', `echo "before"\n${first.wait}\necho "after"\n${second.wait}\n`);
    const run = await requestRun(server, jobId);
    const proxy = cuttingProxy(new URL(server.url));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const port = (proxy.server.address() as AddressInfo).port;
    try {
      const following = runCli({ url: `http://127.0.0.1:${port}`, key: server.key }, ['runs', 'output', run.id, '--follow']);
      // The stream is cut after the first output, and the address refuses connections for 13 s (a restart).
      await proxy.cut;
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
      await new Promise((resolve) => setTimeout(resolve, 13_000));
      first.open();
      await new Promise<void>((resolve) => proxy.server.listen(port, '127.0.0.1', resolve));
      await eventually(async () => ((await getJson<Run>(server, `/api/runs/${run.id}`)).outputBytes >= 'before\nafter\n'.length ? true : undefined), 15_000, 'the rest of the output');
      second.open();
      const result = await following;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'before\nafter\n');
      assert.match(
        result.stderr,
        /^\nCannot reach EnderCompute at http:\/\/127\.0\.0\.1:\d+: [^\n]*ECONNREFUSED[^\n]* \(trying again for up to 600 s: it may be restarting\)\n\nRestarted #1: succeeded \(exit code 0\)\n$/,
      );
    } finally {
      first.open();
      second.open();
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  it('learns how a run ended when the server stops and cancels it: the stream sends the end before it closes', async () => {
    const { other, exited, printed, done } = await followedOnOwnServer('Interrupted', 'working', { ENDERCOMPUTE_SHUTDOWN_GRACE_SECONDS: '1' });
    try {
      // A graceful stop: the run gets its second of grace, then is cancelled; the follower is told so.
      await other.stop();
      assert.equal(await exited, 1);
      assert.equal(printed.stdout, 'working\n');
      assert.match(printed.stderr, /^\nInterrupted #1: cancelled — .*stop/i);
    } finally {
      done();
    }
  });
});
