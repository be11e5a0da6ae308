import { Injectable } from '@nestjs/common';
import { JobsReadModel } from '../../jobs/jobs.read-model';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { RunExecutor } from './run-executor';

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
 */
@Injectable()
export class JobConcurrency {
  /** Claims under way on this server, one entry per claimer. */
  private readonly claiming = new Map<symbol, { runId: string; jobId: string }>();
  private readonly releaseListeners = new Set<() => void>();

  constructor(
    private readonly jobs: JobsReadModel,
    private readonly runs: RunsReadModel,
    private readonly executor: RunExecutor,
  ) {}

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
   * Takes the run's place under its job's limit for a claim about to be made. Call it in
   * the same turn as {@link hasRoom}; the returned function gives this reservation back
   * (once; later calls do nothing), when the claim failed or the read model (or this
   * runner's executor) counts the run. Giving one back tells {@link onRelease}'s listeners.
   */
  reserve(run: Pick<RunRecord, 'id' | 'jobId'>): () => void {
    const token = Symbol(run.id);
    this.claiming.set(token, { runId: run.id, jobId: run.jobId });
    return () => {
      if (!this.claiming.delete(token)) return;
      for (const listener of this.releaseListeners) listener();
    };
  }

  /**
   * Calls `listener` after a reservation is given back: a place may be free again without
   * anything written to the log (a claim that failed), and whoever skipped the job's runs
   * meanwhile looks again. Returns the unsubscribe.
   */
  onRelease(listener: () => void): () => void {
    this.releaseListeners.add(listener);
    return () => this.releaseListeners.delete(listener);
  }
}
