import { Readable } from 'node:stream';
import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiParam, ApiProduces } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ZipFile } from 'yazl';
import { JobQueries } from '../jobs/job.view';
import { RunsReadModel, type RunRecord } from '../runs/runs.read-model';
import type { SkippedArtifact } from '../runs/runner/artifact-collector';
import { GoneError, NotFoundError, ValidationError } from '../shared/domain-errors';
import { sendArtifact } from './artifact-http';
import { ArtifactStore } from './artifact-store';
import { ArtifactsReadModel, type ArtifactRecord } from './artifacts.read-model';

/** `GET /api/runs/:id/artifacts`. */
export interface ArtifactList {
  items: Array<{ path: string; size: number; sha256: string }>;
  skipped: SkippedArtifact[];
}

/**
 * A run's artifacts over HTTP: the list, one file (ranges, ETag), all of them as a
 * zip (streamed), and a job's `latest` permalink. An expired run's artifacts answer
 * `410`, as its output does.
 */
@Controller('api')
export class ArtifactsController {
  constructor(
    private readonly runs: RunsReadModel,
    private readonly jobs: JobQueries,
    private readonly artifacts: ArtifactsReadModel,
    private readonly store: ArtifactStore,
  ) {}

  /** The files a run kept (by path) and those it found but skipped (with why). */
  @Get('runs/:id/artifacts')
  list(@Param('id') id: string): ArtifactList {
    const run = this.requireRun(id);
    refuseExpiredArtifacts(run);
    return {
      items: this.artifacts.list(run.id).map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      skipped: this.artifacts.skipped(run.id),
    };
  }

  /** Every kept file of the run in one zip, streamed as it is read (paths as kept). */
  @Get('runs/:id/artifacts.zip')
  @ApiProduces('application/zip')
  @ApiOkResponse({ description: 'A zip of every artifact of the run' })
  async zip(@Param('id') id: string, @Res() response: Response): Promise<void> {
    const run = this.requireRun(id);
    refuseExpiredArtifacts(run);
    const files = this.artifacts.list(run.id);
    const zip = new ZipFile();
    for (const file of files) {
      // yazl refuses `\` (it reads it as a separator, and `..` could follow): such names are kept with `_`.
      zip.addReadStreamLazy(file.path.replace(/\\/g, '_'), { size: file.size }, (callback) => callback(null, Readable.from(this.store.read(file))));
    }
    zip.end();
    const name = `${run.jobName}-${run.number}-artifacts.zip`.replace(/[^\x20-\x7e]|["\\;%/]/g, '_');
    response.status(200);
    response.setHeader('Content-Type', 'application/zip');
    response.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    // A read that fails part-way cuts the connection: the client sees a broken zip, never a shorter valid one.
    zip.on('error', (error: Error) => response.destroy(error));
    zip.outputStream.on('error', (error: Error) => response.destroy(error));
    zip.outputStream.pipe(response);
    await new Promise<void>((resolve) => response.on('close', resolve));
  }

  /** One kept file: `ETag` (its sha256), `Content-Length`, `Range` (206/416), `Content-Disposition: attachment`. */
  @Get('runs/:id/artifacts/*path')
  @ApiParam({ name: 'path', description: 'The artifact\'s path as listed (its segments percent-encoded)' })
  @ApiProduces('application/octet-stream')
  async file(@Param('id') id: string, @Param('path') path: string[] | string, @Req() request: Request, @Res() response: Response): Promise<void> {
    const run = this.requireRun(id);
    refuseExpiredArtifacts(run);
    const wanted = joinPath(path);
    const artifact = this.artifacts.find(run.id, wanted);
    if (!artifact) throw new NotFoundError(`Run ${run.jobName} #${run.number} kept no artifact "${wanted}"`);
    await this.send(request, response, artifact);
  }

  /** The file from the job's newest succeeded run that kept it (the run's number is in `X-Run-Number`). */
  @Get('jobs/:id/artifacts/latest/*path')
  @ApiParam({ name: 'path', description: 'The artifact\'s path as listed (its segments percent-encoded)' })
  @ApiProduces('application/octet-stream')
  async latest(@Param('id') idOrName: string, @Param('path') path: string[] | string, @Req() request: Request, @Res() response: Response): Promise<void> {
    const artifact = this.latestOf(idOrName, joinPath(path));
    response.setHeader('X-Run-Id', artifact.runId);
    response.setHeader('X-Run-Number', String(artifact.number));
    await this.send(request, response, artifact);
  }

  private latestOf(idOrName: string, path: string): ArtifactRecord {
    return latestArtifact(this.jobs, this.artifacts, idOrName, path);
  }

  private send(request: Request, response: Response, artifact: ArtifactRecord): Promise<void> {
    return sendArtifact(request, response, artifact, (start, end) => this.store.read(artifact, start, end));
  }

  private requireRun(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`No run "${id}" exists`);
    return run;
  }
}

/** The job's newest succeeded run's artifact at `path`; a 404 naming the job and the path looked for. */
export function latestArtifact(jobs: JobQueries, artifacts: ArtifactsReadModel, idOrName: string, path: string): ArtifactRecord {
  const job = jobs.require(idOrName);
  const artifact = artifacts.latest(job.id, path);
  if (!artifact) throw new NotFoundError(`No succeeded run of job "${job.name}" has an artifact "${path}" (runs whose artifacts expired do not count)`);
  return artifact;
}

/** The artifact path of a wildcard route (segments decoded by the router), refusing what no artifact can be called. */
export function joinPath(path: string[] | string): string {
  const joined = Array.isArray(path) ? path.join('/') : path;
  if (joined === '' || joined.includes('\0')) throw new ValidationError(['path: must name an artifact']);
  return joined;
}

/** A `410` when retention expired the run's output: its artifacts went with it (the same fields say when and by which rule). */
export function refuseExpiredArtifacts(run: RunRecord): void {
  if (run.outputExpiredAt === null) return;
  const rule = run.outputExpiredBy === 'keepRuns' ? "its job's keepRuns" : 'ENDERCOMPUTE_KEEP_OUTPUT_DAYS';
  throw new GoneError(`The artifacts of run ${run.jobName} #${run.number} expired with its output at ${run.outputExpiredAt} (retention by ${rule}); the run's other facts are kept`);
}
