import { Injectable } from '@nestjs/common';
import { storedOutputLength } from './output-encoding';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import { RunJobsTally } from './run-jobs-tally';
import { OUTPUT_STREAM_PREFIX, type FinishedStatus, type OutputExpiryRule, type RunEvent, type RunOutputAppended, type RunRequested, type RunSnapshot, type RunTrigger } from './run.events';
import type { RunPhase } from './run.decider';
import { nameKey } from '../shared/names';
import { ftsPhrase, usesTrigramIndex } from '../shared/sql-search';
import { newRunRow, QUERY_INDEXES, queuedSince, RECORD_COLUMNS, rowValues, SCHEMA, UPDATABLE_COLUMNS, updateValues, type RunRow } from './runs.schema';
import { prepareStatements, type Statement, type Statements } from './runs.statements';
import { StoredRunRecord } from './stored-run-record';

export type RunStatus = 'scheduled' | 'queued' | 'running' | 'paused' | FinishedStatus;

export const ACTIVE_STATUSES: readonly RunStatus[] = ['scheduled', 'queued', 'running', 'paused'];
export const FINISHED_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
export const ALL_STATUSES: readonly RunStatus[] = [...ACTIVE_STATUSES, ...FINISHED_STATUSES];

/** Where one stored output batch sits, so `?offset=` reads start at the right event. */
export interface OutputChunkRef {
  /** `output-<runId>`, or `run-<runId>` in logs written before output had a stream of its own. */
  stream: string;
  revision: bigint;
  offset: number;
  length: number;
}

/** A job's latest run and how its latest finished run ended, as job lists show them (undefined, null: none). */
export interface JobLatestRuns {
  latest: RunRecord | undefined;
  lastOutcome: FinishedStatus | null;
}

/** A run as the read model keeps it. */
export interface RunRecord {
  id: string;
  /** Order of request across all runs: the paging cursor. */
  seq: number;
  jobId: string;
  jobName: string;
  number: number;
  phase: RunPhase;
  snapshot: RunSnapshot;
  extra: RunRequested['data']['extra'];
  requestedAt: string;
  requestedBy: string;
  /** The request's correlation id and event id: the runner's events continue that chain. */
  correlationId: string;
  requestEventId: string;
  scheduledFor: string | null;
  rerunOf: string | null;
  /** Set when a recurring schedule requested it (the actor is then `schedule`). */
  trigger: RunTrigger | null;
  /** Labels a runner must all have to take it (its job's `runsOn` when requested); empty: any runner. */
  runsOn: string[];
  runner: string | null;
  pid: number | null;
  processStartTicks: string | null;
  workdir: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Order of finishing across all runs (the `sort=finished` paging cursor); null until it finishes. */
  finishSeq: number | null;
  /** Who asked to cancel it, and when (also set for a run cancelled before it started). */
  cancelRequestedBy: string | null;
  cancelRequestedAt: string | null;
  /** Since when it is paused (null unless paused), and how long it was paused before. */
  pausedAt: string | null;
  pausedMs: number;
  finishedStatus: FinishedStatus | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  outputBytes: number;
  droppedBytes: number;
  /** Its stored output batches in order (read from the database when first looked at). */
  outputChunks: OutputChunkRef[];
  /** When retention expired its output (`RunOutputExpired`), and by which rule; the facts stay. */
  outputExpiredAt: string | null;
  outputExpiredBy: OutputExpiryRule | null;
  version: number;
}

export interface RunFilter {
  statuses?: readonly RunStatus[];
  jobId?: string;
  by?: string;
  q?: string;
  /**
   * `requested` (the default): newest request first, every run. `finished`:
   * latest to finish first, finished runs only (the order their `RunFinished`
   * events were recorded in, so the order their `finishedAt` shows).
   */
  order?: 'requested' | 'finished';
  /** Only runs before this cursor (exclusive): a `seq`, or a `finishSeq` for the `finished` order. */
  before?: number;
  limit: number;
}

/** A finished run whose output the retention rules expire, and the rule that does. */
export interface DueOutput {
  runId: string;
  by: OutputExpiryRule;
}

/** Rows kept while building at most (unfinished runs: a few thousand at a time in a typical log). */
const MAX_WRITTEN_ROWS = 20_000;

