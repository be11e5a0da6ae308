import { Body, Delete, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AuthenticatedRequest } from '../auth/request-context';
import { RunsReadModel } from '../runs/runs.read-model';
import { ConflictError, ValidationError } from '../shared/domain-errors';
import { addError, emptyForm, type FormState } from '../web/forms/form-state';
import { contextOf } from '../web/jobs.page';
import { PageController } from '../web/page-auth';
import { type Flash, type PageSpec, ViewRenderer } from '../web/view-renderer';
import { RunnerRegistry } from './runner-registry';
import { RunnersView, type RunnerView } from './runners.view';

/** A runner as the page lists it: the API's view, with its running runs named. */
interface RunnerRow extends RunnerView {
  runs: Array<{ id: string; label: string }>;
}

/**
 * `/runners`: every runner (the same list as `GET /api/runners`), registering a job
 * server (its token shown once, in the answer to the registration only) and revoking one.
 */
@PageController('runners')
export class RunnersPage {
  constructor(
    private readonly views: ViewRenderer,
    private readonly view: RunnersView,
    private readonly registry: RunnerRegistry,
    private readonly runs: RunsReadModel,
  ) {}

  @Get()
  show(@Req() request: Request, @Res() response: Response): void {
    this.views.respond(request, response, this.page(emptyForm({ name: '' }), null));
  }

  @Post()
  async register(@Body() body: Record<string, unknown>, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const form = emptyForm({ name });
    let registered: { name: string; token: string };
    try {
      registered = await this.registry.register(name, contextOf(request));
    } catch (error) {
      if (error instanceof ValidationError) for (const problem of error.problems) addError(form, 'name', capitalised(problem.replace(/^name /, 'The name ')));
      else if (error instanceof ConflictError) addError(form, 'name', error.message);
      else throw error;
      this.views.fragment(request, response, 'partials/runner-register', { form }, { status: 422 });
      return;
    }
    const flash: Flash = { kind: 'success', message: `The job server “${registered.name}” was registered: copy its token now, it is not shown again` };
    this.views.respond(request, response, this.page(emptyForm({ name: '' }), registered, serverUrl(request)), { flash, pushUrl: '/runners' });
  }

  @Delete(':name')
  async revoke(@Param('name') name: string, @Req() request: AuthenticatedRequest, @Res() response: Response): Promise<void> {
    const { lostRuns } = await this.registry.revoke(name, contextOf(request));
    const lost = lostRuns.length === 0 ? '' : `; ${lostRuns.length === 1 ? 'its running run ended' : `its ${lostRuns.length} running runs ended`} lost`;
    const flash: Flash = { kind: 'success', message: `The job server “${name}” was revoked: its token no longer works${lost}` };
    this.views.respond(request, response, this.page(emptyForm({ name: '' }), null), { flash, pushUrl: '/runners' });
  }

  private page(form: FormState, registered: { name: string; token: string } | null, url = ''): PageSpec {
    const rows: RunnerRow[] = this.view.list().map((runner) => ({
      ...runner,
      runs: runner.running.map((id) => {
        const run = this.runs.get(id);
        return { id, label: run ? `${run.jobName} #${run.number}` : id };
      }),
    }));
    return { template: 'pages/runners', fragment: 'partials/runners-list', title: 'Runners', nav: 'runners', data: { rows, form, registered, serverUrl: url } };
  }
}

/** This server's address as the browser reached it, for the job server's command line. */
function serverUrl(request: Request): string {
  return `${request.protocol}://${request.get('host') ?? 'localhost'}`;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
