import type { JobFile } from '../jobs/job.events';
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
  outputBytes: number;
  droppedBytes: number;
  /** 1 for the next queued run to start; null unless queued. */
  queuePosition: number | null;
  /** Why it ended as it did, when the exit code does not say it all. */
  reason: string | null;
  runner: string | null;
  version: number;
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

export function toRunView(run: RunRecord, runs: RunsReadModel, now: Date): RunView {
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
      version: run.snapshot.scriptVersion,
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
    outputBytes: run.outputBytes,
    droppedBytes: run.droppedBytes,
    queuePosition: runs.queuePosition(run, now),
    reason: run.reason,
    runner: run.runner,
    version: run.version,
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
