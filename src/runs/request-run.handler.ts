import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { BlobStore } from '../blobs/blob-store';
import { EventStore, StreamConflictError } from '../event-store/event-store.port';
import { inputFileProblems } from '../http/validators';
import { decideJob, evolveJob, initialJobState, requireActive } from '../jobs/job.decider';
import { JOB_EVENT_TYPES, jobStream, type JobFile } from '../jobs/job.events';
import { ProjectionEngine } from '../projections/projection-engine';
import { decideScript, evolveScript, initialScriptState } from '../scripts/script.decider';
import { SCRIPT_EVENT_TYPES, scriptStream } from '../scripts/script.events';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import { loadAggregate } from '../shared/decide-and-append';
import { metadataFor } from '../shared/command-context';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { RequestRunCommand } from './run.commands';
import { decideRun, initialRunState } from './run.decider';
import { runIdFor, runStream, type RunRequested, type RunSnapshot } from './run.events';
import { RunsReadModel } from './runs.read-model';

/** How many taken numbers a request skips before giving up (other servers numbering the same job). */
const NUMBER_ATTEMPTS = 50;

/** What a new run is requested with; its id and number are taken when it is appended. */
export type NewRunRequest = Omit<RunRequested['data'], 'runId' | 'number'>;

/** What {@link appendRunRequest} needs. */
export interface RunRequestDeps {
  store: EventStore;
  clock: Clock;
  ids: IdGenerator;
  runs: RunsReadModel;
  projections: ProjectionEngine;
}

/**
 * Appends a new run of a job with the next free number: the append to
 * `run-<job>-<n>` expects no stream, so a number another request (or server)
 * took meanwhile is skipped. Resolves once the read models show the run.
 */
export async function appendRunRequest(deps: RunRequestDeps, request: NewRunRequest, context: CommandContext): Promise<CommandOutcome> {
  let number = deps.runs.nextNumber(request.jobId);
  for (let attempt = 0; attempt < NUMBER_ATTEMPTS; attempt++, number++) {
    const runId = runIdFor(request.jobId, number);
    const events = decideRun({ type: 'RequestRun', ...request, runId, number }, initialRunState);
    const metadata = metadataFor(context, deps.clock.now());
    try {
      const result = await deps.store.append(
        runStream(runId),
        events.map((event) => ({ id: deps.ids.newEventId(), type: event.type, data: event.data, metadata })),
        'no_stream',
      );
      await deps.projections.waitFor(result.position);
      return { id: runId, position: result.position };
    } catch (error) {
      if (!(error instanceof StreamConflictError)) throw error;
    }
  }
  throw new ConflictError(`Could not number a new run of "${request.jobName}": too many runs were requested at the same moment, try again`);
}

/**
 * When a run asked for `at` or `delaySeconds` should start: null for now. A time
 * already past (or a clock a little ahead) simply means now.
 */
export function scheduledTimeOf(input: { at?: string; delaySeconds?: number }, now: Date): string | null {
  if (input.at !== undefined && input.delaySeconds !== undefined) {
    throw new ValidationError(['at: give either at or delaySeconds, not both']);
  }
  if (input.delaySeconds !== undefined) return input.delaySeconds > 0 ? new Date(now.getTime() + input.delaySeconds * 1000).toISOString() : null;
  if (input.at === undefined) return null;
  const at = Date.parse(input.at);
  if (Number.isNaN(at)) throw new ValidationError(['at: is not a valid time']);
  return at > now.getTime() ? new Date(at).toISOString() : null;
}

/**
 * Requests a run: freezes everything it will run with (template body and
 * interpreter, args, env, files) into `RunRequested`, so later edits of the job
 * or template never change what this run does, and a re-run repeats it exactly.
 */
@CommandHandler(RequestRunCommand)
export class RequestRunHandler implements ICommandHandler<RequestRunCommand> {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly runs: RunsReadModel,
    private readonly blobs: BlobStore,
    private readonly projections: ProjectionEngine,
  ) {}

  async execute({ jobId, input, context }: RequestRunCommand): Promise<CommandOutcome> {
    const scheduledFor = scheduledTimeOf(input, this.clock.now());
    const fileProblems = inputFileProblems(input.files.map((file) => file.name)).map((problem) => `file: ${problem}`);
    if (fileProblems.length > 0) throw new ValidationError(fileProblems);

    const jobDecider = { initial: initialJobState, evolve: evolveJob, decide: decideJob };
    const { state: jobState, revision: jobRevision } = await loadAggregate(this.store, jobStream(jobId), jobDecider, JOB_EVENT_TYPES);
    const job = requireActive(jobState, jobId);
    const scriptDecider = { initial: initialScriptState, evolve: evolveScript, decide: decideScript };
    const { state: script, revision: scriptRevision } = await loadAggregate(this.store, scriptStream(job.scriptId), scriptDecider, SCRIPT_EVENT_TYPES);
    if (script.status !== 'active') {
      throw new ConflictError(`Job "${job.name}" uses a script template that ${script.status === 'removed' ? `("${script.name}") was removed` : 'does not exist'}: edit the job first`);
    }

    // Everything that could refuse the request was checked above: only now are the bytes stored,
    // and the run refers to them only once every one is complete.
    const extraFiles: JobFile[] = [];
    for (const file of input.files) {
      const blob = await this.blobs.put(file, context);
      extraFiles.push({ name: file.name, size: blob.size, sha256: blob.sha256 });
    }
    const snapshot: RunSnapshot = {
      scriptId: script.scriptId,
      scriptName: script.name,
      scriptVersion: Number(scriptRevision),
      interpreter: script.interpreter,
      body: script.body,
      jobVersion: Number(jobRevision),
      args: [...job.args, ...input.args],
      env: { ...job.env, ...input.env },
      files: [...job.files.filter((f) => !extraFiles.some((x) => x.name === f.name)), ...extraFiles],
      timeoutSeconds: job.timeoutSeconds,
    };
    const extra = { args: input.args, env: input.env, files: extraFiles };
    const deps = { store: this.store, clock: this.clock, ids: this.ids, runs: this.runs, projections: this.projections };
    return appendRunRequest(deps, { jobId, jobName: job.name, snapshot, extra, scheduledFor, rerunOf: null, trigger: input.trigger ?? null }, context);
  }
}
