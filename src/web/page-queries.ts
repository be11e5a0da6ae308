import { Injectable } from '@nestjs/common';
import type { JobRecord } from '../jobs/jobs.read-model';
import { JobsReadModel } from '../jobs/jobs.read-model';
import type { FinishedStatus } from '../runs/run.events';
import { actionsOf, durationOf, type RunActions } from '../runs/run.view';
import { FINISHED_STATUSES, RunsReadModel, type RunRecord, type RunStatus } from '../runs/runs.read-model';
import { ScriptsReadModel } from '../scripts/scripts.read-model';
import { nameKey } from '../shared/names';

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

export interface JobRow {
  job: JobRecord;
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
  ) {}

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
  dashboard(now: Date): { running: RunRow[]; queued: RunRow[]; scheduled: RunRow[]; recent: RunRow[]; queuedTotal: number; scheduledTotal: number } {
    const executing = this.runs.executingRuns();
    const running = executing
      .map((run) => this.runRow(run, now))
      .sort((a, b) => (a.startedAt ?? a.requestedAt).localeCompare(b.startedAt ?? b.requestedAt));
    // Claimed-but-not-started runs show as running soon; they are in `executing` with status queued.
    const queuedRecords = this.runs.queued(now);
    const queued = queuedRecords.slice(0, DASHBOARD_LIST).map((run, index) => this.runRow(run, now, index + 1));
    const scheduledPage = this.runs.list({ statuses: ['scheduled'], limit: 500 }, now);
    const scheduled = scheduledPage.items
      .map((run) => this.runRow(run, now))
      .sort((a, b) => (a.scheduledFor ?? '').localeCompare(b.scheduledFor ?? ''));
    const recent = this.runs.list({ statuses: FINISHED_STATUSES, limit: DASHBOARD_LIST }, now).items.map((run) => this.runRow(run, now));
    return {
      running,
      queued,
      queuedTotal: queuedRecords.length,
      scheduled: scheduled.slice(0, DASHBOARD_LIST),
      scheduledTotal: scheduled.length,
      recent,
    };
  }

  /** Jobs matching the filter, one page of them, plus the tags in use (for the filter menu). */
  jobList(filter: JobListFilter, page: number, now: Date): { rows: JobRow[]; total: number; page: number; pages: number; tags: string[]; anyJobs: boolean } {
    const q = (filter.q !== undefined ? nameKey(filter.q.trim()) : '') || undefined;
    const tag = (filter.tag !== undefined ? nameKey(filter.tag.trim()) : '') || undefined;
    const all = this.jobs.all();
    const tags = new Set<string>();
    const matching: JobRecord[] = [];
    for (const job of all) {
      for (const t of job.tags) tags.add(t);
      if (q !== undefined && !job.searchText.includes(q)) continue;
      if (tag !== undefined && !job.tags.includes(tag)) continue;
      if (filter.lastStatus !== undefined) {
        const last = this.runs.latestForJob(job.id);
        if (filter.lastStatus === 'never' ? last !== undefined : last === undefined || this.runs.statusOf(last, now) !== filter.lastStatus) continue;
      }
      if (filter.lastOutcome !== undefined && (this.runs.latestFinishedForJob(job.id)?.finishedStatus ?? 'never') !== filter.lastOutcome) continue;
      matching.push(job);
    }
    const pages = Math.max(1, Math.ceil(matching.length / JOBS_PER_PAGE));
    const current = Math.min(Math.max(1, page), pages);
    const rows = matching.slice((current - 1) * JOBS_PER_PAGE, current * JOBS_PER_PAGE).map((job) => this.jobRow(job, now));
    return { rows, total: matching.length, page: current, pages, tags: [...tags].sort(), anyJobs: all.length > 0 };
  }

  jobRow(job: JobRecord, now: Date): JobRow {
    const last = this.runs.latestForJob(job.id);
    return {
      job,
      scriptName: this.scripts.get(job.scriptId)?.name ?? null,
      lastRun: last ? this.runRow(last, now) : null,
      lastOutcome: this.runs.latestFinishedForJob(job.id)?.finishedStatus ?? null,
    };
  }

  /** Jobs by the template they use, each list by name. */
  jobsByScript(): Map<string, JobRecord[]> {
    const byScript = new Map<string, JobRecord[]>();
    for (const job of this.jobs.all()) {
      const list = byScript.get(job.scriptId);
      if (list) list.push(job);
      else byScript.set(job.scriptId, [job]);
    }
    return byScript;
  }

  /** Every template's id and name, by name: the job form's choice. */
  scriptChoices(): Array<{ id: string; name: string; interpreter: string }> {
    return this.scripts.list().map(({ id, name, interpreter }) => ({ id, name, interpreter }));
  }

  /** A job's runs, newest first, one page. */
  jobRuns(jobId: string, now: Date, limit = 25): { rows: RunRow[]; total: number } {
    const runs = this.runs.forJob(jobId);
    const rows: RunRow[] = [];
    for (let i = runs.length - 1; i >= 0 && rows.length < limit; i--) rows.push(this.runRow(runs[i], now, this.runs.queuePosition(runs[i], now)));
    return { rows, total: runs.length };
  }
}
