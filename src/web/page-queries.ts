import { Injectable } from '@nestjs/common';
import type { JobRecord } from '../jobs/jobs.read-model';
import { JobsReadModel } from '../jobs/jobs.read-model';
import { type JobJoins, joinsOf } from '../jobs/job.view';
import type { FinishedStatus } from '../runs/run.events';
import { actionsOf, durationOf, type RunActions } from '../runs/run.view';
import { FINISHED_STATUSES, RunsReadModel, type RunRecord, type RunStatus } from '../runs/runs.read-model';
import { cronInWords } from '../schedules/cron-words';
import { upcomingSlots } from '../schedules/cron';
import { SchedulesReadModel, type ScheduleRecord } from '../schedules/schedules.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';

/** One run as a row on a page: what the lists show, nothing more. */
export interface RunRow {
  id: string;
  jobId: string;
  jobName: string;
  number: number;
  status: RunStatus;
  requestedBy: string;
  requestedAt: string;
  scheduledFor: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  exitCode: number | null;
  signal: string | null;
  /** 1 for the next queued run to start; null unless queued and waiting. */
  queuePosition: number | null;
  /** The control buttons its state allows now (the decider's answer, as in the API). */
  actions: RunActions;
  /** Who asked to cancel it (it may still be stopping). */
  cancelRequestedBy: string | null;
  /** Since when it is paused; null unless paused. */
  pausedAt: string | null;
}

/** A schedule as the pages show it: the pattern, in words, and its next times (ISO, the browser shows them in the person's time zone). */
export interface ScheduleRow {
  cron: string;
  timeZone: string;
  /** "every 2 minutes", or null when the pattern has no words. */
  words: string | null;
  /** The next few times it fires, earliest first; empty when never again. */
  upcoming: string[];
  lastSlot: string | null;
  lastFiredAt: string | null;
}

/** The next time one schedule fires, for the dashboard's "Will run". */
export interface FiringRow {
  jobId: string;
  jobName: string;
  cron: string;
  timeZone: string;
  words: string | null;
  at: string;
}

export interface JobRow {
  job: JobRecord;
  /** When the job runs next by itself (ISO): a schedule's next firing or a run set for a later time, or null. */
  nextScheduledAt: string | null;
  scriptName: string | null;
  lastRun: RunRow | null;
  /** How its most recently finished run ended (the last run may still be going). */
  lastOutcome: FinishedStatus | null;
}

export interface JobListFilter {
  q?: string;
  tag?: string;
  lastStatus?: RunStatus | 'never';
  /** How its most recently finished run ended, or `never` for jobs with no finished run. */
  lastOutcome?: FinishedStatus | 'never';
}

export const JOBS_PER_PAGE = 50;
const DASHBOARD_LIST = 12;
/** Runs executing are as many as the runners' slots; past this many, the dashboard shows the first. */
const DASHBOARD_RUNNING = 100;

/**
 * Page-shaped reads over the read models, written for the page sizes a person
 * sees: lists are cut to a page before anything is built for each row, so a
 * page stays fast with tens of thousands of jobs and runs.
 */
@Injectable()
export class PageQueries {
  constructor(
    private readonly jobs: JobsReadModel,
    private readonly scripts: ScriptsReadModel,
    readonly runs: RunsReadModel,
    private readonly schedules: SchedulesReadModel,
  ) {}

  /** The last answer of {@link firings}, with what it was computed from. */
  private firingCache: { changes: number; jobs: number; rows: FiringRow[] } | null = null;

  /** A job's schedules with their words and next `count` times after `now`. */
  scheduleRows(jobId: string, now: Date, count = 5): ScheduleRow[] {
    return this.schedules.forJob(jobId).map((schedule) => ({
      cron: schedule.cron,
      timeZone: schedule.timeZone,
      words: cronInWords(schedule.cron),
      upcoming: this.upcoming(schedule, now, count),
      lastSlot: schedule.lastSlot,
      lastFiredAt: schedule.lastFiredAt,
    }));
  }

  /** The next firing of every schedule after `now`, earliest first, at most `limit`; and how many schedules will fire at all. */
  firings(now: Date, limit: number): { rows: FiringRow[]; total: number } {
    // The dashboard asks every few seconds and a server may hold thousands of schedules: the list
    // stands until a schedule or job changes or its earliest firing has passed.
    const cached = this.firingCache;
    if (cached && cached.changes === this.schedules.changes && cached.jobs === this.jobs.size && (cached.rows.length === 0 || now.toISOString() < cached.rows[0].at)) {
      return { rows: cached.rows.slice(0, limit), total: cached.rows.length };
    }
    const rows: FiringRow[] = [];
    for (const schedule of this.schedules.all()) {
      const [at] = this.upcoming(schedule, now, 1);
      const job = this.jobs.get(schedule.jobId);
      if (at === undefined || !job) continue;
      rows.push({ jobId: job.id, jobName: job.name, cron: schedule.cron, timeZone: schedule.timeZone, words: cronInWords(schedule.cron), at });
    }
    rows.sort((a, b) => a.at.localeCompare(b.at) || a.jobName.localeCompare(b.jobName));
    this.firingCache = { changes: this.schedules.changes, jobs: this.jobs.size, rows };
    return { rows: rows.slice(0, limit), total: rows.length };
  }

