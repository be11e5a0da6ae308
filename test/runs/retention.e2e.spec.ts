/**
 * Issue 11, item 2: retention on both stores (the embedded log and EventStoreDB through
 * the gRPC double), driven as a person would: a job's `keepRuns` and the server's
 * `ENDERCOMPUTE_KEEP_OUTPUT_DAYS` expire finished runs' output and nothing else. The
 * runs keep every fact (API, event log, page), `/output` answers 410, the live stream
 * ends at once with `outputExpired: true`, the bulk is gone from the store, and the
 * output of the runs kept is still exact at every offset and through the live stream
 * with resume.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { openSse, readToEnd } from '../live/sse-client';
import { runCli } from '../support/cli';
import { getJson, postJson, requestRun, type Run, waitForRun } from '../support/rest';
import { eventually, expectJson, type ServerProcess, startServer } from '../support/server-process';

interface ExpiringRun extends Run {
  outputExpiredAt: string | null;
  outputExpiredBy: 'keepRuns' | 'age' | null;
  version: number;
}

/** A script printing its run number, some bytes that are not UTF-8, and (optionally) a lot of random text and raw random bytes. */
const SCRIPT = `printf 'run %s\\n' "$ENDERCOMPUTE_RUN_NUMBER"; printf 'bytes:\\000\\377\\n'; [ -n "$1" ] && { head -c "$1" /dev/urandom | base64 -w 100; head -c 70000 /dev/urandom; }; echo done`;

const expectedStart = (number: number): Buffer => Buffer.concat([Buffer.from(`run ${number}\nbytes:`), Buffer.from([0, 0xff]), Buffer.from('\n')]);

interface Store {
  name: string;
  start(env?: Record<string, string>): Promise<ServerProcess>;
  /** How many events the store still holds in a run's output stream. */
  outputEventsOf(server: ServerProcess, runId: string): Promise<number>;
  close(): Promise<void>;
}

function embedded(): Store {
  return {
    name: 'the embedded log',
    start: (env = {}) => startServer({ env: { ENDERCOMPUTE_SANDBOX: 'none', ...env } }),
    outputEventsOf: async (server, runId) => {
      const db = new Database(join(server.dataDir, 'events.db'), { readonly: true });
      try {
        return Number(db.prepare('SELECT count(*) FROM events WHERE stream = ?').pluck().get(`output-${runId}`));
      } finally {
        db.close();
      }
    },
    close: async () => undefined,
  };
}

function eventStoreDb(): Store {
  let double: EsdbDouble | null = null;
  return {
    name: 'EventStoreDB (the gRPC double)',
    start: async (env = {}) => {
      double ??= await startEsdbDouble();
      return startServer({ env: { ENDERCOMPUTE_SANDBOX: 'none', EVENTSTORE_CONNECTION_STRING: double.connectionString, ...env } });
    },
    // A soft-deleted stream reads as nothing; its events wait in the log for a scavenge.
    outputEventsOf: async (_server, runId) => double!.log.visibleStream(`output-${runId}`).length,
    close: async () => {
      await double?.stop();
    },
  };
}

