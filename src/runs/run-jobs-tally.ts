/**
 * What `run_jobs` keeps per job, tallied in memory while the runs read model is built
 * from the whole log, and written once at the build's end. Deriving it from `runs` in
 * SQL took 0.6 s at 100,000 runs (a sort of every finished run by job); this costs a Map
 * entry per job.
 */
import type { ProjectionDb } from '../projections/projection';

/** One job's tally: the rules are those of `addJobRun` and `setLastFinished` (runs.statements.ts). */
interface JobTally {
  runs: number;
  /** The latest run requested: the highest `seq`. */
  latestSeq: number;
  /** The latest run to finish: the latest `finished_at`, then the highest `seq`. */
  lastFinished: { seq: number; at: string; outcome: string | null } | null;
}

/** What a batch of events told the tally. */
type Told = { kind: 'requested'; jobId: string; seq: number } | { kind: 'finished'; jobId: string; seq: number; at: string; outcome: string | null };

/**
 * `run_jobs` of a build, kept until {@link write}. The build applies events in batches of
 * one transaction each, and a transaction can fail after its last event (a full disk at
 * the checkpoint; the batch is then applied again). So what a batch tells is held apart
 * and counts only once its transaction committed ({@link committed}); a batch rolled back
 * ({@link rollBack}) is dropped.
 */
export class RunJobsTally {
  private readonly jobs = new Map<string, JobTally>();
  /** What the batch being applied told. */
  private pending: Told[] = [];

  /** A run of `jobId` was requested, at place `seq`. */
  requested(jobId: string, seq: number): void {
    this.pending.push({ kind: 'requested', jobId, seq });
  }

  /** A run of `jobId` at place `seq` finished at `at` (ISO 8601, as `finished_at` holds it) with `outcome`. */
  finished(jobId: string, seq: number, at: string, outcome: string | null): void {
    this.pending.push({ kind: 'finished', jobId, seq, at, outcome });
  }

  /** The batch's transaction committed: what it told counts. */
  committed(): void {
    for (const told of this.pending) {
      if (told.kind === 'requested') this.countRequest(told.jobId, told.seq);
      else this.countFinish(told.jobId, told.seq, told.at, told.outcome);
    }
    this.pending = [];
  }

  /** The batch's transaction was rolled back: what it told is dropped. */
  rollBack(): void {
    this.pending = [];
  }

  private countRequest(jobId: string, seq: number): void {
    const job = this.jobs.get(jobId);
    if (!job) {
      this.jobs.set(jobId, { runs: 1, latestSeq: seq, lastFinished: null });
      return;
    }
    job.runs++;
    if (seq > job.latestSeq) job.latestSeq = seq;
  }

  private countFinish(jobId: string, seq: number, at: string, outcome: string | null): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    const last = job.lastFinished;
    if (last === null || at > last.at || (at === last.at && seq > last.seq)) job.lastFinished = { seq, at, outcome };
  }

  /**
   * Writes every job's row into `run_jobs` (empty while building), its latest run's status
   * read from `runs` (it may have changed since the request), and forgets the tally.
   * Called after the last batch committed.
   */
  write(db: ProjectionDb): void {
    const insert = db.prepare(`INSERT INTO run_jobs (job_id, runs, latest_seq, latest_status_key, latest_scheduled_ms, last_finished_seq, last_finished_at, last_outcome)
      SELECT ?, ?, seq, status_key, scheduled_ms, ?, ?, ? FROM runs WHERE seq = ?`);
    for (const [jobId, { runs, latestSeq, lastFinished }] of this.jobs) {
      insert.run(jobId, runs, lastFinished?.seq ?? null, lastFinished?.at ?? null, lastFinished?.outcome ?? null, latestSeq);
    }
    this.jobs.clear();
  }

  /** Forgets the tally: a new build starts. */
  clear(): void {
    this.jobs.clear();
    this.rollBack();
  }
}
