import { Injectable } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { FinishedStatus } from '../runs/run.events';
import type { RunStatus } from '../runs/runs.read-model';
import type { NameHolder } from '../scripts/script.decider';
import { nameKey } from '../shared/names';
import type { Removal, Removals } from '../shared/removals';
import { ftsPhrase, usesTrigramIndex } from '../shared/sql-search';
import { withDefinitionDefaults, type JobEvent, type JobFile, type JobSchedule } from './job.events';
import { readableJobEvent } from './job.upcast';

/** A job as stored in the read model (the API adds `lastRun` from the runs read model). */
export interface JobRecord {
  id: string;
  name: string;
  description: string;
  scriptId: string;
  args: string[];
  env: Record<string, string>;
  files: JobFile[];
  tags: string[];
  timeoutSeconds: number | null;
  /** Runs of this job that may execute at once; null: only the server's limit. */
  maxConcurrent: number | null;
  schedules: JobSchedule[];
  /** Its runs' work directories are kept after they end (see `WorkdirRetention`). */
  keepWorkdir: boolean;
  /** Output of finished runs kept for the newest this many; null: all kept. */
  keepRuns: number | null;
  /** Glob patterns of the files its runs keep as artifacts. */
  artifacts: string[];
  /** Labels a runner must all have to take its runs (lower case); empty: any runner. */
  runsOn: string[];
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
  /** Lowercased name, description and tags, for the search bar. */
  searchText: string;
}

/** What the jobs lists filter by (API `GET /api/jobs`, the jobs page). */
export interface JobSearch {
  /** Substring of the name, description or a tag (compared as name keys: NFC, lower case). */
  q?: string;
  /** A tag the job carries (a name key). */
  tag?: string;
  /** The status of its latest run now, or `never` for jobs that have had none. */
  lastStatus?: RunStatus | 'never';
  /** How its most recently finished run ended, or `never` for jobs with no finished run. */
  lastOutcome?: FinishedStatus | 'never';
}

/**
 * The tables: `jobs` (one row per job, the record as JSON, a `sort_key` that orders as
 * names compare for a person, see {@link sortKeyOf}), names, ids ever issued, tags,
 * the trigram index of the search text, and `removed_jobs`: each removed job's id under
 * the name it had then (in the order of the removals), so a removed job's former name
 * can be answered with its id.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  pos INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sort_key TEXT NOT NULL,
  name TEXT NOT NULL,
  script_id TEXT NOT NULL,
  keep_runs INTEGER,
  record TEXT NOT NULL,
  search_text TEXT NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_names (name_key TEXT PRIMARY KEY, job_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_tags (job_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (job_id, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS removed_jobs (
  seq INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL UNIQUE,
  name_key TEXT NOT NULL,
  name TEXT NOT NULL,
  removed_at TEXT NOT NULL,
  removed_by TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS jobs_fts USING fts5 (search_text, content = 'jobs', content_rowid = 'pos', tokenize = 'trigram case_sensitive 1');
`;

/** The indexes only queries use (applying an event looks jobs up by id): a build creates them at its end (see `Projection.open`). */
const QUERY_INDEXES = `
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (sort_key, name, id);
CREATE INDEX IF NOT EXISTS jobs_by_script ON jobs (script_id, sort_key);
CREATE INDEX IF NOT EXISTS jobs_keeping_runs ON jobs (keep_runs) WHERE keep_runs IS NOT NULL;
CREATE INDEX IF NOT EXISTS job_tags_by_tag ON job_tags (tag, job_id);
CREATE INDEX IF NOT EXISTS removed_jobs_by_name ON removed_jobs (name_key, seq);
`;

interface JobRow {
  pos: number;
  record: string;
  search_text: string;
  version: number;
}

type Statement = BetterSqlite3.Statement;

interface Statements {
  byId: Statement;
  byIds: Statement;
  insert: Statement;
  update: Statement;
  remove: Statement;
  ftsInsert: Statement;
  ftsDelete: Statement;
  issued: Statement;
  issue: Statement;
  idByName: Statement;
  setName: Statement;
  forgetName: Statement;
  addTag: Statement;
  dropTags: Statement;
  rememberRemoval: Statement;
  removedNamed: Statement;
  countRemovedNamed: Statement;
  usingScript: Statement;
  countByScript: Statement;
  keepingRuns: Statement;
  tags: Statement;
  count: Statement;
  meta: Statement;
  setMeta: Statement;
}

