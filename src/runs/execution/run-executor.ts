import { join } from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { BlobStore } from '../../blobs/blob-store';
import { AppConfig } from '../../config/app-config';
import { EventStore } from '../../event-store/event-store.port';
import { Clock } from '../../shared/clock';
import type { CommandContext } from '../../shared/command-context';
import { loadAggregate } from '../../shared/decide-and-append';
import { ConflictError } from '../../shared/domain-errors';
import { IdGenerator } from '../../shared/ids';
import { slugify } from '../../shared/slug';
import { evolveRun, initialRunState } from '../run.decider';
import { RUN_EVENT_TYPES, runStream, type FinishedStatus } from '../run.events';
import type { RunRecord } from '../runs.read-model';
import { startProcess } from '../runner/process-runner';
import type { ProcessExit, RunningProcess } from '../runner/runner.types';
import { RunWriter } from './run-writer';

/** A run this server's runner is executing. */
export interface ActiveRun {
  writer: RunWriter;
  process: RunningProcess | null;
  finished: Promise<void>;
}

/**
 * Executes runs on this server: claims a run (an append with the expected
 * revision, so exactly one runner anywhere wins it), prepares its work
 * directory, runs the process, records its output and how it ended.
 */
@Injectable()
export class RunExecutor {
  private readonly logger = new Logger(RunExecutor.name);
  private readonly active = new Map<string, ActiveRun>();
  private readonly deps: { store: EventStore; clock: Clock; ids: IdGenerator };

  constructor(
    private readonly config: AppConfig,
    store: EventStore,
    clock: Clock,
    ids: IdGenerator,
    private readonly blobs: BlobStore,
  ) {
    this.deps = { store, clock, ids };
  }

  get activeCount(): number {
    return this.active.size;
  }

  isActive(runId: string): boolean {
    return this.active.has(runId);
  }

  /** The work directory of a run: `<data>/work/<job-slug>-<job-id>/<number>/` (the id keeps similar names apart). */
  workdirFor(run: Pick<RunRecord, 'jobId' | 'jobName' | 'number'>): string {
    return join(this.config.dataDir, 'work', `${slugify(run.jobName)}-${run.jobId}`, String(run.number));
  }

  /**
   * Claims the run and starts it in the background. Resolves false when another
   * runner (or an earlier attempt) got it first; that is not an error.
   */
  async claimAndStart(run: RunRecord): Promise<boolean> {
    const context = this.runnerContext(run);
    const loaded = await loadAggregate(this.deps.store, runStream(run.id), { initial: initialRunState, evolve: evolveRun }, RUN_EVENT_TYPES);
    if (loaded.revision === null) return false;
    const writer = new RunWriter(this.deps, run.id, loaded.state, loaded.revision, context);
    const workdir = this.workdirFor(run);
    try {
      await writer.record({ type: 'ClaimRun', runId: run.id, runner: this.config.runnerId, workdir, now: this.deps.clock.now().toISOString() });
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
    const entry: ActiveRun = { writer, process: null, finished: Promise.resolve() };
    this.active.set(run.id, entry);
    entry.finished = this.execute(run, entry, workdir)
      .catch((error: unknown) => this.logger.error(`Run ${run.id} could not be recorded to the end: ${String(error)}`))
      .finally(() => this.active.delete(run.id));
    return true;
  }

  /** Resolves when every run this runner executes has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.active.values()].map((entry) => entry.finished));
  }

  private async execute(run: RunRecord, entry: ActiveRun, workdir: string): Promise<void> {
    const { writer } = entry;
    let exit: ProcessExit;
    try {
      const process = await startProcess(
        {
          runId: run.id,
          jobName: run.jobName,
          runNumber: run.number,
          actor: run.requestedBy,
          interpreter: run.snapshot.interpreter,
          scriptBody: run.snapshot.body,
          args: run.snapshot.args,
          env: run.snapshot.env,
          files: run.snapshot.files,
          workdir,
        },
        {
          readFile: (sha256) => this.blobs.get(sha256),
          onStarted: async (started) => {
            await writer.record({
              type: 'StartRun',
              runId: run.id,
              runner: this.config.runnerId,
              pid: started.pid,
              processStartTicks: started.processStartTicks,
              workdir: started.workdir,
            });
          },
          onOutput: async (batch) => {
            await writer.record({
              type: 'AppendOutput',
              runId: run.id,
              offset: batch.offset,
              data: batch.bytes.toString('base64'),
              pieces: batch.pieces,
            });
          },
        },
        { maxOutputBytes: this.config.maxOutputBytes },
      );
      entry.process = process;
      exit = await process.done;
    } catch (error) {
      // The work directory could not be prepared, or output could not be stored (full disk, store down).
      const reason = `EnderCompute could not run it: ${error instanceof Error ? error.message : String(error)}`;
      await writer.record({ type: 'FinishRun', runId: run.id, status: 'failed', exitCode: null, signal: null, droppedBytes: 0, reason });
      return;
    }
    const { status, reason } = outcomeOf(exit);
    await writer.record({
      type: 'FinishRun',
      runId: run.id,
      status,
      exitCode: exit.exitCode,
      signal: exit.signal,
      droppedBytes: exit.droppedBytes ?? 0,
      reason,
    });
  }

  private runnerContext(run: RunRecord): CommandContext {
    return { actor: 'runner', source: 'runner', correlationId: run.correlationId, causationId: run.requestEventId };
  }
}

/** How a process's exit reads as a run status. */
export function outcomeOf(exit: ProcessExit): { status: FinishedStatus; reason: string | null } {
  if (exit.startError !== null) return { status: 'failed', reason: exit.startError };
  if (exit.exitCode === 0) return { status: 'succeeded', reason: null };
  if (exit.signal !== null) return { status: 'failed', reason: `Ended by signal ${exit.signal}` };
  return { status: 'failed', reason: null };
}
