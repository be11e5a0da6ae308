/**
 * The runs read model's fixed statements, prepared once per open database (list
 * queries, whose shape depends on the filter, and row updates, whose shape depends on
 * the columns that changed, are prepared on first use by the read model).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { ProjectionDb } from '../projections/projection';
import { EXECUTING_PHASES, RECORD_COLUMNS, ROW_COLUMNS, STATE_COLUMNS, TAKEN_BY_LABELS, UNFINISHED_KEYS, UPDATABLE_COLUMNS } from './runs.schema';

export type Statement = BetterSqlite3.Statement;

/** The statements of one open database. */
export interface Statements {
  meta: Statement;
  setMeta: Statement;
  byId: Statement;
  stateById: Statement;
  snapshotOf: Statement;
  requestOf: Statement;
  bySeq: Statement;
  exists: Statement;
  admission: Statement;
  addAdmission: Statement;
  dropAdmission: Statement;
  insert: Statement;
  /** A whole row at once, every column, positional (`rowValues`): a build writes each run's row once per batch. */
  insertRow: Statement;
  /** Every updatable column of a row at once, positional (`updateValues`). */
  updateRow: Statement;
  chunks: Statement;
  addChunk: Statement;
  dropChunks: Statement;
  dropChunksBeyond: Statement;
  setOutputBytes: Statement;
  nextNumber: Statement;
  searchText: Statement;
  addSearch: Statement;
  setSearch: Statement;
  ftsInsert: Statement;
  ftsDelete: Statement;
  jobStats: Statement;
  addJobRun: Statement;
  setLatestStatus: Statement;
  setLastFinished: Statement;
  queuedPage: Statement;
  queuedAfter: Statement;
  queuedBefore: Statement;
  queuedForPage: Statement;
  queuedForAfter: Statement;
  queuedByRunsOn: Statement;
  nextScheduled: Statement;
  executing: Statement;
  executingOn: Statement;
  executingForJob: Statement;
  unfinishedForJob: Statement;
  byJobNumber: Statement;
  latestForJobs: Statement;
  latestFinishedForJob: Statement;
  scheduledPage: Statement;
  scheduledCount: Statement;
  earliestLaterRuns: Statement;
  keepThreshold: Statement;
  keptBelow: Statement;
  keptOlderThan: Statement;
  expiredAfter: Statement;
}

