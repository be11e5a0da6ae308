import { Injectable } from '@nestjs/common';
import { type RunSummary, toRunSummary } from '../runs/run.view';
import type { FinishedStatus } from '../runs/run.events';
import { RunsReadModel, type RunStatus } from '../runs/runs.read-model';
import { SchedulesReadModel } from '../schedules/schedules.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { Clock } from '../shared/clock';
import { NotFoundError } from '../shared/domain-errors';
import type { JobSchedule } from './job.events';
import { JobsReadModel, type JobRecord } from './jobs.read-model';
import { publicVersion } from '../http/etag';

/** A job as the API shows it (API.md `Job`): the stored job joined with its template and runs. */
export interface JobView extends Omit<JobRecord, 'searchText' | 'schedules'> {
  scriptName: string | null;
  schedules: ScheduleView[];
  lastRun: RunSummary | null;
  /** How its most recently finished run ended (the last run may still be going). */
  lastOutcome: FinishedStatus | null;
}

/** A recurring schedule with when it fires next and when it last fired. */
export interface ScheduleView extends JobSchedule {
  nextAt: string | null;
  lastSlot: string | null;
  lastFiredAt: string | null;
}

export interface JobFilter {
  q?: string;
  tag?: string;
  lastStatus?: RunStatus | 'never';
  /** How the most recently finished run ended, or `never` for jobs with no finished run. */
  lastOutcome?: FinishedStatus | 'never';
}

/** Job queries: the jobs read model joined with templates and runs at read time. */
@Injectable()
export class JobQueries {
  constructor(
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly runs: RunsReadModel,
    private readonly schedules: SchedulesReadModel,
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
    const now = this.clock.now();
    return {
      ...fields,
      // Counted from 1 where people and clients see it (see `publicVersion`).
      version: publicVersion(job.version),
      schedules: this.schedules.forJob(job.id).map((schedule) => ({
        cron: schedule.cron,
        timeZone: schedule.timeZone,
        nextAt: this.schedules.nextSlot(schedule, now),
        lastSlot: schedule.lastSlot,
        lastFiredAt: schedule.lastFiredAt,
      })),
      scriptName: this.scripts.get(job.scriptId)?.name ?? null,
      lastRun: last ? toRunSummary(last, this.runs, now) : null,
      lastOutcome: this.runs.latestFinishedForJob(job.id)?.finishedStatus ?? null,
    };
  }

  /** Every job matching the filter, by name (the API answers them all). */
  list(filter: JobFilter): JobView[] {
    return this.jobs.search(filter, this.clock.now()).items.map((job) => this.view(job));
  }
}
