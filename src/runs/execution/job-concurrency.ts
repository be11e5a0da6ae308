import { Injectable } from '@nestjs/common';
import { JobsReadModel } from '../../jobs/jobs.read-model';
import { ProjectionEngine } from '../../projections/projection-engine';
import { runStream } from '../run.events';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { RunExecutor } from './run-executor';

const RUN_STREAM_PREFIX = runStream('');
/** How long a run a claim found taken in the log is skipped at most, ms (see `JobConcurrency.markStale`). */
const STALE_FOR_MS = 60_000;

/**
 * A job's `maxConcurrent` on this server, for every runner it serves: its own (the
 * scheduler) and job servers (their claims). A run counts against its job's limit
 * while the runs read model shows it claimed, running or paused on any runner, while
 * this server's runner executes it, and while a claim of it by this server is under
 * way (`reserve`, from the check until the read model shows the claim or it failed).
 * A claim reserves its place in the same turn as the check, before anything is
 * awaited: two claims on this server cannot both take a job's last place. Several
 * claimers may go for the same run at once (they wake on the same change); it counts
 * once, and each gives back only its own reservation. Claims on other servers sharing
 * the store count once this server's read model shows them.
 *
 * It also keeps which runs a claim here found already taken in the log ({@link markStale}):
 * until the read models apply what the log has of such a run, they still show it queued,
 * and every claimer woken meanwhile (by a reservation given back, any change) would go
 * for it again and fail again.
 */
@Injectable()
export class JobConcurrency {
  /** Claims under way on this server, one entry per reservation, with who made it. */
  private readonly claiming = new Map<symbol, { runId: string; jobId: string; claimer: object }>();
  /** Listeners of {@link onRelease}, each with the claimer whose own reservations it is not told of. */
  private readonly releaseListeners = new Map<() => void, object | null>();
  /** Runs whose claim here found the log ahead of the read models, with when (epoch ms): see {@link markStale}. */
  private readonly stale = new Map<string, number>();

  constructor(
    private readonly jobs: JobsReadModel,
    private readonly runs: RunsReadModel,
    private readonly executor: RunExecutor,
    projections: ProjectionEngine,
  ) {
    projections.onCommitted((events) => {
      if (this.stale.size === 0) return;
      for (const event of events) if (event.stream.startsWith(RUN_STREAM_PREFIX)) this.stale.delete(event.stream.slice(RUN_STREAM_PREFIX.length));
    });
  }

  /** The job's limit, or null when it has none (or is gone). */
  limitOf(run: Pick<RunRecord, 'jobId'>): number | null {
    return this.jobs.get(run.jobId)?.maxConcurrent ?? null;
  }

  /** Whether one more run of the run's job may be claimed now. */
  hasRoom(run: Pick<RunRecord, 'jobId'>): boolean {
    const limit = this.limitOf(run);
    if (limit === null) return true;
    const counted = new Set(this.runs.executingRunIdsForJob(run.jobId));
    for (const id of this.executor.activeRunIdsForJob(run.jobId)) counted.add(id);
    for (const claim of this.claiming.values()) if (claim.jobId === run.jobId) counted.add(claim.runId);
    return counted.size < limit;
  }

  /**
   * Takes the run's place under its job's limit for a claim about to be made by
   * `claimer` (any object naming who claims: the scheduler, one claim request). Call it
   * in the same turn as {@link hasRoom}; the returned function gives this reservation
   * back (once; later calls do nothing), when the claim failed or the read model (or
   * this runner's executor) counts the run. Giving one back tells {@link onRelease}'s
   * listeners, except the claimer's own: it knows, and one woken by its own failure
   * would try again at once, in a loop while the failure lasts.
   */
  reserve(run: Pick<RunRecord, 'id' | 'jobId'>, claimer: object): () => void {
    const token = Symbol(run.id);
    this.claiming.set(token, { runId: run.id, jobId: run.jobId, claimer });
    return () => {
      if (!this.claiming.delete(token)) return;
      for (const [listener, own] of this.releaseListeners) if (own !== claimer) listener();
    };
  }

  /**
   * Calls `listener` after a reservation is given back: a place may be free again without
   * anything written to the log (a claim that failed), and whoever skipped the job's runs
   * meanwhile looks again. Not for the reservations of `claimer`. Returns the unsubscribe.
   */
  onRelease(listener: () => void, claimer: object | null = null): () => void {
    this.releaseListeners.set(listener, claimer);
    return () => this.releaseListeners.delete(listener);
  }

  /**
   * A claim of the run found it already taken in the log (claimed by another runner,
   * or ended), which the read models do not show yet: claimers skip it ({@link isStale})
   * until they apply an event of the run's stream, instead of failing on it again and
   * again. At most {@link STALE_FOR_MS} (should they have applied it already, between
   * the claimer's look at the queue and its failure, no event may come for long).
   */
  markStale(runId: string, now = Date.now()): void {
    for (const [id, at] of this.stale) if (now - at >= STALE_FOR_MS) this.stale.delete(id);
    this.stale.set(runId, now);
  }

  /** Whether a claim of the run failed on the log and the read models have not caught up with it yet (see {@link markStale}). */
  isStale(runId: string, now = Date.now()): boolean {
    const at = this.stale.get(runId);
    return at !== undefined && now - at < STALE_FOR_MS;
  }
}
