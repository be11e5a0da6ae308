import type { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { runStream } from '../runs/run.events';
import type { JobRunAdmitted } from './job.events';

/**
 * What a job's own stream and its runs' streams say about its runs — read from the
 * log, never from a read model, because a job's removal and a run's request race
 * (possibly on two servers) and only the log is the same for both.
 */

/** The runs a job admitted (`JobRunAdmitted` in its stream), oldest first. */
export function admittedRuns(events: readonly RecordedEvent[]): Array<JobRunAdmitted['data']> {
  return events.filter((event) => event.type === 'JobRunAdmitted').map((event) => event.data as JobRunAdmitted['data']);
}

/**
 * The number for a job's next run: after every number the job admitted, and after
 * `hint` (runs of logs written before admissions existed, from the runs read model).
 */
export function nextRunNumber(events: readonly RecordedEvent[], hint: number): number {
  let next = hint;
  for (const admitted of admittedRuns(events)) next = Math.max(next, admitted.number + 1);
  return next;
}

/**
 * Where one run stands by its own stream's last event: `absent` (no stream: its
 * request is under way or was cut off), `voided` (a removal voided that request),
 * `finished`, or `unfinished`. One event read, however long the run's output.
 */
export async function runStandingOf(store: EventStore, runId: string): Promise<'absent' | 'voided' | 'finished' | 'unfinished'> {
  const [last] = await store.readStream(runStream(runId), { direction: 'backwards', maxCount: 1 });
  if (!last) return 'absent';
  if (last.type === 'RunRequestVoided') return 'voided';
  // Nothing is appended to a run after it finished: its decider refuses every command.
  return last.type === 'RunFinished' ? 'finished' : 'unfinished';
}
