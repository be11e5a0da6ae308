/**
 * Issue 10, item 13, against the built server on a small disk of its own (a
 * tmpfs in the server's mount namespace): while the disk is full every write
 * answers 507 saying so and changes nothing (API, uploads, page forms); an
 * upload whose bytes do not all fit leaves its job unchanged; a run cut short
 * by the full disk ends failed saying so and how much output was kept, which
 * is exactly what /output returns; and everything works again, by itself,
 * once space is freed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { countEvents } from '../support/event-log';
import { createJob, getJson, postJson, type Run, waitForRun } from '../support/rest';
import { scriptGates } from '../support/script-gates';
import { eventually, expectJson, onServerDisk, type ServerProcess, startServer } from '../support/server-process';

const MiB = 1024 * 1024;
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('a full disk (built server on a 64 MiB tmpfs)', () => {
  let server: ServerProcess;
  let jobId: string;
  let filler = '';
  // Gates the scripts wait on: a folder bound into their sandboxes.
  const gates = scriptGates();

  before(async () => {
    // No minimum free space here: this test fills the disk on purpose (disk-space.e2e.spec.ts tests the minimum).
    server = await startServer({ diskMiB: 64, env: { ...gates.sandboxEnv, ENDERCOMPUTE_MIN_FREE_BYTES: '0' } });
    filler = `${server.dataDir}/filler`;
    jobId = await createJob(server, 'small', 'bash', 'echo "hello $1"');
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
    gates.remove();
  });

  /**
   * The run once it has ended: its end is recorded at once when there is room for
   * that, else as soon as space is freed (which this frees when the runner says it
   * waits). The end may also fit in the log while the read models' next batch does
   * not: they then wait for room (and say so, from the call on), still showing the
   * run running, and this frees space for them too.
   */
  const endOf = (runId: string, timeoutMs: number): Promise<Run> => {
    const from = server.output().length;
    return eventually(async () => {
      const current = await getJson<Run>(server, `/api/runs/${runId}`);
      if (current.finishedAt !== null) return current;
      const output = server.output();
      if (!output.includes(`Run ${runId} ended, but the disk is full`) && !output.slice(from).includes('Projections: the disk is full')) return undefined;
      await unfill();
      return waitForRun(server, runId);
    }, timeoutMs, `run ${runId} to end`);
  };

  /** Free bytes on the server's disk. */
  const free = async (): Promise<number> => Number((await onServerDisk(server, `df -B1 --output=avail ${server.dataDir} | tail -1`)).trim());
  /** Fills the disk with a file, leaving about `leave` bytes free (0: completely full). */
  const fill = async (leave = 0): Promise<void> => {
    if (leave === 0) await onServerDisk(server, `dd if=/dev/zero of=${filler} bs=64k 2>/dev/null || true`);
    else await onServerDisk(server, `fallocate -l ${Math.max(0, (await free()) - leave)} ${filler}`);
  };
  const unfill = (): Promise<string> => onServerDisk(server, `rm -f ${filler}`);
  const spool = async (): Promise<string> => (await onServerDisk(server, `ls -A ${server.dataDir}/spool`)).trim();

  /** Sends a request that the full disk must refuse: 507 saying so, the log unchanged, no spool file left. */
  async function refusedForFullDisk(label: string, path: string, init: RequestInit): Promise<string> {
    const before = await countEvents(server);
    const response = await server.request(path, init);
    const text = await response.text();
    assert.equal(response.status, 507, `${label}: ${text}`);
    assert.match(text, /disk is full/, label);
    assert.doesNotMatch(text, /Something went wrong/, label);
    assert.equal(await countEvents(server), before, `${label}: the log is unchanged`);
    assert.equal(await spool(), '', `${label}: no spool file is left`);
    return text;
  }

  it('answers 507 to every kind of write while the disk is full, and serves them again once space is freed', async () => {
    await fill();
    const upload = (): FormData => {
      const form = new FormData();
      form.append('file', new Blob([randomBytes(200 * 1024)]), 'data.bin');
      return form;
    };
    const api = await refusedForFullDisk('POST /api/scripts', '/api/scripts', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'later', body: 'true' }) });
    assert.equal(JSON.parse(api).statusCode, 507);
    await refusedForFullDisk('PUT /api/jobs/:id', `/api/jobs/${jobId}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ description: 'changed' }) });
    await refusedForFullDisk('POST /api/jobs/:id/runs', `/api/jobs/${jobId}/runs`, { method: 'POST', headers: JSON_HEADERS, body: '{}' });
    await refusedForFullDisk('POST /api/jobs/:id/files', `/api/jobs/${jobId}/files`, { method: 'POST', body: upload() });
    await refusedForFullDisk('POST /api/jobs/:id/runs (multipart)', `/api/jobs/${jobId}/runs`, { method: 'POST', body: upload() });
    const page = await refusedForFullDisk('the new template form', '/scripts', {
      method: 'POST',
      headers: { 'hx-request': 'true', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name: 'from-the-page', interpreter: 'bash', body: 'true' }),
    });
    assert.match(page, /disk is full/, 'the page says so in its flash message');
    // Reading still works.
    assert.equal((await getJson<{ name: string }>(server, `/api/jobs/${jobId}`)).name, 'small');

    await unfill();
    await postJson(server, '/api/scripts', { name: 'later', body: 'true' }, 201);
    await expectJson(await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: upload() }), 201);
    const run = await postJson<Run>(server, `/api/jobs/${jobId}/runs`, { args: ['again'] }, 202);
    assert.equal((await waitForRun(server, run.id)).status, 'succeeded');
    assert.equal(await (await server.request(`/api/runs/${run.id}/output`)).text(), 'hello again\n');
  });

  it('keeps a job unchanged when the bytes of its upload do not all fit, and takes the same upload once there is room', async () => {
    const bytes = randomBytes(3 * MiB);
    const upload = (): FormData => {
      const form = new FormData();
      form.append('file', new Blob([bytes]), 'big.bin');
      return form;
    };
    // Room for the spool file, not for the log's copy of it as well.
    await fill(4 * MiB);
    const before = (await getJson<{ files: Array<{ name: string }>; version: number }>(server, `/api/jobs/${jobId}`));
    const response = await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: upload() });
    const text = await response.text();
    assert.equal(response.status, 507, text);
    assert.match(text, /disk is full/);
    const job = await getJson<{ files: Array<{ name: string }>; version: number }>(server, `/api/jobs/${jobId}`);
    assert.deepEqual(job, before, 'the job does not refer to the file');
    assert.equal((await server.request(`/api/jobs/${jobId}/files/big.bin`)).status, 404);
    assert.equal(await spool(), '');

    await unfill();
    await expectJson(await server.request(`/api/jobs/${jobId}/files`, { method: 'POST', body: upload() }), 201);
    const download = await server.request(`/api/jobs/${jobId}/files/big.bin`);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes);
  });

  it('ends a run whose work directory does not fit as failed, saying it could not start, and re-runs it once there is room', async () => {
    const withFile = await createJob(server, 'with-input', 'bash', 'wc -c < input.bin');
    const form = new FormData();
    form.append('file', new Blob([randomBytes(4 * MiB)]), 'input.bin');
    await expectJson(await server.request(`/api/jobs/${withFile}/files`, { method: 'POST', body: form }), 201);
    await fill(2 * MiB);
    const run = await postJson<Run>(server, `/api/jobs/${withFile}/runs`, {}, 202);
    const ended = await endOf(run.id, 30_000);
    await unfill();
    assert.equal(ended.status, 'failed');
    assert.match(ended.reason ?? '', /^The disk is full, so the run could not be started \(free space on the server, then run it again\)$/);
    assert.equal(ended.outputBytes, 0);
    const again = await postJson<Run>(server, `/api/runs/${run.id}/rerun`, {}, 202);
    const rerun = await waitForRun(server, again.id);
    assert.equal(rerun.status, 'succeeded');
    assert.equal(await (await server.request(`/api/runs/${again.id}/output`)).text(), `${4 * MiB}\n`);
  });

  it('fires a schedule slot that came due while the disk was full once space is freed, not a day later', async () => {
    const scheduled = await createJob(server, 'daily', 'bash', 'echo fired');
    const slot = new Date(Date.now() + 4_000);
    const cron = `${slot.getUTCSeconds()} ${slot.getUTCMinutes()} ${slot.getUTCHours()} * * *`;
    const put = await server.request(`/api/jobs/${scheduled}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ schedules: [{ cron, timeZone: 'UTC' }] }) });
    await expectJson(put, 200);
    await fill();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, slot.getTime() - Date.now()) + 1_500));
    const runsOf = async (): Promise<Run[]> => (await getJson<{ items: Run[] }>(server, `/api/runs?jobId=${scheduled}`)).items;
    assert.deepEqual(await runsOf(), [], 'nothing could be recorded while the disk was full');
    await unfill();
    const [run] = await eventually(async () => {
      const runs = await runsOf();
      return runs.length > 0 ? runs : undefined;
    }, 15_000, 'the missed slot to fire');
    assert.equal((await waitForRun(server, run.id)).status, 'succeeded');
  });

  /** Checks how a run cut short by the full disk ended, and that /output is exactly what it says was kept. */
  async function expectCutShort(ended: Run, line: Buffer, prefix: Buffer): Promise<void> {
    assert.equal(ended.status, 'failed');
    const reason = ended.reason ?? '';
    assert.match(reason, /^The disk filled up while the run was running, so it was stopped: the first (\d+) bytes .*of its output were kept/);
    assert.doesNotMatch(reason, /could not run it/);
    const kept = Number(/the first (\d+) bytes/.exec(reason)![1]);
    assert.equal(kept, ended.outputBytes);
    const output = Buffer.from(await (await server.request(`/api/runs/${ended.id}/output`)).arrayBuffer());
    assert.equal(output.length, kept);
    const expected = Buffer.alloc(Math.max(kept, prefix.length));
    prefix.copy(expected);
    for (let at = prefix.length; at < kept; at += line.length) line.copy(expected, at);
    assert.ok(output.equals(expected.subarray(0, kept)), 'what was kept is exactly the start of what the run wrote');
  }

  it('ends a run cut short by the full disk as failed, saying so and how much of its output was kept', async () => {
    const writer = await createJob(server, 'flood', 'bash', 'yes 0123456789abcdef | head -c 200000000');
    await fill(8 * MiB);
    const run = await postJson<Run>(server, `/api/jobs/${writer}/runs`, {}, 202);
    const ended = await endOf(run.id, 60_000);
    await unfill();
    await expectCutShort(ended, Buffer.from('0123456789abcdef\n'), Buffer.alloc(0));
    assert.ok(ended.outputBytes > MiB, `kept ${ended.outputBytes} bytes`);

    // The server goes on by itself: the next run works.
    const next = await postJson<Run>(server, `/api/jobs/${jobId}/runs`, { args: ['after'] }, 202);
    assert.equal((await waitForRun(server, next.id)).status, 'succeeded');
  });

  it('records the end of a run cut short by a disk too full for even that, once space is freed', async () => {
    try {
      const go = gates.gate();
      const writer = await createJob(server, 'gated-flood', 'bash', `echo started\n${go.wait}\nyes 0123456789abcdef | head -c 200000000`);
      const run = await postJson<Run>(server, `/api/jobs/${writer}/runs`, {}, 202);
      await eventually(async () => ((await getJson<Run>(server, `/api/runs/${run.id}`)).outputBytes > 0 ? true : undefined), 10_000, 'the first line');
      await fill();
      go.open();
      await eventually(async () => (server.output().includes(`Run ${run.id} ended, but the disk is full`) ? true : undefined), 20_000, 'the runner to wait for room');
      assert.equal((await getJson<Run>(server, `/api/runs/${run.id}`)).finishedAt, null, 'not recorded as ended yet');
      await unfill();
      const ended = await waitForRun(server, run.id, 20_000);
      await expectCutShort(ended, Buffer.from('0123456789abcdef\n'), Buffer.from('started\n'));
    } finally {
      gates.openAll();
    }
  });
});
