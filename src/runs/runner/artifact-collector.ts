/**
 * Finds a finished run's artifacts in its work directory: the files its job's glob
 * patterns match, and every file in the artifacts directory
 * (`$ENDERCOMPUTE_ARTIFACTS_DIR`). Part of the runner: no server imports, no event
 * store; the local executor and a job server both call it on a work directory, then
 * hand the result to whatever stores it (see `src/artifacts/artifact-store.ts`).
 *
 * Symbolic links are never followed: a link (to a file or a directory) is never
 * collected, a linked directory is never descended, and a path that passes through a
 * link is refused, so nothing outside the work directory can be read through one.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, opendir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { glob } from 'tinyglobby';

/** The artifacts directory's name inside the work directory (input files may not start with `.endercompute`). */
export const ARTIFACTS_DIR_NAME = '.endercompute-artifacts';

/** The variable naming the artifacts directory in every run's environment. */
export const ARTIFACTS_DIR_VARIABLE = 'ENDERCOMPUTE_ARTIFACTS_DIR';

/** The artifacts directory of a run in `workdir`. */
export function artifactsDirOf(workdir: string): string {
  return join(workdir, ARTIFACTS_DIR_NAME);
}

/** A file to keep: `path` relative to the work directory (or to the artifacts directory), `/`-separated. */
export interface CollectedArtifact {
  path: string;
  /** Bytes. */
  size: number;
  /** Hex sha256 of the bytes, read once here. */
  sha256: string;
  /** Where it is on this machine, for the store to read (open it without following links). */
  absolutePath: string;
}

/** A file found but not kept, and why (the size limit, a symbolic link, …). */
export interface SkippedArtifact {
  path: string;
  /** Bytes, or 0 when unknown. */
  size: number;
  reason: string;
}

export interface ArtifactCollection {
  files: CollectedArtifact[];
  skipped: SkippedArtifact[];
}

export interface CollectOptions {
  /** The most bytes kept for one run (`ENDERCOMPUTE_MAX_ARTIFACT_BYTES`); a file that would pass it is skipped, naming it. */
  maxBytes: number;
  /** The most files kept for one run; further ones are skipped, naming them. Default 10,000. */
  maxFiles?: number;
}

const DEFAULT_MAX_FILES = 10_000;
/** A path longer than this (in characters) is skipped: it would not fit a stored list. */
const MAX_PATH_LENGTH = 1024;

/**
 * Collects the artifacts of the run whose work directory is `workdir`. First the
 * artifacts directory's files (paths relative to it, dot files included), then the
 * pattern matches (paths relative to the work directory, standard glob semantics:
 * dot files only when a pattern names the dot), each group in path order. A path
 * found twice is kept once (the first). Files are kept in that order while the
 * total stays within `options.maxBytes`; the rest are skipped with the reason.
 *
 * A missing work directory collects nothing. Never throws for a single file: one it
 * cannot read is skipped, saying why.
 */
export async function collectArtifacts(workdir: string, patterns: readonly string[], options: CollectOptions): Promise<ArtifactCollection> {
  const result: ArtifactCollection = { files: [], skipped: [] };
  const root = await lstat(workdir).catch(() => null);
  if (!root?.isDirectory()) return result;
  const candidates: Array<{ path: string; base: string }> = [];
  for (const path of await filesBelow(artifactsDirOf(workdir), result.skipped)) candidates.push({ path, base: artifactsDirOf(workdir) });
  if (patterns.length > 0) {
    const matches = await glob([...patterns], {
      cwd: workdir,
      followSymbolicLinks: false,
      onlyFiles: true,
      expandDirectories: false,
      // The runner's own folders (HOME, /tmp, the artifacts directory) are not the job's files.
      ignore: ['.endercompute-*/**', '.endercompute-*'],
    });
    for (const path of matches.sort()) candidates.push({ path, base: workdir });
  }
  const seen = new Set<string>();
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  let total = 0;
  for (const { path, base } of candidates) {
    if (seen.has(path)) continue;
    seen.add(path);
    if (path.length > MAX_PATH_LENGTH) {
      result.skipped.push({ path: `${path.slice(0, 200)}…`, size: 0, reason: `its path is longer than ${MAX_PATH_LENGTH} characters` });
      continue;
    }
    const absolutePath = join(base, ...path.split('/'));
    const problem = await linkOnTheWay(base, path);
    if (problem) {
      result.skipped.push({ path, size: 0, reason: problem });
      continue;
    }
    let read: { size: number; sha256: string } | string;
    try {
      read = await hashFile(absolutePath);
    } catch (error) {
      read = `it could not be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
    if (typeof read === 'string') {
      result.skipped.push({ path, size: 0, reason: read });
      continue;
    }
    if (result.files.length >= maxFiles) {
      result.skipped.push({ path, size: read.size, reason: `more than ${maxFiles} artifacts in one run` });
    } else if (total + read.size > options.maxBytes) {
      result.skipped.push({ path, size: read.size, reason: `it would take the run's artifacts past ENDERCOMPUTE_MAX_ARTIFACT_BYTES (${options.maxBytes} bytes)` });
    } else {
      total += read.size;
      result.files.push({ path, size: read.size, sha256: read.sha256, absolutePath });
    }
  }
  return result;
}

/**
 * The regular files below `dir`, as `/`-separated paths relative to it, in path
 * order. Links are not descended; a link found is recorded as skipped, and so is
 * anything else that is neither a file nor a directory (a FIFO, a socket).
 */
async function filesBelow(dir: string, skipped: SkippedArtifact[]): Promise<string[]> {
  const found: string[] = [];
  const top = await lstat(dir).catch(() => null);
  if (!top?.isDirectory()) return found;
  const walk = async (absolute: string, relative: string): Promise<void> => {
    for await (const entry of await opendir(absolute)) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isSymbolicLink()) skipped.push({ path, size: 0, reason: 'it is a symbolic link (links are never followed)' });
      else if (entry.isDirectory()) await walk(join(absolute, entry.name), path);
      else if (entry.isFile()) found.push(path);
      // A FIFO, a socket, a device: nothing to keep, but said, as nothing is dropped silently.
      else skipped.push({ path, size: 0, reason: 'it is not a regular file' });
    }
  };
  await walk(dir, '');
  return found.sort();
}

/** Why `path` below `base` may not be read: a symbolic link in it or at its end; null when every part is a plain directory or file. */
async function linkOnTheWay(base: string, path: string): Promise<string | null> {
  const parts = path.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return 'its path is not a plain relative path';
  let current = base;
  for (const [index, part] of parts.entries()) {
    current = `${current}${sep}${part}`;
    let stat: Stats;
    try {
      stat = await lstat(current);
    } catch (error) {
      return `it could not be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
    if (stat.isSymbolicLink()) return index === parts.length - 1 ? 'it is a symbolic link (links are never followed)' : `${parts.slice(0, index + 1).join('/')} is a symbolic link (links are never followed)`;
    if (index < parts.length - 1 && !stat.isDirectory()) return 'its path is not a plain relative path';
  }
  return null;
}

/** Size and sha256 of a regular file, opened without following a link at its end. */
async function hashFile(path: string): Promise<{ size: number; sha256: string } | string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return 'it is not a regular file';
    const hash = createHash('sha256');
    let size = 0;
    const buffer = Buffer.alloc(256 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/**
 * The bytes of a collected file, read in parts without following a link at its end
 * (the store checks them against the sha256 collected).
 */
export async function* readArtifact(absolutePath: string): AsyncGenerator<Buffer> {
  const handle = await open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let offset = 0;
    for (;;) {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