/** Runs, projected from their events into the projection database, with the queue order the scheduler follows. */
@Injectable()
export class RunsReadModel implements Projection {
  readonly name = 'runs';
  /** 2: `runs_on` (placement labels). 3: output stored after a run's end is not indexed. */
  readonly version = 3;
  private db: ProjectionDb | null = null;
  private statements: Statements | null = null;
  /** List queries, prepared once per shape of filter (a handful exist). */
  private readonly listStatements = new Map<string, Statement>();
  /** Updates of a row, prepared once per set of changed columns. */
  private readonly updates = new Map<string, Statement>();
  /** How many runs finished since start: retention sweeps when it moves. */
  private finishes = 0;
  /** Building: the query indexes and the search index are built by {@link finishBuild}. */
  private building = false;
  /**
   * While building, nothing but `apply` reads the database, so a batch's changes are kept
   * here and written once, by {@link beforeCheckpoint}: a run requested, started and
   * finished in one batch is one INSERT instead of an INSERT and four UPDATEs.
   * - `unwritten`: the runs changed in this batch, whole rows, `isNew` when not in the
   *   database yet, with their search text when it changed;
   * - `admissions`: runs admitted in this batch and not requested yet;
   * - `counters`: the counters of `runs_meta` (kept for the whole build);
   * - `written`: unfinished runs as last written, so their next event does not read them back.
   * All are dropped when a batch is rolled back ({@link rolledBack}) and when the build ends.
   */
  private readonly unwritten = new Map<string, { row: RunRow; isNew: boolean; search: string | null }>();
  private readonly admissions = new Map<string, { seq: number; at: string }>();
  private readonly counters = new Map<string, number>();
  private readonly written = new Map<string, RunRow>();
  /** While building: `run_jobs`, tallied as runs are requested and finish, written by {@link finishBuild}. */
  private readonly runJobs = new RunJobsTally();

  /** Creates the tables (when missing) and prepares the statements; `building`: see {@link Projection.open}. */
  open(db: ProjectionDb, options: { building?: boolean } = {}): void {
    db.exec(SCHEMA);
    this.building = options.building === true;
    if (!this.building) db.exec(QUERY_INDEXES);
    this.db = db;
    this.rolledBack();
    this.runJobs.clear();
    this.listStatements.clear();
    this.updates.clear();
    this.statements = prepareStatements(db);
  }

  /** Writes `run_jobs` from its tally, creates the query indexes and fills the search index from `run_search`, each in one pass. */
  finishBuild(): void {
    if (!this.building || !this.db) return;
    this.runJobs.write(this.db);
    this.db.exec(QUERY_INDEXES);
    this.db.prepare("INSERT INTO run_fts (run_fts) VALUES ('rebuild')").run();
    this.building = false;
    this.rolledBack();
  }

  /** While building: the batch committed, so its part of the `run_jobs` tally counts. */
  committed(): void {
    this.runJobs.committed();
  }

  /** Forgets the rows and counters kept while building: the database is the truth again. */
  rolledBack(): void {
    this.unwritten.clear();
    this.admissions.clear();
    this.counters.clear();
    this.written.clear();
    this.runJobs.rollBack();
  }

  /**
   * While building: writes what this batch's events changed (see {@link unwritten}), in
   * the engine's transaction, before its checkpoint. Nothing to do otherwise: `apply`
   * writes through.
   */
  beforeCheckpoint(): void {
    if (!this.building) return;
    for (const { row, isNew, search } of this.unwritten.values()) {
      if (isNew) {
        this.s.insertRow.run(rowValues(row));
        this.s.addSearch.run(row.seq, search);
      } else {
        this.s.updateRow.run(updateValues(row));
        if (search !== null) this.s.setSearch.run(search, row.seq);
      }
      this.remember(row);
    }
    this.unwritten.clear();
    for (const [runId, { seq, at }] of this.admissions) this.s.addAdmission.run(runId, seq, at);
    this.admissions.clear();
    for (const [key, value] of this.counters) this.s.setMeta.run(key, value);
  }

  /** A run's state as `apply` needs it: as this batch left it while building, else from the database. */
  private stateOf(runId: string): RunRow | undefined {
    return this.unwritten.get(runId)?.row ?? this.written.get(runId) ?? (this.s.stateById.get(runId) as RunRow | undefined);
  }

  /** While building: keeps a changed row for {@link beforeCheckpoint}. */
  private hold(row: RunRow): void {
    const held = this.unwritten.get(row.id);
    if (held) held.row = row;
    else this.unwritten.set(row.id, { row, isNew: false, search: null });
  }

  /** Whether a run or its admission is known (while building: also those of this batch). */
  private known(runId: string): boolean {
    if (this.building && (this.unwritten.has(runId) || this.admissions.has(runId))) return true;
    return this.s.exists.get(runId) !== undefined || this.s.admission.get(runId) !== undefined;
  }

  /** Whether it has a database: not before the engine opened one at start (a build in another process may take a while). */
  get isOpen(): boolean {
    return this.statements !== null;
  }

  private get s(): Statements {
    if (!this.statements) throw new Error('The runs read model has no database yet (open it first)');
    return this.statements;
  }

