import { StorageFullError } from './domain-errors';

/**
 * Error codes that mean "no space left": the operating system's (a full disk,
 * a full quota) and SQLite's (its file could not grow).
 */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** Whether an error, or any error it was caused by, says the disk is full. */
export function isDiskFull(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof StorageFullError) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && FULL_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The answer to a request that could not be done because the disk is full (HTTP 507). */
export function storageFull(cause: unknown): StorageFullError {
  return new StorageFullError(
    "The server's disk is full, so this request was not carried out: nothing it asked for was changed. Free some space on the server (or ask its administrator to) and try again",
    cause,
  );
}
