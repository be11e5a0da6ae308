import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { JobsReadModel } from '../src/jobs/jobs.read-model';
import { ProjectionEngine } from '../src/projections/projection-engine';
import { RunsReadModel } from '../src/runs/runs.read-model';
import { ScriptsReadModel } from '../src/scripts/scripts.read-model';
import { seedLog } from './seed-log';
import { benchStore } from './store-bench';
import { report } from './stats';

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
    const { events } = await seedLog(store, { jobs: 2_000, runs: 20_000 });
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