  /** The schedule's next `count` times after `now` (after its last slot, when that is later), as ISO text. */
  private upcoming(schedule: ScheduleRecord, now: Date, count: number): string[] {
    const first = this.schedules.nextSlot(schedule, now);
    if (first === null) return [];
    try {
      return [first, ...upcomingSlots(schedule, new Date(first), count - 1).map((date) => date.toISOString())];
    } catch {
      return [first];
    }
  }

  runRow(run: RunRecord, now: Date, queuePosition: number | null = null): RunRow {
    return {
      id: run.id,
      jobId: run.jobId,
      jobName: run.jobName,
      number: run.number,
      status: this.runs.statusOf(run, now),
      requestedBy: run.requestedBy,
      requestedAt: run.requestedAt,
      scheduledFor: run.scheduledFor,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      durationMs: durationOf(run, now),
      exitCode: run.exitCode,
      signal: run.signal,
      queuePosition,
      actions: actionsOf(run),
      cancelRequestedBy: run.cancelRequestedBy,
      pausedAt: run.pausedAt,
    };
  }

  /** The dashboard's three lists: running, will run (queued in order, then scheduled by time), have run. */
  dashboard(now: Date): {
    running: RunRow[];
    queued: RunRow[];
    scheduled: RunRow[];
    recent: RunRow[];
    queuedTotal: number;
    scheduledTotal: number;
    firings: FiringRow[];
    firingsTotal: number;
  } {
    // As many as the runners' slots: claimed-but-not-started runs show as running soon (with status queued).
    const running = this.runs
      .executingRuns(undefined, DASHBOARD_RUNNING)
      .map((run) => this.runRow(run, now))
      .sort((a, b) => (a.startedAt ?? a.requestedAt).localeCompare(b.startedAt ?? b.requestedAt));
    const queued = this.runs.queued(now, DASHBOARD_LIST).map((run, index) => this.runRow(run, now, index + 1));
    const scheduled = this.runs.scheduled(now, DASHBOARD_LIST);
    const recent = this.runs.list({ statuses: FINISHED_STATUSES, limit: DASHBOARD_LIST }, now).items.map((run) => this.runRow(run, now));
    const firings = this.firings(now, DASHBOARD_LIST);
    return {
      running,
      queued,
      queuedTotal: this.runs.queuedCount(now),
      scheduled: scheduled.items.map((run) => this.runRow(run, now)),
      scheduledTotal: scheduled.total,
      recent,
      // Schedules fire without a run waiting in the log: their next times are listed after the runs that are.
      firings: firings.rows,
      firingsTotal: firings.total,
    };
  }

  /** Jobs matching the filter, one page of them, plus the tags in use (for the filter menu). */
  jobList(filter: JobListFilter, page: number, now: Date): { rows: JobRow[]; total: number; page: number; pages: number; tags: string[]; anyJobs: boolean } {
    let current = Math.max(1, page);
    let found = this.jobs.search(filter, now, (current - 1) * JOBS_PER_PAGE, JOBS_PER_PAGE);
    const pages = Math.max(1, Math.ceil(found.total / JOBS_PER_PAGE));
    if (current > pages) {
      // Past the end (the list shrank): the last page.
      current = pages;
      found = this.jobs.search(filter, now, (current - 1) * JOBS_PER_PAGE, JOBS_PER_PAGE);
    }
    const joined = joinsOf({ runs: this.runs, schedules: this.schedules, scripts: this.scripts }, found.items);
    const laterRunOf = this.runs.earliestLaterRuns(found.items.map((job) => job.id), now);
    const rows = found.items.map((job) => this.jobRow(job, now, joined(job), laterRunOf(job.id)));
    return { rows, total: found.total, page: current, pages, tags: this.jobs.tagsInUse(), anyJobs: this.jobs.size > 0 };
  }

  /**
   * A job's row; `known`: what it is joined with, looked up for the whole page at once
   * (`joinsOf`); `laterRun`: when its earliest run set for a later time starts, if any.
   */
  jobRow(job: JobRecord, now: Date, known: JobJoins, laterRun: string | null = null): JobRow {
    const last = known.runs.latest;
    let nextScheduledAt: string | null = laterRun;
    for (const schedule of known.schedules) {
      const next = this.schedules.nextSlot(schedule, now);
      if (next !== null && (nextScheduledAt === null || next < nextScheduledAt)) nextScheduledAt = next;
    }
    return {
      job,
      nextScheduledAt,
      scriptName: known.scriptName,
      lastRun: last ? this.runRow(last, now) : null,
      lastOutcome: known.runs.lastOutcome,
    };
  }

  /** How many jobs use each template. */
  jobCountsByScript(): Map<string, number> {
    return this.jobs.countByScript();
  }

  /** The jobs that use a template, by name. */
  jobsUsingScript(scriptId: string): JobRecord[] {
    return this.jobs.usingScript(scriptId);
  }

  /** Every template's id and name, by name: the job form's choice. */
  scriptChoices(): Array<{ id: string; name: string; interpreter: string }> {
    return this.scripts.list().map(({ id, name, interpreter }) => ({ id, name, interpreter }));
  }

  /** A job's runs, newest first, one page, and how many it has had. */
  jobRuns(jobId: string, now: Date, limit = 25): { rows: RunRow[]; total: number } {
    const rows = this.runs.list({ jobId, limit }, now).items.map((run) => this.runRow(run, now, this.runs.queuePosition(run, now)));
    return { rows, total: this.runs.countForJob(jobId) };
  }
}
