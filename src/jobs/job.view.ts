import { Injectable } from '@nestjs/common';
import { type RunSummary, toRunSummary } from '../runs/run.view';
import type { FinishedStatus } from '../runs/run.events';
import { type JobLatestRuns, RunsReadModel, type RunStatus } from '../runs/runs.read-model';
import { type ScheduleRecord, SchedulesReadModel } from '../schedules/schedules.read-model';
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

/** What a job is joined with in its view, when looked up for many jobs at once. */
export interface JobJoins {
  runs: JobLatestRuns;
  schedules: ScheduleRecord[];
  scriptName: string | null;
}

/** The read models a job's view is joined from. */
export interface JobJoinSources {
  runs: RunsReadModel;
  schedules: SchedulesReadModel;
  scripts: ScriptsReadModel;
}

/**
 * What each of `jobs` is joined with, looked up for all of them at once: their latest
 * runs and their schedules in one query each, each template's name once. Lists of jobs
 * (the API's, the jobs page) asked these per job: the API's list of 10,000 jobs took 1.25 s.
 */
export function joinsOf(sources: JobJoinSources, jobs: readonly JobRecord[]): (job: JobRecord) => JobJoins {
  const ids = jobs.map((job) => job.id);
  const latestOf = sources.runs.latestForJobs(ids);
  const schedulesOf = sources.schedules.forJobs(ids);
  const scriptNames = new Map<string, string | null>();
  const scriptNameOf = (scriptId: string): string | null => {
    if (!scriptNames.has(scriptId)) scriptNames.set(scriptId, sources.scripts.get(scriptId)?.name ?? null);
    return scriptNames.get(scriptId)!;
  };
  return (job) => ({ runs: latestOf(job.id), schedules: schedulesOf(job.id), scriptName: scriptNameOf(job.scriptId) });
}

/** Jobs built and sent at a time by {@link JobQueries.listJson}. */
const JOBS_PER_PIECE = 100;

/** Job queries: the jobs read model joined with templates and runs at read time. */
@Injectable()
export class JobQueries {
  /** What {@link joinsOf} reads a job's joins from. */
  private readonly sources: JobJoinSources;

  constructor(
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    private readonly runs: RunsReadModel,
    private readonly schedules: SchedulesReadModel,
    private readonly clock: Clock,
  ) {
    this.sources = { runs, schedules, scripts };
  }

  /** By id or name, if there is one now. */
  find(idOrName: string): JobRecord | undefined {
    return this.jobs.find(idOrName);
  }

  /** By id or name; a 404 when there is none. */
  require(idOrName: string): JobRecord {
    const job = this.jobs.find(idOrName);
    if (!job) throw new NotFoundError(`No job "${idOrName}" exists`);
    return job;
  }

  /** {@link JobsReadModel.historyId}, or a 404. */
  requireIdForHistory(idOrName: string): string {
    const id = this.jobs.historyId(idOrName);
    if (id === undefined) throw new NotFoundError(`No job "${idOrName}" exists`);
    return id;
  }

  /**
   * The job as the API shows it. `known`: what it is joined with, when the caller looked
   * it up for many jobs at once ({@link listJson}); looked up for this job otherwise.
   */
  view(job: JobRecord, known: JobJoins = joinsOf(this.sources, [job])(job)): JobView {
    const { searchText: _search, ...fields } = job;
    const last = known.runs.latest;
    const schedules = known.schedules;
    const now = this.clock.now();
    return {
      ...fields,
      // Counted from 1 where people and clients see it (see `publicVersion`).
      version: publicVersion(job.version),
      schedules: schedules.map((schedule) => ({
        cron: schedule.cron,
        timeZone: schedule.timeZone,
        nextAt: this.schedules.nextSlot(schedule, now),
        lastSlot: schedule.lastSlot,
        lastFiredAt: schedule.lastFiredAt,
      })),
      scriptName: known.scriptName,
      lastRun: last ? toRunSummary(last, this.runs, now) : null,
      lastOutcome: known.runs.lastOutcome,
    };
  }

  /**
   * `{"items": [JobView, …]}` for every job matching the filter, by name, as UTF-8 JSON
   * in pieces of {@link JOBS_PER_PIECE} jobs: the ids are taken at once, each piece's
   * jobs are read and shown when it is sent, so memory holds one piece however many
   * jobs there are. A job removed while the answer is on its way is left out. A piece's
   * jobs are read in one query, and joined by {@link joinsOf}.
   */
  async *listJson(filter: JobFilter): AsyncGenerator<Buffer> {
    const ids = this.jobs.searchIds(filter, this.clock.now());
    yield Buffer.from('{"items":[');
    let first = true;
    for (let from = 0; from < ids.length; from += JOBS_PER_PIECE) {
      const piece = ids.slice(from, from + JOBS_PER_PIECE);
      const found = this.jobs.getMany(piece);
      const jobs = piece.flatMap((id) => found.get(id) ?? []);
      const joined = joinsOf(this.sources, jobs);
      const parts = jobs.map((job) => JSON.stringify(this.view(job, joined(job))));
      if (parts.length === 0) continue;
      yield Buffer.from(`${first ? '' : ','}${parts.join(',')}`);
      first = false;
    }
    yield Buffer.from(']}');
  }
}
