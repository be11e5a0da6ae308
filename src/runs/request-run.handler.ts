import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { BlobStore } from '../blobs/blob-store';
import { type AppendResult, EventStore } from '../event-store/event-store.port';
import { inputFileProblems } from '../http/validators';
import { foldJobForRequest, type JobFold, runStandingOf } from '../jobs/job-runs';
import { type ActiveJob, decideJob, requireActive } from '../jobs/job.decider';
import { jobStream, type JobFile } from '../jobs/job.events';
import { ProjectionEngine } from '../projections/projection-engine';
import { evolveScript, initialScriptState, type ScriptState } from '../scripts/script.decider';
import { changesScriptVersion, SCRIPT_EVENT_TYPES, scriptStream } from '../scripts/script.events';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import { appendEvents, loadAggregate } from '../shared/decide-and-append';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { RequestRunCommand } from './run.commands';
import { decideRun, initialRunState } from './run.decider';
import { runIdFor, runStream, type RunRequested, type RunSnapshot } from './run.events';
import { RunsReadModel } from './runs.read-model';

/** How often a request is made again when the job changed (other runs admitted, an edit) while it was made. */
const ADMIT_ATTEMPTS = 50;

/** What a new run is requested with; its id and number are taken when it is appended. */
export type NewRunRequest = Omit<RunRequested['data'], 'runId' | 'number'>;

/** What {@link requestRunOfJob} needs. */
export interface RunRequestDeps {
  store: EventStore;
  clock: Clock;
  ids: IdGenerator;
  runs: RunsReadModel;
  projections: ProjectionEngine;
}

/** The job as read for a request. */
export type JobAsRead = JobFold;

/**
 * Requests a run of a job, in two appends that keep "a removed job never runs" true
 * on any number of servers: the job admits the run (`JobRunAdmitted` on its own
 * stream, expecting the revision read — so it fails if the job was removed or changed
 * meanwhile, and is then made again from the job as it is now), which also gives the
 * run its number; then `RunRequested` opens the run's stream (expecting none). A job's
 * removal checks every run the job admitted, and voids one whose `RunRequested` has not
 * landed yet — then this request answers that the job was removed.
 *
 * `build` makes the request from the job as read (it refuses a job that is not
 * active); it runs again whenever the request is made again. Resolves once the read
 * models show the run.
 */
export async function requestRunOfJob(
  deps: RunRequestDeps,
  jobId: string,
  build: (job: JobAsRead) => Promise<NewRunRequest>,
  context: CommandContext,
): Promise<CommandOutcome> {
  for (let attempt = 1; attempt <= ADMIT_ATTEMPTS; attempt++) {
    const job = await foldJobForRequest(deps.store, jobId);
    const request = await build(job);
    // Also after runs of logs written before admissions existed (known to the read model).
    const number = Math.max(job.nextNumber, deps.runs.nextNumber(jobId));
    const runId = runIdFor(jobId, number);
    const admitted = decideJob({ type: 'AdmitRun', jobId, runId, number }, job.state);
    try {
      await appendEvents(deps, jobStream(jobId), admitted, job.revision ?? 'no_stream', context);
    } catch (error) {
      // The job changed (another run admitted, an edit, a removal): make the request again from it.
      if (error instanceof ConflictError) continue;
      throw error;
    }
    const requested = decideRun({ type: 'RequestRun', ...request, runId, number }, initialRunState);
    let result: AppendResult;
    try {
      result = await appendEvents(deps, runStream(runId), requested, 'no_stream', context);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if ((await runStandingOf(deps.store, runId)) === 'voided') {
        throw new ConflictError(`Job "${request.jobName}" was removed at the same moment: the run was not requested`);
      }
      // A run recorded before admissions existed holds this number: the next attempt takes the next one.
      continue;
    }
    await deps.projections.waitFor(result.position);
    return { id: runId, position: result.position };
  }
  throw new ConflictError(`Could not request a run of job ${jobId}: it kept changing at the same moment, try again`);
}