/** Prepares the fixed statements on `db` (its tables must exist: `SCHEMA`). */
export function prepareStatements(db: ProjectionDb): Statements {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    meta: p('SELECT value FROM runs_meta WHERE key = ?').pluck(),
    setMeta: p('INSERT INTO runs_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    byId: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE id = ?`),
    stateById: p(`SELECT ${STATE_COLUMNS} FROM runs WHERE id = ?`),
    snapshotOf: p('SELECT snapshot FROM runs WHERE seq = ?').pluck(),
    requestOf: p('SELECT snapshot, extra FROM runs WHERE seq = ?'),
    bySeq: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE seq = ?`),
    exists: p('SELECT 1 FROM runs WHERE id = ?').pluck(),
    admission: p('SELECT seq, at FROM run_admissions WHERE run_id = ?'),
    addAdmission: p('INSERT OR IGNORE INTO run_admissions (run_id, seq, at) VALUES (?, ?, ?)'),
    dropAdmission: p('DELETE FROM run_admissions WHERE run_id = ?'),
    insert: p(`INSERT INTO runs (seq, id, job_id, job_name, number, phase, status_key, snapshot, extra, requested_at, requested_by, requested_by_key,
        correlation_id, request_event_id, scheduled_for, scheduled_ms, queued_since, rerun_of, run_trigger, runs_on, version)
      VALUES (@seq, @id, @job_id, @job_name, @number, 'waiting', 'waiting', @snapshot, @extra, @requested_at, @requested_by, @requested_by_key,
        @correlation_id, @request_event_id, @scheduled_for, @scheduled_ms, @queued_since, @rerun_of, @run_trigger, @runs_on, @version)`),
    insertRow: p(`INSERT INTO runs (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})`),
    updateRow: p(`UPDATE runs SET ${UPDATABLE_COLUMNS.map((column) => `${column} = ?`).join(', ')} WHERE seq = ?`),
    chunks: p('SELECT stream, revision, byte_offset, length FROM run_output WHERE run_seq = ? ORDER BY stream, revision'),
    addChunk: p('INSERT OR IGNORE INTO run_output (run_seq, stream, revision, byte_offset, length) VALUES (?, ?, ?, ?, ?)'),
    dropChunks: p('DELETE FROM run_output WHERE run_seq = ?'),
    dropChunksBeyond: p('DELETE FROM run_output WHERE run_seq = ? AND byte_offset + length > ?'),
    setOutputBytes: p('UPDATE runs SET output_bytes = ? WHERE seq = ?'),
    nextNumber: p('SELECT max(number) FROM (SELECT number FROM runs WHERE job_id = ? ORDER BY seq DESC LIMIT 5)').pluck(),
    searchText: p('SELECT text FROM run_search WHERE seq = ?').pluck(),
    addSearch: p('INSERT INTO run_search (seq, text) VALUES (?, ?)'),
    setSearch: p('UPDATE run_search SET text = ? WHERE seq = ?'),
    ftsInsert: p('INSERT INTO run_fts (rowid, text) VALUES (?, ?)'),
    ftsDelete: p("INSERT INTO run_fts (run_fts, rowid, text) VALUES ('delete', ?, ?)"),
    jobStats: p('SELECT * FROM run_jobs WHERE job_id = ?'),
    addJobRun: p(`INSERT INTO run_jobs (job_id, runs, latest_seq, latest_status_key, latest_scheduled_ms) VALUES (@job_id, 1, @seq, 'waiting', @scheduled_ms)
      ON CONFLICT (job_id) DO UPDATE SET runs = runs + 1,
        latest_status_key = CASE WHEN excluded.latest_seq > latest_seq THEN excluded.latest_status_key ELSE latest_status_key END,
        latest_scheduled_ms = CASE WHEN excluded.latest_seq > latest_seq THEN excluded.latest_scheduled_ms ELSE latest_scheduled_ms END,
        latest_seq = max(latest_seq, excluded.latest_seq)`),
    setLatestStatus: p('UPDATE run_jobs SET latest_status_key = ?, latest_scheduled_ms = ? WHERE job_id = ? AND latest_seq = ?'),
    setLastFinished: p(`UPDATE run_jobs SET last_finished_seq = @seq, last_finished_at = @at, last_outcome = @outcome
      WHERE job_id = @job_id AND (last_finished_at IS NULL OR @at > last_finished_at OR (@at = last_finished_at AND @seq > last_finished_seq))`),
    queuedPage: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= @now) ORDER BY queued_since, seq LIMIT @limit`),
    queuedAfter: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= @now) AND (queued_since, seq) > (@since, @seq)
      ORDER BY queued_since, seq LIMIT @limit`),
    queuedBefore: p(`SELECT count(*) FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= @now) AND (queued_since, seq) < (@since, @seq)`).pluck(),
    // The same queue, only the runs a runner with the labels @labels (a JSON list, lower case) may take:
    // those without labels, and those whose every label it has.
    queuedForPage: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= @now) AND ${TAKEN_BY_LABELS}
      ORDER BY queued_since, seq LIMIT @limit`),
    queuedForAfter: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= @now) AND ${TAKEN_BY_LABELS}
      AND (queued_since, seq) > (@since, @seq) ORDER BY queued_since, seq LIMIT @limit`),
    queuedByRunsOn: p(`SELECT runs_on, count(*) AS n FROM runs WHERE phase = 'waiting' AND (scheduled_ms IS NULL OR scheduled_ms <= ?) GROUP BY runs_on`),
    nextScheduled: p(`SELECT min(scheduled_ms) FROM runs WHERE phase = 'waiting' AND scheduled_ms > ?`).pluck(),
    executing: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE status_key IN ${EXECUTING_PHASES} ORDER BY seq LIMIT ?`),
    executingOn: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE status_key IN ${EXECUTING_PHASES} AND runner = ? ORDER BY seq LIMIT ?`),
    executingForJob: p(`SELECT id FROM runs WHERE job_id = ? AND status_key IN ${EXECUTING_PHASES}`).pluck(),
    unfinishedForJob: p(`SELECT id, number FROM runs WHERE job_id = ? AND status_key IN ${UNFINISHED_KEYS} ORDER BY seq`),
    byJobNumber: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE job_id = ? AND number = ? ORDER BY seq DESC LIMIT 1`),
    // The same for a list of jobs (a JSON array of ids), through what run_jobs keeps per job.
    latestForJobs: p(`SELECT ${RECORD_COLUMNS}, run_jobs.last_outcome FROM json_each(?) AS ids
      JOIN run_jobs ON run_jobs.job_id = ids.value JOIN runs ON runs.seq = run_jobs.latest_seq`),
    latestFinishedForJob: p(`SELECT ${RECORD_COLUMNS} FROM run_jobs JOIN runs ON runs.seq = run_jobs.last_finished_seq WHERE run_jobs.job_id = ?`),
    scheduledPage: p(`SELECT ${RECORD_COLUMNS} FROM runs WHERE phase = 'waiting' AND scheduled_ms > @now ORDER BY scheduled_ms, seq DESC LIMIT @limit`),
    scheduledCount: p(`SELECT count(*) FROM runs WHERE phase = 'waiting' AND scheduled_ms > ?`).pluck(),
    earliestLaterRuns: p(`SELECT ids.value AS job_id, (
      SELECT scheduled_for FROM runs WHERE job_id = ids.value AND status_key = 'waiting' AND scheduled_ms > @now ORDER BY scheduled_ms LIMIT 1
    ) AS at FROM json_each(@ids) AS ids`),
    keepThreshold: p(`SELECT number FROM runs WHERE job_id = ? AND phase = 'finished' ORDER BY number DESC LIMIT 1 OFFSET ?`).pluck(),
    keptBelow: p(`SELECT id FROM runs WHERE job_id = ? AND phase = 'finished' AND output_expired_at IS NULL AND number <= ?`).pluck(),
    keptOlderThan: p(`SELECT id, job_id, number FROM runs WHERE phase = 'finished' AND output_expired_at IS NULL AND finished_ms <= ?`),
    expiredAfter: p(`SELECT id, expire_seq FROM runs WHERE expire_seq > ? ORDER BY expire_seq LIMIT ?`),
  };
}
