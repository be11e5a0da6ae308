import { Injectable } from '@nestjs/common';
import { type RunSummary, toRunSummary } from '../runs/run.view';
import { RunsReadModel, type RunStatus } from '../runs/runs.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { Clock } from '../shared/clock';
import { NotFoundError } from '../shared/domain-errors';
import type { JobFile } from './job.events';
import { JobsReadModel, type JobRecord } from './jobs.read-model';

/** A job as the API shows it (API.md `Job`). */
export interface JobView {
  id: string;
  name: string;
  description: string;
  scriptId: string;
  scriptName: string | null;
  args: string[];
  env: Record<string, string>;
  files: JobFile[];
  tags: string[];
  timeoutSeconds: number | null;
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
  lastRun: RunSummary | null;
}

export interface JobFilter {
  q?: string;
  tag?: string;
  lastStatus?: RunStatus | 'never';
}

/** Job queries: the jobs read model joined with templates and runs at read time. */
@Injectable()
export class JobQueries {
  constructor(
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly runs: RunsReadModel,
    private readonly clock: Clock,
  ) {}

  /** By id or name; a 404 when there is none. */
  require(idOrName: string): JobRecord {
    const job = this.jobs.find(idOrName);
    if (!job) throw new NotFoundError(`No job "${idOrName}" exists`);
    return job;
  }

  view(job: JobRecord): JobView {
    const { searchText: _search, ...fields } = job;
    const last = this.runs.latestForJob(job.id);
    return {
      ...fields,
      scriptName: this.scripts.get(job.scriptId)?.name ?? null,
      lastRun: last ? toRunSummary(last, this.runs, this.clock.now()) : null,
    };
  }

  list(filter: JobFilter): JobView[] {
    const q = filter.q?.trim().toLowerCase();
    const tag = filter.tag?.trim().toLowerCase();
    const now = this.clock.now();
    return this.jobs
      .all()
      .filter((job) => (q ? job.searchText.includes(q) : true))
      .filter((job) => (tag ? job.tags.includes(tag) : true))
      .filter((job) => {
        if (!filter.lastStatus) return true;
        const last = this.runs.latestForJob(job.id);
        return filter.lastStatus === 'never' ? !last : last !== undefined && this.runs.statusOf(last, now) === filter.lastStatus;
      })
      .map((job) => this.view(job));
  }
}
