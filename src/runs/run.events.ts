import type { JobFile } from '../jobs/job.events';
import type { StoredOutputData } from './output-encoding';

/**
 * Events of a run. Type names are stable strings: never rename them.
 *
 * Facts and bulk live apart: the `run-<runId>` stream holds what happened to the run
 * (requested, claimed, started, paused, …, finished, output expired), kept forever; its
 * output batches (`RunOutputAppended`) go to `output-<runId>`, which retention deletes.
 * Logs written before that split hold the batches in the run stream: read models index
 * both, and readers read each batch from the stream it is in.
 */

/** Everything a run executes with, frozen when it is requested: a re-run repeats exactly this. */
export interface RunSnapshot {
  scriptId: string;
  scriptName: string;
  /** The template's stream revision when the run was requested. */
  scriptVersion: number;
  interpreter: string;
  body: string;
  /** The job's version when the run was requested. */
  jobVersion: number;
  /** The job's arguments followed by the run's extra arguments. */
  args: string[];
  /** The job's environment with the run's extra variables on top. */
  env: Record<string, string>;
  /** The job's input files with the run's extra files (a run file replaces a job file of the same name). */
  files: JobFile[];
  timeoutSeconds: number | null;
  /** The job's artifact patterns when the run was requested; absent in runs requested before artifacts existed: none. */
  artifacts?: string[];
}

export interface RunRequested {
  type: 'RunRequested';
  data: {
    runId: string;
    jobId: string;
    jobName: string;
    number: number;
    snapshot: RunSnapshot;
    /** The arguments, variables and files given with this run only (already merged into the snapshot). */
    extra: { args: string[]; env: Record<string, string>; files: JobFile[] };
    /** When set, the run waits until then (status `scheduled`). */
    scheduledFor: string | null;
    rerunOf: string | null;
    /** What requested it when no person did: a recurring schedule of the job. Absent in runs recorded before schedules existed. */
    trigger?: RunTrigger | null;
    /**
     * The labels a runner must all have to take it: its job's `runsOn` when it was
     * requested (a re-run takes the job's as it is then: where a run may go is not one of
     * its inputs). Absent in runs recorded before placement existed: [], any runner.
     */
    runsOn?: string[];
  };
}

/** A run requested by one of its job's recurring schedules. */
export interface RunTrigger {
  kind: 'schedule';
  /** The `ScheduleFired` event's firing id: tells a firing whose run was never requested (a crash in between). */
  firingId: string;
  cron: string;
  timeZone: string;
  /** The schedule's time this firing stands for (the latest one due, when several were missed). */
  slot: string;
}

/** A runner took the run: appended with the expected revision, so exactly one runner wins it. */
export interface RunClaimed {
  type: 'RunClaimed';
  data: {
    runId: string;
    runner: string;
    workdir: string;
    /** Set when a job server took it (the runner protocol): its end then follows the lost rule, not this server's recovery. */
    remote?: true;
  };
}

export interface RunStarted {
  type: 'RunStarted';
  data: {
    runId: string;
    runner: string;
    pid: number;
    /** The process's start time in clock ticks since boot: tells a reused pid apart during recovery. */
    processStartTicks: string | null;
    workdir: string;
  };
}

export type OutputStream = 'stdout' | 'stderr';

/**
 * A batch of output. Two forms, both read forever (see `output-encoding.ts`): the
 * first (`data` raw base64, `pieces` per stream) and the current one (`length`,
 * `lines`, `encoding` and `data` encoded as it says, no pieces: one pipe).
 */
export interface RunOutputAppended {
  type: 'RunOutputAppended';
  data: StoredOutputData & {
    runId: string;
  };
}

/** Which retention rule expired a run's output: the job's `keepRuns`, or `ENDERCOMPUTE_KEEP_OUTPUT_DAYS`. */
export type OutputExpiryRule = 'keepRuns' | 'age';

export const OUTPUT_EXPIRY_RULES: readonly OutputExpiryRule[] = ['keepRuns', 'age'];

/**
 * A finished run's output was expired by a retention rule: its `output-<runId>` stream is
 * deleted right after this is recorded (and again by any sweep that finds it still there).
 * Every other fact of the run stays. Appended with the expected revision, so of several
 * servers sweeping at once exactly one records it.
 */
export interface RunOutputExpired {
  type: 'RunOutputExpired';
  data: { runId: string; by: OutputExpiryRule };
}

export type FinishedStatus = 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'lost';

export interface RunFinished {
  type: 'RunFinished';
  data: {
    runId: string;
    status: FinishedStatus;
    exitCode: number | null;
    signal: string | null;
    outputBytes: number;
    /** Output bytes not stored because the output limit was reached. */
    droppedBytes: number;
    /** Why, in words, when the exit code does not say it all (start failure, lost, …). */
    reason: string | null;
  };
}

/**
 * Someone asked to cancel a run that has been claimed or is running (the actor in the
 * metadata is who). The runner then stops its processes; `RunFinished` follows. A run
 * still waiting is cancelled at once: this event and `RunFinished` are appended together.
 */
export interface RunCancelRequested {
  type: 'RunCancelRequested';
  data: { runId: string };
}

/** The run's processes are to be stopped (SIGSTOP) until `RunResumed`; paused time does not count toward the timeout. */
export interface RunPaused {
  type: 'RunPaused';
  data: { runId: string };
}

/** The run's processes are to continue (SIGCONT). */
export interface RunResumed {
  type: 'RunResumed';
  data: { runId: string };
}

/** A waiting run was re-timed: it starts at `scheduledFor`, or as soon as there is room when null. */
export interface RunRescheduled {
  type: 'RunRescheduled';
  data: { runId: string; scheduledFor: string | null };
}

export type RunEvent =
  | RunRequested
  | RunClaimed
  | RunStarted
  | RunOutputAppended
  | RunCancelRequested
  | RunPaused
  | RunResumed
  | RunRescheduled
  | RunFinished
  | RunOutputExpired;

export const RUN_EVENT_TYPES: readonly RunEvent['type'][] = [
  'RunRequested',
  'RunClaimed',
  'RunStarted',
  'RunOutputAppended',
  'RunCancelRequested',
  'RunPaused',
  'RunResumed',
  'RunRescheduled',
  'RunFinished',
  'RunOutputExpired',
];

/**
 * Written by a job's removal to the stream of a run the job admitted but whose
 * `RunRequested` was not (yet) appended — a request under way at that moment, or cut
 * off by a crash. Appended expecting no stream, so either the request landed first
 * (and the removal sees an unfinished run) or this did (and the request's append
 * fails: it answers that the job was removed). Not a run event: run readers skip it.
 */
export interface RunRequestVoided {
  type: 'RunRequestVoided';
  data: { runId: string; jobId: string; reason: string };
}

export const runStream = (runId: string): string => `run-${runId}`;

/** The stream of a run's output batches (since output left the run stream). */
export const outputStream = (runId: string): string => `output-${runId}`;

/** The prefix of every output stream, for filters and projections. */
export const OUTPUT_STREAM_PREFIX = 'output-';

/** Whether an event is anything but a batch of output: what a listener that never looks at output wakes for (see `ProjectionEngine.onChange`). */
export const isNotOutput = (event: { type: string }): boolean => event.type !== 'RunOutputAppended';

/** A run's id is its job's id and its number: readable, and unique by construction. */
export const runIdFor = (jobId: string, number: number): string => `${jobId}-${number}`;
