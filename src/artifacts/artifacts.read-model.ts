import { Injectable } from '@nestjs/common';
import type BetterSqlite3 from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { FinishedStatus } from '../runs/run.events';
import { RunsReadModel } from '../runs/runs.read-model';
import type { SkippedArtifact } from '../runs/runner/artifact-collector';
import { ARTIFACT_CONTENT_PREFIX, ARTIFACT_LIST_PREFIX, type ArtifactEntry, ownerOfContentStream, type RunArtifactsCollected } from './artifact.events';

/** A kept artifact as the read model answers it. */
export interface ArtifactRecord extends ArtifactEntry {
  runId: string;
  jobId: string;
  number: number;
}

/**
 * The tables (in the projection database, apart from the runs' own):
 * - `run_artifacts`: one row per kept file of a run, with its job, number, how the
 *   run ended and whether its artifacts expired (for the `latest` permalink);
 * - `run_artifacts_skipped`: the files a run found but did not keep, in order;
 * - `artifact_content`: every `artifactdata-…` copy, complete and released or not,
 *   with the run it is named after (deduplication looks up a complete, unreleased
 *   copy by sha256; retention, the copies a run stored whether its list names them or not).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS run_artifacts (
  run_id TEXT NOT NULL,
  path TEXT NOT NULL,
  job_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  content TEXT NOT NULL,
  status TEXT,
  expired INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_artifacts_latest ON run_artifacts (job_id, path, number) WHERE status = 'succeeded' AND expired = 0;
CREATE INDEX IF NOT EXISTS run_artifacts_by_content ON run_artifacts (content);
CREATE TABLE IF NOT EXISTS run_artifacts_skipped (
  run_id TEXT NOT NULL,
  ord INTEGER NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (run_id, ord)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artifact_content (
  stream TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  run_id TEXT NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0,
  released INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifact_content_live ON artifact_content (sha256) WHERE complete = 1 AND released = 0;
CREATE INDEX IF NOT EXISTS artifact_content_by_run ON artifact_content (run_id) WHERE released = 0;
`;

type Statement = BetterSqlite3.Statement;

interface ArtifactRow {
  run_id: string;
  path: string;
  job_id: string;
  number: number;
  size: number;
  sha256: string;
  content: string;
}

/** The artifacts of runs and the stored copies of their bytes, projected from the log. */
@Injectable()
export class ArtifactsReadModel implements Projection {
  readonly name = 'artifacts';
  /** 2: `artifact_content.run_id` (retention finds the copies of a run that ended without its list). */
  readonly version = 2;
  private statements: Record<string, Statement> | null = null;

  constructor(private readonly runs: RunsReadModel) {}

  open(db: ProjectionDb): void {
    db.exec(SCHEMA);
    const p = (sql: string): Statement => db.prepare(sql);
    this.statements = {
      insert: p(`INSERT OR IGNORE INTO run_artifacts (run_id, path, job_id, number, size, sha256, content, status, expired)
        VALUES (@run_id, @path, @job_id, @number, @size, @sha256, @content, @status, @expired)`),
      insertSkipped: p('INSERT OR IGNORE INTO run_artifacts_skipped (run_id, ord, path, size, reason) VALUES (?, ?, ?, ?, ?)'),
      skippedCount: p('SELECT COUNT(*) FROM run_artifacts_skipped WHERE run_id = ?').pluck(),
      finished: p('UPDATE run_artifacts SET status = ? WHERE run_id = ?'),
      expired: p('UPDATE run_artifacts SET expired = 1 WHERE run_id = ?'),
      contentSeen: p('INSERT OR IGNORE INTO artifact_content (stream, sha256, run_id) VALUES (?, ?, ?)'),
      contentComplete: p('UPDATE artifact_content SET complete = 1 WHERE stream = ?'),
      contentReleased: p('UPDATE artifact_content SET released = 1 WHERE stream = ?'),
      list: p('SELECT * FROM run_artifacts WHERE run_id = ? ORDER BY path'),
      skipped: p('SELECT path, size, reason FROM run_artifacts_skipped WHERE run_id = ? ORDER BY ord'),
      one: p('SELECT * FROM run_artifacts WHERE run_id = ? AND path = ?'),
      latest: p("SELECT * FROM run_artifacts WHERE job_id = ? AND path = ? AND status = 'succeeded' AND expired = 0 ORDER BY number DESC LIMIT 1"),
      live: p('SELECT stream FROM artifact_content WHERE sha256 = ? AND complete = 1 AND released = 0 ORDER BY stream LIMIT 1').pluck(),
      contentsOf: p('SELECT DISTINCT content FROM run_artifacts WHERE run_id = ?').pluck(),
      copiesOf: p('SELECT stream FROM artifact_content WHERE run_id = ? AND released = 0').pluck(),
      keptBy: p('SELECT run_id FROM run_artifacts WHERE run_id = ? AND expired = 0 LIMIT 1').pluck(),
      listed: p('SELECT 1 FROM run_artifacts WHERE run_id = ? UNION ALL SELECT 1 FROM run_artifacts_skipped WHERE run_id = ? LIMIT 1').pluck(),
    };
  }

