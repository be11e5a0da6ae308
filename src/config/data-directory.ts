/**
 * The server's own files are private: the data directory is 0700 and everything
 * the server creates in it (event log, key file, runner id) is 0600 from the
 * moment it exists. A umask does that for every file at once — a chmod after the
 * fact leaves a moment in which others can open the file, and a descriptor opened
 * then stays valid.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The server's umask: nothing for group and others. */
const SERVER_UMASK = 0o077;

/**
 * Sets the process umask to 0077 and returns the one the server was started with,
 * which runs get back (a job's files keep the permissions its users expect).
 */
export function restrictUmask(): number {
  return process.umask(SERVER_UMASK);
}

/**
 * Creates the data directory (0700) or, when it exists, takes away what group and
 * others may do with it and with the files directly in it (an event log left
 * readable by an older version or a copy). Returns one message per change, for the
 * operator: nothing is tightened silently.
 */
export function secureDataDirectory(dataDir: string): string[] {
  if (!existsSync(dataDir)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return [];
  }
  const messages: string[] = [];
  const tighten = (path: string, mode: number): void => {
    const current = statSync(path).mode & 0o777;
    if ((current & 0o077) === 0) return;
    chmodSync(path, mode & current);
    messages.push(`${path} was open to other users (mode ${current.toString(8).padStart(4, '0')}); it is now ${(mode & current).toString(8).padStart(4, '0')}`);
  };
  tighten(dataDir, 0o700);
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile()) tighten(join(dataDir, entry.name), 0o600);
    else if (entry.isDirectory()) tighten(join(dataDir, entry.name), 0o700);
  }
  return messages;
}