  /**
   * Applies one event. Idempotent by position: an admission or request already seen, a
   * run-stream event at or below the run's stored version, or an output batch already
   * indexed changes nothing, so an event applied twice (a resubscription) is harmless.
   */
  apply(recorded: RecordedEvent): void {
    if (recorded.type === 'JobRunAdmitted' && recorded.stream.startsWith('job-')) {
      const runId = (recorded.data as { runId: string }).runId;
      if (this.known(runId)) return;
      if (this.building) this.admissions.set(runId, { seq: this.takeSeq(), at: recorded.metadata.at });
      else this.s.addAdmission.run(runId, this.takeSeq(), recorded.metadata.at);
      return;
    }
    if (recorded.stream.startsWith(OUTPUT_STREAM_PREFIX)) {
      // Bulk: indexed, but not a change of the run (its version counts the run stream's facts).
      if (recorded.type === 'RunOutputAppended') {
        const row = this.stateOf((recorded.data as RunOutputAppended['data']).runId);
        if (row) this.indexOutput(row, recorded);
      }
      return;
    }
    if (!recorded.stream.startsWith('run-')) return;
    const event = { type: recorded.type, data: recorded.data } as RunEvent;
    if (event.type === 'RunRequested') {
      this.addRequested(event.data, recorded);
      return;
    }
    const row = this.stateOf((event.data as { runId: string }).runId);
    if (!row || Number(recorded.revision) <= row.version) return;
    const { at, actor } = recorded.metadata;
    // While building, nothing but this batch sees the row (a rollback drops every row kept): changed in place.
    const next: RunRow = this.building ? row : { ...row };
    next.version = Number(recorded.revision);
    let finishedNow = false;
    switch (event.type) {
      case 'RunClaimed':
        next.phase = 'claimed';
        next.runner = event.data.runner;
        next.workdir = event.data.workdir;
        break;
      case 'RunStarted':
        next.phase = 'running';
        next.pid = event.data.pid;
        next.process_start_ticks = event.data.processStartTicks;
        next.started_at = at;
        break;
      case 'RunOutputAppended':
        // A log from before output had a stream of its own: the batch sits in the run stream.
        next.output_bytes = this.indexOutput(next, recorded, false);
        break;
      case 'RunOutputExpired':
        next.output_expired_at = at;
        next.output_expired_by = event.data.by;
        next.expire_seq = this.takeCounter('next_expire_seq');
        // The index points at deleted events now: drop it.
        this.s.dropChunks.run(row.seq);
        break;
      case 'RunCancelRequested':
        next.cancel_requested_by = actor;
        next.cancel_requested_at = at;
        if (next.phase === 'paused') endPause(next, at);
        break;
      case 'RunPaused':
        if (next.phase !== 'running') break;
        next.phase = 'paused';
        next.paused_at = at;
        break;
      case 'RunResumed':
        if (next.phase === 'paused') endPause(next, at);
        break;
      case 'RunRescheduled':
        next.scheduled_for = event.data.scheduledFor;
        break;
      case 'RunFinished':
        if (next.phase === 'paused') endPause(next, at);
        next.phase = 'finished';
        next.finished_at = at;
        if (next.finish_seq === null) next.finish_seq = this.takeCounter('next_finish_seq');
        next.finished_status = event.data.status;
        next.exit_code = event.data.exitCode;
        next.signal = event.data.signal;
        next.reason = event.data.reason;
        // A batch of an upload stored between the reading of the output's end and this end (the lost rule, a
        // revocation) lies beyond it: not the run's output (see indexOutput), so not indexed.
        if (next.output_bytes > event.data.outputBytes) this.s.dropChunksBeyond.run(row.seq, event.data.outputBytes);
        next.output_bytes = event.data.outputBytes;
        next.dropped_bytes = event.data.droppedBytes;
        finishedNow = true;
        break;
      default:
        break;
    }
    this.save(row, next);
    if (finishedNow) {
      if (this.building) this.runJobs.finished(next.job_id, next.seq, at, next.finished_status);
      else this.s.setLastFinished.run({ job_id: next.job_id, seq: next.seq, at, outcome: next.finished_status });
      // The reason joins what `q` finds.
      const held = this.building ? this.unwritten.get(next.id) : undefined;
      // A row held while building has its request (new in this batch) or not (read from the database).
      const snapshot = held?.isNew ? next.snapshot : (this.s.snapshotOf.get(next.seq) as string);
      const text = next.reason === null ? null : searchTextOf({ ...next, snapshot });
      const old = held?.search ?? (held?.isNew ? null : (this.s.searchText.get(next.seq) as string));
      if (text !== null && text !== old) {
        if (held) {
          held.search = text;
        } else {
          if (!this.building) this.s.ftsDelete.run(next.seq, old);
          this.s.setSearch.run(text, next.seq);
          if (!this.building) this.s.ftsInsert.run(next.seq, text);
        }
      }
      this.finishes++;
    }
  }

