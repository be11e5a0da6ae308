import { Injectable } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { BlobStore } from '../blobs/blob-store';
import { EventStore } from '../event-store/event-store.port';
import { inputFileProblems } from '../http/validators';
import { ProjectionEngine } from '../projections/projection-engine';
import { runStream } from '../runs/run.events';
import { RunsReadModel } from '../runs/runs.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import { appendEvents, type AppendGuard, decideAndAppend, type Decider, type Dependencies, loadAggregate, type Loaded } from '../shared/decide-and-append';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { IdGenerator, newIdUnlike } from '../shared/ids';
import { Mutex } from '../shared/mutex';
import { UniqueNames } from '../shared/unique-names';
import { AttachJobFilesCommand, CreateJobCommand, RemoveJobCommand, RemoveJobFileCommand, UpdateJobCommand } from './job.commands';
import { decideJob, evolveJob, initialJobState, type JobCommand, type JobState } from './job.decider';
import { admittedRuns, runStandingOf } from './job-runs';
import { declareScriptUse } from './script-use';
import { changesJobVersion, JOB_EVENT_TYPES, jobStream, type JobEvent } from './job.events';
import { JobsReadModel } from './jobs.read-model';

/** The job aggregate; run admissions are bookkeeping, not changes of its version. */
export const jobDecider: Decider<JobState, JobEvent, JobCommand> = {
  initial: initialJobState,
  evolve: evolveJob,
  decide: decideJob,
  changesVersion: changesJobVersion,
};

/** Shared by the job handlers: dependencies, look-ups, and the lock that keeps names unique on this server. */
@Injectable()
export class JobCommandSupport {
  readonly names = new Mutex();
  readonly deps: Dependencies;
  /** Keeps names unique across servers sharing the log: reserved in the log around each append. */
  readonly uniqueNames: UniqueNames<JobState>;

  constructor(
    store: EventStore,
    clock: Clock,
    readonly ids: IdGenerator,
    readonly jobs: JobsReadModel,
    readonly scripts: ScriptsReadModel,
    readonly runs: RunsReadModel,
    readonly blobs: BlobStore,
    readonly projections: ProjectionEngine,
  ) {
    this.deps = { store, clock, ids };
    const activeName = (state: JobState): string | null => (state.status === 'active' ? state.name : null);
    this.uniqueNames = new UniqueNames(this.deps, 'job', 'job', activeName, async (id) => {
      const { state } = await loadAggregate(store, jobStream(id), jobDecider, JOB_EVENT_TYPES);
      return { status: state.status, name: state.status === 'absent' ? null : state.name };
    });
  }

  /**
   * Decides and appends. Between the decision and the append: `before`, then — when the
   * decision points the job at a template — the declaration of that use on the
   * template's stream (see script-use.ts), then the name guard.
   */
  async execute(
    jobId: string,
    command: JobCommand | ((loaded: Loaded<JobState>) => Promise<JobCommand>),
    context: CommandContext,
    expected?: bigint,
    before?: () => Promise<void>,
  ): Promise<CommandOutcome> {
    const names = this.uniqueNames.guard(jobId, context);
    const guard: AppendGuard<JobState> = {
      beforeAppend: async (previous, next, revision = null) => {
        await before?.();
        const newTemplate = next.status === 'active' && (previous.status !== 'active' || previous.scriptId !== next.scriptId);
        if (newTemplate) await declareScriptUse(this.deps, next.scriptId, jobId, revision, context);
        return names.beforeAppend(previous, next);
      },
    };
    const result = await decideAndAppend(this.deps, jobStream(jobId), jobDecider, JOB_EVENT_TYPES, command, context, expected, guard);
    const position = result.append?.position ?? null;
    if (position) await this.projections.waitFor(position);
    return { id: jobId, position };
  }

  /** The template's id for an id or a name; unknown references stay as given so the decider can refuse them. */
  resolveScript(reference: string): { scriptId: string; scriptExists: boolean } {
    const script = this.scripts.find(reference);
    return script ? { scriptId: script.id, scriptExists: true } : { scriptId: reference, scriptExists: false };
  }
}

@CommandHandler(CreateJobCommand)
export class CreateJobHandler implements ICommandHandler<CreateJobCommand> {
  constructor(private readonly support: JobCommandSupport) {}

  execute({ definition, context }: CreateJobCommand): Promise<CommandOutcome> {
    const { support } = this;
    return support.names.run(() => {
      const jobId = newIdUnlike(support.ids, (id) => support.jobs.isTaken(id));
      const { scriptId, scriptExists } = support.resolveScript(definition.scriptId);
      const command: JobCommand = {
        type: 'CreateJob',
        jobId,
        definition: { ...definition, scriptId },
        nameTakenBy: support.jobs.nameHolder(definition.name),
        scriptExists,
      };
      return support.execute(jobId, command, context);
    });
  }
}

