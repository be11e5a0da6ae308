/** The label value of every job beyond the cap. */
export const OTHER_JOBS = 'other';

/**
 * Bounds the `job` label of per-job metrics: the first `cap` jobs this process sees get
 * a label of their own (their name), every later one shares {@link OTHER_JOBS}.
 *
 * Why first-come: Prometheus keeps a series per label value for good, so a label that
 * moved from job to job ("the N most active now") would create new series without end
 * and make one series mean different jobs over time. First-come keeps each series
 * meaning one job for the life of the process, and the count of series at
 * `cap + 1` per bucket. A server with more jobs than the cap sees its busiest jobs
 * get labels early in practice, since they run first and most.
 */
export class JobLabels {
  private readonly named = new Set<string>();

  constructor(readonly cap: number) {}

  /** The label for `job`: its name while there is room or once it has a label, else `other`. */
  labelOf(job: string): string {
    if (this.named.has(job)) return job;
    if (this.named.size >= this.cap || job === OTHER_JOBS) return OTHER_JOBS;
    this.named.add(job);
    return job;
  }
}
