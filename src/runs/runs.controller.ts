import { Body, Controller, Get, HttpCode, Param, Post, Query, Res, UploadedFiles, UseInterceptors } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { IsIn, IsString, Matches, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { Ctx } from '../auth/request-context';
import { InputFilesInterceptor, uploadedInputs } from '../http/uploads';
import { parseJsonField } from '../http/json-shape';
import { Optional, validateInto, WholeNumber, WholeNumberText } from '../http/validation';
import { numberFromText, RUNS_PAGE } from '../shared/whole-number';
import { ArtifactsReadModel } from '../artifacts/artifacts.read-model';
import { JobQueries } from '../jobs/job.view';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { GoneError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { ControlRunCommand, RerunRunCommand, RequestRunCommand, type RunControlAction } from './run.commands';
import { RescheduleRunDto, StartRunDto } from './run.dto';
import { WorkdirRetention } from './execution/workdir-retention';
import { RunScheduler } from './execution/run-scheduler';
import { RunOutputReader, storedOutputEnd } from './run-output.reader';
import { sendAll } from '../http/send-all';
import { toRunView, type RunView } from './run.view';
import { ACTIVE_STATUSES, ALL_STATUSES, FINISHED_STATUSES, RunsReadModel, type RunRecord, type RunStatus } from './runs.read-model';
import { JsonOrMultipartBody, OptionalJsonBody } from '../openapi/api-docs.decorators';

export class ListRunsQuery {
  /** A status, `active`, `finished`, or several separated by commas. */
  @Optional() @IsString() @Matches(/^[a-z_]+(,[a-z_]+)*$/, { message: 'status must be statuses separated by commas' }) status?: string;
  @Optional() @IsString() @MaxLength(100) jobId?: string;
  @Optional() @IsString() @MaxLength(64) by?: string;
  @Optional() @IsString() @MaxLength(200) q?: string;
  @Optional() @WholeNumberText() @WholeNumber(RUNS_PAGE) limit?: number;
  /** The `next` of the page before. */
  @Optional() @WholeNumberText() @WholeNumber({ min: 0 }) before?: number;
  /** `requested` (default): newest request first. `finished`: finished runs only, latest to finish first. */
  @Optional() @IsIn(['requested', 'finished'], { message: 'sort must be requested or finished' }) sort?: 'requested' | 'finished';
}

export class OutputQuery {
  @Optional() @WholeNumberText() @WholeNumber({ min: 0, unit: 'bytes' }) offset?: number;
}

/** Expands `active`, `finished` and comma lists into statuses; an unknown word is a 400. */
export function parseStatuses(raw: string | undefined): readonly RunStatus[] | undefined {
  if (raw === undefined) return undefined;
  const statuses = new Set<RunStatus>();
  for (const word of raw.split(',')) {
    if (word === 'active') ACTIVE_STATUSES.forEach((s) => statuses.add(s));
    else if (word === 'finished') FINISHED_STATUSES.forEach((s) => statuses.add(s));
    else if ((ALL_STATUSES as readonly string[]).includes(word)) statuses.add(word as RunStatus);
    else throw new ValidationError([`status: "${word}" is not one of ${[...ALL_STATUSES, 'active', 'finished'].join(', ')}`]);
  }
  return [...statuses];
}

/** REST resources for runs: start one (`/api/jobs/:id/runs`), list, read, read output, and control (cancel, pause, resume, re-time, re-run). */
@Controller('api')
export class RunsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly runs: RunsReadModel,
    private readonly jobs: JobQueries,
    private readonly output: RunOutputReader,
    private readonly clock: Clock,
    private readonly workdirs: WorkdirRetention,
    private readonly scheduler: RunScheduler,
    private readonly artifacts: ArtifactsReadModel,
  ) {}

  /** JSON, or multipart with the same fields (args/env as JSON text or repeated `args` fields) plus `file` parts. */
  @Post('jobs/:id/runs')
  @HttpCode(202)
  @UseInterceptors(InputFilesInterceptor)
  @JsonOrMultipartBody(StartRunDto, 'This run\'s extra arguments, environment, start time; as multipart, the same fields (args and env as JSON text, or repeated `args` fields) plus `file` parts')
  async start(
    @Param('id') idOrName: string,
    @Body() body: Record<string, unknown> | undefined,
    @UploadedFiles() files: Express.Multer.File[] | undefined,
    @Ctx() context: CommandContext,
  ): Promise<RunView> {
    const job = this.jobs.require(idOrName);
    const dto = validateInto(StartRunDto, files !== undefined ? fromMultipart(body ?? {}) : (body ?? {}));
    const input = {
      args: dto.args ?? [],
      env: dto.env ?? {},
      files: uploadedInputs(files),
      at: dto.at,
      delaySeconds: dto.delaySeconds,
    };
    const { id } = await this.commands.execute(new RequestRunCommand(job.id, input, context));
    return this.view(this.require(id));
  }

  @Get('runs')
  list(@Query() query: ListRunsQuery): { items: RunView[]; next: string | null } {
    // A removed job's id too: its runs stay.
    const jobId = query.jobId !== undefined ? this.jobs.requireIdForHistory(query.jobId) : undefined;
    const page = this.runs.list(
      { statuses: parseStatuses(query.status), jobId, by: query.by, q: query.q, order: query.sort, before: query.before, limit: query.limit ?? 50 },
      this.clock.now(),
    );
    return { items: page.items.map((run) => this.view(run)), next: page.next === null ? null : String(page.next) };
  }

  @Get('runs/:id')
  get(@Param('id') id: string): RunView {
    return this.view(this.require(id));
  }

  /**
   * The stored output, stdout and stderr interleaved as produced; `?offset=N`
   * skips N bytes. `Content-Length` is what the read will send, so a client can
   * tell a complete answer from a cut one; a read that fails part-way ends the
   * connection rather than the answer.
   */
  @Get('runs/:id/output')
  async getOutput(@Param('id') id: string, @Query() query: OutputQuery, @Res() response: Response): Promise<void> {
    const run = this.require(id);
    refuseExpiredOutput(run);
    const end = storedOutputEnd(run);
    const offset = Math.min(query.offset ?? 0, end);
    response.status(200);
    response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('X-Output-Bytes', String(end));
    response.setHeader('Content-Length', String(end - offset));
    await sendAll(response, this.output.read(run, offset, end));
  }

  /** Cancels: a waiting run at once; a running or paused one is stopped (SIGTERM, then SIGKILL after a grace period). */
  @Post('runs/:id/cancel')
  @HttpCode(202)
  cancel(@Param('id') id: string, @Ctx() context: CommandContext): Promise<RunView> {
    return this.control(id, { type: 'cancel' }, context);
  }

  /** Stops the run's processes (SIGSTOP) until resumed; paused time does not count toward the timeout. */
  @Post('runs/:id/pause')
  @HttpCode(202)
  pause(@Param('id') id: string, @Ctx() context: CommandContext): Promise<RunView> {
    return this.control(id, { type: 'pause' }, context);
  }

  @Post('runs/:id/resume')
  @HttpCode(202)
  resume(@Param('id') id: string, @Ctx() context: CommandContext): Promise<RunView> {
    return this.control(id, { type: 'resume' }, context);
  }

  /** Re-times a queued or scheduled run: `{at}` or `{delaySeconds}`, or neither for as soon as there is room. */
  @Post('runs/:id/reschedule')
  @HttpCode(202)
  @OptionalJsonBody(RescheduleRunDto, 'A new start time (`at` or `delaySeconds`), or neither to start it as soon as there is room')
  reschedule(@Param('id') id: string, @Body() body: Record<string, unknown> | undefined, @Ctx() context: CommandContext): Promise<RunView> {
    const dto = validateInto(RescheduleRunDto, body ?? {});
    return this.control(id, { type: 'reschedule', at: dto.at, delaySeconds: dto.delaySeconds }, context);
  }

  /** A new run with exactly the inputs of this one, attributed to the caller; answers the new run. */
  @Post('runs/:id/rerun')
  @HttpCode(202)
  async rerun(@Param('id') id: string, @Ctx() context: CommandContext): Promise<RunView> {
    this.require(id);
    const { id: newId } = await this.commands.execute(new RerunRunCommand(id, context));
    return this.view(this.require(newId));
  }

  private async control(id: string, action: RunControlAction, context: CommandContext): Promise<RunView> {
    this.require(id);
    await this.commands.execute(new ControlRunCommand(id, action, context));
    return this.view(this.require(id));
  }

  private require(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    return run;
  }

  /** The run as API.md's `Run`, with the files it found but did not keep as artifacts (`artifactsSkipped`). */
  private view(run: RunRecord): RunView & { artifactsSkipped: ReturnType<ArtifactsReadModel['skipped']> } {
    return { ...toRunView(run, this.runs, this.clock.now(), this.workdirs, this.scheduler), artifactsSkipped: this.artifacts.skipped(run.id) };
  }
}