  /** Writes a changed row back, with the columns derived from its state. */
  private save(before: RunRow, row: RunRow): void {
    // `row` is the event's copy of `before` (while building, `before` itself): completed in place, as a copy per event costs a build dearly.
    row.status_key = row.phase === 'finished' ? (row.finished_status ?? 'failed') : row.phase;
    row.scheduled_ms = row.scheduled_for === null ? null : Date.parse(row.scheduled_for);
    row.queued_since = queuedSince(row.scheduled_for, row.requested_at);
    row.finished_ms = row.finished_at === null ? null : Date.parse(row.finished_at);
    if (this.building) {
      this.hold(row);
      return;
    }
    const next = row as unknown as Record<string, unknown>;
    // Only the columns that changed: an index whose columns stay is left alone (most are partial on the phase).
    const old = before as unknown as Record<string, unknown>;
    const changed = UPDATABLE_COLUMNS.filter((column) => next[column] !== old[column]);
    if (changed.length === 0) return;
    const key = changed.join(',');
    let statement = this.updates.get(key);
    if (!statement) {
      statement = this.db!.prepare(`UPDATE runs SET ${changed.map((column) => `${column} = @${column}`).join(', ')} WHERE seq = @seq`);
      this.updates.set(key, statement);
    }
    const params: Record<string, unknown> = { seq: row.seq };
    for (const column of changed) params[column] = next[column];
    statement.run(params);
    if (next.status_key !== old.status_key || next.scheduled_ms !== old.scheduled_ms) this.s.setLatestStatus.run(next.status_key, next.scheduled_ms, row.job_id, row.seq);
  }

  /**
   * Keeps a row just written while building. Finished runs rarely see another event, so
   * they are not kept; the map is emptied when it grows past a bound (a read refills it).
   */
  private remember(row: RunRow): void {
    if (row.phase === 'finished') {
      this.written.delete(row.id);
      return;
    }
    if (this.written.size >= MAX_WRITTEN_ROWS) this.written.clear();
    this.written.set(row.id, row);
  }

  /** Adds a stored batch to its run's index (from whichever stream holds it); answers the run's output end. */
  private indexOutput(row: RunRow, recorded: RecordedEvent, saveBytes = true): number {
    // An expired run's batches can still pass by on EventStoreDB until a scavenge: not indexed again.
    if (row.output_expired_at !== null) return row.output_bytes;
    const data = recorded.data as RunOutputAppended['data'];
    const length = storedOutputLength(data);
    // `RunFinished` says how much output the run had. A batch stored after it (an upload in flight when the run
    // was ended for its runner: lost, revoked) is not part of the run's output, whichever server stored it.
    if (row.phase === 'finished' && data.offset + length > row.output_bytes) return row.output_bytes;
    const added = this.s.addChunk.run(row.seq, recorded.stream, recorded.revision, data.offset, length).changes > 0;
    if (!added) return row.output_bytes;
    if (saveBytes) {
      // A row kept while building is the row as stored: it follows.
      row.output_bytes = data.offset + length;
      if (this.building) this.hold(row);
      else this.s.setOutputBytes.run(data.offset + length, row.seq);
    }
    return data.offset + length;
  }

  get(id: string): RunRecord | undefined {
    // While building, another projection's `apply` may ask for a run this batch changed.
    const held = this.building ? this.unwritten.get(id) : undefined;
    const stored = held?.isNew ? undefined : (this.s.byId.get(id) as RunRow | undefined);
    const row = held ? { ...stored, ...held.row } : stored;
    return row ? this.record(row) : undefined;
  }

  /** The status a person sees now: a scheduled run whose time has come is queued. */
  statusOf(run: RunRecord, now: Date): RunStatus {
    switch (run.phase) {
      case 'absent':
      case 'waiting':
        return run.scheduledFor !== null && Date.parse(run.scheduledFor) > now.getTime() ? 'scheduled' : 'queued';
      case 'claimed':
        return 'queued';
      case 'running':
        return 'running';
      case 'paused':
        return 'paused';
      case 'finished':
        return run.finishedStatus ?? 'failed';
    }
  }

  /**
   * Runs waiting for a runner whose time has come, first in first out (a run joins the
   * queue when it is requested, or when its scheduled time comes): at most `limit`,
   * those after `after` when given (the last run of the previous page).
   */
  queued(now: Date, limit = 100, after?: RunRecord): RunRecord[] {
    const rows = after
      ? this.s.queuedAfter.all({ now: now.getTime(), since: queuedSince(after.scheduledFor, after.requestedAt), seq: after.seq, limit })
      : this.s.queuedPage.all({ now: now.getTime(), limit });
    return (rows as RunRow[]).map((row) => this.record(row));
  }

