import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RunLifecycle, type RunLifecycleNote } from '../logging/run-lifecycle';
import type { RunOutputAppended } from '../runs/run.events';
import { RunsReadModel, type RunStatus } from '../runs/runs.read-model';
import { RunnerPresence } from '../runners/runner-presence';
import { Clock } from '../shared/clock';
import { JobLabels } from './job-labels';
import { AppendFeed, type AppendNotice } from './observed-event-store';
import { ProjectionLag } from './projection-lag';

/** Jobs with a `job` label of their own in the run duration histogram; the rest are `other` (see JobLabels). */
export const MAX_JOB_LABELS = 50;

/** Run durations: a second to a day. */
const RUN_DURATION_BUCKETS = [0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600];
/** Appends: a fsync'd SQLite commit takes about a millisecond; EventStoreDB a few over the network. */
const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Counts taken this recently (ms) serve the rest of the same scrape. */
const SCRAPE_MS = 100;
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The server's Prometheus metrics, in a registry of its own (not prom-client's global
 * one, so that several applications in one test process do not collide). Gauges are
 * computed when scraped, from the read models; counters and histograms are fed by the
 * run lifecycle, the event store's appends and the HTTP middleware.
 */
@Injectable()
export class Metrics implements OnModuleInit, OnApplicationShutdown {
  readonly registry = new Registry();
  private readonly jobLabels = new JobLabels(MAX_JOB_LABELS);
  private readonly unsubscribe: Array<() => void> = [];

  private readonly runDuration = new Histogram({
    name: 'endercompute_run_duration_seconds',
    help: `Time from a run's start to its end, by job and final status; runs that never started are not counted. The first ${MAX_JOB_LABELS} jobs this process sees have their own job label, later ones are "other".`,
    labelNames: ['job', 'status'] as const,
    buckets: RUN_DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly outputBytes = new Counter({
    name: 'endercompute_run_output_bytes_total',
    help: 'Bytes of run output this server stored (as the runs wrote them, before compression).',
    registers: [this.registry],
  });

  private readonly appendSeconds = new Histogram({
    name: 'endercompute_event_store_append_seconds',
    help: 'Time of each append to the event store by this server, by outcome (ok, or error: conflicts and failures).',
    labelNames: ['outcome'] as const,
    buckets: APPEND_BUCKETS,
    registers: [this.registry],
  });

  /** HTTP request durations, by method, route pattern (`/api/runs/:id`; `unmatched` for static files and unknown paths) and status class. */
  readonly httpSeconds = new Histogram({
    name: 'endercompute_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route pattern ("unmatched" for static files and unknown paths) and status class (2xx, 4xx, …). Live streams count until they end.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  constructor(
    runs: RunsReadModel,
    lag: ProjectionLag,
    private readonly feed: AppendFeed,
    private readonly lifecycle: RunLifecycle,
    clock: Clock,
    presence: RunnerPresence,
  ) {
    const now = (): Date => clock.now();
    // One count per scrape: three gauges read it, and each count reads the status index.
    let counted: { at: number; counts: Record<RunStatus, number> } | null = null;
    const statusCounts = (): Record<RunStatus, number> => {
      const at = clock.now().getTime();
      if (counted === null || at - counted.at > SCRAPE_MS) counted = { at, counts: runs.countByStatus(new Date(at)) };
      return counted.counts;
    };
    new Gauge({
      name: 'endercompute_runs',
      help: 'Runs in the read model by status now (every runner, not only this server).',
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        for (const [status, count] of Object.entries(statusCounts())) this.set({ status }, count);
      },
    });
    this.gauge('endercompute_queue_length', 'Runs waiting for a runner whose time has come.', () => runs.queuedCount(now()));
    this.gauge('endercompute_runs_running', 'Runs running now (every runner).', () => statusCounts().running);
    this.gauge('endercompute_runs_paused', 'Runs paused now (every runner).', () => statusCounts().paused);
    this.gauge(
      'endercompute_projection_lag_events',
      'Events in the log the read models have not applied yet (0 when caught up; counted up to 1000 on EventStoreDB).',
      () => lag.events(),
    );
    this.gauge(
      'endercompute_job_servers_connected',
      'Job servers (remote runners) connected to this server: heard from within ENDERCOMPUTE_RUNNER_LOST_SECONDS and not offline since. Each talks to one server, so a sum over servers counts each once.',
      () => presence.connectedHere(),
    );
    collectDefaultMetrics({ register: this.registry });
  }

  onModuleInit(): void {
    this.unsubscribe.push(
      this.feed.listen((notice) => this.observeAppend(notice)),
      this.lifecycle.onNote((note) => this.observeRun(note)),
    );
  }

  /** Last, as the run lifecycle: the runs a graceful stop ends (after modules are destroyed) are still counted. */
  onApplicationShutdown(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }

  /** A gauge without labels, read when scraped. */
  private gauge(name: string, help: string, read: () => number | Promise<number>): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  /** The metrics in Prometheus' text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private observeAppend(notice: AppendNotice): void {
    this.appendSeconds.observe({ outcome: notice.result === null ? 'error' : 'ok' }, notice.seconds);
    if (notice.result === null) return;
    for (const event of notice.events) {
      if (event.type !== 'RunOutputAppended') continue;
      const data = event.data as RunOutputAppended['data'];
      // The first form of output events had no length: its data was the raw bytes in base64.
      this.outputBytes.inc(data.length ?? Buffer.byteLength(data.data, 'base64'));
    }
  }

  private observeRun(note: RunLifecycleNote): void {
    if (note.kind !== 'finished' || note.durationSeconds === null) return;
    this.runDuration.observe({ job: this.jobLabels.labelOf(note.job), status: note.status }, note.durationSeconds);
  }
}
