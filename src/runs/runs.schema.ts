/**
 * The runs read model's tables in the projection database: the SQL that creates them
 * and their indexes, the columns records and state are read from, and the shape of a
 * row (see `runs.read-model.ts` for what applies events to them and queries them).
 */
import type { RecordedEvent } from '../event-store/event-store.port';
import type { FinishedStatus, OutputExpiryRule, RunRequested } from './run.events';
import type { RunPhase } from './run.decider';
import { normalizeLabels } from '../runners/placement';
import { nameKey } from '../shared/names';

/** The columns an event after the request may change. */
export const UPDATABLE_COLUMNS = [
  'phase', 'status_key', 'scheduled_for', 'scheduled_ms', 'queued_since', 'runner', 'pid', 'process_start_ticks', 'workdir', 'started_at',
  'finished_at', 'finished_ms', 'finish_seq', 'cancel_requested_by', 'cancel_requested_at', 'paused_at', 'paused_ms', 'finished_status',
  'exit_code', 'signal', 'reason', 'output_bytes', 'dropped_bytes', 'output_expired_at', 'output_expired_by', 'expire_seq', 'version',
] as const;

/** The columns set once, by the request: a row is these and {@link UPDATABLE_COLUMNS}. */
export const REQUEST_COLUMNS = [
  'seq', 'id', 'job_id', 'job_name', 'number', 'snapshot', 'extra', 'requested_at', 'requested_by', 'requested_by_key', 'correlation_id',
  'request_event_id', 'rerun_of', 'run_trigger', 'runs_on',
] as const;

/** What a record is built from: every column but the bulky request (snapshot, extra), read when first looked at. */
export const RECORD_COLUMNS = [
  'seq', 'id', 'job_id', 'job_name', 'number', 'requested_at', 'requested_by', 'correlation_id', 'request_event_id', 'rerun_of', 'run_trigger',
  'runs_on', ...UPDATABLE_COLUMNS,
]
  .map((column) => `runs.${column}`)
  .join(', ');

/** What applying an event reads of a run: all but the bulky request (snapshot, extra). */
export const STATE_COLUMNS = ['seq', 'id', 'job_id', 'job_name', 'number', 'requested_at', 'requested_by', ...UPDATABLE_COLUMNS].join(', ');

/** Every column of `runs`, in the order {@link rowValues} gives them (a build's positional INSERT). */
export const ROW_COLUMNS = [...REQUEST_COLUMNS, ...UPDATABLE_COLUMNS] as const;

/** What a request's row takes besides its event: its place in request order and its request time (both the admission's, when it had one). */
export interface RequestPlace {
  seq: number;
  requestedAt: string;
}

/**
 * The whole row of a run just requested, every column of {@link ROW_COLUMNS} (the
 * schema's defaults included), written as one object literal: rows of one shape are
 * copied and read fast, where a row grown key by key would not be (a build makes one
 * per run and copies it at every event).
 */
export function newRunRow({ seq, requestedAt }: RequestPlace, data: RunRequested['data'], recorded: RecordedEvent): RunRow {
  const scheduledMs = data.scheduledFor === null ? null : Date.parse(data.scheduledFor);
  return {
    seq,
    id: data.runId,
    job_id: data.jobId,
    job_name: data.jobName,
    number: data.number,
    snapshot: JSON.stringify(data.snapshot),
    extra: JSON.stringify(data.extra),
    requested_at: requestedAt,
    requested_by: recorded.metadata.actor,
    requested_by_key: nameKey(recorded.metadata.actor),
    correlation_id: recorded.metadata.correlationId,
    request_event_id: recorded.id,
    rerun_of: data.rerunOf,
    run_trigger: data.trigger ? JSON.stringify(data.trigger) : null,
    runs_on: data.runsOn && data.runsOn.length > 0 ? JSON.stringify(normalizeLabels(data.runsOn)) : null,
    phase: 'waiting',
    status_key: 'waiting',
    scheduled_for: data.scheduledFor,
    scheduled_ms: scheduledMs,
    queued_since: queuedSince(data.scheduledFor, requestedAt),
    runner: null,
    pid: null,
    process_start_ticks: null,
    workdir: null,
    started_at: null,
    finished_at: null,
    finished_ms: null,
    finish_seq: null,
    cancel_requested_by: null,
    cancel_requested_at: null,
    paused_at: null,
    paused_ms: 0,
    finished_status: null,
    exit_code: null,
    signal: null,
    reason: null,
    output_bytes: 0,
    dropped_bytes: 0,
    output_expired_at: null,
    output_expired_by: null,
    expire_seq: null,
    version: Number(recorded.revision),
  };
}

/** A row's values in {@link ROW_COLUMNS} order: positional parameters bind much faster than named ones. */
export function rowValues(row: RunRow): unknown[] {
  const record = row as unknown as Record<string, unknown>;
  return ROW_COLUMNS.map((column) => record[column]);
}

/** A row's {@link UPDATABLE_COLUMNS} values, then its `seq`: the parameters of the build's whole-row UPDATE. */
export function updateValues(row: RunRow): unknown[] {
  const record = row as unknown as Record<string, unknown>;
  const values: unknown[] = UPDATABLE_COLUMNS.map((column) => record[column]);
  values.push(row.seq);
  return values;
}

/**
 * A run a runner with the labels `@labels` (a JSON list) may take: it has no `runs_on`, or
 * none of its labels is missing from `@labels` (both lower case, see `runners/placement.ts`).
 */
export const TAKEN_BY_LABELS = '(runs_on IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(runs.runs_on) AS wanted WHERE wanted.value NOT IN (SELECT value FROM json_each(@labels))))';

