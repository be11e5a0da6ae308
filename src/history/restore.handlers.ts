import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { BlobStore } from '../blobs/blob-store';
import type { JobCommand } from '../jobs/job.decider';
import type { JobDefinition, JobFile } from '../jobs/job.events';
import { JobCommandSupport } from '../jobs/job.handlers';
import { ScriptCommandSupport } from '../scripts/script.handlers';
import type { CommandContext } from '../shared/command-context';
import type { CommandOutcome } from '../shared/command-outcome';
import { ConflictError } from '../shared/domain-errors';
import { JobHistory, ScriptHistory, type Content } from './histories';

/** Make a job equal to its version `version` again (an ordinary change, with `If-Match` as `expectedVersion`). */
export class RestoreJobVersionCommand extends Command<CommandOutcome> {
  constructor(
    readonly jobId: string,
    readonly version: number,
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Make a template equal to its version `version` again. */
export class RestoreScriptVersionCommand extends Command<CommandOutcome> {
  constructor(
    readonly scriptId: string,
    readonly version: number,
    readonly expectedVersion: bigint | undefined,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** A removal is a version too, but not one to go back to: the job (or template) would be gone. */
function restorable(content: Content, label: string, version: number): Content {
  if (content.status !== 'active') throw new ConflictError(`Version ${version} cannot be restored: it is the ${label}'s removal`);
  return content;
}

/**
 * Restores a job's version: the version is read from the job's stream, the facts the
 * decider needs (is its name taken now, does its template still exist, are its files'
 * bytes still stored) are looked up, and the job's decider turns it into ordinary
 * events (`JobUpdated`, file events) whose metadata says `restoredFrom`.
 */
@CommandHandler(RestoreJobVersionCommand)
export class RestoreJobVersionHandler implements ICommandHandler<RestoreJobVersionCommand> {
  constructor(
    private readonly support: JobCommandSupport,
    private readonly history: JobHistory,
    private readonly blobs: BlobStore,
  ) {}

  async execute({ jobId, version, expectedVersion, context }: RestoreJobVersionCommand): Promise<CommandOutcome> {
    const { detail } = await this.history.version(jobId, version);
    const { status: _status, files, ...fields } = restorable(detail.content, 'job', version);
    const definition = fields as unknown as JobDefinition;
    const wanted = files as JobFile[];
    const missingFiles: string[] = [];
    for (const file of wanted) if (!(await this.blobs.isComplete(file.sha256))) missingFiles.push(file.name);
    const { support } = this;
    return support.names.run(() => {
      const command: JobCommand = {
        type: 'RestoreJob',
        jobId,
        version,
        definition,
        files: wanted,
        nameTakenBy: support.jobs.nameHolder(definition.name),
        scriptExists: support.scripts.get(definition.scriptId) !== undefined,
        missingFiles,
      };
      return support.execute(jobId, command, { ...context, restoredFrom: version }, expectedVersion);
    });
  }
}

@CommandHandler(RestoreScriptVersionCommand)
export class RestoreScriptVersionHandler implements ICommandHandler<RestoreScriptVersionCommand> {
  constructor(
    private readonly support: ScriptCommandSupport,
    private readonly history: ScriptHistory,
  ) {}

  async execute({ scriptId, version, expectedVersion, context }: RestoreScriptVersionCommand): Promise<CommandOutcome> {
    const { detail } = await this.history.version(scriptId, version);
    const { name, interpreter, body } = restorable(detail.content, 'template', version) as Content & { interpreter: string; body: string };
    const { support } = this;
    return support.names.run(() => {
      const nameTakenBy = support.scripts.nameHolder(name);
      return support.execute(scriptId, { type: 'RestoreScript', scriptId, version, target: { name, interpreter, body }, nameTakenBy }, { ...context, restoredFrom: version }, expectedVersion);
    });
  }
}
