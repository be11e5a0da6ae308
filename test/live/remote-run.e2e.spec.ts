/**
 * Live output of a run executed by another server: two servers on one
 * EventStoreDB (the in-process double). The server that runs the process
 * streams it from memory; the other follows the stored output through its
 * projections. Both deliver the lines while the run goes on, the same exact
 * bytes, and the end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { createJob, getJson, outputOf, requestRun, type Run } from '../support/rest';
import { eventually, type ServerProcess, startServer } from '../support/server-process';
import { openSse, outputBytes, readToEnd, type SseStream } from './sse-client';

describe('live output across servers', () => {
  let double: EsdbDouble;
  let a: ServerProcess;
  let b: ServerProcess;
  const gates = mkdtempSync(join(tmpdir(), 'endercompute-remote-gates-'));

  before(async () => {
    double = await startEsdbDouble();
    const start = (runnerId: string): Promise<ServerProcess> =>
      startServer({ env: { EVENTSTORE_CONNECTION_STRING: double.connectionString, ENDERCOMPUTE_RUNNER_ID: runnerId, ENDERCOMPUTE_SANDBOX_BIND: `${gates}:ro` } });
    [a, b] = await Promise.all([start('server-a'), start('server-b')]);
  });
  after(async () => {
    for (const server of [a, b]) {
      await server?.kill();
      server?.cleanup();
    }
    await double?.stop();
    rmSync(gates, { recursive: true, force: true });
  });

  it('streams a run from the server that runs it and from the other one', async () => {
    const gate = join(gates, 'gate');
    const body = `echo 'first line'\nhead -c 200000 /dev/urandom | base64\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\necho 'last line'\n`;
    const jobId = await createJob(a, 'remote-live', 'bash', body);
    await eventually(async () => ((await b.request(`/api/jobs/${jobId}`)).status === 200 ? true : undefined), 5_000, 'B to know the job');
    const run = await requestRun(a, jobId);
    // B learns of the run from the log, a moment after A answered: before that, B's stream answers 404.
    await eventually(async () => ((await b.request(`/api/runs/${run.id}`)).status === 200 ? true : undefined), 5_000, 'B to know the run');
    const streams = await Promise.all(
      [a, b].map((server) => openSse(`${server.url}/api/runs/${run.id}/output/stream`, { authorization: `Bearer ${server.key}` })),
    );
    const firstLine = async (stream: SseStream): Promise<Buffer> => {
      let received = Buffer.alloc(0);
      while (!received.toString().includes('first line\n')) {
        const event = await stream.next();
        assert.ok(event);
        if (event.event === 'output') received = Buffer.concat([received, outputBytes(event).bytes]);
      }
      return received;
    };
    const starts = await Promise.all(streams.map(firstLine));
    const running = await getJson<Run & { runner: string }>(a, `/api/runs/${run.id}`);
    assert.equal(running.status, 'running', 'both had the first line while the run went on');
    writeFileSync(gate, '');
    const ends = await Promise.all(streams.map((stream, i) => readToEnd(stream, starts[i].length)));
    const expected = await outputOf(a, run.id);
    assert.ok(expected.toString().endsWith('last line\n'));
    for (const [i, end] of ends.entries()) {
      assert.ok(Buffer.concat([starts[i], end.bytes]).equals(expected), `server ${i === 0 ? 'A' : 'B'} streamed the exact bytes`);
      assert.equal(end.end.status, 'succeeded');
    }
    process.stdout.write(`# the run ran on ${running.runner}; the other server followed the log\n`);
  });
});