/**
 * Multipart fields are text: `args` may repeat or be a JSON array, `env` is
 * JSON text (both with a JSON body's limits), `delaySeconds` is digits only
 * (` 10`, `1e1` or `0x0a` is a 400, never a guess). A repeated field other than
 * `args` is left as a list, which its rule refuses by name.
 */
function fromMultipart(fields: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...fields };
  if (typeof fields.args === 'string') result.args = /^\s*[[{]/.test(fields.args) ? parseJsonField(fields.args, 'args') : [fields.args];
  if (typeof fields.env === 'string') {
    if (!/^\s*[[{]/.test(fields.env)) throw new ValidationError(['env: must be JSON text in a multipart form']);
    result.env = parseJsonField(fields.env, 'env');
  }
  if (typeof fields.delaySeconds === 'string') result.delaySeconds = numberFromText(fields.delaySeconds);
  return result;
}

/**
 * A `410` when retention expired the run's output: the run and its facts are still
 * there (`GET /api/runs/:id`), its bytes are not, and never will be again.
 */
export function refuseExpiredOutput(run: RunRecord): void {
  if (run.outputExpiredAt === null) return;
  const rule = run.outputExpiredBy === 'keepRuns' ? "its job's keepRuns" : 'ENDERCOMPUTE_KEEP_OUTPUT_DAYS';
  throw new GoneError(`The output of run ${run.jobName} #${run.number} expired at ${run.outputExpiredAt} (retention by ${rule}); the run's other facts are kept`);
}