  /**
   * The {@link queued} runs a runner with `labels` (lower case) may take, in queue order:
   * those without `runsOn`, and those whose every label it has (see `runners/placement.ts`).
   * The others are passed over in SQL, so runs no such runner takes never hold up the rest.
   */
  queuedFor(labels: readonly string[], now: Date, limit = 100, after?: RunRecord): RunRecord[] {
    const common = { now: now.getTime(), labels: JSON.stringify(labels), limit };
    const rows = after
      ? this.s.queuedForAfter.all({ ...common, since: queuedSince(after.scheduledFor, after.requestedAt), seq: after.seq })
      : this.s.queuedForPage.all(common);
    return (rows as RunRow[]).map((row) => this.record(row));
  }

  /** How many runs are queued now (see {@link queued}) with each `runsOn` ([] for none). */
  queuedByRunsOn(now: Date): Array<{ runsOn: string[]; count: number }> {
    const rows = this.s.queuedByRunsOn.all(now.getTime()) as Array<{ runs_on: string | null; n: number }>;
    return rows.map((row) => ({ runsOn: row.runs_on === null ? [] : (JSON.parse(row.runs_on) as string[]), count: row.n }));
  }

  /**
   * How many runs are in each status now (every status present, 0 included), from the
   * status index: one count per `status_key`, with waiting runs split by the clock into
   * `scheduled` and `queued`, and claimed runs counted as `queued` (as {@link statusOf}).
   */
  countByStatus(now: Date): Record<RunStatus, number> {
    const counts = Object.fromEntries(ALL_STATUSES.map((status) => [status, 0])) as Record<RunStatus, number>;
    const rows = this.listStatement('SELECT status_key AS key, count(*) AS n FROM runs GROUP BY status_key').all() as Array<{ key: string; n: number }>;
    const later = this.listStatement("SELECT count(*) FROM runs WHERE phase = 'waiting' AND scheduled_ms > ?").pluck().get(now.getTime()) as number;
    for (const { key, n } of rows) {
      if (key === 'waiting') {
        counts.scheduled += later;
        counts.queued += n - later;
      } else if (key === 'claimed') counts.queued += n;
      else if ((ALL_STATUSES as readonly string[]).includes(key)) counts[key as RunStatus] += n;
    }
    return counts;
  }

  /**
   * The people who requested runs (as they spelled their name on their latest run), for
   * suggestion lists: one per name key, read from the requester index.
   */
  requesters(): string[] {
    return this.listStatement('SELECT requested_by FROM runs WHERE seq IN (SELECT max(seq) FROM runs GROUP BY requested_by_key)').pluck().all() as string[];
  }

  /** How many runs wait for a runner now (see {@link queued}). */
  queuedCount(now: Date): number {
    return this.s.queuedBefore.get({ now: now.getTime(), since: '\uffff', seq: 0 }) as number;
  }

  /** 1 for the next run to start, or null when the run is not queued. */
  queuePosition(run: RunRecord, now: Date): number | null {
    if (run.phase !== 'waiting' || this.statusOf(run, now) !== 'queued') return null;
    return (this.s.queuedBefore.get({ now: now.getTime(), since: queuedSince(run.scheduledFor, run.requestedAt), seq: run.seq }) as number) + 1;
  }

  /** The earliest future `scheduledFor` among waiting runs, for the scheduler's timer. */
  nextScheduledTime(now: Date): number | null {
    return (this.s.nextScheduled.get(now.getTime()) as number | null) ?? null;
  }

  /**
   * Runs claimed, running or paused on any runner (or on `runner` only), in request
   * order: as many as the runners' slots, never a history (at most `limit`).
   */
  executingRuns(runner?: string, limit = 1000): RunRecord[] {
    const rows = (runner === undefined ? this.s.executing.all(limit) : this.s.executingOn.all(runner, limit)) as RunRow[];
    return rows.map((row) => this.record(row));
  }

  /** Ids of a job's runs claimed, running or paused on any runner (for its `maxConcurrent`). */
  executingRunIdsForJob(jobId: string): string[] {
    return this.s.executingForJob.all(jobId) as string[];
  }

  /** A job's runs that have not finished, in request order: its id and number. */
  unfinishedForJob(jobId: string): Array<{ id: string; number: number }> {
    return this.s.unfinishedForJob.all(jobId) as Array<{ id: string; number: number }>;
  }

  /** A job's run by its number (the latest requested, should a log hold two). */
  byNumber(jobId: string, number: number): RunRecord | undefined {
    const row = this.s.byJobNumber.get(jobId, number) as RunRow | undefined;
    return row ? this.record(row) : undefined;
  }

  /** How many runs a job has had. */
  countForJob(jobId: string): number {
    return (this.s.jobStats.get(jobId) as { runs: number } | undefined)?.runs ?? 0;
  }

  /** A job's latest run (the latest requested), as {@link latestForJobs} finds it. */
  latestForJob(jobId: string): RunRecord | undefined {
    return this.latestForJobs([jobId])(jobId).latest;
  }

