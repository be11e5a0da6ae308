import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { ProjectionEngine } from '../../projections/projection-engine';
import { canTake, waitingForRunner } from '../../runners/placement';
import { OnlineRunners } from '../../runners/online-runners';
import { Clock } from '../../shared/clock';
import { isNotOutput } from '../run.events';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { DISK_CHECK_INTERVAL_MS, DiskSpaceCheck, diskShortage } from './disk-space';
import { JobConcurrency } from './job-concurrency';
import { RunExecutor } from './run-executor';

/** setTimeout cannot wait longer than about 24.8 days; a later run is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After starting queued runs failed (a full disk, the store away), the next try. */
const RETRY_AFTER_FAILURE_MS = 2_000;
/** How many queued runs are read at once while looking for one that may start. */
const QUEUE_PAGE = 50;

/**
 * Starts queued runs first in, first out while this server's runner has room
 * (`ENDERCOMPUTE_MAX_CONCURRENT_RUNS`; a paused run keeps its place), and wakes
 * up when a scheduled run's time comes. A job with `maxConcurrent` never has
 * more runs executing than that, on any runner; its other runs wait without
 * holding up the runs of other jobs behind them. It starts only runs this server's
 * runner may take (its `ENDERCOMPUTE_RUNNER_LABELS` cover the run's `runsOn`, see
 * `runners/placement.ts`); the others wait for a runner that has the labels, without
 * holding up the runs behind them either. With `ENDERCOMPUTE_LOCAL_RUNNER=false` it
 * starts nothing. It reacts to read-model changes and to runs ending, so a request
 * starts within milliseconds rather than at the next poll.
 *
 * Runs do not start while the disk holding the work directories has less free space
 * than `ENDERCOMPUTE_MIN_FREE_BYTES`: they stay queued, their `waitingFor` says why, the
 * log says it once when the shortage begins and once when it ends, and the scheduler
 * looks again every few seconds. (A job server, once there are any, checks its own disk.)
 */
