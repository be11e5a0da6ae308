import { setTimeout as delay } from 'node:timers/promises';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { RunArtifacts } from '../../artifacts/run-artifacts';
import { BlobStore } from '../../blobs/blob-store';
import { AppConfig } from '../../config/app-config';
import { EventStore } from '../../event-store/event-store.port';
import { LiveOutputHub } from '../../live/live-output.hub';
import { ProjectionEngine } from '../../projections/projection-engine';
import { Clock } from '../../shared/clock';
import type { CommandContext } from '../../shared/command-context';
import { ConflictError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { OutputEncoder } from '../output-encoding';
import { isNotOutput } from '../run.events';
import { RunsReadModel, type RunRecord } from '../runs.read-model';
import { executeRun, failedOutcome, type Execution, type ExecutionTransport, type RunOutcome, type RunSpecification } from '../runner/execute-run';
import { MAX_BATCH_BYTES_LIMIT } from '../runner/process-runner';
import type { RunControl } from '../runner/run-control';
import type { RunCommand } from '../run.decider';
import { diskFullReason, retryWhileDiskFull } from './disk-full';
import { removedJobReason } from './removed-job';
import { RunSandbox } from './run-sandbox';
import { RunWriter } from './run-writer';
import { storeOutput } from './store-output';
import { WorkdirRetention } from './workdir-retention';

/**
 * Raw output bytes per batch: the most the runner takes (4 MiB), because a fast
 * writer is bounded by how many appends a second the store takes (each one a
 * fsync'd commit), and a batch that compresses well is one event in one append
 * (see {@link OutputEncoder}). A slow writer's batches are cut by time instead.
 */
const OUTPUT_BATCH_BYTES = MAX_BATCH_BYTES_LIMIT;
/** Between SIGTERM and SIGKILL when the server itself is stopping (at most the configured cancel grace). */
const SHUTDOWN_KILL_GRACE_MS = 2_000;

/** A run this server's runner is executing. */
export interface ActiveRun {
  jobId: string;
  writer: RunWriter;
  /** The run in the execution module: its process and outcome. */
  execution: Execution;
  /** Pause, resume, cancel and the time limit, applied to the process group. */
  control: RunControl;
  finished: Promise<void>;
}

/**
 * Executes runs on this server: claims a run (an append with the expected
 * revision, so exactly one runner anywhere wins it), prepares its work
 * directory, runs the process, records its output and how it ended.
 *
 * Control actions reach it through the log, not through calls: whoever accepts a
 * cancel, pause or resume records it on the run's stream, and the executor,
 * following the read model, signals the process group. So a control action works
 * the same whichever server took the request.
 */
@Injectable()
export class RunExecutor implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RunExecutor.name);
  private readonly active = new Map<string, ActiveRun>();
  private readonly deps: { store: EventStore; clock: Clock; ids: IdGenerator };
  private readonly endListeners = new Set<() => void>();
  private unsubscribe: (() => void) | null = null;
  /** Aborted when the server stops: ends the waits for room to record a run's end. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly config: AppConfig,
    store: EventStore,
    clock: Clock,
    ids: IdGenerator,
    private readonly blobs: BlobStore,
    private readonly runs: RunsReadModel,
    private readonly projections: ProjectionEngine,
    /** Live viewers get each chunk as soon as it is read, before it is stored. */
    private readonly live: LiveOutputHub,
    private readonly sandbox: RunSandbox,
    /** Removes (or keeps) a run's work directory once its end is recorded. */
    private readonly workdirs: WorkdirRetention,
    /** Stores the run's artifacts, which the execution module collects before the end is recorded (and before the directory goes). */
    private readonly artifacts: RunArtifacts,
  ) {
    this.deps = { store, clock, ids };
    workdirs.trackActiveRuns((runId) => this.active.has(runId));
  }

  onModuleInit(): void {
    // Control actions are run events; output batches never change what the processes should do.
    this.unsubscribe = this.projections.onChange(() => {
      for (const entry of this.active.values()) this.followLog(entry);
    }, isNotOutput);
  }

  /** Late, after {@link shutdown}: control actions keep working while runs get their grace period. */
  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  get activeCount(): number {
    return this.active.size;
  }

  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  /** Ids of the runs of one job this runner is executing. */
  activeRunIdsForJob(jobId: string): string[] {
    return [...this.active].filter(([, entry]) => entry.jobId === jobId).map(([id]) => id);
  }

  /** Called whenever a run this runner executed has ended and its end is recorded (there is room again). */
  onRunEnded(listener: () => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** The work directory of a run: `<data>/work/<job-slug>-<job-id>/<number>/` (the id keeps similar names apart). */
  workdirFor(run: Pick<RunRecord, 'jobId' | 'jobName' | 'number'>): string {
    return this.workdirs.pathOf(run);
  }

  /**
   * Claims the run and starts it in the background. Resolves false when another
   * runner (or an earlier attempt) got it first; that is not an error.
   */
  async claimAndStart(run: RunRecord): Promise<boolean> {
    const context = this.runnerContext(run);
    const writer = await RunWriter.load(this.deps, run.id, context);
    if (writer === null) return false;
    // A run of a removed job never starts (see removed-job.ts): it ends cancelled, saying why.
    const removed = await removedJobReason(this.deps.store, run.jobId);
    if (removed !== null) {
      const cancel = { type: 'FinishRun', runId: run.id, status: 'cancelled', exitCode: null, signal: null, droppedBytes: 0, reason: removed } as const;
      await writer.record(cancel).catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error;
      });
      return false;
    }
    const workdir = this.workdirFor(run);
    try {
      await writer.record({
        type: 'ClaimRun',
        runId: run.id,
        runner: this.config.runnerId,
        runnerLabels: this.config.runnerLabels,
        workdir,
        now: this.deps.clock.now().toISOString(),
      });
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
    this.live.runStarting(run.id);
    const execution = executeRun(this.specificationOf(run), workdir, this.transportFor(run, writer), {
      sandbox: this.sandbox.settings,
      umask: this.config.jobUmask,
      maxBatchBytes: OUTPUT_BATCH_BYTES,
    });
    const control = execution.control;
    const entry: ActiveRun = { jobId: run.jobId, writer, execution, control, finished: Promise.resolve() };
    this.active.set(run.id, entry);
    // A cancel or pause recorded while it was being claimed applies before the process starts.
    this.followLog(entry);
    entry.finished = this.execute(run, entry)
      // Only once its end is recorded (execute resolved): a run the log still calls running keeps it until recovery.
      .then(() => this.workdirs.runEnded(run, workdir))
      .catch((error: unknown) => this.logger.error(`Run ${run.id} could not be recorded to the end: ${String(error)}`))
      .finally(() => {
        this.live.runEnded(run.id);
        control.dispose();
        this.active.delete(run.id);
        for (const listener of this.endListeners) listener();
      });
    return true;
  }

  /** Resolves when every run this runner executes has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.active.values()].map((entry) => entry.finished));
  }

  /**
   * The server is stopping: running runs get `graceMs` to finish on their own;
   * the rest are ended (SIGTERM, SIGKILL shortly after) and recorded as
   * cancelled, saying why. Resolves once every run's end is recorded, so none
   * is left "running" in the log.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.active.size === 0) return;
    const timer = new AbortController();
    await Promise.race([this.drain(), delay(graceMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    const killGraceMs = Math.min(this.config.cancelGraceSeconds * 1000, SHUTDOWN_KILL_GRACE_MS);
    for (const entry of this.active.values()) {
      entry.control.end({ status: 'cancelled', reason: 'The server was stopped before the run finished' }, killGraceMs);
    }
    this.stopping.abort();
    await this.drain();
  }

  /** Applies what the log says about the run (paused, cancel requested) to its processes. */
  private followLog(entry: ActiveRun): void {
    const record = this.runs.get(entry.writer.runId);
    if (!record) return;
    entry.control.sync({ paused: record.phase === 'paused', cancelledBy: record.cancelRequestedBy });
  }

  /**
   * Executes the run with the execution module ({@link executeRun}), this server's
   * log as its transport: the start, every output batch and the end become the run's
   * events; live viewers get each chunk as soon as it is read.
   */
  private async execute(run: RunRecord, entry: ActiveRun): Promise<void> {
    const { writer } = entry;
    let outcome: RunOutcome;
    try {
      outcome = await entry.execution.outcome;
    } catch (error) {
      // The work directory could not be prepared, or output could not be stored (full disk, store down).
      outcome = failedOutcome(error, diskFullReason(error, writer.current));
    }
    await this.recordEnd(writer, { type: 'FinishRun', runId: run.id, ...outcome });
  }

  /** The log as the execution module's transport (see {@link execute}). */
  private transportFor(run: RunRecord, writer: RunWriter): ExecutionTransport {
    const encoder = new OutputEncoder();
    return {
      readFile: (sha256) => this.blobs.read(sha256),
      started: async (started) => {
        await writer.record({
          type: 'StartRun',
          runId: run.id,
          runner: this.config.runnerId,
          pid: started.pid,
          processStartTicks: started.processStartTicks,
          workdir: started.workdir,
        });
      },
      liveChunk: (chunk, offset) => this.live.publish(run.id, chunk, offset),
      liveHeldFrom: () => this.live.heldFrom(run.id),
      // Compressing starts as soon as a batch is complete, while the batches before it are stored.
      prepareOutput: (bytes) => encoder.encode(bytes),
      // Batches that waited while earlier ones were stored go together: one append where they fit.
      output: (batches) => storeOutput(writer, encoder, this.deps.store.kind, batches),
      // Collected by the execution module after the process exited, stored before the end is recorded.
      artifacts: (collection) => this.artifacts.store(run.id, collection, this.runnerContext(run)),
    };
  }

  /**
   * A run's specification from its request's snapshot and this server's limits (also
   * what a job server is given): its artifact patterns and `ENDERCOMPUTE_MAX_ARTIFACT_BYTES`
   * included, so a job server collects by the server's limit.
   */
  specificationOf(run: RunRecord): RunSpecification {
    return {
      runId: run.id,
      jobName: run.jobName,
      runNumber: run.number,
      actor: run.requestedBy,
      interpreter: run.snapshot.interpreter,
      scriptBody: run.snapshot.body,
      args: run.snapshot.args,
      env: run.snapshot.env,
      files: run.snapshot.files,
      timeoutSeconds: run.snapshot.timeoutSeconds,
      maxOutputBytes: this.config.maxOutputBytes,
      cancelGraceSeconds: this.config.cancelGraceSeconds,
      artifacts: run.snapshot.artifacts ?? [],
      maxArtifactBytes: this.config.maxArtifactBytes,
    };
  }

  /** Records how a run ended; on a full disk, tries again until there is room (or the server stops). */
  private recordEnd(writer: RunWriter, command: Extract<RunCommand, { type: 'FinishRun' }>): Promise<unknown> {
    let warned = false;
    return retryWhileDiskFull(() => writer.record(command), this.stopping.signal, () => {
      if (!warned) this.logger.warn(`Run ${writer.runId} ended, but the disk is full: its end will be recorded once there is room`);
      warned = true;
    });
  }

  private runnerContext(run: RunRecord): CommandContext {
    return { actor: 'runner', source: 'runner', correlationId: run.correlationId, causationId: run.requestEventId };
  }
}

/** How a process's exit reads as a run status (kept here for its callers; the rule is the execution module's). */
export { outcomeOf } from '../runner/execute-run';
