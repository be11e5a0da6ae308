/**
 * Page benchmark: server time per page at the median with 10,000 jobs and
 * 100,000 runs. The log is seeded straight through the event store port with
 * the events the server itself writes (`seed-log.ts`), the application is booted in this process on that log (so its
 * read models are rebuilt by replay, as at a real start), and each page is
 * requested over loopback with the key. A round trip is an upper bound on the
 * server's time for the page.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/app-config';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { configureHttp } from '../src/http/configure-http';
import { seedLog } from './seed-log';
import { median, percentile } from './stats';

export interface PagesBenchResult {
  /** Median milliseconds per page (full page unless said otherwise). */
  dashboardMs: number;
  /** The dashboard's live fragment, which an open dashboard asks for every 2 s. */
  dashboardPollMs: number;
  jobsMs: number;
  jobsSearchMs: number;
  jobMs: number;
  runsMs: number;
  runsFilteredMs: number;
  runMs: number;
  scriptsMs: number;
  auditMs: number;
  /** The slowest page's 95th percentile. */
  worstP95Ms: number;
  jobs: number;
  runs: number;
  events: number;
  seedMs: number;
  /** Time from creating the application to serving: the replay of the whole log. */
  bootMs: number;
}

const KEY = 'bench-key-0123456789abcdef';

/** Seeds the log and measures every main page. Options exist for quick trial runs. */
export async function benchPages(options: { jobs?: number; runs?: number; samples?: number } = {}): Promise<PagesBenchResult> {
  const jobs = options.jobs ?? 10_000;
  const runs = options.runs ?? 100_000;
  const samples = options.samples ?? 30;
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-pages-bench-'));
  try {
    const seedStarted = performance.now();
    const store = SqliteEventStore.open(join(dataDir, 'events.db'));
    const seeded = await seedLog(store, { jobs, runs });
    await store.close();
    const seedMs = performance.now() - seedStarted;

    const bootStarted = performance.now();
    const config = loadConfig({ ENDERCOMPUTE_DATA_DIR: dataDir, ENDERCOMPUTE_KEY: KEY, PORT: '0', ENDERCOMPUTE_MAX_CONCURRENT_RUNS: '1' });
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bodyParser: false, logger: ['error'] });
    configureHttp(app);
    await app.listen(0, '127.0.0.1');
    const bootMs = performance.now() - bootStarted;
    const address = app.getHttpServer().address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const time = (path: string, partial = false) => measure(base, path, partial, samples);
      const pages = {
        dashboard: await time('/'),
        dashboardPoll: await time('/', true),
        jobs: await time('/jobs'),
        jobsSearch: await time(`/jobs?q=${encodeURIComponent(seeded.searchWord)}&status=failed`),
        job: await time(`/jobs/${seeded.busyJob.id}`),
        runs: await time('/runs'),
        runsFiltered: await time(`/runs?status=failed&by=${encodeURIComponent(seeded.actor)}`),
        run: await time(`/runs/${seeded.sampleRun.id}`),
        scripts: await time('/scripts'),
        audit: await time('/audit'),
      };
      return {
        dashboardMs: median(pages.dashboard),
        dashboardPollMs: median(pages.dashboardPoll),
        jobsMs: median(pages.jobs),
        jobsSearchMs: median(pages.jobsSearch),
        jobMs: median(pages.job),
        runsMs: median(pages.runs),
        runsFilteredMs: median(pages.runsFiltered),
        runMs: median(pages.run),
        scriptsMs: median(pages.scripts),
        auditMs: median(pages.audit),
        worstP95Ms: Math.max(...Object.values(pages).map((values) => percentile(values, 95))),
        jobs,
        runs,
        events: seeded.events,
        seedMs,
        bootMs,
      };
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Warm-up requests, then `samples` timed ones; every answer must be a 200 page. */
async function measure(base: string, path: string, partial: boolean, samples: number): Promise<number[]> {
  const headers: Record<string, string> = { authorization: `Bearer ${KEY}`, 'x-actor': 'bench', 'hx-request': 'true', 'hx-request-type': partial ? 'partial' : 'full' };
  const once = async (): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${base}${path}`, { headers });
    const body = await response.text();
    const elapsed = performance.now() - started;
    if (response.status !== 200 || !body.includes('<')) throw new Error(`${path}: HTTP ${response.status}`);
    return elapsed;
  };
  for (let i = 0; i < 5; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await once());
  return times;
}

/** `node dist/bench/pages-bench.js`: runs the benchmark alone and prints its figures. */
if (require.main === module) {
  benchPages()
    .then((result) => process.stdout.write(`${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v), 2)}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
}
