import { Get, Injectable, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { RunOutputReader } from '../runs/run-output.reader';
import { toRunView } from '../runs/run.view';
import { ACTIVE_STATUSES, ALL_STATUSES, FINISHED_STATUSES, RunsReadModel, type RunStatus } from '../runs/runs.read-model';
import { Clock } from '../shared/clock';
import { NotFoundError } from '../shared/domain-errors';
import { text } from './forms/form-state';
import { PageController } from './page-auth';
import { PageQueries } from './page-queries';
import { type PageSpec, ViewRenderer } from './view-renderer';

/** The run page shows at most this much of the stored output: the end of it. */
export const OUTPUT_TAIL_BYTES = 256 * 1024;
const RUNS_PER_PAGE = 50;

/** A run's stored output as the page shows it: the tail, as text. */
export interface OutputTail {
  text: string;
  /** Bytes before the shown part that were left out. */
  skippedBytes: number;
  totalBytes: number;
}

/** Builds the run page; also used by the job page's run form, which answers with the new run's page. */
@Injectable()
export class RunPages {
  constructor(
    private readonly runs: RunsReadModel,
    private readonly output: RunOutputReader,
    private readonly clock: Clock,
  ) {}

  async runPage(id: string): Promise<PageSpec> {
    const record = this.runs.get(id);
    if (!record) throw new NotFoundError(`No run "${id}" exists`);
    const now = this.clock.now();
    const run = toRunView(record, this.runs, now);
    const active = (ACTIVE_STATUSES as readonly string[]).includes(run.status);
    const output = await this.tail(record, OUTPUT_TAIL_BYTES);
    return {
      template: 'pages/run',
      fragment: 'partials/run-live',
      title: `${run.jobName} #${run.number}`,
      nav: 'runs',
      data: { run, active, output, snapshot: record.snapshot, extra: record.extra },
    };
  }

  /** The last `limit` bytes of the output, decoded as UTF-8, terminal escapes removed. */
  async tail(run: Parameters<RunOutputReader['read']>[0], limit: number): Promise<OutputTail> {
    const total = run.outputBytes;
    const from = Math.max(0, total - limit);
    const parts: Buffer[] = [];
    for await (const chunk of this.output.read(run, from)) parts.push(chunk);
    let bytes = Buffer.concat(parts);
    let skipped = from;
    if (from > 0) {
      // Starting mid-file may split a character: skip to the next character boundary.
      let start = 0;
      while (start < bytes.length && start < 4 && (bytes[start] & 0xc0) === 0x80) start++;
      bytes = bytes.subarray(start);
      skipped += start;
    }
    return { text: displayText(bytes.toString('utf8')), skippedBytes: skipped, totalBytes: total };
  }
}

/**
 * Console text for a `<pre>`: colour and cursor escape sequences removed, and a
 * line redrawn with carriage returns (progress bars) shown as its last state.
 * The template escapes the result.
 */
export function displayText(raw: string): string {
  return raw
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[@-Z\\-_]/g, '')
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => {
      if (!line.includes('\r')) return line;
      const states = line.split('\r').filter((part) => part !== '');
      return states[states.length - 1] ?? '';
    })
    .join('\n');
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
  list(@Query() query: Record<string, unknown>, @Req() request: Request, @Res() response: Response): void {
    const now = this.clock.now();
    const status = text(query, 'status');
    const jobText = text(query, 'job').trim().slice(0, 100);
    const by = text(query, 'by').trim().slice(0, 64);
    const q = text(query, 'q').trim().slice(0, 200);
    const beforeText = text(query, 'before');
    const before = /^\d{1,12}$/.test(beforeText) ? Number(beforeText) : undefined;
    const statuses = statusesFor(status);
    const job = jobText ? this.jobs.find(jobText) : undefined;
    const unknownJob = jobText !== '' && !job;
    const page = unknownJob
      ? { items: [], next: null }
      : this.runs.list({ statuses, jobId: job?.id, by: by || undefined, q: q || undefined, before, limit: RUNS_PER_PAGE }, now);
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
        statuses: ALL_STATUSES,
        totalRuns: this.runs.size,
      },
    });
  }

  @Get(':id')
  async show(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    this.views.respond(request, response, await this.runPages.runPage(id));
  }
}

function statusesFor(word: string): readonly RunStatus[] | undefined {
  if (word === 'active') return ACTIVE_STATUSES;
  if (word === 'finished') return FINISHED_STATUSES;
  return (ALL_STATUSES as readonly string[]).includes(word) ? [word as RunStatus] : undefined;
}
