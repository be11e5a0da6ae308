/**
 * Issue 10, items 2, 11 and 12 on EventStoreDB (the in-process double, which
 * enforces the 1 MiB append limit): a file of many chunks is stored in
 * appends the server accepts and read back exactly; a refused upload appends
 * nothing; stored output read back with control events between its batches is
 * exact at every offset.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { countEvents } from '../support/event-log';
import { createJob, getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

describe('uploads and stored output on EventStoreDB (the double)', () => {
  let double: EsdbDouble;
  let server: ServerProcess;
  const gates = scriptGates();

  before(async () => {
    double = await startEsdbDouble();
    server = await startServer({ env: { EVENTSTORE_CONNECTION_STRING: double.connectionString, ...gates.sandboxEnv } });
  });
  after(async () => {
    gates.openAll();
    await server?.kill();
    server?.cleanup();
    await double?.stop();
    gates.remove();
  });

  it('stores a file of many chunks within the append limit, reads it back exactly, and refuses a duplicate name without appending', async () => {
    const jobId = await createJob(server, 'with-file', 'bash', 'sha256sum < input.bin');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'input.bin');
    await expectJson(await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: form }), 201);
    const download = Buffer.from(await (await server.request(`/api/jobs/${jobId}/files/input.bin`)).arrayBuffer());
    assert.ok(download.equals(bytes));
    const run = await waitForRun(server, (await requestRun(server, jobId)).id);
    assert.equal(await (await server.request(`/api/runs/${run.id}/output`)).text(), `${createHash('sha256').update(bytes).digest('hex')}  -\n`);

    const before = await countEvents(server);
    const dup = new FormData();
    dup.append('file', new Blob(['one']), 'dup.txt');
    dup.append('file', new Blob(['two']), 'dup.txt');
    assert.equal((await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: dup })).status, 400);
    assert.equal(await countEvents(server), before);
  });

  it('reads stored output exactly at every offset with pauses and resumes between the batches', async () => {
    const g = Array.from({ length: 10 }, () => gates.gate());
    const script = ['echo "line 0"', ...g.flatMap((gate, i) => [gate.wait, `echo "line ${i + 1}"`])].join('\n');
    const jobId = await createJob(server, 'paused-on-esdb', 'bash', script);
    const { id } = await requestRun(server, jobId);
    let expected = 'line 0\n';
    for (const [i, gate] of g.entries()) {
      await eventually(async () => ((await getJson<Run>(server, `/api/runs/${id}`)).outputBytes >= expected.length ? true : undefined), 15_000, 'output');
      await postJson(server, `/api/runs/${id}/pause`, {}, 202);
      await postJson(server, `/api/runs/${id}/resume`, {}, 202);
      gate.open();
      expected += `line ${i + 1}\n`;
    }
    assert.equal((await waitForRun(server, id)).status, 'succeeded');
    const all = Buffer.from(expected);
    for (let offset = 0; offset <= all.length; offset++) {
      const body = Buffer.from(await (await server.request(`/api/runs/${id}/output?offset=${offset}`)).arrayBuffer());
      assert.deepEqual(body, all.subarray(offset), `offset ${offset}`);
    }
  });
});
