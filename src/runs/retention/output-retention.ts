import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ArtifactStore } from '../../artifacts/artifact-store';
import { AppConfig } from '../../config/app-config';
import { EventStore } from '../../event-store/event-store.port';
import { JobsReadModel } from '../../jobs/jobs.read-model';
import { ProjectionEngine } from '../../projections/projection-engine';
import { Clock } from '../../shared/clock';
import { ConflictError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { RunWriter } from '../execution/run-writer';
import { outputStream, type OutputExpiryRule } from '../run.events';
import { RunsReadModel } from '../runs.read-model';
import { DAY_MS, sweepIntervalMs } from './output-retention.rules';

/**
 * Applies the retention rules (see `output-retention.rules.ts`): at start, every
 * {@link sweepIntervalMs}, and as soon as the read models show a run finished (on any
 * server) or a job's `keepRuns` changed, so `keepRuns` applies at once.
 *
 * Expiring a run's output is two steps: `RunOutputExpired` is appended to the run's
 * stream with the expected revision (so of several servers sweeping together one
 * records it; the others catch up and find nothing to do), then the output stream is
 * deleted. A stop between the two leaves an expired run whose output stream still
 * exists; the first sweep after a start deletes every such stream.
 */
@Injectable()
export class OutputRetention implements OnApplicationShutdown {
  private readonly logger = new Logger(OutputRetention.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | null = null;
  /** Expired runs whose output stream is known to be gone (checked once per process). */
  private readonly deleted = new Set<string>();
  /** Expired runs up to this place in the order they expired have had their output stream deleted. */
  private expiredCursor = -1;

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly jobs: JobsReadModel,
    private readonly projections: ProjectionEngine,
    /** A run's artifacts expire with its output. */
    private readonly artifacts: ArtifactStore,
  ) {}

  /** Sweeps now, then periodically. Call once the read models have caught up. */
  start(): void {
    // A run finished (here or on another server) or a job's keepRuns changed: sweep once the read models show it.
    let seen = this.signature();
    this.unsubscribe = this.projections.onChange(() => {
      const now = this.signature();
      if (now === seen) return;
      seen = now;
      this.requestSweep();
    });
    this.requestSweep();
    const interval = sweepIntervalMs(this.config.keepOutputDays);
    this.timer = setInterval(() => this.requestSweep(), interval);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Asks for a sweep; one runs at a time, and a request during one runs another after it. */
  requestSweep(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sweep()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error(`Retention could not expire output: ${String(error)}`))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.requestSweep();
        }
      });
  }

  /** Resolves when the sweep under way (if any) is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private signature(): string {
    return `${this.runs.finishedCount}:${this.jobs.retentionEpoch}`;
  }

  /** One pass: records and deletes what the rules say expired, and finishes expiries cut short. */
  async sweep(): Promise<number> {
    // The rules of output-retention.rules.ts, answered by the runs read model's indexes.
    const days = this.config.keepOutputDays;
    const cutoff = days === null ? null : this.clock.now().getTime() - days * DAY_MS;
    const due = this.runs.outputsDue(this.jobs.keepingRuns(), cutoff);
    let expired = 0;
    for (const { runId, by } of due) {
      if (await this.expire(runId, by)) expired++;
    }
    // Expired earlier (by this server or another) but perhaps not deleted yet: each looked at once per process.
    for (;;) {
      const page = this.runs.expiredAfter(this.expiredCursor, 500);
      for (const { id, cursor } of page) {
        if (!this.deleted.has(id)) await this.deleteOutput(id);
        this.deleted.delete(id);
        this.expiredCursor = cursor;
      }
      if (page.length < 500) break;
    }
    if (expired > 0) this.logger.log(`Retention expired the output of ${expired} run(s)`);
    return expired;
  }

  private async expire(runId: string, by: OutputExpiryRule): Promise<boolean> {
    const context = { actor: 'system', source: 'system', correlationId: this.ids.newEventId(), causationId: null };
    const writer = await RunWriter.load({ store: this.store, clock: this.clock, ids: this.ids }, runId, context);
    if (writer === null) return false;
    let position;
    try {
      position = await writer.record({ type: 'ExpireOutput', runId, by });
    } catch (error) {
      // Not finished after all (the read model was behind): a later sweep sees it again.
      if (error instanceof ConflictError) return false;
      throw error;
    }
    await this.deleteOutput(runId);
    if (position) await this.projections.waitFor(position).catch(() => undefined);
    return position !== null;
  }

  private async deleteOutput(runId: string): Promise<void> {
    const stream = outputStream(runId);
    // Read first: deleting again on EventStoreDB would write another `$tb` each time.
    const [last] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    if (last) await this.store.deleteStream(stream);
    await this.artifacts.releaseRun(runId, { actor: 'system', source: 'system', correlationId: this.ids.newEventId(), causationId: null });
    this.deleted.add(runId);
  }
}
