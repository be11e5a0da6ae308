/**
 * The EventStoreDB connection string: where it comes from, and how it is shown.
 *
 * It may carry the credentials the server connects with (`esdb://user:password@host…`,
 * which `@eventstore/db-client` 6 sends as `authorization: Basic …` on every call, over
 * TLS only), so it can come from a file instead of the environment (a Docker secret,
 * say) and is never printed whole.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The connection string and the file it was read from (null when it came from the environment or is unset). */
export interface ConnectionStringSource {
  connectionString: string | null;
  file: string | null;
}

/**
 * Reads `EVENTSTORE_CONNECTION_STRING` or `EVENTSTORE_CONNECTION_STRING_FILE` (one or
 * the other, never both). The file's content is trimmed, so the trailing newline of an
 * editor or `echo` does not count. Problems are added to `problems`, never with the
 * file's content in them.
 */
export function readConnectionString(env: NodeJS.ProcessEnv, problems: string[]): ConnectionStringSource {
  const direct = env.EVENTSTORE_CONNECTION_STRING?.trim() || null;
  const fileSetting = env.EVENTSTORE_CONNECTION_STRING_FILE?.trim() || null;
  if (fileSetting === null) return { connectionString: direct, file: null };
  const file = resolve(fileSetting);
  if (direct !== null) {
    problems.push('Set EVENTSTORE_CONNECTION_STRING or EVENTSTORE_CONNECTION_STRING_FILE, not both');
    return { connectionString: null, file };
  }
  let content: string;
  try {
    content = readFileSync(file, 'utf8').trim();
  } catch (error) {
    problems.push(`EVENTSTORE_CONNECTION_STRING_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return { connectionString: null, file };
  }
  if (content === '') {
    problems.push(`EVENTSTORE_CONNECTION_STRING_FILE: ${file} is empty; it must hold the connection string`);
    return { connectionString: null, file };
  }
  if (/[\r\n]/.test(content)) {
    problems.push(`EVENTSTORE_CONNECTION_STRING_FILE: ${file} must hold the connection string on one line`);
    return { connectionString: null, file };
  }
  return { connectionString: content, file };
}

/**
 * The connection string with its credentials replaced by `***` (`esdb://***@db:2113?…`),
 * for anything that is printed or logged. Query options are kept: they hold no secrets
 * in what the client accepts (file paths, flags, timeouts).
 */
export function redactConnectionString(connectionString: string): string {
  return connectionString.replace(CREDENTIALS, '$1***@');
}

/** Whether the connection string carries `user:password@`. */
export function hasCredentials(connectionString: string): boolean {
  return CREDENTIALS.test(connectionString);
}

/**
 * `user:password@` right after the scheme, matched as the client's own parser does
 * (`parseConnectionString.js`, `parseCredentials`: `[^:]+:[^@]+@`), so whatever the
 * client takes for credentials is what is hidden, even an unencoded `/` in a password.
 */
const CREDENTIALS = /^([^:/?#]*:\/\/)[^:]+:[^@]+@/;