@CommandHandler(UpdateJobCommand)
export class UpdateJobHandler implements ICommandHandler<UpdateJobCommand> {
  constructor(private readonly support: JobCommandSupport) {}

  execute({ jobId, changes, expectedVersion, context }: UpdateJobCommand): Promise<CommandOutcome> {
    const { support } = this;
    return support.names.run(() => {
      const script = changes.scriptId !== undefined ? support.resolveScript(changes.scriptId) : { scriptExists: true, scriptId: undefined };
      const command: JobCommand = {
        type: 'UpdateJob',
        jobId,
        changes: { ...changes, ...(script.scriptId !== undefined ? { scriptId: script.scriptId } : {}) },
        nameTakenBy: changes.name !== undefined ? support.jobs.nameHolder(changes.name) : null,
        scriptExists: script.scriptExists,
      };
      return support.execute(jobId, command, context, expectedVersion);
    });
  }
}

/**
 * Removes a job that has no unfinished run. The runs are checked in the log, not in a
 * read model that may not show a run requested a moment ago (here or on another
 * server): every run the job admitted (`JobRunAdmitted`) is looked up in its own
 * stream, and the removal is appended expecting the job stream's revision, so a run
 * admitted meanwhile makes it decide again. A run admitted but not yet requested is
 * voided first (see `RunRequestVoided`): its request then fails instead of creating a
 * run of a removed job.
 */
@CommandHandler(RemoveJobCommand)
export class RemoveJobHandler implements ICommandHandler<RemoveJobCommand> {
  constructor(private readonly support: JobCommandSupport) {}

  execute({ jobId, expectedVersion, context }: RemoveJobCommand): Promise<CommandOutcome> {
    const { support } = this;
    let underWay: Array<{ runId: string; number: number }> = [];
    const command = async (loaded: Loaded<JobState>): Promise<JobCommand> => {
      // Runs from logs written before admissions existed are known to the read model only.
      const runs = new Map<string, number>(support.runs.unfinishedForJob(jobId).map((run) => [run.id, run.number]));
      for (const admitted of admittedRuns(loaded.events)) runs.set(admitted.runId, admitted.number);
      const activeRuns: number[] = [];
      underWay = [];
      for (const [runId, number] of runs) {
        // A finished run stays finished: the read model can be trusted for that much.
        if (support.runs.get(runId)?.phase === 'finished') continue;
        const standing = await runStandingOf(support.deps.store, runId);
        if (standing === 'unfinished') activeRuns.push(number);
        else if (standing === 'absent') underWay.push({ runId, number });
      }
      return { type: 'RemoveJob', jobId, activeRuns: activeRuns.sort((a, b) => a - b) };
    };
    const voidRequestsUnderWay = async (): Promise<void> => {
      for (const { runId, number } of underWay) {
        const reason = 'The job was removed while this run was being requested';
        try {
          await appendEvents(support.deps, runStream(runId), [{ type: 'RunRequestVoided', data: { runId, jobId, reason } }], 'no_stream', context);
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          throw new ConflictError(`Run #${number} of this job was requested at this very moment: cancel it first, then remove the job`);
        }
      }
    };
    return support.execute(jobId, command, context, expectedVersion, voidRequestsUnderWay);
  }
}

@CommandHandler(AttachJobFilesCommand)
export class AttachJobFilesHandler implements ICommandHandler<AttachJobFilesCommand> {
  constructor(private readonly support: JobCommandSupport) {}

  /**
   * Decides on the files' names and hashes first, so a request the job refuses
   * stores nothing; then stores each file's bytes from its spool file, then
   * appends `JobFileAttached`. The job never refers to a blob that is not
   * complete: a failure while storing (full disk) leaves the job unchanged.
   */
  async execute({ jobId, files, context }: AttachJobFilesCommand): Promise<CommandOutcome> {
    if (files.length === 0) throw new ValidationError(['file: attach at least one file (multipart field "file")']);
    const problems = inputFileProblems(files.map((file) => file.name)).map((problem) => `file: ${problem}`);
    if (problems.length > 0) throw new ValidationError(problems);
    const refs = files.map((file) => ({ name: file.name, size: file.size, sha256: file.sha256 }));
    const command: JobCommand = { type: 'AttachJobFiles', jobId, files: refs };
    const { state } = await loadAggregate(this.support.deps.store, jobStream(jobId), jobDecider, JOB_EVENT_TYPES);
    if (jobDecider.decide(command, state).length === 0) return { id: jobId, position: null };
    for (const file of files) await this.support.blobs.put(file, context);
    return this.support.execute(jobId, command, context);
  }
}

@CommandHandler(RemoveJobFileCommand)
export class RemoveJobFileHandler implements ICommandHandler<RemoveJobFileCommand> {
  constructor(private readonly support: JobCommandSupport) {}

  execute({ jobId, name, context }: RemoveJobFileCommand): Promise<CommandOutcome> {
    return this.support.execute(jobId, { type: 'RemoveJobFile', jobId, name }, context);
  }
}
