import type { OutputExpiryRule } from '../run.events';

/** What the retention rules need to know of a run. */
export interface RetentionCandidate {
  id: string;
  jobId: string;
  number: number;
  /** Null while it is queued, running or paused: such runs neither expire nor count. */
  finishedAt: string | null;
  /** Set once its output expired. */
  outputExpiredAt: string | null;
}

export interface RetentionPolicy {
  /** A job's `keepRuns`, or null when the job keeps every run's output (or no longer exists). */
  keepRunsOf(jobId: string): number | null;
  /** `ENDERCOMPUTE_KEEP_OUTPUT_DAYS`, or null to keep output forever. */
  keepOutputDays: number | null;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Which finished runs' output expires now, and by which rule — Jenkins' "discard old
 * builds" for output only: a job's `keepRuns` keeps the newest that many finished runs
 * by run number (queued and running runs do not count), and the server's
 * `keepOutputDays` expires output that many days after its run finished. Either rule
 * suffices; when both apply, `keepRuns` is named. Runs already expired are not listed.
 * Pure: the caller passes the runs of every job, the policy and the time.
 */
export function outputsToExpire(runs: Iterable<RetentionCandidate>, policy: RetentionPolicy, now: Date): Array<{ runId: string; by: OutputExpiryRule }> {
  const finishedByJob = new Map<string, RetentionCandidate[]>();
  for (const run of runs) {
    if (run.finishedAt === null) continue;
    const list = finishedByJob.get(run.jobId) ?? [];
    list.push(run);
    finishedByJob.set(run.jobId, list);
  }
  const cutoff = policy.keepOutputDays === null ? null : now.getTime() - policy.keepOutputDays * DAY_MS;
  const expire: Array<{ runId: string; by: OutputExpiryRule }> = [];
  for (const [jobId, finished] of finishedByJob) {
    const keep = policy.keepRunsOf(jobId);
    finished.sort((a, b) => b.number - a.number);
    finished.forEach((run, newestFirst) => {
      if (run.outputExpiredAt !== null) return;
      if (keep !== null && newestFirst >= keep) expire.push({ runId: run.id, by: 'keepRuns' });
      else if (cutoff !== null && Date.parse(run.finishedAt as string) <= cutoff) expire.push({ runId: run.id, by: 'age' });
    });
  }
  return expire;
}

/** How often the age rule is checked: a tenth of the kept time, between 1 s and 1 min. */
export function sweepIntervalMs(keepOutputDays: number | null): number {
  if (keepOutputDays === null) return 60_000;
  return Math.min(60_000, Math.max(1_000, Math.round((keepOutputDays * DAY_MS) / 10)));
}
