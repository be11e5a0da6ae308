/**
 * Finds the interpreter's executable before spawning, the way `execvp` would. Node
 * reports some failures only as a child exiting with 127 (a file without execute
 * permission, for example), which a run could not tell from a script that exits
 * with 127 itself; resolving first turns them into a clear start error.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

/** The outcome of {@link resolveInterpreter}: an absolute path, or why there is none. */
export type ResolvedInterpreter = { path: string; error?: undefined } | { path?: undefined; error: string };

/**
 * Resolves `interpreter` to an executable file: a name containing `/` is taken as a
 * path, anything else is searched in the directories of `pathVariable` (empty
 * entries, which would mean "the current directory", are skipped on purpose).
 */
export async function resolveInterpreter(interpreter: string, pathVariable: string): Promise<ResolvedInterpreter> {
  if (interpreter === '' || interpreter.includes('\0')) {
    return { error: `invalid interpreter ${JSON.stringify(interpreter)}` };
  }
  if (interpreter.includes('/')) {
    const problem = executableProblem(interpreter);
    return problem === null ? { path: interpreter } : { error: `interpreter ${interpreter} ${problem}` };
  }
  let firstProblem: string | null = null;
  for (const directory of pathVariable.split(':')) {
    if (directory === '') continue;
    const candidate = join(directory, interpreter);
    const problem = executableProblem(candidate);
    if (problem === null) return { path: candidate };
    // Like execvp: report a file we found but cannot run rather than "not found".
    if (problem !== NOT_FOUND && firstProblem === null) firstProblem = `interpreter ${candidate} ${problem}`;
  }
  return { error: firstProblem ?? `interpreter ${interpreter} not found in PATH (${pathVariable})` };
}

const NOT_FOUND = 'does not exist';

/** Null when `path` is an executable regular file, otherwise a short reason. */
/**
 * Synchronous on purpose: a stat and an access on a local path take microseconds,
 * while each asynchronous call waits for a thread-pool round trip — a PATH search of
 * ten directories that way added tens of milliseconds to every run's start.
 */
function executableProblem(path: string): string | null {
  try {
    const info = statSync(path);
    if (!info.isFile()) return 'is not a regular file';
  } catch {
    return NOT_FOUND;
  }
  try {
    // For root, X_OK (like execve) requires at least one execute bit on a regular file.
    accessSync(path, constants.X_OK);
    return null;
  } catch {
    return 'is not executable (permission denied)';
  }
}
