/**
 * Removing a run's work directory, and nothing else: the path must be a directory
 * two levels below `<data>/work` (`<job-slug>-<job-id>/<number>`), reached without
 * following a symbolic link, since a recursive removal that strays is unrecoverable.
 */
import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { removeTree } from '../../shared/remove-tree';
import { slugify } from '../../shared/slug';

/** `<data>/work`: every run's work directory is below it. */
export function workRootOf(dataDir: string): string {
  return join(dataDir, 'work');
}

/** The work directory of a run: `<data>/work/<job-slug>-<job-id>/<number>` (the id keeps similar names apart). */
export function workdirPathOf(dataDir: string, run: { jobId: string; jobName: string; number: number }): string {
  return join(workRootOf(dataDir), `${slugify(run.jobName)}-${run.jobId}`, String(run.number));
}

/** A removal refused because the path is not a run's work directory below the root. */
export class RefusedRemovalError extends Error {
  constructor(path: string, why: string) {
    super(`refused to remove ${JSON.stringify(path)}: ${why}`);
    this.name = 'RefusedRemovalError';
  }
}

/**
 * Removes the work directory `path` below `root` with everything in it.
 *
 * @returns `removed`, or `absent` when there was nothing to remove.
 * @throws RefusedRemovalError when `path` is not normalised, not two levels below
 *   `root`, is a symbolic link or not a directory, or resolves elsewhere through a
 *   symbolic link in between; an Error from the file system when removal fails
 *   (its message names the path).
 */
export async function removeWorkdir(root: string, path: string): Promise<'removed' | 'absent'> {
  const inside = relative(root, path);
  if (!isAbsolute(root) || !isAbsolute(path) || normalize(path) !== path || path.endsWith(sep)) throw new RefusedRemovalError(path, 'not a normalised absolute path');
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside) || inside.split(sep).length !== 2) {
    throw new RefusedRemovalError(path, `not a run's work directory below ${root}`);
  }
  let stat;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  if (stat.isSymbolicLink()) throw new RefusedRemovalError(path, 'it is a symbolic link');
  if (!stat.isDirectory()) throw new RefusedRemovalError(path, 'not a directory');
  // A link anywhere between the root and the directory (say, the job's folder) could lead out of it.
  const resolved = await realpath(path);
  const expected = join(await realpath(root), inside);
  if (resolved !== expected) throw new RefusedRemovalError(path, `it resolves to ${resolved}, outside ${root}`);
  // A run may leave folders it made read-only (Go's module cache does): removeTree opens them up.
  await removeTree(path);
  return 'removed';
}