for (const store of [embedded(), eventStoreDb()]) {
  describe(`output retention on ${store.name}`, () => {
    const servers: ServerProcess[] = [];
    after(async () => {
      for (const server of servers) {
        await server.stop();
        server.cleanup();
      }
      await store.close();
    });
    const start = async (env?: Record<string, string>): Promise<ServerProcess> => {
      const server = await store.start(env);
      servers.push(server);
      return server;
    };
    const runOf = (server: ServerProcess, id: string): Promise<ExpiringRun> => getJson<ExpiringRun>(server, `/api/runs/${id}`);
    const expiredRun = (server: ServerProcess, id: string, timeoutMs = 20_000): Promise<ExpiringRun> =>
      eventually(async () => {
        const run = await runOf(server, id);
        return run.outputExpiredAt !== null ? run : undefined;
      }, timeoutMs, `the output of ${id} to expire`);

    /** Everything about an expired run but its output is as it was. */
    async function expectOnlyOutputExpired(server: ServerProcess, before: ExpiringRun, by: 'keepRuns' | 'age'): Promise<void> {
      const after = await expiredRun(server, before.id);
      assert.equal(after.outputExpiredBy, by);
      assert.ok(Date.parse(after.outputExpiredAt!) >= Date.parse(after.finishedAt!));
      const { outputExpiredAt: _at, outputExpiredBy: _by, version: _version, ...factsAfter } = after;
      const { outputExpiredAt: _at0, outputExpiredBy: _by0, version: _version0, ...factsBefore } = before;
      assert.deepEqual(factsAfter, factsBefore, 'every fact of the run is kept');

      const output = await server.request(`/api/runs/${before.id}/output`);
      assert.equal(output.status, 410);
      const body = await expectJson<{ message: string; statusCode: number }>(output, 410);
      assert.match(body.message, /expired/);
      assert.match(body.message, by === 'keepRuns' ? /keepRuns/ : /ENDERCOMPUTE_KEEP_OUTPUT_DAYS/);

      const stream = await openSse(`${server.url}/api/runs/${before.id}/output/stream`, { authorization: `Bearer ${server.key}` });
      const status = await stream.next(10_000);
      assert.equal(status?.event, 'status');
      assert.deepEqual(JSON.parse(status.data), { status: before.status });
      const end = await stream.next(10_000);
      await stream.close();
      assert.equal(end?.event, 'end');
      const summary = JSON.parse(end.data) as Record<string, unknown>;
      assert.equal(summary.outputExpired, true);
      assert.equal(summary.outputExpiredBy, by);
      assert.equal(summary.outputBytes, before.outputBytes);

      const facts = await getJson<{ items: Array<{ type: string }> }>(server, `/api/events?stream=run-${before.id}`);
      assert.deepEqual(facts.items.map((e) => e.type), ['RunRequested', 'RunClaimed', 'RunStarted', 'RunFinished', 'RunOutputExpired']);
      const bulk = await getJson<{ items: unknown[] }>(server, `/api/events?stream=output-${before.id}&includeBytes=true`);
      assert.deepEqual(bulk.items, [], 'the audit shows no output of an expired run');
      assert.equal(await store.outputEventsOf(server, before.id), 0, 'the store no longer holds the output');

      const page = await (await server.request(`/runs/${before.id}`)).text();
      assert.match(page, /id="output-expired"/);
      assert.match(page, by === 'keepRuns' ? /keepRuns/ : /ENDERCOMPUTE_KEEP_OUTPUT_DAYS/);
      assert.doesNotMatch(page, /Download raw/);
      // Every other way to the bytes says so too: the page's parts and the search.
      for (const path of [`/runs/${before.id}/output/earlier?before=${before.outputBytes}`, `/runs/${before.id}/output/around?line=1`, `/api/runs/${before.id}/output/search?q=a`]) {
        assert.equal((await server.request(path, { headers: { 'hx-request': 'true' } })).status, 410, path);
      }
    }

    /** The output of a kept run is exact through /output at every offset and through the live stream, resumed. */
    async function expectExactOutput(server: ServerProcess, run: ExpiringRun, expected: Buffer): Promise<void> {
      assert.equal(run.outputExpiredAt, null);
      const step = Math.max(1, Math.floor(expected.length / 40));
      for (let offset = 0; offset <= expected.length; offset += offset < 64 ? 1 : step) {
        const response = await server.request(`/api/runs/${run.id}/output?offset=${offset}`);
        assert.equal(response.status, 200);
        assert.deepEqual(Buffer.from(await response.arrayBuffer()), expected.subarray(offset), `/output?offset=${offset}`);
      }
      for (const from of [0, 7, Math.floor(expected.length / 2), expected.length]) {
        const stream = await openSse(`${server.url}/api/runs/${run.id}/output/stream`, { authorization: `Bearer ${server.key}`, 'last-event-id': String(from) });
        const { bytes, end } = await readToEnd(stream, from);
        await stream.close();
        assert.deepEqual(bytes, expected.subarray(from), `the live stream resumed at ${from}`);
        assert.equal(end.outputExpired, false);
      }
    }

    it("a job's keepRuns keeps the newest finished runs' output and expires the rest's, and only that", { timeout: 120_000 }, async () => {
      const server = await start();
      await postJson(server, '/api/scripts', { name: 'noisy', interpreter: 'bash', body: SCRIPT }, 201);
      const job = await postJson<{ id: string; keepRuns: number | null }>(server, '/api/jobs', { name: 'kept', scriptId: 'noisy', keepRuns: 2 }, 201);
      assert.equal(job.keepRuns, 2);
      const finished: ExpiringRun[] = [];
      for (let i = 0; i < 4; i++) {
        const requested = await requestRun(server, job.id, { args: i === 3 ? ['600000'] : [] }, `user${i}`);
        await waitForRun(server, requested.id);
        finished.push(await runOf(server, requested.id));
      }
      await expectOnlyOutputExpired(server, finished[0], 'keepRuns');
      await expectOnlyOutputExpired(server, finished[1], 'keepRuns');
      const third = await runOf(server, finished[2].id);
      await expectExactOutput(server, third, Buffer.concat([expectedStart(3), Buffer.from('done\n')]));
      const fourth = await runOf(server, finished[3].id);
      const whole = Buffer.from(await (await server.request(`/api/runs/${fourth.id}/output`)).arrayBuffer());
      assert.ok(whole.subarray(0, expectedStart(4).length).equals(expectedStart(4)) && whole.length > 800_000, 'several batches');
      await expectExactOutput(server, fourth, whole);

      // Lowering keepRuns applies at the next sweep; null keeps everything from then on.
      const cli = await runCli(server, ['jobs', 'update', job.id, '--keep-runs', '1']);
      assert.equal(cli.code, 0, cli.stderr.toString());
      const shown = await runCli(server, ['jobs', 'show', job.id]);
      assert.match(shown.stdout.toString(), /output: +kept for the newest finished run only/);
      const another = await requestRun(server, job.id);
      await waitForRun(server, another.id);
      await expiredRun(server, third.id);
      await expiredRun(server, fourth.id);
      assert.equal((await runOf(server, another.id)).outputExpiredAt, null);
      const refused = await server.request(`/api/jobs/${job.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keepRuns: 0 }) });
      assert.equal(refused.status, 400);
      assert.match((await refused.json() as { message: string }).message, /keepRuns/);
      const typo = await runCli(server, ['jobs', 'update', job.id, '--keep-runs', 'ten']);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr.toString(), /^--keep-runs must be a whole number from 1 to 1000000, or all, not "ten"/);
      const all = await runCli(server, ['jobs', 'update', job.id, '--keep-runs', 'all']);
      assert.equal(all.code, 0, all.stderr.toString());
      assert.equal((await getJson<{ keepRuns: number | null }>(server, `/api/jobs/${job.id}`)).keepRuns, null);
    });

    it('ENDERCOMPUTE_KEEP_OUTPUT_DAYS expires output that long after its run finished; a running run keeps its output', { timeout: 120_000 }, async () => {
      // 0.00003 days: 2.6 s, checked every second.
      const server = await start({ ENDERCOMPUTE_KEEP_OUTPUT_DAYS: '0.00003' });
      await postJson(server, '/api/scripts', { name: 'quick', interpreter: 'bash', body: SCRIPT }, 201);
      await postJson(server, '/api/scripts', { name: 'slow', interpreter: 'bash', body: 'echo started; sleep 5; echo finished' }, 201);
      const quickJob = await postJson<{ id: string }>(server, '/api/jobs', { name: 'quick', scriptId: 'quick' }, 201);
      const slowJob = await postJson<{ id: string }>(server, '/api/jobs', { name: 'slow', scriptId: 'slow' }, 201);
      const slow = await requestRun(server, slowJob.id);
      const quick = await requestRun(server, quickJob.id);
      const quickDone = await runOf(server, (await waitForRun(server, quick.id)).id);
      await expectOnlyOutputExpired(server, quickDone, 'age');
      const stillRunning = await runOf(server, slow.id);
      assert.equal(stillRunning.status, 'running');
      assert.equal(stillRunning.outputExpiredAt, null, 'a running run is not expired');
      const whileRunning = await server.request(`/api/runs/${slow.id}/output`);
      assert.equal(whileRunning.status, 200);
      await waitForRun(server, slow.id);
      const slowDone = await runOf(server, slow.id);
      assert.equal(slowDone.outputExpiredAt, null, 'just finished: kept for now');
      await expectOnlyOutputExpired(server, slowDone, 'age');
    });

    if (store.name !== 'the embedded log') {
      it('two servers on one store sweep together: each expiry is recorded once', { timeout: 120_000 }, async () => {
        const a = await start();
        const b = await start();
        await postJson(a, '/api/scripts', { name: 'shared', interpreter: 'bash', body: SCRIPT }, 201);
        const job = await postJson<{ id: string }>(a, '/api/jobs', { name: 'shared', scriptId: 'shared', keepRuns: 1 }, 201);
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) {
          const requested = await requestRun(i % 2 === 0 ? a : b, job.id);
          // Each server reads the other's writes a moment later: both must have seen the end.
          await waitForRun(a, requested.id);
          await waitForRun(b, requested.id);
          ids.push(requested.id);
        }
        for (const id of ids.slice(0, 3)) {
          await expiredRun(a, id);
          await expiredRun(b, id);
        }
        // Both servers swept on every finish; let any sweep under way end before counting.
        await new Promise((r) => setTimeout(r, 1500));
        for (const id of ids.slice(0, 3)) {
          const facts = await getJson<{ items: Array<{ type: string; metadata: { actor: string } }> }>(b, `/api/events?stream=run-${id}`);
          assert.equal(facts.items.filter((e) => e.type === 'RunOutputExpired').length, 1, `one RunOutputExpired for ${id}`);
          assert.equal(await store.outputEventsOf(a, id), 0);
        }
        assert.equal((await runOf(b, ids[3])).outputExpiredAt, null);
      });
    }

    if (store.name === 'the embedded log') {
      it('under steady retention the log file stops growing', { timeout: 180_000 }, async () => {
        const server = await start();
        await postJson(server, '/api/scripts', { name: 'bulky', interpreter: 'bash', body: SCRIPT }, 201);
        const job = await postJson<{ id: string }>(server, '/api/jobs', { name: 'bulky', scriptId: 'bulky', keepRuns: 1 }, 201);
        const sizes: number[] = [];
        let previous: string | null = null;
        for (let i = 0; i < 10; i++) {
          const { id } = await requestRun(server, job.id, { args: ['400000'] });
          await waitForRun(server, id);
          if (previous !== null) await expiredRun(server, previous);
          previous = id;
          const file = join(server.dataDir, 'events.db');
          const wal = `${file}-wal`;
          sizes.push(statSync(file).size + (statSync(wal, { throwIfNoEntry: false })?.size ?? 0));
        }
        // The WAL keeps its high-water mark (64 KiB pages, a few per commit), so the pair settles after a few runs.
        const settled = sizes.slice(3);
        assert.ok(Math.max(...settled) <= settled[0] * 1.25, `events.db + WAL after each run: ${sizes.join(', ')}`);
        // Stopped, the WAL is checkpointed into the file: it holds about one run's output, not the ten written (~5.4 MB).
        await server.stop();
        const file = statSync(join(server.dataDir, 'events.db')).size;
        assert.ok(file < 2_500_000, `events.db is ${file} bytes after ten runs of ~540 KB output with keepRuns 1`);
      });
    }
  });
}
