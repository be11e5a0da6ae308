import type { RunRecord, RunsReadModel } from '../runs/runs.read-model';

/**
 * What the run page shows about a run besides its output (status, place in
 * the queue, cancel requested, paused, start time), as one string: when it
 * changes, the page's live stream tells the page to refresh that part.
 */
/** Milliseconds until the run's status changes by the clock alone (a scheduled run becomes queued), or Infinity. */
export function msUntilDue(run: RunRecord, now: Date): number {
  if (run.phase !== 'waiting' || run.scheduledFor === null) return Number.POSITIVE_INFINITY;
  const due = Date.parse(run.scheduledFor) - now.getTime();
  return due > 0 ? due + 5 : Number.POSITIVE_INFINITY;
}

export function pageStateOf(runs: RunsReadModel, run: RunRecord, now: Date): string {
  const status = runs.statusOf(run, now);
  const position = status === 'queued' ? (runs.queuePosition(run, now) ?? '') : '';
  return [status, position, run.cancelRequestedBy ?? '', run.pausedAt ?? '', run.scheduledFor ?? ''].join('|');
}