/** An `at` that says which time zone it is in: it ends in `Z` or an offset (`+01:00`, `-0500`, `+01`). */
const WITH_TIME_ZONE = /T.*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * When a run asked for `at` or `delaySeconds` should start: null for now. A time
 * already past (or a clock a little ahead) simply means now. `at` must name its time
 * zone, as `asOf` must: a time without one (`2030-06-01T09:00`, a date alone) would
 * be taken as UTC, hours away from what a person east or west of it meant.
 *
 * @throws ValidationError for both fields at once, an `at` without a time zone, or one that is no time.
 */
export function scheduledTimeOf(input: { at?: string; delaySeconds?: number }, now: Date): string | null {
  if (input.at !== undefined && input.delaySeconds !== undefined) {
    throw new ValidationError(['at: give either at or delaySeconds, not both']);
  }
  if (input.delaySeconds !== undefined) return input.delaySeconds > 0 ? new Date(now.getTime() + input.delaySeconds * 1000).toISOString() : null;
  if (input.at === undefined) return null;
  if (!WITH_TIME_ZONE.test(input.at)) {
    throw new ValidationError([`at: ${JSON.stringify(input.at.slice(0, 60))} has no time zone: add Z or an offset such as +01:00, as in 2026-12-01T08:00:00+01:00`]);
  }
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
    // Refuse a job that is gone, or whose template is, before storing any bytes for it (checked again when admitted).
    await this.activeTemplateOf(requireActive((await foldJobForRequest(this.store, jobId)).state, jobId));

    // Everything that could refuse the request was checked above: only now are the bytes stored,
    // and the run refers to them only once every one is complete.
    const extraFiles: JobFile[] = [];
    for (const file of input.files) {
      const blob = await this.blobs.put(file, context);
      extraFiles.push({ name: file.name, size: blob.size, sha256: blob.sha256 });
    }
    const extra = { args: input.args, env: input.env, files: extraFiles };
    const build = async ({ state, version }: JobAsRead): Promise<NewRunRequest> => {
      const job = requireActive(state, jobId);
      const { script, scriptVersion } = await this.activeTemplateOf(job);
      const snapshot: RunSnapshot = {
        scriptId: script.scriptId,
        scriptName: script.name,
        scriptVersion: Number(scriptVersion),
        interpreter: script.interpreter,
        body: script.body,
        jobVersion: Number(version),
        args: [...job.args, ...input.args],
        env: { ...job.env, ...input.env },
        files: [...job.files.filter((f) => !extraFiles.some((x) => x.name === f.name)), ...extraFiles],
        timeoutSeconds: job.timeoutSeconds,
        artifacts: job.artifacts,
      };
      return { jobId, jobName: job.name, snapshot, extra, scheduledFor, rerunOf: null, trigger: input.trigger ?? null, runsOn: job.runsOn };
    };
    const deps = { store: this.store, clock: this.clock, ids: this.ids, runs: this.runs, projections: this.projections };
    return requestRunOfJob(deps, jobId, build, context);
  }

  /** The job's template as the log says, with its version; a `409` when it is not active. */
  private async activeTemplateOf(job: ActiveJob): Promise<{ script: Extract<ScriptState, { status: 'active' }>; scriptVersion: bigint | null }> {
    const scriptDecider = { initial: initialScriptState, evolve: evolveScript, changesVersion: changesScriptVersion };
    const { state: script, version } = await loadAggregate(this.store, scriptStream(job.scriptId), scriptDecider, SCRIPT_EVENT_TYPES);
    if (script.status !== 'active') {
      throw new ConflictError(`Job "${job.name}" uses a script template that ${script.status === 'removed' ? `("${script.name}") was removed` : 'does not exist'}: edit the job first`);
    }
    return { script, scriptVersion: version };
  }
}
