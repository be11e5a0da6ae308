import { Body, Delete, Get, Param, Post, Put, Query, Req, Res, UploadedFiles, UseInterceptors } from '@nestjs/common';
import { revisionFromForm } from '../http/etag';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { inputFileProblems } from '../http/validators';
import { InputFilesInterceptor, uploadedInputs } from '../http/uploads';
import { AttachJobFilesCommand, CreateJobCommand, RemoveJobCommand, RemoveJobFileCommand, UpdateJobCommand } from '../jobs/job.commands';
import { JobQueries } from '../jobs/job.view';
import { JobsReadModel, type JobRecord } from '../jobs/jobs.read-model';
import { RequestRunCommand } from '../runs/run.commands';
import type { FinishedStatus } from '../runs/run.events';
import { ALL_STATUSES, FINISHED_STATUSES, type RunStatus } from '../runs/runs.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { isDiskFull } from '../shared/storage-full';
import { addError, emptyForm, type FormState, text } from './forms/form-state';
import { ignoredFilters } from './forms/ignored-filters';
import { fileJobProblems, jobFormValues, MAX_SCHEDULE_ROW, parseJobForm } from './forms/job-form';
import { JobListFilters, NewJobParams, ScheduleRowParams } from './forms/page-filters';
import { fileRunProblems, parseRunForm, runFormValues } from './forms/run-form';
import { PageController } from './page-auth';
import { AsOfPages } from '../history/as-of.page';
import { PageQueries } from './page-queries';
import { RunPages } from './runs.page';
import { type Flash, type PageSpec, ViewRenderer } from './view-renderer';

type Files = Express.Multer.File[] | undefined;

