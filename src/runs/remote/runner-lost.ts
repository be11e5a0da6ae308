import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { EventStore } from '../../event-store/event-store.port';
import { RunnerPresence } from '../../runners/runner-presence';
import { Clock } from '../../shared/clock';
import { ConflictError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { RunWriter } from '../execution/run-writer';
import { endLost } from '../run.decider';
import { RunsReadModel, type RunRecord } from '../runs.read-model';

/**
 * Whether a job server's run is lost: its runner has not been heard from for
 * `lostSeconds` since the latest of its last contact, the run's start, and the
 * moment this server began watching the run (so a server that just started gives
 * every remote run the whole time). Pure; times in ms since the epoch.
 */
export function isLost(times: { lastContact: number | null; startedAt: number | null; watchedSince: number }, now: number, lostSeconds: number): boolean {
  const latest = Math.max(times.lastContact ?? 0, times.startedAt ?? 0, times.watchedSince);
  return now - latest > lostSeconds * 1000;
}

/**
 * Since when (ms, this server's clock) a job server's requests leave out a run it started:
 * `firstMissing` as it stood (null: not missing), updated by its latest report here, or
 * null when that report names the run or is not newer than its start. The run is lost
 * once reports spanning `ENDERCOMPUTE_RUNNER_LOST_SECONDS` all left it out: a job server
 * lists every run it executes in every request from the moment it begins one until its
 * end is acknowledged, so only a request sent before the run began can leave it out
 * while it runs, and the next one names it. Pure.
 */
export function missingSince(report: { running: ReadonlySet<string>; at: number } | null, runId: string, startedAt: number | null, firstMissing: number | null): number | null {
  if (report === null || startedAt === null || report.at <= startedAt || report.running.has(runId)) return null;
  return firstMissing ?? report.at;
}

/**
 * The lost rule for runs executed by job servers: such a run ends `lost` only after
 * `ENDERCOMPUTE_RUNNER_LOST_SECONDS` without contact from its runner. Contact is known
 * to every server sharing the store through `RunnerPresence.lastContactAt` (from the
 * log), and to the server the runner talks to at once (every request). Every server
 * checks every few seconds; ending a run is an append with the expected revision, so
 * when several find it lost at once exactly one records it. A server's start-up
 * recovery leaves remote runs alone (it only ends its own runner's): this rule decides.
 *
 * A job server that keeps talking but no longer lists a run it started (it was
 * restarted without its spools: a new container, another work directory) has lost it
 * too: the server it talks to ends the run `lost` once its requests have left the run
 * out for the same time (see {@link missingSince}).
 */
@Injectable()
export class RunnerLostWatch implements OnApplicationShutdown {
  private readonly logger = new Logger(RunnerLostWatch.name);
  private timer: NodeJS.Timeout | null = null;
  /** Runs seen executing on another runner: whether a job server claimed it, and since when this server watches it. */
  private readonly watched = new Map<string, { remote: boolean; since: number }>();
  /** Remote runs their job server's requests here leave out, and since when (see {@link missingSince}). */
  private readonly unreported = new Map<string, number>();
  private checking = false;

  constructor(
    private readonly config: AppConfig,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly presence: RunnerPresence,
  ) {}

  /**
   * Starts checking, every quarter of the silence allowed (0.25–5 s). Called by `Startup`
   * once the read models have caught up with the log: a check on a half-built view would
   * miss runs, or see runs as executing that ended since.
   */
  start(): void {
    if (this.timer) return;
    const every = Math.min(5_000, Math.max(250, (this.config.runnerLostSeconds * 1000) / 4));
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Ends the remote runs whose runner was silent too long; returns how many it ended. */
  async check(): Promise<number> {
    if (this.checking) return 0;
    this.checking = true;
    let ended = 0;
    try {
      const now = this.clock.now().getTime();
      const executing = this.runs.executingRuns().filter((run) => run.runner !== null && run.runner !== this.config.runnerId);
      const current = new Set(executing.map((run) => run.id));
      for (const id of this.watched.keys()) if (!current.has(id)) this.watched.delete(id);
      for (const id of this.unreported.keys()) if (!current.has(id)) this.unreported.delete(id);
      for (const run of executing) {
        let watch = this.watched.get(run.id);
        if (!watch) {
          watch = { remote: await this.claimedRemotely(run), since: now };
          this.watched.set(run.id, watch);
        }
        if (!watch.remote) continue;
        const runner = run.runner as string;
        // From the log, and fresher where this server heard from the runner itself (see RunnerPresence).
        const lastContact = this.presence.lastContactAt(runner)?.getTime() ?? null;
        const startedAt = run.startedAt === null ? null : Date.parse(run.startedAt);
        const report = this.presence.lastReport(runner);
        const missing = missingSince(report, run.id, startedAt, this.unreported.get(run.id) ?? null);
        if (missing === null) this.unreported.delete(run.id);
        else this.unreported.set(run.id, missing);
        const left = missing !== null && report !== null && report.at - missing >= this.config.runnerLostSeconds * 1000;
        if (left) {
          const reason = `Its job server ${runner} no longer lists it among its runs (for ${this.config.runnerLostSeconds} s, ENDERCOMPUTE_RUNNER_LOST_SECONDS): it was restarted without it`;
          if (await this.markLost(run, reason)) ended++;
          continue;
        }
        if (!isLost({ lastContact, startedAt, watchedSince: watch.since }, now, this.config.runnerLostSeconds)) continue;
        if (await this.markLost(run, `Its job server ${runner} was not heard from for ${this.config.runnerLostSeconds} s (ENDERCOMPUTE_RUNNER_LOST_SECONDS)`)) ended++;
      }
    } catch (error) {
      this.logger.error(`Checking job servers' runs failed: ${String(error)}`);
    } finally {
      this.checking = false;
    }
    return ended;
  }

  private async claimedRemotely(run: RunRecord): Promise<boolean> {
    const writer = await RunWriter.load({ store: this.store, clock: this.clock, ids: this.ids }, run.id, this.contextOf(run));
    return writer?.current.remote === true;
  }

  private async markLost(run: RunRecord, reason: string): Promise<boolean> {
    const writer = await RunWriter.load({ store: this.store, clock: this.clock, ids: this.ids }, run.id, this.contextOf(run));
    if (writer === null || writer.current.phase === 'finished') return false;
    try {
      await writer.record(endLost(run.id, reason));
    } catch (error) {
      // Another server recorded it first, or the runner reported the end meanwhile.
      if (error instanceof ConflictError) return false;
      throw error;
    }
    this.logger.warn(`Run ${run.id} is lost: ${reason}`);
    return true;
  }

  private contextOf(run: RunRecord): { actor: string; source: string; correlationId: string; causationId: string | null } {
    return { actor: 'system', source: 'system', correlationId: run.correlationId, causationId: run.requestEventId };
  }
}
