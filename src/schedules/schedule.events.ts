/** Events of the `schedule-<jobId>` stream: the firings of a job's recurring schedules. Type names are stable. */

/**
 * A schedule of the job came due. Recorded (actor `schedule`) before the run it
 * requests, with the expected revision, so that of several servers only one
 * fires a slot; the run's `RunRequested` names the firing in its trigger.
 */
export interface ScheduleFired {
  type: 'ScheduleFired';
  data: {
    jobId: string;
    firingId: string;
    cron: string;
    timeZone: string;
    /** The latest slot that was due: slots missed while the server was down are covered by this one firing. */
    slot: string;
  };
}

export type ScheduleEvent = ScheduleFired;

export const SCHEDULE_EVENT_TYPES: readonly ScheduleEvent['type'][] = ['ScheduleFired'];

export const scheduleStream = (jobId: string): string => `schedule-${jobId}`;
