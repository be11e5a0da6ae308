import { Injectable } from '@nestjs/common';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import { changesJobVersion, withDefinitionDefaults, type JobEvent, type JobSchedule } from '../jobs/job.events';
import { readableJobEvent } from '../jobs/job.upcast';
import type { Projection, ProjectionDb } from '../projections/projection';
import type { RunRequested } from '../runs/run.events';
import { dueSlot, nextSlotAfter, scheduleKey } from './cron';
import type { ScheduleFired } from './schedule.events';

/** One schedule of a job, with what the due-time arithmetic needs. */
export interface ScheduleRecord extends JobSchedule {
  jobId: string;
  /** When this schedule was added to the job: slots before it are not owed. */
  since: string;
  /** The latest slot fired, or null. */
  lastSlot: string | null;
  lastFiredAt: string | null;
}

/** A firing recorded without its run (the server stopped in between): the run is still owed. */
export interface PendingFiring {
  data: ScheduleFired['data'];
  at: string;
}

/** What is due now, and when the next schedule comes due. */
export interface DuePlan {
  due: Array<{ schedule: ScheduleRecord; slot: string }>;
  /** The earliest future slot of any schedule, in ms since the epoch, or null. */
  nextAt: number | null;
}

/** A schedule row as stored. */
interface ScheduleRow {
  jobId: string;
  cron: string;
  timeZone: string;
  since: string;
  lastSlot: string | null;
  lastFiredAt: string | null;
}

/**
 * Jobs' recurring schedules and their firings, from the job, schedule and run
 * streams: which schedules exist since when, the latest slot each one fired,
 * and firings whose run was never requested. Tables in the projection database:
 * `schedule_jobs` (jobs that exist), `schedules` (per job, in the order defined) and
 * `schedule_pending_firings`.
 */
@Injectable()
export class SchedulesReadModel implements Projection {
  readonly name = 'schedules';
  readonly version = 1;
  private q!: Record<string, Statement>;
  private changeCount = 0;

