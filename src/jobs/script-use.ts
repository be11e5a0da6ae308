import { decideScript, evolveScript, initialScriptState, type ScriptState } from '../scripts/script.decider';
import { changesScriptVersion, SCRIPT_EVENT_TYPES, scriptStream, type ScriptUseDeclared } from '../scripts/script.events';
import type { CommandContext } from '../shared/command-context';
import { appendEvents, type Dependencies, loadAggregate, type Loaded } from '../shared/decide-and-append';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { evolveJob, initialJobState } from './job.decider';
import { changesJobVersion, JOB_EVENT_TYPES, jobStream } from './job.events';

/**
 * "A template used by a job cannot be removed", kept on any number of servers. A job
 * that is created on a template, or edited to use one, first declares the use on the
 * template's stream (`ScriptUseDeclared`, expected revision: it fails once the
 * template is removed); the removal reads those declarations from the template's own
 * stream and checks each job in the log, so a job changed a moment ago, or on another
 * server, is never missed. A change that declared its use but has not landed yet is
 * fenced (`JobChangeFenced`), so it is decided again and finds the template gone.
 */

/** How often a declaration is retried while other jobs declare their use of the same template. */
const DECLARE_ATTEMPTS = 20;

const scriptFolder = { initial: initialScriptState, evolve: evolveScript, changesVersion: changesScriptVersion };
const jobFolder = { initial: initialJobState, evolve: evolveJob, changesVersion: changesJobVersion };

/**
 * Declares that job `jobId`, whose change will be appended expecting `jobRevision`,
 * is about to use template `scriptId`. A template that is not active is a 400 naming
 * `scriptId`, as the job's decider says it.
 */
export async function declareScriptUse(deps: Dependencies, scriptId: string, jobId: string, jobRevision: bigint | null, context: CommandContext): Promise<void> {
  for (let attempt = 1; attempt <= DECLARE_ATTEMPTS; attempt++) {
    const script = await loadAggregate(deps.store, scriptStream(scriptId), scriptFolder, SCRIPT_EVENT_TYPES);
    if (script.state.status !== 'active') {
      const what = script.state.status === 'removed' ? `"${script.state.name}" was removed` : `"${scriptId}" does not exist`;
      throw new ValidationError([`scriptId: the script template ${what}`]);
    }
    const events = decideScript({ type: 'DeclareUse', scriptId, jobId, jobRevision: jobRevision === null ? null : Number(jobRevision) }, script.state);
    try {
      await appendEvents(deps, scriptStream(scriptId), events, script.revision ?? 'no_stream', context);
      return;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  throw new ConflictError(`Script template ${scriptId} kept changing while this job was pointed at it: try again`);
}

/** The jobs that use a template, by the log, and how to fence the changes under way. */
export interface ScriptUsers {
  /** Names of the jobs that use it now. */
  names: string[];
  /** Fences the job changes that declared use but have not landed; a conflict means one just landed. */
  fence(): Promise<void>;
}

/**
 * Which jobs use the template `script` (as read for its removal): the jobs whose use
 * it recorded, each read from its own stream, plus `legacyUsers` (jobs of logs written
 * before declarations existed, from the read model).
 */
export async function scriptUsers(deps: Dependencies, script: Loaded<ScriptState>, legacyUsers: ReadonlyArray<{ id: string; name: string }>, context: CommandContext): Promise<ScriptUsers> {
  const scriptId = script.state.status === 'absent' ? '' : script.state.scriptId;
  // The latest declaration per job is the one that matters.
  const declared = new Map<string, ScriptUseDeclared['data']>();
  for (const event of script.events) if (event.type === 'ScriptUseDeclared') declared.set((event.data as ScriptUseDeclared['data']).jobId, event.data as ScriptUseDeclared['data']);
  const names = new Map<string, string>(legacyUsers.map((job) => [job.id, job.name]));
  const underWay: Array<{ jobId: string; revision: bigint | null }> = [];
  for (const [jobId, declaration] of declared) {
    const job = await loadAggregate(deps.store, jobStream(jobId), jobFolder, JOB_EVENT_TYPES);
    if (job.state.status === 'active' && job.state.scriptId === scriptId) {
      names.set(jobId, job.state.name);
      continue;
    }
    names.delete(jobId);
    const expected = declaration.jobRevision === null ? null : BigInt(declaration.jobRevision);
    // Its stream has not moved since the declaration: the change may still land.
    if (job.revision === expected) underWay.push({ jobId, revision: expected });
  }
  return {
    names: [...names.values()].sort(),
    fence: async () => {
      for (const { jobId, revision } of underWay) {
        const reason = `Script template ${scriptId} was removed while this job was being changed to use it`;
        try {
          await appendEvents(deps, jobStream(jobId), [{ type: 'JobChangeFenced', data: { jobId, reason } }], revision ?? 'no_stream', context);
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          throw new ConflictError('A job was pointed at this script template at this very moment: look at its jobs and try again');
        }
      }
    },
  };
}
