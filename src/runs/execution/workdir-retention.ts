import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { JobsReadModel } from '../../jobs/jobs.read-model';
import { Clock } from '../../shared/clock';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { removeWorkdir, workdirPathOf, workRootOf } from './workdir-removal';

/** A finished run's work directory kept for debugging. */
export interface KeptWorkdir {
  runId: string;
  path: string;
  /** ISO time the run finished: the oldest go first. */
  finishedAt: string;
}

/**
 * Of the kept directories, those beyond the `limit` newest by finish time (ties:
 * by run id, so the choice is stable), which are to be removed. Pure.
 */
export function beyondLimit(kept: readonly KeptWorkdir[], limit: number): KeptWorkdir[] {
  const newestFirst = [...kept].sort((a, b) => (a.finishedAt !== b.finishedAt ? (a.finishedAt < b.finishedAt ? 1 : -1) : a.runId < b.runId ? 1 : -1));
  return newestFirst.slice(Math.max(0, limit));
}

/**
 * What becomes of run work directories on this server (`<data>/work/…`). A run's
 * directory (with the sandbox's private HOME and /tmp inside it) is removed once
 * its end is recorded, whatever the outcome, unless its job has `keepWorkdir`:
 * then it is kept, at most `ENDERCOMPUTE_KEEP_WORKDIRS` in all, the oldest by
 * finish time removed first. At start, {@link sweep} removes what a stop left
 * behind. Removal happens in the background, one directory at a time, so it never
 * delays recording a run's end or starting the next run; a failure is logged with
 * the path and tried again at the next start, never thrown.
 *
 * Which directories are kept is known to this server only (they are on its disk):
 * for a run another server's runner executed, {@link workdirKept} cannot tell.
 */
@Injectable()
export class WorkdirRetention {
  private readonly logger = new Logger(WorkdirRetention.name);
  /** Kept directories of finished runs, by run id. */
  private readonly kept = new Map<string, KeptWorkdir>();
  /** Removals in order, one at a time: a burst of short runs does not start thousands of removals at once. */
  private queue: Promise<void> = Promise.resolve();
  /** Whether this server's runner is executing a run (set by the executor; see {@link trackActiveRuns}). */
  private isActive: (runId: string) => boolean = () => false;

  constructor(
    private readonly config: AppConfig,
    private readonly jobs: JobsReadModel,
    private readonly runs: RunsReadModel,
    private readonly clock: Clock,
  ) {}

  /** The work directory of a run on this server. */
  pathOf(run: Pick<RunRecord, 'jobId' | 'jobName' | 'number'>): string {
    return workdirPathOf(this.config.dataDir, run);
  }

  /**
   * The executor tells which runs it is executing: their directories are never
   * swept, and a run whose end is recorded but not yet handed to {@link runEnded}
   * is shown as its job's setting will decide.
   */
  trackActiveRuns(isActive: (runId: string) => boolean): void {
    this.isActive = isActive;
  }

  /**
   * Call once a run this server executed has its `RunFinished` recorded: keeps
   * its directory `workdir` (its job has `keepWorkdir`) or queues its removal.
   * Returns at once and never throws.
   */
  runEnded(run: Pick<RunRecord, 'id' | 'jobId'>, workdir: string): void {
    if (this.keeps(run.jobId)) {
      this.kept.set(run.id, { runId: run.id, path: workdir, finishedAt: this.clock.now().toISOString() });
      this.removeBeyondLimit();
    } else {
      this.remove(workdir);
    }
  }

