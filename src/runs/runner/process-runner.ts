/**
 * Runs one run's script as an operating-system process: fresh work directory, clean
 * environment, its own process group, output read as bytes and handed over in
 * batches with backpressure. It records nothing itself; see {@link RunnerHooks}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { cleanUpAfterExit } from './exit-cleanup';
import { resolveInterpreter } from './interpreter';
import { OutputBatcher } from './output-batcher';
import { killProcessGroup, readProcessStartTicks } from './process-group';
import { buildRunEnvironment } from './run-environment';
import type { ProcessExit, RunnerHooks, RunnerOptions, RunningProcess, RunSpec } from './runner.types';
import { prepareWorkDirectory } from './work-directory';

export type { RunnerOptions } from './runner.types';

/** Default {@link RunnerOptions.flushIntervalMs}. */
export const DEFAULT_FLUSH_INTERVAL_MS = 50;
/** Default {@link RunnerOptions.maxBatchBytes}: 256 KiB, about 342 KiB once base64-encoded. */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
/** Largest accepted {@link RunnerOptions.maxBatchBytes}: base64 makes it about 683 KiB, still under 1 MiB with room for the envelope. */
export const MAX_BATCH_BYTES_LIMIT = 512 * 1024;
/** Default {@link RunnerOptions.killGraceMs}. */
export const DEFAULT_KILL_GRACE_MS = 200;

interface Settings {
  flushIntervalMs: number;
  maxBatchBytes: number;
  maxOutputBytes: number | null;
  basePath: string | undefined;
  killGraceMs: number;
}

/**
 * Prepares `spec.workdir` and starts `interpreter <workdir>/script[.ext] ...args` in
 * it. `hooks.onStarted` is called (not awaited) before this resolves when the spawn
 * succeeded; batches are handed to `hooks.onOutput` only after it settled.
 *
 * A process that cannot be started (unknown interpreter, not executable, invalid
 * environment) is not an exception: `done` resolves with `startError` set.
 *
 * @throws Error when the work directory cannot be prepared (or an input file cannot
 *   be read), RangeError for invalid `options`.
 */
