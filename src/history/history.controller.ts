import { Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { Ctx } from '../auth/request-context';
import { parseIfMatch, publicVersion, setVersionTag } from '../http/etag';
import { JobQueries, type JobView } from '../jobs/job.view';
import { IfMatchHeader, QueryParam } from '../openapi/api-docs.decorators';
import { ScriptsReadModel, type ScriptView } from '../scripts/scripts.read-model';
import type { CommandContext } from '../shared/command-context';
import { GoneError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { VERSION_NUMBER, wholeNumberFromText } from '../shared/whole-number';
import { JobHistory, ScriptHistory, type VersionDetail, type VersionSummary } from './histories';
import { RestoreJobVersionCommand, RestoreScriptVersionCommand } from './restore.handlers';

/**
 * A version number from a path or query (`3`): a whole number from 1, as versions are counted.
 * @throws ValidationError naming the parameter otherwise.
 */
export function versionNumber(text: string, parameter: string): number {
  const version = wholeNumberFromText(text, VERSION_NUMBER);
  if (version === undefined) throw new ValidationError([`${parameter}: must be a version number (a whole number from 1), not ${JSON.stringify(text.slice(0, 40))}`]);
  return version;
}

/**
 * Refuses to restore a version of a job or template that is not there now: `410` when it
 * was removed (saying when and by whom; its versions stay readable), else `404`.
 * @throws GoneError or NotFoundError (from the history, when it never existed)
 */
async function refuseRestoreOfRemoved(history: JobHistory | ScriptHistory, idOrName: string, what: 'job' | 'script template', collection: string, notFound: string): Promise<never> {
  const { id, items } = await history.changesets(idOrName);
  const last = items[items.length - 1];
  if (last?.content.status !== 'removed') throw new NotFoundError(notFound);
  throw new GoneError(
    `The ${what} "${last.content.name}" (${id}) was removed at ${last.at} by ${last.actor}: a removed ${what} cannot be restored. Its versions stay readable at GET ${collection}/${id}/versions`,
  );
}

/** The list answer: oldest version first, and the newest's number. */
export interface VersionList {
  id: string;
  current: number;
  items: VersionSummary[];
}

/** `/api/jobs/:id/versions…`: a job's versions from its stream, and restoring one. */
@Controller('api/jobs/:id/versions')
export class JobVersionsController {
  constructor(
    private readonly history: JobHistory,
    private readonly commands: CommandBus,
    private readonly jobs: JobQueries,
  ) {}

  @Get()
  async list(@Param('id') idOrName: string): Promise<VersionList> {
    const { id, items } = await this.history.versions(idOrName);
    return { id, current: items[items.length - 1].version, items };
  }

  @Get(':n')
  @QueryParam('compareTo', 'integer', 'The version `changes` start from (default: the version before)')
  async get(@Param('id') idOrName: string, @Param('n') n: string, @Query('compareTo') compareTo?: string): Promise<VersionDetail & { id: string }> {
    const { id, detail } = await this.history.version(idOrName, versionNumber(n, 'version'), compareTo === undefined ? undefined : versionNumber(compareTo, 'compareTo'));
    return { id, ...detail };
  }

  /** An ordinary change making the job equal to version n again; 409 naming why when it cannot be. */
  @Post(':n/restore')
  @HttpCode(200)
  @IfMatchHeader()
  async restore(
    @Param('id') idOrName: string,
    @Param('n') n: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Ctx() context: CommandContext,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JobView> {
    const version = versionNumber(n, 'version');
    const expected = parseIfMatch(ifMatch);
    const job = this.jobs.find(idOrName) ?? (await refuseRestoreOfRemoved(this.history, idOrName, 'job', '/api/jobs', `No job "${idOrName}" exists`));
    await this.commands.execute(new RestoreJobVersionCommand(job.id, version, expected, context));
    const now = this.jobs.require(job.id);
    setVersionTag(response, now.version);
    return this.jobs.view(now);
  }
}

/** `/api/scripts/:id/versions…`: a template's versions from its stream, and restoring one. */
@Controller('api/scripts/:id/versions')
export class ScriptVersionsController {
  constructor(
    private readonly history: ScriptHistory,
    private readonly commands: CommandBus,
    private readonly scripts: ScriptsReadModel,
  ) {}

  @Get()
  async list(@Param('id') idOrName: string): Promise<VersionList> {
    const { id, items } = await this.history.versions(idOrName);
    return { id, current: items[items.length - 1].version, items };
  }

  @Get(':n')
  @QueryParam('compareTo', 'integer', 'The version `changes` start from (default: the version before)')
  async get(@Param('id') idOrName: string, @Param('n') n: string, @Query('compareTo') compareTo?: string): Promise<VersionDetail & { id: string }> {
    const { id, detail } = await this.history.version(idOrName, versionNumber(n, 'version'), compareTo === undefined ? undefined : versionNumber(compareTo, 'compareTo'));
    return { id, ...detail };
  }

  @Post(':n/restore')
  @HttpCode(200)
  @IfMatchHeader()
  async restore(
    @Param('id') idOrName: string,
    @Param('n') n: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Ctx() context: CommandContext,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ScriptView> {
    const version = versionNumber(n, 'version');
    const expected = parseIfMatch(ifMatch);
    const script =
      this.scripts.find(idOrName) ?? (await refuseRestoreOfRemoved(this.history, idOrName, 'script template', '/api/scripts', `No script template "${idOrName}" exists`));
    await this.commands.execute(new RestoreScriptVersionCommand(script.id, version, expected, context));
    const now = this.scripts.get(script.id)!;
    setVersionTag(response, now.version);
    return { ...now, version: publicVersion(now.version) };
  }
}
