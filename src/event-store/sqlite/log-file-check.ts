/**
 * A damaged or missing embedded log, found before the server trusts it, and said plainly.
 *
 * SQLite itself notices damage late and tersely: a file cut short opens fine and fails
 * on the first read of a missing page ("database disk image is malformed"), and an empty
 * (0-byte) file opens as a new, empty database, which would start the server with no
 * history at all (and make SQLite delete the `-wal` file beside it). So before opening:
 * - the file's header is checked against its size (a cut-off file is shorter than the
 *   page count its header records; `https://www.sqlite.org/fileformat2.html`, "The
 *   Database Header": page size at offset 16, page count at 28, valid when the change
 *   counter at 24 equals the version-valid-for number at 92);
 * - the server refuses an empty events.db, and a missing one in a data dir that shows a
 *   server ran there before, unless told with `ENDERCOMPUTE_NEW_LOG=1` that a new log is
 *   meant.
 * Damage that SQLite reports later, on a read or an append (`SQLITE_CORRUPT…`,
 * `SQLITE_NOTADB`), becomes the same error, naming the file.
 */
import { Logger } from '@nestjs/common';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UnavailableError } from '../../shared/domain-errors';

/** What to do about a damaged log, said once for every kind of damage. */
const RESTORE = 'Stop the server and restore the file from a backup (together with its -wal file, if the backup has one). Do not delete the -wal file beside it: it may hold the latest changes.';

/** The log file is damaged, missing or empty; the message names the file, what is wrong and what to do. */
export class EventLogDamagedError extends UnavailableError {
  constructor(
    readonly filePath: string,
    problem: string,
    advice: string = RESTORE,
    override readonly cause?: unknown,
  ) {
    super(`The event log ${filePath} ${problem}. ${advice}`);
    this.name = 'EventLogDamagedError';
  }
}

/** Files in the data dir that only exist once a server has run there. */
const SIGNS_OF_USE = ['runner-id', 'key.json', 'work'];

/**
 * Refuses to start a server with an empty history over an earlier one: an events.db of
 * 0 bytes, or no events.db in a data dir holding a runner id, a generated key, run work
 * directories or a -wal file. `newLog` (`ENDERCOMPUTE_NEW_LOG=1`) lets a person start a
 * new log there on purpose.
 */
export function checkLogIsNotLost(filePath: string, newLog: boolean): void {
  if (newLog) {
    if (existsSync(filePath) && statSync(filePath).size > 0) {
      // Never a licence to replace a log: a non-empty file is opened (and checked) as it is.
      new Logger('EventStore').warn(`Warning: ENDERCOMPUTE_NEW_LOG is set, but ${filePath} exists and is used as it is; unset ENDERCOMPUTE_NEW_LOG`);
    }
    return;
  }
  const startFresh = `To start a new, empty log in ${dirname(filePath)} on purpose, start the server once with ENDERCOMPUTE_NEW_LOG=1.`;
  if (!existsSync(filePath)) {
    const signs = [...SIGNS_OF_USE, `${basename(filePath)}-wal`].filter((name) => existsSync(join(dirname(filePath), name)));
    if (signs.length === 0) return;
    throw new EventLogDamagedError(
      filePath,
      `is missing, but its data directory was used by a server before (it holds ${signs.join(', ')}), so starting would begin with an empty history`,
      `Restore ${basename(filePath)} from a backup, or check that ENDERCOMPUTE_DATA_DIR names the right directory. ${startFresh}`,
    );
  }
  if (statSync(filePath).size === 0) {
    throw new EventLogDamagedError(
      filePath,
      'is empty (0 bytes): the file was truncated or replaced, and starting would begin with an empty history',
      `${RESTORE} ${startFresh}`,
    );
  }
}

/** SQLite's header: the magic string, then fields this check reads (offsets from the file format). */
const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_BYTES = 100;

/**
 * Checks that an existing, non-empty file is an SQLite database as long as its header
 * says. Does nothing for a missing or empty file (SQLite creates those). `damaged` makes
 * the error (default: {@link EventLogDamagedError}; the projection database, which is
 * rebuilt rather than restored, words it its own way).
 */
export function checkLogFileHeader(
  filePath: string,
  damaged: (filePath: string, problem: string) => Error = (path, problem) => new EventLogDamagedError(path, problem),
): void {
  if (!existsSync(filePath)) return;
  const size = statSync(filePath).size;
  if (size === 0) return;
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(filePath, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (read < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw damaged(filePath, 'is not an SQLite database (it does not start with SQLite\'s header): it was overwritten or is another file');
  }
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  const pageCount = header.readUInt32BE(28);
  const countIsValid = pageCount > 0 && header.readUInt32BE(24) === header.readUInt32BE(92);
  if (countIsValid && size < pageSize * pageCount) {
    throw damaged(filePath, `is cut short: it has ${size} bytes, and its own header says ${pageSize * pageCount} (${pageCount} pages of ${pageSize} bytes)`);
  }
  if (pageSize >= 512 && size % pageSize !== 0) {
    throw damaged(filePath, `is damaged: its size (${size} bytes) is not a whole number of ${pageSize}-byte pages, so part of a page was cut off`);
  }
}

/** SQLite's result codes for a damaged file (primary and extended). */
const DAMAGE_CODES = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * The error as an {@link EventLogDamagedError} when it (or its cause) is SQLite reporting a
 * damaged file; null otherwise.
 */
export function asLogDamage(error: unknown, filePath: string): EventLogDamagedError | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth += 1) {
    if (current instanceof EventLogDamagedError) return current;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && DAMAGE_CODES.test(code)) {
      return new EventLogDamagedError(filePath, `is damaged (SQLite: ${current.message})`, RESTORE, current);
    }
  }
  return null;
}
