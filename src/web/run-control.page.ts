import { Body, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { ControlRunCommand, RerunRunCommand, type RunControlAction } from '../runs/run.commands';
import { WorkdirRetention } from '../runs/execution/workdir-retention';
import { RunScheduler } from '../runs/execution/run-scheduler';
import { toRunView } from '../runs/run.view';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { NotFoundError, ValidationError } from '../shared/domain-errors';
import { addError, text } from './forms/form-state';
import { parseRetimeForm } from './forms/retime-form';
import { contextOf } from './jobs.page';
import { PageController } from './page-auth';
import { RunPages } from './runs.page';
import { absoluteTime } from './view-helpers';
import { type Flash, ViewRenderer } from './view-renderer';

/**
 * The event a list of runs listens for (`hx-trigger="runs-changed from:body"`)
 * to refresh itself after a control button in one of its rows was used.
 */
export const RUNS_CHANGED_EVENT = 'runs-changed';

/**
 * The run control buttons of the pages: cancel, pause, resume, re-time (start
 * now, at a time, after a delay) and re-run, through the same commands as the
 * API (`POST /api/runs/:id/…`), with the person's name as the actor.
 *
 * From the run page, the answer is the run page again (the new run's, after a
 * re-run) with a message; from a row of a list (`from=list`), it is only the
 * message, and the lists refresh themselves. A refused action (409) is the
 * server's message in the flash area, as for every page action.
 */
@PageController('runs')
export class RunControlPages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly commands: CommandBus,
    private readonly runs: RunsReadModel,
    private readonly runPages: RunPages,
    private readonly clock: Clock,
    private readonly workdirs: WorkdirRetention,
    private readonly scheduler: RunScheduler,
  ) {}

  @Post(':id/cancel')
  async cancel(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    refuseStrayFields(body);
    const run = await this.control(id, { type: 'cancel' }, request);
    const message = run.phase === 'finished' ? `${label(run)} was cancelled` : `${label(run)} is being cancelled: its processes were asked to stop`;
    await this.answer(request, response, body, run, message);
  }

  @Post(':id/pause')
  async pause(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    refuseStrayFields(body);
    const run = await this.control(id, { type: 'pause' }, request);
    await this.answer(request, response, body, run, `${label(run)} was paused: its processes are stopped until you resume it`);
  }

  @Post(':id/resume')
  async resume(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    refuseStrayFields(body);
    const run = await this.control(id, { type: 'resume' }, request);
    await this.answer(request, response, body, run, `${label(run)} was resumed`);
  }

  /** "Start now" (no `when`), or the re-time form: at a time or after a delay; its problems beside its fields. */
  @Post(':id/reschedule')
  async reschedule(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const before = this.require(id);
    const { form, input } = parseRetimeForm(body, this.clock.now());
    const refuse = (): void =>
      this.views.fragment(request, response, 'partials/run-retime', { run: toRunView(before, this.runs, this.clock.now(), this.workdirs, this.scheduler), retimeForm: form }, { status: 422 });
    if (!input) return refuse();
    let run: RunRecord;
    try {
      run = await this.control(id, { type: 'reschedule', ...input }, request);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      error.problems.forEach((problem) => addError(form, null, problem));
      return refuse();
    }
    const message = run.scheduledFor === null ? `${label(run)} will start as soon as there is room` : `${label(run)} will start at ${absoluteTime(run.scheduledFor)}`;
    await this.answer(request, response, body, run, message);
  }

  /** A new run with exactly the inputs of this one: the person lands on the new run. */
  @Post(':id/rerun')
  async rerun(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    refuseStrayFields(body);
    const original = this.require(id);
    const { id: newId } = await this.commands.execute(new RerunRunCommand(original.id, contextOf(request)));
    const run = this.require(newId);
    const flash: Flash = { kind: 'success', message: `${label(run)} was started: a re-run of #${original.number} with the same inputs` };
    if (fromList(body)) return this.listAnswer(request, response, flash);
    this.views.respond(request, response, await this.runPages.runPage(run.id), { flash, pushUrl: `/runs/${run.id}` });
  }

  private async control(id: string, action: RunControlAction, request: AuthenticatedRequest): Promise<RunRecord> {
    const run = this.require(id);
    await this.commands.execute(new ControlRunCommand(run.id, action, contextOf(request)));
    return this.require(run.id);
  }

  private async answer(request: Request, response: Response, body: Record<string, unknown>, run: RunRecord, message: string): Promise<void> {
    const flash: Flash = { kind: 'success', message };
    if (fromList(body)) return this.listAnswer(request, response, flash);
    this.views.respond(request, response, await this.runPages.runPage(run.id), { flash, pushUrl: `/runs/${run.id}` });
  }

  /** A button in a row of a list: the message, and the lists refresh themselves. */
  private listAnswer(request: Request, response: Response, flash: Flash): void {
    response.setHeader('HX-Trigger', RUNS_CHANGED_EVENT);
    this.views.fragment(request, response, 'partials/flash', { flash }, { retarget: '#flash', reswap: 'innerHTML' });
  }

  private require(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    return run;
  }
}

/** A control button sends `from` at most: anything else is refused (400), never ignored. */
function refuseStrayFields(body: Record<string, unknown> | undefined): void {
  const stray = Object.keys(body ?? {}).filter((key) => key !== 'from');
  if (stray.length > 0) throw new ValidationError([`${stray[0].slice(0, 40)}: a run control button sends no field "${stray[0].slice(0, 40)}"${stray.length > 1 ? ` (and ${stray.length - 1} more)` : ''}`]);
}

/** Buttons in the rows of a list send `from=list`; the run page's send nothing. */
function fromList(body: Record<string, unknown> | undefined): boolean {
  return text(body, 'from') === 'list';
}

function label(run: RunRecord): string {
  return `Run #${run.number} of “${run.jobName}”`;
}
