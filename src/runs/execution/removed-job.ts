import { EventStore } from '../../event-store/event-store.port';
import { jobStream } from '../../jobs/job.events';

/**
 * Why a run must not start because its job was removed, or null — checked by the
 * runner when it is about to claim a run. Requests are admitted by the job's own
 * stream, so a removed job has no waiting run; this catches the ones logs written
 * before admissions existed may still hold. One event read: nothing follows
 * `JobRemoved` in a job's stream.
 */
export async function removedJobReason(store: EventStore, jobId: string): Promise<string | null> {
  const [last] = await store.readStream(jobStream(jobId), { direction: 'backwards', maxCount: 1 });
  return last?.type === 'JobRemoved' ? 'Its job was removed before the run started: it was not run' : null;
}
