/**
 * `endercompute backup` and `endercompute restore`: a copy of the embedded event log
 * taken while the server runs, and a data dir made from such a copy. They work on
 * the files directly (the same machine, the server's user), not through the API.
 *
 * How the copy is taken (measured on a 440 MB log, a writer appending 20 KB events
 * every millisecond from another process, as a run writing output does):
 * - SQLite's online backup API in small steps (better-sqlite3's default, 100 pages a
 *   step) never finished: every commit by the server restarts a step-wise copy, and
 *   it had restarted thousands of times when stopped after 60 s.
 * - `VACUUM INTO` finished in 9.5 s: one read transaction, so it sees one snapshot
 *   and ignores later commits (WAL readers do not block the writer nor wait for it),
 *   but it rebuilds every table and index.
 * - The backup API copying every page in one step finished in 5.5 s: also one read
 *   transaction (one snapshot), copying pages as they are. That is what this uses.
 * Either way the snapshot is taken after the command starts, so it holds every event
 * the server acknowledged before (an append is acknowledged once its commit is durable
 * in the WAL, which every new reader sees).
 *
 * The copy goes to a temporary file beside FILE (mode 0600 from the start: the log
 * holds run output and environment values), is checked (`PRAGMA integrity_check`, and
 * that it holds an EnderCompute log), made a single self-contained file (rollback
 * journal, no -wal), synced, and only then renamed over FILE: FILE is either the
 * previous backup or a whole, checked new one, never half of one.
 *
 * The data dir's runner id goes into the copy (a small table of its own), and restore
 * puts it back: a restored server then recognises the runs the old one was executing
 * and ends them `lost` instead of leaving them "running" forever. The projection
 * database and the work directories are not in it (they rebuild / are per run); nor is
 * a generated key (the restored server makes a new one).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { RUNNER_ID_FILE } from '../config/runner-identity';
import { checkLogFileHeader, EventLogDamagedError } from '../event-store/sqlite/log-file-check';
import { BUSY_TIMEOUT_MS, LOG_FILE_NAME, SCHEMA_VERSION } from '../event-store/sqlite/schema';

/** A backup or restore that cannot be done; the message says why and what to do. Exit code 1. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/** What a backup or restore reports: how many events, the last position, the size. */
export interface LogSummary {
  events: number;
  /** The last event's global position; 0 for an empty log. */
  lastPosition: number;
  bytes: number;
}

/** The columns of the `events` table, in order (`event-store/sqlite/schema.ts`). */
const EVENT_COLUMNS = ['position', 'id', 'stream', 'revision', 'type', 'metadata', 'data'];
/** The table in a backup that holds facts about the data dir it came from (never in a live log). */
const BACKUP_INFO_TABLE = 'endercompute_backup';
/** Pages per step of the online backup: all of them (see the file comment). */
const ALL_PAGES = 2 ** 30;

/**
 * Copies the embedded log of `dataDir` to `file` while a server may be writing to it,
 * checks the copy and renames it into place. Resolves with what the copy holds.
 * Throws {@link BackupError} when there is no log, FILE is the log itself or a
 * directory, or the copy fails its checks (FILE is then left as it was).
 */
export async function backupLog(dataDir: string, file: string): Promise<LogSummary> {
  const source = join(resolve(dataDir), LOG_FILE_NAME);
  const target = resolve(file);
  if (!existsSync(source)) {
    throw new BackupError(
      `There is no embedded event log at ${source}. Check --data-dir; a server that uses EventStoreDB keeps its events there (back it up as the README says).`,
    );
  }
  if (existsSync(target) && statSync(target).isDirectory()) throw new BackupError(`${target} is a directory: give the backup's file name`);
  const sameAsLog = [source, `${source}-wal`, `${source}-shm`].some((path) => existsSync(path) && existsSync(target) && realpathSync(path) === realpathSync(target));
  if (sameAsLog || target === source) throw new BackupError(`${target} is the live event log: write the backup to another file`);
  if (!existsSync(dirname(target))) throw new BackupError(`The folder ${dirname(target)} does not exist`);
  checkLogFileHeader(source);

  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.partial`);
  const umask = process.umask(0o077);
  try {
    const live = new Database(source, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    try {
      await live.backup(temporary, { progress: () => ALL_PAGES });
    } finally {
      live.close();
    }
    const runnerId = readRunnerId(dataDir);
    const summary = finishCopy(temporary, runnerId);
    syncFile(temporary);
    renameSync(temporary, target);
    syncFile(dirname(target));
    return { ...summary, bytes: statSync(target).size };
  } catch (error) {
    throw asBackupError(error, `the backup of ${source}`);
  } finally {
    for (const leftover of [temporary, `${temporary}-journal`, `${temporary}-wal`, `${temporary}-shm`]) rmSync(leftover, { force: true });
    process.umask(umask);
  }
}

/**
 * Makes `dataDir` (new or empty) a data dir a server starts on with the log in `file`:
 * `events.db` (0600, in a 0700 dir) and, when the backup has one, `runner-id`. The
 * backup is checked first; nothing is written when it fails. Throws {@link BackupError}
 * for a data dir that is not empty, or a file that is not a whole EnderCompute log.
 */
export function restoreLog(file: string, dataDir: string): LogSummary {
  const source = resolve(file);
  const dir = resolve(dataDir);
  if (!existsSync(source)) throw new BackupError(`There is no backup at ${source}`);
  if (statSync(source).isDirectory()) throw new BackupError(`${source} is a directory: give the backup's file name`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new BackupError(`${dir} is not a directory`);
    const entries = readdirSync(dir);
    if (entries.length > 0) {
      const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
      throw new BackupError(
        `The data dir ${dir} is not empty (it holds ${shown}). Restore only into a new or empty directory, so that no log is overwritten; move the old one aside first if it is to be replaced.`,
      );
    }
  }

  const umask = process.umask(0o077);
  const temporary = join(dir, `.${LOG_FILE_NAME}.${randomBytes(6).toString('hex')}.partial`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    copyFileSync(source, temporary);
    // Checked on the copy: what is checked is exactly what the server will open.
    const summary = checkCopy(temporary, 'The backup');
    const runnerId = takeRunnerId(temporary);
    syncFile(temporary);
    renameSync(temporary, join(dir, LOG_FILE_NAME));
    if (runnerId !== null) writeFileSync(join(dir, RUNNER_ID_FILE), `${runnerId}\n`, { mode: 0o600, flush: true });
    syncFile(dir);
    return { ...summary, bytes: statSync(join(dir, LOG_FILE_NAME)).size };
  } catch (error) {
    for (const leftover of [temporary, `${temporary}-journal`]) rmSync(leftover, { force: true });
    throw asBackupError(error, source);
  } finally {
    process.umask(umask);
  }
}

