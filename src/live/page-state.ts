import type { RunRecord, RunsReadModel } from '../runs/runs.read-model';

/**
 * What the run page shows about a run besides its output (status, place in
 * the queue, cancel requested, paused, start time), as one string: when it
 * changes, the page's live stream tells the page to refresh that part.
 */
export function pageStateOf(runs: RunsReadModel, run: RunRecord, now: Date): string {
  const status = runs.statusOf(run, now);
  const position = status === 'queued' ? (runs.queuePosition(run, now) ?? '') : '';
  return [status, position, run.cancelRequestedBy ?? '', run.pausedAt ?? '', run.scheduledFor ?? ''].join('|');
}
