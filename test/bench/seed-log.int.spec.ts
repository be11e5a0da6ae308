import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { seedLog, type SeededLog } from '../../bench/seed-log';
import { EsdbEventStore } from '../../src/event-store/esdb-event-store';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config/app-config';
import { EventStore, type RecordedEvent } from '../../src/event-store/event-store.port';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { configureHttp } from '../../src/http/configure-http';
import type { RunView } from '../../src/runs/run.view';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/esdb-double';
import { eventually, expectJson, TEST_KEY } from '../support/server-process';

interface Job {
  id: string;
  name: string;
  lastRun: { id: string; number: number; status: string } | null;
}

/**
 * The bench's seed is what the server writes: a server started on a seeded log serves
 * it as its own (lists, statuses, output, numbering), has nothing to catch up on at
 * start (no schedule firing owed, no run to recover), and the events it writes itself
 * for a new job and a new run have the streams, types, data and metadata of the seeded ones.
 */
for (const kind of ['embedded store', 'EventStoreDB double'] as const) describeSeedOn(kind);

function describeSeedOn(kind: 'embedded store' | 'EventStoreDB double'): void {
  describe(`bench: seedLog on the ${kind}`, () => {
    let dataDir: string;
    let double: EsdbDouble | null = null;
    let seeded: SeededLog;
    let seededHead: bigint;
    let seededCount: number;
    let app: NestExpressApplication;
    let store: EventStore;
    let url: string;

    const request = (path: string, init: RequestInit & { json?: unknown } = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${TEST_KEY}`);
      headers.set('x-actor', 'tester');
      if (init.json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${url}${path}`, { ...init, headers, body: init.json === undefined ? init.body : JSON.stringify(init.json) });
    };

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'endercompute-seed-'));
      if (kind === 'EventStoreDB double') double = await startEsdbDouble();
      const seeding = double ? EsdbEventStore.connect(double.connectionString) : SqliteEventStore.open(join(dataDir, 'events.db'));
      seeded = await seedLog(seeding, { jobs: 30, runs: 400, scripts: 3, scheduledEvery: 10, days: 10, batchSize: 97 });
      seededHead = (await seeding.headPosition())!.commit;
      seededCount = (await seeding.readAll()).filter((event) => !event.stream.startsWith('$')).length;
      await seeding.close();
      const connection = double ? { EVENTSTORE_CONNECTION_STRING: double.connectionString } : {};
      const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir, ENDERCOMPUTE_KEY: TEST_KEY, PORT: '0', ...connection });
      app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bodyParser: false, logger: ['error'] });
      configureHttp(app);
      await app.listen(0, '127.0.0.1');
      const address = app.getHttpServer().address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      store = app.get(EventStore);
    });

    after(async () => {
      await app?.close();
      await double?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('seeds what was asked: templates, jobs, runs with schedules among them, and counts every event', async () => {
      assert.equal(seeded.jobs, 30);
      assert.equal(seeded.runs, 400);
      assert.ok(seeded.scheduledRuns > 0 && seeded.scheduledRuns < 400, `scheduled runs: ${seeded.scheduledRuns}`);
      assert.equal(Object.values(seeded.statuses).reduce((a, b) => a + b, 0), 400);
      assert.equal(seededCount, seeded.events, 'every event counted');
    });

    it('gives the server nothing to do at start: no firing owed, no run to recover or to start', async () => {
      // Let the scheduler, the schedule ticker and recovery have their turn.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // The one thing a start records: that this server's runner is online (runner presence).
      const latest = await store.readAll({ direction: 'backwards', maxCount: 10 });
      const appended = latest.filter((event) => event.position.commit > seededHead);
      assert.deepEqual(appended.map((event) => event.type), ['RunnerConnected']);
    });

    it('lists every job, with its last run', async () => {
      const { items } = await expectJson<{ items: Job[] }>(await request('/api/jobs'), 200);
      assert.equal(items.length, 30);
      assert.deepEqual(new Set(items.map((job) => job.id)), new Set(Array.from({ length: 30 }, (_, i) => seeded.jobId(i))));
      const busy = items.find((job) => job.id === seeded.busyJob.id)!;
      assert.equal(busy.name, seeded.busyJob.name);
      assert.equal(busy.lastRun?.number, seeded.busyJob.runs);
    });

    it('lists the runs with the statuses seeded, by status', async () => {
      for (const [status, count] of Object.entries(seeded.statuses)) {
        const { items } = await expectJson<{ items: RunView[] }>(await request(`/api/runs?status=${status}&limit=500`), 200);
        assert.equal(items.length, count, `runs ${status}`);
        assert.ok(items.every((run) => run.status === status));
      }
      // In request order on the embedded store; the double takes a batch's appends concurrently.
      const newest = await expectJson<{ items: RunView[] }>(await request(`/api/runs?limit=${kind === 'embedded store' ? 1 : 500}`), 200);
      if (kind === 'embedded store') assert.equal(newest.items[0].id, seeded.lastRunId);
      else assert.ok(newest.items.some((run) => run.id === seeded.lastRunId));
      const scheduled = await expectJson<{ items: Array<RunView & { trigger: { kind: string } | null }> }>(await request('/api/runs?limit=500'), 200);
      assert.equal(scheduled.items.filter((run) => run.trigger?.kind === 'schedule').length, seeded.scheduledRuns);
      assert.equal(scheduled.items.filter((run) => run.trigger?.kind === 'schedule').every((run) => run.requestedBy === 'schedule'), true);
    });

    it("answers a run and its output as seeded", async () => {
      const run = await expectJson<RunView>(await request(`/api/runs/${seeded.sampleRun.id}`), 200);
      assert.equal(run.status, 'succeeded');
      assert.equal(run.jobId, seeded.busyJob.id);
      const output = await request(`/api/runs/${seeded.sampleRun.id}/output`);
      assert.equal(output.status, 200);
      assert.equal(await output.text(), seeded.sampleRun.output);
    });

    it('numbers a new run of a seeded job after its seeded runs, and writes it as the seed does', async () => {
      const requested = await expectJson<RunView>(await request(`/api/jobs/${seeded.busyJob.id}/runs`, { method: 'POST', json: {} }), 202);
      assert.equal(requested.number, seeded.busyJob.runs + 1);
      assert.equal(requested.id, `${seeded.busyJob.id}-${seeded.busyJob.runs + 1}`);
      // The template runs ./run.sh, which is not there: the run fails, as real runs do.
      const done = await eventually(async () => {
        const run = await expectJson<RunView>(await request(`/api/runs/${requested.id}`), 200);
        return run.finishedAt !== null ? run : undefined;
      }, 20_000, 'the new run to finish');
      assert.equal(done.status, 'failed');

      const sample = seeded.sampleRun.id;
      assert.deepEqual(shapes(await store.readStream(`run-${requested.id}`)), shapes(await store.readStream(`run-${sample}`)));
      assert.deepEqual(shapes((await store.readStream(`output-${requested.id}`)).slice(0, 1)), shapes(await store.readStream(`output-${sample}`)));
      const admissions = (await store.readStream(`job-${seeded.busyJob.id}`)).filter((event) => event.type === 'JobRunAdmitted');
      assert.equal(admissions.length, seeded.busyJob.runs + 1);
      assert.deepEqual(shapes(admissions.slice(-1)), shapes(admissions.slice(0, 1)));
      for (const runId of [requested.id, sample]) assertRunnerCausation(await store.readStream(`run-${runId}`), await store.readStream(`output-${runId}`));
    });

    it('writes a new job as the seed does: template use declared, name reserved, job created', async () => {
      const seededJob = seeded.jobId(0);
      const seededScript = (await store.readStream(`job-${seededJob}`))[0].data as { scriptId: string };
      const created = await expectJson<{ id: string }>(
        await request('/api/jobs', { method: 'POST', json: { name: 'made-by-the-api', scriptId: seededScript.scriptId, description: 'x', args: ['a'], env: { A: 'b' }, tags: ['t'] } }),
        201,
      );
      const byCorrelation = async (jobId: string) => {
        const [first] = await store.readStream(`job-${jobId}`);
        const all = await store.readAll({ filter: { eventTypes: ['ScriptUseDeclared', 'NameReserved', 'JobCreated'] } });
        return all.filter((event) => event.metadata.correlationId === first.metadata.correlationId);
      };
      const real = await byCorrelation(created.id);
      const seededEvents = await byCorrelation(seededJob);
      assert.deepEqual(real.map((event) => [event.type, event.stream.replace(/-[^-]+$/, '-*')]), seededEvents.map((event) => [event.type, event.stream.replace(/-[^-]+$/, '-*')]));
      assert.deepEqual(shapes(real), shapes(seededEvents));
    });
  });
}

/** What must match between events the server wrote and seeded ones: types, data keys, metadata keys. */
function shapes(events: readonly RecordedEvent[]): Array<{ type: string; data: string[]; metadata: string[] }> {
  return events.map((event) => ({
    type: event.type,
    data: Object.keys(event.data as object).sort(),
    metadata: Object.keys(event.metadata).sort(),
  }));
}

/** The runner's events carry the request's correlation id and are caused by the `RunRequested` event, as `RunExecutor` records them. */
function assertRunnerCausation(runEvents: readonly RecordedEvent[], outputEvents: readonly RecordedEvent[]): void {
  const [requested, ...rest] = runEvents;
  assert.equal(requested.type, 'RunRequested');
  for (const event of [...rest, ...outputEvents]) {
    assert.deepEqual(
      { actor: event.metadata.actor, source: event.metadata.source, correlationId: event.metadata.correlationId, causationId: event.metadata.causationId },
      { actor: 'runner', source: 'runner', correlationId: requested.metadata.correlationId, causationId: requested.id },
      `${event.type} of ${event.stream}`,
    );
  }
}
