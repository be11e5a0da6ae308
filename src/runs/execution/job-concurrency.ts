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
 * awaited: two claims on this server cannot both take a job's last place. Claims on
 * other servers sharing the store count once this server's read model shows them.
 */
@Injectable()
export class JobConcurrency {
  /** Claims under way on this server: run id → job id. */
  private readonly claiming = new Map<string, string>();

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
    for (const [id, jobId] of this.claiming) if (jobId === run.jobId) counted.add(id);
    return counted.size < limit;
  }

  /**
   * Takes the run's place under its job's limit for a claim about to be made. Call it in
   * the same turn as {@link hasRoom}; the returned function gives the place back, once the
   * claim failed or the read model (or this runner's executor) counts the run.
   */
  reserve(run: Pick<RunRecord, 'id' | 'jobId'>): () => void {
    this.claiming.set(run.id, run.jobId);
    return () => this.claiming.delete(run.id);
  }
}
