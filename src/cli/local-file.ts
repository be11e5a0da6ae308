import { openAsBlob, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * A file named on the command line that cannot be read: the person's mistake, not the
 * server's refusal, so it is said with the file's name and exits 2 like other usage errors.
 */
export class LocalFileError extends Error {}

/** Why `file` cannot be read, in words, from the error Node gave. */
function problemOf(file: string, error: unknown): LocalFileError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const why =
    code === 'ENOENT' ? 'there is no such file'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EISDIR' ? 'it is a directory'
    : error instanceof Error ? error.message : String(error);
  return new LocalFileError(`Cannot read ${file}: ${why}`);
}

/** Checks that `file` is a readable regular file before anything is sent. @throws LocalFileError */
function checkReadable(file: string): void {
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
  } catch (error) {
    throw problemOf(file, error);
  }
}

/** A file's text (a script body). @throws LocalFileError naming the file */
export async function readLocalText(file: string): Promise<string> {
  checkReadable(file);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw problemOf(file, error);
  }
}

/** A file as a Blob read from disk as it is sent (an input file), never held in memory whole. @throws LocalFileError naming the file */
export async function openLocalBlob(file: string): Promise<Blob> {
  checkReadable(file);
  try {
    return await openAsBlob(file);
  } catch (error) {
    throw problemOf(file, error);
  }
}
