import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, NewEvent } from '../src/event-store/event-store.port';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { JobsReadModel } from '../src/jobs/jobs.read-model';
import { ProjectionEngine } from '../src/projections/projection-engine';
import { RunsReadModel } from '../src/runs/runs.read-model';
import { ScriptsReadModel } from '../src/scripts/scripts.read-model';
import { benchStore } from './store-bench';
import { report } from './stats';

const metadata = (actor: string) => ({ actor, at: new Date().toISOString(), correlationId: randomUUID(), causationId: null, source: 'bench' });
const event = (type: string, data: unknown, actor = 'bench'): NewEvent => ({ id: randomUUID(), type, data, metadata: metadata(actor) });

/**
 * Writes a realistic log: templates, jobs, and runs with their whole life
 * (requested, claimed, started, a few output batches, finished), so replay
 * exercises every projection the server rebuilds at start.
 */
export async function seedRealisticLog(store: EventStore, runs: number): Promise<number> {
  let count = 0;
  const scriptId = 'benchscript0';
  await store.append(`script-${scriptId}`, [event('ScriptCreated', { scriptId, name: 'bench', interpreter: 'bash', body: 'make test' })], 'no_stream');
  count++;
  const jobs = Math.max(1, Math.floor(runs / 10));
  for (let j = 0; j < jobs; j++) {
    const jobId = `benchjob${String(j).padStart(4, '0')}`;
    await store.append(
      `job-${jobId}`,
      [event('JobCreated', { jobId, name: `job ${j}`, description: 'bench', scriptId, args: [], env: {}, tags: ['bench'], timeoutSeconds: null })],
      'no_stream',
    );
    count++;
  }
  const output = randomBytes(300).toString('base64');
  const pending: Promise<unknown>[] = [];
  for (let r = 0; r < runs; r++) {
    const jobId = `benchjob${String(r % jobs).padStart(4, '0')}`;
    const runId = `${jobId}-${Math.floor(r / jobs) + 1}`;
    const snapshot = { scriptId, scriptName: 'bench', scriptVersion: 0, interpreter: 'bash', body: 'make test', jobVersion: 0, args: [], env: {}, files: [], timeoutSeconds: null };
    const lifecycle = [
      event('RunRequested', { runId, jobId, jobName: `job ${r % jobs}`, number: Math.floor(r / jobs) + 1, snapshot, extra: { args: [], env: {}, files: [] }, scheduledFor: null, rerunOf: null }, 'alice'),
      event('RunClaimed', { runId, runner: 'bench', workdir: '/tmp/x' }, 'runner'),
      event('RunStarted', { runId, runner: 'bench', pid: 1234, processStartTicks: '1', workdir: '/tmp/x' }, 'runner'),
      ...[0, 1, 2].map((i) => event('RunOutputAppended', { runId, offset: i * 300, data: output, pieces: [{ stream: 'stdout', length: 300 }] }, 'runner')),
      event('RunFinished', { runId, status: 'succeeded', exitCode: 0, signal: null, outputBytes: 900, droppedBytes: 0, reason: null }, 'runner'),
    ];
    pending.push(store.append(`run-${runId}`, lifecycle, 'no_stream'));
    count += lifecycle.length;
    if (pending.length === 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return count;
}

/** Replay speed: raw subscription catch-up, and the full rebuild of every read model the server does at start. */
export async function benchReplay(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-replay-'));
  try {
    const raw = SqliteEventStore.open(join(dir, 'raw.db'));
    const figures = await benchStore(raw, { events: 100_000 });
    await raw.close();
    report('embedded store: append (64 concurrent writers)', `${Math.round(figures.appendEventsPerSec)} ev/s`, '');
    report('embedded store: replay, raw subscription', `${Math.round(figures.replayEventsPerSec)} ev/s`, 'target 100000 ev/s', figures.replayEventsPerSec >= 100_000);

    const store = SqliteEventStore.open(join(dir, 'log.db'));
    const events = await seedRealisticLog(store, 20_000);
    const projections = [new ScriptsReadModel(), new JobsReadModel(), new RunsReadModel()];
    const engine = new ProjectionEngine(store, projections);
    const started = performance.now();
    await engine.start();
    const seconds = (performance.now() - started) / 1000;
    await engine.onApplicationShutdown();
    await store.close();
    const rate = events / seconds;
    report(`replay into all read models (${events} events, 20000 runs)`, `${Math.round(rate)} ev/s`, 'target 100000 ev/s', rate >= 100_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