  /**
   * A job's latest run and how its latest finished run ended, for many jobs in one query
   * (a list of jobs asked them per job). The outcome is what `run_jobs` keeps, so a list
   * of 10,000 jobs reads 10,000 runs, not 20,000. Returns the lookup of one of `jobIds`;
   * a job without runs gets `{ latest: undefined, lastOutcome: null }`.
   */
  latestForJobs(jobIds: readonly string[]): (jobId: string) => JobLatestRuns {
    const rows = this.s.latestForJobs.all(JSON.stringify(jobIds)) as Array<RunRow & { last_outcome: FinishedStatus | null }>;
    const byJob = new Map(rows.map((row) => [row.job_id, { latest: this.record(row), lastOutcome: row.last_outcome }]));
    return (jobId) => byJob.get(jobId) ?? { latest: undefined, lastOutcome: null };
  }

  /** A job's latest finished run (its last outcome): the latest to finish, not the latest requested. */
  latestFinishedForJob(jobId: string): RunRecord | undefined {
    const row = this.s.latestFinishedForJob.get(jobId) as RunRow | undefined;
    return row ? this.record(row) : undefined;
  }

  /** The number the next run of a job should get (a hint: the append decides). */
  nextNumber(jobId: string): number {
    // The latest few: two requests' places can cross (see `JobRunAdmitted`).
    const highest = this.s.nextNumber.get(jobId) as number | null;
    return highest === null ? 1 : highest + 1;
  }

  /**
   * Runs set for a later time (status `scheduled`), the earliest first, at most `limit`,
   * and how many there are.
   */
  scheduled(now: Date, limit: number): { items: RunRecord[]; total: number } {
    const rows = this.s.scheduledPage.all({ now: now.getTime(), limit }) as RunRow[];
    return { items: rows.map((row) => this.record(row)), total: this.s.scheduledCount.get(now.getTime()) as number };
  }

  /**
   * When each of `jobIds`' earliest run set for a later time starts (ISO), in one query
   * (the jobs page asked it per job); the lookup answers null for a job without one.
   */
  earliestLaterRuns(jobIds: readonly string[], now: Date): (jobId: string) => string | null {
    const rows = this.s.earliestLaterRuns.all({ ids: JSON.stringify(jobIds), now: now.getTime() }) as Array<{ job_id: string; at: string | null }>;
    const byJob = new Map(rows.map((row) => [row.job_id, row.at]));
    return (jobId) => byJob.get(jobId) ?? null;
  }

  /** Newest first (by request, or by finish: {@link RunFilter.order}), filtered; `next` is the cursor for the following page. */
  list(filter: RunFilter, now: Date): { items: RunRecord[]; next: number | null } {
    const byFinish = filter.order === 'finished';
    const cursor = byFinish ? 'finish_seq' : 'seq';
    const q = filter.q !== undefined ? nameKey(filter.q) : undefined;
    const by = filter.by !== undefined ? nameKey(filter.by) : undefined;
    const params: Record<string, unknown> = { limit: filter.limit + 1, now: now.getTime() };
    const common: string[] = [];
    if (byFinish) common.push('finish_seq IS NOT NULL');
    if (filter.before !== undefined) {
      common.push(`runs.${cursor} < @before`);
      params.before = filter.before;
    }
    if (filter.jobId !== undefined) {
      common.push('job_id = @job');
      params.job = filter.jobId;
    }
    if (by !== undefined) {
      common.push('requested_by_key = @by');
      params.by = by;
    }
    const arms = statusArms(filter.statuses, byFinish);
    if (q !== undefined && q !== '') {
      params.q = q;
      // Substring semantics as the text shows: the trigram index narrows, instr decides.
      common.push('instr((SELECT text FROM run_search WHERE run_search.seq = runs.seq), @q) > 0');
      if (usesTrigramIndex(q)) {
        params.phrase = ftsPhrase(q);
        if (!byFinish) {
          // The index hands its matches newest first: read them until the page is full.
          const statuses = arms.map((arm) => (arm.length > 0 ? `(${arm.join(' AND ')})` : '1')).join(' OR ');
          const sql = `SELECT ${RECORD_COLUMNS} FROM run_fts CROSS JOIN runs ON runs.seq = run_fts.rowid
            WHERE run_fts MATCH @phrase${filter.before !== undefined ? ' AND run_fts.rowid < @before' : ''} AND (${statuses})${common.map((c) => ` AND ${c}`).join('')} ORDER BY run_fts.rowid DESC LIMIT @limit`;
          return this.page(this.listStatement(sql).all(params) as RunRow[], filter.limit, false);
        }
        common.push('seq IN (SELECT rowid FROM run_fts WHERE run_fts MATCH @phrase)');
      } else if (!byFinish) {
        // Too short for the index: the narrow text table is read newest first until the page is full.
        const statuses = arms.map((arm) => (arm.length > 0 ? `(${arm.join(' AND ')})` : '1')).join(' OR ');
        const conditions = common.filter((c) => !c.startsWith('instr(')).map((c) => ` AND ${c}`).join('');
        const sql = `SELECT ${RECORD_COLUMNS} FROM run_search CROSS JOIN runs ON runs.seq = run_search.seq
          WHERE instr(run_search.text, @q) > 0${filter.before !== undefined ? ' AND run_search.seq < @before' : ''} AND (${statuses})${conditions} ORDER BY run_search.seq DESC LIMIT @limit`;
        return this.page(this.listStatement(sql).all(params) as RunRow[], filter.limit, false);
      }
    }
    // One index range per status (see SCHEMA), merged: each arm reads at most a page.
    const where = (arm: string[]): string => [...arm, ...common].join(' AND ') || '1';
    let sql: string;
    if (arms.length === 1) {
      sql = `SELECT ${RECORD_COLUMNS} FROM runs WHERE ${where(arms[0])} ORDER BY ${cursor} DESC LIMIT @limit`;
    } else {
      // The arms pick places only (from their indexes); the page's rows are read once, at the end.
      const picked = byFinish ? 'seq, finish_seq' : 'seq';
      const parts = arms.map((arm) => `SELECT * FROM (SELECT ${picked} FROM runs WHERE ${where(arm)} ORDER BY ${cursor} DESC LIMIT @limit)`);
      sql = `SELECT ${RECORD_COLUMNS} FROM (SELECT * FROM (${parts.join(' UNION ALL ')}) ORDER BY ${cursor} DESC LIMIT @limit) AS picked
        CROSS JOIN runs ON runs.seq = picked.seq ORDER BY picked.${cursor} DESC`;
    }
    return this.page(this.listStatement(sql).all(params) as RunRow[], filter.limit, byFinish);
  }

