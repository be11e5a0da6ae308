/**
 * Page benchmark: server time per page at the median with 10,000 jobs and
 * 100,000 runs. The log is seeded straight through the event store port with
 * the events the server itself writes (templates, jobs, and runs with their
 * whole life), the application is booted in this process on that log (so its
 * read models are rebuilt by replay, as at a real start), and each page is
 * requested over loopback with the key. A round trip is an upper bound on the
 * server's time for the page.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/app-config';
import type { EventStore, NewEvent } from '../src/event-store/event-store.port';
import { SqliteEventStore } from '../src/event-store/sqlite-event-store';
import { configureHttp } from '../src/http/configure-http';
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
const SCRIPTS = 25;
const ACTORS = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov', 'Ken Thompson', 'scheduler'];
const TAGS = ['nightly', 'backend', 'frontend', 'release', 'db', 'infra', 'tests', 'docs', 'perf', 'security'];
const WORDS = ['build', 'deploy', 'test', 'backup', 'report', 'sync', 'lint', 'index', 'export', 'migrate', 'clean', 'scan'];

/** Seeds the log and measures every main page. Options exist for quick trial runs. */
export async function benchPages(options: { jobs?: number; runs?: number; samples?: number } = {}): Promise<PagesBenchResult> {
  const jobs = options.jobs ?? 10_000;
  const runs = options.runs ?? 100_000;
  const samples = options.samples ?? 30;
  const dataDir = mkdtempSync(join(tmpdir(), 'endercompute-pages-bench-'));
  try {
    const seedStarted = performance.now();
    const store = SqliteEventStore.open(join(dataDir, 'events.db'));
    const seeded = await seed(store, jobs, runs);
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
        job: await time(`/jobs/${seeded.busyJobId}`),
        runs: await time('/runs'),
        runsFiltered: await time(`/runs?status=failed&by=${encodeURIComponent('Grace Hopper')}`),
        run: await time(`/runs/${seeded.sampleRunId}`),
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

interface Seeded {
  events: number;
  busyJobId: string;
  sampleRunId: string;
  searchWord: string;
}

/**
 * Templates, jobs (names, descriptions, tags), and runs spread over the last
 * 60 days: most finished (succeeded, failed, some cancelled, timed out or
 * lost), a few running on another runner (left alone by this server's
 * recovery), a few scheduled for tomorrow. Each run has a snapshot and a little output.
 */
async function seed(store: EventStore, jobCount: number, runCount: number): Promise<Seeded> {
  let events = 0;
  const start = Date.now() - 60 * 86_400_000;
  const span = 60 * 86_400_000 - 3_600_000;
  let clock = 0;
  const totalSteps = SCRIPTS + jobCount + runCount;
  const at = (): string => new Date(start + Math.floor((clock++ / totalSteps) * span)).toISOString();
  const make = (type: string, data: unknown, actor: string, time: string, source = 'web'): NewEvent => ({
    id: randomUUID(),
    type,
    data,
    metadata: { actor, at: time, correlationId: randomUUID(), causationId: null, source },
  });
  const pending: Array<Promise<unknown>> = [];
  const flush = async (force = false): Promise<void> => {
    if (pending.length >= 400 || (force && pending.length > 0)) await Promise.all(pending.splice(0));
  };

  const scripts: Array<{ id: string; name: string; body: string }> = [];
  for (let s = 0; s < SCRIPTS; s++) {
    const id = `benchscr${String(s).padStart(4, '0')}`;
    const body = `#!/usr/bin/env bash\nset -euo pipefail\n# ${WORDS[s % WORDS.length]} step ${s}\n./run.sh "$@"\n`;
    scripts.push({ id, name: `${WORDS[s % WORDS.length]} template ${s}`, body });
    pending.push(store.append(`script-${id}`, [make('ScriptCreated', { scriptId: id, name: scripts[s].name, interpreter: 'bash', body }, ACTORS[s % 6], at())], 'no_stream'));
    events++;
  }
  await flush(true);

  const jobIds: string[] = [];
  const jobNames: string[] = [];
  for (let j = 0; j < jobCount; j++) {
    const id = `benchjob${String(j).padStart(6, '0')}`;
    const name = `${WORDS[j % WORDS.length]}-${TAGS[j % TAGS.length]}-${j}`;
    jobIds.push(id);
    jobNames.push(name);
    const data = {
      jobId: id,
      name,
      description: `Runs the ${WORDS[(j * 7) % WORDS.length]} of service ${j % 97} for the ${TAGS[(j * 3) % TAGS.length]} team.`,
      scriptId: scripts[j % SCRIPTS].id,
      args: ['--target', `service-${j % 97}`],
      env: { STAGE: j % 2 ? 'prod' : 'staging' },
      tags: [TAGS[j % TAGS.length], TAGS[(j * 3 + 1) % TAGS.length]].filter((t, i, all) => all.indexOf(t) === i),
      timeoutSeconds: j % 5 === 0 ? 3600 : null,
    };
    pending.push(store.append(`job-${id}`, [make('JobCreated', data, ACTORS[j % 6], at())], 'no_stream'));
    events++;
    await flush();
  }
  await flush(true);

  const numbers = new Map<string, number>();
  const output = (text: string): string => Buffer.from(text).toString('base64');
  let sampleRunId = '';
  for (let r = 0; r < runCount; r++) {
    // Some jobs run far more often than others, as in real use.
    const jobIndex = r % 10 < 3 ? r % 50 : (r * 7919) % jobCount;
    const jobId = jobIds[jobIndex];
    const number = (numbers.get(jobId) ?? 0) + 1;
    numbers.set(jobId, number);
    const runId = `${jobId}-${number}`;
    const script = scripts[jobIndex % SCRIPTS];
    const actor = ACTORS[r % ACTORS.length];
    const requestedAt = at();
    const startedAt = new Date(Date.parse(requestedAt) + 800).toISOString();
    const finishedAt = new Date(Date.parse(requestedAt) + 800 + ((r * 37) % 600_000)).toISOString();
    const remaining = runCount - r;
    const scheduled = remaining <= 30;
    const running = !scheduled && remaining <= 50;
    const snapshot = {
      scriptId: script.id,
      scriptName: script.name,
      scriptVersion: 0,
      interpreter: 'bash',
      body: script.body,
      jobVersion: 0,
      args: ['--target', `service-${jobIndex % 97}`, `--build=${r}`],
      env: { STAGE: jobIndex % 2 ? 'prod' : 'staging' },
      files: [],
      timeoutSeconds: null,
    };
    const requested = make(
      'RunRequested',
      {
        runId,
        jobId,
        jobName: jobNames[jobIndex],
        number,
        snapshot,
        extra: { args: [`--build=${r}`], env: {}, files: [] },
        scheduledFor: scheduled ? new Date(Date.now() + 86_400_000 + r).toISOString() : null,
        rerunOf: null,
      },
      actor,
      requestedAt,
    );
    const life: NewEvent[] = [requested];
    if (!scheduled) {
      const runner = running ? 'bench-remote-runner' : 'bench-runner';
      const system = (type: string, data: unknown, time: string) => make(type, data, 'runner', time, 'runner');
      const text = `building service ${jobIndex % 97}\nstep 1 ok\nstep 2 ok\n${r % 9 === 0 ? 'error: tests failed\n' : 'done\n'}`;
      life.push(
        system('RunClaimed', { runId, runner, workdir: `/data/work/${jobId}/${number}` }, startedAt),
        system('RunStarted', { runId, runner, pid: 10_000 + (r % 50_000), processStartTicks: null, workdir: `/data/work/${jobId}/${number}` }, startedAt),
        system('RunOutputAppended', { runId, offset: 0, data: output(text), pieces: [{ stream: 'stdout', length: Buffer.byteLength(text) }] }, startedAt),
      );
      if (!running) {
        const status = r % 9 === 0 ? 'failed' : r % 97 === 0 ? 'cancelled' : r % 211 === 0 ? 'timed_out' : r % 503 === 0 ? 'lost' : 'succeeded';
        const exitCode = status === 'succeeded' ? 0 : status === 'failed' ? 1 : null;
        const signal = status === 'cancelled' || status === 'timed_out' ? 'SIGTERM' : null;
        life.push(
          system('RunFinished', { runId, status, exitCode, signal, outputBytes: Buffer.byteLength(text), droppedBytes: 0, reason: status === 'lost' ? 'The server stopped' : null }, finishedAt),
        );
        if (jobIndex === 0) sampleRunId = runId;
      }
    }
    pending.push(store.append(`run-${runId}`, life, 'no_stream'));
    events += life.length;
    await flush();
  }
  await flush(true);
  return { events, busyJobId: jobIds[0], sampleRunId, searchWord: WORDS[3] };
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
