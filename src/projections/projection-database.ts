/**
 * The projection database: the read models' SQLite file, `<data>/projections.db`, kept
 * apart from the event log (see docs/DESIGN.md, "The read side"). It holds, besides the
 * projections' own tables, the engine's bookkeeping:
 * - `projection_checkpoint`: the log position the tables reflect (one row), written in
 *   the same transaction as the events it covers;
 * - `projection_versions`: each projection's version, so a changed shape is rebuilt;
 * - `projection_meta`: which log it was built from (store kind and first event id), so
 *   a data dir pointed at another log, or a log restored from an older backup, is
 *   rebuilt instead of trusted.
 *
 * Everything here is derived from the log, so durability is traded for speed
 * (`synchronous = NORMAL`: a power cut may lose the last batches, which the next start
 * applies again from the older checkpoint) and damage is answered by a rebuild.
 */
import Database from 'better-sqlite3';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { checkLogFileHeader } from '../event-store/sqlite/log-file-check';
import type { Position } from '../event-store/event-store.port';
import type { ProjectionDb } from './projection';

/** The file name, in the data dir. */
export const PROJECTIONS_FILE = 'projections.db';
/** A database being built (at start or by the offline tool); never opened as the one in use. */
export const BUILDING_SUFFIX = '.building';
/** Beside a database SQLite found damaged while the server ran: the next start rebuilds it. */
export const DAMAGED_SUFFIX = '.damaged';
/** A database the offline tool finished: the next start takes it in place of the one in use. */
export const READY_SUFFIX = '.ready';

/**
 * Page cache of a database in use, in KiB. Small on purpose: every page a query misses
 * is a read from the OS's file cache (microseconds, and not counted in the server's
 * RSS), while each MiB here stays resident once a large answer (`GET /api/jobs`
 * touches a run of every job) has filled it. 32 MiB cost the server about 40 MiB RSS
 * at 100,000 runs for no page faster than its target (docs/DESIGN.md, "Measuring at scale").
 */
export const CACHE_KIB = 8 * 1024;
/**
 * Page cache while building, in KiB. Larger bought no speed at 100,000 runs (what
 * spills is written to and read back from the OS's file cache: no fsync while
 * building), and what SQLite frees when the built file is closed stays in the
 * server's RSS: 128 MiB left a cold-started server about 100 MiB larger.
 */
export const BUILD_CACHE_KIB = 16 * 1024;

/** What the engine keeps about the log the tables were built from. */
export interface LogIdentity {
  /** `sqlite` or `eventstoredb`: positions of one mean nothing in the other. */
  store: string;
  /** The id of the first event of `$all`, or null when the log was empty. */
  firstEventId: string | null;
}

/** The bookkeeping read back from an existing database. */
export interface StoredState {
  checkpoint: Position | null;
  versions: Map<string, number>;
  identity: LogIdentity | null;
  /** Events applied to it since it was created (for the server log). */
  eventsApplied: number;
}

/**
 * Opens (creating when missing) a projection database with the engine's tables and the
 * pragmas for a write-heavy, rebuildable file. `file` null: an in-memory database.
 * `building`: a new database being filled from the whole log (see `ProjectionEngine`),
 * with the pragmas of a file that is discarded if the build does not finish.
 * Throws SQLite's error when the file is not a database or is damaged.
 */
