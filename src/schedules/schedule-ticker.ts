import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { EventStore } from '../event-store/event-store.port';
import { ProjectionEngine } from '../projections/projection-engine';
import { RequestRunCommand } from '../runs/run.commands';
import { Clock } from '../shared/clock';
import type { CommandContext } from '../shared/command-context';
import { decideAndAppend } from '../shared/decide-and-append';
import { ConflictError } from '../shared/domain-errors';
import { IdGenerator } from '../shared/ids';
import { isDiskFull } from '../shared/storage-full';
import { decideSchedule, evolveSchedule, initialScheduleState } from './schedule.decider';
import { SCHEDULE_EVENT_TYPES, scheduleStream, type ScheduleFired } from './schedule.events';
import { SchedulesReadModel, type ScheduleRecord } from './schedules.read-model';

/** setTimeout cannot wait longer than about 24.8 days; a later slot is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A firing whose run is not requested after this long was cut off by a crash: its run is requested again. */
const PENDING_GRACE_MS = 30_000;
/** After firing failed for a full disk, the next try (so a slot is not lost until the next one). */
const RETRY_AFTER_FULL_DISK_MS = 5_000;

/**
 * Fires jobs' recurring schedules. At each slot it records `ScheduleFired` on
 * the job's schedule stream (the expected revision lets one server only fire a
 * slot), then requests the run, both as the actor `schedule`. A schedule that
 * came due while the server was down fires once at start — for its latest
 * missed slot — not once per missed slot.
 */
@Injectable()
export class ScheduleTicker implements OnApplicationShutdown {
  private readonly logger = new Logger(ScheduleTicker.name);
  private stopped = true;
  private ticking = false;
  private tickAgain = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Pending firings this server already tried to complete once (a failure is not retried in a loop). */
  private readonly retried = new Set<string>();

  constructor(
    private readonly schedules: SchedulesReadModel,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly commands: CommandBus,
    private readonly projections: ProjectionEngine,
  ) {}

  start(): void {
    this.stopped = false;
    let seen = this.schedules.changes;
    this.unsubscribe = this.projections.onChange(() => {
      if (this.schedules.changes === seen) return;
      seen = this.schedules.changes;
      this.tick();
    });
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  onApplicationShutdown(): void {
    this.stop();
  }

  /** Fires what is due and sets the timer for the next slot; safe to call at any time. */
  tick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    let retrySoon = false;
    this.fireDue()
      .catch((error: unknown) => {
        this.logger.error(`Firing schedules failed: ${String(error)}`);
        retrySoon = isDiskFull(error);
      })
      .finally(() => {
        this.ticking = false;
        if (this.tickAgain) {
          this.tickAgain = false;
          this.tick();
        } else {
          this.armTimer(retrySoon ? RETRY_AFTER_FULL_DISK_MS : null);
        }
      });
  }

  private async fireDue(): Promise<void> {
    const now = this.clock.now();
    for (const { schedule, slot } of this.schedules.plan(now).due) {
      if (this.stopped) return;
      await this.fire(schedule, slot);
    }
    for (const firing of this.schedules.pendingFirings()) {
      if (this.stopped || this.retried.has(firing.data.firingId)) continue;
      if (now.getTime() - Date.parse(firing.at) < PENDING_GRACE_MS) continue;
      this.retried.add(firing.data.firingId);
      this.logger.warn(`The run of a schedule firing of job ${firing.data.jobId} at ${firing.data.slot} was never requested; requesting it now`);
      try {
        await this.requestRun(firing.data, scheduleContext(null));
      } catch (error) {
        // Only a full disk ends up here: try this firing again once there may be room.
        this.retried.delete(firing.data.firingId);
        throw error;
      }
    }
  }

  private async fire(schedule: ScheduleRecord, slot: string): Promise<void> {
    const context = scheduleContext(null);
    const firingId = this.ids.newId();
    let decided;
    try {
      decided = await decideAndAppend(
        { store: this.store, clock: this.clock, ids: this.ids },
        scheduleStream(schedule.jobId),
        { initial: initialScheduleState, evolve: evolveSchedule, decide: decideSchedule },
        SCHEDULE_EVENT_TYPES,
        { type: 'FireSchedule', jobId: schedule.jobId, firingId, cron: schedule.cron, timeZone: schedule.timeZone, slot },
        context,
      );
    } catch (error) {
      // Another server fired this slot (or fired the stream at the same moment): the read model will catch up.
      if (error instanceof ConflictError) {
        this.tickAgain = true;
        return;
      }
      throw error;
    }
    if (decided.append) await this.projections.waitFor(decided.append.position);
    const fired = decided.events[0] as ScheduleFired;
    await this.requestRun(fired.data, context);
  }

  private async requestRun(firing: ScheduleFired['data'], context: CommandContext): Promise<void> {
    const trigger = { kind: 'schedule' as const, firingId: firing.firingId, cron: firing.cron, timeZone: firing.timeZone, slot: firing.slot };
    try {
      await this.commands.execute(new RequestRunCommand(firing.jobId, { args: [], env: {}, files: [], trigger }, context));
    } catch (error) {
      // A full disk passes: the firing is recorded, and its run is requested again shortly.
      if (isDiskFull(error)) throw error;
      // The job was removed, or its template: the firing stays recorded, the run cannot be.
      this.logger.warn(`Schedule "${firing.cron}" of job ${firing.jobId} could not request a run: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Wakes at the next slot, or after `retryInMs` when that is sooner. */
  private armTimer(retryInMs: number | null = null): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    const now = this.clock.now().getTime();
    const { nextAt } = this.schedules.plan(new Date(now));
    if (nextAt === null && retryInMs === null) return;
    // A few milliseconds late rather than early: timers may fire a little before their time.
    const untilSlot = nextAt === null ? MAX_TIMER_MS : Math.max(0, nextAt - now) + 5;
    this.timer = setTimeout(() => this.tick(), Math.min(MAX_TIMER_MS, untilSlot, retryInMs ?? MAX_TIMER_MS));
    this.timer.unref();
  }
}

function scheduleContext(causationId: string | null): CommandContext {
  return { actor: 'schedule', source: 'scheduler', correlationId: randomUUID(), causationId };
}
