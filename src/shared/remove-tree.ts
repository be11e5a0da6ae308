/**
 * Removing a directory tree that a run may have made hard to remove: folders it left
 * read-only (Go's module cache is made 0555) cannot be emptied by a user without
 * root's rights, and Node's `rm` does not open them up.
 */
import { chmod, opendir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes `path` with everything in it (nothing when it is absent). On EACCES or
 * EPERM it gives the owner full rights on every folder below `path` (links are not
 * followed; files are left as they are) and tries once more.
 *
 * @throws Error from the file system when it still cannot be removed (the message names the path).
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
    await makeFoldersWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeFoldersWritable(path: string): Promise<void> {
  await chmod(path, 0o700);
  for await (const entry of await opendir(path)) {
    if (entry.isDirectory()) await makeFoldersWritable(join(path, entry.name));
  }
}
