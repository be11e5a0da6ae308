/**
 * Opening the SQLite file: connection settings (pragmas) and the schema.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { asLogDamage, checkLogFileHeader } from './log-file-check';

/** The connection settings the store runs with, as SQLite reports them. */
export interface SqlitePragmas {
  journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  synchronous: number;
  busyTimeoutMs: number;
  /** The page cache's size in KiB. */
  cacheKib: number;
}

/** How long a write waits for another connection (another process, a backup) to release its lock. */
export const BUSY_TIMEOUT_MS = 5000;

/** The embedded log's file name in the data directory (the server opens it; `endercompute restore` writes it). */
export const LOG_FILE_NAME = 'events.db';

/** Bumped when the schema changes, so a later version can migrate an older file. */
export const SCHEMA_VERSION = 1;

/**
 * One row per event. `position` is the global position: INTEGER PRIMARY KEY makes it
 * the rowid, and AUTOINCREMENT guarantees a number is never reused, even after the
 * last rows were rolled back or deleted, so a checkpoint can never point at a
 * different event later. `UNIQUE (stream, revision)` backs optimistic concurrency
 * (and is the index stream reads use). `metadata` comes before `data` on purpose:
 * data can be ~1 MiB and spill into overflow pages, and SQLite must walk those pages
 * to reach any column stored after it; filters only touch `stream` and `type`.
 * STRICT makes SQLite refuse values of the wrong type instead of coercing them.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id       TEXT    NOT NULL UNIQUE,
  stream   TEXT    NOT NULL,
  revision INTEGER NOT NULL CHECK (revision >= 0),
  type     TEXT    NOT NULL,
  metadata TEXT    NOT NULL,
  data     TEXT    NOT NULL,
  UNIQUE (stream, revision)
) STRICT;
`;

/**
 * Opens (creating when needed) the database file with the store's settings and schema.
 * Integers come back as bigint everywhere: revisions and positions are bigint in the port.
 * A file that is cut short, is not SQLite's, or that SQLite finds damaged throws
 * `EventLogDamagedError` naming the file (see `log-file-check.ts`).
 */
export function openDatabase(filePath: string): Database.Database {
  mkdirSync(dirname(filePath), { recursive: true });
  checkLogFileHeader(filePath);
  let db: Database.Database;
  try {
    db = new Database(filePath, { timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    throw asLogDamage(error, filePath) ?? error;
  }
  try {
    configure(db);
    createSchema(db);
  } catch (error) {
    db.close();
    throw asLogDamage(error, filePath) ?? error;
  }
  db.defaultSafeIntegers(true);
  return db;
}

function configure(db: Database.Database): void {
  // 64 KiB pages (SQLite's largest): output batches and file chunks are events of a few
  // hundred KiB, and with the default 4 KiB pages each one is a long chain of overflow
  // pages, every one a separate WAL frame to write and to walk on reads. Measured here:
  // a 350 KB insert takes less than half the time. Only takes effect on a new, empty
  // file (before WAL is on); an existing file keeps the page size it was created with.
  db.pragma('page_size = 65536');

  // Incremental auto-vacuum: retention deletes whole output streams, and with this the
  // store can hand the freed pages back to the file system (`PRAGMA incremental_vacuum`
  // after a delete) instead of keeping a file as large as its largest past. Like the page
  // size it only takes effect on a new, empty file; a log created before keeps `NONE`
  // (it reuses freed pages; a one-time `VACUUM` converts it, see the README).
  db.pragma('auto_vacuum = INCREMENTAL');

  // WAL: readers (subscriptions, pages) never block the writer and vice versa, and a
  // commit is one sequential append to the -wal file rather than a rewrite of pages.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`SQLite refused WAL mode for ${db.name} (got ${String(mode)})`);

  // Durability: synchronous = FULL, so every commit fsyncs the WAL before append() resolves.
  // - A process crash or kill -9 alone would be survived by NORMAL too: in WAL mode a
  //   commit has already handed its frames to the kernel with write(), and the kernel
  //   writes them out whatever happens to the process.
  // - A power cut or kernel panic is where they differ: under NORMAL the WAL is only
  //   fsynced at checkpoints, so the last acknowledged commits can silently disappear
  //   (the file stays consistent, the events are just gone). This log is the only source
  //   of truth, and other parties act on an acknowledged append (a runner claims a run
  //   and spawns its process; a client is told its job was saved), so losing one after
  //   acknowledging it would leave the log contradicting what happened.
  // - The cost is one fsync per transaction (~0.5 ms on our build machine). Group commit
  //   puts every append of one event-loop turn into one transaction, so a burst of output
  //   from many runs pays for a single fsync. EXTRA adds nothing in WAL mode (it syncs
  //   the directory after deleting a rollback journal, which WAL never does).
  db.pragma('synchronous = FULL');

  // Also set through the constructor's `timeout`; stated here so the setting is visible
  // next to the others: wait up to 5 s for another connection's lock instead of failing.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);

  // After a large burst the -wal file keeps its size; let a checkpoint shrink it back.
  db.pragma('journal_size_limit = 67108864');
  // A 2 MiB page cache, SQLite's own default (better-sqlite3 builds SQLite with 16 MiB).
  // Reads of the log go through it once in position order (replay, catch-up, export),
  // the kernel's page cache holds the file anyway, and every MiB here stays resident once
  // the log has been read. Measured on a 636,534-event log: the whole log read at 307k
  // events/s with 2 MiB against 314k–326k with 16 MiB, and the NDJSON export's memory
  // growth fell from 30–37 to 18 MiB.
  db.pragma('cache_size = -2000');
}

function createSchema(db: Database.Database): void {
  db.transaction(() => {
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new Error(`${db.name} has event store schema version ${version}; this build knows up to ${SCHEMA_VERSION}`);
    }
    db.exec(SCHEMA);
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function cacheKib(cacheSize: number, pageSize: number): number {
  return cacheSize < 0 ? -cacheSize : (cacheSize * pageSize) / 1024;
}

/** Reads the connection settings back from SQLite (for diagnostics and tests). */
export function readPragmas(db: Database.Database): SqlitePragmas {
  return {
    journalMode: String(db.pragma('journal_mode', { simple: true })),
    synchronous: Number(db.pragma('synchronous', { simple: true })),
    busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
    // Negative: a size in KiB; positive: a number of pages.
    cacheKib: cacheKib(Number(db.pragma('cache_size', { simple: true })), Number(db.pragma('page_size', { simple: true }))),
  };
}
