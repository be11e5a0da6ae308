/**
 * The prepared statements of the SQLite store, and the row → event mapping.
 *
 * Every read runs in raw mode (rows as arrays, not objects) with bigint integers, and
 * maps a row with one object literal of a fixed shape: replay speed is dominated by
 * this mapping and by the two JSON.parse calls, so nothing else happens per row.
 */
import type Database from 'better-sqlite3';
import type { EventFilter, RecordedEvent } from '../event-store.port';

/** A stored row, in the column order of {@link COLUMNS}. */
export type EventRow = [position: bigint, id: string, stream: string, revision: bigint, type: string, metadata: string, data: string];

const COLUMNS = 'position, id, stream, revision, type, metadata, data';

/** Larger than any position or revision SQLite can hold: the "no upper bound" value. */
export const MAX_INT64 = 9223372036854775807n;

/** `LIMIT -1` is SQLite's "no limit". */
export const NO_LIMIT = -1;

/** Maps a raw row to the port's event. */
export function toRecordedEvent(row: EventRow): RecordedEvent {
  const position = row[0];
  return {
    id: row[1],
    stream: row[2],
    revision: row[3],
    position: { commit: position, prepare: position },
    type: row[4],
    data: JSON.parse(row[6]) as unknown,
    metadata: JSON.parse(row[5]) as RecordedEvent['metadata'],
  };
}

type Stmt = Database.Statement<unknown[], unknown>;

/** The statements a store needs, prepared once per connection. */
export class Queries {
  readonly begin: Stmt;
  readonly commit: Stmt;
  readonly rollback: Stmt;
  readonly savepoint: Stmt;
  readonly release: Stmt;
  readonly rollbackToSavepoint: Stmt;
  /** `(id, stream, revision, type, metadata, data)` → run result with the new position. */
  readonly insert: Stmt;
  /** `(stream)` → `[revision, position]` of the stream's last event, or undefined. */
  readonly streamHead: Stmt;
  /** `(stream, fromRevision, limit)` → rows, revision ascending from fromRevision. */
  readonly streamForwards: Stmt;
  /** `(stream, fromRevision, limit)` → rows, revision descending from fromRevision. */
  readonly streamBackwards: Stmt;
  /** `()` → the largest position, or null for an empty log. */
  readonly headPosition: Stmt;
  readonly ping: Stmt;
  /** `(stream)` → removes every event of the stream. */
  readonly deleteStream: Stmt;

  /** `$all` reads, one statement per filter shape (direction and list lengths). */
  private readonly allReads = new Map<string, Stmt>();

  constructor(private readonly db: Database.Database) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.savepoint = db.prepare('SAVEPOINT append');
    this.release = db.prepare('RELEASE append');
    this.rollbackToSavepoint = db.prepare('ROLLBACK TO append');
    this.insert = db.prepare('INSERT INTO events (id, stream, revision, type, metadata, data) VALUES (?, ?, ?, ?, ?, ?)');
    this.streamHead = db.prepare('SELECT revision, position FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1').raw(true);
    this.streamForwards = db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`)
      .raw(true);
    this.streamBackwards = db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`)
      .raw(true);
    this.headPosition = db.prepare('SELECT max(position) FROM events').pluck(true);
    this.ping = db.prepare('SELECT 1').pluck(true);
    this.deleteStream = db.prepare('DELETE FROM events WHERE stream = ?');
  }

  /**
   * Gives the pages freed by a delete back to the file system: with `auto_vacuum =
   * INCREMENTAL` the free pages move to the end of the file and it is cut short (in the
   * WAL; the main file shrinks at the next checkpoint, which a passive checkpoint here
   * starts without waiting for readers). A file without auto-vacuum keeps its free pages
   * for later appends: it stops growing, and `VACUUM` once shrinks it (see the README).
   */
  reclaim(): void {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /**
   * Forwards over `$all`: events with `after < position <= upTo` that pass the filter,
   * in position order, at most `limit`. The filter is evaluated by SQLite.
   */
  readForwards(filter: EventFilter | undefined, after: bigint, upTo: bigint, limit: number): { statement: Stmt; params: unknown[] } {
    const where = filterSql(filter);
    const statement = this.allRead('f', where, () => `SELECT ${COLUMNS} FROM events WHERE position > ? AND position <= ?${where.sql} ORDER BY position ASC LIMIT ?`);
    return { statement, params: [after, upTo, ...where.params, limit] };
  }

  /** Backwards over `$all`: events with `position < before` that pass the filter, newest first, at most `limit`. */
  readBackwards(filter: EventFilter | undefined, before: bigint, limit: number): { statement: Stmt; params: unknown[] } {
    const where = filterSql(filter);
    const statement = this.allRead('b', where, () => `SELECT ${COLUMNS} FROM events WHERE position < ?${where.sql} ORDER BY position DESC LIMIT ?`);
    return { statement, params: [before, ...where.params, limit] };
  }

  private allRead(direction: string, where: FilterSql, sql: () => string): Stmt {
    const key = `${direction}:${where.shape}`;
    let statement = this.allReads.get(key);
    if (!statement) {
      statement = this.db.prepare(sql()).raw(true);
      this.allReads.set(key, statement);
    }
    return statement;
  }
}

interface FilterSql {
  /** ` AND (...)` clauses, or empty. */
  sql: string;
  params: string[];
  /** Identifies the SQL text, which depends only on the list lengths. */
  shape: string;
}

/**
 * The filter as SQL. A prefix test is `substr(stream, 1, length(?)) = ?` rather than
 * LIKE, which is case-insensitive and treats `%` and `_` as wildcards; SQLite counts the
 * prefix's length itself so multi-byte characters are measured the same way on both
 * sides. An empty list matches nothing, as {@link matchesFilter} in the port does.
 */
function filterSql(filter: EventFilter | undefined): FilterSql {
  let sql = '';
  const params: string[] = [];
  const prefixes = filter?.streamPrefixes;
  const types = filter?.eventTypes;
  if (prefixes) {
    sql += prefixes.length === 0 ? ' AND 0' : ` AND (${prefixes.map(() => 'substr(stream, 1, length(?)) = ?').join(' OR ')})`;
    for (const prefix of prefixes) params.push(prefix, prefix);
  }
  if (types) {
    sql += types.length === 0 ? ' AND 0' : ` AND type IN (${types.map(() => '?').join(', ')})`;
    params.push(...types);
  }
  return { sql, params, shape: `${prefixes?.length ?? '-'}:${types?.length ?? '-'}` };
}