  /**
   * At start, after recovery has ended the runs cut short: looks through
   * `<data>/work` for directories of runs that are finished according to the read
   * model and not active here, keeps those of jobs with `keepWorkdir`
   * (up to the limit, newest first) and queues the removal of the rest. Resolves
   * once the directories are looked through (the removals go on in the
   * background; see {@link idle}). Directories of unknown or unfinished runs, and
   * anything that is not a plain directory, are left alone. Never throws.
   */
  async sweep(): Promise<void> {
    let found: Array<{ run: RunRecord; path: string }>;
    try {
      found = await this.finishedRunDirectories();
    } catch (error) {
      this.logger.warn(`Could not look through ${workRootOf(this.config.dataDir)} for work directories to remove: ${String(error)}`);
      return;
    }
    for (const { run, path } of found) {
      if (this.kept.has(run.id)) continue;
      if (this.keeps(run.jobId)) this.kept.set(run.id, { runId: run.id, path, finishedAt: run.finishedAt ?? run.requestedAt });
      else this.remove(path);
    }
    this.removeBeyondLimit();
  }

  /**
   * For the run's view: true when the run has finished and its work directory is
   * kept on this server; false when it was removed (or never made); null while
   * the run has not finished, or when another server's runner executed it.
   */
  workdirKept(run: RunRecord): boolean | null {
    if (run.phase !== 'finished') return null;
    if (this.kept.has(run.id)) return true;
    // Its end is in the log but the executor has not handed it over yet (a moment): what runEnded will decide.
    if (this.isActive(run.id)) return this.keeps(run.jobId);
    return run.runner === null || run.runner === this.config.runnerId ? false : null;
  }

  /** Resolves when every removal queued so far is done. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Whether a run of this job that ends now keeps its directory. */
  private keeps(jobId: string): boolean {
    return this.jobs.get(jobId)?.keepWorkdir === true && this.config.keepWorkdirs > 0;
  }

  private removeBeyondLimit(): void {
    for (const entry of beyondLimit([...this.kept.values()], this.config.keepWorkdirs)) {
      this.kept.delete(entry.runId);
      this.remove(entry.path);
    }
  }

  private remove(path: string): void {
    const root = workRootOf(this.config.dataDir);
    this.queue = this.queue.then(async () => {
      try {
        await removeWorkdir(root, path);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.logger.warn(`Could not remove the work directory ${path} (tried again at the next start): ${reason}`);
      }
    });
  }

  /** Directories `<root>/<job folder>/<number>` that belong to runs finished and not active here. */
  private async finishedRunDirectories(): Promise<Array<{ run: RunRecord; path: string }>> {
    const root = workRootOf(this.config.dataDir);
    const found: Array<{ run: RunRecord; path: string }> = [];
    for (const jobFolder of await listDirectories(root)) {
      const runOf = this.runsOfFolder(jobFolder);
      if (!runOf) continue;
      for (const name of await listDirectories(join(root, jobFolder))) {
        const run = /^[1-9]\d{0,15}$/.test(name) ? runOf(Number(name)) : undefined;
        const path = join(root, jobFolder, name);
        // Only the run's own path: a folder of the same job named after another slug is not it.
        if (!run || run.phase !== 'finished' || this.isActive(run.id) || this.pathOf(run) !== path) continue;
        found.push({ run, path });
      }
    }
    return found;
  }

  /**
   * The run a job folder (`<job-slug>-<job-id>`) holds under a number, or null when no
   * job with runs matches the folder; the id is whatever follows a dash (the last such
   * job that has a run of that number).
   */
  private runsOfFolder(folder: string): ((number: number) => RunRecord | undefined) | null {
    const jobIds: string[] = [];
    for (let dash = folder.indexOf('-'); dash >= 0; dash = folder.indexOf('-', dash + 1)) {
      const jobId = folder.slice(dash + 1);
      if (this.runs.countForJob(jobId) > 0) jobIds.unshift(jobId);
    }
    if (jobIds.length === 0) return null;
    return (number) => {
      for (const jobId of jobIds) {
        const run = this.runs.byNumber(jobId, number);
        if (run) return run;
      }
      return undefined;
    };
  }
}

/** Names of the plain directories in `path` (symbolic links are not followed); none when it does not exist. */
async function listDirectories(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}
