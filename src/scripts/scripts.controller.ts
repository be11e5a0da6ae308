import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { Ctx } from '../auth/request-context';
import { parseIfMatch, publicVersion, setVersionTag } from '../http/etag';
import type { CommandContext } from '../shared/command-context';
import { NotFoundError } from '../shared/domain-errors';
import { CreateScriptDto, UpdateScriptDto } from './script.dto';
import { CreateScriptCommand, RemoveScriptCommand, UpdateScriptCommand } from './script.commands';
import { ScriptsReadModel, type ScriptView } from './scripts.read-model';
import { IfMatchHeader, QueryParam } from '../openapi/api-docs.decorators';
import { AS_OF_HEADER } from '../history/as-of.http';
import { AsOfQueries, type ScriptAsOf } from '../history/as-of';

export const DEFAULT_INTERPRETER = 'bash';

/** REST resource `/api/scripts`: script templates. */
@Controller('api/scripts')
export class ScriptsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly scripts: ScriptsReadModel,
    private readonly asOf: AsOfQueries,
  ) {}

  @Post()
  async create(@Body() dto: CreateScriptDto, @Ctx() context: CommandContext, @Res({ passthrough: true }) response: Response): Promise<ScriptView> {
    const input = { name: dto.name.trim(), interpreter: dto.interpreter ?? DEFAULT_INTERPRETER, body: dto.body };
    const { id } = await this.commands.execute(new CreateScriptCommand(input, context));
    return this.respond(id, response);
  }

  @Get()
  @QueryParam('asOf', 'string', 'The templates as they stood at this ISO 8601 time (read-only): see API.md *As of a time*')
  async list(@Res({ passthrough: true }) response: Response, @Query('asOf') asOfText?: string): Promise<{ items: ScriptView[] } | { items: ScriptAsOf[]; asOf: string }> {
    const asOf = this.asOf.parse(asOfText);
    if (asOf) {
      response.setHeader(AS_OF_HEADER, asOf.toISOString());
      return { items: await this.asOf.scripts(asOf), asOf: asOf.toISOString() };
    }
    return { items: this.scripts.list().map(asPublished) };
  }

  @Get(':id')
  get(@Param('id') idOrName: string, @Res({ passthrough: true }) response: Response): ScriptView {
    return this.respond(this.find(idOrName).id, response);
  }

  @Put(':id')
  @IfMatchHeader()
  async update(
    @Param('id') idOrName: string,
    @Body() dto: UpdateScriptDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Ctx() context: CommandContext,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ScriptView> {
    const expected = parseIfMatch(ifMatch);
    const script = this.find(idOrName);
    const changes = { ...dto, ...(dto.name !== undefined ? { name: dto.name.trim() } : {}) };
    await this.commands.execute(new UpdateScriptCommand(script.id, changes, expected, context));
    return this.respond(script.id, response);
  }

  @Delete(':id')
  @HttpCode(204)
  @IfMatchHeader()
  async remove(@Param('id') idOrName: string, @Headers('if-match') ifMatch: string | undefined, @Ctx() context: CommandContext): Promise<void> {
    const expected = parseIfMatch(ifMatch);
    await this.commands.execute(new RemoveScriptCommand(this.find(idOrName).id, expected, context));
  }

  private find(idOrName: string): ScriptView {
    const script = this.scripts.find(idOrName);
    if (!script) throw new NotFoundError(`No script template "${idOrName}" exists`);
    return script;
  }

  private respond(id: string, response: Response): ScriptView {
    const script = this.find(id);
    setVersionTag(response, script.version);
    return asPublished(script);
  }
}

/** A template as the API shows it: its version counted from 1 (see `publicVersion`). */
function asPublished(script: ScriptView): ScriptView {
  return { ...script, version: publicVersion(script.version) };
}
