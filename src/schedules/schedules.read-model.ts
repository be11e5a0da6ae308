import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '../event-store/event-store.port';
import { changesJobVersion, withDefinitionDefaults, type JobEvent, type JobSchedule } from '../jobs/job.events';
import { readableJobEvent } from '../jobs/job.upcast';
import type { Projection } from '../projections/projection';
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

/**
 * Jobs' recurring schedules and their firings, from the job, schedule and run
 * streams: which schedules exist since when, the latest slot each one fired,
 * and firings whose run was never requested.
 */
@Injectable()
export class SchedulesReadModel implements Projection {
  readonly name = 'schedules';
  readonly version = 0;
  /** Still in memory: takes no tables (it moves to the projection database). */
  open(): void {}
  private readonly byJob = new Map<string, Map<string, ScheduleRecord>>();
  private readonly pending = new Map<string, PendingFiring>();
  private changeCount = 0;

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
      if (firingId !== undefined) this.pending.delete(firingId);
    }
  }

  /** A job's schedules in the order they were defined. */
  forJob(jobId: string): ScheduleRecord[] {
    return [...(this.byJob.get(jobId)?.values() ?? [])];
  }

  /** Every schedule of every job. */
  all(): ScheduleRecord[] {
    return [...this.byJob.values()].flatMap((schedules) => [...schedules.values()]);
  }

  /** Firings whose run was not requested (yet). */
  pendingFirings(): PendingFiring[] {
    return [...this.pending.values()];
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
        this.byJob.delete(event.data.jobId);
        for (const [id, firing] of this.pending) if (firing.data.jobId === event.data.jobId) this.pending.delete(id);
        return;
      default:
        return;
    }
  }

  /** Replaces a job's schedules; one that stays keeps its history, a new one is owed slots from now on. */
  private setSchedules(jobId: string, schedules: JobSchedule[], at: string): void {
    const before = this.byJob.get(jobId) ?? new Map<string, ScheduleRecord>();
    const after = new Map<string, ScheduleRecord>();
    for (const schedule of schedules) {
      const key = scheduleKey(schedule);
      after.set(key, before.get(key) ?? { jobId, cron: schedule.cron, timeZone: schedule.timeZone, since: at, lastSlot: null, lastFiredAt: null });
    }
    this.byJob.set(jobId, after);
  }

  private applyFired(data: ScheduleFired['data'], at: string): void {
    // A firing that met its job's removal owes no run: the job refuses it (it admits no run).
    if (!this.byJob.has(data.jobId)) return;
    this.pending.set(data.firingId, { data, at });
    const schedule = this.byJob.get(data.jobId)?.get(scheduleKey(data));
    if (!schedule) return;
    if (schedule.lastSlot === null || data.slot > schedule.lastSlot) schedule.lastSlot = data.slot;
    schedule.lastFiredAt = at;
  }
}