  open(db: ProjectionDb): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS schedule_jobs (job_id TEXT PRIMARY KEY) STRICT;
      CREATE TABLE IF NOT EXISTS schedules (
        job_id TEXT NOT NULL, key TEXT NOT NULL, ord INTEGER NOT NULL, cron TEXT NOT NULL, time_zone TEXT NOT NULL,
        since TEXT NOT NULL, last_slot TEXT, last_fired_at TEXT, PRIMARY KEY (job_id, key)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS schedule_pending_firings (firing_id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL, data TEXT NOT NULL, at TEXT NOT NULL) STRICT;
      CREATE INDEX IF NOT EXISTS schedule_pending_firings_by_job ON schedule_pending_firings (job_id);
    `);
    const columns = 'job_id AS jobId, cron, time_zone AS timeZone, since, last_slot AS lastSlot, last_fired_at AS lastFiredAt';
    this.q = {
      forJob: db.prepare(`SELECT ${columns} FROM schedules WHERE job_id = ? ORDER BY ord`),
      forJobs: db.prepare(`SELECT ${columns} FROM schedules WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY job_id, ord`),
      // In the order the jobs were created (their rowid), as the schedules were listed.
      all: db.prepare(`SELECT ${columns.replace(/job_id AS/, 's.job_id AS')} FROM schedules s JOIN schedule_jobs j ON j.job_id = s.job_id ORDER BY j.rowid, s.ord`),
      jobExists: db.prepare('SELECT 1 AS x FROM schedule_jobs WHERE job_id = ?'),
      addJob: db.prepare('INSERT OR IGNORE INTO schedule_jobs (job_id) VALUES (?)'),
      removeJob: db.prepare('DELETE FROM schedule_jobs WHERE job_id = ?'),
      clearSchedules: db.prepare('DELETE FROM schedules WHERE job_id = ?'),
      insertSchedule: db.prepare(
        'INSERT INTO schedules (job_id, key, ord, cron, time_zone, since, last_slot, last_fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      fired: db.prepare(
        'UPDATE schedules SET last_slot = CASE WHEN last_slot IS NULL OR ? > last_slot THEN ? ELSE last_slot END, last_fired_at = ? WHERE job_id = ? AND key = ?',
      ),
      addPending: db.prepare(
        'INSERT INTO schedule_pending_firings (firing_id, job_id, data, at) VALUES (?, ?, ?, ?) ON CONFLICT (firing_id) DO UPDATE SET job_id = excluded.job_id, data = excluded.data, at = excluded.at',
      ),
      removePending: db.prepare('DELETE FROM schedule_pending_firings WHERE firing_id = ?'),
      removeJobPending: db.prepare('DELETE FROM schedule_pending_firings WHERE job_id = ?'),
      pending: db.prepare('SELECT data, at FROM schedule_pending_firings ORDER BY rowid'),
    };
  }

  /** Grows whenever schedules or firings change: the ticker re-plans only then (not on every output batch). */
  get changes(): number {
    return this.changeCount;
  }

  apply(recorded: RecordedEvent): void {
    const { at } = recorded.metadata;
    const jobChange = recorded.stream.startsWith('job-') && changesJobVersion(recorded.type);
    if (jobChange || recorded.type === 'ScheduleFired' || (recorded.type === 'RunRequested' && recorded.stream.startsWith('run-'))) {
      this.changeCount++;
    }
    if (recorded.stream.startsWith('job-')) this.applyJob(readableJobEvent({ type: recorded.type, data: recorded.data } as JobEvent), at);
    else if (recorded.stream.startsWith('schedule-') && recorded.type === 'ScheduleFired') this.applyFired(recorded.data as ScheduleFired['data'], at);
    else if (recorded.stream.startsWith('run-') && recorded.type === 'RunRequested') {
      const firingId = (recorded.data as RunRequested['data']).trigger?.firingId;
      if (firingId !== undefined) this.q.removePending.run(firingId);
    }
  }

  /** A job's schedules in the order they were defined. */
  forJob(jobId: string): ScheduleRecord[] {
    return (this.q.forJob.all(jobId) as ScheduleRow[]).map(toRecord);
  }

  /**
   * {@link forJob} of many jobs in one query (a list of jobs asked it per job); the
   * lookup answers [] for a job without schedules.
   */
  forJobs(jobIds: readonly string[]): (jobId: string) => ScheduleRecord[] {
    const byJob = new Map<string, ScheduleRecord[]>();
    for (const record of (this.q.forJobs.all(JSON.stringify(jobIds)) as ScheduleRow[]).map(toRecord)) {
      const list = byJob.get(record.jobId);
      if (list) list.push(record);
      else byJob.set(record.jobId, [record]);
    }
    return (jobId) => byJob.get(jobId) ?? [];
  }

  /** Every schedule of every job. */
  all(): ScheduleRecord[] {
    return (this.q.all.all() as ScheduleRow[]).map(toRecord);
  }

  /** Firings whose run was not requested (yet). */
  pendingFirings(): PendingFiring[] {
    return (this.q.pending.all() as Array<{ data: string; at: string }>).map((row) => ({ data: JSON.parse(row.data) as ScheduleFired['data'], at: row.at }));
  }

  /** The schedules due at `now` (each at most once, however many slots it missed) and the next time one comes due. */
  plan(now: Date): DuePlan {
    const due: DuePlan['due'] = [];
    let nextAt: number | null = null;
    for (const schedule of this.all()) {
      const coveredUntil = schedule.lastSlot !== null && schedule.lastSlot > schedule.since ? schedule.lastSlot : schedule.since;
      let plan: ReturnType<typeof dueSlot>;
      try {
        plan = dueSlot(schedule, new Date(coveredUntil), now);
      } catch {
        // Refused when it was defined; only a log written by something else could hold one. Skip it.
        continue;
      }
      const { due: slot, next } = plan;
      if (slot !== null) due.push({ schedule, slot: slot.toISOString() });
      if (next !== null && (nextAt === null || next.getTime() < nextAt)) nextAt = next.getTime();
    }
    return { due, nextAt };
  }

  /** The next slot of one schedule after `now`. */
  nextSlot(schedule: ScheduleRecord, now: Date): string | null {
    const after = schedule.lastSlot !== null && Date.parse(schedule.lastSlot) > now.getTime() ? new Date(schedule.lastSlot) : now;
    try {
      return nextSlotAfter(schedule, after)?.toISOString() ?? null;
    } catch {
      return null;
    }
  }

  private applyJob(event: JobEvent, at: string): void {
    switch (event.type) {
      case 'JobCreated':
        this.setSchedules(event.data.jobId, withDefinitionDefaults(event.data).schedules, at);
        return;
      case 'JobUpdated':
        if (event.data.schedules !== undefined) this.setSchedules(event.data.jobId, event.data.schedules, at);
        return;
      case 'JobRemoved':
        this.q.removeJob.run(event.data.jobId);
        this.q.clearSchedules.run(event.data.jobId);
        this.q.removeJobPending.run(event.data.jobId);
        return;
      default:
        return;
    }
  }

  /** Replaces a job's schedules; one that stays keeps its history, a new one is owed slots from now on. */
  private setSchedules(jobId: string, schedules: JobSchedule[], at: string): void {
    const before = new Map(this.forJob(jobId).map((record) => [scheduleKey(record), record]));
    this.q.addJob.run(jobId);
    this.q.clearSchedules.run(jobId);
    const written = new Set<string>();
    for (const schedule of schedules) {
      const key = scheduleKey(schedule);
      // A schedule listed twice is one schedule, in the place it was first listed.
      if (written.has(key)) continue;
      written.add(key);
      const kept = before.get(key);
      this.q.insertSchedule.run(jobId, key, written.size, schedule.cron, schedule.timeZone, kept?.since ?? at, kept?.lastSlot ?? null, kept?.lastFiredAt ?? null);
    }
  }

  private applyFired(data: ScheduleFired['data'], at: string): void {
    // A firing that met its job's removal owes no run: the job refuses it (it admits no run).
    if (this.q.jobExists.get(data.jobId) === undefined) return;
    this.q.addPending.run(data.firingId, data.jobId, JSON.stringify(data), at);
    this.q.fired.run(data.slot, data.slot, at, data.jobId, scheduleKey(data));
  }
}

function toRecord(row: ScheduleRow): ScheduleRecord {
  return { jobId: row.jobId, cron: row.cron, timeZone: row.timeZone, since: row.since, lastSlot: row.lastSlot, lastFiredAt: row.lastFiredAt };
}
