/**
 * Runs one run's script as an operating-system process: fresh work directory, clean
 * environment, a sandbox of its own (or, opted out, its own process group), one
 * channel for stdout and stderr read as bytes straight into the batches handed over,
 * with backpressure.
 * It records nothing itself; see {@link RunnerHooks}.
 */
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { cleanUpAfterExit } from './exit-cleanup';
import { resolveInterpreter } from './interpreter';
import { launchDirect, launchSandboxed, type Launched } from './launch';
import { OutputBatcher } from './output-batcher';
import { openOutputChannel, type OutputChannel } from './output-channel';
import { readProcessStartTicks } from './process-group';
import { buildRunEnvironment } from './run-environment';
import type { OutputBatch, ProcessExit, RunnerHooks, RunnerOptions, RunningProcess, RunSpec } from './runner.types';
import { runHome, runTmp, visibleSearchPath, type SandboxSettings } from './sandbox';
import { outputWriteAheadBytes } from './read-pacing';
import { prepareWorkDirectory } from './work-directory';

export type { RunnerOptions } from './runner.types';

/** Default {@link RunnerOptions.flushIntervalMs}. */
export const DEFAULT_FLUSH_INTERVAL_MS = 50;
/** Default {@link RunnerOptions.maxBatchBytes}: 256 KiB. */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
/** Largest accepted {@link RunnerOptions.maxBatchBytes}: up to 4 batches wait per run, so this bounds a run's memory. */
export const MAX_BATCH_BYTES_LIMIT = 4 * 1024 * 1024;
/** Default {@link RunnerOptions.umask}: the usual one, files readable by others, writable by their owner. */
export const DEFAULT_UMASK = 0o022;
/** Default {@link RunnerOptions.killGraceMs}. */
export const DEFAULT_KILL_GRACE_MS = 200;

interface Settings {
  flushIntervalMs: number;
  maxBatchBytes: number;
  maxOutputBytes: number | null;
  basePath: string | undefined;
  killGraceMs: number;
  sandbox: SandboxSettings | null;
  umask: string;
}

