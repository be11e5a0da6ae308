/**
 * `endercompute runs artifacts <run> [--download DIR]`: lists a run's artifacts, or
 * writes each under DIR at its path. A path from the server is never trusted to stay
 * inside DIR: absolute paths, `..`, empty or `.` segments and backslashes are
 * refused, no symbolic link on the way is followed (an existing one is refused, not
 * written through), and each file is written to a temporary name, checked against
 * its sha256, then renamed into place.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** An artifact as `GET /api/runs/:id/artifacts` lists it. */
export interface ListedArtifact {
  path: string;
  size: number;
  sha256: string;
}

/** A path refused or a file not written: the CLI reports it and exits 1. */
export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

/**
 * The segments of an artifact path that is safe to write under a directory.
 * @throws DownloadError naming the path when it is not a plain relative path.
 */
export function safeSegments(path: string): string[] {
  const segments = path.split('/');
  const bad = path === '' || path.includes('\\') || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new DownloadError(`refusing to write artifact ${JSON.stringify(path)}: not a plain relative path`);
  return segments;
}

/**
 * Writes `bytes` to `<dir>/<path>`: directories are created as needed, but an
 * existing symbolic link (or a file where a directory should be) on the way is
 * refused; the file is written beside its target and renamed into place only when
 * its size and sha256 match.
 *
 * @returns the absolute path written.
 */
export async function writeArtifact(dir: string, artifact: ListedArtifact, bytes: AsyncIterable<Uint8Array>): Promise<string> {
  const segments = safeSegments(artifact.path);
  let current = resolve(dir);
  await mkdir(current, { recursive: true });
  for (const segment of segments.slice(0, -1)) {
    current = join(current, segment);
    const stat = await lstat(current).catch(() => null);
    if (stat === null) await mkdir(current);
    else if (stat.isSymbolicLink() || !stat.isDirectory()) throw new DownloadError(`refusing to write artifact ${artifact.path}: ${current} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`);
  }
  const target = join(current, segments[segments.length - 1]);
  const existing = await lstat(target).catch(() => null);
  if (existing && !existing.isFile()) throw new DownloadError(`refusing to write artifact ${artifact.path}: ${target} exists and is not a plain file`);
  const partial = `${target}.endercompute-partial-${process.pid}`;
  const handle = await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const part of bytes) {
      hash.update(part);
      size += part.length;
      await handle.write(part);
    }
  } catch (error) {
    await handle.close();
    await rm(partial, { force: true });
    throw error;
  }
  await handle.close();
  if (size !== artifact.size || hash.digest('hex') !== artifact.sha256) {
    await rm(partial, { force: true });
    throw new DownloadError(`artifact ${artifact.path} arrived damaged (${size} of ${artifact.size} bytes, or another sha256): not written`);
  }
  await rename(partial, target);
  return target;
}
