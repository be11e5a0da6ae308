/**
 * Issue 10, item 2: every reader of a run's stored output is exact whatever
 * other events sit between its output batches (pause, resume, a cancel
 * request), at every offset: `GET /api/runs/:id/output` (also the page's
 * "Download raw" link), the CLI (`runs output`, `--follow`), the live stream
 * replayed from the store, and the run page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSse, readToEnd } from '../live/sse-client';
import { runCli } from '../support/cli';
import { createJob, getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, type ServerProcess, startServer } from '../support/server-process';

describe('stored output with control events between the batches (built server)', () => {
  let server: ServerProcess;
  const gates = scriptGates();

  before(async () => {
    server = await startServer({ env: gates.sandboxEnv });
  });
  after(async () => {
    gates.openAll();
    await server?.stop();
    server?.cleanup();
    gates.remove();
  });

  const run = (id: string): Promise<Run> => getJson<Run>(server, `/api/runs/${id}`);
  const control = (id: string, action: string): Promise<Run> => postJson<Run>(server, `/api/runs/${id}/${action}`, {}, 202);
  const storedAtLeast = (id: string, bytes: number): Promise<Run> =>
    eventually(async () => {
      const current = await run(id);
      return current.outputBytes >= bytes ? current : undefined;
    }, 15_000, `${bytes} bytes of output of ${id}`);

  /** Checks every reader against the exact bytes. */
  async function expectEveryReaderSees(runId: string, expected: Buffer): Promise<void> {
    const finished = await run(runId);
    assert.equal(finished.outputBytes, expected.length, 'outputBytes');
    for (let offset = 0; offset <= expected.length + 2; offset++) {
      const response = await server.request(`/api/runs/${runId}/output?offset=${offset}`);
      assert.equal(response.status, 200);
      const body = Buffer.from(await response.arrayBuffer());
      assert.deepEqual(body, expected.subarray(offset), `GET /output?offset=${offset}`);
      assert.equal(response.headers.get('content-length'), String(Math.max(0, expected.length - offset)));
      assert.equal(response.headers.get('x-output-bytes'), String(expected.length));
    }

    // The run page links its raw download to the same bytes, and shows the last line.
    const page = await (await server.request(`/runs/${runId}`)).text();
    const link = /href="(\/api\/runs\/[^"]+\/output)"[^>]*data-download/.exec(page);
    assert.ok(link, 'the run page has a "Download raw" link');
    assert.deepEqual(Buffer.from(await (await server.request(link[1])).arrayBuffer()), expected, 'the raw download');
    const lastLine = expected.toString().trimEnd().split('\n').pop() ?? '';
    assert.ok(page.includes(lastLine), `the run page shows "${lastLine}"`);

    const cli = await runCli(server, ['runs', 'output', runId]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(cli.stdout, expected, 'endercompute runs output');
    const follow = await runCli(server, ['runs', 'output', runId, '--follow']);
    assert.deepEqual(follow.stdout, expected, 'endercompute runs output --follow');

    for (const from of [0, 1, Math.floor(expected.length / 2), expected.length - 1]) {
      const stream = await openSse(`${server.url}/api/runs/${runId}/output/stream`, { authorization: `Bearer ${server.key}`, 'last-event-id': String(from) });
      const { bytes, end } = await readToEnd(stream, from);
      await stream.close();
      assert.deepEqual(bytes, expected.subarray(from), `the stream from ${from}`);
      assert.equal(end.outputBytes, expected.length);
    }
  }

  it('stdout and stderr in exactly the order the script wrote them, through every reader (issue 10, item 1)', async () => {
    // No sleeps: two pipes read apart would come back in blocks; set -x traces land before what they trace.
    const jobId = await createJob(server, 'interleaved', 'bash', 'for i in $(seq 1 300); do echo "out $i"; echo "err $i" >&2; done; set -x; : traced; echo after');
    const { id } = await requestRun(server, jobId);
    const done = await waitForRun(server, id);
    assert.equal(done.status, 'succeeded');
    const expected = Array.from({ length: 300 }, (_, i) => `out ${i + 1}\nerr ${i + 1}\n`).join('') + '+ : traced\n+ echo after\nafter\n';
    await expectEveryReaderSees(id, Buffer.from(expected));
  });

  it('a run paused and resumed (twice) between its lines', async () => {
    const g = [gates.gate(), gates.gate(), gates.gate(), gates.gate()];
    const last = gates.gate();
    // The last gate keeps the run going until the test is done pausing and resuming it.
    const script = ['echo "line 1"', ...g.flatMap((gate, i) => [gate.wait, `echo "line ${i + 2}"`]), last.wait].join('\n');
    const jobId = await createJob(server, 'paused-writer', 'bash', script);
    const { id } = await requestRun(server, jobId);
    // Followed from the start, while it is paused and resumed: --follow reads /output at growing offsets.
    const following = runCli(server, ['runs', 'output', id, '--follow']);
    let expected = 'line 1\n';
    for (const [i, gate] of g.entries()) {
      await storedAtLeast(id, expected.length);
      if (i % 2 === 0) {
        // Paused while waiting, resumed, then the next line: control events sit between output batches.
        await control(id, 'pause');
        await control(id, 'resume');
        gate.open();
      } else {
        // The next line is written while paused-to-be: open the gate, pause, resume.
        gate.open();
        await control(id, 'pause');
        await new Promise((r) => setTimeout(r, 200));
        await control(id, 'resume');
      }
      expected += `line ${i + 2}\n`;
    }
    last.open();
    const done = await waitForRun(server, id);
    assert.equal(done.status, 'succeeded');
    const followed = await following;
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout.toString(), expected, 'endercompute runs output --follow, live');
    await expectEveryReaderSees(id, Buffer.from(expected));
  });

  it('a SIGTERM trap that writes while the run is being cancelled', async () => {
    const script = [
      `trap 'echo "trap 1"; sleep 0.3; echo "trap 2"; exit 0' TERM`,
      'echo start',
      'sleep 30 & wait',
    ].join('\n');
    const jobId = await createJob(server, 'trapping-writer', 'bash', script);
    const { id } = await requestRun(server, jobId);
    const following = runCli(server, ['runs', 'output', id, '--follow']);
    await storedAtLeast(id, 'start\n'.length);
    await control(id, 'cancel');
    const done = await waitForRun(server, id);
    assert.equal(done.status, 'cancelled');
    assert.equal((await following).stdout.toString(), 'start\ntrap 1\ntrap 2\n', 'endercompute runs output --follow, live');
    await expectEveryReaderSees(id, Buffer.from('start\ntrap 1\ntrap 2\n'));
  });

  it('a run cancelled while paused, with more batches than one read fetches and control events between each', async () => {
    const g = Array.from({ length: 12 }, () => gates.gate());
    const script = ['echo "line 0"', ...g.flatMap((gate, i) => [gate.wait, `echo "line ${i + 1}"`]), `trap 'echo bye' TERM`, 'sleep 30 & wait'].join('\n');
    const jobId = await createJob(server, 'busy-controller', 'bash', script);
    const { id } = await requestRun(server, jobId);
    let expected = 'line 0\n';
    for (const [i, gate] of g.entries()) {
      await storedAtLeast(id, expected.length);
      // Once, more control events between two batches than one read spans.
      for (let k = 0; k < (i === 5 ? 40 : 3); k++) {
        await control(id, 'pause');
        await control(id, 'resume');
      }
      gate.open();
      expected += `line ${i + 1}\n`;
    }
    await storedAtLeast(id, expected.length);
    await control(id, 'pause');
    await control(id, 'cancel');
    const done = await waitForRun(server, id);
    assert.equal(done.status, 'cancelled');
    await expectEveryReaderSees(id, Buffer.from(`${expected}bye\n`));
  });
});