@Injectable()
export class RunScheduler implements OnApplicationShutdown {
  private readonly logger = new Logger(RunScheduler.name);
  private pumping = false;
  private pumpAgain = false;
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private diskTimer: NodeJS.Timeout | null = null;
  private unsubscribe: Array<() => void> = [];
  /** Why no run may start on this runner now (a disk short of space), or null. */
  private hold: string | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly runs: RunsReadModel,
    private readonly executor: RunExecutor,
    private readonly projections: ProjectionEngine,
    private readonly clock: Clock,
    private readonly disk: DiskSpaceCheck,
    private readonly runners: OnlineRunners,
    private readonly concurrency: JobConcurrency,
  ) {}

  start(): void {
    // A server that executes nothing itself: job servers take its runs.
    if (!this.config.localRunner) return;
    this.stopped = false;
    this.unsubscribe = [
      this.projections.onChange(() => this.pump(), isNotOutput),
      this.executor.onRunEnded(() => this.pump()),
      // A claim given up elsewhere here frees its job's place without a change in the log.
      this.concurrency.onRelease(() => this.pump(), this),
    ];
    this.pump();
  }

  /** Stops starting runs; running ones go on, and queued ones stay queued (in the log) for the next start. */
  stop(): void {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.unsubscribe = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.diskTimer) clearTimeout(this.diskTimer);
    this.diskTimer = null;
  }

  /**
   * Why a queued run has not started yet, for a person (`waitingFor` in the API), or
   * null when it is not waiting for anything but its turn (or is not queued at all).
   * In order: no online runner may take it ("a runner with labels linux, gpu"), the
   * run's job is at its `maxConcurrent`; then, when only this server's runner may take
   * it: this runner holds every start (a disk short of space), every slot is taken.
   */
  waitingFor(run: RunRecord, now: Date): string | null {
    if (run.phase !== 'waiting' || this.runs.statusOf(run, now) !== 'queued') return null;
    const online = this.runners.online();
    const noRunner = waitingForRunner(run.runsOn, online);
    if (noRunner !== null) return this.config.localRunner ? noRunner : `${noRunner}; this server executes no runs itself (ENDERCOMPUTE_LOCAL_RUNNER=false)`;
    const limit = this.concurrency.limitOf(run);
    if (limit !== null && !this.concurrency.hasRoom(run)) return `a place under its job's limit: ${limit} of its runs ${limit === 1 ? 'is' : 'are'} executing (maxConcurrent ${limit})`;
    // Another runner may take it: this runner's disk and slots are not what it waits for.
    if (online.some((runner) => runner.name !== this.config.runnerId && canTake(runner.labels, run.runsOn))) return null;
    if (this.hold !== null) return this.hold;
    const active = this.executor.activeCount;
    if (active >= this.config.maxConcurrentRuns) return `a free slot: all ${active} are taken (ENDERCOMPUTE_MAX_CONCURRENT_RUNS)`;
    return null;
  }

  onApplicationShutdown(): void {
    this.stop();
  }

  /** Starts as many queued runs as there is room for; safe to call at any time. */
  pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.fill()
      .catch((error: unknown) => {
        this.logger.error(`Starting queued runs failed: ${String(error)}`);
        // Nothing else may wake the queue (a full disk refuses the claim): try again shortly, so it recovers by itself.
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, RETRY_AFTER_FAILURE_MS).unref();
      })
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      });
  }

  /**
   * How many runs are queued now that no online runner may take (what the dashboard
   * notes), counted per distinct `runsOn` from the queue index.
   */
  waitingForRunnerCount(now: Date): number {
    const online = this.runners.online();
    return this.runs.queuedByRunsOn(now).reduce((sum, { runsOn, count }) => sum + (waitingForRunner(runsOn, online) !== null ? count : 0), 0);
  }

  private async fill(): Promise<void> {
    if (!this.config.localRunner) return;
    if (!(await this.diskAllowsStarts())) {
      this.armTimer();
      return;
    }
    while (!this.stopped && this.executor.activeCount < this.config.maxConcurrentRuns) {
      const next = this.nextToStart();
      if (!next) break;
      // Its place under its job's limit is held while claiming: a job server's claim here cannot take it meanwhile.
      const release = this.concurrency.reserve(next, this);
      // Not claimed: another runner won it, or it changed; the read model will catch up. Claimed: the executor counts it.
      const claimed = await this.executor.claimAndStart(next).finally(release);
      if (!claimed) this.concurrency.markStale(next.id);
    }
    this.armTimer();
  }

  /**
   * The first queued run that may start here now, read from the queue a page at a time:
   * only runs this runner's labels cover are read at all.
   */
  private nextToStart(): RunRecord | undefined {
    const now = this.clock.now();
    const labels = this.config.runnerLabels;
    let after: RunRecord | undefined;
    for (;;) {
      const page = this.runs.queuedFor(labels, now, QUEUE_PAGE, after);
      const next = page.find((run) => !this.concurrency.isStale(run.id) && !this.executor.isActive(run.id) && canTake(labels, run.runsOn) && this.concurrency.hasRoom(run));
      if (next || page.length < QUEUE_PAGE) return next;
      after = page[page.length - 1];
    }
  }

  /**
   * Whether the work directories' disk has room for new runs. While it has not, a timer
   * looks again every few seconds (a freed disk wakes nothing else); the log gets one
   * warning when the shortage begins and one line when it ends, not one per look.
   */
  private async diskAllowsStarts(): Promise<boolean> {
    if (this.config.minFreeBytes === 0) return true;
    // Only worth a look when a run could start now.
    if (this.executor.activeCount >= this.config.maxConcurrentRuns || this.runs.queuedFor(this.config.runnerLabels, this.clock.now(), 1).length === 0) return this.hold === null;
    const shortage = diskShortage(await this.disk.measure());
    if (shortage !== null) {
      if (this.hold === null) this.logger.warn(`New runs are held: ${shortage}`);
      this.hold = shortage;
      this.diskTimer ??= setTimeout(() => {
        this.diskTimer = null;
        this.pump();
      }, DISK_CHECK_INTERVAL_MS).unref();
      return false;
    }
    if (this.hold !== null) this.logger.log('Disk space is back above ENDERCOMPUTE_MIN_FREE_BYTES: queued runs start again');
    this.hold = null;
    return true;
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = this.clock.now();
    const next = this.runs.nextScheduledTime(now);
    if (next === null) return;
    this.timer = setTimeout(() => this.pump(), Math.min(MAX_TIMER_MS, Math.max(0, next - now.getTime()) + 5));
    this.timer.unref();
  }
}
