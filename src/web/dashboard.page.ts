import { Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { RunSandbox } from '../runs/execution/run-sandbox';
import { RunScheduler } from '../runs/execution/run-scheduler';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { Clock } from '../shared/clock';
import { PageController } from './page-auth';
import { PageQueries } from './page-queries';
import { ViewRenderer } from './view-renderer';

/** `/`: what is running, what will run, what has run; the lists refresh themselves while the page is open. */
@PageController()
export class DashboardPage {
  constructor(
    private readonly views: ViewRenderer,
    private readonly queries: PageQueries,
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly clock: Clock,
    private readonly sandbox: RunSandbox,
    private readonly scheduler: RunScheduler,
  ) {}

  @Get()
  show(@Req() request: Request, @Res() response: Response): void {
    const now = this.clock.now();
    this.views.respond(request, response, {
      template: 'pages/dashboard',
      fragment: 'partials/dashboard-live',
      title: 'Dashboard',
      nav: 'dashboard',
      data: { ...this.queries.dashboard(now), jobCount: this.jobs.size, scriptCount: this.scripts.size, runCount: this.queries.runs.size, sandboxWarning: this.sandbox.warning,
        // Queued runs no online runner may take (placement): a note, so a missing job server is noticed.
        waitingForRunner: this.scheduler.waitingForRunnerCount(now),
      },
    });
  }
}