/** Checks the fresh copy, records the runner id in it and makes it one self-contained file. */
function finishCopy(path: string, runnerId: string | null): Omit<LogSummary, 'bytes'> {
  const summary = checkCopy(path, 'The copy');
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
    db.exec(`CREATE TABLE ${BACKUP_INFO_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
    const insert = db.prepare(`INSERT INTO ${BACKUP_INFO_TABLE} (name, value) VALUES (?, ?)`);
    insert.run('taken_at', new Date().toISOString());
    if (runnerId !== null) insert.run('runner_id', runnerId);
  } finally {
    db.close();
  }
  return summary;
}

/**
 * Whether `path` is a whole SQLite file holding an EnderCompute log: the header fits its
 * size, `PRAGMA integrity_check` says ok, and it has the `events` table of a schema
 * version this build knows. Resolves with its event count and last position.
 */
function checkCopy(path: string, what: string): Omit<LogSummary, 'bytes'> {
  // Said of the copy by name ("The backup is cut short: …"), not as a damaged log with a server's advice.
  checkLogFileHeader(path, (_file, problem) => new BackupError(`${what} ${problem}`));
  const db = new Database(path, { fileMustExist: true });
  try {
    const problems = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    if (problems.length !== 1 || problems[0].integrity_check !== 'ok') {
      throw new BackupError(`${what} is damaged (SQLite's integrity check: ${problems.slice(0, 3).map((row) => row.integrity_check).join('; ')})`);
    }
    const columns = (db.pragma('table_info(events)') as Array<{ name: string }>).map((column) => column.name);
    const version = Number(db.pragma('user_version', { simple: true }));
    if (columns.join(',') !== EVENT_COLUMNS.join(',') || version < 1) {
      throw new BackupError(`${what} is an SQLite file but not an EnderCompute event log (it has no events table of ours)`);
    }
    if (version > SCHEMA_VERSION) throw new BackupError(`${what} has event store schema version ${version}; this build knows up to ${SCHEMA_VERSION}: use a newer endercompute`);
    const row = db.prepare('SELECT count(*) AS events, coalesce(max(position), 0) AS last FROM events').get() as { events: number; last: number };
    return { events: row.events, lastPosition: row.last };
  } finally {
    db.close();
  }
}

/** Reads and removes the backup's own table from a restored copy; the runner id it held, or null. */
function takeRunnerId(path: string): string | null {
  const db = new Database(path, { fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(BACKUP_INFO_TABLE);
    if (table === undefined) return null;
    const row = db.prepare(`SELECT value FROM ${BACKUP_INFO_TABLE} WHERE name = 'runner_id'`).get() as { value: string } | undefined;
    db.exec(`DROP TABLE ${BACKUP_INFO_TABLE}`);
    return row?.value ?? null;
  } finally {
    db.close();
  }
}

/** The data dir's runner id file's content, or null when it has none (an id from the environment). */
function readRunnerId(dataDir: string): string | null {
  const path = join(dataDir, RUNNER_ID_FILE);
  if (!existsSync(path)) return null;
  return readFileSync(path, 'utf8').trim() || null;
}

/** fsync of a file or a directory (a rename is durable once its directory is synced). */
function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Errors the person can act on as they are; SQLite's and the file system's with what was being done. */
function asBackupError(error: unknown, what: string): Error {
  if (error instanceof BackupError) return error;
  if (error instanceof EventLogDamagedError) return new BackupError(error.message);
  const code = (error as { code?: unknown }).code;
  return new BackupError(`${what} failed: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}`);
}
