import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Res,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { Ctx } from '../auth/request-context';
import { BlobStore } from '../blobs/blob-store';
import { parseIfMatch, setVersionTag } from '../http/etag';
import { InputFilesInterceptor, uploadedInputs } from '../http/uploads';
import { sendAll } from '../http/send-all';
import { ALL_STATUSES, FINISHED_STATUSES } from '../runs/runs.read-model';
import type { FinishedStatus } from '../runs/run.events';
import type { CommandContext } from '../shared/command-context';
import { NotFoundError, ValidationError } from '../shared/domain-errors';
import { AS_OF_HEADER, asOfListJson } from '../history/as-of.http';
import { AsOfQueries, type JobAsOf } from '../history/as-of';
import { AttachJobFilesCommand, CreateJobCommand, RemoveJobCommand, RemoveJobFileCommand, UpdateJobCommand } from './job.commands';
import { CreateJobDto, jobDefinitionFrom, UpdateJobDto } from './job.dto';
import { JobQueries, type JobView } from './job.view';
import { FilesBody, IfMatchHeader, QueryParam } from '../openapi/api-docs.decorators';

export class ListJobsQuery {
  @IsOptional() @IsString() @MaxLength(200) q?: string;
  @IsOptional() @IsString() @MaxLength(40) tag?: string;
  @IsOptional() @IsIn([...ALL_STATUSES, 'never']) lastStatus?: (typeof ALL_STATUSES)[number] | 'never';
  /** How the most recently finished run ended: succeeded, failed, cancelled, timed_out, lost, or never. */
  @IsOptional() @IsIn([...FINISHED_STATUSES, 'never']) lastOutcome?: FinishedStatus | 'never';
  /** The jobs as they stood at this ISO 8601 time (read-only, rebuilt from the log): see API.md *As of a time*. */
  @IsOptional() @IsString() @MaxLength(64) asOf?: string;
}

/** REST resource `/api/jobs`: jobs and their input files. Wherever a job id is accepted, its name is too. */
@Controller('api/jobs')
export class JobsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: JobQueries,
    private readonly blobs: BlobStore,
    private readonly asOf: AsOfQueries,
  ) {}

  @Post()
  async create(@Body() dto: CreateJobDto, @Ctx() context: CommandContext, @Res({ passthrough: true }) response: Response): Promise<JobView> {
    const { id } = await this.commands.execute(new CreateJobCommand(jobDefinitionFrom(dto), context));
    return this.respond(id, response);
  }

  /** Every match, streamed a few jobs at a time (a server with 10,000 jobs answers them all without holding them all). */
  @Get()
  async list(@Query() query: ListJobsQuery, @Res() response: Response): Promise<void> {
    const { asOf: asOfText, ...filter } = query;
    const asOf = this.asOf.parse(asOfText);
    if (asOf) {
      if (filter.lastStatus !== undefined || filter.lastOutcome !== undefined) {
        throw new ValidationError(['asOf: cannot be combined with lastStatus or lastOutcome (runs are filtered as they are now)']);
      }
      const items = await this.asOf.jobList(asOf, filter);
      response.status(200).type('application/json').setHeader(AS_OF_HEADER, asOf.toISOString());
      await sendAll(response, asOfListJson(items, asOf));
      return;
    }
    const pieces = this.queries.listJson(filter);
    response.status(200).type('application/json');
    await sendAll(response, pieces);
  }

  @Get(':id')
  @QueryParam('asOf', 'string', 'The job as it stood at this ISO 8601 time (read-only): see API.md *As of a time*')
  async get(@Param('id') idOrName: string, @Res({ passthrough: true }) response: Response, @Query('asOf') asOfText?: string): Promise<JobView | JobAsOf> {
    const asOf = this.asOf.parse(asOfText);
    if (asOf) {
      response.setHeader(AS_OF_HEADER, asOf.toISOString());
      return this.asOf.job(idOrName, asOf);
    }
    return this.respond(this.queries.require(idOrName).id, response);
  }

  @Put(':id')
  @IfMatchHeader()
  async update(
    @Param('id') idOrName: string,
    @Body() dto: UpdateJobDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Ctx() context: CommandContext,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JobView> {
    const expected = parseIfMatch(ifMatch);
    const job = this.queries.require(idOrName);
    const changes = { ...dto, ...(dto.name !== undefined ? { name: dto.name.trim() } : {}) };
    await this.commands.execute(new UpdateJobCommand(job.id, changes, expected, context));
    return this.respond(job.id, response);
  }

  @Delete(':id')
  @HttpCode(204)
  @IfMatchHeader()
  async remove(@Param('id') idOrName: string, @Headers('if-match') ifMatch: string | undefined, @Ctx() context: CommandContext): Promise<void> {
    const expected = parseIfMatch(ifMatch);
    await this.commands.execute(new RemoveJobCommand(this.queries.require(idOrName).id, expected, context));
  }

  @Post(':id/files')
  @UseInterceptors(InputFilesInterceptor)
  @FilesBody('Input files to add or replace (by name), as `file` parts')
  async attachFiles(
    @Param('id') idOrName: string,
    @UploadedFiles() files: Express.Multer.File[] | undefined,
    @Ctx() context: CommandContext,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JobView> {
    const job = this.queries.require(idOrName);
    const inputs = uploadedInputs(files);
    await this.commands.execute(new AttachJobFilesCommand(job.id, inputs, context));
    response.status(201);
    return this.respond(job.id, response);
  }

  /** The file's bytes, streamed from the log chunk by chunk (never the whole file in memory). */
  @Get(':id/files/:name')
  async downloadFile(@Param('id') idOrName: string, @Param('name') name: string, @Res() response: Response): Promise<void> {
    const job = this.queries.require(idOrName);
    const file = job.files.find((f) => f.name === name);
    if (!file) throw new NotFoundError(`Job "${job.name}" has no input file named "${name}"`);
    const chunks = this.blobs.read(file.sha256);
    // The first chunk is read before the status goes out, so a missing blob is still a clean 404.
    const first = await chunks.next();
    response.status(200);
    response.setHeader('Content-Type', 'application/octet-stream');
    response.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`);
    response.setHeader('Content-Length', String(file.size));
    response.setHeader('ETag', `"${file.sha256}"`);
    await sendAll(response, prepend(first, chunks));
  }

  @Delete(':id/files/:name')
  @HttpCode(204)
  async removeFile(@Param('id') idOrName: string, @Param('name') name: string, @Ctx() context: CommandContext): Promise<void> {
    await this.commands.execute(new RemoveJobFileCommand(this.queries.require(idOrName).id, name, context));
  }

  private respond(id: string, response: Response): JobView {
    const job = this.queries.require(id);
    setVersionTag(response, job.version);
    return this.queries.view(job);
  }
}

/** An iterator's first result put back in front of the rest. */
async function* prepend(first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}