  /** A page from up to `limit + 1` rows: the one past the page says there is a next. */
  private page(rows: RunRow[], limit: number, byFinish: boolean): { items: RunRecord[]; next: number | null } {
    const items = rows.slice(0, limit).map((row) => this.record(row));
    const next = rows.length > limit ? (byFinish ? items[items.length - 1].finishSeq : items[items.length - 1].seq) : null;
    return { items, next };
  }

  /** The SQL a {@link list} call runs, for `EXPLAIN QUERY PLAN` in tests. */
  listStatement(sql: string): Statement {
    let statement = this.listStatements.get(sql);
    if (!statement) {
      statement = this.db!.prepare(sql);
      this.listStatements.set(sql, statement);
    }
    return statement;
  }

  /**
   * What the retention rules (`output-retention.rules.ts`) expire now, from the indexes:
   * per job with `keepRuns`, finished runs below its newest `keepRuns` finished ones; then
   * any other finished run that finished at or before `cutoffMs`. Runs already expired
   * are not listed.
   */
  outputsDue(keepRuns: ReadonlyArray<{ jobId: string; keep: number }>, cutoffMs: number | null): DueOutput[] {
    const due: DueOutput[] = [];
    const byKeep = new Set<string>();
    for (const { jobId, keep } of keepRuns) {
      const threshold = this.s.keepThreshold.get(jobId, keep) as number | undefined;
      if (threshold === undefined) continue;
      for (const runId of this.s.keptBelow.all(jobId, threshold) as string[]) {
        due.push({ runId, by: 'keepRuns' });
        byKeep.add(runId);
      }
    }
    if (cutoffMs !== null) {
      for (const { id } of this.s.keptOlderThan.all(cutoffMs) as Array<{ id: string }>) if (!byKeep.has(id)) due.push({ runId: id, by: 'age' });
    }
    return due;
  }

  /** Runs whose output expired, in the order they expired, after the cursor `after` (0: from the first); at most `limit`. */
  expiredAfter(after: number, limit: number): Array<{ id: string; cursor: number }> {
    return (this.s.expiredAfter.all(after, limit) as Array<{ id: string; expire_seq: number }>).map((row) => ({ id: row.id, cursor: row.expire_seq }));
  }

  /**
   * Whether an event is output that retention expired: a batch of a run whose output
   * expired. SQLite removed it from `$all`; EventStoreDB keeps it there until its next
   * scavenge; a log from before output had a stream of its own keeps it in the run stream
   * (which is never deleted). Readers of `$all` for people (the audit) skip such events so
   * every store and every log shows the same.
   */
  isExpiredOutput(event: Pick<RecordedEvent, 'stream' | 'type' | 'data'>): boolean {
    if (event.type !== 'RunOutputAppended') return false;
    const runId = (event.data as { runId?: unknown } | null)?.runId;
    if (typeof runId !== 'string') return false;
    const row = this.s.byId.get(runId) as RunRow | undefined;
    return (row?.output_expired_at ?? null) !== null;
  }

