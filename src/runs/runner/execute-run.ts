/**
 * The one way a run is executed, on a server's local runner and on a job server
 * (`endercompute runner`) alike: a run specification in, bytes and an outcome out,
 * control (pause, resume, cancel, the time limit) through {@link RunControl}.
 *
 * It imports nothing of the server. Where the bytes go and who is told about the
 * start and the end is the caller's {@link ExecutionTransport}: the server's
 * executor records events in its log; the job server writes a spool on its own disk
 * and uploads it (see `src/jobserver/`).
 */
import { collectArtifacts, type ArtifactCollection } from './artifact-collector';
import { startProcess } from './process-runner';
import { RunControl } from './run-control';
import type { OutputBatch, ProcessExit, ProcessStarted, RunningProcess, RunSpec } from './runner.types';
import type { SandboxSettings } from './sandbox';

/** A run specification: what to execute and its limits. Serialisable (the job server gets it as JSON). */
export interface RunSpecification extends Omit<RunSpec, 'workdir'> {
  /** The run's time limit in seconds of running time (paused time does not count); null: none. */
  timeoutSeconds: number | null;
  /** Output kept per run; bytes beyond it are read and discarded (counted in `droppedBytes`). */
  maxOutputBytes: number;
  /** Seconds a cancelled or timed-out run's processes get between SIGTERM and SIGKILL. */
  cancelGraceSeconds: number;
  /**
   * Glob patterns of the files kept as artifacts (the job's, as when the run was
   * requested); absent (a server older than artifacts): none besides
   * `$ENDERCOMPUTE_ARTIFACTS_DIR`'s.
   */
  artifacts?: string[];
  /** The server's `ENDERCOMPUTE_MAX_ARTIFACT_BYTES`: the most artifact bytes kept for the run; absent: 1 GiB. */
  maxArtifactBytes?: number;
}

/** The artifact limit when a specification carries none (`ENDERCOMPUTE_MAX_ARTIFACT_BYTES`' default). */
export const DEFAULT_MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024;

/** How the executing machine runs processes: its sandbox, umask and batch size. */
export interface ExecutionSettings {
  /** The bubblewrap sandbox, or null for plain processes. */
  sandbox: SandboxSettings | null;
  /** The umask the script starts with. */
  umask: number;
  /** Largest output batch handed to the transport, in bytes (at most 4 MiB). */
  maxBatchBytes: number;
}

/** Where an executing run's bytes go and who hears of its start. */
export interface ExecutionTransport {
  /** The bytes of a content-addressed input file. */
  readFile(sha256: string): Promise<Buffer> | AsyncIterable<Buffer>;
  /** The process was spawned; output is handed over only after this settled. */
  started(info: ProcessStarted): Promise<void>;
  /** Consecutive batches in order; the next call waits for this one (backpressure). Their bytes may be reused once it settled: copy what must outlive it. */
  output(batches: OutputBatch[]): Promise<void>;
  /** Optional work on a batch as soon as it is complete (compressing), overlapping with `output` of earlier ones. */
  prepareOutput?(bytes: Buffer): unknown;
  /**
   * Optional: every chunk as soon as it is read (live viewers). The chunk's buffer is
   * reused once `liveHeldFrom()` passed it: copy what must be kept longer.
   */
  liveChunk?(chunk: Buffer, offset: number): void;
  /** With `liveChunk`: the offset of the oldest byte live viewers may still hold (only ever moves forward); Infinity for none. */
  liveHeldFrom?(): number;
  /**
   * The run's artifacts, found in its work directory after the process exited
   * (whatever its status) and before the outcome is known to the caller; called only
   * when there is something (a file or a skipped one). The files are still in the
   * work directory: store them now (the server), or keep them there until uploaded
   * (a job server). Must not throw for a failure to keep them (log it instead).
   */
  artifacts?(collection: ArtifactCollection): Promise<void>;
}

/** How a run ended, as the executing machine saw it. */
export interface RunOutcome {
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed_out';
  exitCode: number | null;
  signal: string | null;
  /** Output bytes beyond `maxOutputBytes`, read and discarded. */
  droppedBytes: number;
  /** Why, in words, when the exit code does not say it all. */
  reason: string | null;
}

/** One run being executed. */
export interface Execution {
  /** Pause, resume and cancel it ({@link RunControl.sync}, {@link RunControl.end}); its time limit runs here. */
  readonly control: RunControl;
  /** The process, once started (null before and when it could not start). */
  readonly process: RunningProcess | null;
  /**
   * How it ended. Rejects when the run could not be carried out at all: its work
   * directory or an input file could not be prepared, or the transport failed to take
   * output (the process is then killed). {@link failedOutcome} words such an error.
   */
  readonly outcome: Promise<RunOutcome>;
}

