import type { JobFile } from '../jobs/job.events';
import { publicVersion } from '../http/etag';
import { decideRun, type RunControlCommand, type RunState } from './run.decider';
import type { OutputExpiryRule, RunTrigger } from './run.events';
import type { RunRecord, RunsReadModel, RunStatus } from './runs.read-model';

/** A run as the API shows it (API.md `Run`, plus fields a person needs). */
export interface RunView {
  id: string;
  jobId: string;
  jobName: string;
  number: number;
  status: RunStatus;
  args: string[];
  env: Record<string, string>;
  files: JobFile[];
  script: { id: string; name: string; version: number; interpreter: string };
  requestedBy: string;
  requestedAt: string;
  scheduledFor: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
  rerunOf: string | null;
  /** Set when one of the job's recurring schedules requested it. */
  trigger: RunTrigger | null;
  /** Labels a runner must all have to take it: its job's `runsOn` when it was requested. */
  runsOn: string[];
  /** The time limit it runs with (from the job when it was requested); paused time does not count. */
  timeoutSeconds: number | null;
  /** Who asked to cancel it, and when. */
  cancelRequestedBy: string | null;
  cancelRequestedAt: string | null;
  /** Since when it is paused (null unless paused), and the total time it spent paused so far. */
  pausedAt: string | null;
  pausedMs: number;
  /** Which control actions its state allows now (`rerun` is always allowed while its job exists). */
  actions: RunActions;
  outputBytes: number;
  droppedBytes: number;
  /** When retention removed its output (the facts stay), and by which rule; null while kept. */
  outputExpiredAt: string | null;
  outputExpiredBy: OutputExpiryRule | null;
  /** 1 for the next queued run to start; null unless queued. */
  queuePosition: number | null;
  /**
   * Why a queued run has not started yet (this runner's disk is short of space, its job is
   * at its limit, every slot is taken); null when it only waits for its turn, or is not queued.
   */
  waitingFor: string | null;
  /** Why it ended as it did, when the exit code does not say it all. */
  reason: string | null;
  runner: string | null;
  /** Its work directory on its runner's host (null until claimed); removed when it ends unless kept. */
  workdir: string | null;
  /**
   * True when it has finished and its work directory is kept (its job has `keepWorkdir`),
   * so a person can look at it at `workdir`; false when it was removed; null while it has
   * not finished, or when another server's runner executed it (that server knows).
   */
  workdirKept: boolean | null;
  version: number;
}

/** What the view needs to know about why a queued run waits (`RunScheduler`). */
export interface WaitingLookup {
  waitingFor(run: RunRecord, now: Date): string | null;
}

/** What the view needs to know about kept work directories (`WorkdirRetention`). */
export interface WorkdirLookup {
  workdirKept(run: RunRecord): boolean | null;
}

export interface RunActions {
  cancel: boolean;
  pause: boolean;
  resume: boolean;
  /** Re-time (`POST /api/runs/:id/reschedule`): only while it waits. */
  reschedule: boolean;
}

/** The short form in a job's `lastRun` and in lists. */
export type RunSummary = Pick<
  RunView,
  'id' | 'number' | 'status' | 'requestedBy' | 'requestedAt' | 'startedAt' | 'finishedAt' | 'durationMs' | 'exitCode'
>;

/** Running time: from start to finish, or to now while it runs. */
export function durationOf(run: RunRecord, now: Date): number | null {
  if (run.startedAt === null) return null;
  const end = run.finishedAt !== null ? Date.parse(run.finishedAt) : now.getTime();
  return Math.max(0, end - Date.parse(run.startedAt));
}

export function toRunView(run: RunRecord, runs: RunsReadModel, now: Date, workdirs: WorkdirLookup, waiting: WaitingLookup): RunView {
  return {
    id: run.id,
    jobId: run.jobId,
    jobName: run.jobName,
    number: run.number,
    status: runs.statusOf(run, now),
    args: run.snapshot.args,
    env: run.snapshot.env,
    files: run.snapshot.files,
    script: {
      id: run.snapshot.scriptId,
      name: run.snapshot.scriptName,
      version: publicVersion(run.snapshot.scriptVersion),
      interpreter: run.snapshot.interpreter,
    },
    requestedBy: run.requestedBy,
    requestedAt: run.requestedAt,
    scheduledFor: run.scheduledFor,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    exitCode: run.exitCode,
    signal: run.signal,
    durationMs: durationOf(run, now),
    rerunOf: run.rerunOf,
    trigger: run.trigger,
    runsOn: run.runsOn,
    timeoutSeconds: run.snapshot.timeoutSeconds,
    cancelRequestedBy: run.cancelRequestedBy,
    cancelRequestedAt: run.cancelRequestedAt,
    pausedAt: run.pausedAt,
    pausedMs: pausedMsOf(run, now),
    actions: actionsOf(run),
    outputBytes: run.outputBytes,
    droppedBytes: run.droppedBytes,
    outputExpiredAt: run.outputExpiredAt,
    outputExpiredBy: run.outputExpiredBy,
    queuePosition: runs.queuePosition(run, now),
    waitingFor: waiting.waitingFor(run, now),
    reason: run.reason,
    runner: run.runner,
    workdir: run.workdir,
    workdirKept: workdirs.workdirKept(run),
    version: publicVersion(run.version),
  };
}

export function toRunSummary(run: RunRecord, runs: RunsReadModel, now: Date): RunSummary {
  return {
    id: run.id,
    number: run.number,
    status: runs.statusOf(run, now),
    requestedBy: run.requestedBy,
    requestedAt: run.requestedAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: durationOf(run, now),
    exitCode: run.exitCode,
  };
}

/** Time spent paused, including the pause going on now. */
export function pausedMsOf(run: RunRecord, now: Date): number {
  return run.pausedMs + (run.pausedAt !== null ? Math.max(0, now.getTime() - Date.parse(run.pausedAt)) : 0);
}

/** The decider's state for a run as the read model has it. */
export function runStateOf(run: RunRecord): RunState {
  return {
    phase: run.phase,
    runId: run.id,
    jobName: run.jobName,
    number: run.number,
    scheduledFor: run.scheduledFor,
    runner: run.runner,
    runsOn: run.runsOn,
    outputBytes: run.outputBytes,
    cancelRequested: run.cancelRequestedBy !== null,
    finishedStatus: run.finishedStatus,
    outputExpiredBy: run.outputExpiredBy,
  };
}

/**
 * What the control buttons may offer, asked of the decider itself so that the
 * pages never offer what the API would refuse (an action that would record
 * nothing, like pausing a paused run, is not offered either).
 */
export function actionsOf(run: RunRecord): RunActions {
  const state = runStateOf(run);
  const allows = (command: RunControlCommand): boolean => {
    // A refusal is an answer here, not a fault: no stack trace is captured for it (that
    // was two thirds of the cost, three refusals per finished run on every list page).
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return decideRun(command, state).length > 0;
    } catch {
      return false;
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  };
  return {
    cancel: allows({ type: 'CancelRun', runId: run.id, actor: '' }),
    pause: allows({ type: 'PauseRun', runId: run.id }),
    resume: allows({ type: 'ResumeRun', runId: run.id }),
    reschedule: run.phase === 'waiting',
  };
}