export async function startProcess(
  spec: RunSpec,
  hooks: RunnerHooks,
  options: RunnerOptions = {},
): Promise<RunningProcess> {
  const settings = resolveOptions(options);
  const scriptPath = await prepareWorkDirectory(spec, hooks);
  const workdir = dirname(scriptPath);

  let env: Record<string, string>;
  try {
    env = buildRunEnvironment({ ...spec, workdir }, settings.basePath);
  } catch (error) {
    return notStarted(messageOf(error));
  }
  const interpreter = await resolveInterpreter(spec.interpreter, env.PATH ?? '');
  if (interpreter.error !== undefined) return notStarted(interpreter.error);

  let child: ChildProcess;
  try {
    child = spawn(interpreter.path, [scriptPath, ...spec.args], {
      cwd: workdir,
      env,
      argv0: spec.interpreter,
      // Its own process group, so that signals reach every process the script starts.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // Thrown synchronously for arguments Node refuses, such as a NUL byte.
    return notStarted(`cannot start ${spec.interpreter}: ${messageOf(error)}`);
  }
  if (child.pid === undefined) {
    // Node reports ENOENT/EACCES from spawn as an 'error' event.
    const spawnFailed = child;
    const done = new Promise<ProcessExit>((resolve) => {
      spawnFailed.once('error', (error) => resolve(notStartedExit(`cannot start ${spec.interpreter}: ${error.message}`)));
    });
    return { pid: null, signalGroup: () => false, done };
  }
  return supervise(child, child.pid, spec, hooks, settings, scriptPath);
}

/** Reads the running process's output and cleans up after it. */
function supervise(
  child: ChildProcess,
  pid: number,
  spec: RunSpec,
  hooks: RunnerHooks,
  settings: Settings,
  scriptPath: string,
): RunningProcess {
  // Both exist: stdio is ['ignore', 'pipe', 'pipe'].
  const pipes: Array<[Readable, 'stdout' | 'stderr']> = [
    [child.stdout!, 'stdout'],
    [child.stderr!, 'stderr'],
  ];
  // After the final kill the group id may be reused by an unrelated process: never signal it again.
  let groupReleased = false;
  let bytesRead = 0;

  const batcher = new OutputBatcher({
    flushIntervalMs: settings.flushIntervalMs,
    maxBatchBytes: settings.maxBatchBytes,
    maxOutputBytes: settings.maxOutputBytes,
    deliver: (batch) => hooks.onOutput(batch),
    onLiveChunk: hooks.onLiveChunk === undefined ? undefined : (stream, chunk, offset) => hooks.onLiveChunk?.(stream, chunk, offset),
    onPressure: (paused) => {
      for (const [pipe] of pipes) {
        if (paused) pipe.pause();
        else pipe.resume();
      }
    },
    // Output can no longer be stored (disk full, …): stop the run rather than lose output silently.
    onFailure: () => {
      if (!groupReleased) killProcessGroup(pid, 'SIGKILL');
    },
  });

  const closed = pipes.map(([pipe, stream]) => {
    pipe.on('data', (chunk: Buffer) => {
      bytesRead += chunk.length;
      batcher.push(stream, chunk);
    });
    // A read error ends the pipe ('close' follows); what was read is kept.
    pipe.on('error', () => undefined);
    return new Promise<void>((resolve) => pipe.once('close', () => resolve()));
  });
  const pipesClosed = Promise.all(closed).then(() => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // After a successful spawn 'error' only reports a failed child.kill(), which is never used.
  child.on('error', () => undefined);

  let started: Promise<void>;
  try {
    started = Promise.resolve(
      hooks.onStarted({ pid, processStartTicks: readProcessStartTicks(pid), workdir: dirname(scriptPath), scriptPath }),
    );
  } catch (error) {
    started = Promise.reject(error);
  }
  started.then(
    () => batcher.release(),
    (error: unknown) => batcher.fail(error),
  );

  const done = (async (): Promise<ProcessExit> => {
    const { code, signal } = await exited;
    await cleanUpAfterExit({
      pid,
      runId: spec.runId,
      killGraceMs: settings.killGraceMs,
      pipesClosed,
      readState: () => ({ bytesRead, paused: batcher.isPaused }),
      destroyPipes: () => {
        for (const [pipe] of pipes) pipe.destroy();
      },
      onGroupKilled: () => {
        groupReleased = true;
      },
    });
    const totals = await batcher.finish();
    return { exitCode: code, signal, startError: null, outputBytes: totals.outputBytes, droppedBytes: totals.droppedBytes };
  })();
  // The caller may attach to `done` late; whoever awaits it still sees the rejection.
  done.catch(() => undefined);

  return {
    pid,
    signalGroup: (signal) => !groupReleased && killProcessGroup(pid, signal),
    done,
  };
}

function resolveOptions(options: RunnerOptions): Settings {
  const flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const maxOutputBytes = options.maxOutputBytes ?? null;
  if (!Number.isFinite(flushIntervalMs) || flushIntervalMs < 0) {
    throw new RangeError(`flushIntervalMs must be a non-negative number, got ${flushIntervalMs}`);
  }
  if (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < 1 || maxBatchBytes > MAX_BATCH_BYTES_LIMIT) {
    throw new RangeError(`maxBatchBytes must be an integer from 1 to ${MAX_BATCH_BYTES_LIMIT}, got ${maxBatchBytes}`);
  }
  if (maxOutputBytes !== null && (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0)) {
    throw new RangeError(`maxOutputBytes must be a non-negative integer, got ${maxOutputBytes}`);
  }
  if (!Number.isFinite(killGraceMs) || killGraceMs < 0) {
    throw new RangeError(`killGraceMs must be a non-negative number, got ${killGraceMs}`);
  }
  return { flushIntervalMs, maxBatchBytes, maxOutputBytes, basePath: options.basePath, killGraceMs };
}

function notStarted(startError: string): RunningProcess {
  return { pid: null, signalGroup: () => false, done: Promise.resolve(notStartedExit(startError)) };
}

function notStartedExit(startError: string): ProcessExit {
  return { exitCode: null, signal: null, startError, outputBytes: 0, droppedBytes: 0 };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