  /** How many `RunFinished` were applied: changes whenever a run finished (here or on another server). */
  get finishedCount(): number {
    return this.finishes;
  }

  /** How many runs exist. */
  get size(): number {
    return this.counter('count');
  }

  private addRequested(data: RunRequested['data'], recorded: RecordedEvent): void {
    if ((this.building && this.unwritten.has(data.runId)) || this.s.exists.get(data.runId) !== undefined) return;
    // Its place and request time are the admission's (logs from before admissions: the request's own).
    const admitted = this.building ? this.admissions.get(data.runId) : undefined;
    const admission = admitted ?? (this.s.admission.get(data.runId) as { seq: number; at: string } | undefined);
    if (admitted) this.admissions.delete(data.runId);
    else if (admission) this.s.dropAdmission.run(data.runId);
    const seq = admission?.seq ?? this.takeSeq();
    const row = newRunRow({ seq, requestedAt: admission?.at ?? recorded.metadata.at }, data, recorded);
    const text = nameKey(`${data.jobName}\n#${data.number}\n${recorded.metadata.actor}\n${data.snapshot.args.join(' ')}\n`);
    if (this.building) {
      this.unwritten.set(data.runId, { row, isNew: true, search: text });
      this.runJobs.requested(data.jobId, seq);
    } else {
      this.s.insert.run(row);
      this.s.addSearch.run(seq, text);
      this.s.ftsInsert.run(seq, text);
      this.s.addJobRun.run({ job_id: data.jobId, seq, scheduled_ms: row.scheduled_ms });
    }
    this.setCounter('count', this.size + 1);
  }

  /** Takes the next request place. */
  private takeSeq(): number {
    return this.takeCounter('next_seq');
  }

  /** Answers a counter's value and moves it on (kept in the database, so a rollback takes it back too). */
  private takeCounter(key: string): number {
    const value = this.counter(key);
    this.setCounter(key, value + 1);
    return value;
  }

  /** A counter of `runs_meta` (0 before its first use). */
  private counter(key: string): number {
    const kept = this.counters.get(key);
    if (kept !== undefined) return kept;
    return (this.s.meta.get(key) as number | undefined) ?? 0;
  }

  /** Sets a counter (while building: kept in memory until {@link beforeCheckpoint}). */
  private setCounter(key: string, value: number): void {
    if (this.building) this.counters.set(key, value);
    else this.s.setMeta.run(key, value);
  }

  /** A record from its row; its request and output index are read when first looked at (see {@link StoredRunRecord}). */
  private record(row: RunRow): RunRecord {
    return new StoredRunRecord(row, this.s);
  }
}

/**
 * The WHERE conditions, one list per index range, that select the given statuses: a
 * single empty list when every status is wanted. `scheduled` and `queued` split the
 * waiting runs by the clock (`@now`); `queued` also holds claimed runs.
 */
function statusArms(statuses: readonly RunStatus[] | undefined, finishedOnly: boolean): string[][] {
  const wanted = new Set(statuses ?? ALL_STATUSES);
  if (finishedOnly) for (const status of ACTIVE_STATUSES) wanted.delete(status);
  if (ALL_STATUSES.every((status) => wanted.has(status))) return [[]];
  if (finishedOnly && FINISHED_STATUSES.every((status) => wanted.has(status))) return [[]];
  const arms: string[][] = [];
  if (wanted.has('scheduled') && wanted.has('queued')) arms.push(["status_key = 'waiting'"]);
  else if (wanted.has('scheduled')) arms.push(["status_key = 'waiting'", 'scheduled_ms > @now']);
  else if (wanted.has('queued')) arms.push(["status_key = 'waiting'", '(scheduled_ms IS NULL OR scheduled_ms <= @now)']);
  if (wanted.has('queued')) arms.push(["status_key = 'claimed'"]);
  for (const status of ALL_STATUSES) {
    if (status === 'scheduled' || status === 'queued' || !wanted.has(status)) continue;
    arms.push([`status_key = '${status}'`]);
  }
  // No status at all: nothing matches.
  return arms.length > 0 ? arms : [['0']];
}

function endPause(row: RunRow, at: string): void {
  if (row.paused_at !== null) row.paused_ms += Math.max(0, Date.parse(at) - Date.parse(row.paused_at));
  row.paused_at = null;
  if (row.phase === 'paused') row.phase = 'running';
}

/** What `q` searches in a run: job name, `#number`, who asked, arguments and the end's reason (NFC, lower case). */
function searchTextOf(row: Pick<RunRow, 'job_name' | 'number' | 'requested_by' | 'snapshot' | 'reason'>): string {
  const args = (JSON.parse(row.snapshot) as RunSnapshot).args;
  return nameKey(`${row.job_name}\n#${row.number}\n${row.requested_by}\n${args.join(' ')}\n${row.reason ?? ''}`);
}
