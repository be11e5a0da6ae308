/**
 * Issue 16, item 6, against the built server on a small disk of its own (a tmpfs in
 * its mount namespace): below ENDERCOMPUTE_MIN_FREE_BYTES new runs stay queued, their
 * `waitingFor` says why, the log warns once for the whole shortage (not once per check),
 * and they start by themselves once space is freed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createJob, getJson, postJson, type Run, waitForRun } from '../support/rest';
import { eventually, onServerDisk, type ServerProcess, startServer } from '../support/server-process';

const MiB = 1024 * 1024;

interface RunWithWait extends Run {
  waitingFor: string | null;
  queuePosition: number | null;
}

describe('the minimum free disk space (built server on a 64 MiB tmpfs, minimum 24 MiB)', () => {
  let server: ServerProcess;
  let jobId: string;
  let filler = '';

  before(async () => {
    server = await startServer({ diskMiB: 64, env: { ENDERCOMPUTE_MIN_FREE_BYTES: String(24 * MiB) } });
    filler = `${server.dataDir}/filler`;
    jobId = await createJob(server, 'small', 'bash', 'echo "hello $1"');
  });
  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  const free = async (): Promise<number> => Number((await onServerDisk(server, `df -B1 --output=avail ${server.dataDir} | tail -1`)).trim());
  const pastOneCheck = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3_500));
  const warnings = (): number => server.output().split('New runs are held').length - 1;

  it('holds new runs while free space is below the minimum, says why, and starts them once space is freed', async () => {
    // With room, a run starts as always.
    const first = await postJson<Run>(server, `/api/jobs/${jobId}/runs`, { args: ['first'] }, 202);
    assert.equal((await waitForRun(server, first.id)).status, 'succeeded');

    // Leave 8 MiB free: below the minimum. The server measures at most every 3 s: past that, it knows.
    await onServerDisk(server, `fallocate -l ${(await free()) - 8 * MiB} ${filler}`);
    await pastOneCheck();
    const held = await postJson<RunWithWait>(server, `/api/jobs/${jobId}/runs`, { args: ['held'] }, 202);
    const waiting = await eventually(async () => {
      const run = await getJson<RunWithWait>(server, `/api/runs/${held.id}`);
      return run.waitingFor !== null ? run : undefined;
    }, 15_000, 'the run to say what it waits for');
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.startedAt, null);
    assert.equal(waiting.queuePosition, 1);
    assert.match(waiting.waitingFor ?? '', /^disk space: [\d.]+ MiB free on the disk holding .*, below ENDERCOMPUTE_MIN_FREE_BYTES \(24 MiB\)/);

    // The run page says it too.
    const page = await (await server.request(`/runs/${held.id}`)).text();
    assert.match(page, /waiting for disk space: /);

    // Several checks later (one every 3 s) it still waits, and the log warned once.
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const still = await getJson<RunWithWait>(server, `/api/runs/${held.id}`);
    assert.equal(still.status, 'queued');
    assert.equal(still.startedAt, null);
    assert.equal(warnings(), 1, server.output());
    assert.match(server.output(), /New runs are held: disk space: /);

    // Space back: it starts by itself, and nothing waits any more.
    await onServerDisk(server, `rm -f ${filler}`);
    const done = await waitForRun(server, held.id, 20_000);
    assert.equal(done.status, 'succeeded');
    assert.equal((await getJson<RunWithWait>(server, `/api/runs/${held.id}`)).waitingFor, null);
    assert.equal(await (await server.request(`/api/runs/${held.id}/output`)).text(), 'hello held\n');

    // A second shortage is a new episode: one more warning.
    await onServerDisk(server, `fallocate -l ${(await free()) - 8 * MiB} ${filler}`);
    await pastOneCheck();
    const again = await postJson<RunWithWait>(server, `/api/jobs/${jobId}/runs`, { args: ['again'] }, 202);
    await eventually(async () => ((await getJson<RunWithWait>(server, `/api/runs/${again.id}`)).waitingFor !== null ? true : undefined), 15_000, 'the second hold');
    // The warning is written when the hold begins, but it reaches this process through the
    // server's stdout, which may be read after the answer that showed the hold.
    await eventually(async () => (warnings() >= 2 ? true : undefined), 5_000, 'the second warning');
    assert.equal(warnings(), 2);
    await onServerDisk(server, `rm -f ${filler}`);
    assert.equal((await waitForRun(server, again.id, 20_000)).status, 'succeeded');
  });
});
