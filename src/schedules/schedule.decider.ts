import { ConflictError } from '../shared/domain-errors';
import { scheduleKey } from './cron';
import type { ScheduleEvent } from './schedule.events';

/** The firings of one job's schedules: for each schedule, the latest slot already fired. */
export interface ScheduleState {
  firedUpTo: Readonly<Record<string, string>>;
}

export const initialScheduleState: ScheduleState = { firedUpTo: {} };

export type ScheduleCommand = { type: 'FireSchedule'; jobId: string; firingId: string; cron: string; timeZone: string; slot: string };

// One event and one command so far: no switch to exhaust yet.
export function evolveSchedule(state: ScheduleState, event: ScheduleEvent): ScheduleState {
  const key = scheduleKey(event.data);
  const previous = state.firedUpTo[key];
  if (previous !== undefined && previous >= event.data.slot) return state;
  return { firedUpTo: { ...state.firedUpTo, [key]: event.data.slot } };
}

/** Fires a slot once: a slot at or before the latest one fired for the same schedule is refused. */
export function decideSchedule(command: ScheduleCommand, state: ScheduleState): ScheduleEvent[] {
  const fired = state.firedUpTo[scheduleKey(command)];
  if (fired !== undefined && fired >= command.slot) {
    throw new ConflictError(`The schedule "${command.cron}" (${command.timeZone}) already fired for ${fired}`);
  }
  const { type: _type, ...data } = command;
  return [{ type: 'ScheduleFired', data }];
}
