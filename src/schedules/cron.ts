/**
 * Cron arithmetic for a job's recurring schedules, on top of croner (time zones,
 * daylight-saving gaps and repeats). Pure: no timers, no clock — the caller
 * passes the times in.
 */
import { Cron } from 'croner';
import type { JobSchedule } from '../jobs/job.events';

export const MAX_SCHEDULES_PER_JOB = 10;
export const MAX_CRON_LENGTH = 100;

/** Parsed patterns, by schedule key: parsing is the costly part and schedules rarely change. */
const parsed = new Map<string, Cron>();
const PARSED_LIMIT = 1000;

/** What tells two schedules of a job apart: the same pattern in another time zone is another schedule. */
export function scheduleKey(schedule: JobSchedule): string {
  return `${schedule.cron}@${schedule.timeZone}`;
}

/** The croner pattern of a schedule; throws with croner's message when the pattern or time zone is invalid. */
function cronOf(schedule: JobSchedule): Cron {
  const key = scheduleKey(schedule);
  let cron = parsed.get(key);
  if (!cron) {
    // Five fields (minute first) as in crontab, or six with seconds first; `@daily` and friends too.
    cron = new Cron(schedule.cron, { timezone: schedule.timeZone, mode: '5-or-6-parts' });
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(key, cron);
  }
  return cron;
}

/** Whether the runtime knows the IANA time zone (`Europe/Berlin`, `UTC`, …). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Five- and six-field patterns repeat every year at most (no year field), so one that matches nothing after this matches nothing ever. */
const NEVER_REFERENCE = new Date('2000-01-01T00:00:00Z');

/** Problems with a job's `schedules`, each naming its field; an empty list when they are fine. Pure. */
export function scheduleProblems(value: unknown, name = 'schedules'): string[] {
  if (!Array.isArray(value)) return [`${name} must be a list of {cron, timeZone}`];
  if (value.length > MAX_SCHEDULES_PER_JOB) return [`${name} must have at most ${MAX_SCHEDULES_PER_JOB} entries`];
  const problems: string[] = [];
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const field = `${name}[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${field} must be an object {cron, timeZone}`);
      return;
    }
    const { cron, timeZone, ...rest } = entry as Record<string, unknown>;
    for (const key of Object.keys(rest)) problems.push(`${field}.${key.slice(0, 40)} is not a schedule field (cron, timeZone)`);
    // The cron and the time zone are checked on their own, so a person sees every problem at once.
    const zoneValid = typeof timeZone === 'string' && isTimeZone(timeZone);
    if (!zoneValid) {
      const given = typeof timeZone === 'string' ? `: ${JSON.stringify(timeZone.slice(0, 60))} is not one` : '';
      problems.push(`${field}.timeZone must be an IANA time zone such as "UTC" or "Europe/Berlin"${given}`);
    }
    if (typeof cron !== 'string' || cron.trim() === '' || cron.length > MAX_CRON_LENGTH) {
      problems.push(`${field}.cron must be a cron expression of 1–${MAX_CRON_LENGTH} characters, such as "0 3 * * *"`);
      return;
    }
    // A bad time zone must not hide the cron's own problems: the pattern is then checked in UTC.
    const schedule = { cron, timeZone: zoneValid ? timeZone : 'UTC' };
    try {
      if (nextSlotAfter(schedule, NEVER_REFERENCE) === null) problems.push(`${field}.cron "${cron}" never matches any time`);
    } catch (error) {
      problems.push(`${field}.cron "${cron}" is not a valid cron expression: ${describeCronError(error)}`);
      return;
    }
    if (!zoneValid) return;
    if (seen.has(scheduleKey(schedule))) problems.push(`${field} repeats an earlier schedule`);
    seen.add(scheduleKey(schedule));
  });
  return problems;
}

/** The schedule's first time strictly after `after`, or null when there is none. */
export function nextSlotAfter(schedule: JobSchedule, after: Date): Date | null {
  return cronOf(schedule).nextRun(after);
}

/** The schedule's next `count` times strictly after `after`, earliest first (fewer when it ends). */
export function upcomingSlots(schedule: JobSchedule, after: Date, count: number): Date[] {
  return cronOf(schedule).nextRuns(count, after);
}

/**
 * What a schedule owes at `now`, given the time up to which its slots were
 * already handled (its last firing, or when it was defined): `due` is the
 * latest slot in (coveredUntil, now] — one firing however many slots were
 * missed while the server was down — and `next` the first slot after now.
 */
export function dueSlot(schedule: JobSchedule, coveredUntil: Date, now: Date): { due: Date | null; next: Date | null } {
  const cron = cronOf(schedule);
  const first = cron.nextRun(coveredUntil);
  if (first === null || first.getTime() > now.getTime()) return { due: null, next: first };
  // previousRuns looks strictly before its reference: one millisecond on includes a slot at exactly `now`.
  const [latest] = cron.previousRuns(1, new Date(now.getTime() + 1));
  return { due: latest ?? first, next: cron.nextRun(now) };
}

/** What a wrong number of fields is told, in the words of the form's hint (croner's own message also offers seven fields, which this mode refuses). */
export const CRON_FIELDS_MESSAGE =
  'it needs five fields (minute, hour, day of month, month, day of week), six with seconds first, or a name such as @daily';

function describeCronError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/space separated parts are required|requires exactly 5 or 6 parts/.test(message)) return CRON_FIELDS_MESSAGE;
  // croner prefixes its messages with the class that threw them.
  return message.replace(/^Cron[A-Za-z]*:\s*/, '');
}