/** Jobs: the list with search and filters, create and edit, input files, the job page with its run form and history. */
@PageController('jobs')
export class JobsPages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly commands: CommandBus,
    private readonly jobQueries: JobQueries,
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly queries: PageQueries,
    private readonly runPages: RunPages,
    private readonly clock: Clock,
    private readonly asOfPages: AsOfPages,
  ) {}

  @Get()
  async list(@Query() query: JobListFilters, @Req() request: Request, @Res() response: Response): Promise<void> {
    const asOf = this.asOfPages.parse(query.asOf);
    if (asOf) {
      const filter = { q: text(query as Record<string, unknown>, 'q') || undefined, tag: text(query as Record<string, unknown>, 'tag') || undefined };
      return this.views.respond(request, response, await this.asOfPages.jobs(asOf, filter));
    }
    this.views.respond(request, response, this.listPage(query as Record<string, unknown>));
  }

  @Get('new')
  newForm(@Query() query: NewJobParams, @Req() request: Request, @Res() response: Response): void {
    const values = jobFormValues();
    const scriptRef = text(query as Record<string, unknown>, 'script');
    if (scriptRef) values.scriptId = this.scripts.find(scriptRef)?.id ?? '';
    this.views.respond(request, response, this.formPage(emptyForm(values)));
  }

  @Post()
  @UseInterceptors(InputFilesInterceptor)
  async create(@Body() body: Record<string, unknown>, @UploadedFiles() files: Files, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const { form, definition, scheduleRows } = parseJobForm(body);
    const uploads = (files ?? []).filter((file) => file.originalname !== '' || file.size > 0);
    for (const problem of inputFileProblems(uploads.map((file) => file.originalname))) addError(form, 'file', problem);
    if (definition) {
      const holder = this.jobs.nameHolder(definition.name);
      if (holder) addError(form, 'name', `A job named “${holder.name}” already exists: choose another name`);
    }
    noteLostFiles(form, uploads);
    if (!definition || Object.keys(form.errors).length > 0) return this.refuseForm(request, response, form);
    const context = contextOf(request);
    let jobId: string;
    try {
      ({ id: jobId } = await this.commands.execute(new CreateJobCommand(definition, context)));
    } catch (error) {
      if (!this.fileCommandError(form, error, scheduleRows)) throw error;
      return this.refuseForm(request, response, form);
    }
    let flash: Flash = { kind: 'success', message: `Job “${definition.name}” was created` };
    if (uploads.length > 0) {
      try {
        await this.commands.execute(new AttachJobFilesCommand(jobId, uploadedInputs(uploads), context));
      } catch (error) {
        // The job exists now: say so, whatever kept its files out.
        const why = isDiskFull(error)
          ? "the server's disk is full (free some space, then attach them again)"
          : error instanceof ValidationError || error instanceof ConflictError
            ? error.message
            : null;
        if (why === null) throw error;
        flash = { kind: 'error', message: `Job “${definition.name}” was created, but its files were not attached: ${why}` };
      }
    }
    this.views.respond(request, response, this.jobPage(this.jobQueries.require(jobId)), { flash, pushUrl: `/jobs/${jobId}` });
  }

  /**
   * One more empty row for the job form's schedules editor (its "Add a schedule"
   * button), followed by the button for the row after it.
   */
  @Get('new/schedule-row')
  scheduleRow(@Query() query: ScheduleRowParams, @Req() request: Request, @Res() response: Response): void {
    const rowText = text(query as Record<string, unknown>, 'row');
    const row = /^\d{1,2}$/.test(rowText) ? Number(rowText) : 0;
    this.views.fragment(request, response, 'partials/schedule-row', { row: Math.min(row, MAX_SCHEDULE_ROW), cron: '', timeZone: 'UTC', errors: {}, added: true });
  }

  @Get(':id')
  async show(@Param('id') id: string, @Query('asOf') asOfText: unknown, @Req() request: Request, @Res() response: Response): Promise<void> {
    const asOf = this.asOfPages.parse(asOfText);
    if (asOf) return this.views.respond(request, response, await this.asOfPages.job(id, asOf));
    this.views.respond(request, response, this.jobPage(this.jobQueries.require(id)));
  }

  @Get(':id/edit')
  editForm(@Param('id') id: string, @Req() request: Request, @Res() response: Response): void {
    const job = this.jobQueries.require(id);
    this.views.respond(request, response, this.formPage(emptyForm(jobFormValues(job)), job));
  }

  @Put(':id')
  async update(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const job = this.jobQueries.require(id);
    const { form, definition, scheduleRows } = parseJobForm(body);
    if (definition) {
      const holder = this.jobs.nameHolder(definition.name);
      if (holder && holder.id !== job.id) addError(form, 'name', `A job named “${holder.name}” already exists: choose another name`);
    }
    if (!definition || Object.keys(form.errors).length > 0) return this.refuseForm(request, response, form, job);
    const version = revisionFromForm(form.values.version);
    try {
      await this.commands.execute(new UpdateJobCommand(job.id, definition, version, contextOf(request)));
    } catch (error) {
      if (!this.fileCommandError(form, error, scheduleRows)) throw error;
      return this.refuseForm(request, response, form, job);
    }
    const flash: Flash = { kind: 'success', message: `Job “${definition.name}” was saved` };
    this.views.respond(request, response, this.jobPage(this.jobQueries.require(job.id)), { flash, pushUrl: `/jobs/${job.id}` });
  }

  @Delete(':id')
  async remove(@Param('id') id: string, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const job = this.jobQueries.require(id);
    await this.commands.execute(new RemoveJobCommand(job.id, undefined, contextOf(request)));
    const flash: Flash = { kind: 'success', message: `Job “${job.name}” was deleted` };
    this.views.respond(request, response, this.listPage({}), { flash, pushUrl: '/jobs' });
  }

  @Post(':id/files')
  @UseInterceptors(InputFilesInterceptor)
  async attach(@Param('id') id: string, @UploadedFiles() files: Files, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const job = this.jobQueries.require(id);
    const uploads = (files ?? []).filter((file) => file.originalname !== '' || file.size > 0);
    const problems = inputFileProblems(uploads.map((file) => file.originalname));
    if (uploads.length === 0) problems.push('Choose one or more files to upload');
    if (problems.length > 0) return this.filesPanel(request, response, job, { kind: 'error', message: problems.join('; ') }, 422);
    try {
      await this.commands.execute(new AttachJobFilesCommand(job.id, uploadedInputs(uploads), contextOf(request)));
    } catch (error) {
      if (!(error instanceof ValidationError || error instanceof ConflictError)) throw error;
      return this.filesPanel(request, response, job, { kind: 'error', message: error.message }, 422);
    }
    const names = uploads.map((f) => `“${f.originalname}”`).join(', ');
    this.filesPanel(request, response, this.jobQueries.require(job.id), { kind: 'success', message: `Uploaded ${names}` });
  }

  @Delete(':id/files/:name')
  async removeFile(@Param('id') id: string, @Param('name') name: string, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const job = this.jobQueries.require(id);
    await this.commands.execute(new RemoveJobFileCommand(job.id, name, contextOf(request)));
    this.filesPanel(request, response, this.jobQueries.require(job.id), { kind: 'success', message: `Removed “${name}”` });
  }

  @Post(':id/runs')
  @UseInterceptors(InputFilesInterceptor)
  async run(
    @Param('id') id: string,
    @Body() body: Record<string, unknown>,
    @UploadedFiles() files: Files,
    @Req() request: AuthenticatedRequest,
    @Res() response: Response,
  ): Promise<void> {
    const job = this.jobQueries.require(id);
    // The jobs list's Run button sends only `from=list`: it runs the job now, and a refusal is a message, not a form.
    const { from, ...fields } = body ?? {};
    const list = from === 'list';
    const { form, input } = parseRunForm(list ? fields : body, this.clock.now());
    const uploads = (files ?? []).filter((file) => file.originalname !== '' || file.size > 0);
    for (const problem of inputFileProblems(uploads.map((file) => file.originalname))) addError(form, 'file', problem);
    noteLostFiles(form, uploads);
    if (!input || Object.keys(form.errors).length > 0) return this.refuseRunForm(request, response, job, form, list);
    let runId: string;
    try {
      const command = new RequestRunCommand(job.id, { ...input, files: uploadedInputs(uploads) }, contextOf(request));
      ({ id: runId } = await this.commands.execute(command));
    } catch (error) {
      if (error instanceof ValidationError) fileRunProblems(form, error.problems);
      else if (error instanceof ConflictError) addError(form, null, error.message);
      else throw error;
      return this.refuseRunForm(request, response, job, form, list);
    }
    const spec = await this.runPages.runPage(runId);
    const number = (spec.data.run as { number: number }).number;
    const when = input.at !== undefined || input.delaySeconds !== undefined ? 'scheduled' : 'requested';
    const flash: Flash = { kind: 'success', message: `Run #${number} of “${job.name}” was ${when}` };
    this.views.respond(request, response, spec, { flash, pushUrl: `/runs/${runId}` });
  }

  /** The list page with its results fragment (`#job-results`) for searches and filters. */
  listPage(query: Record<string, unknown>): PageSpec {
    const q = text(query, 'q').slice(0, 200);
    const tag = text(query, 'tag').slice(0, 40);
    const statusText = text(query, 'status');
    const lastStatus = statusText === 'never' || (ALL_STATUSES as readonly string[]).includes(statusText) ? (statusText as RunStatus | 'never') : undefined;
    const outcomeText = text(query, 'outcome');
    const lastOutcome = outcomeText === 'never' || (FINISHED_STATUSES as readonly string[]).includes(outcomeText) ? (outcomeText as FinishedStatus | 'never') : undefined;
    const page = Number.parseInt(text(query, 'page'), 10) || 1;
    const result = this.queries.jobList({ q, tag, lastStatus, lastOutcome }, page, this.clock.now());
    return {
      template: 'pages/jobs',
      fragment: 'partials/job-results',
      title: 'Jobs',
      nav: 'jobs',
      data: {
        ...result,
        filter: { q, tag, status: lastStatus ?? '', outcome: lastOutcome ?? '' },
        ignored: ignoredFilters({ status: [statusText, lastStatus], outcome: [outcomeText, lastOutcome] }),
        statuses: [...ALL_STATUSES, 'never'],
        outcomes: [...FINISHED_STATUSES, 'never'],
        scriptCount: this.scripts.size,
      },
    };
  }

  jobPage(job: JobRecord, runForm: FormState = emptyForm(runFormValues())): PageSpec {
    const now = this.clock.now();
    const script = this.scripts.get(job.scriptId) ?? null;
    const history = this.queries.jobRuns(job.id, now);
    return {
      template: 'pages/job',
      fragment: 'partials/job-history',
      title: job.name,
      nav: 'jobs',
      data: { job, script, history, runForm, lastRun: history.rows[0] ?? null, filesFlash: null, schedules: this.queries.scheduleRows(job.id, now) },
    };
  }

  private formPage(form: FormState, job?: JobRecord): PageSpec {
    return {
      template: 'pages/job-form',
      title: job ? `Edit ${job.name}` : 'New job',
      nav: 'jobs',
      data: { form, job: job ?? null, scripts: this.queries.scriptChoices() },
    };
  }

  private refuseForm(request: Request, response: Response, form: FormState, job?: JobRecord): void {
    this.views.fragment(request, response, 'partials/job-form', { form, job: job ?? null, scripts: this.queries.scriptChoices() }, { status: 422 });
  }

  private refuseRunForm(request: Request, response: Response, job: JobRecord, form: FormState, list = false): void {
    if (list) {
      const problems = [...form.general, ...Object.values(form.errors).flat()];
      const flash: Flash = { kind: 'error', message: `“${job.name}” was not started: ${problems.join('; ')}` };
      return this.views.fragment(request, response, 'partials/flash', { flash }, { status: 422, retarget: '#flash', reswap: 'innerHTML' });
    }
    this.views.fragment(request, response, 'partials/run-form', { job, runForm: form }, { status: 422 });
  }

  private filesPanel(request: Request, response: Response, job: JobRecord, flash: Flash, status = 200): void {
    this.views.fragment(request, response, 'partials/job-files', { job, filesFlash: flash }, { status });
  }

  /** Puts a refused command's problems beside the form's fields; false when the error is not one the form can show. */
  private fileCommandError(form: FormState, error: unknown, scheduleRows: number[] = []): boolean {
    if (error instanceof ValidationError) {
      fileJobProblems(form, error.problems, scheduleRows);
      return true;
    }
    if (error instanceof ConflictError) {
      if (/named/.test(error.message)) addError(form, 'name', error.message);
      else addError(form, null, error.message);
      return true;
    }
    return false;
  }
}

/**
 * A browser cannot put chosen files back into a form the server sends again:
 * a refused form says which files must be chosen again (`filesLost`), rather
 * than dropping them silently.
 */
function noteLostFiles(form: FormState, uploads: Express.Multer.File[]): void {
  const names = uploads.map((file) => `“${file.originalname}”`);
  form.values.filesLost = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
}

export function contextOf(request: AuthenticatedRequest): CommandContext {
  if (!request.commandContext) throw new Error('A page route without the page guard');
  return request.commandContext;
}
