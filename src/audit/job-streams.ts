import { jobStream } from '../jobs/job.events';
import { outputStream, runStream } from '../runs/run.events';
import { scheduleStream } from '../schedules/schedule.events';

/**
 * The prefixes of every stream a job's events live in: the job's own, its runs'
 * (`run-<jobId>-<number>`, a run's id being `<jobId>-<number>`), their output's, and its
 * schedules' firings. What "the events of a job" means for `/api/events?jobId=` and the
 * audit page alike.
 */
export function jobStreamPrefixes(jobId: string): string[] {
  return [jobStream(jobId), runStream(`${jobId}-`), outputStream(`${jobId}-`), scheduleStream(jobId)];
}