/**
 * Executes `spec` in `workdir` (created fresh; it must not exist) and hands its
 * output to `transport`. Returns at once: `control` can be used before the process
 * exists (a cancel that arrives first means it never starts).
 */
export function executeRun(spec: RunSpecification, workdir: string, transport: ExecutionTransport, settings: ExecutionSettings): Execution {
  const control = new RunControl({ timeoutMs: spec.timeoutSeconds === null ? null : spec.timeoutSeconds * 1000, killGraceMs: spec.cancelGraceSeconds * 1000 });
  const execution: { control: RunControl; process: RunningProcess | null; outcome: Promise<RunOutcome> } = { control, process: null, outcome: Promise.resolve(null as never) };
  execution.outcome = (async (): Promise<RunOutcome> => {
    // Lets the caller apply what it already knows (a cancel while claiming) first.
    await Promise.resolve();
    if (control.outcome) return endedBeforeStart(control.outcome);
    try {
      const { timeoutSeconds: _t, maxOutputBytes, cancelGraceSeconds: _g, artifacts: patterns, maxArtifactBytes, ...runSpec } = spec;
      let process: RunningProcess;
      try {
        process = await startProcess(
          { ...runSpec, workdir },
          {
            readFile: (sha256) => transport.readFile(sha256),
            onStarted: (started) => transport.started(started),
            onLiveChunk: transport.liveChunk === undefined ? undefined : (_stream, chunk, offset) => transport.liveChunk?.(chunk, offset),
            liveHeldFrom: transport.liveHeldFrom === undefined ? undefined : () => transport.liveHeldFrom?.() ?? Number.POSITIVE_INFINITY,
            prepareOutput: transport.prepareOutput === undefined ? undefined : (bytes) => transport.prepareOutput?.(bytes),
            onOutput: (batch) => transport.output([batch]),
            onOutputBatches: (batches) => transport.output(batches),
            // A cancel or a stop while the work directory was prepared: the script never starts.
            stillWanted: () => control.outcome === null,
          },
          { maxOutputBytes, maxBatchBytes: settings.maxBatchBytes, sandbox: settings.sandbox, umask: settings.umask },
        );
      } catch (error) {
        // Ended while the work directory was prepared (a cancel or a stop gave up an input file): that end is the outcome.
        if (control.outcome) return endedBeforeStart(control.outcome);
        throw error;
      }
      execution.process = process;
      if (process.pid !== null) control.attach(process);
      const exit = await process.done;
      // Ended on purpose (cancel, timeout, shutdown): that is its status, whatever the exit code.
      const { status, reason } = control.outcome ?? outcomeOf(exit);
      // Whatever the status, before the end is reported and before the work directory goes away.
      if (transport.artifacts !== undefined) {
        const collection = await collectArtifacts(workdir, patterns ?? [], { maxBytes: maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES }).catch(
          // Not the run's failure: named on the run instead of any file.
          (error: unknown): ArtifactCollection => ({ files: [], skipped: [{ path: '.', size: 0, reason: `the work directory could not be searched: ${String(error)}` }] }),
        );
        if (collection.files.length > 0 || collection.skipped.length > 0) await transport.artifacts(collection);
      }
      return { status, exitCode: exit.exitCode, signal: exit.signal, droppedBytes: exit.droppedBytes ?? 0, reason };
    } finally {
      control.dispose();
    }
  })();
  // The caller may attach late; whoever awaits it still sees the rejection.
  execution.outcome.catch(() => undefined);
  return execution;
}

/** How a process's exit reads as a run status. */
export function outcomeOf(exit: ProcessExit): { status: 'succeeded' | 'failed'; reason: string | null } {
  if (exit.startError !== null) return { status: 'failed', reason: exit.startError };
  if (exit.exitCode === 0) return { status: 'succeeded', reason: null };
  if (exit.signal !== null) return { status: 'failed', reason: `Ended by signal ${exit.signal}` };
  return { status: 'failed', reason: null };
}

/** The outcome of a run ended (`ending`: a cancel, a stop) before its process started. */
function endedBeforeStart(ending: { status: RunOutcome['status']; reason: string | null }): RunOutcome {
  return { status: ending.status, exitCode: null, signal: null, droppedBytes: 0, reason: ending.reason };
}

/** The outcome of a run that could not be carried out (see {@link Execution.outcome}), with `reason` when the caller knows better. */
export function failedOutcome(error: unknown, reason?: string | null): RunOutcome {
  return { status: 'failed', exitCode: null, signal: null, droppedBytes: 0, reason: reason ?? `EnderCompute could not run it: ${error instanceof Error ? error.message : String(error)}` };
}
