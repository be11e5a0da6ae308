/**
 * The contract between the run orchestration (which owns events) and the process
 * runner (which owns the operating-system process). The runner does no event-store
 * I/O itself: it reports through {@link RunnerHooks} and the caller records events.
 */
import type { SandboxSettings } from './sandbox';

/** Everything needed to execute one run, taken from the run's `RunRequested` snapshot. */
export interface RunSpec {
  runId: string;
  jobName: string;
  runNumber: number;
  /** Who requested the run; exported to the process as ENDERCOMPUTE_ACTOR. */
  actor: string;
  /** The program that runs the script file: `bash`, `python3`, an absolute path, … */
  interpreter: string;
  scriptBody: string;
  /** The job's arguments followed by the run's extra arguments. */
  args: string[];
  /** The job's environment merged with the run's (the run's win). */
  env: Record<string, string>;
  /** Input files to place beside the script, fetched through {@link RunnerHooks.readFile}. */
  files: Array<{ name: string; size: number; sha256: string }>;
  /** Absolute path of the fresh work directory `<data>/work/<job-slug>/<run-number>/`. */
  workdir: string;
}

export type OutputStreamName = 'stdout' | 'stderr';

/** A batch of output bytes in arrival order, with which stream each piece came from. */
export interface OutputBatch {
  /** Offset of the first byte of this batch in the run's whole output. */
  offset: number;
  bytes: Buffer;
  /** Consecutive pieces whose lengths add up to `bytes.length`. */
  pieces: Array<{ stream: OutputStreamName; length: number }>;
  /** What {@link RunnerHooks.prepareOutput} returned for these bytes, when it is given. */
  prepared?: unknown;
}

export interface ProcessStarted {
  pid: number;
  /** The process's start time from /proc (clock ticks since boot), to tell a reused pid apart. */
  processStartTicks: string | null;
  workdir: string;
  scriptPath: string;
}

export interface ProcessExit {
  /** The exit code, or null when a signal ended it or it never started. */
  exitCode: number | null;
  /** The signal that ended it (`SIGKILL`, …), or null. */
  signal: string | null;
  /** Set when the process could not be started at all (unknown interpreter, …). */
  startError: string | null;
  outputBytes: number;
  /**
   * Output bytes the process wrote beyond `RunnerOptions.maxOutputBytes`, read and
   * discarded. Optional so that existing fakes still type-check; the process runner
   * always sets it (0 when nothing was dropped).
   */
  droppedBytes?: number;
}

export interface RunnerHooks {
  /** The bytes of a content-addressed input file: whole, or in parts as they are read (large files). */
  readFile(sha256: string): Promise<Buffer> | AsyncIterable<Buffer>;
  /** Called once the process is spawned, before any output is reported. */
  onStarted(info: ProcessStarted): Promise<void>;
  /**
   * Called with each batch, one at a time and in order; the runner waits for the
   * returned promise before handing over the next batch, and stops reading the
   * process's pipes while batches are waiting (backpressure, bounded memory).
   * `batch.bytes` may be reused for later output once the promise settled: copy
   * what must outlive it.
   */
  onOutput(batch: OutputBatch): Promise<void>;
  /**
   * Optional, used instead of `onOutput` when given: called with every batch that
   * waits (one or more, in order) each time the previous call settled, so a caller
   * can store them together (one append, one commit) when the process writes
   * faster than one batch is stored.
   */
  onOutputBatches?(batches: OutputBatch[]): Promise<void>;
  /**
   * Optional: called with each batch's bytes as soon as the batch is complete, before
   * its turn in `onOutput`, so that work on it (compressing) overlaps with storing the
   * batches before it. The result reaches `onOutput` as `batch.prepared`.
   */
  prepareOutput?(bytes: Buffer): unknown;
  /**
   * Called synchronously with every chunk as soon as it is read, for live viewers.
   * Optional. The chunk's buffer is reused once `liveHeldFrom()` passed it: copy what
   * must be kept longer.
   */
  onLiveChunk?(stream: OutputStreamName, chunk: Buffer, offset: number): void;
  /** With `onLiveChunk`: the offset of the oldest byte its receiver may still hold (only ever moves forward); Infinity (the default) for none. */
  liveHeldFrom?(): number;
  /**
   * Optional: asked right before the process is spawned, once the work directory is
   * ready (input files can take a while to arrive); false (a cancel, a stop came
   * meanwhile) and nothing is spawned: `done` resolves with `startError` set.
   */
  stillWanted?(): boolean;
}

/** A process being run. */
export interface RunningProcess {
  readonly pid: number | null;
  /** Sends a signal to every process of the run (its process group, or everything in its sandbox). */
  signalGroup(signal: NodeJS.Signals): boolean;
  /** Resolves after the process exited and every output batch was handed to `onOutput` and settled. */
  readonly done: Promise<ProcessExit>;
}

/** Tuning for the process runner; every field has a default. */
export interface RunnerOptions {
  /** How long the first unflushed output byte may wait before its batch is handed over. Default 50 ms. */
  flushIntervalMs?: number;
  /**
   * Largest batch in bytes (at most 4 MiB). How a batch is stored is the caller's
   * business: the server compresses it and splits what does not fit one event.
   * Default 256 KiB.
   */
  maxBatchBytes?: number;
  /** Output kept per run; bytes beyond it are read and discarded, and a notice is stored. Default: no limit. */
  maxOutputBytes?: number;
  /** PATH given to the process. Default: the server's own PATH. */
  basePath?: string;
  /**
   * Without a sandbox: how long to wait, after the main process exited, for its
   * children to close the output pipe before the remaining process group is killed.
   * Default 200 ms. (In the sandbox nothing outlives the main process.)
   */
  killGraceMs?: number;
  /** Run inside this bubblewrap sandbox; null or absent: a plain process (no isolation). */
  sandbox?: SandboxSettings | null;
  /** The umask the script starts with (the server runs with a stricter one). Default 0o022. */
  umask?: number;
}
