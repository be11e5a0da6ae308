/**
 * Prepares a run's work directory: wiped and created fresh, with the script written
 * as a file and the input files beside it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { basename, isAbsolute, join, normalize } from 'node:path';
import { artifactsDirOf } from './artifact-collector';
import type { RunnerHooks, RunSpec } from './runner.types';

/** The script's file name without extension. */
// The reserved `.endercompute` prefix keeps the script from clashing with an input file (those names are refused).
const SCRIPT_STEM = '.endercompute-script';

/**
 * The script's file name for an interpreter: `script.sh` for shells, `script.py` for
 * Python, `script.js` for Node, plain `script` otherwise. Some interpreters care
 * (Node treats `.mjs`/`.cjs` differently, Python names modules after files), and a
 * familiar extension helps whoever looks at the directory.
 */
export function scriptFileName(interpreter: string): string {
  const name = basename(interpreter);
  if (/^(ba|da|k|z)?sh$/.test(name)) return `${SCRIPT_STEM}.sh`;
  if (/^python(\d+(\.\d+)*)?$/.test(name)) return `${SCRIPT_STEM}.py`;
  if (name === 'node' || name === 'nodejs') return `${SCRIPT_STEM}.js`;
  return SCRIPT_STEM;
}

/**
 * Throws unless `name` is a plain file name. Names were validated when the job was
 * defined; this is a second line of defence because a bad name here would write
 * outside the work directory.
 */
export function assertPlainFileName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`refusing input file name ${JSON.stringify(name)}: not a plain file name`);
  }
}

/**
 * Wipes `spec.workdir` (left over from an earlier, crashed attempt), creates it and
 * its parents, writes the script (mode 0700) and the input files. Returns the
 * script's absolute path.
 *
 * @throws Error with a message naming the directory when anything fails; the run
 *   cannot start without its directory.
 */
export async function prepareWorkDirectory(spec: RunSpec, hooks: Pick<RunnerHooks, 'readFile'>): Promise<string> {
  const workdir = spec.workdir.replace(/(.)\/+$/, '$1');
  // The directory is deleted recursively: refuse anything but a normalised absolute path below the root.
  if (!isAbsolute(workdir) || normalize(workdir) !== workdir || workdir === '/') {
    throw new Error(`cannot prepare work directory ${JSON.stringify(spec.workdir)}: not a normalised absolute path`);
  }
  const scriptName = scriptFileName(spec.interpreter);
  const scriptPath = join(workdir, scriptName);
  try {
    for (const file of spec.files) {
      assertPlainFileName(file.name);
      if (file.name === scriptName) throw new Error(`input file ${file.name} would overwrite the script`);
    }
    // Small, local operations done synchronously: each asynchronous one costs a thread-pool
    // round trip, and together they dominated the time from claim to start. Only a
    // leftover directory (from a crashed attempt) is removed asynchronously: it may be big.
    if (existsSync(workdir)) await rm(workdir, { recursive: true, force: true });
    mkdirSync(workdir, { recursive: true, mode: 0o700 });
    // $ENDERCOMPUTE_ARTIFACTS_DIR exists before the script starts: files it leaves there are kept.
    mkdirSync(artifactsDirOf(workdir), { mode: 0o700 });
    // `wx`: the directory was just emptied, so an existing file means two inputs share a name.
    writeFileSync(scriptPath, spec.scriptBody, { mode: 0o700, flag: 'wx' });
    for (const file of spec.files) await writeInputFile(join(workdir, file.name), file, hooks.readFile(file.sha256));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot prepare work directory ${workdir}: ${reason}`, { cause: error });
  }
  return scriptPath;
}

/**
 * Writes one input file as its bytes arrive (a 64 MiB input is never held whole in
 * memory), checking them against the size and sha256 the run recorded.
 *
 * @throws Error when the bytes do not match (the file is left for the directory's removal).
 */
async function writeInputFile(path: string, file: RunSpec['files'][number], bytes: Promise<Buffer> | AsyncIterable<Buffer>): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const handle = await open(path, 'wx', 0o600);
  try {
    const parts: AsyncIterable<Buffer> | Buffer[] = Symbol.asyncIterator in bytes ? bytes : [await bytes];
    for await (const part of parts) {
      hash.update(part);
      size += part.length;
      if (size > file.size) break;
      await handle.write(part);
    }
  } finally {
    await handle.close();
  }
  if (size !== file.size || hash.digest('hex') !== file.sha256.toLowerCase()) {
    throw new Error(`input file ${file.name}: content does not match its sha256/size`);
  }
}
