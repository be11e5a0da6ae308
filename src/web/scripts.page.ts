import { Body, Delete, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { revisionFromForm } from '../http/etag';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { CreateScriptCommand, RemoveScriptCommand, UpdateScriptCommand } from '../scripts/script.commands';
import { ScriptsReadModel, type ScriptView } from '../scripts/scripts.read-model';
import { ConflictError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { addError, emptyForm, fileProblems, type FormState } from './forms/form-state';
import { COMMON_INTERPRETERS, parseScriptForm, SAMPLE_BODY, scriptFormValues } from './forms/script-form';
import { contextOf } from './jobs.page';
import { PageController } from './page-auth';
import { AsOfPages } from '../history/as-of.page';
import { PageQueries } from './page-queries';
import { type Flash, type PageSpec, ViewRenderer } from './view-renderer';

/** Script templates: list, create, edit (with the jobs that use it), delete. */
@PageController('scripts')
export class ScriptsPages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly commands: CommandBus,
    private readonly scripts: ScriptsReadModel,
    private readonly queries: PageQueries,
    private readonly asOfPages: AsOfPages,
  ) {}

  @Get()
  async list(@Query('asOf') asOfText: unknown, @Req() request: Request, @Res() response: Response): Promise<void> {
    const asOf = this.asOfPages.parse(asOfText);
    if (asOf) return this.views.respond(request, response, await this.asOfPages.templates(asOf));
    this.views.respond(request, response, this.listPage());
  }

  @Get('new')
  newForm(@Req() request: Request, @Res() response: Response): void {
    const values = scriptFormValues();
    values.body = SAMPLE_BODY;
    this.views.respond(request, response, this.editorPage(emptyForm(values), null));
  }

  @Post()
  async create(@Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const { form, input } = parseScriptForm(body);
    if (input) {
      const holder = this.scripts.nameHolder(input.name);
      if (holder) addError(form, 'name', `A script template named “${holder.name}” already exists: choose another name`);
    }
    if (!input || Object.keys(form.errors).length > 0) return this.refuse(request, response, form, null);
    let id: string;
    try {
      ({ id } = await this.commands.execute(new CreateScriptCommand(input, contextOf(request))));
    } catch (error) {
      if (!fileCommandError(form, error)) throw error;
      return this.refuse(request, response, form, null);
    }
    const flash: Flash = { kind: 'success', message: `Script template “${input.name}” was created` };
    this.views.respond(request, response, this.editorPage(emptyForm(scriptFormValues(this.require(id))), this.require(id)), { flash, pushUrl: `/scripts/${id}` });
  }

  @Get(':id')
  show(@Param('id') id: string, @Req() request: Request, @Res() response: Response): void {
    const script = this.require(id);
    this.views.respond(request, response, this.editorPage(emptyForm(scriptFormValues(script)), script));
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const script = this.require(id);
    const { form, input } = parseScriptForm(body);
    if (input) {
      const holder = this.scripts.nameHolder(input.name);
      if (holder && holder.id !== script.id) addError(form, 'name', `A script template named “${holder.name}” already exists: choose another name`);
    }
    if (!input || Object.keys(form.errors).length > 0) return this.refuse(request, response, form, script);
    const version = revisionFromForm(form.values.version);
    try {
      await this.commands.execute(new UpdateScriptCommand(script.id, input, version, contextOf(request)));
    } catch (error) {
      if (!fileCommandError(form, error)) throw error;
      return this.refuse(request, response, form, script);
    }
    const saved = this.require(script.id);
    const flash: Flash = { kind: 'success', message: `Script template “${saved.name}” was saved` };
    this.views.respond(request, response, this.editorPage(emptyForm(scriptFormValues(saved)), saved), { flash, pushUrl: `/scripts/${saved.id}` });
  }

  @Delete(':id')
  async remove(@Param('id') id: string, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const script = this.require(id);
    // Refused while jobs use it: the filter shows the decider's message, which names them.
    await this.commands.execute(new RemoveScriptCommand(script.id, undefined, contextOf(request)));
    const flash: Flash = { kind: 'success', message: `Script template “${script.name}” was deleted` };
    this.views.respond(request, response, this.listPage(), { flash, pushUrl: '/scripts' });
  }

  private listPage(): PageSpec {
    const usage = this.queries.jobCountsByScript();
    const rows = this.scripts.list().map((script) => ({ script, jobCount: usage.get(script.id) ?? 0 }));
    return { template: 'pages/scripts', title: 'Script templates', nav: 'scripts', data: { rows } };
  }

  private editorPage(form: FormState, script: ScriptView | null): PageSpec {
    const usedBy = script ? this.queries.jobsUsingScript(script.id) : [];
    return {
      template: 'pages/script',
      title: script ? script.name : 'New script template',
      nav: 'scripts',
      data: { form, script, usedBy, interpreters: COMMON_INTERPRETERS },
    };
  }

  private refuse(request: Request, response: Response, form: FormState, script: ScriptView | null): void {
    this.views.fragment(request, response, 'partials/script-form', { form, script, interpreters: COMMON_INTERPRETERS }, { status: 422 });
  }

  private require(idOrName: string): ScriptView {
    const script = this.scripts.find(idOrName);
    if (!script) throw new NotFoundError(`No script template "${idOrName}" exists`);
    return script;
  }
}

function fileCommandError(form: FormState, error: unknown): boolean {
  if (error instanceof ValidationError) {
    fileProblems(form, error.problems, { name: { field: 'name', label: 'Name', empty: 'Give the template a name' }, interpreter: { field: 'interpreter', label: 'Interpreter' }, body: { field: 'body', label: 'Script' } });
    return true;
  }
  if (error instanceof ConflictError) {
    addError(form, /named/.test(error.message) ? 'name' : null, error.message);
    return true;
  }
  return false;
}
