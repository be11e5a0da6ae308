/**
 * `node dist/test/projections/measure-rebuild.js [runs]`: the cold-rebuild rate of the
 * projection engine against the raw `$all` read rate of the same log, measured in the
 * same run (issue 12: a rebuild applies at ≥ 0.7× the raw read rate). Seeds a log with
 * the bench's seed (`seedLog`: the server's own events), then times: a raw subscription read of the
 * whole log; a cold rebuild into a projection database file with the server's read
 * models; and one with the engine's bookkeeping only (no projection), which is the
 * engine's own cost. Prints figures; asserts nothing (timings on a shared machine).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLog } from '../../bench/seed-log';
import { SqliteEventStore } from '../../src/event-store/sqlite-event-store';
import { JobsReadModel } from '../../src/jobs/jobs.read-model';
import type { Projection } from '../../src/projections/projection';
import { ProjectionEngine } from '../../src/projections/projection-engine';
import { RunsReadModel } from '../../src/runs/runs.read-model';
import { SchedulesReadModel } from '../../src/schedules/schedules.read-model';
import { ScriptsReadModel } from '../../src/scripts/scripts.read-model';

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => process.stderr.write(`${m}\n`) };

async function rawRead(store: SqliteEventStore, total: number): Promise<number> {
  const started = performance.now();
  let n = 0;
  const subscription = store.subscribeAll();
  for await (const _event of subscription) {
    if (++n === total) break;
  }
  return n / ((performance.now() - started) / 1000);
}

async function rawPages(store: SqliteEventStore, pageSize: number): Promise<number> {
  const started = performance.now();
  let n = 0;
  let after;
  for (;;) {
    const page = await store.readAll({ ...(after ? { after } : {}), maxCount: pageSize });
    if (page.length === 0) break;
    n += page.length;
    after = page[page.length - 1].position;
  }
  return n / ((performance.now() - started) / 1000);
}

async function rebuild(store: SqliteEventStore, dir: string, name: string, projections: Projection[]): Promise<number> {
  const file = join(dir, `${name}.db`);
  const engine = new ProjectionEngine(store, projections, file, quiet);
  const started = performance.now();
  await engine.start();
  const rate = engine.appliedCount / ((performance.now() - started) / 1000);
  await engine.close();
  return rate;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 25_000);
  const dir = mkdtempSync(join(tmpdir(), 'ec-rebuild-rate-'));
  try {
    const store = SqliteEventStore.open(join(dir, 'events.db'));
    const { events } = await seedLog(store, { runs, jobs: Math.max(1, Math.floor(runs / 10)) });
    process.stdout.write(`log: ${events} events (${runs} runs)\n`);
    for (let round = 1; round <= 2; round++) {
      const raw = await rawRead(store, events);
      const pages = await rawPages(store, 512);
      const engineOnly = await rebuild(store, dir, `bookkeeping-${round}`, []);
      const sqlOnly = await rebuild(store, dir, `sql-${round}`, [new ScriptsReadModel(), new SchedulesReadModel()]);
      const server = await rebuild(store, dir, `server-${round}`, [new ScriptsReadModel(), new JobsReadModel(), new RunsReadModel(), new SchedulesReadModel()]);
      const line = (label: string, rate: number) => `  ${label}: ${Math.round(rate)} events/s (${(rate / raw).toFixed(2)}× raw)`;
      process.stdout.write(
        [
          `round ${round}`,
          `  raw $all read (subscription): ${Math.round(raw)} events/s`,
          `  raw $all read (readAll, pages of 512): ${Math.round(pages)} events/s (${(pages / raw).toFixed(2)}× the subscription)`,
          line('cold rebuild, engine bookkeeping only', engineOnly),
          line('cold rebuild, scripts + schedules (SQL)', sqlOnly),
          line('cold rebuild, the server\'s read models', server),
        ].join('\n') + '\n',
      );
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
