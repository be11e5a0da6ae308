import type { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { runStream } from '../runs/run.events';
import { evolveJob, initialJobState, type JobState } from './job.decider';
import { changesJobVersion, JOB_EVENT_TYPES, jobStream, type JobEvent, type JobRunAdmitted } from './job.events';

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

/** A job's stream folded for a run request: its state, revision, version and the next run number. */
export interface JobFold {
  state: JobState;
  /** The stream's last revision (null: no stream): what the admission expects. */
  revision: bigint | null;
  /** The revision of its last change (admissions are not changes): a run's `jobVersion`. */
  version: bigint | null;
  /** After every number the job admitted. */
  nextNumber: number;
}

/** Folds kept per store; a job's stream grows by one admission per run, so it is read on from where it was left. */
const folds = new WeakMap<EventStore, Map<string, JobFold>>();
/** The most jobs whose folds are kept (least recently requested ones go first). */
const MAX_FOLDS = 2_000;

/**
 * The job's stream as a run request needs it. The first request reads the whole
 * stream; later ones read only what was appended since (by anyone: the store is the
 * truth, the fold only saves reading the same events again), so requesting a run
 * stays cheap however many runs the job has had.
 */
export async function foldJobForRequest(store: EventStore, jobId: string): Promise<JobFold> {
  let cache = folds.get(store);
  if (!cache) folds.set(store, (cache = new Map()));
  const cached = cache.get(jobId);
  const from = cached?.revision === null || cached === undefined ? undefined : cached.revision + 1n;
  const events = await store.readStream(jobStream(jobId), from === undefined ? {} : { fromRevision: from });
  let fold: JobFold = cached ?? { state: initialJobState, revision: null, version: null, nextNumber: 1 };
  for (const recorded of events) {
    const known = (JOB_EVENT_TYPES as readonly string[]).includes(recorded.type);
    const state = known ? evolveJob(fold.state, { type: recorded.type, data: recorded.data } as JobEvent) : fold.state;
    const number = recorded.type === 'JobRunAdmitted' ? (recorded.data as JobRunAdmitted['data']).number + 1 : 0;
    fold = {
      state,
      revision: recorded.revision,
      version: changesJobVersion(recorded.type) ? recorded.revision : fold.version,
      nextNumber: Math.max(fold.nextNumber, number),
    };
  }
  cache.delete(jobId);
  cache.set(jobId, fold);
  if (cache.size > MAX_FOLDS) cache.delete(cache.keys().next().value as string);
  return fold;
}
