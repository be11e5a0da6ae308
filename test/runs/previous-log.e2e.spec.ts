/**
 * A log written by the version before output had a stream of its own
 * (`test/fixtures/output-in-run-stream/`, output batches in `run-<runId>`) still reads,
 * replays, transfers and takes retention with the server of today: the built server
 * replays it on start, shows the same runs and exact output (every offset, the live
 * stream resumed), `npm run log:transfer` moves it to EventStoreDB (the double) and back
 * with the same result, and runs added afterwards put their output in `output-<runId>`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { openSse, readToEnd } from '../live/sse-client';
import { EXPECTED_OUTPUT } from '../support/release-scenario';
import { getJson, requestRun, type Run, waitForRun } from '../support/rest';
import { expectJson, type ServerProcess, startServer } from '../support/server-process';

const FIXTURE = resolve(__dirname, '../../../test/fixtures/output-in-run-stream/events.db');
const TOOL = resolve(__dirname, '../../src/tools/transfer-log.js');
const CHATTY = Buffer.concat([Buffer.from('EnderCompute 0123456789\n'.repeat(Math.ceil(700_000 / 24))).subarray(0, 700_000), Buffer.from('end\n')]);
const RUNS = { release: '51jej7ww8efp-1', chatty1: 'jrmq8twpc0xk-1', chatty2: 'jrmq8twpc0xk-2' };

function transfer(from: string, to: string): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [TOOL, '--from', from, '--to', to], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, out }));
  });
}

/** What a person sees of the fixture's runs: the API's runs and jobs, and every run's exact output. */
async function seen(server: ServerProcess): Promise<unknown> {
  const runs = await getJson<{ items: Array<Run & { version: number }> }>(server, '/api/runs');
  const jobs = await getJson<{ items: unknown[] }>(server, '/api/jobs');
  return { runs: runs.items, jobs: jobs.items };
}

async function expectExact(server: ServerProcess, runId: string, expected: Buffer): Promise<void> {
  for (const offset of [0, 1, 23, 24, 262_143, 262_144, 262_145, 524_288, expected.length - 4, expected.length - 1, expected.length]) {
    if (offset > expected.length) continue;
    const response = await server.request(`/api/runs/${runId}/output?offset=${offset}`);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), expected.subarray(offset), `${runId} /output?offset=${offset}`);
  }
  for (const from of [0, Math.floor(expected.length / 3), expected.length]) {
    const stream = await openSse(`${server.url}/api/runs/${runId}/output/stream`, { authorization: `Bearer ${server.key}`, 'last-event-id': String(from) });
    const { bytes, end } = await readToEnd(stream, from);
    await stream.close();
    assert.deepEqual(bytes, expected.subarray(from), `${runId} live stream from ${from}`);
    assert.equal(end.outputBytes, expected.length);
  }
}

describe('a log written before output had a stream of its own', () => {
  const dirs: string[] = [];
  let double: EsdbDouble | null = null;
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
    await double?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dataDirWithFixture = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'endercompute-previous-'));
    dirs.push(dir);
    copyFileSync(FIXTURE, join(dir, 'events.db'));
    return dir;
  };
  const start = async (options: Parameters<typeof startServer>[0]): Promise<ServerProcess> => {
    const server = await startServer({ ...options, env: { ENDERCOMPUTE_SANDBOX: 'none', ...options?.env } });
    servers.push(server);
    return server;
  };

  it('replays, reads exactly, transfers to EventStoreDB and back, and takes new runs and retention', { timeout: 180_000 }, async () => {
    const sqliteDir = dataDirWithFixture();
    const first = await start({ dataDir: sqliteDir });
    const release = await getJson<Run>(first, `/api/runs/${RUNS.release}`);
    assert.equal(release.status, 'failed');
    assert.equal(release.exitCode, 3);
    assert.equal(release.requestedBy, 'bob');
    await expectExact(first, RUNS.release, EXPECTED_OUTPUT);
    await expectExact(first, RUNS.chatty1, CHATTY);
    await expectExact(first, RUNS.chatty2, CHATTY);
    const before = await seen(first);
    const events = await getJson<{ items: Array<{ stream: string; type: string; data: { data?: string } }> }>(first, '/api/events?limit=1000&includeBytes=true');
    const outputEvents = events.items.filter((e) => e.type === 'RunOutputAppended');
    assert.ok(outputEvents.length >= 8 && outputEvents.every((e) => e.stream.startsWith('run-')), 'the output sits in the run streams');
    await first.stop();

    // To EventStoreDB, and a server on it replays the same.
    double = await startEsdbDouble();
    const there = await transfer(`sqlite:${join(sqliteDir, 'events.db')}`, double.connectionString);
    assert.equal(there.code, 0, there.out);
    const onEsdb = await start({ env: { EVENTSTORE_CONNECTION_STRING: double.connectionString } });
    assert.deepEqual(await seen(onEsdb), before);
    await expectExact(onEsdb, RUNS.chatty2, CHATTY);
    await expectExact(onEsdb, RUNS.release, EXPECTED_OUTPUT);
    await onEsdb.stop();

    // And back to a new embedded log.
    const backDir = mkdtempSync(join(tmpdir(), 'endercompute-previous-back-'));
    dirs.push(backDir);
    const back = await transfer(double.connectionString, `sqlite:${join(backDir, 'events.db')}`);
    assert.equal(back.code, 0, back.out);
    const again = await start({ dataDir: backDir });
    assert.deepEqual(await seen(again), before);
    await expectExact(again, RUNS.chatty1, CHATTY);

    // A new run of the old job puts its output in a stream of its own; retention applies to old and new runs alike.
    const job = (await getJson<Run>(again, `/api/runs/${RUNS.chatty1}`)).jobId;
    const fresh = await waitForRun(again, (await requestRun(again, job, {}, 'erin')).id, 30_000);
    assert.equal(fresh.number, 3);
    await expectExact(again, fresh.id, CHATTY);
    const freshEvents = await getJson<{ items: Array<{ stream: string; type: string }> }>(again, `/api/events?stream=output-${fresh.id}`);
    assert.ok(freshEvents.items.length >= 2 && freshEvents.items.every((e) => e.type === 'RunOutputAppended'));
    const current = await getJson<{ version: number }>(again, `/api/jobs/${job}`);
    await expectJson(await again.request(`/api/jobs/${job}`, { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': `"${current.version}"` }, body: JSON.stringify({ keepRuns: 1 }) }), 200);
    for (const old of [RUNS.chatty1, RUNS.chatty2]) {
      const deadline = Date.now() + 20_000;
      while ((await again.request(`/api/runs/${old}/output`)).status !== 410) {
        assert.ok(Date.now() < deadline, `the output of ${old} expires`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await expectExact(again, fresh.id, CHATTY);
    // The old runs keep their facts; their output no longer shows in the audit either.
    const audit = await getJson<{ items: Array<{ stream: string; type: string }> }>(again, `/api/events?stream=run-${RUNS.chatty1}`);
    assert.deepEqual(audit.items.map((e) => e.type), ['RunRequested', 'RunClaimed', 'RunStarted', 'RunFinished', 'RunOutputExpired']);
  });
});