/** Jobs, projected from their events into the projection database; removed ones are forgotten. */
@Injectable()
export class JobsReadModel implements Projection {
  readonly name = 'jobs';
  /** 2: added `removed_jobs` (the rebuild this causes fills it with the removals already in the log). */
  readonly version = 2;
  private db: ProjectionDb | null = null;
  private statements: Statements | null = null;
  private readonly searchStatements = new Map<string, Statement>();
  /** Bumped when a job is created or changed with a `keepRuns`: retention sweeps when it moves. */
  private keepRunsEpoch = 0;

  /** Building: the query indexes and the search index are built by {@link finishBuild}. */
  private building = false;

  /** Creates the tables (when missing) and prepares the statements; `building`: see {@link Projection.open}. */
  open(db: ProjectionDb, options: { building?: boolean } = {}): void {
    db.exec(SCHEMA);
    this.building = options.building === true;
    if (!this.building) db.exec(QUERY_INDEXES);
    this.db = db;
    this.searchStatements.clear();
    const p = (sql: string): Statement => db.prepare(sql);
    this.statements = {
      byId: p('SELECT pos, record, search_text, version FROM jobs WHERE id = ?'),
      byIds: p('SELECT id, record, search_text FROM jobs WHERE id IN (SELECT value FROM json_each(?))'),
      insert: p(`INSERT INTO jobs (id, sort_key, name, script_id, keep_runs, record, search_text, version)
        VALUES (@id, @sort_key, @name, @script_id, @keep_runs, @record, @search_text, @version)`),
      update: p(`UPDATE jobs SET sort_key = @sort_key, name = @name, script_id = @script_id, keep_runs = @keep_runs, record = @record,
        search_text = @search_text, version = @version WHERE pos = @pos`),
      remove: p('DELETE FROM jobs WHERE pos = ?'),
      ftsInsert: p('INSERT INTO jobs_fts (rowid, search_text) VALUES (?, ?)'),
      ftsDelete: p("INSERT INTO jobs_fts (jobs_fts, rowid, search_text) VALUES ('delete', ?, ?)"),
      issued: p('SELECT 1 FROM job_ids WHERE id = ?').pluck(),
      issue: p('INSERT OR IGNORE INTO job_ids (id) VALUES (?)'),
      idByName: p('SELECT job_id FROM job_names WHERE name_key = ?').pluck(),
      setName: p('INSERT INTO job_names (name_key, job_id) VALUES (?, ?) ON CONFLICT (name_key) DO UPDATE SET job_id = excluded.job_id'),
      forgetName: p('DELETE FROM job_names WHERE name_key = ? AND job_id = ?'),
      addTag: p('INSERT OR IGNORE INTO job_tags (job_id, tag) VALUES (?, ?)'),
      dropTags: p('DELETE FROM job_tags WHERE job_id = ?'),
      // OR IGNORE: a job is removed once; its removal applied again leaves the first row.
      rememberRemoval: p('INSERT OR IGNORE INTO removed_jobs (job_id, name_key, name, removed_at, removed_by) VALUES (?, ?, ?, ?, ?)'),
      removedNamed: p('SELECT job_id AS id, name, removed_at AS removedAt, removed_by AS removedBy FROM removed_jobs WHERE name_key = ? ORDER BY seq DESC LIMIT ?'),
      countRemovedNamed: p('SELECT count(*) FROM removed_jobs WHERE name_key = ?').pluck(),
      usingScript: p('SELECT record, search_text FROM jobs WHERE script_id = ? ORDER BY sort_key, name, id'),
      countByScript: p('SELECT script_id, count(*) AS n FROM jobs GROUP BY script_id'),
      keepingRuns: p('SELECT id, keep_runs FROM jobs WHERE keep_runs IS NOT NULL'),
      tags: p('SELECT DISTINCT tag FROM job_tags ORDER BY tag').pluck(),
      count: p('SELECT count(*) FROM jobs').pluck(),
      meta: p('SELECT value FROM jobs_meta WHERE key = ?').pluck(),
      setMeta: p('INSERT INTO jobs_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
  }

  /** Creates the query indexes and fills the search index from `jobs` in one pass. */
  finishBuild(): void {
    if (!this.building || !this.db) return;
    this.db.exec(QUERY_INDEXES);
    this.db.prepare("INSERT INTO jobs_fts (jobs_fts) VALUES ('rebuild')").run();
    this.building = false;
  }

  private get s(): Statements {
    if (!this.statements) throw new Error('The jobs read model has no database yet (open it first)');
    return this.statements;
  }

  /**
   * Applies one event. Idempotent by position: a creation of an id already issued, or a
   * change at or below the job's stored version, changes nothing.
   */
  apply(recorded: RecordedEvent): void {
    if (!recorded.stream.startsWith('job-')) return;
    // Read through the upcast: a value a job can never hold is not applied (see job.upcast.ts).
    const event = readableJobEvent({ type: recorded.type, data: recorded.data } as JobEvent);
    const { at, actor } = recorded.metadata;
    const revision = Number(recorded.revision);
    const stamp = { version: revision, updatedAt: at, updatedBy: actor };
    const setsKeepRuns = (event.type === 'JobCreated' || event.type === 'JobUpdated') && (event.data as { keepRuns?: unknown }).keepRuns !== undefined;
    switch (event.type) {
      case 'JobCreated': {
        const { jobId, ...definition } = event.data;
        if (this.s.issued.get(jobId) !== undefined) return;
        const job: JobRecord = { id: jobId, ...withDefinitionDefaults(definition), files: [], createdAt: at, createdBy: actor, ...stamp, searchText: '' };
        job.searchText = searchTextOf(job);
        const pos = Number(this.s.insert.run(this.columns(job)).lastInsertRowid);
        if (!this.building) this.s.ftsInsert.run(pos, job.searchText);
        for (const tag of job.tags) this.s.addTag.run(jobId, tag);
        this.s.setName.run(nameKey(job.name), jobId);
        this.s.issue.run(jobId);
        this.s.setMeta.run('count', this.size + 1);
        if (setsKeepRuns) this.keepRunsEpoch++;
        return;
      }
      case 'JobUpdated': {
        const stored = this.stored(event.data.jobId, revision);
        if (!stored) return;
        const { job } = stored;
        // All or nothing: the new record is built (the step that can fail) before anything changes.
        const { jobId: _id, ...changes } = event.data;
        const next: JobRecord = { ...job, ...changes, ...stamp, searchText: searchTextOf({ ...job, ...changes }) };
        if (event.data.name !== undefined) {
          this.forgetName(job);
          this.s.setName.run(nameKey(event.data.name), job.id);
        }
        this.replace(stored.row, job, next);
        if (setsKeepRuns) this.keepRunsEpoch++;
        return;
      }
      case 'JobFileAttached': {
        const stored = this.stored(event.data.jobId, revision);
        if (!stored) return;
        const file = event.data.file;
        const files = [...stored.job.files.filter((f) => f.name !== file.name), file].sort((a, b) => a.name.localeCompare(b.name));
        this.replace(stored.row, stored.job, { ...stored.job, files, ...stamp });
        return;
      }
      case 'JobFileRemoved': {
        const stored = this.stored(event.data.jobId, revision);
        if (!stored) return;
        const files = stored.job.files.filter((f) => f.name !== event.data.name);
        this.replace(stored.row, stored.job, { ...stored.job, files, ...stamp });
        return;
      }
      case 'JobRemoved': {
        const stored = this.stored(event.data.jobId, revision);
        if (!stored) return;
        if (!this.building) this.s.ftsDelete.run(stored.row.pos, stored.row.search_text);
        this.s.remove.run(stored.row.pos);
        this.s.dropTags.run(stored.job.id);
        this.forgetName(stored.job);
        this.s.rememberRemoval.run(stored.job.id, nameKey(stored.job.name), stored.job.name, at, actor);
        this.s.setMeta.run('count', this.size - 1);
        return;
      }
      default:
        return;
    }
  }

  /** The stored job when `revision` is news to it (else undefined: absent, or already applied). */
  private stored(jobId: string, revision: number): { row: JobRow; job: JobRecord } | undefined {
    const row = this.s.byId.get(jobId) as JobRow | undefined;
    if (!row || revision <= row.version) return undefined;
    return { row, job: recordOf(row) };
  }

  /** Writes a changed job back, with its search index and tags. */
  private replace(row: JobRow, before: JobRecord, job: JobRecord): void {
    this.s.update.run({ ...this.columns(job), pos: row.pos });
    if (job.searchText !== row.search_text && !this.building) {
      this.s.ftsDelete.run(row.pos, row.search_text);
      this.s.ftsInsert.run(row.pos, job.searchText);
    }
    if (job.tags !== before.tags) {
      this.s.dropTags.run(job.id);
      for (const tag of job.tags) this.s.addTag.run(job.id, tag);
    }
  }

  private columns(job: JobRecord): Record<string, unknown> {
    const { searchText, ...stored } = job;
    return {
      id: job.id,
      sort_key: sortKeyOf(job.name),
      name: job.name,
      script_id: job.scriptId,
      keep_runs: job.keepRuns,
      record: JSON.stringify(stored),
      search_text: searchText,
      version: job.version,
    };
  }

  /** Changes whenever a job's `keepRuns` may have changed. */
  get retentionEpoch(): number {
    return this.keepRunsEpoch;
  }

  get(id: string): JobRecord | undefined {
    const row = this.s.byId.get(id) as JobRow | undefined;
    return row ? recordOf(row) : undefined;
  }

  /** {@link get} of many jobs in one query: by id, those that exist now. */
  getMany(ids: readonly string[]): Map<string, JobRecord> {
    const rows = this.s.byIds.all(JSON.stringify(ids)) as Array<Pick<JobRow, 'record' | 'search_text'> & { id: string }>;
    return new Map(rows.map((row) => [row.id, recordOf(row)]));
  }

  /**
   * By id, or else by name (NFC, case-insensitive): wherever a job id is accepted, its
   * name is too. An id this log ever issued means that job only, so a removed job's id
   * finds nothing, forever — never a job that is named like it (old logs may hold one).
   */
  find(idOrName: string): JobRecord | undefined {
    if (this.s.issued.get(idOrName) !== undefined) return this.get(idOrName);
    const id = this.s.idByName.get(nameKey(idOrName)) as string | undefined;
    return id === undefined ? undefined : this.get(id);
  }

  /**
   * The id of the job `idOrName` names where what a job left is listed (its runs, its
   * events): a job now, by id or name, or a removed job by its id (its runs and events
   * stay; ids are never issued again). Undefined otherwise.
   */
  historyId(idOrName: string): string | undefined {
    return this.find(idOrName)?.id ?? (this.s.issued.get(idOrName) !== undefined ? idOrName : undefined);
  }

  /** Whether `value` is (or was) a job's id or is a job's name: a new id must be neither. */
  isTaken(value: string): boolean {
    return this.s.issued.get(value) !== undefined || this.s.idByName.get(nameKey(value)) !== undefined;
  }

  /**
   * The removed jobs whose name, when they were removed, was `name` (compared as name
   * keys): the newest `limit` removals first, and how many there are in all. Empty for a
   * name no removed job had; a job renamed before its removal is found by its last name only.
   */
  removedNamed(name: string, limit: number): Removals {
    const key = nameKey(name);
    const items = this.s.removedNamed.all(key, limit) as Removal[];
    // Counted only when there may be more than the page (both read the name's index, newest first).
    return { items, total: items.length < limit ? items.length : (this.s.countRemovedNamed.get(key) as number) };
  }

  /** Drops the job's name from the index, unless another job holds that key (two old look-alike names). */
  private forgetName(job: JobRecord): void {
    this.s.forgetName.run(nameKey(job.name), job.id);
  }

  nameHolder(name: string): NameHolder | null {
    const id = this.s.idByName.get(nameKey(name)) as string | undefined;
    const job = id === undefined ? undefined : this.get(id);
    return job ? { id: job.id, name: job.name } : null;
  }

  /** The jobs that use a template, by name. */
  usingScript(scriptId: string): JobRecord[] {
    return (this.s.usingScript.all(scriptId) as JobRow[]).map(recordOf);
  }

  /** How many jobs use each template (templates no job uses are absent). */
  countByScript(): Map<string, number> {
    const rows = this.s.countByScript.all() as Array<{ script_id: string; n: number }>;
    return new Map(rows.map((row) => [row.script_id, row.n]));
  }

  /** The jobs that keep the output of their newest runs only, and how many. */
  keepingRuns(): Array<{ jobId: string; keep: number }> {
    return (this.s.keepingRuns.all() as Array<{ id: string; keep_runs: number }>).map((row) => ({ jobId: row.id, keep: row.keep_runs }));
  }

  /**
   * Names for a suggestion list: up to `limit` names starting with `typed` (lower case),
   * then up to `limit` more containing it, each in name order. Reads the names in the
   * order of their index and stops once `limit` start with it: bounded memory however
   * many jobs there are.
   */
  namesMatching(typed: string, limit: number): string[] {
    const starting: string[] = [];
    const containing: string[] = [];
    for (const name of this.searchStatement('SELECT name FROM jobs ORDER BY sort_key, name, id').pluck().iterate() as IterableIterator<string>) {
      const lower = name.toLowerCase();
      if (lower.startsWith(typed)) starting.push(name);
      else if (containing.length < limit && lower.includes(typed)) containing.push(name);
      if (starting.length === limit) break;
    }
    return [...starting, ...containing];
  }

  /** Every tag some job carries, sorted. */
  tagsInUse(): string[] {
    return this.s.tags.all() as string[];
  }

  /**
   * Jobs matching `filter`, by name (as a person sorts them), `limit` of them from the
   * `offset`-th, and how many match in all. The last-run filters read the runs
   * projection's per-job table (`run_jobs`, same database), judged at `now`.
   */
  search(filter: JobSearch, now: Date, offset = 0, limit = -1): { items: JobRecord[]; total: number } {
    const { where, params, q } = this.conditionOf(filter, now);
    if (where.length === 0) {
      const rows = this.searchStatement('SELECT record, search_text FROM jobs ORDER BY sort_key, name, id LIMIT @limit OFFSET @offset').all({ limit, offset }) as JobRow[];
      return { items: rows.map(recordOf), total: this.size };
    }
    const condition = where.join(' AND ');
    const page = { ...params, limit, offset };
    if (q === '') {
      // The name index gives the order: the page stops early, the count reads the filter's matches.
      const rows = this.searchStatement(`SELECT record, search_text FROM jobs WHERE ${condition} ORDER BY sort_key, name, id LIMIT @limit OFFSET @offset`).all(page) as JobRow[];
      return { items: rows.map(recordOf), total: this.searchStatement(`SELECT count(*) FROM jobs WHERE ${condition}`).pluck().get(params) as number };
    }
    // A search: its matches (from the trigram index) are sorted, and counted in the same pass,
    // by their keys alone; only the page's records are read (sorting 1,667 matches of 10,000
    // jobs with their records took 6.6 ms, by their keys 1.8 ms).
    const rows = this.searchStatement(
      `SELECT jobs.record, jobs.search_text, found.total FROM (
         SELECT pos, sort_key, name, id, count(*) OVER () AS total FROM jobs WHERE ${condition} ORDER BY sort_key, name, id LIMIT @limit OFFSET @offset
       ) AS found JOIN jobs ON jobs.pos = found.pos ORDER BY found.sort_key, found.name, found.id`,
    ).all(page) as Array<JobRow & { total: number }>;
    const total = rows.length > 0 ? rows[0].total : (this.searchStatement(`SELECT count(*) FROM jobs WHERE ${condition}`).pluck().get(params) as number);
    return { items: rows.map(recordOf), total };
  }

  /**
   * The ids of every job matching `filter`, in {@link search}'s order: what an answer
   * listing them all takes up front (a few bytes a job), so it can build and send the
   * jobs themselves a few at a time.
   */
  searchIds(filter: JobSearch, now: Date): string[] {
    const { where, params } = this.conditionOf(filter, now);
    const condition = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    return this.searchStatement(`SELECT id FROM jobs ${condition} ORDER BY sort_key, name, id`).pluck().all(params) as string[];
  }

  /** The SQL conditions (joined with AND) and parameters of a {@link search}, and its search text (name key, '' for none). */
  private conditionOf(filter: JobSearch, now: Date): { where: string[]; params: Record<string, unknown>; q: string } {
    const where: string[] = [];
    const params: Record<string, unknown> = { now: now.getTime() };
    const q = filter.q !== undefined ? nameKey(filter.q.trim()) : '';
    if (q !== '') {
      params.q = q;
      if (usesTrigramIndex(q)) {
        where.push('jobs.pos IN (SELECT rowid FROM jobs_fts WHERE jobs_fts MATCH @phrase)');
        params.phrase = ftsPhrase(q);
      }
      where.push('instr(jobs.search_text, @q) > 0');
    }
    const tag = filter.tag !== undefined ? nameKey(filter.tag.trim()) : '';
    if (tag !== '') {
      where.push('EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = jobs.id AND t.tag = @tag)');
      params.tag = tag;
    }
    if (filter.lastStatus !== undefined) {
      params.lastStatus = filter.lastStatus;
      where.push(
        filter.lastStatus === 'never'
          ? 'NOT EXISTS (SELECT 1 FROM run_jobs r WHERE r.job_id = jobs.id)'
          : `EXISTS (SELECT 1 FROM run_jobs r WHERE r.job_id = jobs.id AND ${latestStatusIs(filter.lastStatus)})`,
      );
    }
    if (filter.lastOutcome !== undefined) {
      params.lastOutcome = filter.lastOutcome;
      where.push(
        filter.lastOutcome === 'never'
          ? 'NOT EXISTS (SELECT 1 FROM run_jobs r WHERE r.job_id = jobs.id AND r.last_outcome IS NOT NULL)'
          : 'EXISTS (SELECT 1 FROM run_jobs r WHERE r.job_id = jobs.id AND r.last_outcome = @lastOutcome)',
      );
    }
    return { where, params, q };
  }

  private searchStatement(sql: string): Statement {
    let statement = this.searchStatements.get(sql);
    if (!statement) {
      statement = this.db!.prepare(sql);
      this.searchStatements.set(sql, statement);
    }
    return statement;
  }

  /** How many jobs exist. */
  get size(): number {
    return (this.s.meta.get('count') as number | undefined) ?? 0;
  }
}

/** The SQL condition on a `run_jobs r` row that its job's latest run has `status` now (`@now`, ms). */
function latestStatusIs(status: RunStatus): string {
  switch (status) {
    case 'scheduled':
      return "r.latest_status_key = 'waiting' AND r.latest_scheduled_ms > @now";
    case 'queued':
      return "(r.latest_status_key = 'claimed' OR (r.latest_status_key = 'waiting' AND (r.latest_scheduled_ms IS NULL OR r.latest_scheduled_ms <= @now)))";
    default:
      return 'r.latest_status_key = @lastStatus';
  }
}

function recordOf(row: Pick<JobRow, 'record' | 'search_text'>): JobRecord {
  // Read with today's defaults: a record stored before a field existed (`runsOn`, `artifacts`) lacks it.
  return { ...withDefinitionDefaults(JSON.parse(row.record) as Omit<JobRecord, 'searchText'>), searchText: row.search_text };
}

function searchTextOf(job: Pick<JobRecord, 'name' | 'description' | 'tags'>): string {
  return nameKey([job.name, job.description, ...job.tags].join('\n'));
}

/**
 * Ranks of the printable ASCII characters in the order a person's sort (ICU's root
 * collation, what `localeCompare` uses) puts them, lower case only: spaces and
 * punctuation, then digits, then letters.
 */
const ASCII_RANK = new Map<string, number>(
  Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))
    .filter((c) => c.toLowerCase() === c)
    .sort((a, b) => a.localeCompare(b))
    .map((c, rank) => [c, rank]),
);

/**
 * A text whose binary order is the order `localeCompare` gives names at its first
 * level (case and accents ignored): lower-cased, accents dropped, ASCII mapped to its
 * collation rank (below every other character, which keeps its code point). Ties are
 * broken by the name itself, then the id.
 */
export function sortKeyOf(name: string): string {
  let key = '';
  for (const c of name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()) {
    const rank = ASCII_RANK.get(c);
    key += rank === undefined ? c : String.fromCharCode(0x21 + rank);
  }
  return key;
}