/** Phases in which a run is claimed by a runner and not finished. */
export const EXECUTING_PHASES = "('claimed', 'running', 'paused')";
/** Statuses of runs not finished, as `status_key` holds them. */
export const UNFINISHED_KEYS = "('waiting', 'claimed', 'running', 'paused')";

/**
 * The tables. `runs` holds one row per requested run, its `seq` (request order) as
 * rowid; `status_key` is its phase, or its outcome once finished, so every status
 * filter is an index range (`scheduled` and `queued` split `waiting` by the clock).
 * `run_jobs` keeps per job what the job lists show (how many runs, the latest, the
 * latest finished and how it ended) so they never scan a job's history.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  job_id TEXT NOT NULL,
  job_name TEXT NOT NULL,
  number INTEGER NOT NULL,
  phase TEXT NOT NULL,
  status_key TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  extra TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_by_key TEXT NOT NULL,
  correlation_id TEXT NOT NULL,
  request_event_id TEXT NOT NULL,
  scheduled_for TEXT,
  scheduled_ms INTEGER,
  queued_since TEXT NOT NULL,
  rerun_of TEXT,
  run_trigger TEXT,
  runs_on TEXT,
  runner TEXT,
  pid INTEGER,
  process_start_ticks TEXT,
  workdir TEXT,
  started_at TEXT,
  finished_at TEXT,
  finished_ms INTEGER,
  finish_seq INTEGER,
  cancel_requested_by TEXT,
  cancel_requested_at TEXT,
  paused_at TEXT,
  paused_ms INTEGER NOT NULL DEFAULT 0,
  finished_status TEXT,
  exit_code INTEGER,
  signal TEXT,
  reason TEXT,
  output_bytes INTEGER NOT NULL DEFAULT 0,
  dropped_bytes INTEGER NOT NULL DEFAULT 0,
  output_expired_at TEXT,
  output_expired_by TEXT,
  expire_seq INTEGER,
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_admissions (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, at TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_output (
  run_seq INTEGER NOT NULL, stream TEXT NOT NULL, revision INTEGER NOT NULL, byte_offset INTEGER NOT NULL, length INTEGER NOT NULL,
  PRIMARY KEY (run_seq, stream, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_jobs (
  job_id TEXT PRIMARY KEY,
  runs INTEGER NOT NULL,
  latest_seq INTEGER NOT NULL,
  latest_status_key TEXT NOT NULL,
  latest_scheduled_ms INTEGER,
  last_finished_seq INTEGER,
  last_finished_at TEXT,
  last_outcome TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_search (seq INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS run_fts USING fts5 (text, content = 'run_search', content_rowid = 'seq', tokenize = 'trigram case_sensitive 1');
`;

/**
 * The indexes only queries use (applying an event looks runs up by id and seq only): a
 * build from the log creates them once at its end instead of keeping them up to date
 * row by row (see `Projection.open`).
 */
export const QUERY_INDEXES = `
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job_id, seq);
CREATE INDEX IF NOT EXISTS runs_by_job_number ON runs (job_id, number);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status_key, seq);
CREATE INDEX IF NOT EXISTS runs_by_job_status ON runs (job_id, status_key, seq);
CREATE INDEX IF NOT EXISTS runs_by_actor ON runs (requested_by_key, status_key, seq);
CREATE INDEX IF NOT EXISTS runs_by_finish ON runs (finish_seq) WHERE finish_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_job_finish ON runs (job_id, finish_seq) WHERE finish_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_status_finish ON runs (status_key, finish_seq) WHERE finish_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_queue ON runs (queued_since, seq, scheduled_ms) WHERE phase = 'waiting';
CREATE INDEX IF NOT EXISTS runs_waiting_time ON runs (scheduled_ms) WHERE phase = 'waiting';
CREATE INDEX IF NOT EXISTS runs_output_kept ON runs (job_id, number) WHERE phase = 'finished' AND output_expired_at IS NULL;
CREATE INDEX IF NOT EXISTS runs_output_kept_age ON runs (finished_ms) WHERE phase = 'finished' AND output_expired_at IS NULL;
CREATE INDEX IF NOT EXISTS runs_expired ON runs (expire_seq) WHERE expire_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS run_jobs_by_outcome ON run_jobs (last_outcome);
`;

/** A row of `runs` as SQLite returns it. */
export interface RunRow {
  seq: number;
  id: string;
  job_id: string;
  job_name: string;
  number: number;
  phase: RunPhase;
  status_key: string;
  snapshot: string;
  extra: string;
  requested_at: string;
  requested_by: string;
  requested_by_key: string;
  correlation_id: string;
  request_event_id: string;
  scheduled_for: string | null;
  scheduled_ms: number | null;
  queued_since: string;
  rerun_of: string | null;
  run_trigger: string | null;
  /** JSON list of labels; null for none (most runs). */
  runs_on: string | null;
  runner: string | null;
  pid: number | null;
  process_start_ticks: string | null;
  workdir: string | null;
  started_at: string | null;
  finished_at: string | null;
  finished_ms: number | null;
  finish_seq: number | null;
  cancel_requested_by: string | null;
  cancel_requested_at: string | null;
  paused_at: string | null;
  paused_ms: number;
  finished_status: FinishedStatus | null;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  output_bytes: number;
  dropped_bytes: number;
  output_expired_at: string | null;
  output_expired_by: OutputExpiryRule | null;
  expire_seq: number | null;
  version: number;
}

/** When a waiting run joined the queue: its scheduled time, or else its request (ISO text compares as time). */
export function queuedSince(scheduledFor: string | null, requestedAt: string): string {
  return scheduledFor !== null && scheduledFor > requestedAt ? scheduledFor : requestedAt;
}
