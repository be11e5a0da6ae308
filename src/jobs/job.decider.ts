import { ConflictError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { assertNever } from '../shared/exhaustive';
import { artifactPatternProblems } from '../runs/runner/artifact-patterns';
import { scheduleProblems } from '../schedules/cron';
import type { NameHolder } from '../scripts/script.decider';
import { labelProblems } from '../runners/placement';
import { JOB_CONCURRENCY, KEEP_RUNS, wholeNumberIn, wholeNumberWanted } from '../shared/whole-number';
import { readableJobEvent } from './job.upcast';
import { JOB_DEFINITION_FIELDS, withDefinitionDefaults, type JobDefinition, type JobEvent, type JobFile } from './job.events';

/**
 * The job aggregate as a pure decider. Facts from outside the stream (is the
 * name taken, does the script template exist, which runs are active) are looked
 * up by the handler and passed in with the command.
 */
export type JobState =
  | { status: 'absent' }
  | ({ status: 'active'; jobId: string; files: JobFile[] } & Required<JobDefinition>)
  | { status: 'removed'; jobId: string; name: string };

export type ActiveJob = Extract<JobState, { status: 'active' }>;

export const initialJobState: JobState = { status: 'absent' };

export type JobCommand =
  | {
      type: 'CreateJob';
      jobId: string;
      definition: JobDefinition;
      nameTakenBy: NameHolder | null;
      /** Whether `definition.scriptId` names an existing, not removed template. */
      scriptExists: boolean;
    }
  | {
      type: 'UpdateJob';
      jobId: string;
      changes: Partial<JobDefinition>;
      nameTakenBy: NameHolder | null;
      scriptExists: boolean;
    }
  /**
   * Make the job equal again to an earlier version of itself (`definition` and `files`
   * as they were): an ordinary change, refused with a conflict naming the reason when
   * the name is now taken, the template was removed, or a file's bytes are gone.
   */
  | {
      type: 'RestoreJob';
      jobId: string;
      /** The version restored, as people count it (for the messages). */
      version: number;
      definition: JobDefinition;
      files: JobFile[];
      nameTakenBy: NameHolder | null;
      scriptExists: boolean;
      /** Names of `files` whose bytes are no longer complete in the log (expired or deleted). */
      missingFiles: string[];
    }
  | { type: 'AttachJobFiles'; jobId: string; files: JobFile[] }
  | { type: 'RemoveJobFile'; jobId: string; name: string }
  | {
      type: 'RemoveJob';
      jobId: string;
      /** Numbers of its runs that have not finished, as their own streams say. */
      activeRuns: number[];
    }
  /** Admit a run (numbered by the handler): only an active job runs. */
  | { type: 'AdmitRun'; jobId: string; runId: string; number: number };

export function evolveJob(state: JobState, recorded: JobEvent): JobState {
  const event = readableJobEvent(recorded);
  switch (event.type) {
    case 'JobCreated': {
      const { jobId, ...definition } = event.data;
      return { status: 'active', jobId, files: [], ...withDefinitionDefaults(definition) };
    }
    case 'JobUpdated': {
      if (state.status !== 'active') return state;
      const { jobId: _id, ...changes } = event.data;
      return { ...state, ...changes };
    }
    case 'JobFileAttached':
      if (state.status !== 'active') return state;
      return { ...state, files: [...state.files.filter((f) => f.name !== event.data.file.name), event.data.file] };
    case 'JobFileRemoved':
      if (state.status !== 'active') return state;
      return { ...state, files: state.files.filter((f) => f.name !== event.data.name) };
    case 'JobRemoved':
      return state.status === 'active' ? { status: 'removed', jobId: state.jobId, name: state.name } : state;
    case 'JobRunAdmitted':
    case 'JobChangeFenced':
      // Bookkeeping for runs and templates: the job itself does not change.
      return state;
    default:
      return assertNever(event, 'job event');
  }
}

export function decideJob(command: JobCommand, state: JobState): JobEvent[] {
  switch (command.type) {
    case 'CreateJob': {
      if (state.status !== 'absent') throw new ConflictError(`Job ${command.jobId} already exists`);
      refuseTakenName(command.definition.name, command.nameTakenBy, command.jobId);
      const definition = withDefinitionDefaults(command.definition);
      refuseInvalidControls(definition, command.scriptExists ? [] : [unknownScript(command.definition.scriptId)]);
      return [{ type: 'JobCreated', data: { jobId: command.jobId, ...definition } }];
    }
    case 'UpdateJob': {
      const job = requireActive(state, command.jobId);
      const changed: Partial<JobDefinition> = {};
      for (const field of JOB_DEFINITION_FIELDS) {
        const value = command.changes[field];
        if (value !== undefined && !sameValue(value, job[field])) {
          (changed as Record<string, unknown>)[field] = value;
        }
      }
      if (changed.name !== undefined) refuseTakenName(changed.name, command.nameTakenBy, command.jobId);
      refuseInvalidControls(changed, changed.scriptId !== undefined && !command.scriptExists ? [unknownScript(changed.scriptId)] : []);
      // An edit that changes nothing records nothing.
      if (Object.keys(changed).length === 0) return [];
      return [{ type: 'JobUpdated', data: { jobId: command.jobId, ...changed } }];
    }
    case 'RestoreJob':
      return decideRestore(command, requireActive(state, command.jobId));
    case 'AttachJobFiles': {
      const job = requireActive(state, command.jobId);
      const names = command.files.map((f) => f.name);
      const repeated = names.find((name, index) => names.indexOf(name) !== index);
      if (repeated !== undefined) throw new ValidationError([`file: "${repeated}" is given twice`]);
      // Re-attaching identical content under the same name records nothing.
      return command.files
        .filter((file) => !job.files.some((f) => f.name === file.name && f.sha256 === file.sha256))
        .map((file) => ({ type: 'JobFileAttached', data: { jobId: command.jobId, file } }) as const);
    }
    case 'RemoveJobFile': {
      const job = requireActive(state, command.jobId);
      if (!job.files.some((f) => f.name === command.name)) {
        throw new NotFoundError(`Job "${job.name}" has no input file named "${command.name}"`);
      }
      return [{ type: 'JobFileRemoved', data: { jobId: command.jobId, name: command.name } }];
    }
    case 'RemoveJob': {
      const job = requireActive(state, command.jobId);
      if (command.activeRuns.length > 0) {
        throw new ConflictError(
          `Job "${job.name}" has runs that are not finished (${command.activeRuns.map((n) => `#${n}`).join(', ')}): cancel them first`,
        );
      }
      return [{ type: 'JobRemoved', data: { jobId: command.jobId } }];
    }
    case 'AdmitRun': {
      requireActive(state, command.jobId);
      return [{ type: 'JobRunAdmitted', data: { jobId: command.jobId, runId: command.runId, number: command.number } }];
    }
    default:
      return assertNever(command, 'job command');
  }
}

/**
 * A restore as ordinary events: one `JobUpdated` with the fields that differ from now,
 * then a `JobFileRemoved` or `JobFileAttached` per file that differs. Nothing when the
 * job already equals the version.
 */
function decideRestore(command: Extract<JobCommand, { type: 'RestoreJob' }>, job: ActiveJob): JobEvent[] {
  const { jobId, version, definition } = command;
  const changed: Partial<JobDefinition> = {};
  for (const field of JOB_DEFINITION_FIELDS) {
    const value = definition[field];
    if (value !== undefined && !sameValue(value, job[field])) (changed as Record<string, unknown>)[field] = value;
  }
  if (changed.name !== undefined && command.nameTakenBy && command.nameTakenBy.id !== jobId) {
    throw new ConflictError(`Version ${version} cannot be restored: its name "${changed.name}" is now taken by another job ("${command.nameTakenBy.name}")`);
  }
  if (changed.scriptId !== undefined && !command.scriptExists) {
    throw new ConflictError(`Version ${version} cannot be restored: its script template (${changed.scriptId}) was removed`);
  }
  const removed = job.files.filter((now) => !command.files.some((then) => then.name === now.name));
  const attached = command.files.filter((then) => !job.files.some((now) => now.name === then.name && now.sha256 === then.sha256));
  const gone = attached.filter((file) => command.missingFiles.includes(file.name));
  if (gone.length > 0) {
    throw new ConflictError(`Version ${version} cannot be restored: the bytes of its input ${gone.length === 1 ? 'file' : 'files'} ${gone.map((f) => `"${f.name}"`).join(', ')} expired`);
  }
  refuseInvalidControls(changed, []);
  const events: JobEvent[] = [];
  if (Object.keys(changed).length > 0) events.push({ type: 'JobUpdated', data: { jobId, ...changed } });
  for (const file of removed) events.push({ type: 'JobFileRemoved', data: { jobId, name: file.name } });
  for (const file of attached) events.push({ type: 'JobFileAttached', data: { jobId, file } });
  return events;
}

export function requireActive(state: JobState, jobId: string): ActiveJob {
  if (state.status === 'absent') throw new NotFoundError(`Job ${jobId} does not exist`);
  if (state.status === 'removed') throw new NotFoundError(`Job "${state.name}" was removed`);
  return state;
}

function refuseTakenName(name: string, holder: NameHolder | null, selfId: string): void {
  if (holder && holder.id !== selfId) throw new ConflictError(`A job named "${holder.name}" already exists`);
}

/** The run-control fields: a limit of at least 1, schedules croner can read, and labels (`runsOn`) as placement defines them. */
/** Refuses (400) a definition whose controls are out of range, naming each problem after those given (`problems`: the template's). */
function refuseInvalidControls(definition: Partial<JobDefinition>, problems: string[]): void {
  const limit = definition.maxConcurrent;
  if (limit !== undefined && limit !== null && wholeNumberIn(limit, JOB_CONCURRENCY) === undefined) {
    problems.push(`maxConcurrent must be ${wholeNumberWanted(JOB_CONCURRENCY)}, or null for no limit of its own`);
  }
  const keep = definition.keepRuns;
  if (keep !== undefined && keep !== null && wholeNumberIn(keep, KEEP_RUNS) === undefined) {
    problems.push(`keepRuns must be ${wholeNumberWanted(KEEP_RUNS)}, or null to keep the output of every run`);
  }
  if (definition.schedules !== undefined) problems.push(...scheduleProblems(definition.schedules));
  if (definition.artifacts !== undefined) problems.push(...artifactPatternProblems(definition.artifacts));
  if (definition.runsOn !== undefined) problems.push(...labelProblems(definition.runsOn).map((problem) => `runsOn: ${problem}`));
  if (problems.length > 0) throw new ValidationError(problems);
}

function unknownScript(scriptId: string): string {
  return `scriptId: no script template "${scriptId}" exists`;
}

/** Equal as data: arrays in order, objects (the environment) whatever their key order. */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}
