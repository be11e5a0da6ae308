import { Get, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { JobQueries } from '../jobs/job.view';
import { PageController } from '../web/page-auth';
import { ViewRenderer } from '../web/view-renderer';
import { joinPath, latestArtifact } from './artifacts.controller';
import { ArtifactsReadModel } from './artifacts.read-model';

/**
 * The page URL of a job's `latest` permalink: `/jobs/:id/artifacts/latest/<path>`
 * names the file and the run it comes from, with a download link (fetched with the
 * key, as every page download is). A job or file not found is the usual error page,
 * naming what was looked for.
 */
@PageController('jobs')
export class ArtifactPages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly jobs: JobQueries,
    private readonly artifacts: ArtifactsReadModel,
  ) {}

  @Get(':id/artifacts/latest/*path')
  latest(@Param('id') idOrName: string, @Param('path') path: string[] | string, @Req() request: Request, @Res() response: Response): void {
    const wanted = joinPath(path);
    const artifact = latestArtifact(this.jobs, this.artifacts, idOrName, wanted);
    const job = this.jobs.require(idOrName);
    this.views.respond(request, response, {
      template: 'pages/artifact-latest',
      title: `${wanted} · ${job.name}`,
      nav: 'jobs',
      data: { job, artifact, name: wanted.split('/').pop() },
    });
  }
}