export function openProjectionDb(file: string | null, options: { building?: boolean } = {}): ProjectionDb {
  if (file !== null) checkLogFileHeader(file, (path, problem) => new Error(`${path} ${problem}`));
  const db = new Database(file ?? ':memory:');
  try {
    if (options.building) {
      // A new file filled from the log and renamed into place only once complete: a crash
      // leaves a `.building` file that the next start discards, so nothing needs to reach
      // the disk in order (no fsync, rollback journal in memory: a batch still rolls back).
      db.pragma('journal_mode = MEMORY');
      db.pragma('synchronous = OFF');
      db.pragma(`cache_size = -${BUILD_CACHE_KIB}`);
    } else {
      db.pragma('journal_mode = WAL');
      // Rebuildable: a lost last batch is applied again from the older checkpoint.
      db.pragma('synchronous = NORMAL');
      db.pragma(`cache_size = -${CACHE_KIB}`);
    }
    db.pragma('temp_store = MEMORY');
    // Checkpoint the WAL less often than the default 1000 pages: batches are large.
    db.pragma('wal_autocheckpoint = 4000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS projection_checkpoint (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        commit_position TEXT NOT NULL,
        prepare_position TEXT NOT NULL,
        events_applied INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS projection_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS projection_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    `);
    // A read of every table: a file whose schema pages are damaged fails here, not later.
    readStoredState(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Reads the checkpoint, versions and log identity. */
export function readStoredState(db: ProjectionDb): StoredState {
  const row = db.prepare('SELECT commit_position AS c, prepare_position AS p, events_applied AS n FROM projection_checkpoint WHERE id = 1').get() as
    | { c: string; p: string; n: number }
    | undefined;
  const versions = new Map<string, number>();
  for (const v of db.prepare('SELECT name, version FROM projection_versions').all() as Array<{ name: string; version: number }>) versions.set(v.name, v.version);
  const meta = new Map<string, string>();
  for (const m of db.prepare('SELECT key, value FROM projection_meta').all() as Array<{ key: string; value: string }>) meta.set(m.key, m.value);
  const store = meta.get('store');
  return {
    checkpoint: row ? { commit: BigInt(row.c), prepare: BigInt(row.p) } : null,
    versions,
    identity: store === undefined ? null : { store, firstEventId: meta.get('firstEventId') ?? null },
    eventsApplied: row?.n ?? 0,
  };
}

/** Records the projections' versions and the log a new database is built from. */
export function writeBuildInfo(db: ProjectionDb, versions: ReadonlyArray<{ name: string; version: number }>, identity: LogIdentity): void {
  db.transaction(() => {
    db.prepare('DELETE FROM projection_versions').run();
    const insert = db.prepare('INSERT INTO projection_versions (name, version) VALUES (?, ?)');
    for (const v of versions) insert.run(v.name, v.version);
    setIdentity(db, identity);
  })();
}

/** Records the log's identity (also once the first event of a log that was empty arrives). */
export function setIdentity(db: ProjectionDb, identity: LogIdentity): void {
  const upsert = db.prepare('INSERT INTO projection_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  upsert.run('store', identity.store);
  if (identity.firstEventId === null) db.prepare("DELETE FROM projection_meta WHERE key = 'firstEventId'").run();
  else upsert.run('firstEventId', identity.firstEventId);
}

/** The statement that records the checkpoint; run inside each batch's transaction. */
export function prepareCheckpointWrite(db: ProjectionDb): (position: Position, eventsApplied: number) => void {
  const statement = db.prepare(
    'INSERT INTO projection_checkpoint (id, commit_position, prepare_position, events_applied) VALUES (1, ?, ?, ?) ' +
      'ON CONFLICT (id) DO UPDATE SET commit_position = excluded.commit_position, prepare_position = excluded.prepare_position, events_applied = excluded.events_applied',
  );
  return (position, eventsApplied) => {
    statement.run(position.commit.toString(), position.prepare.toString(), eventsApplied);
  };
}

/** Back to the pragmas of a database in use once a build has finished (an in-memory one stays in use). */
export function endBuildPragmas(db: ProjectionDb): void {
  db.pragma('synchronous = NORMAL');
  db.pragma(`cache_size = -${CACHE_KIB}`);
}

/** Removes a database file with its `-wal` and `-shm` files. */
export function removeDbFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}

/**
 * Closes a finished database and moves it to `target` in one rename, so `target` is
 * either the old file or the whole new one, never a half-built one. The WAL is folded
 * into the file first (the `-wal` name belongs to the old path), and the target's stale
 * `-wal`/`-shm` are removed before the rename: they belong to the file being replaced.
 */
export function closeAndInstall(db: ProjectionDb, built: string, target: string): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('journal_mode = DELETE');
  db.close();
  for (const suffix of ['-wal', '-shm']) rmSync(`${target}${suffix}`, { force: true });
  renameSync(built, target);
  for (const suffix of ['-wal', '-shm']) rmSync(`${built}${suffix}`, { force: true });
}

/** Whether a finished database from the offline tool waits beside the one in use. */
export function readyFileExists(file: string): boolean {
  return existsSync(`${file}${READY_SUFFIX}`);
}
