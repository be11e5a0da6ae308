import { Get, Injectable, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ArtifactsReadModel, type ArtifactRecord } from '../artifacts/artifacts.read-model';
import type { SkippedArtifact } from '../runs/runner/artifact-collector';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { OutputView } from '../live/output-view';
import { WorkdirRetention } from '../runs/execution/workdir-retention';
import { RunScheduler } from '../runs/execution/run-scheduler';
import { toRunView } from '../runs/run.view';
import { ACTIVE_STATUSES, ALL_STATUSES, FINISHED_STATUSES, RunsReadModel, type RunRecord, type RunStatus } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { NotFoundError } from '../shared/domain-errors';
import { text } from './forms/form-state';
import { ignoredFilters } from './forms/ignored-filters';
import { RunListFilters } from './forms/page-filters';
import { PageController } from './page-auth';
import { PageQueries } from './page-queries';
import { type PageSpec, ViewRenderer } from './view-renderer';

const RUNS_PER_PAGE = 50;

/** Builds the run page; also used by the job page's run form, which answers with the new run's page. */
@Injectable()
export class RunPages {
  constructor(
    private readonly runs: RunsReadModel,
    /** The output panel: the tail of the output, rendered as a terminal shows it, and its live stream (src/live). */
    private readonly output: OutputView,
    private readonly clock: Clock,
    private readonly jobs: JobsReadModel,
    private readonly workdirs: WorkdirRetention,
    private readonly scheduler: RunScheduler,
    private readonly artifacts: ArtifactsReadModel,
  ) {}

  async runPage(id: string): Promise<PageSpec> {
    const record = this.runs.get(id);
    if (!record) throw new NotFoundError(`No run "${id}" exists`);
    const now = this.clock.now();
    const run = toRunView(record, this.runs, now, this.workdirs, this.scheduler);
    const active = (ACTIVE_STATUSES as readonly string[]).includes(run.status);
    const output = await this.output.panel(record);
    return {
      template: 'pages/run',
      fragment: 'partials/run-live',
      title: `${run.jobName} #${run.number}`,
      nav: 'runs',
      // A run can be re-run while its job exists (the run controls' Re-run button).
      data: {
        run,
        active,
        output,
        snapshot: record.snapshot,
        extra: record.extra,
        canRerun: this.jobs.get(record.jobId) !== undefined,
        artifacts: this.artifactsOf(record),
      },
    };
  }

  /** The run's artifacts for the page; once its output expired, only that they did (when it had or declared any). */
  private artifactsOf(record: RunRecord): { items: ArtifactRecord[]; skipped: SkippedArtifact[]; expired: boolean } {
    const items = this.artifacts.list(record.id);
    const skipped = this.artifacts.skipped(record.id);
    if (record.outputExpiredAt === null) return { items, skipped, expired: false };
    return { items: [], skipped, expired: items.length > 0 || (record.snapshot.artifacts ?? []).length > 0 };
  }
}

/** `/runs` with filters and paging, and `/runs/:id`. */
@PageController('runs')
export class RunsPages {
  constructor(
    private readonly views: ViewRenderer,
    private readonly runPages: RunPages,
    private readonly runs: RunsReadModel,
    private readonly jobs: JobsReadModel,
    private readonly queries: PageQueries,
    private readonly clock: Clock,
  ) {}

  @Get()
  list(@Query() filters: RunListFilters, @Req() request: Request, @Res() response: Response): void {
    const query = filters as Record<string, unknown>;
    const now = this.clock.now();
    const status = text(query, 'status').trim();
    const jobText = text(query, 'job').trim().slice(0, 100);
    const by = text(query, 'by').trim().slice(0, 64);
    const q = text(query, 'q').trim().slice(0, 200);
    const beforeText = text(query, 'before');
    const before = /^\d{1,12}$/.test(beforeText) ? Number(beforeText) : undefined;
    const statuses = statusesFor(status);
    // A removed job's id too: its runs stay.
    const jobId = jobText ? this.jobs.historyId(jobText) : undefined;
    const unknownJob = jobText !== '' && jobId === undefined;
    const page = unknownJob
      ? { items: [], next: null }
      : this.runs.list({ statuses, jobId, by: by || undefined, q: q || undefined, before, limit: RUNS_PER_PAGE }, now);
    this.views.respond(request, response, {
      template: 'pages/runs',
      fragment: 'partials/run-results',
      title: 'Runs',
      nav: 'runs',
      data: {
        rows: page.items.map((run) => this.queries.runRow(run, now)),
        next: page.next,
        filter: { status: statuses ? status : '', job: jobText, by, q, before: before ?? null },
        filtered: Boolean(statuses || jobText || by || q),
        unknownJob,
        ignored: ignoredFilters({ status: [status, statuses], before: [beforeText, before] }),
        statuses: ALL_STATUSES,
        totalRuns: this.runs.size,
      },
    });
  }

  /**
   * Names to suggest as one types in the Job or Started-by box (`?job=` or
   * `?by=` the text so far): `<option>`s for the box's datalist, at most
   * {@link SUGGESTIONS}, those starting with the text first. The filters
   * themselves stay exact; this only finds the exact name.
   */
  @Get('suggest')
  suggest(@Query('job') job: unknown, @Query('by') by: unknown, @Res() response: Response): void {
    const field = typeof job === 'string' ? 'job' : 'by';
    const typed = (typeof job === 'string' ? job : typeof by === 'string' ? by : '').trim().toLowerCase().slice(0, 100);
    const names = field === 'job' ? this.jobs.namesMatching(typed, SUGGESTIONS) : this.runs.requesters();
    this.views.send(response, 200, suggestionOptions(names, typed));
  }

  @Get(':id')
  async show(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.runPages.runPage(id));
  }
}

/** How many names a suggestion list holds. */
const SUGGESTIONS = 12;

/** The `<option>`s of the names that contain `typed` (lower case), those starting with it first, escaped. */
export function suggestionOptions(names: readonly string[], typed: string): string {
  const matching = names.filter((name) => name.toLowerCase().includes(typed));
  matching.sort((a, b) => Number(!a.toLowerCase().startsWith(typed)) - Number(!b.toLowerCase().startsWith(typed)) || a.localeCompare(b));
  return matching
    .slice(0, SUGGESTIONS)
    .map((name) => `<option value="${escapeAttribute(name)}"></option>`)
    .join('');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function statusesFor(word: string): readonly RunStatus[] | undefined {
  if (word === 'active') return ACTIVE_STATUSES;
  if (word === 'finished') return FINISHED_STATUSES;
  return (ALL_STATUSES as readonly string[]).includes(word) ? [word as RunStatus] : undefined;
}
