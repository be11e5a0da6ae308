/**
 * The runner id: the name this server's runner signs its run claims with, and by which
 * it finds, after a crash, the runs it was executing (run recovery ends them `lost`).
 *
 * It must outlive anything about the machine: `ENDERCOMPUTE_RUNNER_ID` when set;
 * otherwise an id generated on the first start and kept in `<data>/runner-id`, so it
 * moves with the data dir (a renamed directory, a recreated container with a new host
 * name). The file is written once, atomically (a temporary file renamed over it, mode
 * 0600), never as an empty placeholder, and before the runner claims anything.
 *
 * A copied data dir carries the id with it: two servers started from copies would
 * share one runner id and recover each other's runs. Delete `runner-id` in the copy.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';

export const RUNNER_ID_FILE = 'runner-id';

/** Printable, no spaces, at most 200 characters: what a runner id may be. */
const VALID_ID = /^[^\s\p{Cc}\p{Cf}]{1,200}$/u;

/** The id to run with, and the file to keep it in when it was generated just now. */
export interface RunnerIdentity {
  id: string;
  /** Set when the id is new and must be written at start; null when it came from the environment or the file. */
  fileToWrite: string | null;
}

/**
 * Resolves the runner id without writing anything: from `ENDERCOMPUTE_RUNNER_ID`, from
 * `<dataDir>/runner-id`, or newly made for a data dir that has none.
 */
export function runnerIdentity(fromEnv: string | undefined, dataDir: string, problems: string[]): RunnerIdentity {
  const configured = fromEnv?.trim();
  if (configured) {
    if (!VALID_ID.test(configured)) problems.push('ENDERCOMPUTE_RUNNER_ID must be 1–200 printable characters without spaces');
    return { id: configured, fileToWrite: null };
  }
  const file = join(dataDir, RUNNER_ID_FILE);
  let stored: string;
  try {
    stored = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { id: firstRunnerId(dataDir), fileToWrite: file };
    problems.push(`Cannot read the runner id in ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return { id: '', fileToWrite: null };
  }
  if (!VALID_ID.test(stored)) {
    problems.push(
      `${file} holds no valid runner id. Restore it from a backup, or delete it to have a new one generated ` +
        '(runs this server was executing when it stopped will then stay "running" until a server with the old id starts)',
    );
    return { id: '', fileToWrite: null };
  }
  return { id: stored, fileToWrite: null };
}

/**
 * The id a data dir gets on its first start: `<host name>#<6 hex digits of the data dir
 * path's SHA-256>`, unique per host and directory. It is what earlier versions derived
 * at every start, so a server upgraded in place keeps its id and still recovers the runs
 * it claimed before the upgrade; from then on the id is read from the file, and no
 * longer depends on the host name or the path.
 */
function firstRunnerId(dataDir: string): string {
  const host = hostname().replace(/[\s\p{Cc}\p{Cf}]/gu, '').slice(0, 64) || 'runner';
  return `${host}#${createHash('sha256').update(dataDir).digest('hex').slice(0, 6)}`;
}

/**
 * Keeps a newly generated runner id in its file: written to a temporary file in the same
 * directory with mode 0600, flushed, then renamed into place, so the file either does
 * not exist or holds the whole id. Creates the data dir (mode 0700) when needed.
 */
export function writeRunnerId(file: string, id: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, `${id}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}