  private get s(): Record<string, Statement> {
    if (!this.statements) throw new Error('The artifacts read model has no database yet (open it first)');
    return this.statements;
  }

  apply(event: RecordedEvent): void {
    if (event.stream.startsWith(ARTIFACT_LIST_PREFIX)) {
      if (event.type === 'RunArtifactsCollected') this.collected(event.data as RunArtifactsCollected['data']);
    } else if (event.stream.startsWith(ARTIFACT_CONTENT_PREFIX)) {
      const sha256 = (event.data as { sha256?: unknown }).sha256;
      if (typeof sha256 !== 'string') return;
      // Chunks carry the bytes: only the first makes a row, later ones are skipped without a write.
      if (event.type === 'BlobChunkStored' && event.revision > 0n) return;
      this.s.contentSeen.run(event.stream, sha256, ownerOfContentStream(event.stream));
      if (event.type === 'BlobCompleted') this.s.contentComplete.run(event.stream);
      else if (event.type === 'ArtifactContentReleased') this.s.contentReleased.run(event.stream);
    } else if (event.stream.startsWith('run-')) {
      if (event.type === 'RunFinished') {
        const data = event.data as { runId: string; status: FinishedStatus };
        this.s.finished.run(data.status, data.runId);
      } else if (event.type === 'RunOutputExpired') {
        this.s.expired.run((event.data as { runId: string }).runId);
      }
    }
  }

  private collected(data: RunArtifactsCollected['data']): void {
    const run = this.runs.get(data.runId);
    // A list without its run cannot be shown or found; the run's own events always come first.
    if (!run) return;
    const status = run.finishedStatus;
    const expired = run.outputExpiredAt !== null ? 1 : 0;
    for (const file of data.files ?? []) {
      this.s.insert.run({ run_id: run.id, path: file.path, job_id: run.jobId, number: run.number, size: file.size, sha256: file.sha256, content: file.content, status, expired });
    }
    // Appended in order: each skipped entry's place continues after those recorded before.
    let ord = Number(this.s.skippedCount.get(run.id));
    for (const skip of data.skipped ?? []) this.s.insertSkipped.run(run.id, ord++, skip.path, skip.size, skip.reason);
  }

  /** A run's kept artifacts, by path. */
  list(runId: string): ArtifactRecord[] {
    return (this.s.list.all(runId) as ArtifactRow[]).map(toRecord);
  }

  /** What a run found and did not keep, in the order found. */
  skipped(runId: string): SkippedArtifact[] {
    return this.s.skipped.all(runId) as SkippedArtifact[];
  }

  /** One artifact of a run by its path. */
  find(runId: string, path: string): ArtifactRecord | undefined {
    const row = this.s.one.get(runId, path) as ArtifactRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** The file `path` from the job's newest succeeded run that kept it (and whose artifacts have not expired). */
  latest(jobId: string, path: string): ArtifactRecord | undefined {
    const row = this.s.latest.get(jobId, path) as ArtifactRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** A complete copy of these bytes that no retention released: the stream a new run may reference. */
  liveContent(sha256: string): string | null {
    return (this.s.live.get(sha256) as string | undefined) ?? null;
  }

  /** The content streams a run's artifacts are kept in. */
  contentsOf(runId: string): string[] {
    return this.s.contentsOf.all(runId) as string[];
  }

  /**
   * The copies named after a run and not released: those its list names, and any it
   * began or finished storing without a list that names them (a job server that
   * stopped before announcing its list again, a server stopped while storing).
   */
  copiesOf(runId: string): string[] {
    return this.s.copiesOf.all(runId) as string[];
  }

  /** Whether the log holds a list for the run (kept or skipped files), as far as the read model has seen. */
  hasList(runId: string): boolean {
    return this.s.listed.get(runId, runId) !== undefined;
  }

  /** Whether a run still keeps artifacts (has some, not expired). */
  keeps(runId: string): boolean {
    return this.s.keptBy.get(runId) !== undefined;
  }
}

function toRecord(row: ArtifactRow): ArtifactRecord {
  return { runId: row.run_id, jobId: row.job_id, number: row.number, path: row.path, size: row.size, sha256: row.sha256, content: row.content };
}