/**
 * Prepares `spec.workdir` and starts `interpreter <workdir>/script[.ext] ...args` in
 * it — inside the sandbox when `options.sandbox` is set, otherwise as a plain
 * process in its own process group. stdout and stderr are one pipe, so the output
 * keeps exactly the order the script wrote it in. `hooks.onStarted` is called (not
 * awaited) before this resolves when the spawn succeeded; batches are handed to
 * `hooks.onOutput` only after it settled.
 *
 * A process that cannot be started (unknown interpreter, not executable, invalid
 * environment, a sandbox that fails to set up) is not an exception: `done` resolves
 * with `startError` set.
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
  const sandbox = settings.sandbox;
  if (sandbox !== null) {
    mkdirSync(runHome(workdir), { mode: 0o700 });
    mkdirSync(runTmp(workdir), { mode: 0o700 });
  }

  let env: Record<string, string>;
  try {
    env = buildRunEnvironment(
      { ...spec, workdir },
      sandbox === null
        ? { basePath: settings.basePath }
        : { basePath: visibleSearchPath(settings.basePath ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', sandbox), home: runHome(workdir) },
    );
  } catch (error) {
    return notStarted(messageOf(error));
  }
  const interpreter = await resolveInterpreter(spec.interpreter, env.PATH ?? '');
  if (interpreter.error !== undefined) return notStarted(interpreter.error);

  // The batcher exists before the process: the output channel reads into its buffers.
  let bytesRead = 0;
  let channel: OutputChannel | null = null;
  let launched: Launched | null = null;
  const batcher = new OutputBatcher({
    flushIntervalMs: settings.flushIntervalMs,
    maxBatchBytes: settings.maxBatchBytes,
    maxOutputBytes: settings.maxOutputBytes,
    deliver: (batches) => deliverAll(hooks, batches),
    prepare: hooks.prepareOutput === undefined ? undefined : (bytes) => hooks.prepareOutput?.(bytes),
    onLiveChunk: hooks.onLiveChunk === undefined ? undefined : (stream, chunk, offset) => hooks.onLiveChunk?.(stream, chunk, offset),
    liveHeldFrom: hooks.liveHeldFrom === undefined ? undefined : () => hooks.liveHeldFrom?.() ?? Number.POSITIVE_INFINITY,
    onPressure: (paused) => channel?.hold(paused),
    // Output can no longer be stored (disk full, …): stop the run rather than lose output silently.
    onFailure: () => {
      launched?.signal('SIGKILL');
    },
  });
  try {
    channel = await openOutputChannel(
      {
        target: () => batcher.readTarget(),
        read: (bytes) => {
          bytesRead += bytes.length;
          batcher.pushRead(bytes);
        },
      },
      // The sandbox's init grows the send buffer of the process's end; /bin/sh cannot.
      outputWriteAheadBytes(sandbox !== null),
    );
  } catch (error) {
    return notStarted(`cannot open the run's output channel: ${messageOf(error)}`);
  }
  if (hooks.stillWanted?.() === false) {
    channel.reader.destroy();
    channel.writer.destroy();
    return notStarted('it was ended before its process started');
  }

  const command = { interpreterPath: interpreter.path, argv0: spec.interpreter, scriptPath, args: spec.args, env, workdir, umask: settings.umask, output: channel.writer };
  try {
    launched = sandbox !== null ? launchSandboxed(sandbox, command) : launchDirect(command, spec.runId);
  } catch (error) {
    channel.reader.destroy();
    // Thrown synchronously for arguments Node refuses, such as a NUL byte.
    return notStarted(`cannot start ${spec.interpreter}: ${messageOf(error)}`);
  } finally {
    // The process has its own copy (or none was made): ours would keep the channel open after it exits.
    channel.writer.destroy();
  }
  if (launched.child.pid === undefined) {
    channel.reader.destroy();
    // Node reports ENOENT/EACCES from spawn as an 'error' event.
    const spawnFailed = launched.child;
    const done = new Promise<ProcessExit>((resolve) => {
      spawnFailed.once('error', (error) => resolve(notStartedExit(`cannot start ${sandbox !== null ? 'the sandbox (bwrap)' : spec.interpreter}: ${error.message}`)));
    });
    return { pid: null, signalGroup: () => false, done };
  }
  return supervise(launched, launched.child.pid, { output: channel.reader, batcher, bytesRead: () => bytesRead }, hooks, settings, scriptPath);
}

/** The reading side of a run: the channel's reading end, and the batcher it reads into. */
interface OutputSide {
  output: Socket;
  batcher: OutputBatcher;
  bytesRead(): number;
}

/** Watches the running process and cleans up after it. */
function supervise(launched: Launched, pid: number, side: OutputSide, hooks: RunnerHooks, settings: Settings, scriptPath: string): RunningProcess {
  const { child } = launched;
  const { output, batcher } = side;

  // A read error ends the channel ('close' follows); what was read is kept.
  output.on('error', () => undefined);
  const pipesClosed = new Promise<void>((resolve) => output.once('close', () => resolve()));
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
    launched.exited();
    await cleanUpAfterExit({
      killGraceMs: launched.leftoversPossible ? settings.killGraceMs : 0,
      pipesClosed,
      readState: () => ({ bytesRead: side.bytesRead(), paused: batcher.isPaused }),
      destroyPipes: () => output.destroy(),
      killLeftovers: () => launched.killLeftovers(),
    });
    const totals = await batcher.finish();
    const status = await launched.status(code, signal);
    return { ...status, outputBytes: totals.outputBytes, droppedBytes: totals.droppedBytes };
  })();
  // The caller may attach to `done` late; whoever awaits it still sees the rejection.
  done.catch(() => undefined);

  return { pid, signalGroup: (signal) => launched.signal(signal), done };
}

/** Hands batches to the hooks: all at once when they take that, else one after the other. */
async function deliverAll(hooks: RunnerHooks, batches: OutputBatch[]): Promise<void> {
  if (hooks.onOutputBatches !== undefined) return hooks.onOutputBatches(batches);
  for (const batch of batches) await hooks.onOutput(batch);
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
  const umask = (options.umask ?? DEFAULT_UMASK).toString(8).padStart(4, '0');
  return { flushIntervalMs, maxBatchBytes, maxOutputBytes, basePath: options.basePath, killGraceMs, sandbox: options.sandbox ?? null, umask };
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
